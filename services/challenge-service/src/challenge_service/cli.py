"""Operator commands, run against the same environment as the service and through the same
use cases: ``python -m challenge_service <command>``."""

from __future__ import annotations

import argparse
import asyncio
import sys

from challenge_service.app import build
from challenge_service.settings import ChallengeSettings
from deepiri_kit import Platform, load_settings


async def _run(args: argparse.Namespace) -> int:
    platform = await Platform.open(load_settings(ChallengeSettings))
    try:
        service = await build(platform)
        if args.command == "count":
            print(await service.count(args.user_id))
        return 0
    finally:
        await platform.close()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m challenge_service")
    sub = parser.add_subparsers(dest="command", required=True)
    count = sub.add_parser("count", help="how many items a user has (as consumed from events)")
    count.add_argument("user_id")
    return asyncio.run(_run(parser.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
