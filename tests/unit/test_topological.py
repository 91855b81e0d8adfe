"""docket._util.topological: partial-order properties, stability, cycles."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from docket._util import topological
from docket.exc import CircularDependencyError


@st.composite
def dags(draw: st.DrawFn) -> tuple[list[int], list[tuple[int, int]]]:
    """Items in a random input order plus edges consistent with a hidden order."""
    n = draw(st.integers(min_value=0, max_value=25))
    hidden = draw(st.permutations(range(n)))
    pairs = [(a, b) for a in range(n) for b in range(a + 1, n)]
    chosen = draw(st.lists(st.sampled_from(pairs), max_size=60)) if pairs else []
    edges = [(hidden[a], hidden[b]) for a, b in chosen]
    items = draw(st.permutations(range(n)))
    return list(items), edges


@st.composite
def digraphs(draw: st.DrawFn) -> tuple[list[int], list[tuple[int, int]]]:
    """Arbitrary directed graphs (cycles and self-edges allowed)."""
    n = draw(st.integers(min_value=1, max_value=12))
    node = st.integers(min_value=0, max_value=n - 1)
    edges = draw(st.lists(st.tuples(node, node), max_size=30))
    return list(range(n)), edges


def _reachable(start: int, edges: list[tuple[int, int]]) -> set[int]:
    seen: set[int] = set()
    todo = [c for p, c in edges if p == start]
    while todo:
        v = todo.pop()
        if v not in seen:
            seen.add(v)
            todo.extend(c for p, c in edges if p == v)
    return seen


@settings(max_examples=300)
@given(dags())
def test_every_edge_respected(graph: tuple[list[int], list[tuple[int, int]]]) -> None:
    """For any DAG the result is a permutation in which each parent precedes its child."""
    items, edges = graph
    out = topological.sort(items, edges)
    assert sorted(out) == sorted(items)
    pos = {item: i for i, item in enumerate(out)}
    for parent, child in edges:
        assert pos[parent] < pos[child]


@settings(max_examples=300)
@given(dags())
def test_layers_are_minimal_and_keep_input_order(
    graph: tuple[list[int], list[tuple[int, int]]],
) -> None:
    """Each item sits in the earliest possible layer, and a layer keeps input order."""
    items, edges = graph
    layers = list(topological.sort_as_subsets(items, edges))
    depth = {item: d for d, layer in enumerate(layers) for item in layer}
    position = {item: i for i, item in enumerate(items)}
    for item in items:
        parents = [p for p, c in edges if c == item]
        expected = 1 + max((depth[p] for p in parents), default=-1)
        assert depth[item] == expected
    for layer in layers:
        assert [position[i] for i in layer] == sorted(position[i] for i in layer)
    assert [i for layer in layers for i in layer] == topological.sort(items, edges)


@given(st.lists(st.integers(), unique=True))
def test_no_edges_keeps_input_order(items: list[int]) -> None:
    """With nothing to order by, the output is the input."""
    assert topological.sort(items, []) == items


def test_ties_keep_input_order_within_layer() -> None:
    """Unrelated items keep their input order; a child follows its parents' layer."""
    items = ["d", "c", "b", "a"]
    assert topological.sort(items, [("a", "d")]) == ["c", "b", "a", "d"]
    assert list(topological.sort_as_subsets(items, [("a", "d")])) == [["c", "b", "a"], ["d"]]


def test_edges_outside_items_and_duplicates_ignored() -> None:
    """Edges naming unknown items don't constrain; repeated edges and items count once."""
    assert topological.sort(["x", "y", "x"], [("zz", "x"), ("y", "x"), ("y", "x")]) == ["y", "x"]


@settings(max_examples=300)
@given(digraphs())
def test_find_cycles_matches_reachability(graph: tuple[list[int], list[tuple[int, int]]]) -> None:
    """An item is reported as cyclic exactly when it can reach itself."""
    items, edges = graph
    expected = {v for v in items if v in _reachable(v, edges)}
    assert topological.find_cycles(items, edges) == expected


@settings(max_examples=300)
@given(digraphs())
def test_sort_raises_iff_cyclic(graph: tuple[list[int], list[tuple[int, int]]]) -> None:
    """sort() succeeds exactly on acyclic graphs; the error names the true cycle members."""
    items, edges = graph
    cyclic = {v for v in items if v in _reachable(v, edges)}
    if not cyclic:
        topological.sort(items, edges)
        return
    with pytest.raises(CircularDependencyError) as info:
        topological.sort(items, edges)
    assert info.value.cycles == cyclic
    for member in cyclic:
        assert repr(member) in str(info.value)
    for parent, child in info.value.edges:
        assert (parent, child) in edges


def test_cycle_error_names_members_and_excludes_dependents() -> None:
    """A downstream item is stuck but not a cycle member; the message names a, b only."""
    edges = [("a", "b"), ("b", "a"), ("b", "c"), ("root", "a")]
    with pytest.raises(CircularDependencyError) as info:
        topological.sort(["root", "a", "b", "c"], edges)
    err = info.value
    assert err.cycles == {"a", "b"}
    assert "'a', 'b'" in str(err)
    assert "'c'" not in str(err).split("depend")[0]
    assert ("a", "b") in err.edges and ("b", "c") in err.edges


def test_self_edge_is_a_cycle() -> None:
    """An item depending on itself cannot be sorted and is reported."""
    assert topological.find_cycles([1, 2], [(1, 1), (1, 2)]) == {1}
    with pytest.raises(CircularDependencyError):
        topological.sort([1, 2], [(1, 1)])


def test_layers_before_cycle_are_yielded() -> None:
    """sort_as_subsets yields what it can order before raising on the cycle."""
    gen = topological.sort_as_subsets(["p", "a", "b"], [("p", "a"), ("a", "b"), ("b", "a")])
    assert next(gen) == ["p"]
    with pytest.raises(CircularDependencyError):
        next(gen)


def test_large_chain_is_fast_and_deep() -> None:
    """A 200,000-item chain sorts without recursion limits (iterative algorithms)."""
    n = 200_000
    items = list(range(n))[::-1]
    edges = [(i, i + 1) for i in range(n - 1)]
    assert topological.sort(items, edges) == list(range(n))
    assert topological.find_cycles(items, edges + [(n - 1, 0)]) == set(items)
