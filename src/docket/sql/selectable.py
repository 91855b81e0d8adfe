"""FROM-clause objects (tables, aliases, subqueries, joins) and SELECT.

A :class:`Select` keeps what it was built from -- ``_raw_entities`` (the
objects the user passed, which the ORM interprets) and ``_raw_columns``
(their Core form) -- plus its clauses.  It is immutable: each builder method
returns a copy.  FROM inference (which tables a statement reads, joins
applied) happens in :meth:`Select.get_final_froms`, used by the compiler.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from docket import exc
from docket.sql import operators as ops
from docket.sql import types as sqltypes
from docket.sql.base import ColumnCollection, Executable
from docket.sql.elements import (
    BindParameter,
    ClauseElement,
    ColumnClause,
    ColumnElement,
    Grouping,
    Label,
    UnaryExpression,
    and_,
    coerce_expression,
    coerce_where,
    literal,
    literal_column,
    order_by_expression,
)

if TYPE_CHECKING:
    pass

__all__ = [
    "CTE",
    "Alias",
    "CompoundSelect",
    "Exists",
    "FromClause",
    "Join",
    "ScalarSelect",
    "Select",
    "Subquery",
    "TableClause",
    "alias",
    "except_",
    "exists",
    "intersect",
    "join",
    "outerjoin",
    "select",
    "table",
    "union",
    "union_all",
]


def coerce_from(obj: Any) -> FromClause:
    """Turn ``obj`` (a table, alias, join, mapped class, select) into a FromClause."""
    if isinstance(obj, FromClause):
        return obj
    ce = getattr(obj, "__clause_element__", None)
    if ce is not None:
        return coerce_from(ce())
    if isinstance(obj, Select):
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
        return Select(self)

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
        new = CTE(CompoundSelect(keyword, self.element, *others), self.name, self.recursive)
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


# --- SELECT -------------------------------------------------------------------


class _SelectBase(Executable, ClauseElement):
    """Shared by Select and CompoundSelect: ORDER BY / LIMIT / OFFSET and
    the conversions to subquery, CTE, scalar subquery and EXISTS."""

    is_selectable = True
    is_select = True
    _order_by: tuple[ColumnElement, ...] = ()
    _limit: BindParameter | None = None
    _offset: BindParameter | None = None
    _for_update: dict[str, Any] | None = None

    def order_by(self, *clauses: Any) -> Any:
        """Append ORDER BY criteria; ``order_by(None)`` removes them."""
        new = self._generate()
        if len(clauses) == 1 and clauses[0] is None:
            new._order_by = ()
        else:
            new._order_by = self._order_by + tuple(_order_expr(c) for c in clauses)
        return new

    def limit(self, limit: int | None) -> Any:
        new = self._generate()
        new._limit = (
            None if limit is None
            else literal(_as_int(limit, "limit"), sqltypes.INTEGERTYPE)
        )
        return new

    def offset(self, offset: int | None) -> Any:
        new = self._generate()
        new._offset = (
            None if offset is None else literal(_as_int(offset, "offset"), sqltypes.INTEGERTYPE)
        )
        return new

    def slice(self, start: int, stop: int) -> Any:
        return self.offset(start or None).limit(max(stop - start, 0))

    def subquery(self, name: str | None = None) -> Subquery:
        return Subquery(self, name)  # type: ignore[arg-type]

    def alias(self, name: str | None = None, flat: bool = False) -> Subquery:
        return self.subquery(name)

    def cte(self, name: str | None = None, recursive: bool = False) -> CTE:
        return CTE(self, name, recursive)

    def scalar_subquery(self) -> ScalarSelect:
        return ScalarSelect(self)

    def label(self, name: str) -> Label:
        return self.scalar_subquery().label(name)

    def exists(self) -> Exists:
        return Exists(self)

    def union(self, *others: Any) -> CompoundSelect:
        return CompoundSelect("UNION", self, *others)

    def union_all(self, *others: Any) -> CompoundSelect:
        return CompoundSelect("UNION ALL", self, *others)

    def except_(self, *others: Any) -> CompoundSelect:
        return CompoundSelect("EXCEPT", self, *others)

    def except_all(self, *others: Any) -> CompoundSelect:
        return CompoundSelect("EXCEPT ALL", self, *others)

    def intersect(self, *others: Any) -> CompoundSelect:
        return CompoundSelect("INTERSECT", self, *others)

    def intersect_all(self, *others: Any) -> CompoundSelect:
        return CompoundSelect("INTERSECT ALL", self, *others)

    def with_for_update(
        self, *, nowait: bool = False, read: bool = False, of: Any = None,
        skip_locked: bool = False, key_share: bool = False,
    ) -> Any:
        new = self._generate()
        new._for_update = {
            "nowait": nowait, "read": read, "skip_locked": skip_locked, "key_share": key_share,
            "of": [coerce_expression(o) if not isinstance(o, FromClause) else o
                   for o in (of if isinstance(of, (list, tuple)) else [of] if of is not None
                             else [])],
        }
        return new

    def self_group(self, against: ops.Operator | None = None) -> ClauseElement:
        return self

    def _exported_column_list(self) -> list[ColumnElement]:
        raise NotImplementedError

    @property
    def selected_columns(self) -> ColumnCollection[Any]:
        return ColumnCollection(_exported(self))

    exported_columns = selected_columns

    def _tail_ck(self, binds: list[BindParameter]) -> tuple[Any, ...]:
        return (
            tuple(o._ck(binds) for o in self._order_by),
            self._limit._ck(binds) if self._limit is not None else None,
            self._offset._ck(binds) if self._offset is not None else None,
            None if self._for_update is None else tuple(
                (k, tuple(o._ck(binds) for o in v) if k == "of" else v)
                for k, v in self._for_update.items()
            ),
        )


def _as_int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        try:
            return int(value)
        except (TypeError, ValueError):
            raise exc.ArgumentError(f"{what}() needs an integer, got {value!r}") from None
    return value


def _order_expr(c: Any) -> ColumnElement:
    return order_by_expression(c)


def _expand_entity(raw: Any) -> list[ColumnElement]:
    """Columns an entity contributes to a SELECT list."""
    if isinstance(raw, FromClause):
        return list(raw.c)
    return [raw]


class Select(_SelectBase):
    """``SELECT ...`` -- see the SQL tutorial in docs/ for usage."""

    __visit_name__ = "select"
    _where: tuple[ColumnElement, ...] = ()
    _having: tuple[ColumnElement, ...] = ()
    _group_by: tuple[ColumnElement, ...] = ()
    _distinct: bool = False
    _distinct_on: tuple[ColumnElement, ...] = ()
    _from_obj: tuple[FromClause, ...] = ()
    # (target, onclause, isouter, full, from_) in call order
    _setup_joins: tuple[tuple[Any, Any, bool, bool, Any], ...] = ()
    _correlate: tuple[FromClause, ...] | None = None
    _with_options: tuple[Any, ...] = ()

    def __init__(self, *entities: Any) -> None:
        if len(entities) == 1 and isinstance(entities[0], (list, tuple)):
            entities = tuple(entities[0])
        self._raw_entities: tuple[Any, ...] = entities
        self._raw_columns: tuple[ClauseElement, ...] = tuple(
            _coerce_column_or_from(e) for e in entities
        )

    # -- entities ----------------------------------------------------------
    def _exported_column_list(self) -> list[ColumnElement]:
        out: list[ColumnElement] = []
        for raw in self._raw_columns:
            out.extend(_expand_entity(raw))
        return out

    def add_columns(self, *entities: Any) -> Select:
        new = self._generate()
        new._raw_entities = self._raw_entities + entities
        new._raw_columns = self._raw_columns + tuple(_coerce_column_or_from(e) for e in entities)
        return new

    def with_only_columns(self, *entities: Any, maintain_column_froms: bool = False) -> Select:
        if len(entities) == 1 and isinstance(entities[0], (list, tuple)):
            entities = tuple(entities[0])
        new = self._generate()
        if maintain_column_froms:
            new._from_obj = self._from_obj + tuple(
                f for f in self.columns_clause_froms if f not in self._from_obj
            )
        new._raw_entities = entities
        new._raw_columns = tuple(_coerce_column_or_from(e) for e in entities)
        return new

    @property
    def columns_clause_froms(self) -> list[FromClause]:
        return _unique([f for c in self._raw_columns for f in c._from_objects])

    # -- criteria ------------------------------------------------------------
    def where(self, *criteria: Any) -> Select:
        """Append WHERE criteria, joined with AND."""
        new = self._generate()
        new._where = self._where + tuple(coerce_where(c) for c in criteria)
        return new

    filter = where

    def filter_by(self, **kw: Any) -> Select:
        """WHERE ``<entity>.<key> = value`` for the last joined or first selected entity."""
        entity = self._filter_by_zero()
        crit = []
        for key, value in kw.items():
            crit.append(_attr_of(entity, key) == value)
        return self.where(*crit)

    def _filter_by_zero(self) -> Any:
        if self._setup_joins:
            return self._setup_joins[-1][0]
        if self._from_obj:
            return self._from_obj[0]
        for raw, col in zip(self._raw_entities, self._raw_columns):
            if isinstance(col, FromClause):
                return raw
            owner = getattr(raw, "_filter_by_entity", None)
            if owner is not None:
                return owner
            table = getattr(col, "table", None)
            if table is not None:
                return table
        raise exc.InvalidRequestError(
            "filter_by() needs an entity to filter: select a table or mapped class first."
        )

    def having(self, *criteria: Any) -> Select:
        new = self._generate()
        new._having = self._having + tuple(coerce_where(c) for c in criteria)
        return new

    def group_by(self, *clauses: Any) -> Select:
        new = self._generate()
        if len(clauses) == 1 and clauses[0] is None:
            new._group_by = ()
        else:
            new._group_by = self._group_by + tuple(_order_expr(c) for c in clauses)
        return new

    def distinct(self, *expr: Any) -> Select:
        """SELECT DISTINCT; with expressions, PostgreSQL's DISTINCT ON (...)."""
        new = self._generate()
        new._distinct = True
        if expr:
            new._distinct_on = self._distinct_on + tuple(coerce_expression(e) for e in expr)
        return new

    def select_from(self, *froms: Any) -> Select:
        new = self._generate()
        new._from_obj = self._from_obj + tuple(coerce_from(f) for f in froms)
        return new

    def join(
        self, target: Any, onclause: Any = None, *, isouter: bool = False, full: bool = False
    ) -> Select:
        """JOIN ``target``; the left side is inferred from the FROM list and
        the ON clause from foreign keys unless given."""
        new = self._generate()
        new._setup_joins = self._setup_joins + ((target, onclause, isouter, full, None),)
        return new

    def outerjoin(self, target: Any, onclause: Any = None, *, full: bool = False) -> Select:
        return self.join(target, onclause, isouter=True, full=full)

    def join_from(
        self, from_: Any, target: Any, onclause: Any = None, *, isouter: bool = False,
        full: bool = False,
    ) -> Select:
        new = self._generate()
        new._setup_joins = self._setup_joins + ((target, onclause, isouter, full, from_),)
        return new

    def outerjoin_from(self, from_: Any, target: Any, onclause: Any = None, *,
                       full: bool = False) -> Select:
        return self.join_from(from_, target, onclause, isouter=True, full=full)

    def correlate(self, *froms: Any) -> Select:
        new = self._generate()
        if len(froms) == 1 and froms[0] is None:
            new._correlate = ()
        else:
            new._correlate = (self._correlate or ()) + tuple(coerce_from(f) for f in froms)
        return new

    def options(self, *options: Any) -> Select:
        """Attach loader options (ORM)."""
        new = self._generate()
        new._with_options = self._with_options + options
        return new

    # -- FROM resolution -----------------------------------------------------
    def get_final_froms(self) -> list[FromClause]:
        """The FROM list as rendered: explicit select_from, then tables the
        columns and criteria read, with joins replacing the tables they join."""
        froms: list[FromClause] = list(self._from_obj)
        for part in (self._raw_columns, self._where, self._having):
            for el in part:
                for f in el._from_objects:
                    if f not in froms:
                        froms.append(f)
        for target, onclause, isouter, full, from_ in self._setup_joins:
            froms = _apply_join(froms, target, onclause, isouter, full, from_)
        hidden = [h for f in froms for h in f._hide_froms]
        return [f for f in froms if f not in hidden]

    def _ck(self, binds: list[BindParameter]) -> tuple[Any, ...]:
        return (
            "select",
            tuple(c._ck(binds) for c in self._raw_columns),
            tuple(w._ck(binds) for w in self._where),
            tuple(f._ck(binds) for f in self._from_obj),
            tuple(
                (_join_ck(t, binds), _join_ck(o, binds), io, fu, _join_ck(fr, binds))
                for t, o, io, fu, fr in self._setup_joins
            ),
            tuple(g._ck(binds) for g in self._group_by),
            tuple(h._ck(binds) for h in self._having),
            self._distinct,
            tuple(d._ck(binds) for d in self._distinct_on),
            None if self._correlate is None else tuple(c._ck(binds) for c in self._correlate),
            self._tail_ck(binds),
        )

    @property
    def _from_objects(self) -> list[FromClause]:
        return []

    def __repr__(self) -> str:
        try:
            return f"<Select {str(self)!r}>"
        except Exception:  # a statement that can't compile still needs a repr
            return f"<Select object at {id(self):#x}>"


def _join_ck(obj: Any, binds: list[BindParameter]) -> Any:
    if obj is None:
        return None
    ck = getattr(obj, "_ck", None)
    if ck is not None:
        return ck(binds)
    ce = getattr(obj, "__clause_element__", None)
    if ce is not None:
        return _join_ck(ce(), binds)
    return obj


def _attr_of(entity: Any, key: str) -> Any:
    if isinstance(entity, FromClause):
        try:
            return entity.c[key]
        except KeyError:
            raise exc.InvalidRequestError(
                f"Entity {_describe(entity)} has no column {key!r} (filter_by); "
                f"columns are {entity.c.keys()}."
            ) from None
    try:
        return getattr(entity, key)
    except AttributeError:
        raise exc.InvalidRequestError(
            f"Entity {getattr(entity, '__name__', entity)!r} has no property {key!r} (filter_by)."
        ) from None


def _coerce_column_or_from(obj: Any) -> ClauseElement:
    if isinstance(obj, (ColumnElement, FromClause)):
        return obj
    ce = getattr(obj, "__clause_element__", None)
    if ce is not None:
        return _coerce_column_or_from(ce())
    if isinstance(obj, _SelectBase):
        return obj.scalar_subquery()
    if isinstance(obj, str):
        raise exc.ArgumentError(
            f"Textual column expression {obj!r} should be explicitly declared with "
            f"text({obj!r}) or literal_column({obj!r})."
        )
    if isinstance(obj, ClauseElement):
        return obj
    raise exc.ArgumentError(
        f"Column expression, FROM clause or mapped class expected, got {obj!r}"
    )


def _apply_join(
    froms: list[FromClause], target: Any, onclause: Any, isouter: bool, full: bool, from_: Any
) -> list[FromClause]:
    hook = getattr(onclause, "__docket_join__", None) or getattr(target, "__docket_join__", None)
    if hook is not None:
        # an ORM relationship attribute: it knows both the target and the ON clause
        left_hint = coerce_from(from_) if from_ is not None else None
        right, on = hook(left_hint, target if onclause is not None else None)
    else:
        right, on = coerce_from(target), onclause
    if from_ is not None:
        left_candidates = [coerce_from(from_)]
    else:
        left_candidates = list(froms)
    left_index = None
    if on is None:
        for i, f in enumerate(froms):
            if f is right or right in f._from_objects[1:]:
                continue
            if left_candidates and f not in left_candidates and not any(
                c in f._from_objects for c in left_candidates
            ):
                continue
            try:
                on = join_condition(f, right)
            except exc.NoForeignKeysError:
                continue
            left_index = i
            break
        if on is None:
            raise exc.InvalidRequestError(
                f"Don't know how to join to {_describe(right)}; no FROM entry has a "
                "foreign key to it. Give the ON clause: .join(target, onclause)."
            )
    else:
        on_froms = coerce_where(on)._from_objects
        if from_ is not None:
            wanted = coerce_from(from_)
            for i, f in enumerate(froms):
                if f is wanted or wanted in f._from_objects:
                    left_index = i
                    break
            else:
                froms = froms + [wanted]
                left_index = len(froms) - 1
        else:
            for i, f in enumerate(froms):
                if f is right:
                    continue
                if any(o in f._from_objects for o in on_froms if o is not right):
                    left_index = i
                    break
            if left_index is None:
                left_index = 0 if froms and froms[0] is not right else None
    if left_index is None:
        raise exc.InvalidRequestError(
            f"Can't determine which FROM clause to join from for {_describe(right)}; "
            "use join_from(left, right, onclause) or select_from(left)."
        )
    joined = Join(froms[left_index], right, on, isouter, full)
    out = list(froms)
    out[left_index] = joined
    return [f for i, f in enumerate(out) if i == left_index or f is not right]


def _unique(items: Iterable[Any]) -> list[Any]:
    out: list[Any] = []
    for i in items:
        if i not in out:
            out.append(i)
    return out


def select(*entities: Any) -> Select:
    """``SELECT`` the given columns, tables or mapped classes."""
    return Select(*entities)


class CompoundSelect(_SelectBase):
    """``SELECT ... UNION [ALL] SELECT ...`` and friends."""

    __visit_name__ = "compound_select"

    def __init__(self, keyword: str, *selects: Any) -> None:
        self.keyword = keyword
        self.selects = tuple(selects)

    def _exported_column_list(self) -> list[ColumnElement]:
        return self.selects[0]._exported_column_list()  # type: ignore[no-any-return,unused-ignore]

    @property
    def _raw_entities(self) -> tuple[Any, ...]:
        return self.selects[0]._raw_entities  # type: ignore[no-any-return,unused-ignore]

    def _ck(self, binds: list[BindParameter]) -> tuple[Any, ...]:
        return ("compound", self.keyword, tuple(s._ck(binds) for s in self.selects),
                self._tail_ck(binds))


def union(*selects: Any) -> CompoundSelect:
    return CompoundSelect("UNION", *selects)


def union_all(*selects: Any) -> CompoundSelect:
    return CompoundSelect("UNION ALL", *selects)


def except_(*selects: Any) -> CompoundSelect:
    return CompoundSelect("EXCEPT", *selects)


def intersect(*selects: Any) -> CompoundSelect:
    return CompoundSelect("INTERSECT", *selects)


class ScalarSelect(ColumnElement):
    """A SELECT of one column used as a value: ``(SELECT max(x) FROM t)``."""

    __visit_name__ = "scalar_select"

    def __init__(self, element: _SelectBase) -> None:
        self.element = element
        cols = element._exported_column_list()
        self.type = cols[0].type if cols else sqltypes.NULLTYPE

    def _ck(self, binds: list[BindParameter]) -> tuple[Any, ...]:
        return ("scalar", self.element._ck(binds))

    def where(self, *criteria: Any) -> ScalarSelect:
        return ScalarSelect(self.element.where(*criteria))  # type: ignore[attr-defined,unused-ignore]

    def correlate(self, *froms: Any) -> ScalarSelect:
        return ScalarSelect(self.element.correlate(*froms))  # type: ignore[attr-defined,unused-ignore]


class Exists(UnaryExpression):
    """``EXISTS (SELECT ...)``."""

    __visit_name__ = "exists"

    def __init__(self, element: Any = None) -> None:
        if element is None:
            element = Select(literal_column("*"))
        elif not isinstance(element, _SelectBase):
            element = Select(element)
        self.select_element = element
        super().__init__(ScalarSelect(element), operator=ops.exists, type_=sqltypes.BOOLEANTYPE)

    def self_group(self, against: Any = None) -> ClauseElement:
        # ``NOT (EXISTS (...))``, ``(EXISTS (...)) OR (EXISTS (...))`` as SQLAlchemy renders
        return Grouping(self) if against is not None else self

    def where(self, *criteria: Any) -> Exists:
        return Exists(self.select_element.where(*criteria))  # type: ignore[attr-defined,unused-ignore]

    def select_from(self, *froms: Any) -> Exists:
        return Exists(self.select_element.select_from(*froms))  # type: ignore[attr-defined,unused-ignore]

    def correlate(self, *froms: Any) -> Exists:
        return Exists(self.select_element.correlate(*froms))  # type: ignore[attr-defined,unused-ignore]

    def select(self) -> Select:
        return Select(self)


def exists(*args: Any) -> Exists:
    """``EXISTS (subquery)``; ``exists()`` then ``.where(...)`` builds one."""
    if not args:
        return Exists()
    if len(args) == 1 and isinstance(args[0], _SelectBase):
        return Exists(args[0])
    return Exists(Select(*args))
