"""The xdist order (support.ordering): each worker starts on its share of the long tests,
longest first — checked against pytest-xdist's own worksteal scheduler, whose first
distribution decides which worker runs what."""

from __future__ import annotations

from typing import Any

import pytest
from xdist.scheduler.worksteal import WorkStealingScheduling

from support import ordering

pytestmark = pytest.mark.unit

# name → seconds: four long tests among short ones (the shape of the real suite).
TESTS = {f"short{i}": 0.1 for i in range(40)} | {
    "generator": 260.0,
    "fuzz": 120.0,
    "image": 90.0,
    "browser": 60.0,
}


class Config:
    def __init__(self, workers: int) -> None:
        self.workers = workers

    def getvalue(self, name: str) -> Any:
        assert name == "tx"
        return [f"{self.workers}*popen"]


class Node:
    """What the scheduler sends a worker, recorded."""

    def __init__(self, name: str) -> None:
        self.gateway = type("Gateway", (), {"id": name})()
        self.sent: list[int] = []
        self.shutting_down = False

    def send_runtest_some(self, indices: list[int]) -> None:
        self.sent += indices


def first_distribution(order: list[str], workers: int) -> list[list[str]]:
    scheduler = WorkStealingScheduling(Config(workers))  # type: ignore[arg-type]
    nodes = [Node(f"gw{i}") for i in range(workers)]
    for node in nodes:
        scheduler.add_node(node)  # type: ignore[arg-type]
        scheduler.add_node_collection(node, order)  # type: ignore[arg-type]
    scheduler.schedule()
    return [[order[i] for i in node.sent] for node in nodes]


@pytest.mark.parametrize("workers", [2, 3])
def test_each_worker_starts_on_its_share_of_the_long_tests(workers: int) -> None:
    order = ordering.spread(list(TESTS), workers, TESTS.__getitem__)
    assert sorted(order) == sorted(TESTS)
    shares = first_distribution(order, workers)
    assert sum(len(s) for s in shares) == len(TESTS)
    longest_first = sorted((t for t in TESTS if TESTS[t] >= ordering.LONG), key=TESTS.get)[::-1]
    for share in shares:
        long_ones = [t for t in share if TESTS[t] >= ordering.LONG]
        assert share[: len(long_ones)] == long_ones  # the long ones first …
        assert long_ones == [t for t in longest_first if t in long_ones]  # … longest first
        assert long_ones  # every worker has some
    # The longest two never wait for each other.
    assert not any({"generator", "fuzz"} <= set(s) for s in shares)


def test_the_files_order_is_kept_among_short_tests() -> None:
    order = ordering.spread(list(TESTS), 2, TESTS.__getitem__)
    short = [t for t in order if TESTS[t] < ordering.LONG]
    assert short == [t for t in TESTS if TESTS[t] < ordering.LONG]
