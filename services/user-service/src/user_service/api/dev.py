"""``GET /api/users/dev/mailbox``: the mail user-service asked to send, for development
without a mail server. Mounted only when DEEPIRI_ENV=development (never in tests or
production): the links it shows sign people in."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.params import QueryParameter

from user_service.service.accounts import AccountService

Accounts = NamedDependency[AccountService]
Email = Annotated[str, QueryParameter(min_length=3, max_length=320)]


class DevMailboxController(Controller):
    path = "/dev/mailbox"
    tags = ["development"]

    @get("/", opt={"public": True}, security=[])
    async def mailbox(self, email: Email, accounts: Accounts) -> list[dict[str, Any]]:
        """The newest mails (verification, reset) for ``email``, newest first."""
        return await accounts.mailbox(email)
