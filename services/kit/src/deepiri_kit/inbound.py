"""What every route accepts, checked before its handler runs (installed by ``create_app``).

* **Unknown query parameters are refused** (400 naming them): ``?status[$ne]=x`` must not be
  silently ignored as if the filter had been applied. A route that takes arbitrary
  parameters opts out with ``opt={"open_query": True}``.
* **Canonical path parameters**: a parameter annotated with
  :data:`~deepiri_kit.types.LOWER_CASE` (``ObjectIdStr``) reaches the handler lower-cased,
  so keys, events and lookups built from it are the same for every spelling.
* **Strict JSON bodies**: the body is decoded against the handler's declared type in
  msgspec's strict mode (``"5"`` and ``2.0`` are not integers), as the OpenAPI document
  says. Bodies that are not JSON — invalid UTF-8, nesting deep enough to exhaust the
  decoder — are a 400 as well, never a 500.
"""

from __future__ import annotations

import re
import typing
from dataclasses import dataclass
from typing import Any

import msgspec
from litestar import Litestar, Request, Response
from litestar.routes import HTTPRoute

from deepiri_kit.problems import BadRequest
from deepiri_kit.types import Canonical

OPEN_QUERY = "open_query"
_AT = re.compile(r" - at `\$\.?(?P<key>[^`]*)`$")


@dataclass(frozen=True)
class RouteRules:
    query_names: frozenset[str] | None  # None: the route takes any query parameter
    lower_case_path: tuple[str, ...]
    body_type: Any  # None: the route takes no JSON body
    allow: str | None = None  # OPTIONS: the methods of the whole route


class Inbound:
    """The ``before_request`` hook; :meth:`learn` reads every route's parameters once."""

    def __init__(self) -> None:
        self._rules: dict[int, RouteRules] = {}

    def learn(self, app: Litestar) -> None:
        for route in app.routes:
            if not isinstance(route, HTTPRoute):
                continue
            for method, (handler, kwargs_model) in route.route_handler_map.items():
                if method == "OPTIONS":
                    # Litestar's OPTIONS handler lists the methods its route had when it was
                    # made; routes for one path merge later, so it can leave some out.
                    allow = ", ".join(sorted(route.methods))
                    self._rules[id(handler)] = RouteRules(None, (), None, allow)
                    continue
                params = handler.parsed_fn_signature.parameters
                lower = tuple(
                    p.field_alias
                    for p in kwargs_model.expected_path_params
                    if _is_lower_case(params.get(p.field_name))
                )
                query = (
                    None
                    if handler.opt.get(OPEN_QUERY)
                    else frozenset(p.field_alias for p in kwargs_model.expected_query_params)
                )
                data = params.get("data")
                body_type = data.annotation if data is not None and _is_json(kwargs_model) else None
                self._rules[id(handler)] = RouteRules(query, lower, body_type)

    async def __call__(self, request: Request[Any, Any, Any]) -> Response[None] | None:
        rules = self._rules.get(id(request.route_handler))
        if rules is None:
            return None
        if rules.allow is not None:
            return Response(None, status_code=204, headers={"Allow": rules.allow})
        if rules.query_names is not None:
            unknown = sorted(set(request.query_params) - rules.query_names)
            if unknown:
                raise BadRequest(
                    f"unknown query parameter(s): {', '.join(unknown)}",
                    errors=[
                        {"key": name, "source": "query", "message": "unknown parameter"}
                        for name in unknown
                    ],
                )
        if rules.lower_case_path:
            path_params = request.scope["path_params"]
            for name in rules.lower_case_path:
                value = path_params.get(name)
                if isinstance(value, str):
                    path_params[name] = value.lower()
        if rules.body_type is not None:
            body = await request.body()
            if body:
                _decode_strictly(body, rules.body_type)
        return None


def _decode_strictly(body: bytes, body_type: Any) -> None:
    try:
        msgspec.json.decode(body, type=body_type, strict=True)
    except msgspec.ValidationError as exc:
        message = str(exc)
        match = _AT.search(message)
        error = {"message": message[: match.start()] if match else message, "source": "body"}
        if match and match["key"]:
            error["key"] = match["key"]
        raise BadRequest("the request body does not match its schema", errors=[error]) from None
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as exc:
        reason = "it is nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise BadRequest(f"the request body is not valid JSON: {reason}"[:300]) from None


def _is_lower_case(field: Any) -> bool:
    if field is None:
        return False
    metadata = [*field.metadata, *_nested_metadata(field.raw)]
    return any(isinstance(m, Canonical) for m in metadata)


def _nested_metadata(hint: Any) -> list[Any]:
    if typing.get_origin(hint) is typing.Annotated:
        return [*hint.__metadata__, *_nested_metadata(typing.get_args(hint)[0])]
    return []


def _is_json(kwargs_model: Any) -> bool:
    return not (
        kwargs_model.expected_form_data
        or kwargs_model.expected_msgpack_data
        or kwargs_model.expected_data_dto
    )
