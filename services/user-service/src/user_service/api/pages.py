"""The pages a person sees in a browser: sign in, sign up, sign out, confirm an email
address, choose a new password. They work without JavaScript."""

from __future__ import annotations

import contextlib
from typing import Annotated, Any
from urllib.parse import quote

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import QueryParameter
from litestar.response import Redirect

from deepiri_kit import DomainError, domain_status
from user_service.api.web import SESSION_COOKIE, Web, client_address
from user_service.service.accounts import (
    AccountGone,
    AccountService,
    BadCredentials,
    TooManyAttempts,
)
from user_service.service.sessions import Sessions

Accounts = NamedDependency[AccountService]
SessionsDep = NamedDependency[Sessions]
WebDep = NamedDependency[Web]
Req = Request[Any, Any, Any]
PUBLIC = {"public": True}
Next = Annotated[str, QueryParameter(max_length=4096)]
Token = Annotated[str, QueryParameter(max_length=200)]


class PageController(Controller):
    tags = ["pages"]
    include_in_schema = False

    @get("/login", opt=PUBLIC)
    async def login_form(
        self, request: Req, web: WebDep, sessions: SessionsDep, accounts: Accounts, next: Next = ""
    ) -> Response[Any]:
        target = web.safe_next(next)
        session = await sessions.current(request.cookies.get(SESSION_COOKIE))
        if session is not None:
            if target:
                return web.redirect(target)
            with contextlib.suppress(AccountGone):
                account = await accounts.get(session.user_id)
                return web.page(
                    request,
                    "login.html",
                    title="Signed in",
                    signed_in=account.display_name,
                    next="",
                    email="",
                )
        return web.page(
            request, "login.html", title="Sign in", signed_in=None, next=target, email=""
        )

    @post("/login", opt=PUBLIC, status_code=303)
    async def login(
        self, request: Req, web: WebDep, sessions: SessionsDep, accounts: Accounts
    ) -> Response[Any]:
        form = await web.form(request)
        target = web.safe_next(form.get("next"))
        email = form.get("email", "")[:320]

        def again(status: int, error: str, headers: dict[str, str] | None = None) -> Response[Any]:
            return web.page(
                request,
                "login.html",
                title="Sign in",
                status=status,
                headers=headers,
                signed_in=None,
                next=target,
                email=email,
                error=error,
            )

        try:
            account = await accounts.authenticate(
                email, form.get("password", "")[:1024], client_address(request)
            )
        except BadCredentials as refused:
            return again(401, refused.detail)
        except TooManyAttempts as refused:
            return again(429, str(refused), {"Retry-After": str(refused.retry_after)})
        except DomainError as refused:
            return again(domain_status(refused), refused.detail)
        await accounts.logged_in(account, None)
        secret = await sessions.start(account.id)
        return web.redirect(target or f"{web.prefix}/login", [web.session_cookie(secret)])

    @post("/logout", opt=PUBLIC, status_code=303)
    async def logout(self, request: Req, web: WebDep, sessions: SessionsDep) -> Redirect:
        await web.form(request)
        await sessions.end(request.cookies.get(SESSION_COOKIE))
        return web.redirect(f"{web.prefix}/login", [web.session_cookie(None)])

    @get("/signup", opt=PUBLIC)
    async def signup_form(self, request: Req, web: WebDep, next: Next = "") -> Response[str]:
        return web.page(
            request,
            "signup.html",
            title="Create your account",
            next=web.safe_next(next),
            email="",
            display_name="",
            time_zone="UTC",
            locale="en",
        )

    @post("/signup", opt=PUBLIC)
    async def signup(self, request: Req, web: WebDep, accounts: Accounts) -> Response[str]:
        form = await web.form(request)
        target = web.safe_next(form.get("next"))
        fields = {
            name: form.get(name, "")[:320]
            for name in ("email", "display_name", "time_zone", "locale")
        }
        try:
            await accounts.register(password=form.get("password", "")[:1024], **fields)
        except DomainError as refused:
            return web.page(
                request,
                "signup.html",
                title="Create your account",
                status=domain_status(refused),
                next=target,
                error=refused.detail,
                email=fields["email"],
                display_name=fields["display_name"],
                time_zone=fields["time_zone"],
                locale=fields["locale"],
            )
        # The same page whether the address was new or not (no enumeration).
        login = f"{web.prefix}/login" + (f"?next={quote(target, safe='')}" if target else "")
        return web.page(
            request,
            "message.html",
            title="Check your mail",
            message="If the address can receive mail, a link to confirm it is on its way. "
            "You can sign in now.",
            link=login,
        )

    @get("/email/verify", opt=PUBLIC)
    async def confirm_email_form(self, request: Req, web: WebDep, token: Token) -> Response[str]:
        # A GET never spends the token: mail scanners follow links; a person presses the button.
        return web.page(request, "confirm_email.html", title="Confirm your email", token=token)

    @post("/email/verify", opt=PUBLIC)
    async def confirm_email(self, request: Req, web: WebDep, accounts: Accounts) -> Response[str]:
        form = await web.form(request)
        try:
            await accounts.confirm_email(form.get("token", "")[:200])
        except DomainError as refused:
            return _message(web, request, domain_status(refused), "Link not valid", refused.detail)
        return _message(web, request, 200, "Email confirmed", "Your address is confirmed.")

    @get("/password/reset", opt=PUBLIC)
    async def reset_form(
        self, request: Req, web: WebDep, accounts: Accounts, token: Token
    ) -> Response[str]:
        try:
            await accounts.check_reset(token)
        except DomainError as refused:
            return _message(web, request, domain_status(refused), "Link not valid", refused.detail)
        return web.page(request, "reset.html", title="Choose a new password", token=token)

    @post("/password/reset", opt=PUBLIC)
    async def reset(self, request: Req, web: WebDep, accounts: Accounts) -> Response[str]:
        form = await web.form(request)
        token = form.get("token", "")[:200]
        try:
            await accounts.reset_password(token, form.get("password", "")[:1024])
        except DomainError as refused:
            return web.page(
                request,
                "reset.html",
                title="Choose a new password",
                status=domain_status(refused),
                token=token,
                error=refused.detail,
            )
        return _message(
            web,
            request,
            200,
            "Password changed",
            "Sign in with your new password.",
            link=f"{web.prefix}/login",
        )


def _message(
    web: Web, request: Req, status: int, title: str, message: str, link: str = ""
) -> Response[str]:
    return web.page(request, "message.html", title=title, status=status, message=message, link=link)
