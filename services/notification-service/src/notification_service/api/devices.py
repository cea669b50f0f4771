"""``/api/notifications/devices``: the caller's devices registered for push."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, delete, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody, PathParameter

from deepiri_kit import Principal, requires_scopes
from notification_service.schemas import DeviceIn, DeviceOut
from notification_service.service import Inbox

Service = NamedDependency[Inbox]
Caller = Request[Principal, Any, Any]
DeviceId = Annotated[str, PathParameter(pattern=r"^[0-9a-f]{32}$")]
READ = [requires_scopes("notifications:read")]
WRITE = [requires_scopes("notifications:write")]


class DeviceController(Controller):
    path = "/devices"
    tags = ["devices"]

    @post("/", guards=WRITE)
    async def register_device(
        self, data: JSONBody[DeviceIn], request: Caller, service: Service
    ) -> DeviceOut:
        """Register (or re-register) a push token for the caller; a token registered before,
        by anyone, now belongs to this registration only."""
        device = await service.register_device(
            request.user.subject,
            provider=data.provider,
            platform=data.platform,
            token=data.token,
            app_version=data.app_version,
        )
        return DeviceOut.of(device)

    @get("/", guards=READ)
    async def list_devices(self, request: Caller, service: Service) -> list[DeviceOut]:
        """The caller's devices (tokens are never shown back, only their last characters)."""
        return [DeviceOut.of(d) for d in await service.devices_of(request.user.subject)]

    @delete("/{device_id:str}", guards=WRITE)
    async def remove_device(self, device_id: DeviceId, request: Caller, service: Service) -> None:
        """Stop pushing to a device (signed out on it)."""
        await service.remove_device(request.user.subject, device_id)
