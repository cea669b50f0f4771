"""What the controllers share: the injected use cases, the caller, path and header
parameters, scope guards, and the response with its ETag."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from litestar import Request, Response
from litestar.di import NamedDependency
from litestar.params import HeaderParameter, PathParameter, QueryParameter

from deepiri_kit import (
    LOWER_CASE,
    MAX_LIMIT,
    MAX_SAFE_INTEGER,
    ObjectIdPath,
    Principal,
    requires_scopes,
    to_utc,
)
from task_service.domain import tasks as rules
from task_service.schemas import ITEM_ID_PATTERN, TaskOut, seen_out
from task_service.service import Caller, Seen, TaskService

Service = NamedDependency[TaskService]
Request_ = Request[Principal, Any, Any]
IfMatch = Annotated[str | None, HeaderParameter(name="if-match", required=False)]
Limit = Annotated[int, QueryParameter(ge=1, le=MAX_LIMIT)]
TaskIdPath = ObjectIdPath
ItemIdPath = Annotated[str, PathParameter(pattern=ITEM_ID_PATTERN), LOWER_CASE]
VersionPath = Annotated[int, PathParameter(ge=1, le=MAX_SAFE_INTEGER)]

READ = [requires_scopes("tasks:read")]
WRITE = [requires_scopes("tasks:write")]


def caller(request: Request_) -> Caller:
    # A user acts on their own tasks; the token's subject is also the recorded author.
    return Caller(owner=request.user.subject, author=request.user.subject)


def expected(if_match: str | None) -> int | None:
    """The version If-Match names (None: any); a header naming none → 412."""
    return rules.version_named(if_match)


def bson_time(value: datetime | None, name: str = "due_at") -> datetime | None:
    """UTC with millisecond precision: what MongoDB keeps, so responses equal later reads."""
    if value is None:
        return None
    utc = to_utc(value, name)
    return utc.replace(microsecond=utc.microsecond // 1000 * 1000)


def with_etag(seen: Seen, status_code: int = 200) -> Response[TaskOut]:
    return Response(
        seen_out(seen), status_code=status_code, headers={"ETag": rules.etag(seen.task["version"])}
    )
