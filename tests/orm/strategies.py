"""Hypothesis strategies for the ORM tests (one module for all of them).

Values are deliberately drawn from small pools so that random sequences hit
the interesting coincidences often: setting an attribute to the value it
already has, two objects with equal data, NULL versus a number, the same
primary key asked for twice.  A few wide values (long/unicode names, 32-bit
extremes) keep the type round-trips honest.
"""

from __future__ import annotations

from hypothesis import strategies as st

__all__ = ["item_attr", "item_attrs", "item_changes", "item_ids", "item_names", "item_qtys",
           "session_options"]

#: NOT NULL ``String(40)`` values: mostly a tiny pool, sometimes anything short
item_names: st.SearchStrategy[str] = st.one_of(
    st.sampled_from(["a", "b", "c", ""]),
    st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]),
            max_size=40),
)

#: nullable Integer values: NULL, a small pool, or a 32-bit extreme
item_qtys: st.SearchStrategy[int | None] = st.one_of(
    st.none(),
    st.integers(min_value=-2, max_value=3),
    st.sampled_from([-(2**31), 2**31 - 1]),
)

#: the writable data attributes of the stateful test's mapped classes
item_attr: st.SearchStrategy[str] = st.sampled_from(["name", "qty"])

#: an attribute assignment ``(key, value)`` with a value fit for the column
item_changes: st.SearchStrategy[tuple[str, object]] = st.one_of(
    st.tuples(st.just("name"), item_names),
    st.tuples(st.just("qty"), item_qtys),
)

#: a non-empty subset of the writable attributes (for attribute-level expire)
item_attrs: st.SearchStrategy[list[str]] = st.lists(
    item_attr, min_size=1, max_size=2, unique=True
)

#: primary keys worth asking ``Session.get`` for: a table reset per example
#: starts its ids at 1 and holds a handful of rows, so about half exist
item_ids: st.SearchStrategy[int] = st.integers(min_value=1, max_value=8)

#: ``Session(...)`` keyword options the stateful test varies; the defaults
#: (``True``) are drawn three times as often as the alternative
session_options: st.SearchStrategy[dict[str, bool]] = st.fixed_dictionaries({
    "autoflush": st.sampled_from([True, True, True, False]),
    "expire_on_commit": st.sampled_from([True, True, True, False]),
})

# -- relationship stateful test (test_relationship_stateful.py) -------------------------
__all__ += ["rel_families", "rel_mappings", "rel_picks"]

#: how the Parent/Child pair of the relationship stateful test is mapped:
#: ``orphans`` -- ``cascade="all, delete-orphan"`` with a NOT NULL foreign key
#: (else the default ``"save-update, merge"`` with a nullable one); ``lazy`` --
#: the loader strategy of ``Parent.children``
rel_mappings: st.SearchStrategy[dict[str, object]] = st.fixed_dictionaries({
    "orphans": st.booleans(),
    "lazy": st.sampled_from(["select", "selectin"]),
})

#: an index into a list of candidate objects (taken modulo its length), so
#: that rules can pick "some parent" / "some child" from the model
rel_picks: st.SearchStrategy[int] = st.integers(min_value=0, max_value=63)

#: a few parents, each with a few children: ``[(parent_name, [child_name, ...])]``
rel_families: st.SearchStrategy[list[tuple[str, list[str]]]] = st.lists(
    st.tuples(item_names, st.lists(item_names, max_size=3)), max_size=3)
