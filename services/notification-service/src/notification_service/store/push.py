"""The push providers: FCM HTTP v1 (an OAuth2 bearer from a service-account key, via
google-auth; one message per token) and APNs over HTTP/2 (an ES256 provider token, refreshed
within Apple's 20-60 minute window). Each send answers one :class:`Outcome`; neither ever
logs or records the device token."""

from __future__ import annotations

import asyncio
import functools
import json
import time
import uuid
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, Literal

import httpx
import requests
from google.auth.transport.requests import Request as GoogleRequest
from google.oauth2 import service_account
from joserfc import jwt
from joserfc.jwk import ECKey

from notification_service.domain.devices import Device, Push

FCM_SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
# Apple refuses provider tokens older than an hour and throttles ones renewed more often
# than every 20 minutes.
APNS_TOKEN_SECONDS = 40 * 60


@dataclass(frozen=True)
class Outcome:
    """``delivered``; ``invalid`` (the token is dead: delete the device); ``retry`` (429 or
    5xx or no answer: later, not before ``retry_after`` s if the provider said)."""

    result: Literal["delivered", "invalid", "retry"]
    status: int | None
    reason: str = ""
    retry_after: float | None = None


def retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


class FcmSender:
    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        project_id: str,
        key: dict[str, Any],
        endpoint: str,
        ca_file: str = "",
    ) -> None:
        self.http = http
        self.project_id = project_id
        self.endpoint = endpoint.rstrip("/")
        # The token endpoint is called through requests: it trusts the same CAs as ``http``
        # (per request: REQUESTS_CA_BUNDLE in the environment would win over the session's).
        self._token_request: Any = GoogleRequest(session=requests.Session())
        if ca_file:
            self._token_request = functools.partial(self._token_request, verify=ca_file)
        # token_uri comes from the key file (Google's, or a local fake's in tests).
        self.credentials = service_account.Credentials.from_service_account_info(  # type: ignore[no-untyped-call]
            key, scopes=[FCM_SCOPE]
        )
        self._lock = asyncio.Lock()

    async def bearer(self, *, renew: bool = False) -> str:
        async with self._lock:
            if renew or not self.credentials.valid:
                # google-auth refreshes synchronously (requests): keep it off the loop.
                await asyncio.to_thread(self.credentials.refresh, self._token_request)
            return str(self.credentials.token)

    async def send(self, device: Device, push: Push) -> Outcome:
        message = {
            "message": {
                "token": device.token,
                "notification": {"title": push.title, "body": push.body},
                "data": push.data,
                "android": {"collapse_key": push.collapse_id},
            }
        }
        url = f"{self.endpoint}/v1/projects/{self.project_id}/messages:send"
        try:
            response = await self.http.post(
                url, json=message, headers={"authorization": f"Bearer {await self.bearer()}"}
            )
            if response.status_code == 401:  # revoked or expired early: one fresh token
                response = await self.http.post(
                    url,
                    json=message,
                    headers={"authorization": f"Bearer {await self.bearer(renew=True)}"},
                )
        except (httpx.HTTPError, OSError) as exc:
            return Outcome("retry", None, f"FCM unreachable: {type(exc).__name__}")
        except Exception as exc:  # google-auth's token endpoint failing
            return Outcome("retry", None, f"FCM token: {type(exc).__name__}: {exc}"[:300])
        return self.outcome(response)

    @staticmethod
    def outcome(response: httpx.Response) -> Outcome:
        status = response.status_code
        if status == 200:
            return Outcome("delivered", status)
        code = ""
        try:
            error = response.json().get("error", {})
            codes = [d.get("errorCode", "") for d in error.get("details", [])]
            code = next((c for c in codes if c), error.get("status", ""))
        except (ValueError, AttributeError):
            pass
        if code == "UNREGISTERED" or (status == 400 and code == "INVALID_ARGUMENT"):
            return Outcome("invalid", status, code)
        if status == 429 or status >= 500:
            return Outcome("retry", status, code, retry_after(response))
        # 401/403 (our credentials), 400 other: a configuration error; retried, and logged.
        return Outcome("retry", status, code or f"HTTP {status}")


class ApnsSender:
    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        team_id: str,
        key_id: str,
        key_pem: str,
        topic: str,
        endpoint: str,
    ) -> None:
        self.http = http  # an HTTP/2 client
        self.team_id, self.key_id, self.topic = team_id, key_id, topic
        self.key = ECKey.import_key(key_pem)
        self.endpoint = endpoint.rstrip("/")
        self._token: tuple[str, float] | None = None

    def provider_token(self, *, renew: bool = False) -> str:
        now = time.time()
        if renew or self._token is None or now - self._token[1] >= APNS_TOKEN_SECONDS:
            token = jwt.encode(
                {"alg": "ES256", "kid": self.key_id},
                {"iss": self.team_id, "iat": int(now)},
                self.key,
            )
            self._token = (token, now)
        return self._token[0]

    async def send(self, device: Device, push: Push) -> Outcome:
        body = {"aps": {"alert": {"title": push.title, "body": push.body}}, **push.data}
        url = f"{self.endpoint}/3/device/{device.token}"

        def headers(renew: bool = False) -> dict[str, str]:
            return {
                "authorization": f"bearer {self.provider_token(renew=renew)}",
                "apns-topic": self.topic,
                "apns-push-type": "alert",
                "apns-priority": "10",
                "apns-collapse-id": push.collapse_id[:64],
                "apns-id": str(uuid.uuid4()),
            }

        content = json.dumps(body).encode()
        try:
            response = await self.http.post(url, content=content, headers=headers())
            if response.status_code == 403 and self._reason(response) == "ExpiredProviderToken":
                response = await self.http.post(url, content=content, headers=headers(True))
        except (httpx.HTTPError, OSError) as exc:
            return Outcome("retry", None, f"APNs unreachable: {type(exc).__name__}")
        status, reason = response.status_code, self._reason(response)
        if status == 200:
            return Outcome("delivered", status)
        if status == 410 or reason in ("BadDeviceToken", "Unregistered", "DeviceTokenNotForTopic"):
            return Outcome("invalid", status, reason)
        if status == 429 or status >= 500:
            return Outcome("retry", status, reason, retry_after(response))
        return Outcome("retry", status, reason or f"HTTP {status}")

    @staticmethod
    def _reason(response: httpx.Response) -> str:
        try:
            return str(response.json().get("reason", ""))
        except (ValueError, AttributeError):
            return ""
