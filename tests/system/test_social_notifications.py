"""Social notifications and notification mail, every service a real process: two people
register with user-service, one verifies her address through the link notification-service
mailed her (a local SMTP relay), and routes friend requests to email; the other asks her to
be friends over user-service's HTTP API — her inbox and her mailbox get it once, at the
verified address, named by his display name; her accepting tells him in his inbox."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from redis import Redis

from deepiri_kit.events import Envelope
from infra import RedisServer
from support.processes import ServiceProcesses
from support.smtp import SmtpRelay
from support.tokens import TokenIssuer
from support.users import PASSWORD
from support.waiting import wait_for

pytestmark = [pytest.mark.system, pytest.mark.slow]
USERS = "/api/users"
RW = "notifications:read notifications:write"


def test_a_friend_request_reaches_the_inbox_and_the_verified_address(
    service_process: ServiceProcesses, issuer: TokenIssuer, redis_server: RedisServer
) -> None:
    with SmtpRelay() as relay:
        users = service_process("user-service")
        notifications = service_process("notification-service", **relay.env())
        ann_mail = f"ann-{uuid.uuid4().hex[:8]}@example.org"
        bob_mail = f"bob-{uuid.uuid4().hex[:8]}@example.org"
        with users.client() as public, Redis(port=redis_server.port) as redis:
            for address, name in ((ann_mail, "Ann"), (bob_mail, "Bob")):
                body = {"email": address, "password": PASSWORD, "display_name": name}
                registered = public.post(f"{USERS}/register", json=body)
                assert registered.status_code == 202, registered.text

            def mailed(address: str) -> Any:
                return next((m for m in relay.mailbox.received if m["To"] == address), None)

            verification = wait_for(lambda: mailed(ann_mail), what="Ann's verification mail")
            link = next(
                word
                for word in verification.get_payload(decode=True).decode().split()
                if word.startswith("http")
            )
            token = parse_qs(urlsplit(link).query)["token"][0]
            verified = public.post(f"{USERS}/email/verifications", json={"token": token})
            assert verified.status_code == 204, verified.text

            def account(address: str) -> str | None:
                for _, fields in redis.xrange("events.users"):
                    event = Envelope.decode(fields[b"envelope"].decode())
                    verifying = event.type == "user.verification_requested"
                    if verifying and event.data["email"] == address:
                        return str(event.data["user_id"])
                return None

            ann = wait_for(lambda: account(ann_mail), what="Ann's account id")
            bob = wait_for(lambda: account(bob_mail), what="Bob's account id")

        ann_h, bob_h = issuer.headers(ann, RW), issuer.headers(bob, RW)
        with notifications.client(ann_h) as ann_inbox, users.client() as social:
            routed = ann_inbox.patch(
                "/api/notifications/preferences",
                json={"channels": {"friend_request": ["in_app", "email"]}},
            )
            assert routed.status_code == 200, routed.text
            asked = social.post(
                f"{USERS}/friends/requests/{ann}",
                headers=issuer.headers(bob, "users:read users:write"),
            )
            assert asked.status_code < 300, asked.text

            def requested() -> dict[str, Any] | None:
                items = ann_inbox.get("/api/notifications/inbox").json()["items"]
                return next((n for n in items if n["kind"] == "friend_request"), None)

            request = wait_for(requested, what="the friend request in Ann's inbox")
            assert request["title"] == "Bob wants to be friends"
            assert request["data"] == {"user_id": bob}
            mail = wait_for(
                lambda: next(
                    (m for m in relay.mailbox.received if m["Subject"] == request["title"]), None
                ),
                what="the friend request by mail",
            )
            assert mail["To"] == ann_mail

            accepted = social.post(
                f"{USERS}/friends/requests/{bob}/accept",
                headers=issuer.headers(ann, "users:read users:write"),
            )
            assert accepted.status_code < 300, accepted.text
            with notifications.client(bob_h) as bob_inbox:

                def befriended() -> dict[str, Any] | None:
                    items = bob_inbox.get("/api/notifications/inbox").json()["items"]
                    return next((n for n in items if n["kind"] == "friend"), None)

                friend = wait_for(befriended, what="the new friend in Bob's inbox")
            assert friend["title"] == "Ann is now your friend"
            # Once: one request mail, and Bob (unverified) was mailed nothing but his link.
            titles = [m["Subject"] for m in relay.mailbox.received]
            assert titles.count("Bob wants to be friends") == 1
            assert [m["Subject"] for m in relay.mailbox.received if m["To"] == bob_mail] == [
                "Confirm your Deepiri email address"
            ]
