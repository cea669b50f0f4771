#!/usr/bin/env python3
"""Where a task completion's time goes: every MongoDB command and Redis command of the write
path, counted and timed, per completion.

    .venv/bin/python tools/bench/profile_completion.py [--tasks 200] [--users 20]

task-service, gamification-service and notification-service run in this process (their
use cases on their own FerretDB and Redis); ``--tasks`` tasks of ``--users`` users are
created, then completed one after another over task-service's HTTP interface, each
completion's ``task.completed`` credited by gamification-service's consumer and the credit
turned into a notification (stored and emitted) by notification-service's consumer before
the next. A pymongo command listener and a wrapper on redis-py's ``execute_command`` note
each command with its duration; the table is per completion and phase. It counts round trips
and their time; for CPU, run it under cProfile.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "tools"), str(ROOT / "tests"), str(ROOT / "tools" / "bench")]
os.environ.setdefault("OTEL_TRACES_EXPORTER", "none")

from pymongo import monitoring  # noqa: E402

# Which side of the loop a command belongs to (set around each phase).
phase = "setup"
counts: dict[str, Counter[str]] = defaultdict(Counter)
seconds: dict[str, Counter[str]] = defaultdict(Counter)
_started: dict[int, tuple[float, str]] = {}


class Commands(monitoring.CommandListener):
    def started(self, event: monitoring.CommandStartedEvent) -> None:
        target = event.command.get(event.command_name)
        collection = target if isinstance(target, str) else ""
        _started[event.request_id] = (time.perf_counter(), collection)

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        self._done(event)

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        self._done(event, " (failed)")

    def _done(self, event: Any, suffix: str = "") -> None:
        began, collection = _started.pop(event.request_id, (None, ""))
        key = f"mongo {event.command_name} {collection}{suffix}"
        counts[phase][key] += 1
        if began is not None:
            seconds[phase][key] += time.perf_counter() - began


monitoring.register(Commands())


def watch_redis() -> None:
    from redis.asyncio.client import Pipeline, Redis

    original = Redis.execute_command
    original_pipe = Pipeline.execute

    async def execute_command(self: Any, *args: Any, **options: Any) -> Any:
        began = time.perf_counter()
        try:
            return await original(self, *args, **options)
        finally:
            key = f"redis {str(args[0]).upper()}"
            counts[phase][key] += 1
            seconds[phase][key] += time.perf_counter() - began

    async def execute(self: Any, raise_on_error: bool = True) -> Any:
        began = time.perf_counter()
        size = len(self.command_stack)
        try:
            return await original_pipe(self, raise_on_error)
        finally:
            key = f"redis pipeline({size})"
            counts[phase][key] += 1
            seconds[phase][key] += time.perf_counter() - began

    Redis.execute_command = execute_command  # type: ignore[method-assign]
    Pipeline.execute = execute  # type: ignore[method-assign]


async def main() -> None:
    global phase
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=200)
    parser.add_argument("--users", type=int, default=20)
    args = parser.parse_args()
    watch_redis()

    from deepiri_kit import Platform
    from deepiri_kit.events import Consumer, MongoInbox, RedisInbox
    from deepiri_kit.settings import load_settings
    from gamification_service.app import build
    from gamification_service.events.consume import GROUP, Handlers
    from gamification_service.settings import GamificationSettings
    from infra import FerretDBServer, RedisServer
    from notification_service.app import build as build_notifications
    from notification_service.events import consume as notification_consume
    from notification_service.settings import NotificationSettings
    from support.apps import app_client
    from support.tokens import AUDIENCE, ISSUER, TokenIssuer
    from task_service.app import create_app as task_app
    from task_service.settings import TaskSettings

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        redis, mongo = RedisServer(root), FerretDBServer(root)
        redis.start()
        mongo.start()
        issuer = TokenIssuer()
        common = {
            "mongo_uri": mongo.uri,
            "redis_host": "127.0.0.1",
            "redis_port": redis.port,
            "jwks_url": issuer.jwks_url,
            "jwt_issuer": ISSUER,
            "jwt_audience": AUDIENCE,
            "deepiri_env": "test",
            "rate_limit_per_minute": 0,
        }
        tasks_app = task_app(load_settings(TaskSettings, {}, mongo_db="tasks", **common))
        # Its consumer is driven by hand below (one event at a time, phase by phase).
        game_settings = load_settings(GamificationSettings, {}, mongo_db="game", **common)
        platform = await Platform.open(game_settings)
        note_platform = await Platform.open(
            load_settings(NotificationSettings, {}, mongo_db="notes", **common)
        )
        try:
            game = await build(platform)
            notes = await build_notifications(note_platform)
            async with app_client(tasks_app) as http:
                users = [f"u{i}" for i in range(args.users)]
                headers = {u: issuer.headers(u, "tasks:read tasks:write") for u in users}
                ids = []
                for i in range(args.tasks):
                    user = users[i % len(users)]
                    made = await http.post(
                        "/api/tasks",
                        json={"title": f"t{i}", "difficulty": "easy"},
                        headers=headers[user],
                    )
                    ids.append((user, made.json()["id"]))
                bus = platform.require_redis()
                consumer = Consumer(
                    bus,
                    group=GROUP,
                    handlers=Handlers(game.reactions).streams(),
                    inbox=RedisInbox(bus),
                    name="profiler",
                    block_ms=1,
                )
                notifier = Consumer(
                    note_platform.require_redis(),
                    group=notification_consume.GROUP,
                    handlers=notification_consume.handlers(notes.reactions),
                    inbox=MongoInbox(note_platform.require_mongo()["consumed_events"]),
                    name="profiler",
                    block_ms=1,
                    self_marking=notification_consume.SELF_MARKING,  # as its workers.py
                )
                for each in (consumer, notifier):
                    await each.ensure_groups()
                    while await each.poll_once(block_ms=1):  # the creations: not measured
                        pass
                took = {
                    "task-service complete": 0.0,
                    "gamification credit": 0.0,
                    "notification store + emit": 0.0,
                }
                for user, task_id in ids:
                    phase = "task-service complete"
                    began = time.perf_counter()
                    done = await http.post(
                        f"/api/tasks/{task_id}/complete", json={}, headers=headers[user]
                    )
                    took[phase] += time.perf_counter() - began
                    assert done.status_code == 200, done.text
                    phase = "gamification credit"
                    began = time.perf_counter()
                    while await consumer.poll_once(block_ms=1):
                        pass
                    took[phase] += time.perf_counter() - began
                    phase = "notification store + emit"
                    began = time.perf_counter()
                    while await notifier.poll_once(block_ms=1):
                        pass
                    took[phase] += time.perf_counter() - began
                    phase = "idle"
                await notes.close()
        finally:
            await note_platform.close()
            await platform.close()
            issuer.close()
            mongo.stop()
            redis.stop()
    n = len(ids)
    for name, total in took.items():
        print(f"\n{name}: {total / n * 1000:.1f} ms per completion ({n} completions)")
        print(f"  {'command':<44} {'per completion':>14} {'ms each':>9} {'ms per completion':>18}")
        for key, count in sorted(counts[name].items(), key=lambda kv: -seconds[name][kv[0]]):
            print(
                f"  {key:<44} {count / n:>14.2f} {seconds[name][key] / count * 1000:>9.2f}"
                f" {seconds[name][key] / n * 1000:>18.2f}"
            )


if __name__ == "__main__":
    asyncio.run(main())
