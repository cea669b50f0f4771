"""What every server-rendered page shares: autoescaped templates, security headers, the
CSRF token (double submit: a cookie and a form field that must match) and the session
cookie."""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import jinja2
from litestar import Request, Response
from litestar.datastructures import Cookie
from litestar.enums import MediaType
from litestar.response import Redirect

from deepiri_kit import Forbidden

SESSION_COOKIE = "deepiri_session"
CSRF_COOKIE = "deepiri_csrf"

_templates = jinja2.Environment(
    loader=jinja2.PackageLoader("user_service.api", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
)


def csp(nonce: str) -> str:
    # No scripts at all; the one inline style block carries the nonce. frame-ancestors
    # 'none': no page of ours can be framed (clickjacking the consent button).
    return (
        f"default-src 'none'; style-src 'nonce-{nonce}'; img-src 'self'; "
        "base-uri 'none'; frame-ancestors 'none'"
    )


@dataclass(frozen=True)
class Web:
    prefix: str  # /api/users
    secure_cookies: bool
    session_seconds: int

    def csrf_of(self, request: Request[Any, Any, Any]) -> str:
        """The caller's CSRF token (a new one when it has none yet)."""
        return request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(32)

    async def form(self, request: Request[Any, Any, Any]) -> dict[str, str]:
        """The posted form, after the CSRF check (403 when the token is missing or wrong)."""
        form = await request.form()
        fields = {k: str(v) for k, v in form.items() if isinstance(v, str)}
        cookie = request.cookies.get(CSRF_COOKIE, "")
        posted = fields.get("csrf", "")
        if not cookie or not hmac.compare_digest(cookie.encode(), posted.encode()):
            raise Forbidden("the form's CSRF token is missing or does not match; reload the page")
        return fields

    def page(
        self,
        request: Request[Any, Any, Any],
        template: str,
        *,
        title: str,
        status: int = 200,
        cookies: list[Cookie] | None = None,
        headers: dict[str, str] | None = None,
        **context: Any,
    ) -> Response[str]:
        nonce = secrets.token_urlsafe(16)
        csrf = self.csrf_of(request)
        context.setdefault("error", None)
        html = _templates.get_template(template).render(
            title=title, nonce=nonce, csrf=csrf, prefix=self.prefix, **context
        )
        return Response(
            html,
            status_code=status,
            media_type=MediaType.HTML,
            headers={**self.security_headers(nonce), **(headers or {})},
            cookies=[self.csrf_cookie(csrf), *(cookies or [])],
        )

    def redirect(self, location: str, cookies: list[Cookie] | None = None) -> Redirect:
        return Redirect(
            location,
            status_code=303,
            headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"},
            cookies=cookies or [],
        )

    def security_headers(self, nonce: str) -> dict[str, str]:
        return {
            "Content-Security-Policy": csp(nonce),
            "X-Frame-Options": "DENY",
            "X-Content-Type-Options": "nosniff",
            # Reset and verification links carry their secret in the query string.
            "Referrer-Policy": "no-referrer",
            "Cache-Control": "no-store",
        }

    def csrf_cookie(self, value: str) -> Cookie:
        return Cookie(
            key=CSRF_COOKIE,
            value=value,
            path=self.prefix,
            httponly=True,
            secure=self.secure_cookies,
            samesite="strict",
        )

    def session_cookie(self, value: str | None) -> Cookie:
        """The sign-in cookie; ``None`` expires it."""
        return Cookie(
            key=SESSION_COOKIE,
            value=value or "",
            path=self.prefix,
            max_age=self.session_seconds if value else 0,
            httponly=True,
            secure=self.secure_cookies,
            samesite="lax",  # sent on the top-level GET that brings a person from a client
        )

    def safe_next(self, target: str | None) -> str:
        """Where to go after signing in: only somewhere under our own prefix."""
        if not target:
            return ""
        parts = urlsplit(target)
        if parts.scheme or parts.netloc or not target.startswith(self.prefix + "/"):
            return ""
        if "\\" in target or target.startswith("//"):
            return ""
        return target


def client_address(request: Request[Any, Any, Any]) -> str:
    """As uvicorn resolved it (X-Forwarded-For only from FORWARDED_ALLOW_IPS)."""
    return request.client.host if request.client else "-"
