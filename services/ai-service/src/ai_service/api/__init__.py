"""The HTTP API: one controller per resource. Handlers parse, authorize, call one use case
and shape the response."""

from ai_service.api.agent import AgentController

ROUTES = [AgentController]

__all__ = ["ROUTES"]
