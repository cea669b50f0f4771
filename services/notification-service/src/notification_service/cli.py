"""Operator commands, run against the same environment as the service and through the same
use cases: ``python -m notification_service <command>``."""

from __future__ import annotations

import argparse
import asyncio
import sys

from deepiri_kit import Platform, load_settings
from notification_service.app import build
from notification_service.settings import NotificationSettings


async def _run(args: argparse.Namespace) -> int:
    platform = await Platform.open(load_settings(NotificationSettings))
    services = await build(platform)
    try:
        if args.command == "unread":
            print(await services.inbox.unread(args.user_id))
        elif args.command == "deliver":
            print(await services.deliveries.sweep())
        return 0
    finally:
        await services.close()
        await platform.close()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m notification_service")
    sub = parser.add_subparsers(dest="command", required=True)
    unread = sub.add_parser("unread", help="how many unread notifications a user has")
    unread.add_argument("user_id")
    sub.add_parser("deliver", help="try every due delivery now (prints how many went out)")
    return asyncio.run(_run(parser.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
