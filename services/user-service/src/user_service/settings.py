"""The service's typed environment. The mixins decide which clients the kit opens and what
readiness checks; they must match the chart's ``datastores`` for this service."""

from __future__ import annotations

from dataclasses import dataclass

from deepiri_kit import InfluxSettings, MongoSettings, RedisSettings, ServiceSettings


@dataclass(frozen=True, kw_only=True)
class UserSettings(ServiceSettings, MongoSettings, RedisSettings, InfluxSettings):
    service_name: str = "user-service"
    port: int = 5001
    mongo_db: str = "deepiri_user"
    # Argon2id, measured on the 2-core build machine (docs/services/user-service.md,
    # tools/bench/bench_user_service.py): OWASP's 19 MiB / 2 passes / 1 lane. Changing them
    # re-hashes each password at its owner's next sign-in.
    argon2_time_cost: int = 2
    argon2_memory_kib: int = 19_456
    argon2_parallelism: int = 1
    # Hashes running at once per process; more wait (a login flood cannot take every core).
    max_concurrent_hashes: int = 2
    verification_token_minutes: int = 24 * 60
    reset_token_minutes: int = 30
    session_hours: int = 12
