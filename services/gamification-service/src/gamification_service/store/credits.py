"""Which task completions have no credit in the ledger (the check after a bus outage).

Input: task.completed events as task-service's ``completions`` command prints them (one JSON
object a line: the event ``id``, ``user_id`` and the event's data). Each maps to the ledger key
its credit is recorded under (:func:`~gamification_service.domain.rewards.credit_key`); a key
missing from the ledger is a completion that was never credited — replay it from task-service
(``python -m task_service replay --since …``; what was credited meanwhile pays nothing again).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection

from gamification_service.domain.rewards import credit_key

BATCH = 500


@dataclass
class CreditCheck:
    completions: int = 0
    credited: int = 0
    missing: list[dict[str, Any]] = field(default_factory=list)


def key_of(completion: Mapping[str, Any]) -> str:
    return credit_key(
        completion["kind"], completion["task_id"], completion.get("completion_id"), completion["id"]
    )


async def check_credits(
    ledger: AsyncCollection[dict[str, Any]], completions: Iterable[Mapping[str, Any]]
) -> CreditCheck:
    report = CreditCheck()
    batch: list[Mapping[str, Any]] = []

    async def flush() -> None:
        keys = [key_of(c) for c in batch]
        found = {d["key"] async for d in ledger.find({"key": {"$in": keys}}, {"key": 1})}
        for completion, key in zip(batch, keys, strict=True):
            if key in found:
                report.credited += 1
            else:
                report.missing.append({"key": key, **completion})
        batch.clear()

    for completion in completions:
        report.completions += 1
        batch.append(completion)
        if len(batch) >= BATCH:
            await flush()
    if batch:
        await flush()
    return report
