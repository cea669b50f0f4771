"""OAuth clients: the first-party ones seeded from configuration at start-up."""

from __future__ import annotations

import json
from typing import Any

from user_service.domain.oauth import (
    AUTHORIZATION_CODE,
    REFRESH_TOKEN,
    Client,
    InvalidClient,
    check_client,
    secret_digest,
)
from user_service.store.oauth import OAuthStore


def parse_clients(raw: str) -> list[Client]:
    """OAUTH_CLIENTS: a JSON list of client objects (secrets in clear, hashed here)."""
    try:
        entries: list[dict[str, Any]] = json.loads(raw or "[]")
        return [
            check_client(
                Client(
                    client_id=str(e["client_id"]),
                    name=str(e.get("name", e["client_id"])),
                    redirect_uris=tuple(e.get("redirect_uris", ())),
                    grant_types=tuple(e.get("grant_types", (AUTHORIZATION_CODE, REFRESH_TOKEN))),
                    scope=str(e.get("scope", "openid profile email offline_access")),
                    secret_digest=secret_digest(e["secret"]) if e.get("secret") else None,
                    first_party=bool(e.get("first_party", False)),
                )
            )
            for e in entries
        ]
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidClient(f"OAUTH_CLIENTS is not a valid client list: {exc}") from None


async def seed_clients(store: OAuthStore, raw: str) -> int:
    clients = parse_clients(raw)
    for client in clients:
        await store.put_client(client)
    return len(clients)
