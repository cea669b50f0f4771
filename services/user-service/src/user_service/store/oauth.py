"""The provider's state in MongoDB. Everything single-use is spent by inserting its digest
as an ``_id`` (atomic on every MongoDB-wire server); nothing secret is stored in clear.

* ``oauth_clients`` — registered and seeded clients (secrets as SHA-256).
* ``oauth_codes`` / ``oauth_codes_used`` — authorization codes by digest; spent markers.
* ``oauth_refresh`` / ``oauth_refresh_used`` — refresh tokens by digest; spent markers.
* ``oauth_revoked`` — revoked grant families (``family:<id>``) and access tokens
  (``jti:<id>``), each with when it may be forgotten.
* ``oauth_consents`` — the scopes a person granted a client.
* ``oauth_devices`` — device authorization requests (RFC 8628) by device-code digest, with
  the user code as a unique claim in ``oauth_user_codes``.
* ``signing_keys`` — the JWKS keys, private halves sealed with the key-encryption key.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from user_service.domain.oauth import Client

Document = dict[str, Any]


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def client_doc(client: Client) -> Document:
    return {
        "name": client.name,
        "redirect_uris": list(client.redirect_uris),
        "grant_types": list(client.grant_types),
        "scope": client.scope,
        "secret_digest": client.secret_digest,
        "first_party": client.first_party,
    }


def as_client(doc: Mapping[str, Any]) -> Client:
    return Client(
        client_id=str(doc["_id"]),
        name=doc["name"],
        redirect_uris=tuple(doc.get("redirect_uris", ())),
        grant_types=tuple(doc.get("grant_types", ())),
        scope=doc.get("scope", ""),
        secret_digest=doc.get("secret_digest"),
        first_party=bool(doc.get("first_party")),
    )


class OAuthStore:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.clients = db["oauth_clients"]
        self.codes = db["oauth_codes"]
        self.codes_used = db["oauth_codes_used"]
        self.refresh = db["oauth_refresh"]
        self.refresh_used = db["oauth_refresh_used"]
        self.revoked = db["oauth_revoked"]
        self.consents = db["oauth_consents"]
        self.devices = db["oauth_devices"]
        self.devices_used = db["oauth_devices_used"]
        self.user_codes = db["oauth_user_codes"]
        self.keys = db["signing_keys"]

    # --- clients -------------------------------------------------------------------------

    async def client(self, client_id: str) -> Client | None:
        doc = await self.clients.find_one({"_id": client_id})
        return None if doc is None else as_client(doc)

    async def put_client(self, client: Client) -> None:
        await self.clients.replace_one({"_id": client.client_id}, client_doc(client), upsert=True)

    async def add_client(self, client: Client) -> bool:
        try:
            await self.clients.insert_one({"_id": client.client_id, **client_doc(client)})
        except DuplicateKeyError:
            return False
        return True

    # --- single-use things ---------------------------------------------------------------

    async def save(self, collection: str, digest: str, doc: Mapping[str, Any]) -> None:
        await getattr(self, collection).insert_one({"_id": digest, **doc})

    async def find(self, collection: str, digest: str) -> Document | None:
        doc: Document | None = await getattr(self, collection).find_one({"_id": digest})
        if doc is not None:
            for key in ("expires_at", "at"):
                if isinstance(doc.get(key), datetime):
                    doc[key] = _aware(doc[key])
        return doc

    async def spend(self, collection: str, digest: str, now: datetime) -> bool:
        """True for the one caller that spends ``digest``; False when it was spent before."""
        try:
            await getattr(self, collection).insert_one({"_id": digest, "at": now})
        except DuplicateKeyError:
            return False
        return True

    async def spent(self, collection: str, digest: str) -> bool:
        return await getattr(self, collection).find_one({"_id": digest}, {"_id": 1}) is not None

    async def forget(self, collection: str, digest: str) -> None:
        await getattr(self, collection).delete_one({"_id": digest})

    async def update(self, collection: str, digest: str, changes: Mapping[str, Any]) -> None:
        await getattr(self, collection).update_one({"_id": digest}, {"$set": dict(changes)})

    # --- revocation ----------------------------------------------------------------------

    async def revoke(self, key: str, until: datetime) -> None:
        with contextlib.suppress(DuplicateKeyError):  # revoked before: once is enough
            await self.revoked.insert_one({"_id": key, "until": until})

    async def revoked_any(self, *keys: str) -> bool:
        for key in keys:
            if await self.revoked.find_one({"_id": key}, {"_id": 1}) is not None:
                return True
        return False

    # --- consent -------------------------------------------------------------------------

    async def consent(self, key: str) -> set[str]:
        doc = await self.consents.find_one({"_id": key})
        return set() if doc is None else set(doc.get("scopes", []))

    async def remember_consent(self, key: str, scopes: set[str], now: datetime) -> None:
        await self.consents.replace_one(
            {"_id": key}, {"scopes": sorted(scopes), "at": now}, upsert=True
        )

    async def forget_user(self, user_id: str) -> None:
        await self.consents.delete_many({"_id": {"$regex": f"^{user_id}:"}})

    # --- signing keys --------------------------------------------------------------------

    async def signing_keys(self) -> list[Document]:
        docs = [doc async for doc in self.keys.find({}).sort([("created_at", ASCENDING)])]
        for doc in docs:
            for key in ("created_at", "active_from", "retire_after"):
                if isinstance(doc.get(key), datetime):
                    doc[key] = _aware(doc[key])
        return docs

    async def claim_genesis(self, now: datetime) -> bool:
        """True for the one process that makes an installation's first signing key."""
        try:
            await self.keys.database["signing_key_genesis"].insert_one({"_id": "first", "at": now})
        except DuplicateKeyError:
            return False
        return True

    async def add_signing_key(self, doc: Document) -> None:
        await self.keys.insert_one(doc)

    async def retire_signing_key(self, kid: str, after: datetime) -> None:
        await self.keys.update_one({"_id": kid}, {"$set": {"retire_after": after}})

    async def drop_signing_key(self, kid: str) -> None:
        await self.keys.delete_one({"_id": kid})
