"""Operator commands (``python -m gamification_service <command>``), run against the same
environment as the service and through the same use cases."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from deepiri_kit import Platform, load_settings, utcnow
from gamification_service.app import build, social_graph
from gamification_service.settings import GamificationSettings


async def _run(args: argparse.Namespace) -> int:
    settings = load_settings(GamificationSettings)
    platform = await Platform.open(settings)
    graph = social_graph(settings)
    try:
        game = await build(platform, graph=graph)
        if args.command == "rebuild-friends":
            friends = await game.friends.rebuild(args.user_ids or None)
            print(json.dumps({"friends": friends}, indent=2))
            return 0
        if args.command == "rebuild-leaderboards":
            counts = await game.leaderboards.rebuild(utcnow())
            print(json.dumps({"boards": counts}, indent=2))
            return 0
        if args.command == "check-credits":
            completions = (json.loads(line) for line in sys.stdin if line.strip())
            check = await game.wallets.check_credits(completions)
            for missing in check.missing:
                print(json.dumps({"missing": missing}))
            summary = {"completions": check.completions, "credited": check.credited}
            print(json.dumps({**summary, "missing": len(check.missing)}))
            return 1 if check.missing else 0
        if args.command == "backfill-badges":
            print(json.dumps({"wallets": await game.wallets.backfill_badges(force=True)}))
            return 0
        users = args.user_ids or await game.wallets.users()
        bad = 0
        for user_id in users:
            report = await game.wallets.reconcile(user_id)
            bad += not report.balanced
            print(json.dumps({**report.__dict__, "balanced": report.balanced}, default=str))
        return 1 if bad else 0
    finally:
        await graph.close()
        await platform.close()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m gamification_service")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("rebuild-leaderboards", help="rebuild every leaderboard from MongoDB")
    friends = sub.add_parser(
        "rebuild-friends", help="take friendships (of USERs, or everyone) from user-service"
    )
    friends.add_argument("user_ids", nargs="*")
    reconcile = sub.add_parser("reconcile", help="replay ledgers and repair wallets")
    reconcile.add_argument("user_ids", nargs="*")
    sub.add_parser("backfill-badges", help="award badges from recorded stats")
    sub.add_parser(
        "check-credits",
        help="read task.completed events (JSON lines, from `python -m task_service "
        "completions`) on stdin; print those without a credit; exit 1 if any",
    )
    return asyncio.run(_run(parser.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
