"""The OAuth 2.0 / OpenID Connect provider: Authlib's authorization server, grants and
endpoints, given our storage and our decisions. Protocol mechanics are Authlib's; this
module answers the questions Authlib asks (who is this client, is this code spent, where do
tokens go) and adds the policies Authlib leaves open: PKCE S256 for every client, codes and
refresh tokens spent by a unique insert, reuse revoking the whole grant family.

Authlib's server is synchronous. Each protocol request runs in a worker thread
(``anyio.to_thread``); the callbacks below hop back to the event loop for MongoDB with
``anyio.from_thread.run``, so storage stays the service's async client.
"""

from __future__ import annotations

import hmac
import logging
import os
import time
import uuid
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import parse_qs

import anyio
import anyio.from_thread
from authlib.oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import (
    AuthorizationCodeMixin,
    ClientMixin,
    JsonPayload,
    JsonRequest,
    OAuth2Error,
    OAuth2Payload,
    OAuth2Request,
    TokenMixin,
    grants,
)
from authlib.oauth2.rfc6749.errors import (
    InvalidGrantError,
    InvalidRequestError,
    UnauthorizedClientError,
)
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7591 import ClientRegistrationEndpoint, InvalidClientMetadataError
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from authlib.oauth2.rfc8628 import DeviceAuthorizationEndpoint, DeviceCodeGrant
from authlib.oauth2.rfc9068 import JWTBearerTokenGenerator
from authlib.oidc.core import OpenIDCode

from deepiri_kit import LocalKeys, TokenVerifier, Unauthorized, utcnow
from user_service.domain import onetime
from user_service.domain.accounts import Account
from user_service.domain.oauth import (
    AUTHORIZATION_CODE,
    CLIENT_CREDENTIALS,
    DEVICE_CODE,
    REFRESH_TOKEN,
    SCOPES,
    Client,
    InvalidClient,
    check_client,
    grantable,
    scope_list,
    secret_digest,
)
from user_service.service.keys import ALG, KeyRing
from user_service.store.accounts import AccountStore
from user_service.store.oauth import OAuthStore

T = TypeVar("T")
log = logging.getLogger("user_service.provider")
# Authlib logs issued tokens and codes at DEBUG ("Issue token %r to %r"): never let them
# through, whatever LOG_LEVEL says.
logging.getLogger("authlib").setLevel(logging.WARNING)
CODE_LIFETIME = timedelta(minutes=1)
DEVICE_LIFETIME = timedelta(minutes=10)
DEVICE_INTERVAL = 5  # seconds between polls (RFC 8628 §3.2); faster gets slow_down
ID_TOKEN_SECONDS = 600


def _wait(fn: Callable[..., Coroutine[Any, Any, T]], *args: Any) -> T:
    """From Authlib's worker thread: run ``fn`` on the event loop and wait for it."""
    return anyio.from_thread.run(fn, *args)


# --- the HTTP request as Authlib sees it ------------------------------------------------


class FormPayload(OAuth2Payload):  # type: ignore[misc]
    def __init__(self, values: Mapping[str, list[str]]) -> None:
        self._datalist = dict(values)
        self._data = {k: v[0] for k, v in values.items() if v}

    @property
    def data(self) -> dict[str, str]:
        return self._data

    @property
    def datalist(self) -> dict[str, list[str]]:
        return self._datalist


class ProtocolRequest(OAuth2Request):  # type: ignore[misc]
    """An HTTP request, read completely before it is handed to Authlib's thread."""

    def __init__(
        self,
        method: str,
        uri: str,
        headers: Mapping[str, str],
        query: str = "",
        form: Mapping[str, list[str]] | None = None,
    ) -> None:
        # ``headers`` must look names up case-insensitively (Litestar's Headers do).
        super().__init__(method, uri, headers=headers)
        self._args = parse_qs(query, keep_blank_values=True)
        self._form = dict(form or {})
        merged = {**self._args, **self._form}
        self.payload = FormPayload(merged)

    @property
    def args(self) -> dict[str, str]:
        return {k: v[0] for k, v in self._args.items() if v}

    @property
    def form(self) -> dict[str, str]:
        return {k: v[0] for k, v in self._form.items() if v}


class JsonBody(JsonPayload):  # type: ignore[misc]
    def __init__(self, data: Mapping[str, Any]) -> None:
        self._data = dict(data)

    @property
    def data(self) -> dict[str, Any]:
        return self._data


class JsonProtocolRequest(JsonRequest):  # type: ignore[misc]
    """A JSON request (client registration), read completely like :class:`ProtocolRequest`."""

    def __init__(self, method: str, uri: str, headers: Mapping[str, str], body: Any) -> None:
        super().__init__(method, uri, headers)
        self.payload = JsonBody(body if isinstance(body, dict) else {})


Reply = tuple[int, Any, list[tuple[str, str]]]


# --- what Authlib asks about -------------------------------------------------------------


@dataclass
class Person:
    """The resource owner: the account, when they typed their password, and the grant family
    their tokens belong to (the access token's ``sid``)."""

    account: Account
    auth_time: int | None = None
    family: str | None = None

    def get_user_id(self) -> str:
        return self.account.id


class ClientModel(ClientMixin):  # type: ignore[misc]
    def __init__(self, client: Client) -> None:
        self.client = client
        self.client_id = client.client_id

    def get_client_id(self) -> str:
        return self.client.client_id

    def get_default_redirect_uri(self) -> str | None:
        # Only when there is exactly one: otherwise the request must say which.
        uris = self.client.redirect_uris
        return uris[0] if len(uris) == 1 else None

    def get_allowed_scope(self, scope: str | None) -> str:
        return self.client.allowed_scope(scope)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return self.client.redirect_ok(redirect_uri)

    def check_client_secret(self, client_secret: str) -> bool:
        return self.client.secret_ok(client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        if self.client.public:
            return method == "none"
        return method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code" and AUTHORIZATION_CODE in self.client.grant_types

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.client.grant_types


@dataclass
class CodeModel(AuthorizationCodeMixin):  # type: ignore[misc]
    digest: str
    client_id: str
    redirect_uri: str
    scope: str
    user_id: str
    family: str
    code_challenge: str
    code_challenge_method: str
    nonce: str | None
    auth_time: int | None

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int | None:
        return self.auth_time

    def get_acr(self) -> None:
        return None

    def get_amr(self) -> list[str]:
        return ["pwd"]


@dataclass
class RefreshModel(TokenMixin):  # type: ignore[misc]
    digest: str
    client_id: str
    user_id: str
    scope: str
    family: str
    expires_at: datetime
    auth_time: int | None

    def check_client(self, client: ClientModel) -> bool:
        return bool(client.get_client_id() == self.client_id)

    def get_scope(self) -> str:
        return self.scope

    def get_expires_in(self) -> int:
        return max(0, int((self.expires_at - utcnow()).total_seconds()))

    def is_expired(self) -> bool:
        return onetime.expired(self.expires_at, utcnow())

    def is_revoked(self) -> bool:
        return False  # a revoked family is never loaded


@dataclass
class AccessModel(TokenMixin):  # type: ignore[misc]
    """A verified access token (for introspection and revocation)."""

    claims: dict[str, Any]
    revoked: bool

    def check_client(self, client: ClientModel) -> bool:
        return bool(client.get_client_id() == self.claims.get("client_id"))

    def get_scope(self) -> str:
        return str(self.claims.get("scope", ""))

    def get_expires_in(self) -> int:
        return max(0, int(self.claims["exp"]) - int(time.time()))

    def is_expired(self) -> bool:
        return int(self.claims["exp"]) <= int(time.time())

    def is_revoked(self) -> bool:
        return self.revoked


# --- grants ------------------------------------------------------------------------------


class CodeGrant(grants.AuthorizationCodeGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]

    @property
    def provider(self) -> Provider:
        return self.server.provider  # type: ignore[no-any-return]

    def save_authorization_code(self, code: str, request: OAuth2Request) -> None:
        person: Person = request.user
        client: ClientModel = request.client
        scope = grantable(client.get_allowed_scope(request.payload.scope), person.account.roles)
        data = request.payload.data
        _wait(
            self.provider.store.save,
            "codes",
            onetime.digest(code),
            {
                "client_id": client.get_client_id(),
                "redirect_uri": request.payload.redirect_uri or client.get_default_redirect_uri(),
                "scope": scope,
                "user_id": person.account.id,
                "family": uuid.uuid4().hex,
                "code_challenge": data.get("code_challenge"),
                "code_challenge_method": data.get("code_challenge_method", "S256"),
                "nonce": data.get("nonce"),
                "auth_time": person.auth_time,
                "expires_at": utcnow() + CODE_LIFETIME,
            },
        )

    def query_authorization_code(self, code: str, client: ClientModel) -> CodeModel | None:
        return _wait(self.provider.code, onetime.digest(code), client.get_client_id())

    def delete_authorization_code(self, authorization_code: CodeModel) -> None:
        # The code is spent here, after the tokens were made: of two racing exchanges one
        # wins; the other finds it spent, and everything issued from the code is revoked.
        if not _wait(self.provider.spend_code, authorization_code):
            raise InvalidGrantError("the authorization code was already used")

    def authenticate_user(self, authorization_code: CodeModel) -> Person | None:
        return _wait(
            self.provider.person,
            authorization_code.user_id,
            authorization_code.auth_time,
            authorization_code.family,
        )


class RefreshGrant(grants.RefreshTokenGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]
    INCLUDE_NEW_REFRESH_TOKEN = True  # rotated on every use

    @property
    def provider(self) -> Provider:
        return self.server.provider  # type: ignore[no-any-return]

    def authenticate_refresh_token(self, refresh_token: str) -> RefreshModel | None:
        return _wait(self.provider.refresh_token, onetime.digest(refresh_token))

    def authenticate_user(self, refresh_token: RefreshModel) -> Person | None:
        return _wait(
            self.provider.person,
            refresh_token.user_id,
            refresh_token.auth_time,
            refresh_token.family,
        )

    def revoke_old_credential(self, refresh_token: RefreshModel) -> None:
        if not _wait(self.provider.spend_refresh, refresh_token):
            raise InvalidGrantError("the refresh token was already used")


class ClientCredentialsGrant(grants.ClientCredentialsGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]


@dataclass
class DeviceModel:
    """A device authorization (RFC 8628): pending until the person approves or denies it."""

    digest: str
    client_id: str
    scope: str
    user_code: str
    expires_at: datetime
    status: str  # pending, approved, denied
    user_id: str | None
    auth_time: int | None
    family: str
    last_poll: float | None

    def get_client_id(self) -> str:
        return self.client_id

    def get_scope(self) -> str:
        return self.scope

    def get_user_code(self) -> str:
        return self.user_code

    def is_expired(self) -> bool:
        return onetime.expired(self.expires_at, utcnow())


class DeviceAuthorization(DeviceAuthorizationEndpoint):  # type: ignore[misc]
    CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]
    EXPIRES_IN = int(DEVICE_LIFETIME.total_seconds())
    INTERVAL = DEVICE_INTERVAL

    def authenticate_client(self, request: OAuth2Request) -> ClientModel:
        client: ClientModel = super().authenticate_client(request)
        if not client.check_grant_type(DEVICE_CODE):
            raise UnauthorizedClientError("this client may not use the device grant")
        return client

    def get_verification_uri(self) -> str:
        return f"{self.server.provider.issuer}/device"

    def save_device_credential(
        self, client_id: str, scope: str | None, data: dict[str, Any]
    ) -> None:
        _wait(self.server.provider.save_device, client_id, scope or "", data)


class DeviceGrant(DeviceCodeGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]

    @property
    def provider(self) -> Provider:
        return self.server.provider  # type: ignore[no-any-return]

    def query_device_credential(self, device_code: str) -> DeviceModel | None:
        return _wait(self.provider.device, onetime.digest(device_code))

    def query_user_grant(self, user_code: str) -> tuple[Person, bool] | None:
        credential: DeviceModel = self._credential
        if credential.status == "pending":
            return None
        if credential.status != "approved" or credential.user_id is None:
            return None, False  # type: ignore[return-value]
        person = _wait(
            self.provider.person, credential.user_id, credential.auth_time, credential.family
        )
        return (person, True) if person is not None else (None, False)  # type: ignore[return-value]

    def should_slow_down(self, credential: DeviceModel) -> bool:
        return _wait(self.provider.polled, credential)

    def validate_device_credential(self, credential: DeviceModel) -> Any:
        self._credential = credential
        return super().validate_device_credential(credential)

    def create_token_response(self) -> Reply:
        reply: Reply = super().create_token_response()
        # One device code, one set of tokens: spent after they were made, like a code.
        if not _wait(self.provider.spend_device, self.request.credential):
            raise InvalidGrantError("the device code was already used")
        return reply


class PKCE(CodeChallenge):  # type: ignore[misc]
    """RFC 7636 as RFC 9700 wants it: every client, S256 only."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]
    DEFAULT_CODE_CHALLENGE_METHOD = "S256"

    def validate_code_challenge(self, grant: CodeGrant, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError("PKCE is required: send code_challenge (S256)")
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("code_challenge_method must be S256")
        super().validate_code_challenge(grant, redirect_uri)


class IdToken(OpenIDCode):  # type: ignore[misc]
    def __init__(self, provider: Provider) -> None:
        super().__init__(require_nonce=False)
        self.provider = provider

    def exists_nonce(self, nonce: str, request: OAuth2Request) -> bool:
        return False  # the nonce is echoed in the ID token; the client checks it

    def resolve_client_private_key(self, client: ClientModel) -> Any:
        return self.provider.keys.signing_set()

    def get_client_algorithm(self, client: ClientModel) -> str:
        return ALG

    def get_client_claims(self, client: ClientModel) -> dict[str, Any]:
        now = int(time.time())
        return {
            "iss": self.provider.issuer,
            "aud": [client.get_client_id()],
            "iat": now,
            "exp": now + ID_TOKEN_SECONDS,
        }

    def generate_user_info(self, user: Person, scope: str) -> dict[str, Any]:
        return user_info(user.account, scope)


class AccessTokens(JWTBearerTokenGenerator):  # type: ignore[misc]
    """RFC 9068 access tokens: ``typ: at+jwt``, iss aud sub client_id iat exp jti scope,
    plus ``sid`` (the grant family, so revoking it is visible to introspection) and the
    account's roles."""

    def __init__(self, provider: Provider, lifetimes: Mapping[str, int]) -> None:
        super().__init__(
            issuer=provider.issuer,
            alg=ALG,
            refresh_token_generator=lambda **_: onetime.new_secret(),
            expires_generator=lambda _client, grant_type: lifetimes.get(
                grant_type, lifetimes["default"]
            ),
        )
        self.provider = provider

    def get_jwks(self) -> Any:
        return self.provider.keys.signing_set()

    def get_audiences(self, client: ClientModel, user: Person | None, scope: str) -> str:
        return self.provider.audience

    def get_auth_time(self, user: Person | None) -> int | None:
        return None if user is None else user.auth_time

    def get_extra_claims(
        self, client: ClientModel, grant_type: str, user: Person | None, scope: str
    ) -> dict[str, Any]:
        if user is None:
            return {}
        claims: dict[str, Any] = {"sid": user.family}
        if user.account.roles:
            claims["roles"] = list(user.account.roles)
        return claims


class Revocation(RevocationEndpoint):  # type: ignore[misc]
    CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]

    def query_token(self, token_string: str, token_type_hint: str | None) -> Any:
        return _wait(self.server.provider.find_token, token_string, token_type_hint)

    def revoke_token(self, token: RefreshModel | AccessModel, request: OAuth2Request) -> None:
        _wait(self.server.provider.revoke_token, token)


class Introspection(IntrospectionEndpoint):  # type: ignore[misc]
    # Introspection is for resource servers: confidential clients only.
    CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

    def query_token(self, token_string: str, token_type_hint: str | None) -> Any:
        return _wait(self.server.provider.find_token, token_string, token_type_hint)

    def check_permission(self, token: Any, client: ClientModel, request: OAuth2Request) -> bool:
        return True  # any authenticated confidential client may ask

    def introspect_token(self, token: RefreshModel | AccessModel) -> dict[str, Any]:
        return self.server.provider.describe(token)  # type: ignore[no-any-return]


class Registration(ClientRegistrationEndpoint):  # type: ignore[misc]
    """RFC 7591, for operators: the caller presents an access token with the ``admin`` scope
    (only accounts with the admin role can be granted it) or the initial access token from
    the ``REGISTRATION_TOKEN`` Secret. Secrets are returned once and stored hashed."""

    def get_server_metadata(self) -> dict[str, Any]:
        return metadata(self.server.provider.issuer)

    def authenticate_token(self, request: JsonProtocolRequest) -> Any:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        return _wait(self.server.provider.registration_allowed, token.strip())

    def generate_client_secret(self, request: JsonProtocolRequest) -> str | None:
        if request.payload.data.get("token_endpoint_auth_method") == "none":
            return None  # a public client: PKCE is its proof
        return onetime.new_secret()

    def save_client(
        self, client_info: dict[str, Any], client_metadata: dict[str, Any], request: Any
    ) -> ClientModel:
        secret = client_info.get("client_secret")
        try:
            client = check_client(
                Client(
                    client_id=client_info["client_id"],
                    name=str(client_metadata.get("client_name") or client_info["client_id"]),
                    redirect_uris=tuple(client_metadata.get("redirect_uris") or ()),
                    grant_types=tuple(
                        client_metadata.get("grant_types") or (AUTHORIZATION_CODE, REFRESH_TOKEN)
                    ),
                    scope=str(client_metadata.get("scope") or "openid profile email"),
                    secret_digest=secret_digest(secret) if secret else None,
                )
            )
        except InvalidClient as exc:
            raise InvalidClientMetadataError(str(exc)) from None
        _wait(self.server.provider.store.add_client, client)
        return ClientModel(client)


class Server(AuthorizationServer):  # type: ignore[misc]
    def __init__(self, provider: Provider) -> None:
        super().__init__(scopes_supported=list(SCOPES))
        self.provider = provider

    def query_client(self, client_id: str) -> ClientModel | None:
        client = _wait(self.provider.store.client, client_id)
        return None if client is None else ClientModel(client)

    def save_token(self, token: dict[str, Any], request: OAuth2Request) -> None:
        _wait(self.provider.save_token, token, request)

    def create_oauth2_request(self, request: ProtocolRequest) -> ProtocolRequest:
        return request

    def create_json_request(self, request: ProtocolRequest) -> ProtocolRequest:
        return request

    def handle_response(self, status: int, body: Any, headers: Any) -> Reply:
        return status, body, list(headers or [])

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        pass


def metadata(issuer: str) -> dict[str, Any]:
    """RFC 8414 / OpenID Connect Discovery 1.0."""
    return {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/oauth/authorize",
        "token_endpoint": f"{issuer}/oauth/token",
        "jwks_uri": f"{issuer}/oauth/jwks",
        "userinfo_endpoint": f"{issuer}/oauth/userinfo",
        "revocation_endpoint": f"{issuer}/oauth/revoke",
        "introspection_endpoint": f"{issuer}/oauth/introspect",
        "device_authorization_endpoint": f"{issuer}/oauth/device_authorization",
        "registration_endpoint": f"{issuer}/oauth/register",
        "scopes_supported": list(SCOPES),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": [
            AUTHORIZATION_CODE,
            REFRESH_TOKEN,
            CLIENT_CREDENTIALS,
            DEVICE_CODE,
        ],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": [
            "client_secret_basic",
            "client_secret_post",
            "none",
        ],
        "revocation_endpoint_auth_methods_supported": [
            "client_secret_basic",
            "client_secret_post",
            "none",
        ],
        "introspection_endpoint_auth_methods_supported": [
            "client_secret_basic",
            "client_secret_post",
        ],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": [ALG],
        "claims_supported": [
            "sub",
            "iss",
            "aud",
            "exp",
            "iat",
            "auth_time",
            "nonce",
            "name",
            "email",
            "email_verified",
            "zoneinfo",
            "locale",
            "picture",
            "roles",
        ],
    }


def user_info(account: Account, scope: str) -> dict[str, Any]:
    """OIDC claims for ``scope`` (``sub`` always)."""
    scopes = set(scope_list(scope))
    claims: dict[str, Any] = {"sub": account.id}
    if "profile" in scopes:
        claims.update(
            name=account.display_name,
            zoneinfo=account.time_zone,
            locale=account.locale,
        )
        if account.avatar_url:
            claims["picture"] = account.avatar_url
        # Relying parties map roles to their own (Grafana: admin → Admin, else Viewer).
        claims["roles"] = sorted(account.roles)
    if "email" in scopes:
        claims.update(email=account.email, email_verified=account.email_verified)
    return claims


# --- the provider ------------------------------------------------------------------------


class Provider:
    def __init__(
        self,
        *,
        store: OAuthStore,
        accounts: AccountStore,
        keys: KeyRing,
        issuer: str,
        audience: str,
        access_seconds: int,
        refresh_lifetime: timedelta,
        insecure_transport: bool,
        registration_token: str = "",
    ) -> None:
        if insecure_transport:
            log.warning("the issuer %s is not https: tokens travel in the clear", issuer)
            os.environ["AUTHLIB_INSECURE_TRANSPORT"] = "1"
        self.store = store
        self.accounts = accounts
        self.keys = keys
        self.issuer = issuer
        self.audience = audience
        # Tokens presented to us are checked by the kit's verifier, against our own keys.
        self.own_keys = LocalKeys(keys.jwks)
        self.tokens = TokenVerifier(
            self.own_keys, issuer=issuer, audience=audience, algorithms=[ALG]
        )
        self.refresh_lifetime = refresh_lifetime
        self.access_seconds = access_seconds
        self.registration_token = registration_token
        self.server = Server(self)
        self.server.register_token_generator(
            "default", AccessTokens(self, {"default": access_seconds})
        )
        self.server.register_grant(CodeGrant, [PKCE(required=True), IdToken(self)])
        self.server.register_grant(RefreshGrant)
        self.server.register_grant(ClientCredentialsGrant)
        self.server.register_grant(DeviceGrant, [IdToken(self)])
        self.server.register_endpoint(DeviceAuthorization)
        self.server.register_endpoint(Revocation)
        self.server.register_endpoint(Introspection)
        self.server.register_endpoint(Registration)

    # --- running Authlib -----------------------------------------------------------------

    async def run(self, fn: Callable[[], Reply]) -> Reply:
        return await anyio.to_thread.run_sync(fn)

    async def token(self, request: ProtocolRequest) -> Reply:
        return await self.run(lambda: self.server.create_token_response(request))

    async def endpoint(self, name: str, request: ProtocolRequest | JsonProtocolRequest) -> Reply:
        return await self.run(lambda: self.server.create_endpoint_response(name, request))

    async def consent_grant(
        self, request: ProtocolRequest, person: Person | None
    ) -> tuple[Any, Reply | None]:
        """Validate an authorization request: (the grant, None), or (None, the error reply —
        a redirect to the client only when its redirect URI was validated)."""

        def validate() -> tuple[Any, Reply | None]:
            try:
                return self.server.get_consent_grant(request, end_user=person), None
            except OAuth2Error as error:
                return None, self.server.handle_error_response(request, error)

        return await anyio.to_thread.run_sync(validate)

    async def authorize(self, request: ProtocolRequest, grant: Any, person: Person | None) -> Reply:
        """Issue the code (``person``) or the access_denied redirect (None)."""
        return await self.run(
            lambda: self.server.create_authorization_response(
                request, grant_user=person, grant=grant
            )
        )

    # --- the callbacks' async halves -----------------------------------------------------

    async def person(self, user_id: str, auth_time: int | None, family: str) -> Person | None:
        account = await self.accounts.get(user_id)
        if account is None or account.deleted:
            return None
        return Person(account, auth_time, family)

    async def code(self, digest: str, client_id: str) -> CodeModel | None:
        doc = await self.store.find("codes", digest)
        if doc is None or doc["client_id"] != client_id:
            return None
        if await self.store.spent("codes_used", digest):
            await self.revoke_family(doc["family"])  # a replayed code: its tokens die
            return None
        if onetime.expired(doc["expires_at"], utcnow()):
            return None
        return CodeModel(
            digest=digest,
            client_id=doc["client_id"],
            redirect_uri=doc["redirect_uri"],
            scope=doc["scope"],
            user_id=doc["user_id"],
            family=doc["family"],
            code_challenge=doc["code_challenge"],
            code_challenge_method=doc["code_challenge_method"],
            nonce=doc.get("nonce"),
            auth_time=doc.get("auth_time"),
        )

    async def spend_code(self, code: CodeModel) -> bool:
        if await self.store.spend("codes_used", code.digest, utcnow()):
            return True
        await self.revoke_family(code.family)
        return False

    async def refresh_token(self, digest: str) -> RefreshModel | None:
        doc = await self.store.find("refresh", digest)
        if doc is None:
            return None
        if await self.store.spent("refresh_used", digest):
            await self.revoke_family(doc["family"])  # a rotated token came back: theft
            return None
        if await self.store.revoked_any(f"family:{doc['family']}"):
            return None
        model = RefreshModel(
            digest=digest,
            client_id=doc["client_id"],
            user_id=doc["user_id"],
            scope=doc["scope"],
            family=doc["family"],
            expires_at=doc["expires_at"],
            auth_time=doc.get("auth_time"),
        )
        return None if model.is_expired() else model

    async def spend_refresh(self, token: RefreshModel) -> bool:
        if await self.store.spend("refresh_used", token.digest, utcnow()):
            return True
        await self.revoke_family(token.family)
        return False

    async def registration_allowed(self, token: str) -> bool:
        if self.registration_token and hmac.compare_digest(
            token.encode(), self.registration_token.encode()
        ):
            return True
        claims = await self.verify_access(token)
        return (
            claims is not None
            and "admin" in scope_list(claims.get("scope"))
            and not await self.access_revoked(claims)
        )

    async def save_device(self, client_id: str, scope: str, data: Mapping[str, Any]) -> None:
        digest = onetime.digest(data["device_code"])
        await self.store.save(
            "devices",
            digest,
            {
                "client_id": client_id,
                "scope": scope,
                "user_code": data["user_code"],
                "expires_at": utcnow() + DEVICE_LIFETIME,
                "status": "pending",
                "user_id": None,
                "family": uuid.uuid4().hex,
            },
        )
        # The code a person types, claimed uniquely; it leads to the device code's digest.
        await self.store.save("user_codes", data["user_code"], {"device": digest})

    async def device(self, digest: str) -> DeviceModel | None:
        doc = await self.store.find("devices", digest)
        if doc is None:
            return None
        if await self.store.spent("devices_used", digest):
            await self.revoke_family(doc["family"])
            return None
        return DeviceModel(
            digest=digest,
            client_id=doc["client_id"],
            scope=doc["scope"],
            user_code=doc["user_code"],
            expires_at=doc["expires_at"],
            status=doc["status"],
            user_id=doc.get("user_id"),
            auth_time=doc.get("auth_time"),
            family=doc["family"],
            last_poll=doc.get("last_poll"),
        )

    async def device_by_user_code(self, user_code: str) -> DeviceModel | None:
        claim = await self.store.find("user_codes", user_code.strip().upper())
        if claim is None:
            return None
        device = await self.device(claim["device"])
        return None if device is None or device.is_expired() else device

    async def decide_device(self, device: DeviceModel, person: Person, approve: bool) -> None:
        client = await self.store.client(device.client_id)
        scope = (
            ""
            if client is None
            else grantable(client.allowed_scope(device.scope), person.account.roles)
        )
        await self.store.update(
            "devices",
            device.digest,
            {
                "status": "approved" if approve else "denied",
                "user_id": person.account.id,
                "auth_time": person.auth_time,
                "scope": scope,
            },
        )

    async def polled(self, device: DeviceModel) -> bool:
        """Whether this poll came sooner than the interval allows (then: slow_down)."""
        now = time.time()
        await self.store.update("devices", device.digest, {"last_poll": now})
        return device.last_poll is not None and now - device.last_poll < DEVICE_INTERVAL

    async def spend_device(self, device: DeviceModel) -> bool:
        if await self.store.spend("devices_used", device.digest, utcnow()):
            return True
        await self.revoke_family(device.family)
        return False

    async def save_token(self, token: dict[str, Any], request: OAuth2Request) -> None:
        refresh = token.get("refresh_token")
        person: Person | None = request.user
        if not refresh or person is None:
            return
        await self.store.save(
            "refresh",
            onetime.digest(refresh),
            {
                "client_id": request.client.get_client_id(),
                "user_id": person.account.id,
                "scope": token.get("scope", ""),
                "family": person.family,
                "auth_time": person.auth_time,
                "expires_at": utcnow() + self.refresh_lifetime,
            },
        )

    async def revoke_family(self, family: str) -> None:
        await self.store.revoke(f"family:{family}", utcnow() + self.refresh_lifetime)

    async def revoke_user(self, user_id: str) -> None:
        """Every grant of the account (after a password reset or deletion)."""
        families = {doc["family"] async for doc in self.store.refresh.find({"user_id": user_id})}
        for family in families:
            await self.revoke_family(family)
        await self.store.forget_user(user_id)

    # --- tokens presented to us ----------------------------------------------------------

    async def verify_access(self, token: str) -> dict[str, Any] | None:
        """The claims of an access token we issued and that is unexpired, else None."""
        try:
            return dict((await self.tokens.verify(token)).claims)
        except Unauthorized:
            return None

    async def access_revoked(self, claims: Mapping[str, Any]) -> bool:
        keys = [f"jti:{claims.get('jti')}"]
        if claims.get("sid"):
            keys.append(f"family:{claims['sid']}")
        return await self.store.revoked_any(*keys)

    async def find_token(self, value: str, hint: str | None) -> RefreshModel | AccessModel | None:
        if hint != "refresh_token":
            claims = await self.verify_access(value)
            if claims is not None:
                return AccessModel(claims, await self.access_revoked(claims))
        digest = onetime.digest(value)
        doc = await self.store.find("refresh", digest)
        if doc is None or await self.store.spent("refresh_used", digest):
            return None
        if await self.store.revoked_any(f"family:{doc['family']}"):
            return None
        return RefreshModel(
            digest=digest,
            client_id=doc["client_id"],
            user_id=doc["user_id"],
            scope=doc["scope"],
            family=doc["family"],
            expires_at=doc["expires_at"],
            auth_time=doc.get("auth_time"),
        )

    async def revoke_token(self, token: RefreshModel | AccessModel) -> None:
        if isinstance(token, RefreshModel):
            # RFC 7009 §2.1: revoking a refresh token revokes its grant, access tokens too.
            await self.revoke_family(token.family)
        else:
            until = utcnow() + timedelta(seconds=max(0, token.get_expires_in()) + 60)
            await self.store.revoke(f"jti:{token.claims['jti']}", until)

    def describe(self, token: RefreshModel | AccessModel) -> dict[str, Any]:
        if isinstance(token, AccessModel):
            keep = ("scope", "client_id", "sub", "aud", "iss", "exp", "iat", "jti", "sid")
            return {
                "active": True,
                "token_type": "Bearer",
                **{k: token.claims[k] for k in keep if k in token.claims},
            }
        return {
            "active": True,
            "token_type": "refresh_token",
            "scope": token.scope,
            "client_id": token.client_id,
            "sub": token.user_id,
            "exp": int(token.expires_at.timestamp()),
            "iss": self.issuer,
        }


__all__ = [
    "CLIENT_CREDENTIALS",
    "REFRESH_TOKEN",
    "JsonProtocolRequest",
    "Person",
    "ProtocolRequest",
    "Provider",
    "Reply",
    "metadata",
    "user_info",
]
