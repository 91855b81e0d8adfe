"""ORM-enabled INSERT / UPDATE / DELETE and the legacy bulk methods.

``session.execute(stmt)`` routes a DML statement whose target is a mapped
class here (:func:`execute_orm_dml`):

* ``insert(User)`` with a list of dicts keyed by *attribute* names is an ORM
  bulk INSERT: consecutive dicts with the same keys form one executemany;
  ``.returning(User)`` turns the RETURNING rows into objects of the session
  (refreshed with ``populate_existing``); upserts work the same way.
* ``update(User)`` with a list of dicts is a bulk UPDATE by primary key; with
  ``.where()`` / ``.values()`` it is one UPDATE whose effect on the objects
  already in the identity map follows ``synchronize_session``:
  ``"evaluate"`` (the WHERE criteria run in Python against each object),
  ``"fetch"`` (the matched primary keys come back by RETURNING, or from a
  SELECT run first), ``"auto"`` (evaluate, else fetch) or ``False``.
* ``delete(User).where(...)`` likewise; matched objects become deleted.

The legacy ``bulk_save_objects`` / ``bulk_insert_mappings`` /
``bulk_update_mappings`` reuse the same batching and never touch the
identity map (except that ``return_defaults`` writes generated keys back).

Invariant: nothing here changes an object before its statement succeeded;
synchronisation runs only after the database accepted the change.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from itertools import groupby
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from docket import exc
from docket.orm import session_state as _ss
from docket.orm.state import DELETED, InstanceState
from docket.sql import operators as ops
from docket.sql.dml import Delete, Insert, Update
from docket.sql.dml import insert as core_insert
from docket.sql.dml import update as core_update
from docket.sql.elements import BindParameter, ClauseElement, bindparam
from docket.sql.expressions import (
    BinaryExpression,
    BooleanClauseList,
    Cast,
    False_,
    Grouping,
    Label,
    Null,
    True_,
    UnaryExpression,
    and_,
)
from docket.sql.schema import Column
from docket.sql.selectable import Select

if TYPE_CHECKING:
    from docket.orm.mapper import Mapper
    from docket.orm.session import Session

__all__ = [
    "bulk_insert_mappings",
    "bulk_save_objects",
    "bulk_update_mappings",
    "execute_orm_dml",
    "is_orm_dml",
]

_SYNC_CHOICES = ("auto", "evaluate", "fetch", False)


def _dml_mapper(statement: Any) -> Mapper | None:
    from docket.orm.loading import _mapper_of

    return _mapper_of(getattr(statement, "_raw_table", None))


def is_orm_dml(statement: Any) -> bool:
    """True for an INSERT / UPDATE / DELETE whose target is a mapped class."""
    return bool(getattr(statement, "is_dml", False)) and _dml_mapper(statement) is not None


# -- parameters ----------------------------------------------------------------------------

def _mapper_arg(mapper: Any, verb: str) -> Mapper:
    from docket.orm.mapper import Mapper, class_mapper

    if isinstance(mapper, Mapper):
        return mapper
    if isinstance(mapper, type):
        return class_mapper(mapper)
    raise exc.ArgumentError(
        f"session.{verb}() needs a mapped class or Mapper as its first argument, got "
        f"{mapper!r}; pass e.g. {verb}(User, [...])."
    )


def _col_keys(mapper: Mapper) -> dict[str, str]:
    """Attribute key -> column key of the mapper's own table (cached on the mapper)."""
    cached = mapper._loader_cache.get("bulk_col_keys")
    if cached is None:
        table = mapper.local_table
        cached = {
            k: c.key for k, c in mapper._key_to_col.items()
            if isinstance(c, Column) and c.table is table
        }
        mapper._loader_cache["bulk_col_keys"] = cached
    return cached


def _to_columns(mapper: Mapper, row: dict[str, Any], verb: str,
                drop_none: bool = False) -> dict[str, Any]:
    """One parameter dict keyed by attribute names, re-keyed by column keys.

    Raises:
        InvalidRequestError: a key is not a mapped column attribute.
    """
    keys = _col_keys(mapper)
    out: dict[str, Any] = {}
    for k, v in row.items():
        ck = keys.get(k)
        if ck is None:
            raise exc.InvalidRequestError(
                f"{verb}: {k!r} is not a mapped column attribute of "
                f"{mapper.class_.__name__} (its attributes are {sorted(keys)}); key each "
                "dict by attribute name."
            )
        if drop_none and v is None:
            continue
        out[ck] = v
    return out


def _runs(rows: Sequence[dict[str, Any]]) -> Iterable[list[dict[str, Any]]]:
    """Consecutive rows with the same key set (each run is one executemany)."""
    for _keys, run in groupby(rows, key=lambda r: frozenset(r)):
        yield list(run)


def _param_list(params: Any) -> list[dict[str, Any]] | None:
    if params is None:
        return None
    if isinstance(params, dict):
        return [params]
    return list(params)


# -- RETURNING into objects ------------------------------------------------------------------

def _with_entity_returning(statement: Any) -> tuple[Any, list[tuple[Any, int, int]]]:
    """The statement with mapped classes in RETURNING expanded to their
    loaded columns, and the plan ``(mapper or None, start, width)`` per entity."""
    from docket.orm.loading import _mapper_of

    raw = statement._returning_raw
    if not raw or all(_mapper_of(e) is None for e in raw):
        return statement, []
    new = statement._generate()
    new._returning = ()
    new._returning_raw = ()
    plan: list[tuple[Any, int, int]] = []
    cols: list[Any] = []
    for ent in raw:
        m = _mapper_of(ent)
        if m is not None:
            if m.registry is not None:
                m.registry.configure()
            keys = m._eager_column_keys
            plan.append((m, len(cols), len(keys)))
            cols.extend(m._key_to_col[k] for k in keys)
        else:
            plan.append((None, len(cols), 1))
            cols.append(ent)
    return new.returning(*cols), plan


def _objects_result(session: Session, plan: list[tuple[Any, int, int]],
                    rows: list[Sequence[Any]], populate_existing: bool,
                    rowcount: int) -> Any:
    """A Result of ORM rows (objects and columns) built from RETURNING rows."""
    from docket.engine.result import IteratorResult, ResultMetaData
    from docket.orm.loading import _make_loader, _SingleEntityMetaData

    getters: list[Callable[[Sequence[Any]], Any]] = []
    names: list[str] = []
    for mapper, start, _width in plan:
        if mapper is not None:
            getters.append(_make_loader(session, mapper, mapper._eager_column_keys, start,
                                        populate_existing))
            names.append(mapper.class_.__name__)
        else:
            getters.append(itemgetter(start))
            names.append(f"col_{start}")
    if len(plan) == 1 and plan[0][0] is not None:
        meta: Any = _SingleEntityMetaData(names[0])
        data: list[Any] = [getters[0](r) for r in rows]
    else:
        meta = ResultMetaData(names)
        data = [tuple(g(r) for g in getters) for r in rows]
    result: Any = IteratorResult(meta, data)
    result.rowcount = rowcount
    return result


def _run_returning(session: Session, conn: Any, statement: Any, params: Any,
                   opts: dict[str, Any], populate_existing: bool) -> Any:
    """Execute ``statement``; when it RETURNs mapped classes, load objects."""
    core, plan = _with_entity_returning(statement)
    result = conn.execute(core, params, execution_options=opts or None)
    if not plan:
        return result
    rows = list(result.all())
    count = result.rowcount if result.rowcount is not None and result.rowcount >= 0 \
        else len(rows)
    return _objects_result(session, plan, rows, populate_existing, count)


# -- entry point -----------------------------------------------------------------------------

def execute_orm_dml(session: Session, statement: Any, params: Any = None,
                    execution_options: dict[str, Any] | None = None,
                    bind_arguments: dict[str, Any] | None = None) -> Any:
    """Execute an ORM-enabled INSERT, UPDATE or DELETE for ``session.execute()``.

    Args:
        statement: ``insert(User)``, ``update(User)`` or ``delete(User)``.
        params: one dict, or a list of dicts keyed by attribute names (bulk
            INSERT; bulk UPDATE by primary key).
        execution_options: merged over the statement's own options;
            ``synchronize_session``, ``populate_existing``, ``autoflush``.

    Raises:
        ArgumentError: an unknown ``synchronize_session`` value.
        InvalidRequestError: criteria ``"evaluate"`` cannot run in Python, a
            bulk UPDATE row without its primary key, or a bulk DELETE.
    """
    mapper = _dml_mapper(statement)
    if mapper is None:
        raise exc.ArgumentError(
            f"execute_orm_dml() needs a statement against a mapped class, got {statement!r}."
        )
    if mapper.registry is not None:
        mapper.registry.configure()
    opts: dict[str, Any] = dict(getattr(statement, "_execution_options", None) or {})
    if execution_options:
        opts.update(execution_options)
    sync = opts.pop("synchronize_session", "auto")
    if sync not in _SYNC_CHOICES:
        raise exc.ArgumentError(
            f"Valid strategies for session synchronization are 'auto', 'evaluate', 'fetch' "
            f"and False, got synchronize_session={sync!r}."
        )
    populate_existing = bool(opts.pop("populate_existing", False))
    if opts.pop("autoflush", True):
        session._autoflush()
    args = dict(bind_arguments or {})
    args.setdefault("mapper", mapper)
    args.setdefault("clause", statement)
    conn = session.connection(args)
    plist = _param_list(params)
    if isinstance(statement, Insert):
        return _orm_insert(session, conn, mapper, statement, plist, opts, populate_existing)
    if isinstance(statement, Update):
        if isinstance(params, list | tuple):  # a list of rows: UPDATE by primary key
            return _bulk_update_by_pk(session, conn, mapper, statement, plist or [], opts,
                                      sync is not False)
        result = _orm_update_delete(session, conn, mapper, statement, params, opts, sync,
                                    populate_existing)
        if session.dispatch.after_bulk_update:
            session.dispatch.after_bulk_update(BulkContext(session, statement, mapper, result))
        return result
    if isinstance(statement, Delete):
        if isinstance(params, list | tuple):
            raise exc.InvalidRequestError(
                "Bulk ORM DELETE with a list of parameter sets is not supported; use "
                "delete(Cls).where(Cls.id.in_([...])) or run it on session.connection()."
            )
        result = _orm_update_delete(session, conn, mapper, statement, params, opts, sync,
                                    populate_existing)
        if session.dispatch.after_bulk_delete:
            session.dispatch.after_bulk_delete(BulkContext(session, statement, mapper, result))
        return result
    raise exc.ArgumentError(f"Not an INSERT, UPDATE or DELETE: {statement!r}")


class BulkContext:
    """What ``after_bulk_update`` / ``after_bulk_delete`` listeners receive."""

    __slots__ = ("session", "statement", "mapper", "result")

    def __init__(self, session: Session, statement: Any, mapper: Mapper, result: Any) -> None:
        self.session = session
        self.statement = statement
        self.mapper = mapper
        self.result = result

    @property
    def query(self) -> Any:
        """SQLAlchemy's name for the statement."""
        return self.statement


# -- INSERT ----------------------------------------------------------------------------------

def _orm_insert(session: Session, conn: Any, mapper: Mapper, statement: Insert,
                plist: list[dict[str, Any]] | None, opts: dict[str, Any],
                populate_existing: bool) -> Any:
    """ORM INSERT: attribute-keyed rows, batched by key set; RETURNING objects."""
    if plist is None:
        return _run_returning(session, conn, statement, None, opts, populate_existing)
    rows = [_to_columns(mapper, r, "ORM bulk INSERT") for r in plist]
    if not rows:
        return _run_returning(session, conn, statement, None, opts, populate_existing)
    core, plan = _with_entity_returning(statement)
    all_rows: list[Sequence[Any]] = []
    total = 0
    last: Any = None
    for run in _runs(rows):
        last = conn.execute(core, run if len(run) > 1 else run[0],
                            execution_options=opts or None)
        if plan or core._returning:
            got = list(last.all())
            all_rows.extend(got)
            total += len(got)
        else:
            total += last.rowcount if last.rowcount and last.rowcount > 0 else len(run)
    if plan:
        return _objects_result(session, plan, all_rows, populate_existing, total)
    if core._returning:
        from docket.engine.result import IteratorResult, ResultMetaData

        names = [c.key or f"col_{i}" for i, c in enumerate(core._returning)]
        res: Any = IteratorResult(ResultMetaData(names), [tuple(r) for r in all_rows])
        res.rowcount = total
        return res
    last.rowcount = total
    return last


# -- UPDATE by primary key -------------------------------------------------------------------

def _pk_update_stmt(mapper: Mapper, keys: frozenset[str], extra_where: Sequence[Any]) -> Any:
    """``UPDATE t SET c = :c ... WHERE pk = :pk_b_<key>`` for one key set (cached)."""
    cache_key = ("bulk_pk_update", keys)
    stmt = mapper._loader_cache.get(cache_key) if not extra_where else None
    if stmt is not None:
        return stmt
    colkeys = _col_keys(mapper)
    pk_keys = mapper._pk_keys
    table = mapper.local_table
    crit = [mapper._key_to_col[k] == bindparam(f"pk_b_{colkeys[k]}",
                                                type_=mapper._key_to_col[k].type)
            for k in pk_keys]
    set_keys = [k for k in mapper._key_to_col if k in keys and k not in pk_keys]
    stmt = core_update(table).where(and_(*crit, *extra_where)).values(
        {table.c[colkeys[k]]: bindparam(colkeys[k], type_=mapper._key_to_col[k].type)
         for k in set_keys}
    )
    if not extra_where:
        mapper._loader_cache[cache_key] = stmt
    return stmt


def _pk_update_params(mapper: Mapper, row: dict[str, Any], verb: str) -> dict[str, Any]:
    colkeys = _col_keys(mapper)
    missing = [k for k in mapper._pk_keys if row.get(k) is None]
    if missing:
        raise exc.InvalidRequestError(
            f"No primary key value supplied for {missing} in {verb} row {row!r}; ORM bulk "
            f"UPDATE by primary key needs every row of {mapper.class_.__name__} to carry "
            f"its primary key attributes {list(mapper._pk_keys)}."
        )
    out = _to_columns(mapper, {k: v for k, v in row.items() if k not in mapper._pk_keys},
                      verb)
    for k in mapper._pk_keys:
        out[f"pk_b_{colkeys[k]}"] = row[k]
    return out


def _run_pk_updates(conn: Any, mapper: Mapper, rows: Sequence[dict[str, Any]],
                    extra_where: Sequence[Any], verb: str) -> int:
    total = 0
    for run in _runs(rows):
        keys = frozenset(run[0])
        if not keys - set(mapper._pk_keys):
            continue  # nothing to SET
        stmt = _pk_update_stmt(mapper, keys, extra_where)
        params = [_pk_update_params(mapper, r, verb) for r in run]
        result = conn.execute(stmt, params if len(params) > 1 else params[0])
        total += result.rowcount if result.rowcount and result.rowcount > 0 else 0
    return total


def _bulk_update_by_pk(session: Session, conn: Any, mapper: Mapper, statement: Update,
                       rows: list[dict[str, Any]], opts: dict[str, Any], sync: bool) -> Any:
    """``session.execute(update(User), [{"id": 1, "name": ...}, ...])``."""
    if statement._returning:
        raise exc.InvalidRequestError(
            "ORM bulk UPDATE by primary key does not support RETURNING; drop .returning() "
            "or update one row at a time."
        )
    total = _run_pk_updates(conn, mapper, rows, statement._where, "ORM bulk UPDATE")
    if sync:
        idmap = session._identity_map
        for row in rows:
            pk = tuple(row[k] for k in mapper._pk_keys)
            state = idmap._get_state(mapper, mapper._ident_from_pk(pk))
            if state is not None and state() is not None:
                _apply_values(session, state, {k: v for k, v in row.items()
                                               if k not in mapper._pk_keys}, [])
    return _count_result(total)


def _count_result(total: int) -> Any:
    from docket.engine.result import IteratorResult, ResultMetaData

    res: Any = IteratorResult(ResultMetaData([]), [])
    res.rowcount = total
    return res


# -- Python evaluation of criteria ------------------------------------------------------------

class _Unevaluatable(Exception):
    """The criteria use something the Python evaluator does not support."""


_UNLOADED = object()  # an attribute the object has not loaded: can't decide

_CMP: dict[str, Callable[[Any, Any], Any]] = {
    "eq": lambda a, b: a == b, "ne": lambda a, b: a != b, "lt": lambda a, b: a < b,
    "le": lambda a, b: a <= b, "gt": lambda a, b: a > b, "ge": lambda a, b: a >= b,
}
_ARITH: dict[str, Callable[[Any, Any], Any]] = {
    "add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
    "truediv": lambda a, b: a / b, "mod": lambda a, b: a % b,
    "concat_op": lambda a, b: a + b,
}

_Fn = Callable[[dict[str, Any]], Any]


def _const(value: Any) -> _Fn:
    return lambda d: value


def _attr(key: str) -> _Fn:
    return lambda d: d.get(key, _UNLOADED)


class _Evaluator:
    """Compiles a criteria / value expression into ``fn(obj.__dict__)``,
    following SQL's three-valued logic (None for NULL / unknown)."""

    def __init__(self, mapper: Mapper, params: dict[str, Any] | None) -> None:
        self.mapper = mapper
        self.params = params or {}
        self.col_to_key = {c: k for k, c in mapper._key_to_col.items()}

    def compile(self, el: Any) -> _Fn:
        if isinstance(el, Grouping | Label):
            return self.compile(el.element)
        if isinstance(el, Column) or getattr(el, "_is_column", False):
            key = self.col_to_key.get(el)
            if key is None:
                raise _Unevaluatable(f"column {el!r} of another table")
            return _attr(key)
        if isinstance(el, BindParameter):
            if el.expanding:
                raise _Unevaluatable("expanding bind outside IN")
            if el.required and el.value is None and el.callable is None:
                if el.key not in self.params:
                    raise _Unevaluatable(f"bind parameter {el.key!r} has no value")
                value = self.params[el.key]
            else:
                value = el.effective_value()
            return _const(value)
        if isinstance(el, Null):
            return _const(None)
        if isinstance(el, True_):
            return _const(True)
        if isinstance(el, False_):
            return _const(False)
        if isinstance(el, Cast):
            return self.compile(el.clause)
        if isinstance(el, BooleanClauseList):
            return self._boolean(el)
        if isinstance(el, UnaryExpression):
            return self._unary(el)
        if isinstance(el, BinaryExpression):
            return self._binary(el)
        raise _Unevaluatable(type(el).__name__)

    def _boolean(self, el: BooleanClauseList) -> _Fn:
        fns = [self.compile(c) for c in el.clauses]
        is_and = el.operator is ops.and_

        def fn(d: dict[str, Any]) -> Any:
            unknown = False
            for f in fns:
                v = f(d)  # noqa: B023
                if v is _UNLOADED:
                    return _UNLOADED
                if v is None:
                    unknown = True
                elif bool(v) is not is_and:
                    return not is_and
            return None if unknown else is_and
        return fn

    def _unary(self, el: UnaryExpression) -> _Fn:
        if el.operator is ops.inv and el.modifier is None:
            inner = self.compile(el.element)

            def fn(d: dict[str, Any]) -> Any:
                v = inner(d)
                return v if v is None or v is _UNLOADED else not v
            return fn
        if el.operator is ops.neg:
            inner = self.compile(el.element)
            def fn_neg(d: dict[str, Any]) -> Any:
                v = inner(d)
                return v if v is None or v is _UNLOADED else -v
            return fn_neg
        raise _Unevaluatable(f"unary operator {el.operator or el.modifier!r}")

    def _binary(self, el: BinaryExpression) -> _Fn:
        name = el.operator.name
        left = self.compile(el.left)
        if name in ("in_op", "not_in_op"):
            right = el.right
            if isinstance(right, BindParameter) and right.expanding:
                values = right.effective_value()
                if right.required and right.key in self.params:
                    values = self.params[right.key]
                rvals = [_const(v) for v in values or ()]
            elif isinstance(right, Grouping) and hasattr(right.element, "clauses"):
                rvals = [self.compile(c) for c in right.element.clauses]
            else:
                raise _Unevaluatable("IN with a subquery")
            negate = name == "not_in_op"

            def fn_in(d: dict[str, Any]) -> Any:
                v = left(d)
                if v is _UNLOADED:
                    return _UNLOADED
                if v is None:
                    return None
                vals = [f(d) for f in rvals]
                found = v in [x for x in vals if x is not None]
                if not found and None in vals:
                    return None
                return found is not negate
            return fn_in
        right_fn = self.compile(el.right)
        if name in ("is_", "is_not_distinct_from", "is_not", "is_distinct_from"):
            want = name in ("is_", "is_not_distinct_from")

            def fn_is(d: dict[str, Any]) -> Any:
                a, b = left(d), right_fn(d)
                if a is _UNLOADED or b is _UNLOADED:
                    return _UNLOADED
                return (a == b) is want
            return fn_is
        op = _CMP.get(name) or _ARITH.get(name)
        if op is None:
            raise _Unevaluatable(f"operator {el.operator.sql.strip() or name!r}")

        def fn(d: dict[str, Any]) -> Any:
            a, b = left(d), right_fn(d)
            if a is _UNLOADED or b is _UNLOADED:
                return _UNLOADED
            if a is None or b is None:
                return None
            return op(a, b)
        return fn


def _evaluate_error(mapper: Mapper, err: _Unevaluatable, what: str) -> exc.InvalidRequestError:
    return exc.InvalidRequestError(
        f"Could not evaluate the {what} of this {mapper.class_.__name__} statement in "
        f"Python ({err}); synchronize_session='evaluate' supports column comparisons, "
        "and_/or_/not_, in_/not_in, is_/is_not and arithmetic only. Use "
        "execution_options(synchronize_session='fetch') or False instead."
    )


def _criteria(statement: Any) -> Any:
    where = statement._where
    return where[0] if len(where) == 1 else and_(*where)


def _evaluate_matches(session: Session, mapper: Mapper, statement: Any,
                      params: dict[str, Any] | None) -> tuple[list[InstanceState],
                                                              list[InstanceState]]:
    """States of the identity map matching the WHERE criteria, and those
    that could not be decided (criteria read an unloaded attribute).

    Raises:
        _Unevaluatable: the criteria are beyond the evaluator.
    """
    fn = _Evaluator(mapper, params).compile(_criteria(statement)) if statement._where \
        else (lambda d: True)
    matched: list[InstanceState] = []
    unknown: list[InstanceState] = []
    for state in session._identity_map.all_states():
        if state.mapper is not mapper:
            continue
        obj = state()
        if obj is None or state.flags & DELETED:
            continue
        v = fn(obj.__dict__)
        if v is _UNLOADED:
            unknown.append(state)
        elif v:
            matched.append(state)
    return matched, unknown


# -- applying values to objects ----------------------------------------------------------------

def _apply_values(session: Session, state: InstanceState, values: dict[str, Any],
                  expire: Sequence[str]) -> None:
    """The row of ``state`` now holds ``values`` (attribute key -> value):
    store them as loaded (not as changes), and expire ``expire``."""
    obj = state()
    if obj is None:
        return
    d = obj.__dict__
    committed = state.committed_state
    for k, v in values.items():
        d[k] = v
        if committed:
            committed.pop(k, None)
    if values:
        _ss.clear_expired(state, values)
    if committed is not None and not committed:
        state.committed_state = None
        state.modified = False
        session._modified.pop(state, None)
    if expire:
        _ss.expire_state(session, state, expire)


def _set_plan(session: Session, mapper: Mapper, statement: Update,
              params: dict[str, Any] | None, evaluate: bool
              ) -> tuple[dict[str, _Fn], list[str]]:
    """For each SET attribute: a Python evaluator of its new value, or (SQL
    expressions that can't run in Python, server-side onupdate) expiry."""
    ev = _Evaluator(mapper, params)
    table = mapper.local_table
    col_to_key = ev.col_to_key
    fns: dict[str, _Fn] = {}
    expire: list[str] = []
    for ckey, value in (statement._values or {}).items():
        key = col_to_key.get(table.c[ckey])
        if key is None:
            continue
        if isinstance(value, BindParameter) and not value.expanding:
            try:
                fns[key] = ev.compile(value)
                continue
            except _Unevaluatable:
                pass
        elif evaluate and isinstance(value, ClauseElement):
            try:
                fns[key] = ev.compile(value)
                continue
            except _Unevaluatable:
                pass
        expire.append(key)
    for key, col in mapper._key_to_col.items():
        if key not in fns and key not in expire and (
                getattr(col, "onupdate", None) is not None
                or getattr(col, "server_onupdate", None) is not None):
            expire.append(key)
    return fns, expire


def _new_values(states: Iterable[InstanceState], fns: dict[str, _Fn], expire: list[str]
                ) -> list[tuple[InstanceState, dict[str, Any], list[str]]]:
    """Per state: the SET values evaluated against its current (pre-UPDATE)
    attributes, and the attributes to expire instead."""
    out = []
    for state in states:
        obj = state()
        if obj is None:
            continue
        d = obj.__dict__
        values: dict[str, Any] = {}
        more = list(expire)
        for k, f in fns.items():
            v = f(d)
            if v is _UNLOADED:
                more.append(k)
            else:
                values[k] = v
        out.append((state, values, more))
    return out


# -- UPDATE / DELETE with criteria -------------------------------------------------------------

def _fetch_pks_first(conn: Any, mapper: Mapper, statement: Any, params: Any) -> list[Any]:
    sel = Select(*mapper.primary_key).select_from(mapper.local_table)
    if statement._where:
        sel = sel.where(*statement._where)
    return [tuple(r) for r in conn.execute(sel, params).all()]


def _states_for_pks(session: Session, mapper: Mapper, pks: Iterable[Sequence[Any]]
                    ) -> list[InstanceState]:
    idmap = session._identity_map
    out = []
    for pk in pks:
        state = idmap._get_state(mapper, mapper._ident_from_pk(tuple(pk)))
        if state is not None and state() is not None:
            out.append(state)
    return out


def _orm_update_delete(session: Session, conn: Any, mapper: Mapper, statement: Any,
                       params: Any, opts: dict[str, Any], sync: Any,
                       populate_existing: bool) -> Any:
    is_update = isinstance(statement, Update)
    pdict = params if isinstance(params, dict) else None
    matched: list[InstanceState] = []
    unknown: list[InstanceState] = []
    strategy = sync
    if sync in ("auto", "evaluate"):
        try:
            matched, unknown = _evaluate_matches(session, mapper, statement, pdict)
            strategy = "evaluate"
        except _Unevaluatable as err:
            if sync == "evaluate":
                raise _evaluate_error(mapper, err, "WHERE criteria") from None
            strategy = "fetch"
    fns: dict[str, _Fn] = {}
    expire: list[str] = []
    if is_update and strategy is not False:
        fns, expire = _set_plan(session, mapper, statement, pdict, strategy == "evaluate")
    planned = _new_values(matched, fns, expire) if is_update and strategy == "evaluate" else []
    dialect = conn.dialect
    use_returning = strategy == "fetch" and not statement._returning and (
        dialect.update_returning if is_update else dialect.delete_returning)
    if strategy == "fetch" and not use_returning:
        matched = _states_for_pks(session, mapper,
                                  _fetch_pks_first(conn, mapper, statement, params))
    if use_returning:
        result = conn.execute(statement.returning(*mapper.primary_key), params,
                              execution_options=opts or None)
        pks = [tuple(r) for r in result.all()]
        matched = _states_for_pks(session, mapper, pks)
        result = _count_result(len(pks))
    else:
        result = _run_returning(session, conn, statement, params, opts,
                                populate_existing or is_update)
    if strategy is False:
        return result
    if is_update:
        if strategy != "evaluate":
            planned = _new_values(matched, fns, expire)
        for state, values, more in planned:
            _apply_values(session, state, values, more)
        for state in unknown:  # can't tell whether it matched: reload on access
            _ss.expire_state(session, state, list(fns) + expire)
    else:
        for state in matched:
            _ss.mark_deleted(session, state)
    return result


# -- legacy bulk methods ---------------------------------------------------------------------

def _insert_rows(conn: Any, mapper: Mapper, rows: list[dict[str, Any]],
                 return_defaults: bool) -> list[Any] | None:
    """INSERT attribute-keyed ``rows`` in runs of equal key sets; with
    ``return_defaults`` return each row's primary key tuple, in order."""
    table = mapper.local_table
    plain = core_insert(table)
    crow = [_to_columns(mapper, r, "bulk insert") for r in rows]
    if not return_defaults:
        for run in _runs(crow):
            conn.execute(plain, run if len(run) > 1 else run[0])
        return None
    pks: list[Any] = []
    dialect = conn.dialect
    ret = plain.returning(*mapper.primary_key)
    for run in _runs(crow):
        if dialect.insert_executemany_returning or (len(run) == 1 and dialect.insert_returning):
            pks.extend(tuple(r) for r in conn.execute(ret, run if len(run) > 1 else run[0]).all())
        else:
            for r in run:
                res = conn.execute(plain, r)
                pks.append(tuple(res.inserted_primary_key))
    return pks


def bulk_insert_mappings(session: Session, mapper: Any, mappings: Iterable[dict[str, Any]],
                         return_defaults: bool = False, render_nulls: bool = False) -> None:
    """INSERT rows given as dicts keyed by attribute names, batched by key set.

    No objects are created and the identity map is untouched.

    Args:
        mapper: the mapped class (or Mapper).
        return_defaults: write generated primary keys back into each dict.
        render_nulls: send None values as NULL (better batching) instead of
            omitting them (so column defaults fire).

    Raises:
        InvalidRequestError: a key is not a mapped column attribute.
    """
    m = _mapper_arg(mapper, "bulk_insert_mappings")
    rows = list(mappings)
    if not rows:
        return
    sent = rows if render_nulls else [{k: v for k, v in r.items() if v is not None}
                                      for r in rows]
    conn = session._connection_for_mapper(m)
    pks = _insert_rows(conn, m, sent, return_defaults)
    if pks is not None:
        for row, pk in zip(rows, pks):
            for k, v in zip(m._pk_keys, pk):
                row[k] = v


def bulk_update_mappings(session: Session, mapper: Any,
                         mappings: Iterable[dict[str, Any]]) -> None:
    """UPDATE rows by primary key from dicts keyed by attribute names (each
    must hold the primary key); objects in the session are not changed.

    Raises:
        InvalidRequestError: a dict lacks a primary key value.
    """
    m = _mapper_arg(mapper, "bulk_update_mappings")
    rows = list(mappings)
    if rows:
        _run_pk_updates(session._connection_for_mapper(m), m, rows, (),
                        "bulk_update_mappings")


def bulk_save_objects(session: Session, objects: Iterable[Any], return_defaults: bool = False,
                      update_changed_only: bool = True, preserve_order: bool = True) -> None:
    """INSERT objects without an identity and UPDATE those with one, in batches,
    bypassing the unit of work: the objects are not added to the session.

    Args:
        return_defaults: fetch generated primary keys into inserted objects
            (which then have an identity: detached).
        update_changed_only: UPDATE only attributes with pending changes
            (else every loaded column attribute).
        preserve_order: keep the given order; False groups all INSERTs
            (then all UPDATEs) of a class together.

    Raises:
        UnmappedInstanceError: an object is not mapped.
    """
    items: list[tuple[bool, Mapper, InstanceState, Any]] = []
    for obj in objects:
        state = _ss.state_of(obj, "bulk_save_objects")
        items.append((state.ident is not None, state.mapper, state, obj))
    if not preserve_order:
        items.sort(key=lambda t: (t[0], id(t[1])))
    for (is_update, mapper), group in groupby(items, key=lambda t: (t[0], t[1])):
        batch = list(group)
        conn = session._connection_for_mapper(mapper)
        keys = _col_keys(mapper)
        if is_update:
            rows = []
            for _u, _m, state, obj in batch:
                d = obj.__dict__
                changed = state.committed_state or {}
                names = changed if update_changed_only else keys
                row = {k: d[k] for k in names if k in d and k in keys}
                for k, v in zip(mapper._pk_keys, state.identity or ()):
                    row[k] = v
                rows.append(row)
            _run_pk_updates(conn, mapper, rows, (), "bulk_save_objects")
            continue
        rows = [{k: obj.__dict__[k] for k in keys
                 if k in obj.__dict__ and obj.__dict__[k] is not None}
                for _u, _m, _s, obj in batch]
        pks = _insert_rows(conn, mapper, rows, return_defaults)
        if pks is not None:
            for (_u, _m, state, obj), pk in zip(batch, pks):
                d = obj.__dict__
                for k, v in zip(mapper._pk_keys, pk):
                    d[k] = v
                if state.session_id is None:
                    state.ident = mapper._ident_from_pk(pk)

