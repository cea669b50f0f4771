"""``/api/tasks/{task_id}/versions`` and ``/diff``: a task's history."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, Response, get, post
from litestar.params import JSONBody, QueryParameter

from deepiri_kit import MAX_SAFE_INTEGER
from task_service.api.params import (
    READ,
    WRITE,
    IfMatch,
    Limit,
    Request_,
    Service,
    TaskIdPath,
    VersionPath,
    caller,
    expected,
    with_etag,
)
from task_service.schemas import (
    DiffOut,
    RestoreIn,
    TaskOut,
    VersionOut,
    VersionPage,
    diff_out,
    version_out,
    version_summary,
)


class VersionController(Controller):
    path = "/{task_id:str}"
    tags = ["versions"]

    @get("/versions", guards=READ)
    async def list_versions(
        self,
        task_id: TaskIdPath,
        request: Request_,
        service: Service,
        after: Annotated[int, QueryParameter(ge=0, le=MAX_SAFE_INTEGER)] = 0,
        limit: Limit = 50,
    ) -> VersionPage:
        """The task's versions, oldest first (deleted tasks keep their history)."""
        records, next_after = await service.versions(request.user.subject, task_id, after, limit)
        return VersionPage(items=[version_summary(r) for r in records], next_after=next_after)

    @get("/versions/{n:int}", guards=READ)
    async def get_version(
        self, task_id: TaskIdPath, n: VersionPath, request: Request_, service: Service
    ) -> VersionOut:
        """One version: the full snapshot, what changed, who changed it, when and why."""
        return version_out(await service.version(request.user.subject, task_id, n))

    @get("/diff", guards=READ)
    async def diff_versions(
        self,
        task_id: TaskIdPath,
        request: Request_,
        service: Service,
        from_version: Annotated[int, QueryParameter(name="from", ge=1, le=MAX_SAFE_INTEGER)],
        to_version: Annotated[int, QueryParameter(name="to", ge=1, le=MAX_SAFE_INTEGER)],
    ) -> DiffOut:
        """Field-level differences from one version to another (checklist items by id)."""
        result = await service.diff(request.user.subject, task_id, from_version, to_version)
        return diff_out(result, task_id, from_version, to_version)

    @post("/versions/{n:int}/restore", guards=WRITE, status_code=200)
    async def restore_version(
        self,
        task_id: TaskIdPath,
        n: VersionPath,
        request: Request_,
        service: Service,
        data: JSONBody[RestoreIn | None] = None,
        if_match: IfMatch = None,
    ) -> Response[TaskOut]:
        """Bring back version ``n``'s fields as a new version (undeleting the task)."""
        reason = data.reason if data else None
        seen = await service.restore(caller(request), task_id, n, reason, expected(if_match))
        return with_etag(seen)
