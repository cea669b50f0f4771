"""Operator commands, run against the same environment as the service and through the same
use cases: ``python -m websocket_service <command>``."""

from __future__ import annotations

import argparse
import asyncio
import sys

from deepiri_kit import Platform, load_settings
from websocket_service.app import build, socket_server
from websocket_service.settings import WebsocketSettings


async def _run(args: argparse.Namespace) -> int:
    settings = load_settings(WebsocketSettings)
    platform = await Platform.open(settings)
    try:
        realtime, _ = build(platform, socket_server(settings))
        if args.command == "presence":
            for presence in await realtime.presence_of(args.user_ids):
                seen = presence.last_seen.isoformat() if presence.last_seen else "never"
                state = "online" if presence.online else "offline"
                print(f"{presence.user_id}\t{state}\t{seen}")
        return 0
    finally:
        await platform.close()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m websocket_service")
    sub = parser.add_subparsers(dest="command", required=True)
    presence = sub.add_parser("presence", help="whether users are online, and last seen")
    presence.add_argument("user_ids", nargs="+")
    return asyncio.run(_run(parser.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
