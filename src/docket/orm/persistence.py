"""The statements of a flush: batched INSERT, UPDATE and DELETE per mapper.

Rows are grouped by the exact set of columns they write, so each group is
one SQL string run as one ``executemany`` -- or, where generated keys must
come back, one batch with RETURNING (a pipelined executemany, or multi-row
VALUES pages on SQLite) or, for a single row, ``lastrowid``.  SQL strings
are built once per (mapper, dialect, column set) and cached on the
mapper's :class:`~docket.orm.table_plan.TablePlan`; a row's parameters are
one plain tuple in column order.

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
from collections.abc import Sequence
from decimal import Decimal
from itertools import chain
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from docket import exc
from docket.orm.attributes import _values_equal
from docket.orm.state import NO_VALUE, InstanceState
from docket.orm.table_plan import (
    CALLABLE,
    CORE,
    PLAIN_COL,
    SCALAR,
    SERVER,
    SQL,
    VERSION,
    TablePlan,
    plan_for,
    run_core,
    run_statement,
    state_str,
    states_str,
)
from docket.sql import dml as sqldml
from docket.sql.elements import ClauseElement, Null, and_
from docket.sql.schema import Sequence as SchemaSequence

if TYPE_CHECKING:
    from docket.orm.mapper import Mapper
    from docket.orm.unitofwork import UOWTransaction

__all__ = ["delete_obj", "save_obj"]

# value classes that are certainly plain data (fast check before isinstance)
_PLAIN = frozenset({int, str, float, bool, bytes, type(None)})
# ... and those a new row may hold to take the tuple fast path of save_inserts
_PLAIN_VALUES = _PLAIN | {Decimal, datetime.datetime, datetime.date, datetime.time,
                          datetime.timedelta, uuid.UUID}


class _DefaultContext:
    """What a context-aware Python default receives: ``get_current_parameters()``
    gives the row's values so far, keyed by column key."""

    def __init__(self, connection: Any, plan: TablePlan, params: dict[str, Any]) -> None:
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


def _python_default(conn: Any, plan: TablePlan, default: Any, params: dict[str, Any]) -> Any:
    if default.is_callable:
        return default.arg(_DefaultContext(conn, plan, params))
    return default.arg


def _populate_row(uow: UOWTransaction, plan: TablePlan, d: dict[str, Any],
                  keys: Sequence[str], row: Sequence[Any]) -> None:
    procs = plan.result_procs
    for k, v in zip(keys, row):
        p = procs.get(k)
        uow.populate(d, k, p(v) if p is not None and v is not None else v)


def _select_back(uow: UOWTransaction, plan: TablePlan, conn: Any, state: InstanceState,
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
    cursor = run_statement(conn, plan, sql, _pk_params(plan, [d.get(k) for k in plan.pk_keys]), False,
                  [state])
    row = cursor.fetchone()
    cursor.close()
    if row is not None:
        _populate_row(uow, plan, d, keys, row)


def _pk_params(plan: TablePlan, pk: Sequence[Any]) -> list[Any]:
    out = list(pk)
    procs = plan.bind_procs
    for i, key in enumerate(plan.pk_keys):
        p = procs.get(key)
        if p is not None and out[i] is not None:
            out[i] = p(out[i])
    return out


def _sort_persistent(items: list[tuple[InstanceState, Any]]) -> list[tuple[InstanceState, Any]]:
    """Rows in primary-key order (a stable lock order, as SQLAlchemy does).
    Objects usually change in the order they were loaded, which is key order
    already: that is checked first, and the sort itself runs without a Python
    call per object."""
    if len(items) < 2:
        return items
    idents = [item[0].ident for item in items]
    try:
        order = sorted(idents)
        if order == idents:
            return items
        return [items[i] for i in sorted(range(len(items)), key=idents.__getitem__)]
    except TypeError:  # incomparable keys (None in a composite key, mixed types)
        return items


# --- INSERT ------------------------------------------------------------------------------


def save_inserts(uow: UOWTransaction, mapper: Mapper, items: list[tuple[InstanceState, Any]],
                 conn: Any) -> None:
    """INSERT new objects, grouped by the columns each one writes."""
    plan = plan_for(mapper, conn.dialect)
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
                if kind == PLAIN_COL:
                    params[key] = None
                    continue
                if kind == SCALAR or kind == CALLABLE or kind == VERSION:
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
                if kind == SERVER:
                    gen_l.append(key)
                elif kind == SQL:
                    sql_l.append(key)
                elif kind == VERSION:
                    gen = plan.version_gen
                    params[key] = v = gen(None) if gen else 1
                    populate(d, key, v)
                elif kind == CORE:
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


def _insert_sql(plan: TablePlan, keys: tuple[str, ...], sqlkeys: tuple[str, ...],
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


def _insert_group(uow: UOWTransaction, plan: TablePlan, conn: Any, keys: tuple[str, ...],
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
            f"{states_str(states)}: the {plan.dialect.name} dialect has no INSERT .. "
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
        run_statement(conn, plan, sql, params if many else params[0], many, states)
    elif pages:
        _insert_pages(uow, plan, conn, keys, sqlkeys, returning, rows, params)
    elif use_lastrowid:
        sql = _insert_sql(plan, keys, sqlkeys, ())
        pkey = pk_fetch[0]
        populate = uow.populate
        for r, prow in zip(rows, params):
            state, obj = r[0], r[1]
            cursor = run_statement(conn, plan, sql, prow, False, [state])
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
        cursor = run_statement(conn, plan, sql, params, True, states, returning=True)
        fetched = cursor.fetchall()
        cursor.close()
        if len(fetched) != len(rows):
            raise exc.FlushError(
                f"INSERT into {plan.table.name!r} returned {len(fetched)} row(s) for "
                f"{len(rows)} objects ({states_str(states)}); can't match generated keys. "
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
            cursor = run_statement(conn, plan, sql, prow, False, [r[0]])
            ret = cursor.fetchone()
            cursor.close()
            _populate_row(uow, plan, r[1].__dict__, returning, ret)
    if post_select:
        for r in rows:
            _select_back(uow, plan, conn, r[0], r[1].__dict__, post_select)
    if expire:
        for state in states:
            uow.expire_after(state, expire)


def _insert_pages(uow: UOWTransaction, plan: TablePlan, conn: Any, keys: tuple[str, ...],
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
        cursor = run_statement(conn, plan, sql, flat, False, states)
        fetched = sorted(cursor.fetchall(), key=itemgetter(0))
        cursor.close()
        got = [r[0] for r in fetched]
        if len(got) != n or got[-1] - got[0] != n - 1:
            raise exc.FlushError(
                f"A multi-row INSERT into {plan.table.name!r} returned keys that are not "
                f"one ascending run ({got[:3]}...{got[-3:]} for {n} rows), so they can't "
                f"be matched to {states_str(states)} (a trigger inserting into the same "
                "table, or exhausted rowids). Pass create_engine(..., "
                "use_insertmanyvalues=False) to insert row by row with lastrowid."
            )
        if only_key:
            uow.populate_column([r[1].__dict__ for r in chunk], returning[0], got)
        else:
            for r, ret in zip(chunk, fetched):
                _populate_row(uow, plan, r[1].__dict__, returning, ret)


def _insert_with_core(uow: UOWTransaction, plan: TablePlan, conn: Any, state: InstanceState,
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
        result = run_core(conn, stmt, state)
        if ret_keys:
            row = result.fetchone()
            _populate_row(uow, plan, d, ret_keys, row)  # Core already converted types
        result.close()
    else:
        result = run_core(conn, stmt, state)
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
    """UPDATE changed objects, grouped by the set of columns each one changes.

    A group's rows are the ``(state, obj)`` items themselves when the statement
    needs nothing but the object's current values and its identity (no version
    counter, no row switch in this flush, nothing fetched back): every value
    written -- a change, a NULL, a Python ``onupdate`` -- is in ``obj.__dict__``
    by then, and the key is ``state.ident``.  Otherwise a row is ``(state, obj,
    changes, where_pk, old_version)``.  ``where_pk`` is the identity as the
    state keeps it (the value itself for a one-column primary key, else a tuple).
    """
    plan = plan_for(mapper, conn.dialect)
    k2c = plan.key_to_col
    vkey = plan.version_key
    onupdates = plan.onupdate_kinds
    pk_keys = plan.pk_keys
    single_pk = len(pk_keys) == 1
    col_index = plan.col_index.__getitem__
    populate = uow.populate
    groups: dict[tuple[Any, ...], list[Any]] = {}
    switches = uow.row_switches
    no_sql: tuple[str, ...] = ()
    pk_set = frozenset(pk_keys)
    item_rows = not switches and vkey is None
    # one plain column changed and nothing else written: the item goes straight to
    # the group of that column (key -> the group's rows), allocating nothing
    lean = item_rows and not onupdates
    lean_rows: dict[str, list[Any]] = {}
    for item in (_sort_persistent(items) if not switches else items):
        state, obj = item
        if switches and state in switches:
            committed, where_pk = uow.update_source(state)
            if single_pk and where_pk is not None:
                where_pk = where_pk[0]
        else:
            committed = state.committed_state
            where_pk = state.ident
        if not committed:
            continue
        d = obj.__dict__
        if lean and len(committed) == 1:
            [(key, old)] = committed.items()  # its one (key, value before) pair
            new = d.get(key, NO_VALUE)
            cls = new.__class__
            if cls in _PLAIN and old.__class__ is cls and key in k2c and key not in pk_set:
                if old == new:
                    continue  # no net change: no UPDATE
                rows = lean_rows.get(key)
                if rows is None:
                    rows = lean_rows[key] = groups.setdefault(((key,), no_sql, no_sql), [])
                rows.append(item)
                continue
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
                if kind == SERVER:
                    server.append(key)
                elif kind == SQL:
                    sqlkeys.append(key)
                elif kind == CORE:
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
            pk_t = (where_pk,) if single_pk else where_pk
            for i, k in enumerate(pk_keys):
                if k in changes and not _values_equal(changes[k], pk_t[i]):
                    uow.pk_changed(state)
                    break
        if inline is not None:
            _update_with_core(uow, plan, conn, state, obj, changes, inline, sqlkeys + server,
                              (where_pk,) if single_pk else where_pk, old_version)
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
        row = (item if item_rows and not sqlkeys and returning is no_sql
               else (state, obj, changes, where_pk, old_version))
        rows = groups.get(gkey)
        if rows is None:
            groups[gkey] = [row]
        else:
            rows.append(row)
    for (keys, sqlkeys_t, returning), rows in groups.items():
        _update_group(uow, plan, conn, keys, sqlkeys_t, returning, rows,
                      item_rows and not sqlkeys_t and not returning)


def _update_sql(plan: TablePlan, keys: tuple[str, ...], sqlkeys: tuple[str, ...],
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


def _stale(kind: str, plan: TablePlan, expected: int, matched: int,
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
        f"{matched} were matched. {why}: {states_str(states)}. Roll back the session, "
        "reload the object(s) and apply the change again."
    )


def _update_group(uow: UOWTransaction, plan: TablePlan, conn: Any, keys: tuple[str, ...],
                  sqlkeys: tuple[str, ...], returning: tuple[str, ...], rows: list[Any],
                  item_rows: bool) -> None:
    """One UPDATE statement for rows changing the same columns (``rows`` as
    :func:`save_updates` describes: ``(state, obj)`` items when ``item_rows``)."""
    sql = _update_sql(plan, keys, sqlkeys, returning)
    versioned = plan.version_key is not None
    procs = plan.bind_indexes(keys)
    pk_procs = plan.bind_indexes(plan.pk_keys)
    single_pk = len(plan.pk_keys) == 1  # where_pk is the key itself, else a tuple
    params: list[tuple[Any, ...]]
    if item_rows and (procs or pk_procs):
        rows = [(s, o, o.__dict__, s.ident, None) for s, o in rows]  # the general form
        item_rows = False
    if item_rows:  # plain values, read from the objects
        if len(keys) == 1:
            k0 = keys[0]
            params = ([(o.__dict__[k0], s.ident) for s, o in rows] if single_pk else
                      [(o.__dict__[k0], *s.ident) for s, o in rows])
        else:
            get = itemgetter(*keys)
            params = ([get(o.__dict__) + (s.ident,) for s, o in rows] if single_pk else
                      [get(o.__dict__) + s.ident for s, o in rows])
    elif not procs and not pk_procs and not versioned:  # plain values
        if len(keys) == 1:
            k0 = keys[0]
            params = ([(r[2][k0], r[3]) for r in rows] if single_pk else
                      [(r[2][k0], *r[3]) for r in rows])
        else:
            get = itemgetter(*keys)
            params = ([get(r[2]) + (r[3],) for r in rows] if single_pk else
                      [get(r[2]) + r[3] for r in rows])
    else:
        params = []
        for _state, _obj, changes, where_pk, old_version in rows:
            row = [changes[k] for k in keys]
            for i, proc in procs:
                if row[i] is not None:
                    row[i] = proc(row[i])
            pk = [where_pk] if single_pk else list(where_pk)
            for i, proc in pk_procs:
                if pk[i] is not None:
                    pk[i] = proc(pk[i])
            row += pk
            if versioned:
                row.append(old_version)
            params.append(tuple(row))
    states = [r[0] for r in rows]
    n = len(params)
    if returning:
        matched = 0
        for (state, obj, *_rest), prow in zip(rows, params):
            cursor = run_statement(conn, plan, sql, prow, False, [state])
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


def _execute_counted(conn: Any, plan: TablePlan, sql: str, params: list[Any],
                     states: list[InstanceState], versioned: bool) -> tuple[int, bool]:
    """Run an UPDATE/DELETE batch; (rows matched, whether that count is reliable).
    A versioned batch runs row by row where executemany's count isn't reliable."""
    dialect = conn.dialect
    n = len(params)
    if n > 1 and versioned and not dialect.supports_sane_multi_rowcount:
        matched = 0
        for state, prow in zip(states, params):
            cursor = run_statement(conn, plan, sql, prow, False, [state])
            matched += cursor.rowcount
            cursor.close()
        return matched, bool(dialect.supports_sane_rowcount)
    cursor = run_statement(conn, plan, sql, params if n > 1 else params[0], n > 1, states)
    matched = cursor.rowcount
    cursor.close()
    return matched, bool(dialect.supports_sane_multi_rowcount if n > 1
                         else dialect.supports_sane_rowcount)


def _update_with_core(uow: UOWTransaction, plan: TablePlan, conn: Any, state: InstanceState,
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
        result = run_core(conn, stmt, state)
        row = result.fetchone()
        result.close()
        rowcount = 0 if row is None else 1
        if row is not None:
            for k, v in zip(refetch, row):
                uow.populate(d, k, v)
        expire = [k for k in server if k not in refetch]
    else:
        result = run_core(conn, stmt, state)
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
    plan = plan_for(mapper, conn.dialect)
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
    params: list[Any]
    if not pk_procs and not versioned:  # the key as the state keeps it: the parameters
        params = ([(s.ident,) for s, _ in items] if len(plan.pk_keys) == 1
                  else [s.ident for s, _ in items])
    else:
        params = []
        for state, obj in items:
            pk = state.identity
            assert pk is not None
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
    states = [s for s, _ in items]
    n = len(params)
    matched, sane = _execute_counted(conn, plan, sql, params, states, versioned)
    if sane and matched != n and matched >= 0:
        if versioned:
            raise _stale("DELETE", plan, n, matched, states)
        if mapper.confirm_deleted_rows:
            warnings.warn(
                f"DELETE statement on table {plan.table.name!r} expected to delete {n} row(s); "
                f"{matched} were matched ({states_str(states)}). Set "
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
