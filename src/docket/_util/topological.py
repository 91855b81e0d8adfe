"""Topological sorting of hashable items under "parent before child" edges.

Generic and dependency-free: used for table DDL order and by the ORM unit of
work (mapper order, row order within a self-referential table).

Conventions shared by every function here:

* ``items`` fixes the universe and the tie-break order; duplicates after the
  first occurrence are ignored;
* ``edges`` are ``(parent, child)`` pairs; an edge with an end outside
  ``items`` is ignored (it cannot constrain the result), a repeated edge
  counts once, and a self-edge ``(a, a)`` is a cycle of one.

Ordering is *layered* (Kahn's algorithm, one layer at a time): the first
layer is every item with no parent, in input order; each following layer is
every item whose last parent was in the previous layer, again in input order.
Items that nothing orders relative to each other therefore keep their input
order within a layer, and with no edges the output equals the input.
Cost: O(V log V + E) (each layer is re-sorted by input position).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Iterator
from typing import Generic, TypeVar

from docket.exc import CircularDependencyError

__all__ = ["find_cycles", "sort", "sort_as_subsets"]

T = TypeVar("T", bound=Hashable)


class _Graph(Generic[T]):
    """Items indexed by input position with de-duplicated adjacency lists.

    Invariants: ``nodes[i]`` is the i-th distinct item; ``children[i]`` lists
    each child index once; ``indegree[i] == number of distinct parents of i``;
    ``self_loops`` holds indexes with an edge to themselves (also counted in
    ``children``/``indegree``, so they never become ready).
    """

    __slots__ = ("children", "edges", "index", "indegree", "nodes", "self_loops")

    def __init__(self, items: Iterable[T], edges: Iterable[tuple[T, T]]) -> None:
        self.nodes: list[T] = list(dict.fromkeys(items))
        self.index: dict[T, int] = {item: i for i, item in enumerate(self.nodes)}
        n = len(self.nodes)
        self.children: list[list[int]] = [[] for _ in range(n)]
        self.indegree: list[int] = [0] * n
        self.self_loops: set[int] = set()
        self.edges: set[tuple[int, int]] = set()
        index = self.index
        for parent, child in edges:
            p = index.get(parent)
            c = index.get(child)
            if p is None or c is None or (p, c) in self.edges:
                continue
            self.edges.add((p, c))
            self.children[p].append(c)
            self.indegree[c] += 1
            if p == c:
                self.self_loops.add(p)


def sort_as_subsets(items: Iterable[T], edges: Iterable[tuple[T, T]]) -> Iterator[list[T]]:
    """Yield layers of items; every item of a layer may be handled together.

    Each layer lists, in input order, the items whose parents all appeared
    in earlier layers.

    Args:
        items: the items to order (hashable).
        edges: ``(parent, child)`` pairs: the parent comes first.

    Raises:
        CircularDependencyError: some items lie on (or behind) a cycle; raised
            after the layers that could be ordered have been yielded.
    """
    graph = _Graph(items, edges)
    nodes = graph.nodes
    children = graph.children
    indegree = list(graph.indegree)
    layer = [i for i, d in enumerate(indegree) if d == 0]
    done = 0
    while layer:
        yield [nodes[i] for i in layer]
        done += len(layer)
        ready: list[int] = []
        for i in layer:
            for c in children[i]:
                indegree[c] -= 1
                if indegree[c] == 0:
                    ready.append(c)
        ready.sort()
        layer = ready
    if done < len(nodes):
        stuck = [nodes[i] for i, d in enumerate(indegree) if d > 0]
        raise _cycle_error(stuck, graph)


def sort(items: Iterable[T], edges: Iterable[tuple[T, T]]) -> list[T]:
    """Items ordered so that every parent precedes its children.

    Args:
        items: the items to order (hashable); ties keep this order.
        edges: ``(parent, child)`` pairs.

    Raises:
        CircularDependencyError: the edges form a cycle; ``.cycles`` holds the
            items on cycles, ``.edges`` the edges among the unsortable items.
    """
    out: list[T] = []
    for layer in sort_as_subsets(items, edges):
        out.extend(layer)
    return out


def find_cycles(items: Iterable[T], edges: Iterable[tuple[T, T]]) -> set[T]:
    """Every item that lies on at least one cycle (self-edges included).

    Tarjan's strongly-connected-components algorithm, iterative (no
    recursion limit), O(V + E).
    """
    graph = _Graph(items, edges)
    return {graph.nodes[i] for i in _cyclic_indexes(graph)}


def _cyclic_indexes(graph: _Graph[T]) -> set[int]:
    n = len(graph.nodes)
    children = graph.children
    order = [-1] * n  # discovery index, -1 = unvisited
    low = [0] * n
    on_stack = [False] * n
    stack: list[int] = []
    counter = 0
    result: set[int] = set()
    for root in range(n):
        if order[root] != -1:
            continue
        order[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack[root] = True
        work: list[tuple[int, int]] = [(root, 0)]  # (node, next child position)
        while work:
            v, pos = work[-1]
            if pos < len(children[v]):
                work[-1] = (v, pos + 1)
                w = children[v][pos]
                if order[w] == -1:
                    order[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack[w] = True
                    work.append((w, 0))
                elif on_stack[w] and order[w] < low[v]:
                    low[v] = order[w]
                continue
            work.pop()
            if work:
                u = work[-1][0]
                if low[v] < low[u]:
                    low[u] = low[v]
            if low[v] == order[v]:
                component: list[int] = []
                while True:
                    w = stack.pop()
                    on_stack[w] = False
                    component.append(w)
                    if w == v:
                        break
                if len(component) > 1 or v in graph.self_loops:
                    result.update(component)
    return result


def _cycle_error(stuck: list[T], graph: _Graph[T]) -> CircularDependencyError:
    """The error for items that could not be ordered (cycle members and the
    items that depend on them)."""
    sub = _Graph(stuck, ((graph.nodes[p], graph.nodes[c]) for p, c in graph.edges))
    cycles = {sub.nodes[i] for i in _cyclic_indexes(sub)}
    edges = {(sub.nodes[p], sub.nodes[c]) for p, c in sub.edges}
    members = ", ".join(sorted(_describe(item) for item in cycles))
    return CircularDependencyError(
        f"Circular dependency detected: {members} depend on each other in a cycle, so no "
        "order puts every parent before its children. Break the cycle (remove one of the "
        "dependencies, or mark it to be handled separately: use_alter=True for a foreign "
        "key, post_update=True for a relationship).",
        cycles,
        edges,
    )


def _describe(item: object) -> str:
    """A short name for an item in an error message."""
    name = getattr(item, "fullname", None)
    if isinstance(name, str):
        return name
    return repr(item)
