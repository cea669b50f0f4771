"""The HTTP API: one controller per resource. Handlers parse, authorize, call one use case
and shape the response."""

from challenge_service.api.items import ItemController

ROUTES = [ItemController]

__all__ = ["ROUTES"]
