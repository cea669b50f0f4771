"""The order pytest-xdist workers run the tests in (``make test``): the longest first, shared
out so that each worker starts on its part of them.

xdist's ``worksteal`` scheduler hands each worker one contiguous slice of the collection
(the first ``n // workers`` tests to the first worker, …) and later lets an idle worker take
the tail of a busy one's queue. So every worker sorts the same collection into one slice per
worker: the known-long tests dealt out longest first to the slice with the least time so far
(each slice starting with its longest), then the short ones in the files' order (module
fixtures stay together), which are what stealing moves at the end.

How long a test takes comes from ``tests/durations.json`` (seconds per test id, from
profiled runs: ``pytest -n 2 --store-durations [files]`` updates the tests it ran); a
``slow`` test not listed there counts as ``SLOW_DEFAULT`` seconds, any other as short. A
stale file only makes the order worse, never a result different."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

DURATIONS = Path(__file__).resolve().parents[1] / "durations.json"
# A long test is one worth placing: below this its position does not matter.
LONG = 5.0
SLOW_DEFAULT = 30.0

T = TypeVar("T")


def slice_sizes(count: int, workers: int) -> list[int]:
    """The sizes of the slices worksteal's first distribution hands out, in worker order."""
    sizes = []
    for remaining in range(workers, 0, -1):
        sizes.append((count - sum(sizes)) // remaining)
    return sizes


def spread(items: Sequence[T], workers: int, seconds: Callable[[T], float]) -> list[T]:
    """``items`` as one slice per worker, each slice starting with its long tests (longest
    first, dealt to the slice with the least time so far) and filled up with the short ones
    in their original order."""
    sizes = slice_sizes(len(items), workers)
    slices: list[list[T]] = [[] for _ in sizes]
    load = [0.0] * len(sizes)
    long_items = sorted((i for i in items if seconds(i) >= LONG), key=seconds, reverse=True)
    for item in long_items:
        free = [w for w in range(len(sizes)) if len(slices[w]) < sizes[w]]
        w = min(free, key=lambda w: load[w])
        slices[w].append(item)
        load[w] += seconds(item)
    placed = {id(i) for i in long_items}
    short = iter(i for i in items if id(i) not in placed)
    for w, size in enumerate(sizes):
        while len(slices[w]) < size:
            slices[w].append(next(short))
    return [item for part in slices for item in part]


def recorded() -> dict[str, float]:
    if not DURATIONS.exists():
        return {}
    data: dict[str, float] = json.loads(DURATIONS.read_text())
    return data


def store(durations: dict[str, float]) -> None:
    """Record this run's tests (the call, not the fixtures' setup) over what was recorded
    before (a run of a few files updates those); only those of at least ``LONG`` seconds are
    kept."""
    merged = {**recorded(), **{k: round(v, 1) for k, v in durations.items()}}
    kept = {k: v for k, v in sorted(merged.items()) if v >= LONG}
    DURATIONS.write_text(json.dumps(kept, indent=1) + "\n")
