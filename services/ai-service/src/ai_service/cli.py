"""Operator commands, run against the same environment as the service and through the same
use cases: ``python -m ai_service <command>``.

* ``prompts`` — the shipped prompt versions and which ones are in use.
* ``challenge`` / ``understand`` — one answer for a request read from stdin (JSON of the
  contract), printed as JSON: try a prompt or a model endpoint without the API.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

import msgspec

from ai_service.app import build
from ai_service.settings import AiSettings
from ai_service.store.prompts import load_library
from deepiri_kit import Platform, load_settings
from deepiri_kit.contracts.agent import ChallengeRequest, TaskUnderstandingRequest


async def _answer(command: str, body: bytes) -> bytes:
    settings = load_settings(AiSettings)
    platform = await Platform.open(settings)
    service = build(platform, settings)
    try:
        if command == "challenge":
            challenge = msgspec.json.decode(body, type=ChallengeRequest)
            return msgspec.json.encode(await service.generate_challenge(challenge))
        task = msgspec.json.decode(body, type=TaskUnderstandingRequest)
        return msgspec.json.encode(await service.understand_task(task))
    finally:
        await service.endpoint.close()
        await platform.close()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m ai_service")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("prompts", help="the shipped prompt versions and the ones in use")
    sub.add_parser("challenge", help="generate a challenge for a ChallengeRequest on stdin")
    sub.add_parser("understand", help="understand a TaskUnderstandingRequest on stdin")
    args = parser.parse_args(argv)
    if args.command == "prompts":
        settings = load_settings(AiSettings)
        in_use = {settings.prompt_challenge, settings.prompt_task}
        for version, template in sorted(load_library().items()):
            mark = "*" if version in in_use else " "
            print(f"{mark} {version}\t{template.use_case}")
        return 0
    try:
        answer = asyncio.run(_answer(args.command, sys.stdin.buffer.read()))
    except msgspec.ValidationError as exc:
        print(f"bad request: {exc}", file=sys.stderr)
        return 2
    sys.stdout.write(answer.decode() + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
