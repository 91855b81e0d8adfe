"""FROM-clause objects: tables, aliases, subqueries, CTEs and joins, and the
inference of a join's ON clause from foreign keys.

Every name here is re-exported by :mod:`docket.sql.selectable` (where SELECT
lives), which is the import path the rest of docket uses.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from docket import exc
from docket.sql import operators as ops
from docket.sql.base import ColumnCollection
from docket.sql.elements import (
    BindParameter,
    ClauseElement,
    ColumnClause,
    ColumnElement,
    and_,
    coerce_where,
)

if TYPE_CHECKING:
    from docket.sql.selectable import CompoundSelect, Select

__all__ = [
    "CTE",
    "Alias",
    "FromClause",
    "Join",
    "Subquery",
    "TableClause",
    "alias",
    "coerce_from",
    "join",
    "join_condition",
    "outerjoin",
    "table",
]


def coerce_from(obj: Any) -> FromClause:
    """Turn ``obj`` (a table, alias, join, mapped class, select) into a FromClause."""
    if isinstance(obj, FromClause):
        return obj
    ce = getattr(obj, "__clause_element__", None)
    if ce is not None:
        return coerce_from(ce())
    if isinstance(obj, _selectable.Select):
        raise exc.ArgumentError(
            "A select() used as a FROM clause must be made a subquery first: "
            "call .subquery() on it."
        )
    raise exc.ArgumentError(f"Expected a table, alias, join or mapped class, got {obj!r}")


class FromClause(ClauseElement):
    """Something that can appear in a FROM clause and has columns."""

    __visit_name__ = "fromclause"
    _is_from_clause = True
    named_with_column = False
    name: str | None = None
    schema: str | None = None
    _columns: ColumnCollection[Any] | None = None

    # -- columns -----------------------------------------------------------
    def _populate_columns(self) -> ColumnCollection[Any]:
        raise NotImplementedError

    @property
    def c(self) -> ColumnCollection[Any]:
        cols = self._columns
        if cols is None:
            cols = self._columns = self._populate_columns()
        return cols

    columns = c

    @property
    def exported_columns(self) -> ColumnCollection[Any]:
        return self.c

    @property
    def primary_key(self) -> list[ColumnElement]:
        return [c for c in self.c if c.primary_key]

    @property
    def foreign_keys(self) -> list[Any]:
        return [fk for c in self.c for fk in getattr(c, "foreign_keys", ())]

    @property
    def _from_objects(self) -> list[FromClause]:
        return [self]

    @property
    def _hide_froms(self) -> list[FromClause]:
        """FROM objects that this one replaces (a join hides its tables)."""
        return []

    def corresponding_column(self, col: ColumnElement) -> ColumnElement | None:
        """The column of this selectable that stands for ``col``, or None."""
        if self.c.contains_column(col):
            return col
        target = getattr(col, "proxy_set", {col})
        for c in self.c:
            if target & getattr(c, "proxy_set", {c}):
                return c
        return None

    def is_derived_from(self, other: FromClause) -> bool:
        return other is self

    # -- builders ------------------------------------------------------------
    def alias(self, name: str | None = None, flat: bool = False) -> Alias:
        return Alias(self, name)

    def join(
        self, right: Any, onclause: Any = None, isouter: bool = False, full: bool = False
    ) -> Join:
        return Join(self, right, onclause, isouter, full)

    def outerjoin(self, right: Any, onclause: Any = None, full: bool = False) -> Join:
        return Join(self, right, onclause, True, full)

    def select(self) -> Select:
        return _selectable.Select(self)

    def _ck(self, binds: list[BindParameter]) -> tuple[Any, ...]:
        return ("from", self)


class TableClause(FromClause):
    """A table known by name and columns only (``table("t", column("x"))``).
    :class:`docket.Table` extends it with constraints and metadata."""

    __visit_name__ = "table"
    named_with_column = True

    def __init__(self, name: str, *columns: ColumnClause, schema: str | None = None) -> None:
        self.name = name
        self.fullname = f"{schema}.{name}" if schema else name
        self.schema = schema
        self._columns = ColumnCollection()
        for c in columns:
            self.append_column(c)

    def append_column(self, c: ColumnClause) -> None:
        c.table = self
        assert self._columns is not None
        self._columns._add(c.key or c.name, c)

    def _populate_columns(self) -> ColumnCollection[Any]:
        return ColumnCollection()

    def insert(self) -> Any:
        from docket.sql.dml import Insert

        return Insert(self)

    def update(self) -> Any:
        from docket.sql.dml import Update

        return Update(self)

    def delete(self) -> Any:
        from docket.sql.dml import Delete

        return Delete(self)

    def __repr__(self) -> str:
        return f"table({self.fullname!r})"


def table(name: str, *columns: ColumnClause, schema: str | None = None) -> TableClause:
    """A lightweight table construct."""
    return TableClause(name, *columns, schema=schema)


class Alias(FromClause):
    """``<element> AS name``; its columns stand for the element's columns."""

    __visit_name__ = "alias"
    named_with_column = True

    def __init__(self, element: FromClause | Select | CompoundSelect, name: str | None = None):
        self.element = element
        self._anonymous = name is None
        self.name = name or f"anon_{_next_anon()}"
        self.original = getattr(element, "original", element)

    def _populate_columns(self) -> ColumnCollection[Any]:
        cols: ColumnCollection[Any] = ColumnCollection()
        for key, col in _exported(self.element):
            proxy = col._make_proxy(self, key) if hasattr(col, "_make_proxy") else (
                ColumnClause(key, col.type, _selectable=self)
            )
            if not hasattr(col, "_make_proxy"):
                proxy._proxies = (col,)
            cols._add(key, proxy)
        return cols

    @property
    def foreign_keys(self) -> list[Any]:
        return []

    def is_derived_from(self, other: FromClause) -> bool:
        return other is self or (
            isinstance(self.element, FromClause) and self.element.is_derived_from(other)
        )

    def _ck(self, binds: list[BindParameter]) -> tuple[Any, ...]:
        # Named aliases of tables are structural; anonymous ones are unique objects.
        if self._anonymous:
            return ("alias", self)
        return ("alias", self.name, self.element._ck(binds))

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"


class Subquery(Alias):
    """A SELECT used in a FROM clause: ``(SELECT ...) AS name``."""

    __visit_name__ = "subquery"


class CTE(Alias):
    """A common table expression: ``WITH name AS (SELECT ...)``."""

    __visit_name__ = "cte"

    _restates: CTE | None = None

    def __init__(self, element: Any, name: str | None = None, recursive: bool = False):
        super().__init__(element, name)
        self.recursive = recursive

    def _ck(self, binds: list[BindParameter]) -> tuple[Any, ...]:
        return ("cte", self.name, self.recursive, self.element._ck(binds))

    def union(self, *others: Any) -> CTE:
        return self._compound("UNION", others)

    def union_all(self, *others: Any) -> CTE:
        return self._compound("UNION ALL", others)

    def _compound(self, keyword: str, others: Sequence[Any]) -> CTE:
        compound = _selectable.CompoundSelect(keyword, self.element, *others)
        new = CTE(compound, self.name, self.recursive)
        # the same CTE restated with its recursive part: the parts refer to
        # ``self``'s columns, so both objects render under one name
        new._anonymous = self._anonymous
        new._restates = self
        return new


def alias(selectable: FromClause, name: str | None = None) -> Alias:
    return selectable.alias(name)


def _exported(element: Any) -> list[tuple[str, ColumnElement]]:
    """(key, column) pairs a selectable exports, keys made unique."""
    if isinstance(element, FromClause):
        return [(k, c) for k, c in element.c.items()]
    seen: dict[str, int] = {}
    out: list[tuple[str, ColumnElement]] = []
    for col in element._exported_column_list():
        key = _column_name(col) or "anon"
        if key in seen:
            seen[key] += 1
            key = f"{key}_{seen[key]}"
        else:
            seen[key] = 0
        out.append((key, col))
    return out


def _column_name(col: ColumnElement) -> str | None:
    name = getattr(col, "name", None)
    if isinstance(name, str):
        return name
    return getattr(col, "key", None)


_anon = [0]


def _next_anon() -> int:
    _anon[0] += 1
    return _anon[0]


class Join(FromClause):
    """``left [LEFT OUTER | FULL OUTER] JOIN right ON onclause``."""

    __visit_name__ = "join"

    def __init__(
        self, left: Any, right: Any, onclause: Any = None, isouter: bool = False,
        full: bool = False,
    ) -> None:
        self.left = coerce_from(left)
        self.right = coerce_from(right)
        if onclause is None:
            onclause = join_condition(self.left, self.right)
        self.onclause = coerce_where(onclause)
        self.isouter = isouter
        self.full = full

    def _populate_columns(self) -> ColumnCollection[Any]:
        cols: ColumnCollection[Any] = ColumnCollection()
        for side in (self.left, self.right):
            for c in side.c:
                owner = getattr(c.table, "name", None) if hasattr(c, "table") else None
                cols._add(f"{owner}_{c.key}" if owner else str(c.key), c)
        return cols

    @property
    def _from_objects(self) -> list[FromClause]:
        return [self] + self.left._from_objects + self.right._from_objects

    @property
    def _hide_froms(self) -> list[FromClause]:
        return (
            self.left._from_objects + self.right._from_objects
            + self.left._hide_froms + self.right._hide_froms
        )

    def corresponding_column(self, col: ColumnElement) -> ColumnElement | None:
        return self.left.corresponding_column(col) or self.right.corresponding_column(col)

    def is_derived_from(self, other: FromClause) -> bool:
        return other is self or self.left.is_derived_from(other) or self.right.is_derived_from(
            other
        )

    def _ck(self, binds: list[BindParameter]) -> tuple[Any, ...]:
        return (
            "join",
            self.left._ck(binds),
            self.right._ck(binds),
            self.onclause._ck(binds),
            self.isouter,
            self.full,
        )


def join(left: Any, right: Any, onclause: Any = None, isouter: bool = False,
         full: bool = False) -> Join:
    return Join(left, right, onclause, isouter, full)


def outerjoin(left: Any, right: Any, onclause: Any = None, full: bool = False) -> Join:
    return Join(left, right, onclause, True, full)


def join_condition(left: FromClause, right: FromClause) -> ColumnElement:
    """The ON clause relating two selectables through their foreign keys.

    Raises:
        NoForeignKeysError: no foreign key links them.
        AmbiguousForeignKeysError: more than one foreign key constraint does.
    """
    for a, b in ((left, right), (right, left)):
        found: dict[Any, list[ColumnElement]] = {}
        for fk in _foreign_keys_of(b):
            target = a.corresponding_column(fk.column) if fk.column is not None else None
            if target is not None:
                # not ``target == fk.parent``: Python would let a Column on the
                # right (a subclass) answer first and swap the sides
                found.setdefault(fk.constraint, []).append(target._binary(ops.eq, fk.parent))
        if len(found) > 1:
            raise exc.AmbiguousForeignKeysError(
                f"Can't determine join between {_describe(left)} and {_describe(right)}: "
                "there are multiple foreign key paths linking them. Give the ON clause "
                "explicitly, e.g. .join(target, left.c.x == target.c.y)."
            )
        if found:
            return and_(*next(iter(found.values())))
    raise exc.NoForeignKeysError(
        f"Can't find any foreign key relationships between {_describe(left)} and "
        f"{_describe(right)}. Give the ON clause explicitly."
    )


def _foreign_keys_of(sel: FromClause) -> list[Any]:
    if isinstance(sel, Alias) and isinstance(sel.element, FromClause):
        out = []
        for fk in _foreign_keys_of(sel.element):
            parent = sel.corresponding_column(fk.parent)
            if parent is not None:
                out.append(_AliasedFK(fk, parent))
        return out
    if isinstance(sel, Alias):
        # a subquery or CTE: its columns carry the foreign keys of the table
        # columns they were selected from
        found = []
        for col in sel.c:
            for base in getattr(col, "proxy_set", ()):
                for fk in getattr(base, "foreign_keys", ()):
                    found.append(_AliasedFK(fk, col))
        return found
    if isinstance(sel, Join):
        return _foreign_keys_of(sel.left) + _foreign_keys_of(sel.right)
    return list(sel.foreign_keys)


class _AliasedFK:
    """A ForeignKey seen through an alias: same target, aliased parent column."""

    def __init__(self, fk: Any, parent: ColumnElement) -> None:
        self.column = fk.column
        self.constraint = fk.constraint
        self.parent = parent


def _describe(sel: FromClause) -> str:
    return repr(getattr(sel, "name", None) or sel)


# A FROM object makes a SELECT (``table.select()``), a CTE a compound SELECT,
# and those live in selectable.py, which imports this module first thing.
# The module reference is bound here, at the end, and read only inside
# method bodies, so this works whichever of the two modules is imported
# first; no name is needed from selectable.py while this module executes.
from docket.sql import selectable as _selectable  # noqa: E402
