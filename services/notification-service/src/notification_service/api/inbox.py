"""``/api/notifications/inbox``: the caller's notifications, newest first."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, delete, get, post
from litestar.di import NamedDependency
from litestar.params import PathParameter, QueryParameter

from deepiri_kit import DEFAULT_LIMIT, MAX_LIMIT, CursorQuery, Page, Principal, requires_scopes
from notification_service.schemas import MarkedOut, NotificationOut, UnreadOut
from notification_service.service import Inbox

Service = NamedDependency[Inbox]
Caller = Request[Principal, Any, Any]
Limit = Annotated[int, QueryParameter(ge=1, le=MAX_LIMIT)]
Unread = Annotated[bool, QueryParameter(description="only unread notifications")]
NotificationId = Annotated[str, PathParameter(pattern=r"^[0-9a-f]{32}$")]
READ = [requires_scopes("notifications:read")]
WRITE = [requires_scopes("notifications:write")]


class InboxController(Controller):
    path = "/inbox"
    tags = ["inbox"]

    @get("/", guards=READ)
    async def list_notifications(
        self,
        request: Caller,
        service: Service,
        limit: Limit = DEFAULT_LIMIT,
        cursor: CursorQuery = None,
        unread: Unread = False,
    ) -> Page[NotificationOut]:
        """The caller's notifications, newest first (``unread=true``: only unread ones);
        pass ``next_cursor`` back as ``cursor`` for the next page."""
        items, next_cursor = await service.page(request.user.subject, limit, cursor, unread)
        return Page(items=[NotificationOut.of(n) for n in items], next_cursor=next_cursor)

    @get("/unread-count", guards=READ)
    async def unread_count(self, request: Caller, service: Service) -> UnreadOut:
        """How many of the caller's notifications are unread."""
        return UnreadOut(unread=await service.unread(request.user.subject))

    @post("/read-all", guards=WRITE, status_code=200)
    async def mark_all_read(self, request: Caller, service: Service) -> MarkedOut:
        """Mark every notification of the caller read (repeating it marks nothing)."""
        marked = await service.mark_all_read(request.user.subject)
        return MarkedOut(marked=marked, unread=await service.unread(request.user.subject))

    @post("/{notification_id:str}/read", guards=WRITE, status_code=200)
    async def mark_read(
        self, notification_id: NotificationId, request: Caller, service: Service
    ) -> NotificationOut:
        """Mark one notification read (already read: unchanged; someone else's: 404)."""
        return NotificationOut.of(await service.mark_read(request.user.subject, notification_id))

    @delete("/{notification_id:str}", guards=WRITE)
    async def delete_notification(
        self, notification_id: NotificationId, request: Caller, service: Service
    ) -> None:
        """Delete one notification; a replay of its event does not bring it back."""
        await service.delete(request.user.subject, notification_id)
