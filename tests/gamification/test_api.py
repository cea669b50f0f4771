"""The HTTP API through the real app (kit middleware, auth, lifespan, workers) against real
FerretDB and Redis: happy paths, every kind of bad input (4xx, nothing written), ratings,
leaderboards and admin routes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from deepiri_kit.contracts.gamification import RATING_CHANGED
from deepiri_kit.events import EventBus, new_event
from deepiri_kit.idempotency import record_id
from gamification_service.domain.wallet import Draft
from gamification_service.service import Gamification
from support.gamification import handlers, task_event
from support.streams import published
from support.tokens import TokenIssuer
from support.waiting import eventually

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

API = "/api/gamification"
Client = httpx.AsyncClient


def user(
    issuer: TokenIssuer, name: str, scopes: str = "gamification:read gamification:write"
) -> dict[str, str]:
    return issuer.headers(name, scopes)


def service(issuer: TokenIssuer, scopes: str = "ratings:write") -> dict[str, str]:
    return issuer.headers("challenge-service", scopes, client_id="challenge-service")


async def grant(game: Gamification, name: str, **amounts: int) -> None:
    """Credit a wallet the way production does: through the ledger (a grant entry)."""
    await game.wallets.record(
        name,
        Draft(key=f"grant:{name}:{sorted(amounts.items())}", kind="grant", amounts=amounts),
        award=False,
    )


async def ledger_size(game: Gamification, name: str) -> int:
    return int(await game.wallets.ledger.entries.count_documents({"user_id": name}))


async def test_auth_is_required_and_scopes_are_checked(client: Client, issuer: TokenIssuer) -> None:
    assert (await client.get(f"{API}/wallet")).status_code == 401
    r = await client.get(f"{API}/wallet", headers=issuer.headers("a", "tasks:read"))
    assert r.status_code == 403
    assert r.headers["content-type"].startswith("application/problem+json")
    r = await client.post(
        f"{API}/wallet/spend",
        json={"currency": "coins", "amount": 1, "reason": "x"},
        headers=issuer.headers("a", "gamification:read"),
    )
    assert r.status_code == 403
    r = await client.post(f"{API}/admin/leaderboards/rebuild", headers=user(issuer, "a"))
    assert r.status_code == 403


async def test_wallet_starts_full_of_energy_and_at_level_one(
    client: Client, issuer: TokenIssuer
) -> None:
    body = (await client.get(f"{API}/wallet", headers=user(issuer, "new"))).json()
    assert body["balances"] == {
        "xp": 0,
        "coins": 0,
        "gems": 0,
        "energy": 100,
        "tokens": 0,
        "stars": 0,
    }
    assert body["energy"] == {"value": 100, "max": 100, "next_point_at": None, "full_at": None}
    assert body["level"]["level"] == 1
    level = (await client.get(f"{API}/level", headers=user(issuer, "new"))).json()
    assert level == {
        "level": 1,
        "xp": 0,
        "xp_into_level": 0,
        "xp_for_next_level": 100,
        "xp_to_next_level": 100,
        "progress": 0.0,
    }


async def test_spend_debits_and_records_a_ledger_entry(
    client: Client, game: Gamification, issuer: TokenIssuer
) -> None:
    await grant(game, "sam", coins=100)
    r = await client.post(
        f"{API}/wallet/spend",
        json={"currency": "coins", "amount": 40, "reason": "a hat"},
        headers=user(issuer, "sam"),
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["balances"]["coins"] == 60
    assert body["entry"]["amounts"] == {"coins": -40}
    assert body["entry"]["status"] == "applied"
    energy = await client.post(
        f"{API}/wallet/spend",
        json={"currency": "energy", "amount": 30, "reason": "boost"},
        headers=user(issuer, "sam"),
    )
    assert energy.status_code == 201
    wallet = (await client.get(f"{API}/wallet", headers=user(issuer, "sam"))).json()
    assert wallet["energy"]["value"] == 70
    assert wallet["energy"]["next_point_at"] is not None
    assert wallet["energy"]["full_at"] is not None


async def test_insufficient_funds_is_409_and_writes_nothing(
    client: Client, game: Gamification, issuer: TokenIssuer
) -> None:
    await grant(game, "tia", coins=10)
    before = await ledger_size(game, "tia")
    r = await client.post(
        f"{API}/wallet/spend",
        json={"currency": "coins", "amount": 11, "reason": "x"},
        headers=user(issuer, "tia"),
    )
    assert r.status_code == 409
    assert r.json()["available"] == 10
    assert r.json()["needed"] == 11
    assert await ledger_size(game, "tia") == before


@pytest.mark.parametrize(
    ("body", "status"),
    [
        # Currencies and amount bounds are in the schema (enum, minimum, maximum): 400.
        ({"currency": "doubloons", "amount": 1, "reason": "x"}, 400),
        ({"currency": "xp", "amount": 1, "reason": "x"}, 400),
        ({"currency": "coins", "amount": 0, "reason": "x"}, 400),
        ({"currency": "coins", "amount": -5, "reason": "x"}, 400),
        ({"currency": "coins", "amount": 1_000_001, "reason": "x"}, 400),
        ({"currency": "coins", "amount": 1.5, "reason": "x"}, 400),
        # Strict decoding: what the schema calls an integer is a JSON integer.
        ({"currency": "coins", "amount": "5", "reason": "x"}, 400),
        ({"currency": "coins", "amount": 2.0, "reason": "x"}, 400),
        ({"currency": "coins", "amount": True, "reason": "x"}, 400),
        ({"currency": "coins", "amount": 1, "reason": ""}, 400),
        ({"currency": "coins", "amount": 1}, 400),
        ({"currency": "coins", "amount": 1, "reason": "x", "user_id": "victim"}, 400),
        ({"currency": {"$gt": ""}, "amount": 1, "reason": "x"}, 400),
    ],
)
async def test_bad_spends_are_4xx_and_write_nothing(
    client: Client, game: Gamification, issuer: TokenIssuer, body: dict[str, Any], status: int
) -> None:
    await grant(game, "uma", coins=100)
    before = await ledger_size(game, "uma")
    r = await client.post(f"{API}/wallet/spend", json=body, headers=user(issuer, "uma"))
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert await ledger_size(game, "uma") == before
    assert (await client.get(f"{API}/wallet", headers=user(issuer, "uma"))).json()["balances"][
        "coins"
    ] == 100


async def test_nobody_can_spend_someone_elses_money(
    client: Client, game: Gamification, issuer: TokenIssuer
) -> None:
    await grant(game, "victim", coins=100)
    r = await client.post(
        f"{API}/wallet/spend",
        json={"currency": "coins", "amount": 50, "reason": "x"},
        headers=user(issuer, "thief"),
    )
    assert r.status_code == 409  # the thief's own (empty) wallet
    assert (await client.get(f"{API}/wallet", headers=user(issuer, "victim"))).json()["balances"][
        "coins"
    ] == 100


async def test_idempotency_key_makes_a_spend_happen_once(
    client: Client, game: Gamification, issuer: TokenIssuer
) -> None:
    await grant(game, "val", coins=100)
    headers = {**user(issuer, "val"), "Idempotency-Key": "spend-1"}
    body = {"currency": "coins", "amount": 30, "reason": "once"}
    first = await client.post(f"{API}/wallet/spend", json=body, headers=headers)
    second = await client.post(f"{API}/wallet/spend", json=body, headers=headers)
    assert first.status_code == second.status_code == 201
    assert second.headers.get("idempotent-replayed") == "true"
    assert first.json()["entry"]["id"] == second.json()["entry"]["id"]
    assert (await client.get(f"{API}/wallet", headers=user(issuer, "val"))).json()["balances"][
        "coins"
    ] == 70


KEYED_WRITES = {
    "spend": ("/wallet/spend", {"currency": "coins", "amount": 30, "reason": "hat"}),
    "convert": ("/wallet/convert", {"from": "coins", "to": "gems", "amount": 100}),
    "match": (
        "/ratings/matches",
        {
            "match_id": "lost-answer",
            "category": "coding",
            "teams": [{"members": ["kai"], "rank": 1}, {"members": ["lev"], "rank": 2}],
        },
    ),
}


@pytest.mark.parametrize("write", sorted(KEYED_WRITES))
async def test_a_keyed_write_whose_answer_was_lost_is_never_run_again(
    client: Client, game: Gamification, issuer: TokenIssuer, mongo: Any, write: str
) -> None:
    """Every keyed write stamps the document that commits it (issue 8, item 3): a retry that
    takes over the key of a process that died after the commit is told so, not run again."""
    await grant(game, "kai", coins=1000)
    path, body = KEYED_WRITES[write]
    caller = "challenge-service" if write == "match" else "kai"
    headers = {
        **(service(issuer) if write == "match" else user(issuer, "kai")),
        "Idempotency-Key": f"lost-{write}",
    }
    first = await client.post(f"{API}{path}", json=body, headers=headers)
    assert first.status_code == 201, first.text
    entries = await ledger_size(game, "kai")
    # The process died after committing, before finalising: the record is still in flight,
    # long past the abandonment age (60 s) and well within retention.
    await mongo["idempotency_keys"].update_one(
        {"_id": record_id(caller, f"lost-{write}")},
        {"$set": {"status": None, "created_at": datetime.now(UTC) - timedelta(minutes=10)}},
    )
    for _ in range(2):
        again = await client.post(f"{API}{path}", json=body, headers=headers)
        assert again.status_code == 409, again.text
        assert again.json()["type"].endswith("/idempotency-key-applied")
    assert await ledger_size(game, "kai") == entries
    assert await mongo["matches"].count_documents({}) == (1 if write == "match" else 0)


async def test_idempotency_keys_of_different_callers_never_meet(
    client: Client, game: Gamification, issuer: TokenIssuer
) -> None:
    """Subject "ux:a" with key "k" and subject "ux" with key "a:k" joined with ":" are the same
    string: each must still get its own spend, and never the other's balances."""
    for name in ("ux", "ux:a"):
        await grant(game, name, coins=100)
    body = {"currency": "coins", "amount": 30, "reason": "mine"}
    first = await client.post(
        f"{API}/wallet/spend", json=body, headers={**user(issuer, "ux"), "Idempotency-Key": "a:k"}
    )
    second = await client.post(
        f"{API}/wallet/spend", json=body, headers={**user(issuer, "ux:a"), "Idempotency-Key": "k"}
    )
    assert first.status_code == second.status_code == 201, second.text
    assert "idempotent-replayed" not in second.headers
    assert first.json()["entry"]["id"] != second.json()["entry"]["id"]
    for name in ("ux", "ux:a"):
        wallet = (await client.get(f"{API}/wallet", headers=user(issuer, name))).json()
        assert wallet["balances"]["coins"] == 70, name


async def test_convert_is_one_atomic_entry(
    client: Client, game: Gamification, issuer: TokenIssuer
) -> None:
    await grant(game, "wes", coins=350)
    h = user(issuer, "wes")
    r = await client.post(
        f"{API}/wallet/convert", json={"from": "coins", "to": "gems", "amount": 300}, headers=h
    )
    assert r.status_code == 201, r.text
    assert r.json()["entry"]["amounts"] == {"coins": -300, "gems": 3}
    assert r.json()["balances"]["coins"] == 50
    assert r.json()["balances"]["gems"] == 3
    before = await ledger_size(game, "wes")
    for body, status in [
        ({"from": "coins", "to": "gems", "amount": 150}, 422),  # not a multiple of the rate
        ({"from": "coins", "to": "stars", "amount": 100}, 422),  # no such rate
        ({"from": "xp", "to": "gems", "amount": 100}, 400),  # xp is not in the schema's enum
        ({"from": "coins", "to": "gems", "amount": 100}, 409),  # only 50 left
        ({"from": "coins", "to": "gems"}, 400),
    ]:
        r = await client.post(f"{API}/wallet/convert", json=body, headers=h)
        assert r.status_code == status, (body, r.text)
    assert await ledger_size(game, "wes") == before
    rates = (await client.get(f"{API}/wallet/rates", headers=h)).json()
    assert {"from": "coins", "to": "gems", "give": 100, "get": 1} in rates


async def test_ledger_pages_newest_first_and_filters_by_currency(
    client: Client, game: Gamification, issuer: TokenIssuer
) -> None:
    for i in range(5):
        await grant(game, "xia", coins=10 + i)
    await grant(game, "xia", gems=1)
    h = user(issuer, "xia")
    page = (await client.get(f"{API}/wallet/ledger?limit=4", headers=h)).json()
    assert [e["seq"] for e in page["items"]] == [6, 5, 4, 3]
    rest = (
        await client.get(f"{API}/wallet/ledger?limit=4&cursor={page['next_cursor']}", headers=h)
    ).json()
    assert [e["seq"] for e in rest["items"]] == [2, 1]
    assert rest["next_cursor"] is None
    gems = (await client.get(f"{API}/wallet/ledger?currency=gems", headers=h)).json()
    assert [e["amounts"] for e in gems["items"]] == [{"gems": 1}]
    assert (await client.get(f"{API}/wallet/ledger?cursor=garbage", headers=h)).status_code == 400
    assert (
        await client.get(f"{API}/wallet/ledger?currency=doubloons", headers=h)
    ).status_code == 400
    assert (await client.get(f"{API}/wallet/ledger?limit=1000", headers=h)).status_code == 400


async def test_task_completion_flows_through_the_consumer(
    client: Client, issuer: TokenIssuer, redis: Any
) -> None:
    h = user(issuer, "yan")
    bus = EventBus(redis)
    for _ in range(3):
        await bus.publish("events.tasks", task_event("yan", difficulty="hard", on_time=True))
    await bus.publish(
        "events.tasks",
        new_event("task.created", source="task-service", user_id="yan", data={"task_id": "x"}),
    )

    async def credited() -> bool:
        # Badges are awarded after the credit that earns them: wait for those too.
        xp = (await client.get(f"{API}/wallet", headers=h)).json()["balances"]["xp"]
        mine = (await client.get(f"{API}/badges/me", headers=h)).json()
        return xp >= 144 and {e["badge"]["id"] for e in mine["earned"]} >= {"tasks-1", "hard-1"}

    await eventually(credited)
    wallet = (await client.get(f"{API}/wallet", headers=h)).json()
    assert wallet["level"]["level"] == 2
    mine = (await client.get(f"{API}/badges/me", headers=h)).json()
    assert {e["badge"]["id"] for e in mine["earned"]} >= {"tasks-1", "hard-1"}
    progress = {p["badge"]["id"]: p for p in mine["progress"]}
    assert progress["tasks-10"]["current"] == 3
    assert progress["tasks-10"]["progress"] == 0.3
    assert all(not p["badge"]["secret"] for p in mine["progress"])
    # All time: a run across Sunday midnight has the credits on last week's board.
    board = (await client.get(f"{API}/leaderboards/xp", headers=h)).json()
    assert board["entries"][0]["user_id"] == "yan"


async def test_secret_badges_are_hidden_until_earned(client: Client, issuer: TokenIssuer) -> None:
    catalog = (await client.get(f"{API}/badges", headers=user(issuer, "zed"))).json()
    assert len(catalog["badges"]) >= 30
    assert not any(b["secret"] for b in catalog["badges"])
    assert catalog["hidden_secret_badges"] >= 1


async def test_leaderboards_order_ties_by_user_id_and_show_no_pii(
    client: Client, game: Gamification, issuer: TokenIssuer, redis: Any
) -> None:
    for name, coins in [("u3", 50), ("u1", 50), ("u2", 70), ("u4", 10), ("u5", 30)]:
        await game.wallets.record(
            name,
            Draft(key=f"g:{name}", kind="grant", amounts={"coins": coins}),
            award=False,
        )
    await handlers(game).users(
        new_event(
            "user.updated",
            source="user-service",
            user_id="u1",
            data={"display_name": "One", "email": "one@example.com"},
        )
    )
    h = user(issuer, "u4")
    top = (await client.get(f"{API}/leaderboards/coins?limit=3", headers=h)).json()
    assert [(e["rank"], e["user_id"], e["value"]) for e in top["entries"]] == [
        (1, "u2", 70.0),
        (2, "u1", 50.0),
        (3, "u3", 50.0),
    ]
    assert top["total"] == 5
    assert top["entries"][1]["display_name"] == "One"
    assert "example.com" not in str(top)
    around = (await client.get(f"{API}/leaderboards/coins/me?window=1", headers=h)).json()
    assert around["me"] == {"rank": 5, "user_id": "u4", "display_name": None, "value": 10.0}
    assert [e["user_id"] for e in around["entries"]] == ["u5", "u4"]
    nobody = (
        await client.get(f"{API}/leaderboards/coins/me", headers=user(issuer, "ghost"))
    ).json()
    assert nobody["me"] is None
    for path, status in [
        ("/leaderboards/gold", 422),  # an unknown value, wherever it appears
        ("/leaderboards/xp?period=year", 400),
        ("/leaderboards/xp?period=week&period_key=2026-13", 422),  # a month's key
        ("/leaderboards/xp?period=week&period_key=W13", 400),  # no period's key
        ("/leaderboards/xp?limit=0", 400),
        ("/leaderboards/xp?limit=101", 400),
        ("/leaderboards/xp/me?window=51", 400),
    ]:
        assert (await client.get(API + path, headers=h)).status_code == status, path
    past = await client.get(f"{API}/leaderboards/xp?period=week&period_key=2020-W01", headers=h)
    assert past.json()["entries"] == []


async def test_matches_are_for_services_only(client: Client, issuer: TokenIssuer) -> None:
    body = {
        "match_id": "m0",
        "category": "coding",
        "teams": [{"members": ["a"], "rank": 1}, {"members": ["b"], "rank": 2}],
    }
    assert (
        await client.post(
            f"{API}/ratings/matches", json=body, headers=user(issuer, "a", "ratings:write")
        )
    ).status_code == 403
    assert (
        await client.post(
            f"{API}/ratings/matches", json=body, headers=service(issuer, "gamification:write")
        )
    ).status_code == 403


async def test_a_duel_uses_elo_and_replays_idempotently(
    client: Client, game: Gamification, issuer: TokenIssuer, redis: Any
) -> None:
    body = {
        "match_id": "m1",
        "category": "coding",
        "teams": [{"members": ["ann"], "rank": 1}, {"members": ["ben"], "rank": 2}],
    }
    first = await client.post(f"{API}/ratings/matches", json=body, headers=service(issuer))
    assert first.status_code == 201, first.text
    results = {r["user_id"]: r for r in first.json()["results"]}
    assert results["ann"]["method"] == "elo"
    assert results["ann"]["delta"] == 16.0
    assert results["ben"]["delta"] == -16.0
    replay = await client.post(f"{API}/ratings/matches", json=body, headers=service(issuer))
    assert replay.status_code == 200
    assert replay.json()["replayed"] is True
    assert replay.json()["results"] == first.json()["results"]
    other = {**body, "teams": [{"members": ["ann"], "rank": 2}, {"members": ["ben"], "rank": 1}]}
    assert (
        await client.post(f"{API}/ratings/matches", json=other, headers=service(issuer))
    ).status_code == 409

    ann = (await client.get(f"{API}/ratings/coding/me", headers=user(issuer, "ann"))).json()
    assert (ann["rating"], ann["peak"], ann["wins"], ann["losses"], ann["matches"]) == (
        1516.0,
        1516.0,
        1,
        0,
        1,
    )
    assert ann["rank"] == 1
    ben = (await client.get(f"{API}/ratings/coding/me", headers=user(issuer, "ben"))).json()
    assert (ben["rating"], ben["peak"], ben["losses"], ben["win_streak"]) == (1484.0, 1500.0, 1, 0)
    history = (
        await client.get(f"{API}/ratings/coding/history", headers=user(issuer, "ben"))
    ).json()
    assert [(h["match_id"], h["before"], h["after"], h["result"]) for h in history["items"]] == [
        ("m1", 1500.0, 1484.0, "loss")
    ]
    opponents = (
        await client.get(f"{API}/ratings/coding/opponents", headers=user(issuer, "ben"))
    ).json()
    assert [o["user_id"] for o in opponents["opponents"]] == ["ann"]
    assert opponents["low"] == 1284.0
    board = (
        await client.get(
            # All time: a run at midnight has the match on one day's board, the read on the next.
            f"{API}/leaderboards/rating-coding?period=all",
            headers=user(issuer, "ben"),
        )
    ).json()
    assert [(e["user_id"], e["value"]) for e in board["entries"]] == [
        ("ann", 1516.0),
        ("ben", 1484.0),
    ]
    wallet = await game.wallets.state("ann")
    assert "wins-1" in wallet.badges  # rating badges are awarded too

    async def changed() -> bool:
        return len(await published(redis, "events.gamification", RATING_CHANGED)) == 2

    await eventually(changed)


async def test_free_for_all_and_team_matches_use_openskill(
    client: Client, issuer: TokenIssuer
) -> None:
    ffa = {
        "match_id": "m2",
        "category": "study",
        "teams": [
            {"members": [u], "rank": r} for u, r in (("p1", 1), ("p2", 2), ("p3", 2), ("p4", 4))
        ],
    }
    r = await client.post(f"{API}/ratings/matches", json=ffa, headers=service(issuer))
    assert r.status_code == 201
    res = {x["user_id"]: x for x in r.json()["results"]}
    assert {x["method"] for x in res.values()} == {"openskill"}
    assert res["p1"]["delta"] > 0 > res["p4"]["delta"]
    assert res["p2"]["delta"] == res["p3"]["delta"]
    teams = {
        "match_id": "m3",
        "category": "social",
        "teams": [{"members": ["t1", "t2"], "rank": 1}, {"members": ["t3", "t4"], "rank": 1}],
    }
    r = await client.post(f"{API}/ratings/matches", json=teams, headers=service(issuer))
    assert {x["result"] for x in r.json()["results"]} == {"draw"}


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (
            {
                "match_id": "x",
                "category": "chess",
                "teams": [{"members": ["a"], "rank": 1}, {"members": ["b"], "rank": 2}],
            },
            422,
        ),
        (
            {
                "match_id": "x",
                "category": "coding",
                "teams": [{"members": ["a"], "rank": 1}, {"members": ["a"], "rank": 2}],
            },
            422,
        ),
        ({"match_id": "x", "category": "coding", "teams": [{"members": ["a"], "rank": 1}]}, 400),
        (
            {
                "match_id": "x",
                "category": "coding",
                "teams": [{"members": [], "rank": 1}, {"members": ["b"], "rank": 2}],
            },
            400,
        ),
        (
            {
                "match_id": "x",
                "category": "coding",
                "teams": [{"members": ["a"], "rank": 0}, {"members": ["b"], "rank": 2}],
            },
            400,
        ),
        (
            {
                "match_id": "",
                "category": "coding",
                "teams": [{"members": ["a"], "rank": 1}, {"members": ["b"], "rank": 2}],
            },
            400,
        ),
    ],
)
async def test_invalid_matches_write_nothing(
    client: Client, game: Gamification, issuer: TokenIssuer, body: dict[str, Any], status: int
) -> None:
    r = await client.post(f"{API}/ratings/matches", json=body, headers=service(issuer))
    assert r.status_code == status, r.text
    state = game.ratings.store
    assert await state.matches.count_documents({}) == 0
    assert await state.ratings.count_documents({}) == 0


async def test_an_unknown_rating_category_is_422_everywhere(
    client: Client, issuer: TokenIssuer
) -> None:
    """The same mistake gets the same status in path and body (and in every service)."""
    for path in ("/ratings/chess/me", "/ratings/chess/history", "/ratings/chess/opponents"):
        r = await client.get(API + path, headers=user(issuer, "a"))
        assert r.status_code == 422, path
        assert r.headers["content-type"].startswith("application/problem+json")


async def test_admin_rebuild_and_reconcile(
    client: Client, game: Gamification, issuer: TokenIssuer, redis: Any
) -> None:
    await grant(game, "ada", coins=5, xp=120)
    admin = issuer.headers("ops", "gamification:admin")
    await redis.delete("lb:xp:all")
    r = await client.post(f"{API}/admin/leaderboards/rebuild", headers=admin)
    assert r.status_code == 200
    assert r.json()["boards"]["lb:xp:all"] == 1
    assert await redis.zscore("lb:xp:all", "ada") == -120
    r = await client.post(f"{API}/admin/reconcile", json={"user_ids": ["ada"]}, headers=admin)
    [report] = r.json()["reports"]
    assert report["consistent"] is True
    assert report["balanced"] is True
    assert report["balances"]["xp"] == report["ledger_sums"]["xp"] == 120
    r = await client.post(f"{API}/admin/badges/backfill", headers=admin)
    assert r.json()["wallets"] >= 1


async def test_openapi_document_is_served(client: Client) -> None:
    r = await client.get(f"{API}/schema/openapi.json")
    assert r.status_code == 200
    paths = r.json()["paths"]
    assert f"{API}/wallet/spend" in paths
    assert f"{API}/leaderboards/{{metric}}/me" in paths


@pytest.mark.parametrize(
    ("period", "key", "status"),
    [
        # Well-formed (the schema's pattern) but no period the calendar can hold: 422.
        ("day", "9999-12-31", 422),  # its end is past the last representable day
        ("week", "9999-W52", 422),
        ("month", "9999-12", 422),
        ("day", "0000-01-01", 422),
        ("week", "2026-W54", 422),
        ("month", "2026-13", 422),
        # Malformed: no period's key at all, so the schema already refuses it: 400.
        ("day", "2026-1-1", 400),
        ("week", "¶", 400),
    ],
)
async def test_period_keys_at_the_edge_of_the_calendar_are_4xx(
    client: Client, issuer: TokenIssuer, period: str, key: str, status: int
) -> None:
    h = user(issuer, "zed")
    for path in ("leaderboards/xp", "leaderboards/xp/me"):
        r = await client.get(
            f"{API}/{path}", params={"period": period, "period_key": key}, headers=h
        )
        assert r.status_code == status, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
