"""Per-request context shared by logs, problem documents and outgoing calls."""

from __future__ import annotations

import re
import uuid
from contextvars import ContextVar

request_id_var: ContextVar[str | None] = ContextVar("deepiri_request_id", default=None)

REQUEST_ID_HEADER = "x-request-id"
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def accept_or_new_request_id(incoming: str | None) -> str:
    """Keep a caller's well-formed id so a request is traceable across hops; else mint one."""
    if incoming and _VALID_REQUEST_ID.match(incoming):
        return incoming
    return uuid.uuid4().hex


def current_request_id() -> str | None:
    return request_id_var.get()
