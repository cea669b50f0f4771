"""Request/response body models. Every body is a strict msgspec Struct: unknown fields are
rejected, which is also what stops ``$``-operator injection and mass assignment, since a
body can only name fields the model declares."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

from deepiri_kit.problems import BadRequest


class Model(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Base for request bodies."""


class Out(msgspec.Struct, kw_only=True):
    """Base for response bodies."""


# Reusable constrained scalars.
ShortText = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
LongText = Annotated[str, msgspec.Meta(max_length=10_000)]
Tag = Annotated[str, msgspec.Meta(min_length=1, max_length=40, pattern=r"^[\w\-. ]+$")]
ObjectIdStr = Annotated[str, msgspec.Meta(pattern=r"^[0-9a-f]{24}$")]


def reject_operator_keys(value: Any, *, path: str = "$", max_depth: int = 8) -> None:
    """For free-form maps stored as documents: no ``$``-prefixed or dotted keys, bounded depth.

    Struct bodies never need this; it guards the few places that accept arbitrary JSON
    (metadata, webhook payloads) before they reach MongoDB.
    """
    if max_depth < 0:
        raise BadRequest(f"{path}: nested too deeply")
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str) or key.startswith("$") or "." in key or "\x00" in key:
                raise BadRequest(f"{path}: key {key!r} is not allowed (no '$', '.' or NUL)")
            reject_operator_keys(item, path=f"{path}.{key}", max_depth=max_depth - 1)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            reject_operator_keys(item, path=f"{path}[{index}]", max_depth=max_depth - 1)
