"""Run as a separate process by test_chain: claims a link with its event in the outbox, then
dies by SIGKILL before it can publish — the worst moment for a producer to crash."""

from __future__ import annotations

import asyncio
import os
import signal
import sys

from pymongo import AsyncMongoClient

from deepiri_kit.chain import Chain
from deepiri_kit.events import new_event, outbox_entry


async def main(uri: str, db_name: str, stream: str) -> None:
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(uri, tz_aware=True)
    event = new_event("thing.created", source="crashy", user_id="u1", data={"k": "v"})
    chain = Chain(client[db_name]["things"])
    await chain.claim("thing-1", 1, {"name": "written"}, outbox=[outbox_entry(stream, event)])
    print(event.id, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)  # between the database write and the publish


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
