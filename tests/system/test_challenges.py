"""Challenges end to end, every service a real process: ai-service (its model behind the
local OpenAI-protocol fake) generates a duel for two friends through challenge-service, which
fetches its agent:invoke token from user-service by the client-credentials grant; both
accept; tasks completed over task-service's HTTP API progress it; the first to the goal wins;
gamification-service credits the winner once and rates the duel as an Elo match;
notification-service stores the notification and emits it to the winner's Socket.IO room.
Then the same with the model endpoint down (ai-service's fallback answers) and with
ai-service down (challenge-service answers a 503 with Retry-After and keeps working)."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from redis import Redis

from deepiri_kit.contracts.gamification import STREAM as GAMIFICATION
from deepiri_kit.contracts.gamification import LevelUp
from deepiri_kit.contracts.social import STREAM as SOCIAL
from deepiri_kit.contracts.social import FriendAdded
from deepiri_kit.contracts.users import STREAM as USERS
from deepiri_kit.contracts.users import UserUpdated
from deepiri_kit.events import event_envelope
from infra import RedisServer
from support.agent import challenge_draft
from support.openai_fake import OpenAIFake
from support.processes import ServiceProcess, ServiceProcesses
from support.rooms import RoomListener
from support.tokens import TokenIssuer
from support.users import PREFIX, start_user_service, trusting
from support.waiting import wait_for

pytestmark = [pytest.mark.system, pytest.mark.slow]

SECRET = "challenge-service-secret-for-tests"
CLIENTS = [
    {
        "client_id": "challenge-service",
        "name": "challenge-service",
        "secret": SECRET,
        "grant_types": ["client_credentials"],
        "scope": "agent:invoke",
    }
]
SCOPES = (
    "tasks:read tasks:write challenges:read challenges:write gamification:read notifications:read"
)
BASE = "/api/challenges"


def befriend(redis: Redis, a: str, b: str) -> None:
    """What user-service announces when ``b`` accepts ``a``'s friend request."""
    envelope = event_envelope(FriendAdded(user_id=b, friend_id=a), source="user-service", user_id=b)
    redis.xadd(SOCIAL.name, {"envelope": envelope.encode()})


def complete_tagged(tasks: httpx.Client, title: str) -> None:
    created = tasks.post("/api/tasks", json={"title": title, "tags": ["deep-work"]})
    assert created.status_code == 201, created.text
    done = tasks.post(f"/api/tasks/{created.json()['id']}/complete", json={})
    assert done.status_code == 200, done.text


def challenge_of(client: httpx.Client, cid: str) -> dict[str, Any]:
    response = client.get(f"{BASE}/{cid}")
    assert response.status_code == 200, response.text
    return dict(response.json())


def start_challenges(
    service_process: ServiceProcesses, users: ServiceProcess, agent_url: str
) -> ServiceProcess:
    return service_process(
        "challenge-service",
        PYAGENT_URL=agent_url,
        TOKEN_URL=f"{users.url}{PREFIX}/oauth/token",
        AGENT_CLIENT_SECRET=SECRET,
        CONSUMER_BLOCK_MS="200",
        DEADLINE_INTERVAL_SECONDS="1",
    )


def test_a_generated_duel_is_played_scored_rewarded_rated_and_notified(
    service_process: ServiceProcesses, issuer: TokenIssuer, redis_server: RedisServer
) -> None:
    channel = f"socketio-{uuid.uuid4().hex[:8]}"
    ann, bob = (f"{name}-{uuid.uuid4().hex[:8]}" for name in ("ann", "bob"))
    fake = OpenAIFake()
    goal = {"metric": "tasks_tagged", "target": 2, "tag": "deep-work", "skill_id": None}
    fake.answer(challenge_draft(goal=goal, milestones=[{"at": 1, "label": "One down"}]))
    users = start_user_service(service_process, CLIENTS, ANSWER_FLOOR_MS="20")
    agent = service_process(
        "ai-service",
        OPENAI_BASE_URL=fake.url,
        OPENAI_API_KEY=fake.api_key,
        OPENAI_MODEL="fake-model",
        **trusting(users),
    )
    challenges = start_challenges(service_process, users, agent.url)
    task_service = service_process("task-service")
    gamification = service_process("gamification-service")
    notifications = service_process("notification-service", SOCKET_CHANNEL=channel)
    heads = {u: issuer.headers(u, SCOPES) for u in (ann, bob)}
    with (
        Redis(port=redis_server.port, decode_responses=True) as redis,
        RoomListener(redis, channel) as room,
        challenges.client(heads[ann]) as ann_challenges,
        challenges.client(heads[bob]) as bob_challenges,
        task_service.client(heads[ann]) as ann_tasks,
        task_service.client(heads[bob]) as bob_tasks,
        gamification.client(heads[ann]) as ann_game,
        gamification.client(heads[bob]) as bob_game,
        notifications.client(heads[ann]) as ann_inbox,
    ):
        befriend(redis, ann, bob)

        def generated() -> dict[str, Any] | None:
            made = ann_challenges.post(
                f"{BASE}/generate", json={"kind": "duel", "invite": [bob], "difficulty": "medium"}
            )
            assert made.status_code in (201, 403), made.text  # 403 until the friendship arrived
            return made.json() if made.status_code == 201 else None

        duel = wait_for(generated, what="the generated duel")
        assert (duel["kind"], duel["answered_by"], duel["goal"]["target"]) == ("duel", "model", 2)
        assert len(fake.requests) == 1
        cid = duel["id"]
        assert ann_challenges.post(f"{BASE}/{cid}/accept").json()["status"] == "available"
        [invited] = bob_challenges.get(BASE, params={"status": "available"}).json()
        assert invited["id"] == cid
        assert bob_challenges.post(f"{BASE}/{cid}/accept").json()["status"] == "active"

        complete_tagged(bob_tasks, "Bob's deep work")
        complete_tagged(ann_tasks, "Ann's first")

        def live() -> bool:
            players = {
                p["user_id"]: p["progress"] for p in challenge_of(ann_challenges, cid)["players"]
            }
            return players == {ann: 1, bob: 1}

        wait_for(live, what="live progress of both players")
        assert challenge_of(ann_challenges, cid)["milestones"][0]["reached"] is True
        complete_tagged(ann_tasks, "Ann's second")

        def ended() -> dict[str, Any] | None:
            shown = challenge_of(bob_challenges, cid)
            return shown if shown["status"] == "completed" else None

        result = {s["user_id"]: s for s in wait_for(ended, what="the duel's end")["result"]}
        assert (result[ann]["outcome"], result[bob]["outcome"]) == ("win", "loss")

        def rated(game: Any) -> dict[str, Any] | None:
            mine = game.get("/api/gamification/ratings/coding/me")
            body = mine.json() if mine.status_code == 200 else {}
            return body if body.get("matches") == 1 else None

        # One match, two players' standings: each is written on its own, so each is awaited.
        ann_rating = wait_for(lambda: rated(ann_game), what="the winner's rating")
        assert ann_rating["rating"] == 1516.0
        bob_rating = wait_for(lambda: rated(bob_game), what="the loser's rating")
        assert bob_rating["rating"] == 1484.0

        def credited() -> list[dict[str, Any]]:
            items = ann_game.get("/api/gamification/wallet/ledger").json()["items"]
            return [e for e in items if e["kind"] == "challenge"]

        [credit] = wait_for(credited, what="the challenge's credit")
        assert credit["amounts"]["xp"] == 300
        assert not [
            e
            for e in bob_game.get("/api/gamification/wallet/ledger").json()["items"]
            if e["kind"] == "challenge" and e["amounts"]
        ]

        def notified() -> dict[str, Any] | None:
            items = ann_inbox.get("/api/notifications/inbox").json()["items"]
            return next((n for n in items if n["kind"] == "challenge"), None)

        note = wait_for(notified, what="the challenge notification")

        def emitted() -> list[dict[str, Any]]:
            return [
                p
                for p in room.poll().to(f"user:{ann}", "notification.created")
                if p["id"] == note["id"]
            ]

        wait_for(emitted, what="the Socket.IO emit to the winner's room")
        # Work after the end changes nothing: still one credit, one match.
        complete_tagged(ann_tasks, "Ann's third")
        assert len(credited()) == 1
        assert ann_game.get("/api/gamification/ratings/coding/me").json()["matches"] == 1


def handled(redis: Redis, *streams: str) -> bool:
    """Whether challenge-service's consumer group has handled everything on ``streams``."""
    for stream in streams:
        groups = redis.xinfo_groups(stream)
        mine = next((g for g in groups if g["name"] == "challenge-service"), None)
        if mine is None or mine["pending"] or mine["lag"] != 0:
            return False
    return True


def test_without_a_model_the_fallback_answers_and_without_ai_service_a_503(
    service_process: ServiceProcesses, issuer: TokenIssuer, redis_server: RedisServer
) -> None:
    fake = OpenAIFake()
    fake.close()  # the model endpoint is down
    users = start_user_service(service_process, CLIENTS, ANSWER_FLOOR_MS="20")
    agent = service_process(
        "ai-service",
        OPENAI_BASE_URL=fake.url,
        OPENAI_API_KEY=fake.api_key,
        OPENAI_TIMEOUT_SECONDS="1",
        OPENAI_BUDGET_SECONDS="2",
        **trusting(users),
    )
    challenges = start_challenges(service_process, users, agent.url)
    # Port 9 (discard): no server there, and none of the harness can take it meanwhile.
    gone = start_challenges(service_process, users, "http://127.0.0.1:9")
    user = f"cy-{uuid.uuid4().hex[:8]}"
    headers = issuer.headers(user, SCOPES)
    # What gamification-service and user-service announce: the player is level 12 and lives
    # in Tokyo. The generated challenge is made for that level; its days are Tokyo's.
    level = LevelUp(user_id=user, level=12, previous_level=11, xp=11_200, xp_to_next_level=800)
    with Redis(port=redis_server.port, decode_responses=True) as redis:
        for stream, event in (
            (GAMIFICATION.name, level),
            (USERS.name, UserUpdated(time_zone="Asia/Tokyo")),
        ):
            envelope = event_envelope(event, source="test", user_id=user)
            redis.xadd(stream, {"envelope": envelope.encode()})
        wait_for(
            lambda: handled(redis, GAMIFICATION.name, USERS.name),
            timeout=60,
            what="the level and the zone handled",
        )
    with challenges.client(headers) as client:
        made = client.post(f"{BASE}/generate", json={"kind": "streak"})
        assert made.status_code == 201, made.text
        body = made.json()
        assert (body["answered_by"], body["goal"]["metric"]) == ("fallback", "streak_days")
        # Level 12 with no difficulty asked: hard (level 1 would be easy: 3 days, 100 points),
        # 7 days + 1 for the level, 500 points + 11 %.
        assert (body["difficulty"], body["goal"]["target"], body["reward_points"]) == (
            "hard",
            8,
            555,
        )
        accepted = client.post(f"{BASE}/{body['id']}/accept").json()
        assert (accepted["status"], accepted["players"][0]["time_zone"]) == ("active", "Asia/Tokyo")
    with gone.client(headers) as client:
        down = client.post(f"{BASE}/generate", json={"kind": "solo"})
        assert down.status_code == 503, down.text
        assert down.headers["content-type"].startswith("application/problem+json")
        assert int(down.headers["retry-after"]) > 0
        assert client.get(BASE, params={"status": "available"}).json() == []
        assert client.get(BASE).status_code == 200
        assert httpx.get(f"{gone.url}/health", timeout=10).status_code == 200
