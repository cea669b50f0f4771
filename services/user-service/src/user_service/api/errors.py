"""Use-case outcomes as problem documents, the same for the JSON API and the pages."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from deepiri_kit import BadRequest, Conflict, NotFound, Problem, Unauthorized
from user_service.domain.accounts import InvalidAccount
from user_service.domain.passwords import WeakPassword
from user_service.service.accounts import (
    AccountGone,
    BadCredentials,
    Busy,
    InvalidLink,
    TooManyAttempts,
)


class Unprocessable(Problem):
    # The pages re-render with the problem's detail, so rules broken come back as a Problem.
    status, slug, title = 422, "unprocessable", "Unprocessable request"


class TooManyRequests(Problem):
    status, slug, title = 429, "too-many-requests", "Too Many Requests"


@contextmanager
def account_problems() -> Iterator[None]:
    try:
        yield
    except (InvalidAccount, WeakPassword) as exc:
        raise Unprocessable(str(exc)) from None
    except BadCredentials:
        raise Unauthorized("the email or the password is wrong") from None
    except TooManyAttempts as exc:
        raise TooManyRequests(
            str(exc), headers={"Retry-After": str(exc.retry_after)}, retry_after=exc.retry_after
        ) from None
    except InvalidLink:
        raise BadRequest("the link is invalid, expired or already used") from None
    except AccountGone:
        raise NotFound("the account does not exist") from None
    except Busy:
        raise Conflict("the account is changing concurrently; retry") from None
