"""The dependency graph: cycles, topological order, readiness, critical path (pure)."""

from __future__ import annotations

import random

import pytest

from task_service.domain import graph
from task_service.domain.graph import Edge

pytestmark = pytest.mark.unit


def e(task: str, depends_on: str, kind: str = "blocks") -> Edge:
    return Edge(task, depends_on, kind)


def test_self_dependency_is_a_cycle() -> None:
    assert graph.find_cycle([], "a", "a") == ["a", "a"]


def test_cycle_path_follows_depends_on_from_the_new_edge() -> None:
    # b depends on c, c depends on a; adding a → b closes a → b → c → a.
    edges = [e("b", "c"), e("c", "a", "precedes"), e("x", "a")]
    assert graph.find_cycle(edges, "a", "b") == ["a", "b", "c", "a"]
    assert graph.find_cycle(edges, "a", "x") == ["a", "x", "a"]
    assert graph.find_cycle(edges, "b", "x") is None
    assert graph.find_cycle(edges, "x", "b") is None


def test_related_edges_never_form_cycles() -> None:
    assert graph.find_cycle([e("b", "a", "related")], "a", "b") is None
    assert graph.find_cycle([e("b", "a", "subtask")], "a", "b") == ["a", "b", "a"]


def test_cycle_search_on_a_long_chain_finds_the_whole_path() -> None:
    chain = [e(f"n{i + 1}", f"n{i}") for i in range(2000)]  # n2000 → … → n0
    path = graph.find_cycle(chain, "n0", "n2000")
    assert path is not None
    assert path[0] == path[-1] == "n0"
    assert len(path) == 2002


def test_topological_order_puts_prerequisites_first_and_keeps_input_order_otherwise() -> None:
    nodes = ["a", "b", "c", "d", "e"]
    edges = [e("a", "c"), e("b", "a", "precedes"), e("d", "e", "related")]
    order, cyclic = graph.topological_order(nodes, edges)
    assert order == ["c", "a", "b", "d", "e"]
    assert cyclic == []


def test_topological_order_ignores_edges_to_unknown_nodes_and_duplicates() -> None:
    order, _ = graph.topological_order(["a", "b"], [e("a", "zz"), e("b", "a"), e("b", "a")])
    assert order == ["a", "b"]


def test_topological_order_reports_nodes_on_cycles() -> None:
    order, cyclic = graph.topological_order(["a", "b", "c"], [e("a", "b"), e("b", "a")])
    assert order == ["c"]
    assert cyclic == ["a", "b"]


def test_topological_order_is_valid_on_a_random_dag() -> None:
    rng = random.Random(7)
    nodes = [f"t{i}" for i in range(300)]
    edges = [
        e(nodes[j], nodes[i], rng.choice(["blocks", "precedes", "subtask"]))
        for _ in range(900)
        for i, j in [sorted(rng.sample(range(300), 2))]
    ]
    order, cyclic = graph.topological_order(list(reversed(nodes)), edges)
    position = {n: k for k, n in enumerate(order)}
    assert cyclic == []
    assert sorted(order) == sorted(nodes)
    assert all(position[x.depends_on] < position[x.task] for x in edges)


def test_ready_means_no_unfinished_blocker() -> None:
    # Open: a, b, c, d. b blocked by a; c must follow a (precedes only orders); d is a parent
    # waiting on its subtask "done" (finished, so not in the open list).
    edges = [
        e("b", "a"),
        e("c", "a", "precedes"),
        e("d", "done", "subtask"),
        e("a", "x", "related"),
    ]
    assert graph.ready(["a", "b", "c", "d"], edges) == ["a", "c", "d"]


def test_unfinished_blockers_count_blocks_and_subtasks_only() -> None:
    edges = [e("t", "a"), e("t", "b", "subtask"), e("t", "c", "precedes"), e("t", "d", "related")]
    assert graph.unfinished_blockers("t", edges, ["a", "b", "c", "d"]) == ["a", "b"]
    assert graph.unfinished_blockers("t", edges, ["b"]) == ["b"]
    assert graph.unfinished_blockers("t", edges, []) == []


def test_critical_path_is_the_heaviest_chain_by_estimate() -> None:
    # a(30) → c(10) → d(5) and b(60) → d; without an estimate a task weighs 0.
    edges = [e("c", "a"), e("d", "c"), e("d", "b"), e("x", "d", "related")]
    order, _ = graph.topological_order(["a", "b", "c", "d", "x"], edges)
    minutes = {"a": 30, "b": 60, "c": 10, "d": 5, "x": None}
    assert graph.critical_path(order, edges, minutes) == (["b", "d"], 65)
    minutes["a"] = 55
    assert graph.critical_path(order, edges, minutes) == (["a", "c", "d"], 70)


def test_critical_path_of_nothing_and_of_unlinked_tasks() -> None:
    assert graph.critical_path([], [], {}) == ([], 0)
    assert graph.critical_path(["a", "b"], [], {"a": 5, "b": 9}) == (["b"], 9)
    assert graph.critical_path(["a", "b"], [], {}) == (["a"], 0)
