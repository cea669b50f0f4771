"""Account use cases: register, sign in, profile, verification, reset, deletion."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from deepiri_kit import errors, utcnow
from deepiri_kit.contracts import users
from deepiri_kit.events import EventBus, outbox_entry
from user_service.domain import onetime
from user_service.domain.accounts import (
    Account,
    InvalidAccount,
    erased,
    name_prefix_pattern,
    new_account,
    normalise_email,
    updated,
    verified,
    with_roles,
)
from user_service.domain.passwords import check_password, normalise_password
from user_service.domain.throttle import ACCOUNT, ADDRESS, Backoff, account_key
from user_service.events import publish
from user_service.service.passwords import Passwords
from user_service.store.accounts import AccountStore
from user_service.store.mailbox import StreamReader
from user_service.store.throttle import Throttle

log = logging.getLogger("user_service.accounts")
VERIFY, RESET = "verify", "reset"
# A claimed address whose account never got written (its writer died) is free again after:
STALE_CLAIM = timedelta(minutes=1)
MAX_RACE_RETRIES = 8


# Signing in is authentication, not a domain rule: the sign-in page answers these two
# itself (401, and 429 with Retry-After); every other refusal is one of the kit's errors.


class BadCredentials(Exception):
    """Unknown email or wrong password: one answer for both."""

    detail = "the email or the password is wrong"


class TooManyAttempts(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many failed sign-ins; retry in {retry_after}s")
        self.retry_after = retry_after


class InvalidLink(errors.Invalid):
    """A verification or reset secret that is unknown, spent, expired or for another use."""

    def __init__(self, detail: str = "the link is invalid, expired or already used") -> None:
        super().__init__(detail)


class AccountGone(errors.NotFound):
    """The account does not exist (any more)."""


class Busy(errors.Conflict):
    """Concurrent changes kept winning the race; the caller may retry."""


# Called after a password change or deletion, to end sessions and revoke tokens.
Revoker = Callable[[str], Awaitable[None]]


@dataclass(frozen=True)
class Links:
    base: str  # the issuer URL: https://deepiri.example/api/users

    def verify(self, secret: str) -> str:
        return f"{self.base}/email/verify?token={secret}"

    def reset(self, secret: str) -> str:
        return f"{self.base}/password/reset?token={secret}"


class AccountService:
    def __init__(
        self,
        store: AccountStore,
        passwords: Passwords,
        throttle: Throttle,
        bus: EventBus,
        links: Links,
        *,
        verification_lifetime: timedelta,
        reset_lifetime: timedelta,
        answer_floor: float = 0.0,
        backoffs: tuple[Backoff, Backoff] = (ACCOUNT, ADDRESS),
    ) -> None:
        self.store = store
        self.passwords = passwords
        self.throttle = throttle
        self.bus = bus
        self.links = links
        self.verification_lifetime = verification_lifetime
        self.reset_lifetime = reset_lifetime
        self.answer_floor = answer_floor
        self.account_backoff, self.address_backoff = backoffs
        self.revokers: list[Revoker] = []
        # What else an account's deletion erases (its skill progress), after the revokers.
        self.erasers: list[Revoker] = []
        self.stream_reader: StreamReader | None = None  # development's mailbox only

    @asynccontextmanager
    async def _uniform(self) -> AsyncIterator[None]:
        """Answers that could tell whether an address has an account take at least
        ``answer_floor`` seconds, whichever way they went (the paths differ by a few
        database writes; the Argon2id cost is the same on both)."""
        deadline = time.monotonic() + self.answer_floor
        try:
            yield
        except asyncio.CancelledError:
            raise
        except Exception:
            await _sleep_until(deadline)
            raise
        await _sleep_until(deadline)

    # --- registration --------------------------------------------------------------------

    async def register(
        self, *, email: str, password: str, display_name: str, time_zone: str, locale: str
    ) -> Account | None:
        """The new account, or None when the address is taken. Callers answer both alike
        (no account enumeration), and both cost one Argon2id hash and the same time."""
        async with self._uniform():
            return await self._register(
                email=email,
                password=password,
                display_name=display_name,
                time_zone=time_zone,
                locale=locale,
            )

    async def _register(
        self, *, email: str, password: str, display_name: str, time_zone: str, locale: str
    ) -> Account | None:
        now = utcnow()
        account = new_account(
            account_id=uuid.uuid4().hex,
            email=email,
            display_name=display_name,
            time_zone=time_zone,
            locale=locale,
            now=now,
        )
        clean = check_password(
            password, context=(account.email.partition("@")[0], account.display_name)
        )
        password_hash = await self.passwords.hash(clean)
        if not await self._claim_email(account.email, account.id, now):
            return None
        await self.store.set_password_hash(account.id, password_hash, now)
        event = publish.event(
            _profile(account, users.UserRegistered), account.id, event_id=f"{account.id}:1"
        )
        link = await self.store.record(account, 1, [outbox_entry(publish.STREAM, event)], now)
        assert link is not None  # a fresh id: nobody else writes its first change
        await self.store.log.deliver(link)
        await self._mail(account, VERIFY)
        return account

    async def _claim_email(self, email: str, account_id: str, now: datetime) -> bool:
        owner = await self.store.claim_email(email, account_id, now)
        if owner is None:
            return True
        claim = await self.store.email_claim(email)
        if (
            claim is not None
            and await self.store.head(owner) is None
            and now - _utc(claim["at"]) > STALE_CLAIM
        ):
            # Its registration died between the claim and the account: take the address over.
            await self.store.release_email(email, owner)
            return await self.store.claim_email(email, account_id, now) is None
        return False

    # --- signing in ----------------------------------------------------------------------

    async def authenticate(self, email: str, password: str, address: str) -> Account:
        """The account, or BadCredentials (same answer and cost for an unknown email), or
        TooManyAttempts while the account or the address is locked."""
        async with self._uniform():
            return await self._authenticate(email, password, address)

    async def _authenticate(self, email: str, password: str, address: str) -> Account:
        try:
            email = normalise_email(email)
        except InvalidAccount:
            email = email.strip().lower()  # still throttled and hashed like any other
        key = account_key(email)
        wait = max(
            await self.throttle.locked_for("account", key),
            await self.throttle.locked_for("address", address),
        )
        if wait:
            raise TooManyAttempts(wait)
        owner = await self.store.owner_of(email)
        stored = None if owner is None else await self.store.password_hash(owner)
        clean = normalise_password(password)
        ok, rehash = await self.passwords.verify(stored, clean)
        account = await self.store.get(owner) if ok and owner is not None else None
        if account is None or account.deleted:
            await self.throttle.failed("account", key, self.account_backoff)
            await self.throttle.failed("address", address, self.address_backoff)
            raise BadCredentials
        await self.throttle.succeeded("account", key)
        if rehash:
            await self.store.set_password_hash(
                account.id, await self.passwords.hash(clean), utcnow()
            )
        return account

    async def logged_in(self, account: Account, client_id: str | None) -> None:
        """Announce a sign-in (nothing was written, so there is no outbox to ride in)."""
        event = publish.event(
            users.UserLoggedIn(user_id=account.id, client_id=client_id), account.id
        )
        try:
            await self.bus.publish(publish.STREAM, event)
        except Exception as exc:  # an observation, not a change: a bus outage loses only it
            log.warning("user.logged_in not published: %s", type(exc).__name__)

    # --- the profile ---------------------------------------------------------------------

    async def get(self, account_id: str) -> Account:
        account = await self.store.get(account_id)
        if account is None or account.deleted:
            raise AccountGone("the account does not exist")
        return account

    async def search(self, prefix: str, limit: int, exclude: Iterable[str] = ()) -> list[Account]:
        """Accounts whose display name starts with ``prefix`` (case-insensitive, literal:
        never a pattern), none of ``exclude``."""
        return await self.store.search(name_prefix_pattern(prefix), limit, exclude)

    async def update(self, account_id: str, **changes: Any) -> Account:
        async def change(account: Account) -> Account:
            return updated(account, **changes)

        return await self._change(account_id, change)

    async def set_roles(self, account_id: str, roles: set[str]) -> Account:
        """Operators only (the CLI): roles decide role-bound scopes such as ``admin``."""

        async def change(account: Account) -> Account:
            return with_roles(account, roles)

        return await self._change(account_id, change)

    async def _change(
        self,
        account_id: str,
        change: Callable[[Account], Awaitable[Account]],
    ) -> Account:
        for _ in range(MAX_RACE_RETRIES):
            found = await self.store.head(account_id)
            if found is None or found[0].deleted:
                raise AccountGone("the account does not exist")
            account, seq = found
            new = await change(account)
            if new == account:
                return account
            event = publish.event(
                _profile(new, users.UserUpdated), account_id, event_id=f"{account_id}:{seq + 1}"
            )
            link = await self.store.record(
                new, seq + 1, [outbox_entry(publish.STREAM, event)], utcnow()
            )
            if link is not None:
                await self.store.log.deliver(link)
                return new
        raise Busy("the account is changing concurrently; retry")

    async def delete(self, account_id: str) -> None:
        """Erase the account: its address is free again, its credentials and sessions gone,
        and ``user.deleted`` tells every service to erase or anonymise what it holds."""
        for _ in range(MAX_RACE_RETRIES):
            found = await self.store.head(account_id)
            if found is None:
                raise AccountGone("the account does not exist")
            account, seq = found
            if account.deleted:
                break  # finished before, or by a writer that died: the clean-up below is safe
            event = publish.event(
                users.UserDeleted(user_id=account_id), account_id, event_id=f"{account_id}:deleted"
            )
            link = await self.store.record(
                erased(account), seq + 1, [outbox_entry(publish.STREAM, event)], utcnow()
            )
            if link is not None:
                await self.store.release_email(account.email, account_id)
                await self.store.log.deliver(link)
                break
        else:
            raise Busy("the account is changing concurrently; retry")
        await self.store.scrub_history(account_id)
        await self.store.forget_credentials(account_id)
        for revoke in self.revokers:
            await revoke(account_id)
        for erase in self.erasers:
            await erase(account_id)

    # --- verification and reset ----------------------------------------------------------

    async def request_verification(self, email: str) -> None:
        async with self._uniform():
            account = await self._by_email(email)
            if account is not None and not account.email_verified:
                await self._mail(account, VERIFY)

    async def request_reset(self, email: str) -> None:
        async with self._uniform():
            account = await self._by_email(email)
            if account is not None:
                await self._mail(account, RESET)

    async def _by_email(self, email: str) -> Account | None:
        try:
            owner = await self.store.owner_of(normalise_email(email))
        except InvalidAccount:
            return None
        account = None if owner is None else await self.store.get(owner)
        return None if account is None or account.deleted else account

    async def _mail(self, account: Account, purpose: str) -> None:
        now = utcnow()
        secret = onetime.new_secret()
        lifetime = self.verification_lifetime if purpose == VERIFY else self.reset_lifetime
        expires_at = onetime.expiry(now, lifetime)
        await self.store.save_token(
            onetime.digest(secret), purpose=purpose, account_id=account.id, expires_at=expires_at
        )
        mail_type: type[users.VerificationRequested | users.PasswordResetRequested]
        if purpose == VERIFY:
            mail_type, link = users.VerificationRequested, self.links.verify(secret)
        else:
            mail_type, link = users.PasswordResetRequested, self.links.reset(secret)
        mail = mail_type(
            user_id=account.id,
            email=account.email,
            locale=account.locale,
            link=link,
            expires_at=expires_at,
        )
        await self.bus.publish(publish.STREAM, publish.event(mail, account.id))

    async def mailbox(self, email: str, newest: int = 500) -> list[dict[str, Any]]:
        """Development only: the mail events for ``email`` among the stream's newest."""
        try:
            address = normalise_email(email)
        except InvalidAccount:
            return []
        mails = []
        if self.stream_reader is None:
            return []
        for envelope in await self.stream_reader.newest(publish.STREAM, newest):
            kind = envelope.type in (
                users.VERIFICATION_REQUESTED,
                users.PASSWORD_RESET_REQUESTED,
            )
            if kind and envelope.data.get("email") == address:
                mails.append({"type": envelope.type, **envelope.data})
        return mails

    async def _redeem(self, secret: str, purpose: str) -> str:
        """The account id the secret was issued to; spends it. InvalidLink otherwise."""
        token_digest = onetime.digest(secret)
        doc = await self.store.token(token_digest)
        now = utcnow()
        if doc is None or doc["purpose"] != purpose or onetime.expired(doc["expires_at"], now):
            raise InvalidLink
        if not await self.store.spend_token(token_digest, now):
            raise InvalidLink
        return str(doc["user_id"])

    async def confirm_email(self, secret: str) -> Account:
        account_id = await self._redeem(secret, VERIFY)

        async def verify(account: Account) -> Account:
            return verified(account)

        try:
            return await self._change(account_id, verify)
        except AccountGone:
            raise InvalidLink from None

    async def check_reset(self, secret: str) -> None:
        """InvalidLink unless ``secret`` could reset a password now (the form's first step)."""
        doc = await self.store.token(onetime.digest(secret))
        if doc is None or doc["purpose"] != RESET or onetime.expired(doc["expires_at"], utcnow()):
            raise InvalidLink

    async def reset_password(self, secret: str, password: str) -> None:
        await self.check_reset(secret)
        doc = await self.store.token(onetime.digest(secret))
        account = None if doc is None else await self.store.get(str(doc["user_id"]))
        if account is None or account.deleted:
            raise InvalidLink
        # The rules first: a weak choice must not spend the link.
        clean = check_password(
            password, context=(account.email.partition("@")[0], account.display_name)
        )
        password_hash = await self.passwords.hash(clean)
        account_id = await self._redeem(secret, RESET)
        await self.store.set_password_hash(account_id, password_hash, utcnow())
        await self.throttle.succeeded("account", account_key(account.email))
        for revoke in self.revokers:
            await revoke(account_id)


async def _sleep_until(deadline: float) -> None:
    remaining = deadline - time.monotonic()
    if remaining > 0:
        await asyncio.sleep(remaining)


Profile = TypeVar("Profile", users.UserRegistered, users.UserUpdated)


def _profile(account: Account, contract: type[Profile]) -> Profile:
    return contract(
        user_id=account.id,
        display_name=account.display_name,
        time_zone=account.time_zone,
        locale=account.locale,
        email=account.email if account.email_verified else None,
    )


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)
