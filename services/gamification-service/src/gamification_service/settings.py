"""gamification-service's typed environment (MongoDB and Redis; see docs/kit.md)."""

from __future__ import annotations

from dataclasses import dataclass

from deepiri_kit import MongoSettings, RedisSettings, Secret, ServiceSettings


@dataclass(frozen=True, kw_only=True)
class GamificationSettings(ServiceSettings, MongoSettings, RedisSettings):
    service_name: str = "gamification-service"
    port: int = 5003
    mongo_db: str = "deepiri_gamification"
    # CONVERSION_RATES: "from:to=give:get" pairs, comma separated. 100 coins buy 1 gem, etc.
    conversion_rates: str = "coins:gems=100:1,gems:coins=1:80,coins:tokens=50:1,stars:gems=5:1"
    # How long an unapplied ledger entry / unfinished match may wait before the reconciler
    # finishes it (the request or event that wrote it normally does so within milliseconds).
    reconcile_after_seconds: float = 10.0
    reconcile_interval_seconds: float = 5.0
    relay_interval_seconds: float = 2.0
    consumer_block_ms: int = 1000
    # Friends' boards are rebuilt from user-service's social graph with this client's own
    # token (client credentials, scope social:read), at the kit's provider_url (in-cluster).
    user_service_client_id: str = "gamification-service"
    user_service_client_secret: Secret = "gamification-development-secret"  # noqa: S105 - dev only
