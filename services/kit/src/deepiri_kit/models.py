"""Request/response body models. Every body is a strict msgspec Struct: unknown fields are
rejected, which is also what stops ``$``-operator injection and mass assignment, since a
body can only name fields the model declares."""

from __future__ import annotations

import types
import typing
from datetime import datetime
from typing import Annotated, Any, ClassVar

import msgspec

from deepiri_kit.problems import BadRequest
from deepiri_kit.types import Canonical, in_time_range


class Model(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Base for request bodies.

    Decoding also puts ids marked :data:`~deepiri_kit.types.LOWER_CASE` (such as
    ``ObjectIdStr``) in their canonical form and refuses times UTC cannot represent, for every
    body alike (a ``ValueError`` here is a validation error, so a 400)."""

    __edge_fields__: ClassVar[tuple[tuple[str, ...], tuple[str, ...]] | None] = None

    def __post_init__(self) -> None:
        fields = type(self).__dict__.get("__edge_fields__")
        if fields is None:
            fields = _edge_fields(type(self))
        lower, times = fields
        for name in lower:
            value = getattr(self, name)
            if isinstance(value, str):
                setattr(self, name, value.lower())
        for name in times:
            value = getattr(self, name)
            if isinstance(value, datetime) and not in_time_range(value):
                raise ValueError(f"`{name}` is out of range (0001-01-02 to 9999-12-30)")


def _edge_fields(cls: type[Model]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Which fields of a body class are canonical ids and which are times (computed once)."""
    hints = typing.get_type_hints(cls, include_extras=True)
    lower, times = [], []
    for name in cls.__struct_fields__:
        hint = hints[name]
        if any(isinstance(m, Canonical) for m in _metadata(hint)):
            lower.append(name)
        if _mentions(hint, datetime):
            times.append(name)
    fields = (tuple(lower), tuple(times))
    cls.__edge_fields__ = fields
    return fields


def _metadata(hint: Any) -> list[Any]:
    found: list[Any] = []
    if typing.get_origin(hint) is Annotated:
        found.extend(hint.__metadata__)
        hint = typing.get_args(hint)[0]
    for arg in typing.get_args(hint):  # unions: `ObjectIdStr | None`
        if typing.get_origin(arg) is Annotated:
            found.extend(arg.__metadata__)
    return found


def _mentions(hint: Any, kind: type) -> bool:
    """Whether ``hint`` is ``kind`` itself or a union/annotation of it (not a container)."""
    if hint is kind:
        return True
    origin = typing.get_origin(hint)
    if origin is Annotated:
        return _mentions(typing.get_args(hint)[0], kind)
    if origin in (typing.Union, types.UnionType):
        return any(_mentions(a, kind) for a in typing.get_args(hint))
    return False


class Out(msgspec.Struct, kw_only=True):
    """Base for response bodies."""


# Reusable constrained scalars.
ShortText = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
LongText = Annotated[str, msgspec.Meta(max_length=10_000)]
Tag = Annotated[str, msgspec.Meta(min_length=1, max_length=40, pattern=r"^[\w\-. ]+$")]


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
