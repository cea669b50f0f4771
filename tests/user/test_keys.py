"""Signing keys: sealed at rest with the key-encryption key, rotated with the next key
published before it signs, the old one verifying until its tokens have expired."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import httpx
import jwt
import pytest
from litestar import Litestar

from deepiri_kit import utcnow
from support.users import PREFIX, SERVICE_SECRET
from user_service.service.keys import KeyError_, KeyRing, parse_kek, seal, unseal
from user_service.service.provider import Provider

pytestmark = [pytest.mark.integration, pytest.mark.anyio]
KEK = parse_kek("ZGV2ZWxvcG1lbnQta2V5LWVuY3J5cHRpb24ta2V5LTA")


async def service_token(client: httpx.AsyncClient) -> str:
    response = await client.post(
        f"{PREFIX}/oauth/token",
        data={"grant_type": "client_credentials", "scope": "users:read"},
        auth=("svc", SERVICE_SECRET),
    )
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


async def published(client: httpx.AsyncClient) -> list[str]:
    return [k["kid"] for k in (await client.get(f"{PREFIX}/oauth/jwks")).json()["keys"]]


def kid_of(token: str) -> str:
    return str(jwt.get_unverified_header(token)["kid"])


async def introspected(client: httpx.AsyncClient, token: str) -> bool:
    response = await client.post(
        f"{PREFIX}/oauth/introspect", data={"token": token}, auth=("svc", SERVICE_SECRET)
    )
    return bool(response.json()["active"])


def test_private_keys_are_sealed_with_the_kek() -> None:
    sealed = seal(KEK, "kid-1", {"d": "secret-part"})
    assert "secret-part" not in sealed
    assert unseal(KEK, "kid-1", sealed) == {"d": "secret-part"}
    with pytest.raises(KeyError_):
        unseal(parse_kek("A" * 43), "kid-1", sealed)  # another KEK
    with pytest.raises(KeyError_):
        unseal(KEK, "kid-2", sealed)  # bound to its key id
    with pytest.raises(KeyError_):
        parse_kek("too-short")


async def test_stored_keys_hold_no_private_part_in_clear(app: Litestar, mongo: Any) -> None:
    [doc] = [d async for d in mongo["signing_keys"].find({})]
    assert "d" not in doc["public"]
    private = unseal(KEK, doc["_id"], doc["sealed"])
    for part in ("d", "p", "q"):
        assert private[part] not in json.dumps(doc, default=str)


async def test_rotation_publishes_first_then_signs_and_keeps_the_old_key_until_expiry(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    provider: Provider = app.state.provider
    ring: KeyRing = provider.keys
    old_token = await service_token(client)
    old = kid_of(old_token)

    new = await ring.rotate()
    # Published at once, not yet signing: verifiers get to cache it first.
    assert await published(client) == [old, new]
    assert kid_of(await service_token(client)) == old

    # Its time comes (as if KEY_PUBLISH_LEAD_SECONDS had passed).
    await ring.store.keys.update_one({"_id": new}, {"$set": {"active_from": utcnow()}})
    await ring.load()
    new_token = await service_token(client)
    assert kid_of(new_token) == new
    # The old key still verifies what it signed, here and for every JWKS reader.
    assert await published(client) == [old, new]
    assert await introspected(client, old_token)
    bearer = {"Authorization": f"Bearer {old_token}"}
    assert (await client.get(f"{PREFIX}/someone", headers=bearer)).status_code == 404

    # Once every token it signed has expired, it leaves the JWKS and verifies nothing.
    retire = (await ring.store.keys.find_one({"_id": old}))["retire_after"]
    assert retire > utcnow() + timedelta(seconds=provider.access_seconds)
    await ring.store.keys.update_one(
        {"_id": old}, {"$set": {"retire_after": utcnow() - timedelta(seconds=1)}}
    )
    await ring.load()
    assert await published(client) == [new]
    assert not await introspected(client, old_token)
    assert await introspected(client, new_token)
    assert await ring.prune() == 1
    assert [k.kid for k in ring.keys] == [new]
