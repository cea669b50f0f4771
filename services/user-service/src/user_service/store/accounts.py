"""Accounts in MongoDB.

* ``account_log`` — the kit's write path (:class:`deepiri_kit.chain.Chain`): one link per
  change of an account (registered, updated, verified, deleted), each carrying its events:
  the outbox, and the journal the bus guard replays when Redis lost them. An erasure leaves
  the deletion's journal alone — ``user.deleted``, the account id and nothing else, what
  every consumer needs to erase — and drops every earlier link's (names, addresses).
* ``users`` — the read model, projected from the log (``version`` = the link's seq).
* ``emails`` — ``_id`` = the normalised address → the account: the unique claim that makes
  an address belong to one account (an insert into ``_id``, atomic on every MongoDB-wire
  server, where a conditional update is not on FerretDB).
* ``credentials`` — ``_id`` = account id → its Argon2id hash; kept out of the log so old
  hashes do not linger in history.
* ``one_time_tokens`` / ``one_time_tokens_used`` — verification and reset tokens by the
  SHA-256 of the secret; a token is spent by inserting its digest into ``…_used``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from pymongo import IndexModel
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from deepiri_kit.chain import OUTBOX, Chain, link_id, link_key, link_seq
from deepiri_kit.data.mongo import ensure_indexes
from deepiri_kit.events import JOURNAL, EventBus, Journal, journalled
from user_service.domain.accounts import Account

Document = dict[str, Any]
# Called with each account state the read model takes (id, version, account): the social
# index keeps who is not public.
Projected = Callable[[str, int, Account], Awaitable[None]]


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def account_doc(account: Account) -> Document:
    return {
        "email": account.email,
        "display_name": account.display_name,
        "time_zone": account.time_zone,
        "locale": account.locale,
        "created_at": account.created_at,
        "email_verified": account.email_verified,
        "avatar_url": account.avatar_url,
        "level": account.level,
        "roles": list(account.roles),
        "deleted": account.deleted,
        "visibility": account.visibility,
    }


def as_account(account_id: str, doc: Mapping[str, Any]) -> Account:
    return Account(
        id=account_id,
        email=doc["email"],
        display_name=doc["display_name"],
        time_zone=doc["time_zone"],
        locale=doc["locale"],
        created_at=_aware(doc["created_at"]),
        email_verified=bool(doc.get("email_verified")),
        avatar_url=doc.get("avatar_url"),
        level=int(doc.get("level", 1)),
        roles=tuple(doc.get("roles", ())),
        deleted=bool(doc.get("deleted")),
        visibility=doc.get("visibility", "public"),
    )


class AccountStore:
    def __init__(self, db: AsyncDatabase[Document], bus: EventBus) -> None:
        self.log = Chain(db["account_log"], bus, cache=10_000, repair=self._repair)
        # What the bus guard replays when Redis lost events: every change's, by its time.
        self.journal = Journal(self.log.links, time_field="at")
        self.users = db["users"]
        self.emails = db["emails"]
        self.credentials = db["credentials"]
        self.tokens = db["one_time_tokens"]
        self.spent = db["one_time_tokens_used"]
        self.projected: list[Projected] = []

    async def ensure_indexes(self) -> None:
        await self.log.ensure_indexes(IndexModel([("at", 1)], name="account_at"))
        await ensure_indexes(self.tokens, [IndexModel([("user_id", 1)], name="user")])

    # --- accounts ------------------------------------------------------------------------

    async def claim_email(self, email: str, account_id: str, now: datetime) -> str | None:
        """Make ``email`` belong to ``account_id``: None on success, else the owner's id."""
        try:
            await self.emails.insert_one({"_id": email, "user_id": account_id, "at": now})
        except DuplicateKeyError:
            doc = await self.emails.find_one({"_id": email})
            return None if doc is None else str(doc["user_id"])
        return None

    async def release_email(self, email: str, account_id: str) -> None:
        await self.emails.delete_one({"_id": email, "user_id": account_id})

    async def email_claim(self, email: str) -> Document | None:
        return await self.emails.find_one({"_id": email})

    async def owner_of(self, email: str) -> str | None:
        doc = await self.emails.find_one({"_id": email})
        return None if doc is None else str(doc["user_id"])

    async def record(
        self, account: Account, seq: int, outbox: Sequence[Document], now: datetime
    ) -> Document | None:
        """Claim change ``seq`` of the account's log (None: another writer was first), then
        bring the read model up to it."""
        fields = {
            "account": account_doc(account),
            "at": now,
            **journalled(outbox),  # kept for replays (deepiri_kit.events.replay)
        }
        link = await self.log.claim(account.id, seq, fields, outbox=outbox)
        if link is not None:
            await self._project(link)
        return link

    async def _project(self, link: Document) -> None:
        await self.log.project(
            self.users,
            link_key(link),
            link,
            lambda newest: {**newest["account"], "version": int(str(newest["_id"])[-12:])},
        )
        account_id = link_key(link)
        for hook in self.projected:
            await hook(account_id, link_seq(link), as_account(account_id, link["account"]))

    async def _repair(self, key: str, link: Document) -> None:
        await self._project(link)
        if link["account"].get("deleted"):  # its writer died before it scrubbed the history
            await self.scrub_history(key)

    async def head(self, account_id: str) -> tuple[Account, int] | None:
        """The account as its newest change left it, and that change's seq."""
        link = await self.log.head(account_id)
        if link is None:
            return None
        return as_account(account_id, link["account"]), int(str(link["_id"])[-12:])

    async def scrub_history(self, account_id: str) -> None:
        """A deleted account's earlier links keep their place in the chain but no longer the
        states they recorded (address, name, avatar): each takes the erased state of the
        newest link and drops its journal at once, and its outbox once delivered (the
        compactor would, later; an undelivered event still goes out first). The deletion's
        own link keeps its journal: ``user.deleted``, which a lost bus needs again. Safe to
        repeat."""
        found = await self.head(account_id)
        if found is None or not found[0].deleted:
            return
        erased, seq = found
        for n in range(1, seq):
            link = link_id(account_id, n)
            scrub: Document = {"$set": {"account": account_doc(erased)}, "$unset": {JOURNAL: ""}}
            if await self.log.delivered.find_one({"_id": link}, {"_id": 1}) is not None:
                scrub["$unset"][OUTBOX] = ""
            await self.log.links.update_one({"_id": link}, scrub)

    async def get(self, account_id: str) -> Account | None:
        doc = await self.users.find_one({"_id": account_id})
        return None if doc is None else as_account(account_id, doc)

    async def search(
        self,
        pattern: str,
        limit: int,
        exclude: Iterable[str] = (),
        *,
        viewer: str | None = None,
        friends: Iterable[str] = (),
    ) -> list[Account]:
        """Live accounts whose display name matches ``pattern`` (case-insensitive; the
        caller escapes it), by name then id, none of ``exclude``; for a ``viewer``, only
        those they may see: public ones, friends-only ones among their ``friends``, and
        themselves."""
        query: Document = {
            "display_name": {"$regex": pattern, "$options": "i"},
            "deleted": {"$ne": True},
        }
        if excluded := list(exclude):
            query["_id"] = {"$nin": excluded}
        if viewer is not None:
            query["$or"] = [
                {"visibility": {"$nin": ["friends", "private"]}},
                {"visibility": "friends", "_id": {"$in": list(friends)}},
                {"_id": viewer},
            ]
        found = self.users.find(query, sort=[("display_name", 1), ("_id", 1)], limit=limit)
        return [as_account(doc["_id"], doc) async for doc in found]

    # --- credentials ---------------------------------------------------------------------

    async def set_password_hash(self, account_id: str, password_hash: str, now: datetime) -> None:
        await self.credentials.replace_one(
            {"_id": account_id}, {"hash": password_hash, "changed_at": now}, upsert=True
        )

    async def password_hash(self, account_id: str) -> str | None:
        doc = await self.credentials.find_one({"_id": account_id})
        return None if doc is None else str(doc["hash"])

    async def forget_credentials(self, account_id: str) -> None:
        await self.credentials.delete_one({"_id": account_id})
        await self.tokens.delete_many({"user_id": account_id})

    # --- one-time tokens -----------------------------------------------------------------

    async def save_token(
        self, token_digest: str, *, purpose: str, account_id: str, expires_at: datetime
    ) -> None:
        await self.tokens.insert_one(
            {
                "_id": token_digest,
                "purpose": purpose,
                "user_id": account_id,
                "expires_at": expires_at,
            }
        )

    async def token(self, token_digest: str) -> Document | None:
        doc = await self.tokens.find_one({"_id": token_digest})
        if doc is not None:
            doc["expires_at"] = _aware(doc["expires_at"])
        return doc

    async def spend_token(self, token_digest: str, now: datetime) -> bool:
        """True for the one caller that spends the token; False if it was spent before."""
        try:
            await self.spent.insert_one({"_id": token_digest, "at": now})
        except DuplicateKeyError:
            return False
        with contextlib.suppress(Exception):
            await self.tokens.delete_one({"_id": token_digest})
        return True
