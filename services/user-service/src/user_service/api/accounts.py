"""``/api/users``: registration, the caller's own account (``/me``), public profiles, and
the JSON side of email verification and password reset."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, Parameter

from deepiri_kit import Forbidden, Principal, requires_scopes
from user_service.schemas import (
    AcceptedOut,
    EmailIn,
    MeOut,
    ProfilePatch,
    PublicProfileOut,
    RegisterIn,
    ResetIn,
    SearchOut,
    TokenIn,
)
from user_service.service.accounts import AccountGone, AccountService
from user_service.service.social import SocialGraph

Accounts = NamedDependency[AccountService]
Social = NamedDependency[SocialGraph]
Caller = Request[Principal, Any, Any]
PUBLIC = {"public": True}
READ = [requires_scopes("users:read")]
WRITE = [requires_scopes("users:write")]
CHECK_MAIL = AcceptedOut(
    status="accepted",
    detail="if the address can receive it, a message with a link is on its way",
)


def person(request: Caller) -> str:
    """The signed-in person behind the token (service tokens have no account)."""
    principal = request.user
    if principal.is_service:
        raise Forbidden("this route acts for a person; a client-credentials token has none")
    return principal.subject


class AccountController(Controller):
    tags = ["accounts"]

    @post("/register", opt=PUBLIC, status_code=202, security=[])
    async def register(self, data: JSONBody[RegisterIn], accounts: Accounts) -> AcceptedOut:
        """Create an account and send its verification mail. The answer is the same when the
        address already has an account (no enumeration); the owner can sign in or reset."""
        await accounts.register(
            email=data.email,
            password=data.password,
            display_name=data.display_name,
            time_zone=data.time_zone,
            locale=data.locale,
        )
        return CHECK_MAIL

    @post("/email/verification-requests", opt=PUBLIC, status_code=202, security=[])
    async def request_verification(
        self, data: JSONBody[EmailIn], accounts: Accounts
    ) -> AcceptedOut:
        """Send the verification mail again (same answer whether or not the address exists)."""
        await accounts.request_verification(data.email)
        return CHECK_MAIL

    @post("/email/verifications", opt=PUBLIC, status_code=204, security=[])
    async def verify_email(self, data: JSONBody[TokenIn], accounts: Accounts) -> None:
        """Spend a verification link's token: the address is verified."""
        await accounts.confirm_email(data.token)

    @post("/password/reset-requests", opt=PUBLIC, status_code=202, security=[])
    async def request_reset(self, data: JSONBody[EmailIn], accounts: Accounts) -> AcceptedOut:
        """Send a password-reset mail (same answer whether or not the address exists)."""
        await accounts.request_reset(data.email)
        return CHECK_MAIL

    @post("/password/resets", opt=PUBLIC, status_code=204, security=[])
    async def reset_password(self, data: JSONBody[ResetIn], accounts: Accounts) -> None:
        """Spend a reset link's token on a new password; every session and token ends."""
        await accounts.reset_password(data.token, data.password)

    @get("/me", guards=READ)
    async def me(self, request: Caller, accounts: Accounts) -> MeOut:
        """The caller's own account."""
        return MeOut.of(await accounts.get(person(request)))

    @patch("/me", guards=WRITE)
    async def update_me(
        self, data: JSONBody[ProfilePatch], request: Caller, accounts: Accounts
    ) -> MeOut:
        """Change display name, time zone, locale, avatar or visibility — who may see the
        caller: ``public`` (everyone), ``friends`` or ``private`` (no one else) — (publishes
        ``user.updated``)."""
        account = await accounts.update(
            person(request),
            display_name=data.display_name,
            time_zone=data.time_zone,
            locale=data.locale,
            avatar_url=data.avatar_url,
            visibility=data.visibility,
        )
        return MeOut.of(account)

    @delete("/me", guards=WRITE, status_code=204)
    async def delete_me(self, request: Caller, accounts: Accounts) -> None:
        """Delete the caller's account; ``user.deleted`` tells every service to erase or
        anonymise what it holds of them."""
        await accounts.delete(person(request))

    @get("/search", guards=READ)
    async def search(
        self,
        request: Caller,
        accounts: Accounts,
        social: Social,
        q: Annotated[str, Parameter(min_length=1, max_length=100)],
        limit: Annotated[int, Parameter(ge=1, le=50)] = 20,
    ) -> SearchOut:
        """Public profiles whose display name starts with ``q`` (case-insensitive; ``q`` is
        text, never a pattern), by name: only those the caller may see (their visibility;
        anyone blocked either way is left out)."""
        caller = request.user
        if caller.is_service:  # a service is no viewer (it shows no profiles to people)
            found = await accounts.search(q, limit)
        else:
            friends, hidden = await social.audience(caller.subject)
            found = await accounts.search(
                q, limit, exclude=hidden, viewer=caller.subject, friends=friends
            )
        return SearchOut(users=[PublicProfileOut.of(a) for a in found])

    @get("/{user_id:str}", guards=READ)
    async def profile(
        self, user_id: FromPath[str], request: Caller, accounts: Accounts, social: Social
    ) -> PublicProfileOut:
        """A profile: display name, avatar, level — never email or tokens. Absent (the same
        404 as an id nobody owns) to anyone its visibility hides it from (``friends``: all
        but friends; ``private``: everyone else) and between two people either of whom
        blocked the other."""
        account = await accounts.get(user_id)
        caller = request.user
        if not caller.is_service and not await social.may_see(caller.subject, account):
            raise AccountGone("the account does not exist")
        return PublicProfileOut.of(account)


__all__ = ["AccountController"]
