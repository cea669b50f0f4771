"""task-service (and gamification-service's keyed spend) as real processes under the failures
issue 8 found: a retry right after the answer, a crash between commit and finalisation,
paused and stopped datastores, 50 concurrent completions on a busy FerretDB, and clients
that pick their own address."""

from __future__ import annotations

import asyncio
import signal
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from redis import Redis

from deepiri_kit.events import new_event
from infra import RedisServer
from support.accounts import Accounts
from support.problems import is_503_problem
from support.processes import ServiceProcess, ServiceProcesses
from support.servers import OwnServers, paused
from support.streams import consumed, decoded
from support.waiting import PATIENCE, wait_for

pytestmark = [pytest.mark.system, pytest.mark.slow, pytest.mark.anyio]

# A generous bound on each answer (the hangs this guards against took 30-90 s); not a speed
# assertion: speed is for the benchmarks.
BOUND = 5.0


async def create(client: httpx.AsyncClient, headers: dict[str, str], **fields: Any) -> str:
    created = await client.post("/api/tasks", json={"title": "t", **fields}, headers=headers)
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


# --- item 3: Idempotency-Key is at most once ------------------------------------------------


async def test_a_retry_right_after_the_answer_is_a_replay(
    services: ServiceProcesses, accounts: Accounts
) -> None:
    tasks = services("task-service")  # one worker: concurrency comes from asyncio
    headers = accounts.person("Alice").headers()
    async with httpx.AsyncClient(base_url=tasks.url, timeout=BOUND) as client:
        for i in range(30):
            keyed = {**headers, "Idempotency-Key": f"fast-{i}"}
            body = {"title": f"fast {i}"}
            first = await client.post("/api/tasks", json=body, headers=keyed)
            again = await client.post("/api/tasks", json=body, headers=keyed)
            assert first.status_code == 201, first.text
            assert again.status_code == 201, again.text  # was 409 "still being processed"
            assert again.headers["idempotent-replayed"] == "true"
            assert again.json() == first.json()


def test_a_crash_between_commit_and_finalisation_applies_a_key_once(
    services: ServiceProcesses, accounts: Accounts, redis_server: RedisServer
) -> None:
    common = {"IDEMPOTENCY_ABANDONED_AFTER_SECONDS": "4"}
    game = services("gamification-service", **common)
    crashing = services("task-service", DEEPIRI_FAILPOINTS="idempotency.before_finalise", **common)
    headers = accounts.person("Alice").headers()
    keyed = {**headers, "Idempotency-Key": "tap-once"}
    with crashing.client(headers, timeout=BOUND) as client:
        # Created without a key: the fail point only fires for keyed requests.
        habit = client.post("/api/tasks", json={"title": "water", "kind": "habit"})
        assert habit.status_code == 201, habit.text
        habit_id = habit.json()["id"]
    complete = f"/api/tasks/{habit_id}/complete"
    crash_after_commit(crashing, complete, {}, keyed)
    restarted = services("task-service", **common)  # the same database
    with restarted.client(timeout=BOUND) as client:
        retry_until_applied(client, complete, {}, keyed)
        versions = client.get(f"/api/tasks/{habit_id}/versions", headers=headers)
        taps = [v for v in versions.json()["items"] if v["action"] == "complete"]
        assert len(taps) == 1  # one key, one application
    with game.client(headers, timeout=BOUND) as client:
        wait_for(lambda: client.get("/api/gamification/wallet/ledger").json()["items"])
        time.sleep(3)  # time for a second credit to show up, if there were one
        ledger = client.get("/api/gamification/wallet/ledger").json()["items"]
        credits = [e for e in ledger if e["kind"] == "task"]
        assert len(credits) == 1, ledger  # one credit (badges are entries too)
    with Redis(port=redis_server.port, decode_responses=True) as bus:
        completions = decoded(bus.xrange("events.tasks"), "task.completed")
    assert [e.data["task_id"] for e in completions].count(habit_id) == 1


def test_a_crash_after_a_keyed_spend_commits_never_spends_twice(
    services: ServiceProcesses, accounts: Accounts, redis_server: RedisServer
) -> None:
    """gamification-service stamps its ledger entry: a retry after a crash between commit
    and finalisation is answered as applied, never run again (it used to run again and, the
    money being spent, answer a false "insufficient funds")."""
    spender = accounts.person("Spender")
    user = spender.id
    common = {"IDEMPOTENCY_ABANDONED_AFTER_SECONDS": "4"}
    headers = spender.headers()
    keyed = {**headers, "Idempotency-Key": "spend-once"}
    crashing = services(
        "gamification-service", DEEPIRI_FAILPOINTS="idempotency.before_finalise", **common
    )
    earned = earn(redis_server, crashing, headers, user)
    amount = earned // 2 + 1  # once is affordable, twice is not
    body = {"currency": "coins", "amount": amount, "reason": "hat"}
    crash_after_commit(crashing, "/api/gamification/wallet/spend", body, keyed)
    restarted = services("gamification-service", **common)  # the same database
    with restarted.client(timeout=BOUND) as client:
        retry_until_applied(client, "/api/gamification/wallet/spend", body, keyed)
        ledger = client.get("/api/gamification/wallet/ledger", headers=headers).json()
        spends = [(e["amounts"], e["status"]) for e in ledger["items"] if e["kind"] == "spend"]
        assert spends == [({"coins": -amount}, "applied")]
        wallet = client.get("/api/gamification/wallet", headers=headers).json()
        assert wallet["balances"]["coins"] == earned - amount


def crash_after_commit(
    crashing: ServiceProcess, path: str, body: Any, keyed: dict[str, str]
) -> None:
    """POST the keyed request that ``crashing``'s fail point kills it for, after its commit."""
    with (
        crashing.client(timeout=BOUND) as client,
        pytest.raises(httpx.TransportError),  # the process died after the commit
    ):
        client.post(path, json=body, headers=keyed)
    assert crashing.proc is not None
    assert crashing.proc.wait(timeout=10) == -signal.SIGKILL


def retry_until_applied(client: httpx.Client, path: str, body: Any, keyed: dict[str, str]) -> None:
    """Retry the keyed request as a client would: "still being processed" (409) until the
    key is abandoned, then answered as applied — never run again."""
    answers = []
    deadline = time.monotonic() + PATIENCE
    while time.monotonic() < deadline:
        retry = client.post(path, json=body, headers=keyed)
        answers.append((retry.status_code, retry.json().get("detail")))
        if retry.json().get("type", "").endswith("/idempotency-key-applied"):
            return
        assert retry.status_code == 409, retry.text  # in flight until abandoned
        assert "still being processed" in retry.json()["detail"], answers
        time.sleep(0.5)
    raise AssertionError(f"never answered as applied: {answers}")


def earn(
    redis_server: RedisServer, gamification: ServiceProcess, headers: dict[str, str], user: str
) -> int:
    """Credit ``user`` for one completed task (as task-service would); once the event is
    acknowledged (its credit and any badges it earned are in), return the coins."""
    event = new_event(
        "task.completed",
        source="task-service",
        user_id=user,
        data={
            "task_id": uuid.uuid4().hex[:24],
            "kind": "todo",
            "difficulty": "hard",
            "priority": "normal",
            "completed_at": datetime.now(UTC).isoformat(),
        },
    )
    with Redis(port=redis_server.port, decode_responses=True) as bus:
        bus.xadd("events.tasks", {"envelope": event.encode()})
        wait_for(
            lambda: consumed(bus, "events.tasks", "gamification-service"),
            what="the completion handled",
        )
    with gamification.client(headers, timeout=BOUND) as client:
        coins = client.get("/api/gamification/wallet").json()["balances"]["coins"]
    assert coins > 0
    return int(coins)


# --- items 6 and 8: datastores paused, stopped or busy ---------------------------------------


def test_paused_datastores_fail_fast_or_are_not_needed(
    services: ServiceProcesses, own_servers: OwnServers, accounts: Accounts
) -> None:
    redis, mongo = own_servers.redis, own_servers.mongo
    tasks = services(
        "task-service",
        redis=redis,
        mongo=mongo,
        RATE_LIMIT_PER_MINUTE="6000",
        RATE_LIMIT_BURST="100",
        MONGO_SOCKET_TIMEOUT_SECONDS="1",
        MONGO_SERVER_SELECTION_TIMEOUT_SECONDS="1",
        MONGO_CONNECT_TIMEOUT_SECONDS="1",
        REDIS_SOCKET_TIMEOUT_SECONDS="1.5",
    )
    headers = accounts.person("Alice").headers()
    with tasks.client(headers, timeout=BOUND) as client:
        todo = client.post("/api/tasks", json={"title": "before"}).json()["id"]
        with paused(redis):
            assert client.get("/api/tasks/schema/openapi.json").status_code == 200
            assert client.get("/api/tasks").status_code == 200
            assert client.get(f"/api/tasks/{todo}").status_code == 200
            # The change is committed in MongoDB; its event waits in the outbox.
            done = client.post(f"/api/tasks/{todo}/complete", json={})
            assert done.status_code == 200, done.text
        with paused(mongo):
            assert client.get("/api/tasks/schema/openapi.json").status_code == 200
            assert is_503_problem(client.get("/api/tasks"))
            assert is_503_problem(client.post("/api/tasks", json={"title": "during"}))
            keyed = {"Idempotency-Key": "during-pause"}
            assert is_503_problem(client.post("/api/tasks", json={"title": "k"}, headers=keyed))
            assert client.get("/health").status_code == 503
        again = client.post("/api/tasks", json={"title": "k"}, headers=keyed)
        assert again.status_code == 201, again.text


def test_a_stopped_ferretdb_is_a_503_with_retry_after_never_a_500(
    services: ServiceProcesses, own_servers: OwnServers, accounts: Accounts
) -> None:
    mongo = own_servers.mongo
    tasks = services("task-service", mongo=mongo, MONGO_SERVER_SELECTION_TIMEOUT_SECONDS="1")
    headers = accounts.person("Alice").headers()
    with tasks.client(headers, timeout=BOUND) as client:
        todo = client.post("/api/tasks", json={"title": "before"}).json()["id"]
        mongo.stop()
        try:
            created = client.post("/api/tasks", json={"title": "while down"})
            completed = client.post(f"/api/tasks/{todo}/complete", json={})
            listed = client.get("/api/tasks")
        finally:
            mongo.start()
        for response in (created, completed, listed):
            assert is_503_problem(response), response.text
        retried = client.post(f"/api/tasks/{todo}/complete", json={})
        assert retried.status_code == 200, retried.text


def test_fifty_concurrent_completions_no_500_each_recorded_once(
    services: ServiceProcesses, accounts: Accounts
) -> None:
    """Two processes (as two pods) completing 50 tasks at once keep FerretDB's SQLite busy
    ("database is locked"): every answer is a success or a 503 to retry, never a 500, and
    each completion is recorded once."""
    # A key whose holder could not record its outcome (the store timed out on a busy
    # machine) is taken over after this; it bounds how long a retry may meet 409.
    abandoned = {"IDEMPOTENCY_ABANDONED_AFTER_SECONDS": "20"}
    pods = [services("task-service", **abandoned) for _ in range(2)]  # one database
    statuses = asyncio.run(_complete_fifty([p.url for p in pods], accounts.person().headers()))
    assert 500 not in statuses, statuses


async def _complete_fifty(urls: list[str], headers: dict[str, str]) -> list[int]:
    limits = httpx.Limits(max_connections=64)
    clients = [httpx.AsyncClient(base_url=u, limits=limits, timeout=60) for u in urls]
    statuses: list[int] = []
    try:
        ids = [await create(clients[0], headers, title=f"c{i}") for i in range(50)]

        async def complete(n: int, task_id: str) -> httpx.Response:
            # A client as the 503 asks: retry with the same Idempotency-Key (on any pod).
            keyed = {**headers, "Idempotency-Key": f"done-{task_id}"}
            deadline = time.monotonic() + 180
            attempt = 0
            while time.monotonic() < deadline:
                attempt += 1
                client = clients[(n + attempt) % len(clients)]
                response = await client.post(
                    f"/api/tasks/{task_id}/complete", json={}, headers=keyed
                )
                statuses.append(response.status_code)
                if response.status_code not in (409, 503) or "applied" in response.text:
                    return response
                await asyncio.sleep(0.2)
            raise AssertionError(f"{task_id}: no answer but {statuses[-1]}")

        results = await asyncio.gather(*(complete(n, i) for n, i in enumerate(ids)))
        for result in results:
            assert result.status_code == 200 or "idempotency-key-applied" in result.text
        for task_id in ids:
            versions = await clients[0].get(f"/api/tasks/{task_id}/versions", headers=headers)
            actions = [v["action"] for v in versions.json()["items"]]
            assert actions.count("complete") == 1, actions
    finally:
        for client in clients:
            await client.aclose()
    return statuses


# --- item 12: the client address comes from trusted proxies only ----------------------------


def flood(url: str, forwarded_for: list[str]) -> list[int]:
    """Requests with a bad token, each claiming another client address."""
    with httpx.Client(base_url=url, timeout=BOUND) as client:
        return [
            client.get(
                "/api/tasks",
                headers={"Authorization": "Bearer not-a-token", "X-Forwarded-For": address},
            ).status_code
            for address in forwarded_for
        ]


@pytest.mark.parametrize(("trusted", "limited"), [("10.9.9.9", True), ("127.0.0.1", False)])
def test_x_forwarded_for_counts_only_from_trusted_proxies(
    service_process: ServiceProcesses, db_name: str, trusted: str, limited: bool
) -> None:
    tasks = service_process(
        "task-service",
        RATE_LIMIT_PER_MINUTE="60",
        RATE_LIMIT_BURST="5",
        FORWARDED_ALLOW_IPS=trusted,
        SERVICE_NAME=f"task-service-{db_name}",  # a rate-limit namespace of this test's own
    )
    statuses = flood(tasks.url, [f"203.0.113.{i}" for i in range(12)])
    if limited:
        # The test client (127.0.0.1) is not a trusted proxy: its header is ignored, all
        # twelve requests come from one address, and the flood is refused after the burst.
        assert statuses[:5] == [401] * 5
        assert set(statuses[5:]) == {429}
    else:
        # From a trusted proxy, the header names twelve clients with a bucket each.
        assert statuses == [401] * 12
