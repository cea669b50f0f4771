"""Signing keys: RS256 keys in MongoDB, private halves sealed (AES-256-GCM, the key id as
associated data) with the key-encryption key from a Secret.

Rotation publishes the next key ``publish_lead`` before it signs (verifiers refresh their
JWKS cache within that), and keeps the previous key published until every token it signed
has expired (``token_lifetime`` after it stopped signing). Every process reloads the ring
periodically, so a rotation by the CLI reaches all pods.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from joserfc.jwk import KeySet, RSAKey

from deepiri_kit import utcnow
from user_service.store.oauth import OAuthStore

ALG = "RS256"


class KeyError_(Exception):
    """The key-encryption key is malformed, or does not open a stored key."""


def parse_kek(value: str) -> bytes:
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError):
        raise KeyError_("KEY_ENCRYPTION_KEY must be base64url") from None
    if len(raw) != 32:
        raise KeyError_("KEY_ENCRYPTION_KEY must be 32 bytes (base64url, 43 characters)")
    return raw


def seal(kek: bytes, kid: str, private: dict[str, Any]) -> str:
    nonce = os.urandom(12)
    sealed = AESGCM(kek).encrypt(nonce, json.dumps(private).encode(), kid.encode())
    return base64.b64encode(nonce + sealed).decode()


def unseal(kek: bytes, kid: str, sealed: str) -> dict[str, Any]:
    raw = base64.b64decode(sealed)
    try:
        opened = AESGCM(kek).decrypt(raw[:12], raw[12:], kid.encode())
    except InvalidTag:
        raise KeyError_(f"signing key {kid} does not open with this KEY_ENCRYPTION_KEY") from None
    value: dict[str, Any] = json.loads(opened)
    return value


@dataclass(frozen=True)
class RingKey:
    kid: str
    private: RSAKey
    active_from: datetime
    retire_after: datetime | None

    def published(self, now: datetime) -> bool:
        return self.retire_after is None or now < self.retire_after


class KeyRing:
    def __init__(
        self,
        store: OAuthStore,
        kek: bytes,
        *,
        publish_lead: timedelta,
        token_lifetime: timedelta,
    ) -> None:
        self.store = store
        self.kek = kek
        self.publish_lead = publish_lead
        self.token_lifetime = token_lifetime
        self.keys: list[RingKey] = []

    async def load(self) -> None:
        keys = []
        for doc in await self.store.signing_keys():
            private = RSAKey.import_key(unseal(self.kek, doc["_id"], doc["sealed"]))
            keys.append(
                RingKey(
                    kid=doc["_id"],
                    private=private,
                    active_from=doc["active_from"],
                    retire_after=doc.get("retire_after"),
                )
            )
        self.keys = keys

    async def ensure(self) -> None:
        """At least one key that signs now (the first start of a new installation). Of the
        processes starting at once, the one that claims the genesis makes the key; the
        others wait for it, so every process signs with the key every JWKS shows."""
        await self.load()
        if self.keys:
            return
        if await self.store.claim_genesis(utcnow()):
            await self._add(active_from=utcnow())
        for _ in range(100):
            await self.load()
            if self.keys:
                return
            await asyncio.sleep(0.1)
        raise KeyError_("no signing key appeared (its maker died?); restart to retry")

    async def rotate(self) -> str:
        """Add the next key (signing after ``publish_lead``); the current keys retire once
        the tokens they may still sign until then have expired."""
        now = utcnow()
        active_from = now + self.publish_lead
        for key in self.keys:
            if key.retire_after is None:
                await self.store.retire_signing_key(key.kid, active_from + self.token_lifetime)
        kid = await self._add(active_from=active_from)
        await self.load()
        return kid

    async def prune(self) -> int:
        """Drop keys no longer published (never the one signing)."""
        now = utcnow()
        signer = self.signer(now)
        gone = [k for k in self.keys if not k.published(now) and k.kid != signer.kid]
        for key in gone:
            await self.store.drop_signing_key(key.kid)
        await self.load()
        return len(gone)

    async def _add(self, *, active_from: datetime) -> str:
        private = RSAKey.generate_key(
            2048, parameters={"alg": ALG, "use": "sig"}, private=True, auto_kid=True
        )
        kid = str(private.kid)
        await self.store.add_signing_key(
            {
                "_id": kid,
                "alg": ALG,
                "public": private.as_dict(private=False),
                "sealed": seal(self.kek, kid, private.as_dict(private=True)),
                "created_at": utcnow(),
                "active_from": active_from,
                "retire_after": None,
            }
        )
        return kid

    def signer(self, now: datetime | None = None) -> RingKey:
        """The newest key whose time has come."""
        now = now or utcnow()
        active = [k for k in self.keys if k.active_from <= now]
        if not active:
            raise KeyError_("no signing key is active")
        return max(active, key=lambda k: k.active_from)

    def signing_set(self) -> KeySet:
        """The one key that signs now, as joserfc wants it (its ``kid`` goes in the header)."""
        return KeySet([self.signer().private])

    def jwks(self) -> dict[str, Any]:
        now = utcnow()
        return {"keys": [k.private.as_dict(private=False) for k in self.keys if k.published(now)]}
