"""RFC 9457 problem details: every error leaves a service as ``application/problem+json``.

One table, :data:`DOMAIN_PROBLEMS`, turns the domain errors of :mod:`deepiri_kit.errors`
(raised by use cases, rules and stores, which know nothing of HTTP) into problem documents.
:class:`Problem` is for what is not the domain's business — malformed syntax, authentication,
scopes, rate limits, an unavailable dependency — raised by the kit and by handlers. The app
factory installs the handlers below, which also turn Litestar's own HTTP errors (validation,
unknown route, oversized body) into the same shape and hide internal errors.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException

from deepiri_kit.context import current_request_id
from deepiri_kit.data.transient import RETRY_AFTER_SECONDS, is_transient, worth_retrying
from deepiri_kit.errors import (
    Conflict,
    DomainError,
    Forbidden,
    InsufficientFunds,
    Invalid,
    NotFound,
    StalePrecondition,
)
from deepiri_kit.retry import mark_retryable

PROBLEM_JSON = "application/problem+json"
PROBLEM_BASE = "https://deepiri.dev/problems/"
log = logging.getLogger("deepiri.problems")


class Problem(Exception):
    """A protocol-level error (not the domain's: see :mod:`deepiri_kit.errors`).
    ``extra`` becomes extension members."""

    status: int = 400
    slug: str = "bad-request"
    title: str = "Bad request"

    def __init__(
        self,
        detail: str,
        *,
        status: int | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        if status is not None:
            self.status = status
        self.headers = headers or {}
        self.extra = extra


class BadRequest(Problem):
    pass


class Unauthorized(Problem):
    status, slug, title = 401, "unauthorized", "Authentication required"


class InsufficientScope(Problem):
    status, slug, title = 403, "forbidden", "Insufficient scope"


class TooManyRequests(Problem):
    status, slug, title = 429, "too-many-requests", "Too Many Requests"


class ServiceUnavailable(Problem):
    status, slug, title = 503, "unavailable", "Dependency unavailable"

    def __init__(self, detail: str, **kwargs: Any) -> None:
        kwargs.setdefault("headers", {"Retry-After": str(RETRY_AFTER_SECONDS)})
        super().__init__(detail, **kwargs)


def problem_body(
    status: int, *, title: str, detail: str, slug: str, instance: str | None = None, **extra: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + slug,
        "title": title,
        "status": status,
        "detail": detail,
    }
    if instance:
        body["instance"] = instance
    request_id = current_request_id()
    if request_id:
        body["request_id"] = request_id
    body.update(extra)
    return body


def problem_response(
    status: int,
    *,
    title: str,
    detail: str,
    slug: str,
    instance: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Response[dict[str, Any]]:
    body = problem_body(status, title=title, detail=detail, slug=slug, instance=instance, **extra)
    return Response(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


async def send_problem(
    send: Any,
    status: int,
    detail: str,
    instance: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> None:
    """Answer from raw ASGI code (middleware that runs outside Litestar's handlers)."""
    title = HTTPStatus(status).phrase
    body = problem_body(status, title=title, detail=detail, slug=_slug(status), instance=instance)
    raw_headers = [(b"content-type", PROBLEM_JSON.encode())]
    raw_headers += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": msgspec.json.encode(body)})


def _slug(status: int) -> str:
    try:
        return HTTPStatus(status).phrase.lower().replace(" ", "-").replace("'", "")
    except ValueError:
        return "error"


def handle_problem(request: Request[Any, Any, Any], exc: Problem) -> Response[dict[str, Any]]:
    return problem_response(
        exc.status,
        title=exc.title,
        detail=exc.detail,
        slug=exc.slug,
        instance=request.url.path,
        headers=exc.headers,
        **exc.extra,
    )


# Domain error → (status, slug, title); the most specific class in an error's MRO wins.
DOMAIN_PROBLEMS: dict[type[DomainError], tuple[int, str, str]] = {
    NotFound: (404, "not-found", "Not found"),
    Conflict: (409, "conflict", "Conflict"),
    InsufficientFunds: (409, "insufficient-funds", "Insufficient funds"),
    Invalid: (422, "unprocessable", "Unprocessable request"),
    StalePrecondition: (412, "precondition-failed", "Precondition failed"),
    Forbidden: (403, "forbidden", "Forbidden"),
    DomainError: (422, "unprocessable", "Unprocessable request"),
}


def domain_problem(exc: DomainError) -> tuple[int, str, str]:
    return next(DOMAIN_PROBLEMS[k] for k in type(exc).__mro__ if k in DOMAIN_PROBLEMS)


def domain_status(exc: DomainError) -> int:
    """The status :data:`DOMAIN_PROBLEMS` gives ``exc``, for an answer that is not a problem
    document (a form page re-rendered with the error) but must say the same."""
    return domain_problem(exc)[0]


def handle_domain_error(
    request: Request[Any, Any, Any], exc: DomainError
) -> Response[dict[str, Any]]:
    status, slug, title = domain_problem(exc)
    etag = exc.etag if isinstance(exc, StalePrecondition) else None
    return problem_response(
        status,
        title=title,
        detail=exc.detail,
        slug=slug,
        instance=request.url.path,
        headers={"ETag": etag} if etag else None,
        **exc.extra,
    )


def handle_http_exception(
    request: Request[Any, Any, Any], exc: HTTPException
) -> Response[dict[str, Any]]:
    status = exc.status_code
    extra: dict[str, Any] = {}
    if isinstance(exc, ValidationException) and exc.extra:
        # Litestar/msgspec tell which field failed; keep it, drop anything echoing the input.
        errors = exc.extra if isinstance(exc.extra, list) else [exc.extra]
        extra["errors"] = [
            {k: v for k, v in e.items() if k in ("key", "message", "source")}
            if isinstance(e, dict)
            else {"message": str(e)}
            for e in errors
        ]
    if status >= 500:
        log.error("http error %s: %s", status, exc.detail)
    title = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
    return problem_response(
        status,
        title=title,
        detail=exc.detail or title,
        slug=_slug(status),
        instance=request.url.path,
        headers=dict(exc.headers or {}),
        **extra,
    )


def handle_unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    if is_transient(exc):
        return handle_unavailable(request, exc)
    # Never leak internals; the log line carries the trace and request ids to find the cause.
    log.exception("unhandled error on %s %s", request.method, request.scope.get("path_template"))
    return problem_response(
        500,
        title="Internal Server Error",
        detail="The server failed to handle this request; it has been logged.",
        slug="internal",
        instance=request.url.path,
    )


def handle_unavailable(
    request: Request[Any, Any, Any], exc: BaseException
) -> Response[dict[str, Any]]:
    """A datastore that is down, paused or busy: the client may retry (with the same
    Idempotency-Key for an unsafe request; the kit makes that safe)."""
    if worth_retrying(exc):
        mark_retryable(request.scope)  # type: ignore[arg-type]
    log.warning(
        "datastore unavailable on %s %s: %s: %s",
        request.method,
        request.scope.get("path_template"),
        type(exc).__name__,
        str(exc)[:300],
    )
    return problem_response(
        503,
        title="Service Unavailable",
        detail="a datastore this request needs is unavailable or busy; retry shortly",
        slug="unavailable",
        instance=request.url.path,
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


EXCEPTION_HANDLERS: dict[type[Exception], Any] = {
    Problem: handle_problem,
    DomainError: handle_domain_error,
    HTTPException: handle_http_exception,
    Exception: handle_unexpected,
}
