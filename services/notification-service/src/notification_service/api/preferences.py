"""``/api/notifications/preferences``: channels per notification type, quiet hours, zone,
the daily digest."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Request, get, patch
from litestar.di import NamedDependency
from litestar.params import JSONBody

from deepiri_kit import Principal, requires_scopes
from notification_service.schemas import PreferencesIn, PreferencesOut
from notification_service.service import Inbox

Service = NamedDependency[Inbox]
Caller = Request[Principal, Any, Any]
READ = [requires_scopes("notifications:read")]
WRITE = [requires_scopes("notifications:write")]


class PreferencesController(Controller):
    path = "/preferences"
    tags = ["preferences"]

    @get("/", guards=READ)
    async def get_preferences(self, request: Caller, service: Service) -> PreferencesOut:
        """The caller's preferences (the defaults until they change any)."""
        return PreferencesOut.of(await service.preferences(request.user.subject))

    @patch("/", guards=WRITE)
    async def change_preferences(
        self, data: JSONBody[PreferencesIn], request: Caller, service: Service
    ) -> PreferencesOut:
        """Change what the body names; an unknown type, channel or zone is a 422."""
        quiet = data.quiet_hours
        changed = await service.change_preferences(
            request.user.subject,
            channels=None if data.channels is msgspec.UNSET else dict(data.channels),
            quiet_hours="keep"
            if quiet is msgspec.UNSET
            else (None if quiet is None else quiet.times()),
            time_zone="keep" if data.time_zone is msgspec.UNSET else data.time_zone,
            digest_hour="keep"
            if data.digest is msgspec.UNSET
            else (None if data.digest is None else data.digest.hour),
        )
        return PreferencesOut.of(changed)
