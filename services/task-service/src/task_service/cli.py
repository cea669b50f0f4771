"""Maintenance commands (``python -m task_service <command>``), run against the same
environment as the service.

``replay --since T [--until T]`` re-publishes every event task-service journalled in that
window (the repair after Redis lost events; consumers absorb what they already handled).
``completions --since T`` prints the task.completed events of that window, one JSON object a
line — pipe it into ``python -m gamification_service check-credits`` to find completions
that were never credited.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import UTC, datetime

from deepiri_kit import Platform, load_settings
from task_service.app import task_service
from task_service.settings import TaskSettings
from task_service.workers import bus_guard


def instant(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


async def _run(args: argparse.Namespace) -> int:
    platform = await Platform.open(load_settings(TaskSettings))
    try:
        service = task_service(platform)
        if args.command == "replay":
            n = await bus_guard(platform, service.store).replay(args.since, args.until)
            print(json.dumps({"replayed": n}))
            return 0
        async for envelope, event in service.completions(args.since, args.until):
            print(json.dumps({"id": envelope.id, "user_id": envelope.user_id, **event.data()}))
        return 0
    finally:
        await platform.close()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m task_service")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, help_text in (
        ("replay", "re-publish journalled events of a time window"),
        ("completions", "print the task.completed events of a time window (JSON lines)"),
    ):
        command = sub.add_parser(name, help=help_text)
        command.add_argument("--since", type=instant, required=True, help="ISO 8601 instant")
        command.add_argument("--until", type=instant, default=None, help="ISO 8601 instant")
    return asyncio.run(_run(parser.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
