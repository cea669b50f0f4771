"""user-service's rules, without servers."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from user_service.domain.accounts import (
    InvalidAccount,
    check_locale,
    erased,
    new_account,
    normalise_email,
    updated,
)
from user_service.domain.passwords import (
    MAX_LENGTH,
    WeakPassword,
    check_password,
    common_passwords,
)
from user_service.domain.throttle import ACCOUNT, Backoff

pytestmark = pytest.mark.unit
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def account(**kw: str) -> object:
    fields = {
        "email": "Alice@Example.COM ",
        "display_name": "  Alice   A. ",
        "time_zone": "Europe/Paris",
        "locale": "pt-br",
    } | kw
    return new_account(account_id="a1", now=NOW, **fields)


def test_a_new_account_is_normalised() -> None:
    made = new_account(
        account_id="a1",
        email=" Alice@Example.COM",
        display_name="  Alice   A. ",
        time_zone="Europe/Paris",
        locale="zh-hant-tw",
        now=NOW,
    )
    assert (made.email, made.display_name, made.locale) == (
        "alice@example.com",
        "Alice A.",
        "zh-Hant-TW",
    )
    assert not made.email_verified
    assert not made.deleted


@pytest.mark.parametrize(
    "email", ["alice", "@example.com", "alice@", "alice@example", "a b@example.com", "a@.com"]
)
def test_malformed_emails_are_refused(email: str) -> None:
    with pytest.raises(InvalidAccount):
        normalise_email(email)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("time_zone", "Mars/Olympus"),
        ("time_zone", "europe/paris"),
        ("locale", "english"),
        ("locale", "en_US"),
        ("display_name", "   "),
        ("display_name", "x" * 101),
        ("display_name", "bell\x07"),
    ],
)
def test_account_rules(field: str, value: str) -> None:
    with pytest.raises(InvalidAccount):
        account(**{field: value})


def test_updates_change_only_what_is_given_and_erasure_keeps_only_the_id() -> None:
    original = account()
    assert updated(original) == original
    changed = updated(original, time_zone="Asia/Tokyo", locale="EN")
    assert (changed.time_zone, changed.locale, changed.display_name) == (
        "Asia/Tokyo",
        "en",
        original.display_name,  # type: ignore[attr-defined]
    )
    with pytest.raises(InvalidAccount):
        updated(original, avatar_url="javascript:alert(1)")
    gone = erased(replace(changed, email_verified=True))
    assert (gone.id, gone.email, gone.deleted, gone.email_verified) == ("a1", "", True, False)
    assert check_locale("pt-br") == "pt-BR"


@pytest.mark.parametrize(
    "password",
    [
        "short pass",  # 10 characters
        "password1234",  # common (in the shipped list)
        "qwertyuiop123",  # common stem + digits
        "aaaaaaaaaaaaaaaa",  # too few distinct characters
        "abababababababab",
        "alice.smith!2026",  # mostly the email's name
        "deepiri-deepiri",  # mostly the service's name
        "x" * (MAX_LENGTH + 1),
    ],
)
def test_weak_passwords_are_refused(password: str) -> None:
    with pytest.raises(WeakPassword) as caught:
        check_password(password, context=("alice.smith", "Alice"))
    assert password not in str(caught.value)  # never echoed


@pytest.mark.parametrize(
    "password",
    [
        "correct horse battery staple",
        "Tr0ub4dor&3xyz",
        "ééééé ünïcödé çà va",  # any Unicode
        "nocomposition rules at all",
    ],
)
def test_length_not_composition(password: str) -> None:
    assert check_password(password, context=("alice",)) == password


def test_passwords_are_nfkc_normalised() -> None:
    # Full-width digits and the ﬁ ligature are the same password as their plain forms.
    assert check_password("ﬁne horse \uff10\uff11\uff12\uff13\uff14") == "fine horse 01234"


def test_the_shipped_list_is_the_common_one() -> None:
    common = common_passwords()
    assert len(common) == 30_000
    assert {"123456", "password", "qwerty123456", "1qaz2wsx3edc"} <= common


def test_backoff_doubles_after_the_free_failures_up_to_the_cap() -> None:
    backoff = Backoff(free=3, base_seconds=1.0, cap_seconds=10.0)
    assert [backoff.lock_seconds(n) for n in range(1, 9)] == [0, 0, 0, 1, 2, 4, 8, 10]
    assert ACCOUNT.lock_seconds(ACCOUNT.free) == 0 < ACCOUNT.lock_seconds(ACCOUNT.free + 1)


def test_operator_scopes_are_granted_to_people_with_the_role_only() -> None:
    from user_service.domain.oauth import SCOPES, grantable

    asked = "openid gamification:read gamification:admin admin ratings:write"
    assert grantable(asked, ()) == "openid gamification:read ratings:write"
    assert grantable(asked, ("admin",)) == asked
    # Every scope a service's routes require can be issued (gamification's admin and match
    # routes were unreachable with real tokens before these were known).
    assert {"gamification:admin", "ratings:write", "tasks:write"} <= set(SCOPES)
