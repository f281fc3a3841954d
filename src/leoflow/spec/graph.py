"""Pure graph helpers over ``task_id -> upstream ids``: cycle search and topological order.

Both are iterative (a 5,000-task chain must not hit Python's recursion limit) and
deterministic: ties are broken by declaration order, so the same DAG always yields the same
order and the same reported cycle.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping, Sequence


def downstream_map(upstreams: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    """Invert ``task -> upstream ids`` into ``task -> downstream ids`` (declaration order)."""
    downstream: dict[str, list[str]] = {node: [] for node in upstreams}
    for node, ups in upstreams.items():
        for up in ups:
            downstream.setdefault(up, []).append(node)
    return downstream


def find_cycle(upstreams: Mapping[str, Sequence[str]]) -> list[str] | None:
    """A dependency cycle as a path in data-flow order (``[a, b, c, a]``), or ``None``.

    Edges that name unknown nodes are ignored; report those separately.
    """
    downstream = downstream_map({k: [u for u in v if u in upstreams] for k, v in upstreams.items()})
    state: dict[str, int] = {}  # 1 = on the current path, 2 = fully explored
    for root in upstreams:
        if state.get(root):
            continue
        path: list[str] = [root]
        iterators = [iter(downstream[root])]
        state[root] = 1
        while iterators:
            child = next(iterators[-1], None)
            if child is None:
                state[path.pop()] = 2
                iterators.pop()
                continue
            if state.get(child) == 1:
                return [*path[path.index(child) :], child]
            if not state.get(child):
                state[child] = 1
                path.append(child)
                iterators.append(iter(downstream[child]))
    return None


def topological_order(upstreams: Mapping[str, Sequence[str]]) -> list[str]:
    """Every node after all of its upstreams; among ready nodes, the first declared goes first.

    Raises ``ValueError`` naming the cycle when there is one.
    """
    cycle = find_cycle(upstreams)
    if cycle is not None:
        raise ValueError(f"dependency cycle: {' -> '.join(cycle)}")
    position = {node: index for index, node in enumerate(upstreams)}
    pending = {node: len({u for u in ups if u in position}) for node, ups in upstreams.items()}
    downstream = downstream_map({k: list(dict.fromkeys(v)) for k, v in upstreams.items()})
    ready = [position[node] for node, count in pending.items() if count == 0]
    heapq.heapify(ready)
    names = list(upstreams)
    order: list[str] = []
    while ready:
        node = names[heapq.heappop(ready)]
        order.append(node)
        for child in downstream[node]:
            pending[child] -= 1
            if pending[child] == 0:
                heapq.heappush(ready, position[child])
    return order
