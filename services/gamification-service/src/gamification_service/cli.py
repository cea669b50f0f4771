"""Maintenance commands (``python -m gamification_service <command>``), run against the same
environment as the service."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from deepiri_kit import Platform, load_settings
from deepiri_kit.clock import utcnow
from gamification_service.app import build_stores, prepare
from gamification_service.settings import GamificationSettings
from gamification_service.store.credits import check_credits
from gamification_service.store.maintenance import backfill_badges
from gamification_service.store.rebuild import rebuild_all


async def _run(args: argparse.Namespace) -> int:
    settings = load_settings(GamificationSettings)
    platform = await Platform.open(settings)
    try:
        stores = build_stores(platform)
        await prepare(platform, stores)
        if args.command == "rebuild-leaderboards":
            counts = await rebuild_all(
                stores.wallets, stores.ratings, stores.boards, stores.profiles, utcnow()
            )
            print(json.dumps({"boards": counts}, indent=2))
            return 0
        if args.command == "check-credits":
            completions = (json.loads(line) for line in sys.stdin if line.strip())
            check = await check_credits(platform.require_mongo()["ledger"], completions)
            for missing in check.missing:
                print(json.dumps({"missing": missing}))
            summary = {"completions": check.completions, "credited": check.credited}
            print(json.dumps({**summary, "missing": len(check.missing)}))
            return 1 if check.missing else 0
        if args.command == "backfill-badges":
            meta = platform.require_mongo()["meta"]
            n = await backfill_badges(stores.wallets, meta, stores.wallets.catalog, force=True)
            print(json.dumps({"wallets": n}))
            return 0
        users = args.user_ids or await stores.wallets.all_users()
        bad = 0
        for user_id in users:
            report = await stores.wallets.reconcile(user_id)
            bad += not report.balanced
            print(json.dumps({**report.__dict__, "balanced": report.balanced}, default=str))
        return 1 if bad else 0
    finally:
        await platform.close()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m gamification_service")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("rebuild-leaderboards", help="rebuild every leaderboard from MongoDB")
    reconcile = sub.add_parser("reconcile", help="replay ledgers and repair wallets")
    reconcile.add_argument("user_ids", nargs="*")
    sub.add_parser("backfill-badges", help="award badges from recorded stats")
    sub.add_parser(
        "check-credits",
        help="read task.completed events (JSON lines, from `python -m task_service "
        "completions`) on stdin; print those without a credit; exit 1 if any",
    )
    args = parser.parse_args(argv)
    return asyncio.run(_run(args))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
