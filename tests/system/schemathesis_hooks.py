"""Schemathesis hooks for the schema fuzzing run (loaded through SCHEMATHESIS_HOOKS).

The services decode JSON strictly: a number the schema types ``integer`` must be written as
one (``2``, not ``2.0`` — issue 8, item 9; the OpenAPI description says so). JSON Schema
2020-12 counts ``2.0`` as an integer, so schemathesis may spell a whole number as a float in
a request it expects to be accepted; we spell such numbers as integers in those requests.
Invalid requests are left exactly as generated.
"""

from __future__ import annotations

from typing import Any

import schemathesis


def _whole_numbers_as_integers(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _whole_numbers_as_integers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_whole_numbers_as_integers(v) for v in value]
    return value


@schemathesis.hook
def map_case(context: Any, case: Any) -> Any:
    meta = case.meta
    if meta is not None and meta.generation.mode.is_positive and isinstance(case.body, dict | list):
        case.body = _whole_numbers_as_integers(case.body)
    return case
