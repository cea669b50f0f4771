"""The dependency graph: cycle detection, topological order, readiness and critical path.

Everything here works on the user's whole edge list held in memory (loaded with one query),
so no operation costs a database round trip per node.

An edge ``(task, depends_on, type)`` says *task* depends on *depends_on*. Ordering types
(``blocks``, ``precedes``, ``subtask``) put *depends_on* first and must never form a cycle;
``related`` is only a link. Blocking types (``blocks``, ``subtask``: a parent waits for its
subtasks) also stop *task* from being completed while *depends_on* is unfinished;
``precedes`` only orders.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

EdgeType = Literal["blocks", "precedes", "related", "subtask"]
ORDERING: frozenset[str] = frozenset({"blocks", "precedes", "subtask"})
BLOCKING: frozenset[str] = frozenset({"blocks", "subtask"})


@dataclass(frozen=True)
class Edge:
    task: str
    depends_on: str
    type: str


def prerequisites(edges: Iterable[Edge], types: frozenset[str] = ORDERING) -> dict[str, list[str]]:
    """task → the tasks it depends on, over edges of ``types``."""
    result: dict[str, list[str]] = {}
    for edge in edges:
        if edge.type in types:
            result.setdefault(edge.task, []).append(edge.depends_on)
    return result


def find_cycle(edges: Iterable[Edge], task: str, depends_on: str) -> list[str] | None:
    """The cycle that adding ``task → depends_on`` (an ordering edge) would close, as the path
    ``[task, depends_on, …, task]`` following "depends on"; None if it closes none."""
    if task == depends_on:
        return [task, task]
    graph = prerequisites(edges)
    # Depth-first search from depends_on for a path back to task, remembering parents.
    parent: dict[str, str | None] = {depends_on: None}
    stack = [depends_on]
    while stack:
        node = stack.pop()
        for nxt in graph.get(node, ()):
            if nxt in parent:
                continue
            parent[nxt] = node
            if nxt == task:
                path = [task]
                step: str | None = node
                while step is not None:
                    path.append(step)
                    step = parent[step]
                path.append(task)
                # path is task ← … ← depends_on ← task reversed; put it in "depends on" order.
                return [task, *reversed(path[1:-1]), task]
            stack.append(nxt)
    return None


def topological_order(nodes: Sequence[str], edges: Iterable[Edge]) -> tuple[list[str], list[str]]:
    """Nodes with every prerequisite before its dependents (Kahn's algorithm; among nodes that
    are free at the same time, the earlier in ``nodes`` comes first). Edges to nodes outside
    ``nodes`` are ignored. Returns (order, nodes left over because they sit on a cycle)."""
    rank = {node: index for index, node in enumerate(nodes)}
    waiting_on = dict.fromkeys(nodes, 0)
    dependents: dict[str, list[str]] = {}
    seen: set[tuple[str, str]] = set()
    for edge in edges:
        pair = (edge.task, edge.depends_on)
        if edge.type not in ORDERING or pair in seen:
            continue
        if edge.task not in rank or edge.depends_on not in rank:
            continue
        seen.add(pair)
        waiting_on[edge.task] += 1
        dependents.setdefault(edge.depends_on, []).append(edge.task)
    free = [(rank[n], n) for n in nodes if waiting_on[n] == 0]
    heapq.heapify(free)
    order: list[str] = []
    while free:
        _, node = heapq.heappop(free)
        order.append(node)
        for dependent in dependents.get(node, ()):
            waiting_on[dependent] -= 1
            if waiting_on[dependent] == 0:
                heapq.heappush(free, (rank[dependent], dependent))
    placed = set(order)
    return order, [n for n in nodes if n not in placed]


def unfinished_blockers(task: str, edges: Iterable[Edge], unfinished: Iterable[str]) -> list[str]:
    """The tasks blocking ``task`` that are still unfinished (deleted ones count as finished,
    so pass only live, unfinished ids)."""
    open_ids = set(unfinished)
    return sorted({e.depends_on for e in edges if e.task == task and e.type in BLOCKING} & open_ids)


def ready(open_nodes: Sequence[str], edges: Iterable[Edge]) -> list[str]:
    """Open tasks with no unfinished blocker, in the order given."""
    open_set = set(open_nodes)
    blocked = {e.task for e in edges if e.type in BLOCKING and e.depends_on in open_set}
    return [n for n in open_nodes if n not in blocked]


def critical_path(
    order: Sequence[str], edges: Iterable[Edge], minutes: Mapping[str, int | None]
) -> tuple[list[str], int]:
    """The chain of ordering dependencies with the most estimated minutes (a task without an
    estimate weighs 0), computed over ``order`` (a topological order). Returns (path in
    execution order, total minutes); ties go to the chain ending earliest in ``order``."""
    if not order:
        return [], 0
    position = {node: i for i, node in enumerate(order)}
    prereqs: dict[str, list[str]] = {}
    for edge in edges:
        if edge.type in ORDERING and edge.task in position and edge.depends_on in position:
            prereqs.setdefault(edge.task, []).append(edge.depends_on)
    best: dict[str, int] = {}
    via: dict[str, str | None] = {}
    for node in order:
        weight = minutes.get(node) or 0
        before = max(prereqs.get(node, ()), key=lambda p: (best[p], -position[p]), default=None)
        best[node] = weight + (best[before] if before is not None else 0)
        via[node] = before
    end = max(order, key=lambda n: (best[n], -position[n]))
    path: list[str] = []
    step: str | None = end
    while step is not None:
        path.append(step)
        step = via[step]
    return list(reversed(path)), best[end]


@dataclass(frozen=True)
class Node:
    id: str
    open: bool
    minutes: int | None


@dataclass(frozen=True)
class Overview:
    """The whole graph at a glance (what ``GET /graph`` answers)."""

    nodes: int
    edges: int  # between live nodes
    order: list[str]
    ready: list[str]
    critical_path: list[str]
    critical_minutes: int
    cycles: list[str]  # left out of the order because they sit on a cycle (never expected)


def overview(nodes: Sequence[Node], edges: Sequence[Edge]) -> Overview:
    """Topological order, the open tasks ready to start (no unfinished blocker) and the
    critical path of open work by estimate, over ``nodes`` (oldest first)."""
    ids = [n.id for n in nodes]
    order, on_cycles = topological_order(ids, edges)
    open_ids = {n.id for n in nodes if n.open}
    path, total = critical_path(
        [i for i in order if i in open_ids], edges, {n.id: n.minutes for n in nodes}
    )
    live = set(ids)
    return Overview(
        nodes=len(ids),
        edges=len([e for e in edges if e.task in live and e.depends_on in live]),
        order=order,
        ready=ready([i for i in ids if i in open_ids], edges),
        critical_path=path,
        critical_minutes=total,
        cycles=on_cycles,
    )
