"""The provider's rules: clients, scopes, consent. Protocol mechanics are Authlib's; these
are the decisions it asks us for."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field

from deepiri_kit.errors import Invalid

AUTHORIZATION_CODE = "authorization_code"
REFRESH_TOKEN = "refresh_token"  # noqa: S105 - a grant type's name
CLIENT_CREDENTIALS = "client_credentials"
DEVICE_CODE = "urn:ietf:params:oauth:grant-type:device_code"
GRANT_TYPES = (AUTHORIZATION_CODE, REFRESH_TOKEN, CLIENT_CREDENTIALS, DEVICE_CODE)

# Identity scopes (OpenID Connect) and one read/write pair per service.
SCOPES: dict[str, str] = {
    "openid": "Sign you in",
    "profile": "See your display name, avatar, time zone and language",
    "email": "See your email address",
    "offline_access": "Stay signed in (refresh tokens)",
    "users:read": "See your account and public profiles",
    "users:write": "Change or delete your account",
    "tasks:read": "See your tasks",
    "tasks:write": "Create, change and complete your tasks",
    "gamification:read": "See your wallet, badges and ratings",
    "gamification:write": "Spend and transfer your currencies",
    "challenges:read": "See your challenges",
    "challenges:write": "Accept and complete challenges",
    "notifications:read": "See your notifications",
    "notifications:write": "Manage your notifications and devices",
    "integrations:read": "See your connected services",
    "integrations:write": "Connect and disconnect services",
    "analytics:read": "See your analytics",
    "admin": "Administer Deepiri (operators only)",
    # What gamification-service asks of operators and services (its admin routes; match
    # results, which only a service's own token may record).
    "gamification:admin": "Rebuild leaderboards and reconcile wallets (operators only)",
    "ratings:write": "Record match results (services only)",
    # ai-service: challenge generation and task understanding, for other services' own
    # tokens (no person-facing client lists it; ai-service also refuses a person's token).
    "agent:invoke": "Ask ai-service for challenges and task breakdowns (services only)",
}
# Scope → the role a person needs to be granted it (a client may still hold it for its own
# client-credentials tokens).
ROLE_SCOPES = {"admin": "admin", "gamification:admin": "admin"}


class InvalidClient(Invalid):
    """Client metadata that breaks a rule (registration, seeding)."""


def secret_digest(secret: str) -> str:
    """Client secrets are random and long: SHA-256 is enough to keep them unusable at rest."""
    return hashlib.sha256(secret.encode()).hexdigest()


def scope_list(scope: str | None) -> list[str]:
    return [s for s in (scope or "").split() if s]


@dataclass(frozen=True)
class Client:
    client_id: str
    name: str
    redirect_uris: tuple[str, ...] = ()
    grant_types: tuple[str, ...] = (AUTHORIZATION_CODE, REFRESH_TOKEN)
    scope: str = "openid profile email offline_access"
    secret_digest: str | None = None  # None: a public client (PKCE is its proof)
    first_party: bool = False  # Deepiri's own apps skip the consent page
    post_logout_redirect_uris: tuple[str, ...] = field(default=())

    @property
    def public(self) -> bool:
        return self.secret_digest is None

    @property
    def auth_method(self) -> str:
        return "none" if self.public else "client_secret_basic"

    def redirect_ok(self, uri: str) -> bool:
        """Exact string match (RFC 9700 §2.1): no prefixes, no wildcards, no normalising."""
        return uri in self.redirect_uris

    def secret_ok(self, secret: str) -> bool:
        if self.secret_digest is None:
            return False
        return hmac.compare_digest(secret_digest(secret), self.secret_digest)

    def allowed_scope(self, requested: str | None) -> str:
        """The requested scopes this client may ask for (all of its own when none asked)."""
        own = scope_list(self.scope)
        if not requested:
            return " ".join(own)
        return " ".join(s for s in scope_list(requested) if s in own)


def check_client(client: Client) -> Client:
    for uri in client.redirect_uris:
        if "#" in uri or not (
            uri.startswith("https://")
            or uri.startswith("http://127.0.0.1")
            or uri.startswith("http://localhost")
            or (":/" in uri and not uri.startswith("http:"))  # app-claimed schemes (RFC 8252)
        ):
            raise InvalidClient(f"redirect URI {uri!r} must be https, loopback or an app scheme")
    unknown = set(client.grant_types) - set(GRANT_TYPES)
    if unknown:
        raise InvalidClient(f"unsupported grant types: {sorted(unknown)}")
    if CLIENT_CREDENTIALS in client.grant_types and client.public:
        raise InvalidClient("client_credentials needs a confidential client")
    if AUTHORIZATION_CODE in client.grant_types and not client.redirect_uris:
        raise InvalidClient("authorization_code needs at least one redirect URI")
    undefined = set(scope_list(client.scope)) - set(SCOPES)
    if undefined:
        raise InvalidClient(f"unknown scopes: {sorted(undefined)}")
    return client


def grantable(scope: str, roles: tuple[str, ...]) -> str:
    """The scopes a person may grant: role-bound scopes only with that role."""
    bound = {s for s, role in ROLE_SCOPES.items() if role not in roles}
    return " ".join(s for s in scope_list(scope) if s not in bound)


def consent_covers(remembered: set[str], requested: str) -> bool:
    return set(scope_list(requested)) <= remembered


def consent_key(client_id: str, user_id: str) -> str:
    return f"{user_id}:{client_id}"
