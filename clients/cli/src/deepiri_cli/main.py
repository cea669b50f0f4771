"""The commands. The protocol is Authlib's OAuth 2.0 client (over httpx): the token
requests of the device grant, refresh with rotation, revocation. Progress and errors go to
stderr; stdout carries only what a script wants (the token)."""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from typing import Any, TextIO

import httpx
from authlib.deprecate import AuthlibDeprecationWarning
from authlib.integrations.base_client.errors import OAuthError

# Authlib 1.9 prefers the httpx2 package and warns when it falls back to httpx (which the
# whole platform uses); the warning is for developers, not for the person at the terminal.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", AuthlibDeprecationWarning)
    from authlib.integrations.httpx_client import OAuth2Client

import deepiri_cli
from deepiri_cli.store import Credentials, Store, StoreError

# `make dev` runs user-service here; against a cluster pass --issuer (or DEEPIRI_ISSUER).
DEFAULT_ISSUER = "http://127.0.0.1:5001/api/users"
CLIENT_ID = "deepiri-cli"  # the first-party terminal client every deployment seeds
DEFAULT_SCOPE = (
    "openid profile offline_access users:read users:write tasks:read tasks:write "
    "gamification:read gamification:write"
)
DEVICE_CODE = "urn:ietf:params:oauth:grant-type:device_code"
# Refresh when the access token has less than this left, so the caller's request still
# reaches the service before it expires.
REFRESH_LEEWAY_SECONDS = 60
TIMEOUT_SECONDS = 30.0


class CliError(Exception):
    """What went wrong, for the person at the terminal."""


def oauth_client(client_id: str, **metadata: Any) -> OAuth2Client:
    # A public client (no secret): Authlib sends client_id in the body ("none").
    return OAuth2Client(
        client_id=client_id,
        token_endpoint_auth_method="none",  # noqa: S106 - an auth method's name, not a secret
        revocation_endpoint_auth_method="none",
        leeway=REFRESH_LEEWAY_SECONDS,
        timeout=TIMEOUT_SECONDS,
        **metadata,
    )


def discover(client: OAuth2Client, issuer: str) -> dict[str, Any]:
    """RFC 8414 / OpenID discovery; the document must name the issuer we asked (§3.3)."""
    # withhold_token: these requests carry no token (Authlib's client would insist on one).
    response = client.request(
        "GET", f"{issuer}/.well-known/openid-configuration", withhold_token=True
    )
    if response.status_code != 200:
        raise CliError(f"{issuer} is not a Deepiri sign-in service (HTTP {response.status_code})")
    meta: dict[str, Any] = response.json()
    if meta.get("issuer") != issuer:
        raise CliError(
            f"{issuer} says its issuer is {meta.get('issuer')!r}: sign in at that address, "
            "or configure user-service's JWT_ISSUER to the address people reach it at"
        )
    for endpoint in ("device_authorization_endpoint", "token_endpoint", "revocation_endpoint"):
        if not isinstance(meta.get(endpoint), str):
            raise CliError(f"{issuer} does not offer the {endpoint.replace('_', ' ')}")
    return meta


def _error_of(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}"
    if not isinstance(body, dict):
        return f"HTTP {response.status_code}"
    return str(body.get("error_description") or body.get("error") or response.status_code)


def poll(
    client: OAuth2Client,
    token_endpoint: str,
    device: dict[str, Any],
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> dict[str, Any]:
    """RFC 8628 §3.4-3.5: ask for the token every ``interval`` seconds until the person has
    decided; ``slow_down`` adds 5 seconds to the interval."""
    interval = float(device.get("interval") or 5)
    deadline = clock() + float(device.get("expires_in") or 600)
    while clock() + interval < deadline:
        sleep(interval)
        try:
            token: dict[str, Any] = client.fetch_token(
                token_endpoint, grant_type=DEVICE_CODE, device_code=device["device_code"]
            )
        except OAuthError as error:
            if error.error == "authorization_pending":
                continue
            if error.error == "slow_down":
                interval += 5
                continue
            if error.error == "access_denied":
                raise CliError("the sign-in was denied") from None
            if error.error == "expired_token":
                break
            raise CliError(f"sign-in failed: {error.description or error.error}") from None
        return dict(token)
    raise CliError("the code expired before it was approved: run `deepiri login` again")


def login(store: Store, issuer: str, scope: str, err: TextIO) -> int:
    issuer = issuer.rstrip("/")
    url = httpx.URL(issuer)
    if url.scheme != "https" and url.host not in ("localhost", "127.0.0.1", "::1"):
        print(f"warning: {issuer} is not https: the tokens would travel in the clear", file=err)
    with oauth_client(CLIENT_ID) as client:
        meta = discover(client, issuer)
        response = client.request(
            "POST",
            meta["device_authorization_endpoint"],
            data={"client_id": CLIENT_ID, "scope": scope},
            withhold_token=True,
        )
        if response.status_code != 200:
            raise CliError(f"{issuer} refused the sign-in: {_error_of(response)}")
        device: dict[str, Any] = response.json()
        print(
            f"To sign in, open {device['verification_uri']} and enter the code "
            f"{device['user_code']}",
            file=err,
        )
        if device.get("verification_uri_complete"):
            print(f"(or open {device['verification_uri_complete']})", file=err)
        print("Waiting for approval…", file=err, flush=True)
        token = poll(client, meta["token_endpoint"], device)
    with store.locked():
        store.save(
            Credentials(
                issuer=issuer,
                client_id=CLIENT_ID,
                token_endpoint=meta["token_endpoint"],
                revocation_endpoint=meta["revocation_endpoint"],
                token=token,
            )
        )
    print(f"Signed in. Tokens are in {store.path}.", file=err)
    return 0


def token(store: Store, out: TextIO) -> int:
    with store.locked():
        credentials = _signed_in(store)
        refreshed: list[dict[str, Any]] = []

        def keep(new: dict[str, Any], refresh_token: str | None = None, **_: Any) -> None:
            refreshed.append(dict(new))

        with oauth_client(
            credentials.client_id,
            token=credentials.token,
            token_endpoint=credentials.token_endpoint,
            update_token=keep,
        ) as client:
            try:
                active = client.ensure_active_token(client.token)
            except OAuthError as error:
                raise CliError(
                    f"the sign-in has ended ({error.description or error.error}): "
                    "run `deepiri login`"
                ) from None
            if not active:
                raise CliError(
                    "the access token expired and cannot be renewed: run `deepiri login`"
                )
        if refreshed:
            # Saved before the token is shown: the old refresh token is spent already.
            store.save(_with_token(credentials, refreshed[-1]))
            access = refreshed[-1]["access_token"]
        else:
            access = credentials.token["access_token"]
    print(access, file=out)
    return 0


def logout(store: Store, err: TextIO) -> int:
    with store.locked():
        credentials = store.load()
        if credentials is None:
            print("Not signed in.", file=err)
            return 0
        with oauth_client(credentials.client_id) as client:
            # RFC 7009: revoking the refresh token ends the whole sign-in (its access tokens
            # too); the access token is revoked by name as well, in case the server does not.
            for kind in ("refresh_token", "access_token"):
                value = credentials.token.get(kind)
                if not value:
                    continue
                response = client.revoke_token(
                    credentials.revocation_endpoint, token=value, token_type_hint=kind
                )
                if response.status_code != 200:
                    raise CliError(
                        f"user-service did not revoke the {kind.replace('_', ' ')} "
                        f"({_error_of(response)}); the tokens are kept: try again"
                    )
        store.delete()
    print("Signed out: the tokens are revoked and deleted.", file=err)
    return 0


def _signed_in(store: Store) -> Credentials:
    credentials = store.load()
    if credentials is None:
        raise CliError("not signed in: run `deepiri login`")
    return credentials


def _with_token(credentials: Credentials, new: dict[str, Any]) -> Credentials:
    return Credentials(
        issuer=credentials.issuer,
        client_id=credentials.client_id,
        token_endpoint=credentials.token_endpoint,
        revocation_endpoint=credentials.revocation_endpoint,
        token=new,
    )


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="deepiri",
        description=deepiri_cli.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = root.add_subparsers(dest="command", required=True)
    sign_in = commands.add_parser("login", help="sign in with a code approved in a browser")
    sign_in.add_argument(
        "--issuer",
        default=os.environ.get("DEEPIRI_ISSUER", DEFAULT_ISSUER),
        help="user-service's issuer URL (default: $DEEPIRI_ISSUER or %(default)s)",
    )
    sign_in.add_argument("--scope", default=DEFAULT_SCOPE, help="the scopes to ask for")
    commands.add_parser("token", help="print a valid access token (refreshing it if needed)")
    commands.add_parser("logout", help="revoke the tokens and delete them")
    return root


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    store = Store()
    try:
        if args.command == "login":
            return login(store, args.issuer, args.scope, sys.stderr)
        if args.command == "token":
            return token(store, sys.stdout)
        return logout(store, sys.stderr)
    except (CliError, StoreError) as error:
        print(f"deepiri: {error}", file=sys.stderr)
    except OAuthError as error:
        print(f"deepiri: {error.description or error.error}", file=sys.stderr)
    except httpx.HTTPError as error:
        print(f"deepiri: cannot reach user-service: {error}", file=sys.stderr)
    except KeyboardInterrupt:
        print("deepiri: interrupted", file=sys.stderr)
    return 1
