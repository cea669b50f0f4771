"""The HTTP API: one controller per resource. Handlers parse, authorize, call one use case
and shape the response."""

from notification_service.api.devices import DeviceController
from notification_service.api.inbox import InboxController
from notification_service.api.preferences import PreferencesController

ROUTES = [InboxController, PreferencesController, DeviceController]

__all__ = ["ROUTES"]
