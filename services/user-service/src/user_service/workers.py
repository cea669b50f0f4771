"""Background work that lives as long as the app: the account log's sweeper (publishes
what a crash or a Redis outage left undelivered) and compactor, and the signing-key
reloader (a rotation made elsewhere reaches this process)."""

from __future__ import annotations

from deepiri_kit import Periodic, Platform, Worker
from user_service.service.wiring import Services

KEY_RELOAD_SECONDS = 60.0


def background(_platform: Platform, services: Services) -> list[Worker]:
    return [
        *services.accounts.store.log.workers(),
        Periodic("signing-keys", KEY_RELOAD_SECONDS, services.provider.keys.load),
    ]
