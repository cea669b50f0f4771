"""The service's typed environment. The mixins decide which clients the kit opens and what
readiness checks; they must match the chart's ``datastores`` for this service."""

from __future__ import annotations

from dataclasses import dataclass

from deepiri_kit import MongoSettings, RedisSettings, Secret, ServiceSettings


@dataclass(frozen=True, kw_only=True)
class ChallengeSettings(ServiceSettings, MongoSettings, RedisSettings):
    service_name: str = "challenge-service"
    port: int = 5007
    mongo_db: str = "deepiri_challenge"
    # ai-service (the seed's name for it): challenges are generated there.
    pyagent_url: str = "http://ai-service:8000"
    agent_timeout_seconds: float = 20.0
    # The client-credentials grant at user-service that yields the ``agent:invoke`` token;
    # TOKEN_URL empty: ``/oauth/token`` of user-service inside the cluster (the kit's
    # provider_url, where the JWKS is fetched) — never the public issuer's, which the pod's
    # NetworkPolicy does not let it reach.
    token_url: str = ""
    agent_client_id: str = "challenge-service"
    agent_client_secret: Secret = "challenge-service-development-secret"  # noqa: S105 - refused in production
    # How long the consumer's read blocks for new events.
    consumer_block_ms: int = 1000
    # The deadline worker's pass (expiring offers, ending challenges whose time is up).
    deadline_interval_seconds: float = 5.0

    @property
    def agent_token_url(self) -> str:
        return self.token_url or f"{self.provider_url}/oauth/token"
