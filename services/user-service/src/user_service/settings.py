"""The service's typed environment. The mixins decide which clients the kit opens and what
readiness checks; they must match the chart's ``datastores`` for this service."""

from __future__ import annotations

import json
from dataclasses import dataclass

from deepiri_kit import InfluxSettings, MongoSettings, RedisSettings, Secret, ServiceSettings

_USER_SCOPES = (
    "openid profile email offline_access users:read users:write tasks:read tasks:write "
    "gamification:read gamification:write challenges:read challenges:write "
    "notifications:read notifications:write integrations:read integrations:write "
    "analytics:read"
)
# Development only (OAUTH_CLIENTS is a Secret: production must set its own).
DEV_CLIENTS = json.dumps(
    [
        {
            "client_id": "deepiri-web",
            "name": "Deepiri",
            "redirect_uris": [
                "http://localhost:3000/callback",
                "http://127.0.0.1:3000/callback",
            ],
            "scope": _USER_SCOPES,
            "first_party": True,
        },
        {
            "client_id": "deepiri-cli",
            "name": "Deepiri CLI",
            "grant_types": ["urn:ietf:params:oauth:grant-type:device_code", "refresh_token"],
            "scope": _USER_SCOPES,
            "first_party": True,
        },
        {
            "client_id": "grafana",
            "name": "Grafana",
            "secret": "grafana-development-secret",
            "redirect_uris": ["http://localhost:3001/login/generic_oauth"],
            "scope": "openid profile email",
            "first_party": True,
        },
        {
            # gamification-service's own token: it rebuilds friends' boards from the graph.
            "client_id": "gamification-service",
            "name": "gamification-service",
            "secret": "gamification-development-secret",
            "grant_types": ["client_credentials"],
            "scope": "social:read",
            "first_party": True,
        },
    ]
)


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
    # Sign-in, registration and mail requests take at least this long whichever way they
    # go, so their timing does not tell whether an address has an account.
    answer_floor_ms: int = 250
    # Sign-in back-off: after the free failures (5 per account, 20 per address) each further
    # failure locks for this, doubled each time, up to 15 minutes.
    login_lock_base_seconds: float = 1.0
    verification_token_minutes: int = 24 * 60
    reset_token_minutes: int = 30
    session_hours: int = 12
    # The provider. KEY_ENCRYPTION_KEY (base64url, 32 bytes) seals the signing keys at rest;
    # it comes from a Secret (the development value is refused in production).
    key_encryption_key: Secret = "ZGV2ZWxvcG1lbnQta2V5LWVuY3J5cHRpb24ta2V5LTA"
    access_token_seconds: int = 600
    refresh_token_days: int = 30
    # A new signing key is published this long before it signs: longer than verifiers'
    # JWKS cache (the kit refetches within 300 s).
    key_publish_lead_seconds: int = 600
    # First-party clients, seeded at start-up (JSON list; secrets hashed when stored):
    # {client_id, name, redirect_uris, grant_types, scope, secret?, first_party}.
    oauth_clients: Secret = DEV_CLIENTS
    # Skill trees: a definitions file of the operator's (JSON, the shape of the shipped
    # domain/data/skills.json); empty = the shipped one. A bad file refuses to start.
    skill_tree_file: str = ""
    # The event consumer blocks this long waiting for new events (task.completed → skill XP).
    consumer_block_ms: int = 1000
    # The consumer group this process reads events.tasks in; empty = the deployment's own
    # (``user-service``), which every replica shares. A second deployment on the same bus (a
    # canary, the test harness's session-wide sign-in service) names a group of its own, so
    # it never takes the first one's events.
    consumer_group: str = ""
    # The initial access token for RFC 7591 registration (besides an admin's access token).
    registration_token: Secret = "development-registration-token"  # noqa: S105 - dev only
    # Activity time-series (InfluxDB: INFLUXDB_URL, INFLUXDB_ORG, INFLUXDB_BUCKET and
    # INFLUXDB_TOKEN, a Secret). Only activity needs it, and its events wait on the bus while
    # it is away, so an outage shows in readiness as ``degraded`` without taking sign-in down.
    influxdb_required: bool = False
    # How long the bucket keeps points (set on the bucket at start-up; 0 = forever). A bit
    # over a year: the calendar shows 53 weeks. Also how far back the best streak is sought.
    activity_retention_days: int = 400
    # Events written to InfluxDB per request (the recorder's batch).
    activity_batch: int = 500
