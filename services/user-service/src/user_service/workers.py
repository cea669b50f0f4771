"""Background work that lives as long as the app: the account log's sweeper (publishes
what a crash or a Redis outage left undelivered) and compactor."""

from __future__ import annotations

from deepiri_kit import Platform, Worker
from user_service.service.wiring import Services


def background(_platform: Platform, services: Services) -> list[Worker]:
    return [*services.accounts.store.log.workers()]
