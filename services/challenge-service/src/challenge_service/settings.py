"""The service's typed environment. The mixins decide which clients the kit opens and what
readiness checks; they must match the chart's ``datastores`` for this service."""

from __future__ import annotations

from dataclasses import dataclass

from deepiri_kit import MongoSettings, RedisSettings, ServiceSettings


@dataclass(frozen=True, kw_only=True)
class ChallengeSettings(ServiceSettings, MongoSettings, RedisSettings):
    service_name: str = "challenge-service"
    port: int = 5007
    mongo_db: str = "deepiri_challenge"
