"""Exactly-once crediting against real FerretDB and Redis: duplicates, concurrency, crashes,
reconciliation, Redis outages, events, badges and leaderboard rebuilds."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from deepiri_kit import Platform
from deepiri_kit.contracts import ContractError
from deepiri_kit.contracts import gamification as announced
from deepiri_kit.events import Consumer, Envelope, EventBus, RedisInbox, new_event
from deepiri_kit.tracing import tracer
from gamification_service.app import build
from gamification_service.domain import badges as badge_rules
from gamification_service.domain.catalog import RAW
from gamification_service.domain.wallet import Draft
from gamification_service.events.consume import GROUP, TASKS
from gamification_service.service import Gamification, Wallets
from gamification_service.settings import GamificationSettings
from gamification_service.store.boards import board_key
from gamification_service.workers import Maintenance
from infra import RedisServer
from support.gamification import handlers, task_event
from support.streams import published as every_event
from support.waiting import eventually

pytestmark = [pytest.mark.integration, pytest.mark.anyio]


async def ledger_sum(game: Gamification, user: str, currency: str) -> int:
    """The sum of the user's applied ledger amounts (outcomes are kept with the snapshots)."""
    docs = await game.wallets.ledger.entries.find({"user_id": user}).to_list()
    outcomes = await game.wallets.outcomes(user, [d["seq"] for d in docs])
    return sum(d["amounts"].get(currency, 0) for d in docs if outcomes.get(d["seq"]) == "applied")


async def unapplied(game: Gamification, user: str) -> int:
    """Ledger entries the user's wallet has not applied yet."""
    state = await game.wallets.state(user)
    return await game.wallets.ledger.entries.count_documents(
        {"user_id": user, "seq": {"$gt": state.seq}}
    )


async def undelivered(game: Gamification) -> int:
    """Snapshots whose events and board update have not gone out yet."""
    return len(await game.wallets.snapshots.chain.undelivered())


async def task_entries(game: Gamification, user: str) -> int:
    return await game.wallets.ledger.entries.count_documents({"user_id": user, "kind": "task"})


async def published(redis: Any, type_: str | None = None) -> list[Envelope]:
    """What went out on events.gamification; every event must match its kit contract."""
    events = await every_event(redis, "events.gamification", type_)
    for event in events:
        announced.STREAM.decode(event)
    return events


@contextlib.asynccontextmanager
async def second_process(settings: GamificationSettings) -> AsyncIterator[Gamification]:
    """Another replica: its own MongoDB and Redis clients."""
    platform = await Platform.open(settings)
    try:
        yield await build(platform, prepare=False)
    finally:
        await platform.close()


async def test_a_redelivered_event_credits_once(game: Gamification, redis: Any) -> None:
    event = task_event("alice", difficulty="hard", on_time=True)
    for _ in range(3):
        await handlers(game).tasks(event)
    state = await game.wallets.state("alice")
    assert await task_entries(game, "alice") == 1
    assert state.balances["xp"] == 48  # 40 x 1.2 once
    assert state.stats["tasks_completed"] == 1
    assert len(await published(redis, "gamification.currency_credited")) >= 1
    report = await game.wallets.reconcile("alice")
    assert report.consistent
    assert report.balanced


async def test_concurrent_duplicate_and_distinct_deliveries_across_replicas(
    game: Gamification, settings: GamificationSettings, redis: Any
) -> None:
    duplicate = task_event("bob", difficulty="easy")
    distinct = [task_event("bob", difficulty="medium") for _ in range(8)]
    async with second_process(settings) as other:
        calls = [handlers(s).tasks(duplicate) for s in (game, other) for _ in range(5)]
        calls += [handlers(game if i % 2 else other).tasks(e) for i, e in enumerate(distinct)]
        await asyncio.gather(*calls)
    assert await task_entries(game, "bob") == 9
    state = await game.wallets.state("bob")
    assert state.stats["tasks_completed"] == 9
    for currency in ("xp", "coins", "gems", "stars"):
        assert state.balances[currency] == await ledger_sum(game, "bob", currency)
    assert await unapplied(game, "bob") == 0
    assert (await game.wallets.reconcile("bob")).consistent
    # Each entry was applied by exactly one replica: its events went out once.
    keys = [e.data["entry_key"] for e in await published(redis, "gamification.currency_credited")]
    assert (
        len(keys)
        == len(set(keys))
        == await game.wallets.ledger.entries.count_documents(
            {"user_id": "bob", "amounts.coins": {"$gt": 0}}
        )
    )


async def test_duplicates_through_the_real_bus_with_two_consumers(
    game: Gamification, redis: Any
) -> None:
    bus = EventBus(redis)
    event = task_event("carol", difficulty="medium")
    for _ in range(4):  # a producer's outbox relay re-publishing, say
        await bus.publish(TASKS, event)
    consumers = [
        Consumer(
            redis,
            group=GROUP,
            handlers={TASKS: handlers(game).tasks},
            inbox=RedisInbox(redis),
            name=f"c{i}",
            block_ms=50,
        )
        for i in range(2)
    ]
    stop = asyncio.Event()
    tasks = [asyncio.create_task(c.run(stop)) for c in consumers]
    try:

        async def acked() -> bool:
            info = await redis.xinfo_groups(TASKS)
            return bool(info) and info[0]["pending"] == 0 and info[0]["lag"] == 0

        await eventually(acked)
    finally:
        stop.set()
        await asyncio.gather(*tasks)
    assert await task_entries(game, "carol") == 1
    assert (await game.wallets.state("carol")).balances["xp"] == 20


async def test_crash_between_ledger_write_and_wallet_update_is_reconciled(
    game: Gamification,
) -> None:
    await handlers(game).tasks(task_event("dave", difficulty="hard"))
    before = await game.wallets.state("dave")
    # The process dies right after the ledger insert: the entry exists, the wallet lags.
    await game.wallets.ledger.append(
        "dave", Draft(key="grant:dave:1", kind="grant", amounts={"coins": 500, "gems": 3})
    )
    stale = await game.wallets.state("dave")
    assert stale.balances == before.balances
    assert await unapplied(game, "dave") == 1

    report = await game.wallets.reconcile("dave")
    assert not report.consistent
    assert report.repaired
    after = await game.wallets.state("dave")
    assert after.balances["coins"] == before.balances["coins"] + 500
    assert after.balances["gems"] == before.balances["gems"] + 3
    for currency in ("xp", "coins", "gems", "tokens", "stars"):
        assert after.balances[currency] == await ledger_sum(game, "dave", currency)
    assert report.balanced
    assert report.balances == report.ledger_sums
    assert await unapplied(game, "dave") == 0
    # Reconciling again changes nothing: nothing is applied twice.
    again = await game.wallets.reconcile("dave")
    assert again.consistent
    assert (await game.wallets.state("dave")).balances == after.balances


async def test_the_maintenance_worker_finishes_crashed_writes_on_its_own(
    game: Gamification, settings: GamificationSettings
) -> None:
    await game.wallets.ledger.append(
        "erin", Draft(key="grant:erin:1", kind="grant", amounts={"coins": 70})
    )
    worker = Maintenance(game)
    await worker.once(min_age=0)
    assert (await game.wallets.state("erin")).balances["coins"] == 70


async def test_a_crash_before_delivery_applies_nothing_twice_and_delivers_later(
    game: Gamification, settings: GamificationSettings, redis: Any
) -> None:
    await handlers(game).tasks(task_event("fay", difficulty="medium"))
    # The process died after its snapshot was written but before its events went out.
    await game.wallets.snapshots.chain.delivered.delete_many({})
    await redis.delete("events.gamification")
    before = await game.wallets.state("fay")
    state, results = await game.wallets.catch_up("fay")
    assert results == {}
    assert state.balances == before.balances
    assert (await game.wallets.reconcile("fay")).consistent
    assert await undelivered(game) > 0
    async with second_process(settings) as restarted:  # what the next process finds
        await restarted.wallets.snapshots.chain.sweep(min_age=0)
    assert await undelivered(game) == 0
    credited = await published(redis, "gamification.currency_credited")
    assert len(credited) == len({e.data["entry_key"] for e in credited}) > 0
    outcomes = await game.wallets.outcomes("fay", list(range(1, state.seq + 1)))
    assert set(outcomes.values()) == {"applied"}


async def test_a_corrupted_wallet_is_rewritten_from_its_ledger(game: Gamification) -> None:
    await handlers(game).tasks(task_event("gus", difficulty="medium"))
    head = await game.wallets.snapshots.head("gus")
    assert head is not None
    await game.wallets.snapshots.states.update_one(
        {"_id": head["_id"]}, {"$set": {"state.balances.coins": 999_999}}
    )
    report = await game.wallets.reconcile("gus")
    assert not report.consistent
    assert report.repaired
    assert (await game.wallets.state("gus")).balances["coins"] == await ledger_sum(
        game, "gus", "coins"
    )


async def test_concurrent_spends_never_overdraw(
    game: Gamification, settings: GamificationSettings
) -> None:
    await game.wallets.record(
        "hal", Draft(key="grant:hal", kind="grant", amounts={"coins": 100}), award=False
    )
    async with second_process(settings) as other:
        results = await asyncio.gather(
            *(
                (game if i % 2 else other).wallets.record(
                    "hal",
                    Draft(key=f"spend:hal:{i}", kind="spend", amounts={"coins": -30}),
                    award=False,
                )
                for i in range(10)
            )
        )
    outcomes = sorted(r.outcome for r in results)
    assert outcomes == ["applied"] * 3 + ["rejected"] * 7
    state = await game.wallets.state("hal")
    assert state.balances["coins"] == 10
    assert state.balances["coins"] == await ledger_sum(game, "hal", "coins")
    assert (await game.wallets.reconcile("hal")).consistent


async def test_level_up_badge_and_currency_events_are_published(
    game: Gamification, redis: Any
) -> None:
    for _ in range(4):
        await handlers(game).tasks(task_event("ivy", difficulty="hard", on_time=True))
    state = await game.wallets.state("ivy")
    assert state.level == 2
    level_ups = await published(redis, "gamification.level_up")
    assert [(e.user_id, e.data["level"], e.data["previous_level"]) for e in level_ups] == [
        ("ivy", 2, 1)
    ]
    badges = await published(redis, "gamification.badge_awarded")
    assert {e.data["badge_id"] for e in badges} >= {"tasks-1", "hard-1"}
    assert all(e.data["user_id"] == "ivy" and e.data["rarity"] for e in badges)
    credited = await published(redis, "gamification.currency_credited")
    assert credited[0].data["amounts"] == {"xp": 48, "coins": 24, "stars": 1}
    assert credited[0].data["balances"]["xp"] == 48
    # A badge is awarded once, however often the rules are evaluated again.
    await game.wallets.award_badges("ivy")
    again = await published(redis, "gamification.badge_awarded")
    assert len(again) == len(badges)
    assert await undelivered(game) == 0


@pytest.mark.slow
async def test_credits_land_while_redis_is_down_and_boards_catch_up(
    game: Gamification, redis_server: RedisServer, redis: Any
) -> None:
    redis_server.stop()
    try:
        await handlers(game).tasks(task_event("jay", difficulty="hard"))
        state = await game.wallets.state("jay")
        assert state.balances["xp"] == 40  # MongoDB has it
        assert await undelivered(game) > 0  # events and boards wait in the outbox
    finally:
        redis_server.start()
    worker = Maintenance(game)

    async def caught_up() -> bool:
        with contextlib.suppress(Exception):
            await worker.once(min_age=0)
        return await redis.zscore(board_key("xp", "all", "all"), "jay") is not None

    await eventually(caught_up)
    assert await redis.zscore(board_key("xp", "all", "all"), "jay") == -40
    credited = await published(redis, "gamification.currency_credited")
    keys = [e.data["entry_key"] for e in credited]
    assert {e.user_id for e in credited} == {"jay"}
    assert len(keys) == len(set(keys))  # each published once (the task and its badges)
    assert any(k.startswith("task.completed:") for k in keys)
    assert await undelivered(game) == 0


async def test_leaderboards_are_rebuilt_from_mongodb(game: Gamification, redis: Any) -> None:
    for user, difficulty in (("kim", "hard"), ("lee", "easy"), ("max", "medium")):
        await handlers(game).tasks(task_event(user, difficulty=difficulty))
    await handlers(game).users(
        new_event(
            "user.registered",
            source="user-service",
            user_id="kim",
            data={"user_id": "kim", "display_name": "Kim", "email": "kim@example.com"},
        )
    )
    now = datetime.now(UTC)
    live = {
        key: await redis.zrange(key, 0, -1, withscores=True)
        for key in [board_key("xp", "all", "all"), board_key("coins", "week", _week(now))]
    }
    await redis.flushdb()
    counts = await game.leaderboards.rebuild(now)
    assert counts[board_key("xp", "all", "all")] == 3
    for key, standings in live.items():
        assert await redis.zrange(key, 0, -1, withscores=True) == standings
    assert await redis.hget("lb:names", "kim") == "Kim"
    assert "kim@example.com" not in str(await redis.hgetall("lb:names"))


def _week(now: datetime) -> str:
    year, week, _ = now.isocalendar()
    return f"{year}-W{week:02d}"


async def test_a_challenge_pays_once_per_user_and_challenge(game: Gamification) -> None:
    for _ in range(2):  # the same completion re-sent under a new event id
        await handlers(game).challenges(
            new_event(
                "challenge.completed",
                source="challenge-service",
                user_id="ned",
                data={
                    "challenge_id": "ch1",
                    "difficulty": "hard",
                    "points": 500,
                    "category": "coding",
                },
            )
        )
    state = await game.wallets.state("ned")
    assert state.balances["tokens"] == 3
    assert state.balances["xp"] == 500
    assert state.stats["challenges_passed"] == 1
    assert "challenges-1" in state.badges


async def test_a_new_badge_definition_is_backfilled_from_recorded_stats(
    game: Gamification, settings: GamificationSettings
) -> None:
    for _ in range(3):
        await handlers(game).tasks(task_event("oli", difficulty="trivial"))
    await game.wallets.backfill_badges()
    extended = badge_rules.load(
        [
            *RAW,
            {
                "id": "three-trivia",
                "name": "Small Steps",
                "description": "Complete 3 trivial tasks.",
                "category": "tasks",
                "rarity": "common",
                "rule": {"type": "counter", "counter": "trivial_completed", "at_least": 3},
            },
        ]
    )
    old = game.wallets
    wallets = Wallets(old.ledger, old.snapshots, old.meta, extended, ratings=old.ratings)
    assert await wallets.backfill_badges() >= 1
    assert "three-trivia" in (await wallets.state("oli")).badges
    assert await wallets.backfill_badges() == 0  # nothing new to backfill


async def test_malformed_events_fail_and_write_nothing(game: Gamification) -> None:
    bad = task_event("pam")
    broken = msgspec.structs.replace(bad, data={**bad.data, "difficulty": "legendary"})
    with pytest.raises(ContractError):
        await handlers(game).tasks(broken)
    anonymous = msgspec.structs.replace(bad, user_id=None)
    with pytest.raises(ValueError, match="no user_id"):
        await handlers(game).tasks(anonymous)
    assert await game.wallets.ledger.entries.count_documents({}) == 0


async def test_reopening_and_recompleting_a_todo_pays_nothing_new(game: Gamification) -> None:
    # task-service emits a new task.completed (new event id, new completion id) each time a
    # reopened todo is completed again; the reward belongs to the todo, not to the click.
    for _ in range(3):
        await handlers(game).tasks(task_event("rita", task_id="todo-1", kind="todo"))
    assert await task_entries(game, "rita") == 1


async def test_a_daily_pays_once_per_period(game: Gamification) -> None:
    first = task_event("sam", task_id="daily-1", kind="daily")
    again = task_event("sam", task_id="daily-1", kind="daily")
    again.data["completion_id"] = first.data["completion_id"]  # same period, re-completed
    tomorrow = task_event("sam", task_id="daily-1", kind="daily")
    for event in (first, again, tomorrow):
        await handlers(game).tasks(event)
    assert await task_entries(game, "sam") == 2


async def test_farming_the_same_habit_pays_less_and_less(game: Gamification) -> None:
    start = datetime.now(UTC) - timedelta(minutes=30)
    for i in range(10):
        await handlers(game).tasks(
            task_event(
                "quin",
                task_id="habit-1",
                kind="habit",
                habit_direction="up",
                difficulty="medium",
                completed_at=start + timedelta(seconds=i),
            )
        )
    xp = [
        d["amounts"].get("xp", 0)
        async for d in game.wallets.ledger.entries.find({"user_id": "quin", "kind": "task"}).sort(
            "seq", 1
        )
    ]
    assert xp == [20, 10, 5, 3, 1, 1, 0, 0, 0, 0]


async def test_concurrent_matches_for_the_same_players_apply_each_once(
    game: Gamification, settings: GamificationSettings, redis: Any
) -> None:
    players = ["r1", "r2", "r3"]
    matches = [
        (f"match-{i}", [([players[i % 3]], 1), ([players[(i + 1) % 3]], 2)]) for i in range(6)
    ]
    async with second_process(settings) as other:
        calls = [
            s.ratings.record_match(match_id, "coding", teams)
            for match_id, teams in matches
            for s in (game, other)  # every match posted twice, concurrently
        ]
        await asyncio.gather(*calls, return_exceptions=False)
    for user in players:
        history = (
            await game.ratings.store.history.find({"user_id": user, "category": "coding"})
            .sort("seq", 1)
            .to_list()
        )
        assert [h["seq"] for h in history] == [1, 2, 3, 4]  # 4 of the 6 duels each, once
        assert len({h["match_id"] for h in history}) == 4
        head = await game.ratings.store.get(user, "coding")
        assert head["rating"] == pytest.approx(1500 + sum(h["delta"] for h in history), abs=1e-6)
        assert head["wins"] + head["losses"] == 4
        cached = await game.ratings.store.ratings.find_one({"_id": f"{user}:coding"})
        assert cached is not None
        assert cached["version"] == 4
    changed = await published(redis, "gamification.rating_changed")
    assert len(changed) == 12
    assert len({(e.user_id, e.data["match_id"]) for e in changed}) == 12


async def test_a_match_left_half_applied_is_finished_by_the_sweep(game: Gamification) -> None:
    await game.ratings.record_match("m-crash", "study", [(["s1"], 1), (["s2"], 2)])
    # Simulate a crash after the match was recorded but before anyone was applied.
    await game.ratings.store.history.delete_many({"match_id": "m-crash"})
    await game.ratings.store.matches.update_one(
        {"_id": "m-crash"}, {"$set": {"pending": ["s1", "s2"]}}
    )
    assert (await game.ratings.store.get("s1", "study"))["matches"] == 0
    await game.ratings.sweep(older_than=0)
    assert (await game.ratings.store.get("s1", "study"))["wins"] == 1
    assert (await game.ratings.store.get("s2", "study"))["losses"] == 1
    finished = await game.ratings.store.matches.find_one({"_id": "m-crash"})
    assert finished is not None
    assert "pending" not in finished


async def test_pruned_snapshots_keep_their_id_so_a_stale_writer_cannot_fork_the_chain(
    game: Gamification, settings: GamificationSettings
) -> None:
    for _ in range(8):
        await handlers(game).tasks(task_event("rex", difficulty="easy"))
    head = await game.wallets.state("rex")
    await game.wallets.snapshots.chain.compact()  # the sweeper strips delivered outboxes first
    assert await game.wallets.snapshots.prune() > 0
    stripped = await game.wallets.snapshots.states.find_one({"_id": "rex:000000000001"})
    assert stripped is not None
    assert "state" not in stripped
    assert stripped["outcome"] == "applied"
    assert (await game.wallets.state("rex")).seq == head.seq
    # A replica still holding the wallet as it was at seq 0 tries to apply entry 1 again.
    async with second_process(settings) as stale:
        state, results = await stale.wallets.catch_up("rex", msgspec.convert({}, type=type(head)))
    assert results == {}
    assert state.seq == head.seq
    assert (await game.wallets.reconcile("rex")).consistent


async def test_a_credit_applied_by_another_writer_stays_in_the_trace_that_earned_it(
    game: Gamification, redis: Any, spans: InMemorySpanExporter
) -> None:
    """Two completions of one user handled side by side (two consumers, or a consumer and the
    maintenance worker): the one that applies the other's ledger entry announces its credit
    in the trace of the other's action, not its own."""
    actions = tracer("tests")
    # Completion A's consumer appends its entry, then stalls (or dies) before applying it.
    with actions.start_as_current_span("completion A") as first:
        await game.wallets.ledger.append(
            "gus", Draft(key="grant:gus:a", kind="grant", amounts={"coins": 7})
        )
    # Completion B's consumer applies everything up to its own entry: A's first.
    with actions.start_as_current_span("completion B") as second:
        await handlers(game).tasks(task_event("gus", difficulty="easy"))
    credited = {
        e.data["entry_key"]: e for e in await published(redis, "gamification.currency_credited")
    }
    trace_a, trace_b = (format(s.get_span_context().trace_id, "032x") for s in (first, second))
    assert (credited.pop("grant:gus:a").traceparent or "").split("-")[1] == trace_a
    # B's own credit and the badges it earned are B's.
    assert credited
    assert {(e.traceparent or "").split("-")[1] for e in credited.values()} == {trace_b}

    # The maintenance worker finishing a crashed write announces in the write's trace too.
    with actions.start_as_current_span("completion C") as third:
        await game.wallets.ledger.append(
            "gus", Draft(key="grant:gus:c", kind="grant", amounts={"coins": 3})
        )
    await Maintenance(game).once(min_age=0)
    [late] = [
        e
        for e in await published(redis, "gamification.currency_credited")
        if e.data["entry_key"] == "grant:gus:c"
    ]
    assert (late.traceparent or "").split("-")[1] == format(
        third.get_span_context().trace_id, "032x"
    )


def _challenge_event(user: str, **data: Any) -> Envelope:
    return new_event(
        "challenge.completed",
        source="challenge-service",
        user_id=user,
        event_id=f"challenge.completed:{data['challenge_id']}:{user}",
        data={"difficulty": "medium", "points": 250, "category": "productivity", **data},
    )


async def test_a_duel_is_paid_to_the_winner_and_rated_once_as_an_elo_match(
    game: Gamification,
) -> None:
    won = {"kind": "duel", "opponent": {"user_id": "dia", "outcome": "win"}, "passed": True}
    lost = {
        "kind": "duel",
        "opponent": {"user_id": "don", "outcome": "loss"},
        "passed": False,
        "points": 0,
    }
    for _ in range(2):  # each player's event, each delivered twice
        await handlers(game).challenges(_challenge_event("don", challenge_id="d1", **won))
        await handlers(game).challenges(_challenge_event("dia", challenge_id="d1", **lost))
    match = await game.ratings.store.match("challenge:d1")
    assert match is not None
    assert {r["user_id"]: (r["result"], r["method"]) for r in match["results"]} == {
        "don": ("win", "elo"),
        "dia": ("loss", "elo"),
    }
    don = await game.ratings.standing("don", "productivity")
    dia = await game.ratings.standing("dia", "productivity")
    assert (don.rating["rating"], dia.rating["rating"]) == (1516.0, 1484.0)
    assert don.rating["matches"] == dia.rating["matches"] == 1
    winner = await game.wallets.state("don")
    assert winner.balances["xp"] == 250
    assert winner.stats["challenge_duels_won"] == 1
    assert "duelist-1" in winner.badges
    assert (await game.wallets.state("dia")).balances.get("xp", 0) == 0


async def test_a_group_ranking_is_rated_once_as_an_openskill_match(game: Gamification) -> None:
    ranking = [
        {"user_id": "gia", "rank": 1, "progress": 5},
        {"user_id": "gus", "rank": 2, "progress": 3},
        {"user_id": "gwen", "rank": 3, "progress": 0},
    ]
    for user in ("gus", "gia", "gwen"):
        passed = user == "gia"
        await handlers(game).challenges(
            _challenge_event(
                user,
                challenge_id="g1",
                kind="group",
                ranking=ranking,
                passed=passed,
                points=250 if passed else 0,
            )
        )
    match = await game.ratings.store.match("challenge:g1")
    assert match is not None
    results = {r["user_id"]: r for r in match["results"]}
    assert {r["method"] for r in results.values()} == {"openskill"}
    assert results["gia"]["delta"] > 0 > results["gwen"]["delta"]
    assert (await game.ratings.standing("gus", "productivity")).rating["matches"] == 1
    first = await game.wallets.state("gia")
    assert first.stats["challenge_groups_won"] == 1
    assert "top-of-the-group" in first.badges


async def test_a_duel_forfeited_by_an_erased_opponent_pays_and_counts_the_win_unrated(
    game: Gamification,
) -> None:
    """challenge-service names no erased account: the survivor's event carries the outcome
    without an opponent. The win is paid and counted (the duelist badge); no match is rated
    (there is nobody to rate against)."""
    won = {"kind": "duel", "outcome": "win", "passed": True, "progress": 5, "target": 5}
    for _ in range(2):  # delivered twice: paid once
        await handlers(game).challenges(_challenge_event("fay", challenge_id="d2", **won))
    assert await game.ratings.store.match("challenge:d2") is None
    winner = await game.wallets.state("fay")
    assert winner.balances["xp"] == 250
    assert winner.stats["challenge_duels_won"] == 1
    assert "duelist-1" in winner.badges
