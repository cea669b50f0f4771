"""The OpenAPI document says what the service really does (installed by ``create_app``).

* Every operation declares the problem documents it can answer with
  (``application/problem+json``: 400, 401, 403, 404, 409, 412, 413, 415, 422, 429, 503),
  unless the handler declares that status itself.
* Request bodies (:class:`~deepiri_kit.models.Model`) are ``additionalProperties: false``:
  unknown fields are refused, and the document says so.
* A 204 response has no content.
* A body the handler may go without (``data: X | None = None``) is not ``required``.
"""

from __future__ import annotations

from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import msgspec
from litestar import Litestar
from litestar._openapi.schema_generation.plugins.struct import StructSchemaPlugin
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import Operation, RequestBody, Schema
from litestar.routes import HTTPRoute
from litestar.typing import FieldDefinition

from deepiri_kit.models import Model
from deepiri_kit.problems import PROBLEM_JSON

PROBLEM_STATUSES = (400, 401, 403, 404, 409, 412, 413, 415, 422, 429, 503)


class FieldError(msgspec.Struct, kw_only=True):
    message: str
    key: str | None = None
    source: str | None = None


class ProblemDocument(msgspec.Struct, kw_only=True):
    """RFC 9457 problem details; routes may add extension members (e.g. ``blockers``)."""

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    request_id: str | None = None
    errors: list[FieldError] | None = None


def _problem(status: int) -> ResponseSpec:
    return ResponseSpec(
        data_container=ProblemDocument,
        media_type=PROBLEM_JSON,
        description=HTTPStatus(status).phrase,
        generate_examples=False,
    )


PROBLEM_RESPONSES = {status: _problem(status) for status in PROBLEM_STATUSES}


def document_responses(app: Litestar) -> None:
    """Add the problem responses to every documented operation (before the document is built:
    Litestar builds it on first use)."""
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler, _ in route.route_handler_map.values():
            if not handler.include_in_schema:
                continue
            declared = dict(handler.responses or {})
            handler.responses = {**PROBLEM_RESPONSES, **declared}
            if handler.status_code == 204:
                handler.responses[204] = ResponseSpec(
                    data_container=None, description="No Content", generate_examples=False
                )
            data = handler.parsed_fn_signature.parameters.get("data")
            if data is not None and (data.is_optional or data.has_default):
                handler.operation_class = OptionalBodyOperation


@dataclass
class OptionalBodyOperation(Operation):
    """Litestar marks every request body required, even one the handler defaults."""

    def __post_init__(self) -> None:
        if isinstance(self.request_body, RequestBody):
            self.request_body.required = False


class ModelSchemaPlugin(StructSchemaPlugin):
    """Request bodies as the decoder sees them: unknown fields are refused
    (``additionalProperties: false``), and every bound msgspec enforces is stated — Litestar
    drops a bound of 0 and the constraints of list items (``list[Tag]``)."""

    def is_plugin_supported_field(self, field_definition: FieldDefinition) -> bool:
        """Our request models, and any struct that refuses unknown fields (the request
        structs of the kit's pure contracts, e.g. ai-service's ``ChallengeRequest``)."""
        if field_definition.is_union:
            return False
        if field_definition.is_subclass_of(Model):
            return True
        return field_definition.is_subclass_of(msgspec.Struct) and bool(
            field_definition.type_.__struct_config__.forbid_unknown_fields
        )

    def to_openapi_schema(self, field_definition: FieldDefinition, schema_creator: Any) -> Schema:
        schema = super().to_openapi_schema(field_definition, schema_creator)
        schema.additional_properties = False
        info = msgspec.inspect.type_info(field_definition.type_)
        assert isinstance(info, msgspec.inspect.StructType)
        for field in info.fields:
            prop = (schema.properties or {}).get(field.encode_name)
            if isinstance(prop, Schema):
                _state_bounds(prop, field.type)
        return schema


_BOUNDS = {
    # msgspec constraint → litestar Schema attribute
    "ge": "minimum",
    "le": "maximum",
    "gt": "exclusive_minimum",
    "lt": "exclusive_maximum",
    "min_length": "min_length",
    "max_length": "max_length",
    "pattern": "pattern",
}


def _bounds(info: msgspec.inspect.Type) -> dict[str, Any]:
    found = {}
    for constraint, attribute in _BOUNDS.items():
        value = getattr(info, constraint, None)
        if value is not None:
            if isinstance(info, msgspec.inspect.ListType) and constraint.endswith("_length"):
                attribute = attribute.replace("length", "items")
            found[attribute] = value
    return found


def _fill(schema: Schema, bounds: dict[str, Any]) -> None:
    for attribute, value in bounds.items():
        if getattr(schema, attribute) is None:
            setattr(schema, attribute, value)


def _state_bounds(prop: Schema, info: msgspec.inspect.Type) -> None:
    """Fill the bounds Litestar left out of a property's schema (the type or, for an
    optional one, its non-null branch; for a list, its items too)."""
    if isinstance(info, msgspec.inspect.UnionType):
        kinds = [t for t in info.types if not isinstance(t, msgspec.inspect.NoneType)]
        if len(kinds) != 1:
            return
        info = kinds[0]
    _fill(prop, _bounds(info))
    if isinstance(info, msgspec.inspect.ListType):
        arrays = [prop, *[s for s in prop.one_of or [] if isinstance(s, Schema)]]
        for array in arrays:
            if isinstance(array.items, Schema):
                _fill(array.items, _bounds(info.item_type))
