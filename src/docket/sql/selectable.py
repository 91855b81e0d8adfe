"""SELECT statements: :class:`Select`, compound SELECTs (UNION ...),
scalar subqueries and EXISTS.

A :class:`Select` keeps what it was built from -- ``_raw_entities`` (the
objects the user passed, which the ORM interprets) and ``_raw_columns``
(their Core form) -- plus its clauses.  It is immutable: each builder method
returns a copy.  FROM inference (which tables a statement reads, joins
applied) happens in :meth:`Select.get_final_froms`, used by the compiler.

The FROM-clause objects (tables, aliases, subqueries, CTEs, joins) are in
:mod:`docket.sql.from_clauses` and re-exported here, so
``from docket.sql.selectable import Alias`` keeps working.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from docket import exc
from docket.sql import operators as ops
from docket.sql import types as sqltypes
from docket.sql.base import ColumnCollection, Executable
from docket.sql.elements import (  # noqa: F401  (some only re-exported, as before the split)
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
from docket.sql.from_clauses import (  # noqa: F401  (re-exported: the old import path)
    CTE,
    Alias,
    FromClause,
    Join,
    Subquery,
    TableClause,
    _AliasedFK,
    _anon,
    _column_name,
    _describe,
    _exported,
    _foreign_keys_of,
    _next_anon,
    alias,
    coerce_from,
    join,
    join_condition,
    outerjoin,
    table,
)

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
    # what select_from() was given (a mapped class, an alias, a table ...),
    # position for position with ``_from_obj`` (same length, same order): the
    # ORM reads it to see that ``select(func.count()).select_from(User)``
    # is an ORM statement.  Not part of the cache key: ``_from_obj`` is.
    _from_raw: tuple[Any, ...] = ()
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
            kept = tuple(f for f in self.columns_clause_froms if f not in self._from_obj)
            new._from_obj = self._from_obj + kept
            new._from_raw = self._from_raw + kept
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
        """Add explicit FROM objects (tables, aliases, joins, mapped classes);
        they come first in the FROM list, before those inferred from columns."""
        new = self._generate()
        new._from_obj = self._from_obj + tuple(coerce_from(f) for f in froms)
        new._from_raw = self._from_raw + froms
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
        found = hook(left_hint, target if onclause is not None else None)
        right, on = found[0], found[1]
        if from_ is None and len(found) > 2 and not any(
                f is found[2] or found[2] in f._from_objects for f in froms):
            from_ = found[2]  # the relationship's own class isn't selected yet: start there
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
