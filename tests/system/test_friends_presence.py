"""Presence among friends, every part real: people signed in at the real user-service become
friends through its API; websocket-service (two processes, as two pods) learns it from
``events.social``; the official JavaScript client of one friend sees the other come online
and — when the pod holding the other's socket is killed, so nobody disconnects it — go
offline once their entry expires, told by the surviving pod. Someone else sees neither."""

from __future__ import annotations

import signal
from typing import Any

import httpx
import pytest

from support.accounts import Accounts, Person
from support.processes import ServiceProcess, ServiceProcesses
from support.sockets import JsClient, js_installed
from support.waiting import wait_for

pytestmark = [pytest.mark.system, pytest.mark.slow]

QUICK_PRESENCE = {
    "PRESENCE_TTL_SECONDS": "2",
    "PRESENCE_HEARTBEAT_SECONDS": "0.5",
    "PRESENCE_REAP_SECONDS": "0.3",
}


def befriend(accounts: Accounts, asker: Person, answerer: Person) -> None:
    with httpx.Client(base_url=accounts.base, timeout=30) as users:
        asked = users.post(f"/friends/requests/{answerer.id}", headers=asker.headers())
        assert asked.status_code == 200, asked.text
        accepted = users.post(f"/friends/requests/{asker.id}/accept", headers=answerer.headers())
        assert accepted.status_code == 200, accepted.text
        assert accepted.json()["relation"] == "friends", accepted.text


def presence(pod: ServiceProcess, viewer: Person, *ids: str) -> httpx.Response:
    with pod.client(viewer.headers()) as http:
        return http.get("/socket.io/presence", params=[("user_id", i) for i in ids])


def changes(client: JsClient, user_id: str) -> list[tuple[str, bool]]:
    return [(c["user_id"], c["online"]) for c in client.received("presence:changed")]


def test_a_friend_sees_a_friend_come_online_and_go_offline_when_their_pod_dies(
    services: ServiceProcesses, accounts: Accounts
) -> None:
    if not js_installed():
        pytest.fail("socket.io-client is not installed: run make tools (npm ci)", pytrace=False)
    doomed = services("websocket-service", CONSUME_EVENTS="false", **QUICK_PRESENCE)
    survivor = services("websocket-service", **QUICK_PRESENCE)
    ann, ben, cid = accounts.person("Ann"), accounts.person("Ben"), accounts.person("Cid")
    befriend(accounts, ann, ben)

    def known() -> bool:
        return presence(survivor, ben, ann.id).status_code == 200

    wait_for(known, what="the friendship from events.social")
    refused = presence(survivor, cid, ann.id)
    assert refused.status_code == 403, refused.text

    clients: list[JsClient] = []
    try:
        ben_app = JsClient(survivor.url, {"token": ben.token})
        cid_app = JsClient(doomed.url, {"token": cid.token})
        clients += [ben_app, cid_app]
        snapshot = wait_for(lambda: ben_app.received("presence:friends"), what="ben's snapshot")
        assert snapshot[0] == {"friends": [{"user_id": ann.id, "online": False, "last_seen": None}]}

        ann_app = JsClient(doomed.url, {"token": ann.token})
        clients.append(ann_app)
        ann_app.next("connect")
        wait_for(
            lambda: changes(ben_app, ann.id) == [(ann.id, True)],
            what="ben told that ann came online",
        )
        [ann_seen] = presence(survivor, ben, ann.id).json()
        assert ann_seen["online"] is True

        # The pod holding ann's socket dies: nobody disconnects it.
        assert doomed.proc is not None
        doomed.proc.send_signal(signal.SIGKILL)
        doomed.proc.wait(timeout=10)
        wait_for(
            lambda: changes(ben_app, ann.id) == [(ann.id, True), (ann.id, False)],
            what="ben told that ann went offline",
        )
        [ann_gone] = presence(survivor, ben, ann.id).json()
        assert ann_gone["online"] is False
        assert ann_gone["last_seen"] is not None
        offline: dict[str, Any] = ben_app.received("presence:changed")[-1]
        assert offline["last_seen"] is not None
        assert cid_app.received("presence:changed") == []
    finally:
        for client in clients:
            client.close()
