"""Deepiri's shared service kit: everything nine services would otherwise copy.

Services import the kit only through its public API: this package and the public modules
named in tools/import_contracts.py (``deepiri_kit.chain`` — the write path,
``deepiri_kit.contracts`` and its modules — the event contracts, one module per stream,
``deepiri_kit.events``, ``deepiri_kit.metrics``, ``deepiri_kit.data.mongo`` / ``.redis`` /
``.influx``), each of which declares ``__all__``.
Everything else is internal; ``make lint`` refuses a service's deep import of it.
"""

from deepiri_kit import metrics
from deepiri_kit.app import Wiring, create_app, from_state
from deepiri_kit.auth import LocalKeys, Principal, TokenVerifier, invalid_token, requires_scopes
from deepiri_kit.clock import stored_time, utcnow
from deepiri_kit.errors import (
    Conflict,
    DomainError,
    Forbidden,
    InsufficientFunds,
    Invalid,
    NotFound,
    StalePrecondition,
)
from deepiri_kit.inbound import OPEN_QUERY
from deepiri_kit.models import LongText, Model, Out, ShortText, Tag
from deepiri_kit.pagination import (
    DEFAULT_LIMIT,
    MALFORMED,
    MAX_LIMIT,
    CursorQuery,
    Page,
    decode_cursor,
    encode_cursor,
    keyset_filter,
    page_of,
)
from deepiri_kit.platform import Platform, retry_startup
from deepiri_kit.problems import (
    BadRequest,
    InsufficientScope,
    Problem,
    ServiceUnavailable,
    TooManyRequests,
    Unauthorized,
    domain_status,
)
from deepiri_kit.ratelimit import RateLimiter
from deepiri_kit.retry import backoff
from deepiri_kit.serve import run
from deepiri_kit.settings import (
    InfluxSettings,
    MongoSettings,
    OptionalSecret,
    RedisSettings,
    Secret,
    ServiceSettings,
    SettingsError,
    load_settings,
)
from deepiri_kit.stamps import scoped_key
from deepiri_kit.stamps import stamp as idempotency_stamp
from deepiri_kit.tracing import tracer, untraced
from deepiri_kit.types import (
    LOWER_CASE,
    MAX_SAFE_INTEGER,
    NonNegative,
    ObjectIdPath,
    ObjectIdStr,
    Positive,
    SafeInt,
    to_utc,
)
from deepiri_kit.upstream import CircuitBreaker, Upstream
from deepiri_kit.workers import Periodic, Worker, pause

__all__ = [
    "DEFAULT_LIMIT",
    "LOWER_CASE",
    "MALFORMED",
    "MAX_LIMIT",
    "MAX_SAFE_INTEGER",
    "OPEN_QUERY",
    "BadRequest",
    "CircuitBreaker",
    "Conflict",
    "CursorQuery",
    "DomainError",
    "Forbidden",
    "InfluxSettings",
    "InsufficientFunds",
    "InsufficientScope",
    "Invalid",
    "LocalKeys",
    "LongText",
    "Model",
    "MongoSettings",
    "NonNegative",
    "NotFound",
    "ObjectIdPath",
    "ObjectIdStr",
    "OptionalSecret",
    "Out",
    "Page",
    "Periodic",
    "Platform",
    "Positive",
    "Principal",
    "Problem",
    "RateLimiter",
    "RedisSettings",
    "SafeInt",
    "Secret",
    "ServiceSettings",
    "ServiceUnavailable",
    "SettingsError",
    "ShortText",
    "StalePrecondition",
    "Tag",
    "TokenVerifier",
    "TooManyRequests",
    "Unauthorized",
    "Upstream",
    "Wiring",
    "Worker",
    "backoff",
    "create_app",
    "decode_cursor",
    "domain_status",
    "encode_cursor",
    "from_state",
    "idempotency_stamp",
    "invalid_token",
    "keyset_filter",
    "load_settings",
    "metrics",
    "page_of",
    "pause",
    "requires_scopes",
    "retry_startup",
    "run",
    "scoped_key",
    "stored_time",
    "to_utc",
    "tracer",
    "untraced",
    "utcnow",
]
