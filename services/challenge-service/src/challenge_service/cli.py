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
        built = await build(platform)
        try:
            if args.command == "settle-due":
                print(await built.challenges.settle_due())
            return 0
        finally:
            await built.http.aclose()
    finally:
        await platform.close()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m challenge_service")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("settle-due", help="end every challenge whose deadline or offer has passed")
    return asyncio.run(_run(parser.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
