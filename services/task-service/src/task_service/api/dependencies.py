"""``/api/tasks/{task_id}/dependencies``: the edges of the dependency graph."""

from __future__ import annotations

from litestar import Controller, Response, delete, get, post
from litestar.params import JSONBody

from task_service.api.params import READ, WRITE, Request_, Service, TaskIdPath
from task_service.schemas import (
    DependenciesOut,
    DependencyIn,
    EdgeOut,
    dependencies_out,
    edge_out,
)


class DependencyController(Controller):
    path = "/{task_id:str}/dependencies"
    tags = ["dependencies"]

    @post("/", guards=WRITE)
    async def add_dependency(
        self, task_id: TaskIdPath, data: JSONBody[DependencyIn], request: Request_, service: Service
    ) -> Response[EdgeOut]:
        """Make this task depend on ``depends_on``. An ordering edge (blocks, precedes,
        subtask) that would close a cycle → 409 with the cycle's path."""
        doc, created = await service.add_dependency(
            request.user.subject, task_id, data.depends_on, data.type
        )
        return Response(edge_out(doc), status_code=201 if created else 200)

    @delete("/{other:str}", guards=WRITE, status_code=204)
    async def remove_dependency(
        self, task_id: TaskIdPath, other: TaskIdPath, request: Request_, service: Service
    ) -> None:
        """Remove the edge from this task to ``other``."""
        await service.remove_dependency(request.user.subject, task_id, other)

    @get("/", guards=READ)
    async def list_dependencies(
        self, task_id: TaskIdPath, request: Request_, service: Service
    ) -> DependenciesOut:
        """Both directions: what this task depends on, and what depends on it."""
        found = await service.dependencies(request.user.subject, task_id)
        return dependencies_out(task_id, found)
