"""The HTTP API: one controller per resource. Handlers parse, authorize, call one use case
and shape the response."""

from task_service.api.dependencies import DependencyController
from task_service.api.tasks import TaskController
from task_service.api.versions import VersionController

ROUTES = [TaskController, VersionController, DependencyController]

__all__ = ["ROUTES"]
