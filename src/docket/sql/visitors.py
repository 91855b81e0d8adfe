"""Rewriting expression trees: :func:`replace` copies an expression with some
of its nodes swapped (the ORM uses it to bind a relationship's join condition
to an object's values, or to point it at an alias).

Only expression nodes are copied.  Tables, columns, bound parameters and
whole SELECTs are leaves: they are never cloned, only replaced when the
callback returns something for them.  Unchanged subtrees are shared between
the original and the copy (expressions are immutable once built).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from docket.sql.elements import BindParameter, ClauseElement, ColumnClause
from docket.sql.from_clauses import FromClause

__all__ = ["iterate", "replace"]

_LEAVES = (ColumnClause, BindParameter, FromClause)


def replace(element: Any, fn: Callable[[Any], Any]) -> Any:
    """A copy of ``element`` in which every node for which ``fn(node)``
    returns something other than None is replaced by that value."""

    def visit(node: Any) -> Any:
        found = fn(node)
        if found is not None:
            return found
        if isinstance(node, _LEAVES) or getattr(node, "is_selectable", False):
            return node
        changed: dict[str, Any] = {}
        for name, value in node.__dict__.items():
            new = visit_value(value)
            if new is not value:
                changed[name] = new
        if not changed:
            return node
        copy = node._clone()
        copy.__dict__.update(changed)
        return copy

    def visit_value(value: Any) -> Any:
        if isinstance(value, ClauseElement):
            return visit(value)
        if isinstance(value, (list, tuple)) and value:
            items = [visit_value(v) for v in value]
            if any(a is not b for a, b in zip(items, value)):
                return type(value)(items) if isinstance(value, list) else tuple(items)
        return value

    return visit(element)


def iterate(element: Any) -> list[Any]:
    """Every expression node under ``element`` (itself included), depth first;
    tables and SELECTs are not entered."""
    out: list[Any] = []
    todo = [element]
    while todo:
        node = todo.pop()
        out.append(node)
        if isinstance(node, _LEAVES) or getattr(node, "is_selectable", False):
            continue
        todo.extend(reversed(list(node.get_children())))
    return out
