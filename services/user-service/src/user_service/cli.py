"""Operator commands, run against the same environment as the service and through the same
use cases: ``python -m user_service <command>``."""

from __future__ import annotations

import argparse
import asyncio
import sys

from deepiri_kit import Platform, load_settings
from user_service.app import build
from user_service.settings import UserSettings


async def _run(args: argparse.Namespace) -> int:
    platform = await Platform.open(load_settings(UserSettings))
    try:
        services = await build(platform)
        if args.command == "show":
            account = await services.accounts.get(args.user_id)
            print(f"{account.id} {account.display_name} verified={account.email_verified}")
        elif args.command in ("grant-role", "revoke-role"):
            account = await services.accounts.get(args.user_id)
            roles = set(account.roles)
            roles = roles | {args.role} if args.command == "grant-role" else roles - {args.role}
            account = await services.accounts.set_roles(args.user_id, roles)
            print(f"{account.id} roles: {', '.join(account.roles) or '-'}")
        elif args.command == "rotate-keys":
            keys = services.provider.keys
            kid = await keys.rotate()
            new = next(k for k in keys.keys if k.kid == kid)
            print(f"published {kid}; it signs from {new.active_from.isoformat()}")
        elif args.command == "reindex-social":
            await services.social.store.rebuild_index()
            print("the social index is rebuilt from social_edges")
        elif args.command == "prune-keys":
            print(f"dropped {await services.provider.keys.prune()} retired key(s)")
        return 0
    finally:
        await platform.close()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m user_service")
    sub = parser.add_subparsers(dest="command", required=True)
    show = sub.add_parser("show", help="an account's id, display name and verification")
    show.add_argument("user_id")
    for name in ("grant-role", "revoke-role"):
        role = sub.add_parser(name, help=f"{name.split('-')[0]} a role (admin) to an account")
        role.add_argument("user_id")
        role.add_argument("role")
    sub.add_parser(
        "rotate-keys",
        help="publish a new signing key now; it signs after KEY_PUBLISH_LEAD_SECONDS, and the "
        "current one stays published until the tokens it signed have expired",
    )
    sub.add_parser("prune-keys", help="drop signing keys no longer published")
    sub.add_parser(
        "reindex-social", help="rebuild the social graph's Redis index from social_edges"
    )
    return asyncio.run(_run(parser.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
