"""The provider's HTTP face: discovery, JWKS, the authorization endpoint with its consent
page, token, revocation, introspection and userinfo. Handlers read the request completely,
hand it to Authlib (service/provider.py) and turn its answer into a response."""

from __future__ import annotations

import contextlib
from typing import Annotated, Any
from urllib.parse import parse_qs, quote

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import QueryParameter

from deepiri_kit import Forbidden, InsufficientScope, invalid_token, utcnow
from user_service.api.web import SESSION_COOKIE, Web
from user_service.domain.oauth import SCOPES, consent_covers, consent_key, grantable, scope_list
from user_service.service.accounts import AccountGone, AccountService
from user_service.service.provider import (
    JsonProtocolRequest,
    Person,
    ProtocolRequest,
    Provider,
    Reply,
    metadata,
    user_info,
)
from user_service.service.sessions import Sessions

ProviderDep = NamedDependency[Provider]
Accounts = NamedDependency[AccountService]
SessionsDep = NamedDependency[Sessions]
WebDep = NamedDependency[Web]
Req = Request[Any, Any, Any]
PUBLIC = {"public": True}
OPEN = {"public": True, "open_query": True}
FORM = "application/x-www-form-urlencoded"
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


async def read(request: Req, provider: Provider) -> ProtocolRequest:
    """The whole request, parsed, for Authlib's thread. Form bodies only (RFC 6749)."""
    form: dict[str, list[str]] = {}
    if request.method == "POST":
        if not request.headers.get("content-type", "").startswith(FORM):
            raise _oauth_error("invalid_request", f"the body must be {FORM}")
        try:
            form = parse_qs((await request.body()).decode(), keep_blank_values=True)
        except UnicodeDecodeError:
            raise _oauth_error("invalid_request", "the body is not UTF-8") from None
    query = request.scope.get("query_string", b"").decode("latin-1")
    uri = provider.issuer + request.url.path.removeprefix("/api/users")
    return ProtocolRequest(
        request.method,
        uri + (f"?{query}" if query else ""),
        request.headers,
        query=query,
        form=form,
    )


class OAuthError(Exception):
    def __init__(self, reply: Reply) -> None:
        self.reply = reply


def _oauth_error(error: str, description: str) -> OAuthError:
    return OAuthError((400, {"error": error, "error_description": description}, []))


def respond(reply: Reply) -> Response[Any]:
    status, body, headers = reply
    header_map = {**NO_STORE, **dict(headers)}
    if isinstance(body, dict):
        return Response(
            msgspec.json.encode(body),
            status_code=status,
            media_type="application/json",
            headers=header_map,
        )
    return Response(body or b"", status_code=status, headers=header_map)


class OAuthController(Controller):
    path = "/oauth"
    tags = ["oauth"]

    @get("/jwks", opt=PUBLIC, security=[])
    async def jwks(self, provider: ProviderDep) -> Response[dict[str, Any]]:
        """The signing keys (RFC 7517): the one signing now, the next one before it signs,
        and retired ones until the tokens they signed have expired."""
        return Response(provider.keys.jwks(), headers={"Cache-Control": "public, max-age=300"})

    @get("/authorize", opt=OPEN, include_in_schema=False)
    async def authorize(
        self,
        request: Req,
        provider: ProviderDep,
        sessions: SessionsDep,
        accounts: Accounts,
        web: WebDep,
    ) -> Response[Any]:
        try:
            preq = await read(request, provider)
        except OAuthError as error:
            return respond(error.reply)
        person = await _person(request, sessions, accounts)
        grant, refused = await provider.consent_grant(preq, person)
        if refused is not None:
            return _error_page(request, web, refused)
        if person is None:
            query = request.scope.get("query_string", b"").decode("latin-1")
            back = f"{web.prefix}/oauth/authorize?{query}"
            return web.redirect(f"{web.prefix}/login?next={quote(back, safe='')}")
        client = grant.client
        scope = grantable(client.get_allowed_scope(preq.payload.scope), person.account.roles)
        prompt = scope_list(preq.payload.data.get("prompt"))
        remembered = await provider.store.consent(consent_key(client.client_id, person.account.id))
        if "consent" not in prompt and (
            client.client.first_party or consent_covers(remembered, scope)
        ):
            return respond(await provider.authorize(preq, grant, person))
        return web.page(
            request,
            "consent.html",
            title=f"Allow {client.client.name}?",
            client_name=client.client.name,
            scopes=[SCOPES[s] for s in scope_list(scope)],
            person=person.account.display_name,
            request_query=preq.uri.partition("?")[2],
        )

    @post("/authorize", opt=PUBLIC, include_in_schema=False)
    async def consent(
        self,
        request: Req,
        provider: ProviderDep,
        sessions: SessionsDep,
        accounts: Accounts,
        web: WebDep,
    ) -> Response[Any]:
        form = await web.form(request)
        query = form.get("request", "")
        preq = ProtocolRequest(
            "GET",
            f"{provider.issuer}/oauth/authorize?{query}",
            request.headers,
            query=query,
        )
        person = await _person(request, sessions, accounts)
        if person is None:
            raise Forbidden("sign in again: the session ended before consent was given")
        grant, refused = await provider.consent_grant(preq, person)
        if refused is not None:
            return _error_page(request, web, refused)
        if form.get("decision") != "allow":
            return respond(await provider.authorize(preq, grant, None))
        client = grant.client
        scope = grantable(client.get_allowed_scope(preq.payload.scope), person.account.roles)
        key = consent_key(client.client_id, person.account.id)
        remembered = await provider.store.consent(key)
        await provider.store.remember_consent(key, remembered | set(scope_list(scope)), utcnow())
        return respond(await provider.authorize(preq, grant, person))

    @post("/token", opt=PUBLIC, security=[])
    async def token(self, request: Req, provider: ProviderDep) -> Response[Any]:
        """RFC 6749 token endpoint: authorization_code (PKCE S256), refresh_token (rotated;
        a reused one revokes its family), client_credentials."""
        try:
            return respond(await provider.token(await read(request, provider)))
        except OAuthError as error:
            return respond(error.reply)

    @post("/device_authorization", opt=PUBLIC, security=[])
    async def device_authorization(self, request: Req, provider: ProviderDep) -> Response[Any]:
        """RFC 8628 §3.1: a device code for the terminal, a user code for the person."""
        try:
            return respond(
                await provider.endpoint("device_authorization", await read(request, provider))
            )
        except OAuthError as error:
            return respond(error.reply)

    @post("/register", opt=PUBLIC, security=[{"BearerAuth": []}])
    async def register_client(self, request: Req, provider: ProviderDep) -> Response[Any]:
        """RFC 7591 client registration: an admin's access token (scope ``admin``) or the
        initial access token. The secret is in this answer only; it is stored hashed."""
        try:
            body = msgspec.json.decode(await request.body())
        except msgspec.DecodeError:
            return respond((400, {"error": "invalid_request", "error_description": "not JSON"}, []))
        preq = JsonProtocolRequest(
            "POST", f"{provider.issuer}/oauth/register", request.headers, body
        )
        return respond(await provider.endpoint("client_registration", preq))

    @post("/revoke", opt=PUBLIC, security=[])
    async def revoke(self, request: Req, provider: ProviderDep) -> Response[Any]:
        """RFC 7009: 200 whether or not the token was known."""
        try:
            return respond(await provider.endpoint("revocation", await read(request, provider)))
        except OAuthError as error:
            return respond(error.reply)

    @post("/introspect", opt=PUBLIC, security=[])
    async def introspect(self, request: Req, provider: ProviderDep) -> Response[Any]:
        """RFC 7662, for confidential clients: ``active`` false for revoked or expired."""
        try:
            return respond(await provider.endpoint("introspection", await read(request, provider)))
        except OAuthError as error:
            return respond(error.reply)

    @get("/userinfo", opt=PUBLIC, security=[{"BearerAuth": []}])
    async def userinfo(
        self, request: Req, provider: ProviderDep, accounts: Accounts
    ) -> dict[str, Any]:
        """OpenID Connect userinfo: the claims the token's scopes allow."""
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        claims = await provider.verify_access(token.strip()) if scheme.lower() == "bearer" else None
        if claims is None or await provider.access_revoked(claims):
            raise invalid_token("a valid access token is required")
        if "openid" not in scope_list(claims.get("scope")):
            raise InsufficientScope(  # RFC 6750 §3.1: a protocol answer, with its header
                "userinfo needs the openid scope",
                headers={"WWW-Authenticate": 'Bearer error="insufficient_scope", scope="openid"'},
                missing_scopes=["openid"],
            )
        try:
            account = await accounts.get(str(claims["sub"]))
        except AccountGone:
            raise invalid_token("the account no longer exists") from None
        return user_info(account, str(claims.get("scope", "")))


UserCode = Annotated[str, QueryParameter(max_length=20)]


class DeviceController(Controller):
    """Where a person approves a terminal's sign-in (RFC 8628 verification URI)."""

    path = "/device"
    tags = ["oauth"]
    include_in_schema = False

    @get("/", opt=PUBLIC)
    async def device_form(
        self,
        request: Req,
        provider: ProviderDep,
        sessions: SessionsDep,
        accounts: Accounts,
        web: WebDep,
        user_code: UserCode = "",
    ) -> Response[Any]:
        person = await _person(request, sessions, accounts)
        if person is None:
            back = f"{web.prefix}/device" + (f"?user_code={quote(user_code)}" if user_code else "")
            return web.redirect(f"{web.prefix}/login?next={quote(back, safe='')}")
        device = await provider.device_by_user_code(user_code) if user_code else None
        client = None if device is None else await provider.store.client(device.client_id)
        return web.page(
            request,
            "device.html",
            title="Sign in on a device",
            user_code=user_code,
            client_name=None if client is None else client.name,
            scopes=[]
            if device is None
            else [SCOPES[s] for s in scope_list(device.scope) if s in SCOPES],
            person=person.account.display_name,
        )

    @post("/", opt=PUBLIC)
    async def device_decision(
        self,
        request: Req,
        provider: ProviderDep,
        sessions: SessionsDep,
        accounts: Accounts,
        web: WebDep,
    ) -> Response[Any]:
        form = await web.form(request)
        person = await _person(request, sessions, accounts)
        if person is None:
            raise Forbidden("sign in again: the session ended")
        device = await provider.device_by_user_code(form.get("user_code", "")[:20])
        if device is None or device.status != "pending":
            return web.page(
                request,
                "message.html",
                title="Code not valid",
                status=400,
                message="That code is unknown, expired or already used. Start again on the device.",
                link="",
            )
        approve = form.get("decision") == "allow"
        await provider.decide_device(device, person, approve)
        return web.page(
            request,
            "message.html",
            title="Done" if approve else "Denied",
            message="You can return to your device."
            if approve
            else "The device was not signed in.",
            link="",
        )


class DiscoveryController(Controller):
    path = "/.well-known"
    tags = ["oauth"]

    @get("/openid-configuration", opt=PUBLIC, security=[])
    async def openid_configuration(self, provider: ProviderDep) -> dict[str, Any]:
        """OpenID Connect Discovery 1.0 (at the issuer's path)."""
        return metadata(provider.issuer)

    @get("/oauth-authorization-server", opt=PUBLIC, security=[])
    async def oauth_metadata(self, provider: ProviderDep) -> dict[str, Any]:
        """RFC 8414 metadata, also here under the public prefix (the Ingress routes only
        /api/users; the RFC's own path, /.well-known/oauth-authorization-server/api/users,
        is served by the process as well)."""
        return metadata(provider.issuer)


async def _person(request: Req, sessions: Sessions, accounts: AccountService) -> Person | None:
    session = await sessions.current(request.cookies.get(SESSION_COOKIE))
    if session is None:
        return None
    with contextlib.suppress(AccountGone):
        return Person(await accounts.get(session.user_id), session.auth_time)
    return None


def _error_page(request: Req, web: Web, reply: Reply) -> Response[Any]:
    status, body, _ = reply
    if status in (302, 303):
        return respond(reply)  # to the client's validated redirect URI
    # Never redirect to a URI we could not validate: tell the person instead.
    detail = body.get("error_description") or body.get("error") if isinstance(body, dict) else ""
    return web.page(
        request,
        "message.html",
        title="This sign-in link is not valid",
        status=status,
        message=str(detail or "the request is not valid"),
        link="",
    )


__all__ = ["DeviceController", "DiscoveryController", "OAuthController", "metadata"]
