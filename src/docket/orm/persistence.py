"""The statements of a flush: batched INSERT, UPDATE and DELETE per mapper.

Rows are grouped by the exact set of columns they write, so each group is
one SQL string run as one ``executemany`` -- or, where primary keys or
server values must come back, one execute per row with RETURNING /
``lastrowid``.  SQL strings are built once per (mapper, dialect, column set)
and cached on the mapper (:class:`_TablePlan`); a row's parameters are one
plain tuple in column order.

Server-generated values (seed 000, "Fetching Server-Generated Defaults"):

1. non-pk, RETURNING available: fetched in the INSERT's RETURNING when
   ``eager_defaults`` is True or "auto" (the default); for UPDATE only when
   True;
2. non-pk otherwise: expired, loaded on next access (or SELECTed right away
   when ``eager_defaults=True``);
3. pk, RETURNING available and the dialect prefers it: ``RETURNING pk``;
4. pk otherwise: ``cursor.lastrowid`` (autoincrement only).

Python-side ``default`` / ``onupdate`` values are computed here and written
into the object; SQL-expression defaults without bound parameters (``func.
now()``, a Sequence's ``nextval``) are rendered into the cached SQL once.
Attribute values that are SQL expressions (``obj.count = User.count + 1``)
send their row through the Core compiler alone; the attribute is then
fetched with RETURNING, or expired.  ``null()`` is sent as NULL (batched) and
reads back as None; a plain ``None`` on an INSERT lets the column's default
fire, as in SQLAlchemy.

Every value this module writes into an object's ``__dict__`` goes through
``uow.populate`` (an undo log) so a failed flush can put the objects back
exactly as they were.
"""

from __future__ import annotations

import datetime
import uuid
import warnings
from collections.abc import Callable, Sequence
from decimal import Decimal
from itertools import chain
from numbers import Number
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from docket import exc
from docket.orm.attributes import _values_equal
from docket.orm.state import NO_VALUE, InstanceState
from docket.sql import dml as sqldml
from docket.sql.elements import ClauseElement, Null, and_
from docket.sql.schema import Column
from docket.sql.schema import Sequence as SchemaSequence

if TYPE_CHECKING:
    from docket.orm.mapper import Mapper
    from docket.orm.unitofwork import UOWTransaction

__all__ = ["delete_obj", "save_obj", "state_str"]

# value classes that are certainly plain data (fast check before isinstance)
_PLAIN = frozenset({int, str, float, bool, bytes, type(None)})
# ... and those a new row may hold to take the tuple fast path of save_inserts
_PLAIN_VALUES = _PLAIN | {Decimal, datetime.datetime, datetime.date, datetime.time,
                          datetime.timedelta, uuid.UUID}

# how a column gets its value when an INSERT (or UPDATE, for onupdate) has none
_PLAIN_COL = 0   # NULL
_SCALAR = 1      # Python scalar default
_CALLABLE = 2    # Python callable default (context-aware or not)
_SQL = 3         # SQL expression without bind params, rendered into the cached SQL
_CORE = 4        # SQL expression with bind params: the row goes through Core
_SERVER = 5      # the database generates it (server default, autoincrement, identity)
_VERSION = 6     # version_id_col counter (Python side)


def state_str(state: InstanceState) -> str:
    """``<User at 0x7f.. id=5>`` -- an object in error messages, never its repr()."""
    obj = state()
    where = f"0x{id(obj):x}" if obj is not None else "(gone)"
    ident = state.identity
    if ident is not None:
        keys = state.mapper._pk_keys
        shown = " ".join(f"{k}={v!r}" for k, v in zip(keys, ident))
        return f"<{state.mapper.class_.__name__} at {where} {shown}>"
    return f"<{state.mapper.class_.__name__} at {where} (pending)>"


def _states_str(states: Sequence[InstanceState]) -> str:
    shown = ", ".join(state_str(s) for s in states[:5])
    return shown + (f" and {len(states) - 5} more" if len(states) > 5 else "")


class _TablePlan:
    """Per-(mapper, dialect) facts about writing the mapper's table; built once.

    Invariants: ``columns`` lists every writable column of the table in table
    order; ``insert_kinds``/``onupdate_kinds`` hold a kind code per column
    (module constants); ``sql_cache`` maps a statement shape to its SQL.
    """

    def __init__(self, mapper: Mapper, dialect: Any) -> None:
        table = mapper.local_table
        self.mapper = mapper
        self.table = table
        self.dialect = dialect
        self.q_table = dialect.format_table(table)
        self.positional = dialect.positional
        self.columns: list[tuple[str, Column]] = [
            (key, col) for key, col in mapper._key_to_col.items()
            if isinstance(col, Column) and col.table is table
            and mapper._props[key].is_writable  # type: ignore[attr-defined]
        ]
        self.key_to_col = dict(self.columns)
        self.col_index = {key: i for i, (key, _col) in enumerate(self.columns)}
        key_of = {col: key for key, col in self.columns}
        self.pk_keys: tuple[str, ...] = tuple(mapper._pk_keys)
        self.pk_cols = [mapper._key_to_col[k] for k in self.pk_keys]
        autoinc = getattr(table, "autoincrement_column", None)
        self.autoinc_key = key_of.get(autoinc) if autoinc is not None else None
        self.bind_procs = {
            key: p for key, col in self.columns
            if (p := col.type._cached_bind_processor(dialect)) is not None
        }
        self.result_procs = {
            key: p for key, col in self.columns
            if (p := col.type._cached_result_processor(dialect, None)) is not None
        }
        self.insert_returning = bool(dialect.insert_returning)
        self.update_returning = bool(dialect.update_returning)
        # generated primary keys: RETURNING where the dialect prefers it, else lastrowid
        self.pk_by_returning = self.insert_returning and bool(dialect.implicit_returning)
        eager = mapper.eager_defaults
        self.eager_insert = eager is True or (eager == "auto" and self.insert_returning)
        self.eager_update = eager is True
        self.version_key = mapper._version_key
        self.version_gen = mapper.version_id_generator
        self.sql_fragments: dict[str, str] = {}   # key -> rendered default / onupdate SQL
        self.core_exprs: dict[str, Any] = {}      # key -> default expression with binds
        self.onupdate_fragments: dict[str, str] = {}
        self.onupdate_core: dict[str, Any] = {}
        self.insert_kinds: list[tuple[str, int]] = [
            (key, self._insert_kind(key, col)) for key, col in self.columns
        ]
        self.onupdate_kinds: list[tuple[str, int]] = [
            (key, kind) for key, col in self.columns
            if (kind := self._onupdate_kind(key, col)) != _PLAIN_COL
        ]
        self.sql_cache: dict[Any, str] = {}
        # the common table -- a generated integer key, every other column written as
        # given: (those keys in table order, the key, a getter of their values)
        self.fast_insert: tuple[tuple[str, ...], str, Callable[[Any], tuple[Any, ...]]] | None
        self.fast_insert = None
        kinds = dict(self.insert_kinds)
        pk = self.autoinc_key
        if pk is not None and self.pk_keys == (pk,) and kinds.get(pk) == _SERVER:
            fkeys = tuple(k for k, kind in self.insert_kinds if k != pk)
            if fkeys and all(kinds[k] == _PLAIN_COL for k in fkeys):
                get: Any = itemgetter(*fkeys)
                if len(fkeys) == 1:
                    get = (lambda g: lambda d: (g(d),))(get)
                self.fast_insert = (fkeys, pk, get)

    def _render(self, expr: Any) -> str | None:
        compiled = expr.compile(dialect=self.dialect)
        return None if compiled.params else str(compiled.string)

    def _insert_kind(self, key: str, col: Column) -> int:
        default = col.default
        if key == self.version_key and default is None:
            return _SERVER if self.version_gen is False else _VERSION
        if isinstance(default, SchemaSequence):
            if self.dialect.supports_sequences:
                self.sql_fragments[key] = self._render(default.next_value()) or ""
                return _SQL
            return _SERVER if key == self.autoinc_key else _PLAIN_COL
        if default is not None:
            if default.is_clause_element:
                fragment = self._render(default.arg)
                if fragment is None:
                    self.core_exprs[key] = default.arg
                    return _CORE
                self.sql_fragments[key] = fragment
                return _SQL
            return _CALLABLE if default.is_callable else _SCALAR
        if (col.server_default is not None or key == self.autoinc_key
                or col.identity is not None or col.computed is not None):
            return _SERVER
        return _PLAIN_COL

    def _onupdate_kind(self, key: str, col: Column) -> int:
        onupdate = col.onupdate
        if onupdate is not None:
            if onupdate.is_clause_element:
                fragment = self._render(onupdate.arg)
                if fragment is None:
                    self.onupdate_core[key] = onupdate.arg
                    return _CORE
                self.onupdate_fragments[key] = fragment
                return _SQL
            return _CALLABLE if onupdate.is_callable else _SCALAR
        if col.server_onupdate is not None or col.computed is not None:
            return _SERVER
        return _PLAIN_COL

    def quote(self, key: str) -> str:
        return str(self.dialect.quote(self.key_to_col[key].name))

    def qualified(self, key: str) -> str:
        return f"{self.q_table}.{self.quote(key)}"

    def placeholders(self, n: int) -> list[str]:
        return [self.dialect.placeholder(f"p{i}", i) for i in range(1, n + 1)]

    def bind_indexes(self, keys: Sequence[str]) -> list[tuple[int, Any]]:
        procs = self.bind_procs
        return [(i, procs[k]) for i, k in enumerate(keys) if k in procs]


def _plan(mapper: Mapper, dialect: Any) -> _TablePlan:
    cache = mapper._persistence_cache
    plan = cache.get(dialect)
    if plan is None:
        plan = cache[dialect] = _TablePlan(mapper, dialect)
    return plan


def _driver_params(plan: _TablePlan, row: Any) -> Any:
    """Positional tuple -> the driver's form (a dict for named paramstyles)."""
    if plan.positional:
        return row
    return {f"p{i}": v for i, v in enumerate(row, 1)}


def _run(conn: Any, plan: _TablePlan, sql: str, params: Any, many: bool,
         states: Sequence[InstanceState], returning: bool = False) -> Any:
    """Execute with events and error wrapping; name the objects on failure.
    ``many`` and ``returning``: the rows of every parameter set, in order."""
    if not plan.positional:
        params = ([_driver_params(plan, p) for p in params] if many
                  else _driver_params(plan, params))
    try:
        return conn._cursor_execute(sql, params, None, many, returning)
    except exc.DocketError as e:
        suspects = _suspect_values(plan, states)
        if suspects:
            e.add_detail(f"[values that may be the cause: {suspects}]")
        e.add_detail(f"[while flushing: {_states_str(states)}]")
        raise


def _suspect_values(plan: _TablePlan, states: Sequence[InstanceState]) -> str:
    """After a failed statement: the attributes whose values don't fit their column
    (not the column type's Python type, or an int beyond 64 bits), so the error can
    say which attribute to fix.  Runs only on the error path."""
    found: list[str] = []
    for state in states[:20]:
        obj = state()
        if obj is None:
            continue
        d = obj.__dict__
        for key, col in plan.columns:
            v = d.get(key)
            if v is None or isinstance(v, ClauseElement):
                continue
            try:  # a diagnosis only: never let it mask the error being reported
                expected: type | None = col.type.python_type
                if isinstance(v, int) and not -(2**63) <= v < 2**63:
                    why = "out of the 64-bit integer range"
                elif expected is not None and not isinstance(v, expected) and not (
                        issubclass(expected, Number) and isinstance(v, Number)):
                    why = f"expected {expected.__name__}"
                else:
                    continue
            except Exception:
                continue
            shown = repr(v)
            if len(shown) > 60:
                shown = shown[:57] + "..."
            found.append(f"{plan.mapper.class_.__name__}.{key} = {shown} "
                         f"({type(v).__name__}; {why} for column {col.name!r})")
            if len(found) >= 5:
                return "; ".join(found)
    return "; ".join(found)


def _run_core(conn: Any, stmt: Any, state: InstanceState) -> Any:
    try:
        return conn.execute(stmt)
    except exc.DocketError as e:
        e.add_detail(f"[while flushing: {state_str(state)}]")
        raise


class _DefaultContext:
    """What a context-aware Python default receives: ``get_current_parameters()``
    gives the row's values so far, keyed by column key."""

    def __init__(self, connection: Any, plan: _TablePlan, params: dict[str, Any]) -> None:
        self.connection = connection
        self.dialect = plan.dialect
        self.engine = getattr(connection, "engine", None)
        self._plan = plan
        self._params = params

    @property
    def current_parameters(self) -> dict[str, Any]:
        k2c = self._plan.key_to_col
        return {str(k2c[k].key): v for k, v in self._params.items() if v is not NO_VALUE}

    def get_current_parameters(self, isolate_multiinsert_groups: bool = True) -> dict[str, Any]:
        return self.current_parameters


def _python_default(conn: Any, plan: _TablePlan, default: Any, params: dict[str, Any]) -> Any:
    if default.is_callable:
        return default.arg(_DefaultContext(conn, plan, params))
    return default.arg


def _populate_row(uow: UOWTransaction, plan: _TablePlan, d: dict[str, Any],
                  keys: Sequence[str], row: Sequence[Any]) -> None:
    procs = plan.result_procs
    for k, v in zip(keys, row):
        p = procs.get(k)
        uow.populate(d, k, p(v) if p is not None and v is not None else v)


def _select_back(uow: UOWTransaction, plan: _TablePlan, conn: Any, state: InstanceState,
                 d: dict[str, Any], keys: Sequence[str]) -> None:
    """eager_defaults without RETURNING: SELECT the server-generated ``keys`` now."""
    ck = ("select", tuple(keys))
    sql = plan.sql_cache.get(ck)
    if sql is None:
        ph = plan.placeholders(len(plan.pk_keys))
        where = " AND ".join(f"{plan.qualified(k)} = {ph[i]}" for i, k in enumerate(plan.pk_keys))
        sql = plan.sql_cache[ck] = (
            f"SELECT {', '.join(plan.qualified(k) for k in keys)} FROM {plan.q_table} "
            f"WHERE {where}"
        )
    cursor = _run(conn, plan, sql, _pk_params(plan, [d.get(k) for k in plan.pk_keys]), False,
                  [state])
    row = cursor.fetchone()
    cursor.close()
    if row is not None:
        _populate_row(uow, plan, d, keys, row)


def _pk_params(plan: _TablePlan, pk: Sequence[Any]) -> list[Any]:
    out = list(pk)
    procs = plan.bind_procs
    for i, key in enumerate(plan.pk_keys):
        p = procs.get(key)
        if p is not None and out[i] is not None:
            out[i] = p(out[i])
    return out


def _sort_persistent(items: list[tuple[InstanceState, Any]]) -> list[tuple[InstanceState, Any]]:
    """Rows in primary-key order (a stable lock order, as SQLAlchemy does)."""
    try:
        return sorted(items, key=_ident_of)
    except TypeError:  # incomparable keys (None in a composite key, mixed types)
        return items


def _ident_of(item: tuple[InstanceState, Any]) -> Any:
    return item[0].ident


# --- INSERT ------------------------------------------------------------------------------


def save_inserts(uow: UOWTransaction, mapper: Mapper, items: list[tuple[InstanceState, Any]],
                 conn: Any) -> None:
    """INSERT new objects, grouped by the columns each one writes."""
    plan = _plan(mapper, conn.dialect)
    groups: dict[tuple[Any, ...], list[Any]] = {}
    kinds = plan.insert_kinds
    populate = uow.populate
    fast = plan.fast_insert
    if fast is not None:
        fkeys, fpk, fget = fast
        fast_items: list[tuple[InstanceState, Any]] = []
        fast_values: list[tuple[Any, ...]] = []
        plain_values = _PLAIN_VALUES.issuperset
    for item in items:
        state, obj = item
        d = obj.__dict__
        if fast is not None and d.get(fpk) is None:
            # every column set to a plain value: the row is that tuple as it stands
            try:
                values = fget(d)
            except KeyError:  # an attribute never set: the general path below
                pass
            else:
                if plain_values(map(type, values)):
                    fast_items.append(item)
                    fast_values.append(values)
                    continue
        params: dict[str, Any] = {}
        inline: dict[str, Any] | None = None
        missing: list[tuple[str, int]] | None = None
        for key, kind in kinds:
            v = d.get(key, NO_VALUE)
            if v is None or v is NO_VALUE:
                if kind == _PLAIN_COL:
                    params[key] = None
                    continue
                if kind == _SCALAR or kind == _CALLABLE or kind == _VERSION:
                    params[key] = NO_VALUE  # keeps table order; filled in below
                if missing is None:
                    missing = [(key, kind)]
                else:
                    missing.append((key, kind))
            elif v.__class__ in _PLAIN or not isinstance(v, ClauseElement):
                params[key] = v
            elif isinstance(v, Null):
                params[key] = None  # null(): NULL even over a default
                populate(d, key, None)
            else:
                if inline is None:
                    inline = {}
                inline[key] = v
        sqlkeys: tuple[str, ...] = ()
        generated: tuple[str, ...] = ()
        if missing is not None:
            sql_l: list[str] = []
            gen_l: list[str] = []
            for key, kind in missing:
                if kind == _SERVER:
                    gen_l.append(key)
                elif kind == _SQL:
                    sql_l.append(key)
                elif kind == _VERSION:
                    gen = plan.version_gen
                    params[key] = v = gen(None) if gen else 1
                    populate(d, key, v)
                elif kind == _CORE:
                    if inline is None:
                        inline = {}
                    inline[key] = plan.core_exprs[key]
                else:
                    params[key] = v = _python_default(
                        conn, plan, plan.key_to_col[key].default, params)
                    populate(d, key, v)
            sqlkeys, generated = tuple(sql_l), tuple(gen_l)
        for pkey in plan.pk_keys:
            if params.get(pkey, NO_VALUE) is None:
                raise exc.FlushError(
                    f"Instance {state_str(state)} has a NULL identity key: primary key "
                    f"attribute {pkey!r} has no value and the database won't generate one. "
                    "Set it before flushing, or make the column autoincrement / give it a "
                    "default."
                )
        if inline is not None:
            _insert_with_core(uow, plan, conn, state, obj, params, inline,
                              list(sqlkeys) + list(generated))
            continue
        gkey = (tuple(params), sqlkeys, generated)
        if fast is not None and gkey == (fkeys, (), (fpk,)):
            fast_items.append(item)  # same statement as the fast rows: keep add() order
            fast_values.append(tuple(params.values()))
            continue
        rows = groups.get(gkey)
        if rows is None:
            groups[gkey] = [(state, obj, params)]
        else:
            rows.append((state, obj, params))
    for (keys, sqlkeys, generated), rows in groups.items():
        _insert_group(uow, plan, conn, keys, sqlkeys, generated, rows)
    if fast is not None and fast_items:
        _insert_group(uow, plan, conn, fkeys, (), (fpk,), fast_items, fast_values)


def _insert_sql(plan: _TablePlan, keys: tuple[str, ...], sqlkeys: tuple[str, ...],
                returning: tuple[str, ...], nrows: int = 1, cache: bool = True) -> str:
    """``INSERT INTO t (cols) VALUES (...)[, (...) x nrows] [RETURNING ...]``;
    the parameters are ``keys`` row after row.  Cached unless ``cache`` is False."""
    ck = ("insert", keys, sqlkeys, returning, nrows)
    sql = plan.sql_cache.get(ck)
    if sql is None:
        # columns in table order; placeholders number the parameter keys in order
        ph = iter(plan.placeholders(len(keys) * nrows))
        params_set = set(keys)
        cols = sorted(keys + sqlkeys, key=plan.col_index.__getitem__)
        names = [plan.quote(k) for k in cols]
        if names:
            rows = ", ".join(
                "(" + ", ".join([next(ph) if k in params_set else plan.sql_fragments[k]
                                 for k in cols]) + ")"
                for _ in range(nrows))
            sql = f"INSERT INTO {plan.q_table} ({', '.join(names)}) VALUES {rows}"
        else:
            sql = f"INSERT INTO {plan.q_table} DEFAULT VALUES"
        if returning:
            sql += " RETURNING " + ", ".join(plan.qualified(k) for k in returning)
        if cache:
            plan.sql_cache[ck] = sql
    return sql


def _insert_group(uow: UOWTransaction, plan: _TablePlan, conn: Any, keys: tuple[str, ...],
                  sqlkeys: tuple[str, ...], generated: tuple[str, ...], rows: list[Any],
                  prebuilt: list[tuple[Any, ...]] | None = None) -> None:
    """One INSERT shape: executemany, or per row with lastrowid / RETURNING.
    ``rows`` are (state, obj, values by key) -- or (state, obj) with the tuples of
    ``keys``' values in ``prebuilt``, in the same order."""
    server = sqlkeys + generated
    pk_fetch = tuple(k for k in plan.pk_keys if k in server)
    others = tuple(k for k in server if k not in pk_fetch)
    procs = plan.bind_indexes(keys)
    params: list[tuple[Any, ...]]
    if prebuilt is not None and not procs:
        params = prebuilt
    elif not procs and len(keys) > 1:  # the common case: plain values
        get = itemgetter(*keys)
        params = [get(r[2]) for r in rows]
    else:
        params = []
        for n, r in enumerate(rows):
            row = list(prebuilt[n]) if prebuilt is not None else [r[2][k] for k in keys]
            for i, proc in procs:
                if row[i] is not None:
                    row[i] = proc(row[i])
            params.append(tuple(row))
    states = [r[0] for r in rows]
    use_lastrowid = (
        pk_fetch == (plan.autoinc_key,) and pk_fetch[0] in generated
        and not (plan.pk_by_returning or (plan.eager_insert and others))
    )
    if pk_fetch and not use_lastrowid and not plan.insert_returning:
        raise exc.FlushError(
            f"Can't fetch the database-generated primary key {list(pk_fetch)} of "
            f"{_states_str(states)}: the {plan.dialect.name} dialect has no INSERT .. "
            "RETURNING and the column is not an autoincrement column (lastrowid). Give the "
            "key a Python-side default, or set it before flushing."
        )
    dialect = plan.dialect
    # a generated integer key on a dialect without a batched RETURNING (SQLite):
    # multi-row INSERT pages, their keys matched by order (see _insert_pages)
    pages = (len(rows) > 1 and bool(keys) and dialect.use_insertmanyvalues
             and plan.insert_returning and not dialect.insert_executemany_returning
             and pk_fetch == (plan.autoinc_key,) and pk_fetch[0] in generated)
    if pages:
        use_lastrowid = False
    returning = () if use_lastrowid else pk_fetch
    post_select: tuple[str, ...] = ()
    expire: tuple[str, ...] = ()
    if others:
        if plan.eager_insert and plan.insert_returning and not use_lastrowid:
            returning += others
        elif plan.eager_insert:
            post_select = others
        else:
            expire = others
    if not returning and not use_lastrowid:
        sql = _insert_sql(plan, keys, sqlkeys, ())
        many = len(params) > 1
        _run(conn, plan, sql, params if many else params[0], many, states)
    elif pages:
        _insert_pages(uow, plan, conn, keys, sqlkeys, returning, rows, params)
    elif use_lastrowid:
        sql = _insert_sql(plan, keys, sqlkeys, ())
        pkey = pk_fetch[0]
        populate = uow.populate
        for r, prow in zip(rows, params):
            state, obj = r[0], r[1]
            cursor = _run(conn, plan, sql, prow, False, [state])
            key = getattr(cursor, "lastrowid", None)
            cursor.close()
            if key is None:
                raise exc.FlushError(
                    f"Can't fetch the generated primary key {pkey!r} of {state_str(state)}: "
                    f"the {plan.dialect.name} driver gives no lastrowid and INSERT .. "
                    "RETURNING is not in use. Enable RETURNING for this dialect, or set the "
                    "key (or a Python-side default) before flushing."
                )
            populate(obj.__dict__, pkey, key)
    elif len(rows) > 1 and dialect.use_insertmanyvalues and dialect.insert_executemany_returning:
        # one pipelined executemany; the driver keeps each parameter set's RETURNING
        # row in parameter order, so row i belongs to object i
        sql = _insert_sql(plan, keys, sqlkeys, returning)
        cursor = _run(conn, plan, sql, params, True, states, returning=True)
        fetched = cursor.fetchall()
        cursor.close()
        if len(fetched) != len(rows):
            raise exc.FlushError(
                f"INSERT into {plan.table.name!r} returned {len(fetched)} row(s) for "
                f"{len(rows)} objects ({_states_str(states)}); can't match generated keys. "
                "Pass create_engine(..., use_insertmanyvalues=False) to insert row by row."
            )
        if len(returning) == 1 and returning[0] not in plan.result_procs:
            uow.populate_column([r[1].__dict__ for r in rows], returning[0],
                                [ret[0] for ret in fetched])
        else:
            for r, ret in zip(rows, fetched):
                _populate_row(uow, plan, r[1].__dict__, returning, ret)
    else:
        sql = _insert_sql(plan, keys, sqlkeys, returning)
        for r, prow in zip(rows, params):
            cursor = _run(conn, plan, sql, prow, False, [r[0]])
            ret = cursor.fetchone()
            cursor.close()
            _populate_row(uow, plan, r[1].__dict__, returning, ret)
    if post_select:
        for r in rows:
            _select_back(uow, plan, conn, r[0], r[1].__dict__, post_select)
    if expire:
        for state in states:
            uow.expire_after(state, expire)


def _insert_pages(uow: UOWTransaction, plan: _TablePlan, conn: Any, keys: tuple[str, ...],
                  sqlkeys: tuple[str, ...], returning: tuple[str, ...], rows: list[Any],
                  params: list[tuple[Any, ...]]) -> None:
    """Rows with a generated autoincrement key (``returning[0]``) as multi-row
    ``INSERT ... VALUES (..), (..) RETURNING key, ...`` pages (SQLite).

    The RETURNING order is not guaranteed, but SQLite gives each row of one
    statement the next key in VALUES order (max(rowid) + 1, also under
    AUTOINCREMENT), so the sorted keys map to the rows in order.  A page whose
    keys are not one contiguous run (the table's rowids are exhausted and
    SQLite picks random ones, or a trigger inserted into the same table) can't
    be matched and fails the flush instead of guessing."""
    dialect = plan.dialect
    page = max(1, min(dialect.insertmanyvalues_page_size,
                      dialect.insertmanyvalues_max_parameters // len(keys)))
    only_key = len(returning) == 1 and returning[0] not in plan.result_procs
    for start in range(0, len(rows), page):
        chunk = rows[start:start + page]
        n = len(chunk)
        # only full pages are cached: a last, shorter page is built each time
        sql = _insert_sql(plan, keys, sqlkeys, returning, n, cache=n == page or n == 1)
        flat = tuple(chain.from_iterable(params[start:start + n]))
        states = [r[0] for r in chunk]
        cursor = _run(conn, plan, sql, flat, False, states)
        fetched = sorted(cursor.fetchall(), key=itemgetter(0))
        cursor.close()
        got = [r[0] for r in fetched]
        if len(got) != n or got[-1] - got[0] != n - 1:
            raise exc.FlushError(
                f"A multi-row INSERT into {plan.table.name!r} returned keys that are not "
                f"one ascending run ({got[:3]}...{got[-3:]} for {n} rows), so they can't "
                f"be matched to {_states_str(states)} (a trigger inserting into the same "
                "table, or exhausted rowids). Pass create_engine(..., "
                "use_insertmanyvalues=False) to insert row by row with lastrowid."
            )
        if only_key:
            uow.populate_column([r[1].__dict__ for r in chunk], returning[0], got)
        else:
            for r, ret in zip(chunk, fetched):
                _populate_row(uow, plan, r[1].__dict__, returning, ret)


def _insert_with_core(uow: UOWTransaction, plan: _TablePlan, conn: Any, state: InstanceState,
                      obj: Any, params: dict[str, Any], inline: dict[str, Any],
                      server: list[str]) -> None:
    """An INSERT whose values include SQL expressions: compiled by Core, alone."""
    k2c = plan.key_to_col
    values: dict[Any, Any] = {k2c[k].key: v for k, v in params.items()}
    values.update({k2c[k].key: v for k, v in inline.items()})
    for k in server:
        if k in plan.sql_fragments:  # a SQL default or a Sequence: Core renders it
            default = k2c[k].default
            values[k2c[k].key] = (default.next_value() if isinstance(default, SchemaSequence)
                                  else default.arg)
    stmt = sqldml.insert(plan.table).values(values)
    pk_fetch = [k for k in plan.pk_keys if k in server or k in inline]
    refetch = [k for k in inline if k not in pk_fetch]
    refetch += [k for k in server if k not in pk_fetch and (plan.eager_insert or k in inline)]
    expire = [k for k in server if k not in pk_fetch and k not in refetch]
    d = obj.__dict__
    if plan.insert_returning:
        ret_keys = pk_fetch + refetch
        if ret_keys:
            stmt = stmt.returning(*[k2c[k] for k in ret_keys])
        result = _run_core(conn, stmt, state)
        if ret_keys:
            row = result.fetchone()
            _populate_row(uow, plan, d, ret_keys, row)  # Core already converted types
        result.close()
    else:
        result = _run_core(conn, stmt, state)
        pk_row = result.inserted_primary_key
        for k, v in zip(plan.pk_keys, pk_row or ()):
            if k in pk_fetch:
                uow.populate(d, k, v)
        expire += refetch
    if expire:
        uow.expire_after(state, expire)


# --- UPDATE ------------------------------------------------------------------------------


def save_updates(uow: UOWTransaction, mapper: Mapper, items: list[tuple[InstanceState, Any]],
                 conn: Any) -> None:
    """UPDATE changed objects, grouped by the set of columns each one changes."""
    plan = _plan(mapper, conn.dialect)
    k2c = plan.key_to_col
    vkey = plan.version_key
    onupdates = plan.onupdate_kinds
    pk_keys = plan.pk_keys
    col_index = plan.col_index.__getitem__
    populate = uow.populate
    groups: dict[tuple[Any, ...], list[Any]] = {}
    switches = uow.row_switches
    no_sql: tuple[str, ...] = ()
    pk_set = frozenset(pk_keys)
    for state, obj in (_sort_persistent(items) if not switches else items):
        if switches and state in switches:
            committed, where_pk = uow.update_source(state)
        else:
            committed = state.committed_state
            ident = state.ident
            where_pk = ident if ident.__class__ is tuple else (ident,)
        if not committed:
            continue
        d = obj.__dict__
        changes: dict[str, Any] = {}
        inline: dict[str, Any] | None = None
        for key, old in committed.items():
            new = d.get(key, NO_VALUE)
            if new is old or new is NO_VALUE or key not in k2c:
                continue
            cls = new.__class__
            if cls in _PLAIN:
                if old.__class__ is cls:
                    if old == new:
                        continue
                elif old is not NO_VALUE and _values_equal(old, new):
                    continue  # e.g. 1 == 1.0
                changes[key] = new
            elif isinstance(new, ClauseElement):
                if isinstance(new, Null):
                    changes[key] = None
                    populate(d, key, None)
                else:
                    if inline is None:
                        inline = {}
                    inline[key] = new
            elif old is NO_VALUE or not _values_equal(old, new):
                changes[key] = new
        if not changes and not inline:
            continue  # no net change: no UPDATE
        sqlkeys: list[str] = []
        server: list[str] = []
        if onupdates:
            for key, kind in onupdates:
                if key in changes or (inline is not None and key in inline):
                    continue
                if kind == _SERVER:
                    server.append(key)
                elif kind == _SQL:
                    sqlkeys.append(key)
                elif kind == _CORE:
                    if inline is None:
                        inline = {}
                    inline[key] = plan.onupdate_core[key]
                else:
                    changes[key] = v = _python_default(conn, plan, k2c[key].onupdate, changes)
                    populate(d, key, v)
        old_version = None
        if vkey is not None:
            old_version = committed.get(vkey, NO_VALUE)
            if old_version is NO_VALUE:
                old_version = d[vkey] if vkey in d else getattr(obj, vkey)
            if vkey not in changes:
                if plan.version_gen is False:
                    server.append(vkey)
                else:
                    gen = plan.version_gen
                    changes[vkey] = v = gen(old_version) if gen else (old_version or 0) + 1
                    populate(d, vkey, v)
        assert where_pk is not None
        if not pk_set.isdisjoint(changes):
            for i, k in enumerate(pk_keys):
                if k in changes and not _values_equal(changes[k], where_pk[i]):
                    uow.pk_changed(state)
                    break
        if inline is not None:
            _update_with_core(uow, plan, conn, state, obj, changes, inline, sqlkeys + server,
                              where_pk, old_version)
            continue
        returning = no_sql
        if sqlkeys or server:
            fetch = [k for k in sqlkeys + server if plan.eager_update or k == vkey]
            if fetch and plan.update_returning:
                returning = tuple(fetch)
            expire = [k for k in sqlkeys + server if k not in returning]
            if expire:
                uow.expire_after(state, expire)
        keys = tuple(changes)
        if len(keys) > 1:  # canonical (table) order, so equal column sets share a batch
            keys = tuple(sorted(keys, key=col_index))
        gkey = (keys, tuple(sqlkeys) if sqlkeys else no_sql, returning)
        row = (state, obj, changes, where_pk, old_version)
        rows = groups.get(gkey)
        if rows is None:
            groups[gkey] = [row]
        else:
            rows.append(row)
    for (keys, sqlkeys_t, returning), rows in groups.items():
        _update_group(uow, plan, conn, keys, sqlkeys_t, returning, rows)


def _update_sql(plan: _TablePlan, keys: tuple[str, ...], sqlkeys: tuple[str, ...],
                returning: tuple[str, ...]) -> str:
    ck = ("update", keys, sqlkeys, returning)
    sql = plan.sql_cache.get(ck)
    if sql is None:
        n = len(keys)
        ph = plan.placeholders(n + len(plan.pk_keys) + (1 if plan.version_key else 0))
        value_of = {k: ph[i] for i, k in enumerate(keys)}
        value_of.update((k, plan.onupdate_fragments[k]) for k in sqlkeys)
        sets = [f"{plan.quote(k)}={value_of[k]}"
                for k in sorted(value_of, key=plan.col_index.__getitem__)]
        where = [f"{plan.qualified(k)} = {ph[n + i]}" for i, k in enumerate(plan.pk_keys)]
        if plan.version_key is not None:
            where.append(f"{plan.qualified(plan.version_key)} = {ph[-1]}")
        sql = f"UPDATE {plan.q_table} SET {', '.join(sets)} WHERE {' AND '.join(where)}"
        if returning:
            sql += " RETURNING " + ", ".join(plan.qualified(k) for k in returning)
        plan.sql_cache[ck] = sql
    return sql


def _stale(kind: str, plan: _TablePlan, expected: int, matched: int,
           states: Sequence[InstanceState]) -> exc.StaleDataError:
    verb = "update" if kind == "UPDATE" else "delete"
    why = (
        "The row(s) were changed or deleted by another transaction since they were loaded "
        f"(version_id_col {plan.version_key!r} no longer matches)"
        if plan.version_key is not None else
        "The row(s) were deleted, or their primary key changed, by another transaction"
    )
    return exc.StaleDataError(
        f"{kind} statement on table {plan.table.name!r} expected to {verb} {expected} row(s); "
        f"{matched} were matched. {why}: {_states_str(states)}. Roll back the session, "
        "reload the object(s) and apply the change again."
    )


def _update_group(uow: UOWTransaction, plan: _TablePlan, conn: Any, keys: tuple[str, ...],
                  sqlkeys: tuple[str, ...], returning: tuple[str, ...], rows: list[Any]) -> None:
    sql = _update_sql(plan, keys, sqlkeys, returning)
    versioned = plan.version_key is not None
    procs = plan.bind_indexes(keys)
    pk_procs = plan.bind_indexes(plan.pk_keys)
    params: list[tuple[Any, ...]]
    if not procs and not pk_procs and not versioned:  # the common case: plain values
        if len(keys) == 1:
            k0 = keys[0]
            params = [(r[2][k0], *r[3]) for r in rows]
        else:
            get = itemgetter(*keys)
            params = [get(r[2]) + r[3] for r in rows]
    else:
        params = []
        for _state, _obj, changes, where_pk, old_version in rows:
            row = [changes[k] for k in keys]
            for i, proc in procs:
                if row[i] is not None:
                    row[i] = proc(row[i])
            if pk_procs:
                pk = list(where_pk)
                for i, proc in pk_procs:
                    if pk[i] is not None:
                        pk[i] = proc(pk[i])
                row += pk
            else:
                row += where_pk
            if versioned:
                row.append(old_version)
            params.append(tuple(row))
    states = [r[0] for r in rows]
    n = len(params)
    if returning:
        matched = 0
        for (state, obj, *_rest), prow in zip(rows, params):
            cursor = _run(conn, plan, sql, prow, False, [state])
            ret = cursor.fetchone()
            cursor.close()
            if ret is not None:
                matched += 1
                _populate_row(uow, plan, obj.__dict__, returning, ret)
        sane = True
    else:
        matched, sane = _execute_counted(conn, plan, sql, params, states, versioned)
    if sane and matched != n and matched >= 0:
        raise _stale("UPDATE", plan, n, matched, states)


def _execute_counted(conn: Any, plan: _TablePlan, sql: str, params: list[Any],
                     states: list[InstanceState], versioned: bool) -> tuple[int, bool]:
    """Run an UPDATE/DELETE batch; (rows matched, whether that count is reliable).
    A versioned batch runs row by row where executemany's count isn't reliable."""
    dialect = conn.dialect
    n = len(params)
    if n > 1 and versioned and not dialect.supports_sane_multi_rowcount:
        matched = 0
        for state, prow in zip(states, params):
            cursor = _run(conn, plan, sql, prow, False, [state])
            matched += cursor.rowcount
            cursor.close()
        return matched, bool(dialect.supports_sane_rowcount)
    cursor = _run(conn, plan, sql, params if n > 1 else params[0], n > 1, states)
    matched = cursor.rowcount
    cursor.close()
    return matched, bool(dialect.supports_sane_multi_rowcount if n > 1
                         else dialect.supports_sane_rowcount)


def _update_with_core(uow: UOWTransaction, plan: _TablePlan, conn: Any, state: InstanceState,
                      obj: Any, changes: dict[str, Any], inline: dict[str, Any],
                      server: list[str], where_pk: Sequence[Any], old_version: Any) -> None:
    """An UPDATE that sets SQL expressions: compiled by Core, alone; the
    expression attributes are fetched back (RETURNING) or expired."""
    k2c = plan.key_to_col
    crit = [k2c[k] == v for k, v in zip(plan.pk_keys, where_pk)]
    if plan.version_key is not None:
        crit.append(k2c[plan.version_key] == old_version)
    values: dict[Any, Any] = {k2c[k].key: v for k, v in changes.items()}
    values.update({k2c[k].key: v for k, v in inline.items()})
    for k in server:
        if k in plan.onupdate_fragments:
            values[k2c[k].key] = k2c[k].onupdate.arg
    stmt = sqldml.update(plan.table).where(and_(*crit)).values(values)
    refetch = list(inline) + [k for k in server if plan.eager_update or k == plan.version_key]
    d = obj.__dict__
    if plan.update_returning and refetch:
        stmt = stmt.returning(*[k2c[k] for k in refetch])
        result = _run_core(conn, stmt, state)
        row = result.fetchone()
        result.close()
        rowcount = 0 if row is None else 1
        if row is not None:
            for k, v in zip(refetch, row):
                uow.populate(d, k, v)
        expire = [k for k in server if k not in refetch]
    else:
        result = _run_core(conn, stmt, state)
        rowcount = result.rowcount
        result.close()
        expire = list(inline) + list(server)
    if expire:
        uow.expire_after(state, expire)
    if conn.dialect.supports_sane_rowcount and rowcount != 1:
        raise _stale("UPDATE", plan, 1, rowcount, [state])


# --- DELETE ------------------------------------------------------------------------------


def delete_states(uow: UOWTransaction, mapper: Mapper, items: list[tuple[InstanceState, Any]],
                  conn: Any) -> None:
    """DELETE rows by primary key (and version), as one executemany where possible."""
    plan = _plan(mapper, conn.dialect)
    versioned = plan.version_key is not None
    sql = plan.sql_cache.get("delete")
    if sql is None:
        ph = plan.placeholders(len(plan.pk_keys) + (1 if versioned else 0))
        where = [f"{plan.qualified(k)} = {ph[i]}" for i, k in enumerate(plan.pk_keys)]
        if versioned:
            where.append(f"{plan.qualified(plan.version_key)} = {ph[-1]}")  # type: ignore[arg-type]
        sql = plan.sql_cache["delete"] = (
            f"DELETE FROM {plan.q_table} WHERE {' AND '.join(where)}"
        )
    items = _sort_persistent(items)
    pk_procs = plan.bind_indexes(plan.pk_keys)
    params = []
    for state, obj in items:
        pk = state.identity
        assert pk is not None
        if pk_procs or versioned:
            row = _pk_params(plan, pk)
            if versioned:
                vkey = plan.version_key
                assert vkey is not None
                committed = state.committed_state or {}
                v = committed.get(vkey, NO_VALUE)
                if v is NO_VALUE:
                    d = obj.__dict__
                    v = d[vkey] if vkey in d else getattr(obj, vkey)
                row.append(v)
            params.append(tuple(row))
        else:
            params.append(pk)
    states = [s for s, _ in items]
    n = len(params)
    matched, sane = _execute_counted(conn, plan, sql, params, states, versioned)
    if sane and matched != n and matched >= 0:
        if versioned:
            raise _stale("DELETE", plan, n, matched, states)
        if mapper.confirm_deleted_rows:
            warnings.warn(
                f"DELETE statement on table {plan.table.name!r} expected to delete {n} row(s); "
                f"{matched} were matched ({_states_str(states)}). Set "
                "confirm_deleted_rows=False in the mapper configuration to silence this.",
                UserWarning, stacklevel=4,
            )


def _fire(listeners: Any, mapper: Mapper, conn: Any,
          items: list[tuple[InstanceState, Any]]) -> None:
    """Call mapper-event ``listeners`` for each object of a batch."""
    for _state, obj in items:
        listeners(mapper, conn, obj)


def save_obj(uow: UOWTransaction, mapper: Mapper, inserts: list[tuple[InstanceState, Any]],
             updates: list[tuple[InstanceState, Any]], conn: Any) -> None:
    """INSERTs then UPDATEs for one mapper's table; MapperEvents fire per
    object before / after each batch (one truth test per batch when none)."""
    dispatch = mapper.dispatch
    if inserts:
        if dispatch.before_insert:
            _fire(dispatch.before_insert, mapper, conn, inserts)
        save_inserts(uow, mapper, inserts, conn)
        if dispatch.after_insert:
            _fire(dispatch.after_insert, mapper, conn, inserts)
    if updates:
        if dispatch.before_update:
            _fire(dispatch.before_update, mapper, conn, updates)
        save_updates(uow, mapper, updates, conn)
        if dispatch.after_update:
            _fire(dispatch.after_update, mapper, conn, updates)


def delete_obj(uow: UOWTransaction, mapper: Mapper, deletes: list[tuple[InstanceState, Any]],
               conn: Any) -> None:
    """DELETEs for one mapper's table, with before/after_delete per object."""
    if deletes:
        dispatch = mapper.dispatch
        if dispatch.before_delete:
            _fire(dispatch.before_delete, mapper, conn, deletes)
        delete_states(uow, mapper, deletes, conn)
        if dispatch.after_delete:
            _fire(dispatch.after_delete, mapper, conn, deletes)
