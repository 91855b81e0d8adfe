"""The statements of a flush: batched INSERT, UPDATE and DELETE per mapper.

Rows are grouped by the exact set of columns they write, so each group is
one SQL string run as one ``executemany`` (or, where primary keys or server
values must come back, one execute per row with RETURNING / ``lastrowid``).
SQL strings are built once per (mapper, dialect, column set) and cached on
the mapper; parameters are plain tuples in column order.

Rows whose attributes hold SQL expressions (``obj.count = User.count + 1``,
``null()``) go through the Core compiler one by one; the attribute is then
reloaded (fetched with RETURNING where available, expired otherwise).

Every value this module writes into an object's ``__dict__`` (generated
keys, defaults, fetched server values) is recorded in ``uow.populated`` so a
failed flush can put the objects back exactly as they were.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from docket import exc
from docket.orm.attributes import _values_equal
from docket.orm.state import NO_VALUE, InstanceState
from docket.sql import dml as sqldml
from docket.sql.elements import ClauseElement, and_
from docket.sql.schema import Column
from docket.sql.schema import Sequence as SchemaSequence

if TYPE_CHECKING:
    from docket.orm.mapper import Mapper
    from docket.orm.unitofwork import UOWTransaction

__all__ = ["delete_obj", "save_obj"]

# value classes that are certainly plain data (fast check before isinstance)
_PLAIN = frozenset({int, str, float, bool, bytes, type(None)})


def _state_str(state: InstanceState) -> str:
    return f"<{state.mapper.class_.__name__} at 0x{id(state()):x}>"


class _TablePlan:
    """Per-(mapper, dialect) facts about writing the mapper's table."""

    def __init__(self, mapper: Mapper, dialect: Any) -> None:
        table = mapper.local_table
        self.table = table
        self.dialect = dialect
        self.q_table = dialect.format_table(table)
        # (attr key, column) for every writable table column
        self.columns: list[tuple[str, Column]] = [
            (key, col) for key, col in mapper._key_to_col.items()
            if isinstance(col, Column) and col.table is table
            and mapper._props[key].is_writable  # type: ignore[attr-defined]
        ]
        self.key_of = {col: key for key, col in self.columns}
        self.pk = [(mapper._key_to_col[k], k) for k in mapper._pk_keys]
        autoinc = getattr(table, "autoincrement_column", None)
        self.autoinc_key = self.key_of.get(autoinc) if autoinc is not None else None
        self.bind_procs = {
            key: p for key, col in self.columns
            if (p := col.type._cached_bind_processor(dialect)) is not None
        }
        self.result_procs = {
            key: p for key, col in self.columns
            if (p := col.type._cached_result_processor(dialect, None)) is not None
        }
        self.use_lastrowid = not (dialect.insert_returning and dialect.implicit_returning)
        self.returning = bool(dialect.insert_returning)
        eager = mapper.eager_defaults
        self.fetch_server_defaults = eager is True or (eager == "auto" and self.returning)
        self.version_key = mapper._version_key
        self.sql_cache: dict[Any, str] = {}

    def quote(self, col: Column) -> str:
        return self.dialect.quote(col.name)

    def placeholders(self, n: int, start: int = 1) -> list[str]:
        return [self.dialect.placeholder(f"p{i}", i) for i in range(start, start + n)]


def _plan(mapper: Mapper, dialect: Any) -> _TablePlan:
    plan = mapper._persistence_cache.get(dialect)
    if plan is None:
        plan = mapper._persistence_cache[dialect] = _TablePlan(mapper, dialect)
    return plan  # type: ignore[no-any-return]


def _run(uow: UOWTransaction, conn: Any, sql: str, params: Any, many: bool,
         states: Sequence[InstanceState]) -> Any:
    """Execute with events and error wrapping; name the objects on failure."""
    try:
        return conn._cursor_execute(sql, params, None, many)
    except exc.DocketError as e:
        shown = ", ".join(_state_str(s) for s in states[:5])
        more = f" and {len(states) - 5} more" if len(states) > 5 else ""
        e.add_detail(f"[while flushing: {shown}{more}]")
        raise


def _apply_procs(plan: _TablePlan, keys: Sequence[str], row: list[Any]) -> None:
    procs = plan.bind_procs
    for i, k in enumerate(keys):
        p = procs.get(k)
        if p is not None and row[i] is not None:
            row[i] = p(row[i])


def _default_value(uow: UOWTransaction, conn: Any, col: Column, default: Any,
                   params: dict[str, Any]) -> Any:
    if default.is_callable:
        ctx = _DefaultContext(conn, params)
        return default.arg(ctx)
    return default.arg


class _DefaultContext:
    """What a Python column default receives (``context.get_current_parameters()``)."""

    def __init__(self, connection: Any, params: dict[str, Any]) -> None:
        self.connection = connection
        self.current_parameters = params

    def get_current_parameters(self, isolate_multiinsert_groups: bool = True) -> dict[str, Any]:
        return dict(self.current_parameters)


# --- INSERT ------------------------------------------------------------------------------


def _insert_row(uow: UOWTransaction, plan: _TablePlan, conn: Any, state: InstanceState,
                obj: Any) -> tuple[dict[str, Any], dict[str, ClauseElement], list[str]]:
    """The values one new object INSERTs: plain params, inline SQL, and keys
    the database generates (to fetch or expire)."""
    d = obj.__dict__
    params: dict[str, Any] = {}
    inline: dict[str, ClauseElement] = {}
    generated: list[str] = []
    for key, col in plan.columns:
        value = d.get(key, NO_VALUE)
        if value.__class__ not in _PLAIN and isinstance(value, ClauseElement):
            inline[key] = value
            continue
        if value is not NO_VALUE and value is not None:
            params[key] = value
            continue
        default = col.default
        if default is not None and not isinstance(default, SchemaSequence):
            if default.is_clause_element:
                inline[key] = default.arg
                continue
            params[key] = v = _default_value(uow, conn, col, default, params)
            uow.populate(d, key, v)
            continue
        if key == plan.version_key:
            gen = state.mapper.version_id_generator
            params[key] = v = gen(None) if gen else 1
            uow.populate(d, key, v)
            continue
        if isinstance(default, SchemaSequence) and plan.dialect.supports_sequences:
            inline[key] = default.next_value()
            continue
        if col.server_default is not None or key == plan.autoinc_key or col.identity is not None:
            generated.append(key)
            continue
        if value is None or col.primary_key:
            params[key] = None
    return params, inline, generated


def save_inserts(uow: UOWTransaction, mapper: Mapper, items: list[tuple[InstanceState, Any]],
                 conn: Any) -> None:
    plan = _plan(mapper, conn.dialect)
    groups: dict[tuple[tuple[str, ...], tuple[str, ...]], list[Any]] = {}
    for state, obj in items:
        params, inline, generated = _insert_row(uow, plan, conn, state, obj)
        for _pcol, pkey in plan.pk:
            if pkey not in params and pkey not in inline and pkey not in generated:
                raise exc.FlushError(
                    f"Instance {_state_str(state)} has a NULL identity key: primary key "
                    f"attribute {pkey!r} has no value and the database won't generate one. "
                    "Set it before flushing, or make the column autoincrement / give it a "
                    "default."
                )
        if inline:
            _insert_one_with_sql(uow, plan, conn, state, obj, params, inline, generated)
            continue
        key = (tuple(params), tuple(generated))
        groups.setdefault(key, []).append((state, obj, params))
    for (keys, generated), rows in groups.items():
        _insert_group(uow, plan, conn, keys, generated, rows)


def _insert_sql(plan: _TablePlan, keys: tuple[str, ...], returning: tuple[str, ...]) -> str:
    ck = ("insert", keys, returning)
    sql = plan.sql_cache.get(ck)
    if sql is None:
        key_to_col = dict(plan.columns)
        cols = [key_to_col[k] for k in keys]
        if cols:
            sql = (
                f"INSERT INTO {plan.q_table} ({', '.join(plan.quote(c) for c in cols)}) "
                f"VALUES ({', '.join(plan.placeholders(len(cols)))})"
            )
        else:
            sql = f"INSERT INTO {plan.q_table} DEFAULT VALUES"
        if returning:
            sql += " RETURNING " + ", ".join(plan.quote(key_to_col[k]) for k in returning)
        plan.sql_cache[ck] = sql
    return sql


def _insert_group(uow: UOWTransaction, plan: _TablePlan, conn: Any, keys: tuple[str, ...],
                  generated: tuple[str, ...], rows: list[Any]) -> None:
    pk_missing = [k for _, k in plan.pk if k in generated]
    other_generated = [k for k in generated if k not in pk_missing]
    fetch = list(pk_missing)
    if plan.fetch_server_defaults:
        fetch += other_generated
        expire = []
    else:
        expire = other_generated
    states = [r[0] for r in rows]
    params = []
    for _, _, p in rows:
        row = [p[k] for k in keys]
        if plan.bind_procs:
            _apply_procs(plan, keys, row)
        params.append(tuple(row))
    if not fetch:
        sql = _insert_sql(plan, keys, ())
        _run(uow, conn, sql, params if len(params) > 1 else params[0], len(params) > 1, states)
    elif plan.use_lastrowid and fetch == [plan.autoinc_key] and not other_generated:
        sql = _insert_sql(plan, keys, ())
        for (state, obj, _), row in zip(rows, params):
            cursor = _run(uow, conn, sql, row, False, [state])
            uow.populate(obj.__dict__, fetch[0], cursor.lastrowid)
            cursor.close()
    elif plan.returning:
        sql = _insert_sql(plan, keys, tuple(fetch))
        procs = [plan.result_procs.get(k) for k in fetch]
        for (state, obj, _), row in zip(rows, params):
            cursor = _run(uow, conn, sql, row, False, [state])
            ret = cursor.fetchone()
            cursor.close()
            d = obj.__dict__
            for k, v, p in zip(fetch, ret, procs):
                uow.populate(d, k, p(v) if p is not None and v is not None else v)
    else:
        sql = _insert_sql(plan, keys, ())
        for (state, obj, _), row in zip(rows, params):
            cursor = _run(uow, conn, sql, row, False, [state])
            if plan.autoinc_key in fetch:
                uow.populate(obj.__dict__, plan.autoinc_key, cursor.lastrowid)
            cursor.close()
        expire += [k for k in fetch if k != plan.autoinc_key]
    if expire:
        for state in states:
            uow.expire_after(state, expire)


def _insert_one_with_sql(uow: UOWTransaction, plan: _TablePlan, conn: Any,
                         state: InstanceState, obj: Any, params: dict[str, Any],
                         inline: dict[str, ClauseElement], generated: list[str]) -> None:
    """An INSERT whose values include SQL expressions: compiled by Core."""
    table = plan.table
    key_to_col = dict(plan.columns)
    values: dict[Any, Any] = {key_to_col[k].key: v for k, v in params.items()}
    values.update({key_to_col[k].key: v for k, v in inline.items()})
    stmt = sqldml.insert(table).values(values)
    fetch = [k for _, k in plan.pk if k in generated or k in inline]
    refetch = [k for k in inline if k not in fetch] + [k for k in generated if k not in fetch]
    d = obj.__dict__
    if plan.returning:
        ret_keys = fetch + refetch
        stmt = stmt.returning(*[key_to_col[k] for k in ret_keys])
        try:
            result = conn.execute(stmt)
        except exc.DocketError as e:
            e.add_detail(f"[while flushing: {_state_str(state)}]")
            raise
        row = result.fetchone()
        result.close()
        for k, v in zip(ret_keys, row):
            uow.populate(d, k, v)
    else:
        try:
            result = conn.execute(stmt)
        except exc.DocketError as e:
            e.add_detail(f"[while flushing: {_state_str(state)}]")
            raise
        pk_row = result.inserted_primary_key
        for (_, k), v in zip(plan.pk, pk_row or ()):
            if k in fetch:
                uow.populate(d, k, v)
        uow.expire_after(state, refetch)


# --- UPDATE ------------------------------------------------------------------------------


def save_updates(uow: UOWTransaction, mapper: Mapper, items: list[tuple[InstanceState, Any]],
                 conn: Any) -> None:
    plan = _plan(mapper, conn.dialect)
    key_to_col = dict(plan.columns)
    groups: dict[tuple[Any, ...], list[Any]] = {}
    for state, obj in items:
        committed = state.committed_state
        if not committed:
            continue
        d = obj.__dict__
        changes: dict[str, Any] = {}
        inline: dict[str, ClauseElement] = {}
        for key, old in committed.items():
            if key not in key_to_col:
                continue
            new = d.get(key, NO_VALUE)
            if new is NO_VALUE:
                continue
            if new.__class__ not in _PLAIN and isinstance(new, ClauseElement):
                inline[key] = new
            elif old is NO_VALUE or not _values_equal(old, new):
                changes[key] = new
        if not changes and not inline:
            continue
        expire: list[str] = list(inline)
        for key, col in plan.columns:
            if key in changes or key in inline:
                continue
            if col.onupdate is not None:
                if col.onupdate.is_clause_element:
                    inline[key] = col.onupdate.arg
                    expire.append(key)
                else:
                    changes[key] = v = _default_value(uow, conn, col, col.onupdate, changes)
                    uow.populate(d, key, v)
            elif col.server_onupdate is not None:
                expire.append(key)
        where_pk = tuple(
            committed.get(k, d.get(k)) if committed.get(k, NO_VALUE) is not NO_VALUE else d.get(k)
            for k in mapper._pk_keys
        )
        old_version = None
        if plan.version_key is not None:
            old_version = committed.get(plan.version_key, NO_VALUE)
            if old_version is NO_VALUE:
                old_version = d.get(plan.version_key)
            if plan.version_key not in changes:
                gen = mapper.version_id_generator
                changes[plan.version_key] = v = gen(old_version) if gen else (old_version or 0) + 1
                uow.populate(d, plan.version_key, v)
        if where_pk != tuple(d.get(k) for k in mapper._pk_keys):
            uow.pk_changed(state)
        if inline:
            _update_one_with_sql(uow, plan, conn, state, obj, changes, inline, where_pk,
                                 old_version, expire)
            continue
        if expire:
            uow.expire_after(state, expire)
        gkey = tuple(changes)
        groups.setdefault(gkey, []).append((state, changes, where_pk, old_version))
    for keys, rows in groups.items():
        _update_group(uow, plan, conn, keys, rows)


def _update_sql(plan: _TablePlan, keys: tuple[str, ...]) -> str:
    ck = ("update", keys)
    sql = plan.sql_cache.get(ck)
    if sql is None:
        key_to_col = dict(plan.columns)
        n = len(keys)
        ph = plan.placeholders(n + len(plan.pk) + (1 if plan.version_key else 0))
        sets = ", ".join(f"{plan.quote(key_to_col[k])}={ph[i]}" for i, k in enumerate(keys))
        where = [f"{plan.quote(c)} = {ph[n + i]}" for i, (c, _) in enumerate(plan.pk)]
        if plan.version_key is not None:
            where.append(f"{plan.quote(key_to_col[plan.version_key])} = {ph[-1]}")
        sql = f"UPDATE {plan.q_table} SET {sets} WHERE {' AND '.join(where)}"
        plan.sql_cache[ck] = sql
    return sql


def _pk_params(plan: _TablePlan, pk: Sequence[Any]) -> list[Any]:
    out = list(pk)
    for i, (_col, key) in enumerate(plan.pk):
        p = plan.bind_procs.get(key)
        if p is not None and out[i] is not None:
            out[i] = p(out[i])
    return out


def _update_group(uow: UOWTransaction, plan: _TablePlan, conn: Any, keys: tuple[str, ...],
                  rows: list[Any]) -> None:
    sql = _update_sql(plan, keys)
    params = []
    versioned = plan.version_key is not None
    for _state, changes, where_pk, old_version in rows:
        row = [changes[k] for k in keys]
        if plan.bind_procs:
            _apply_procs(plan, keys, row)
        row += _pk_params(plan, where_pk)
        if versioned:
            row.append(old_version)
        params.append(tuple(row))
    states = [r[0] for r in rows]
    dialect = conn.dialect
    if len(params) > 1 and not dialect.supports_sane_multi_rowcount and versioned:
        matched = 0
        for state, row in zip(states, params):
            cursor = _run(uow, conn, sql, row, False, [state])
            matched += cursor.rowcount
            cursor.close()
    else:
        cursor = _run(uow, conn, sql, params if len(params) > 1 else params[0],
                      len(params) > 1, states)
        matched = cursor.rowcount
        cursor.close()
    sane = dialect.supports_sane_multi_rowcount if len(params) > 1 else dialect.supports_sane_rowcount
    if sane and matched != len(params) and matched >= 0:
        raise exc.StaleDataError(
            f"UPDATE statement on table {plan.table.name!r} expected to update {len(params)} "
            f"row(s); {matched} were matched."
            + (" The row was changed or deleted by another transaction (version check)."
               if versioned else "")
        )


def _update_one_with_sql(uow: UOWTransaction, plan: _TablePlan, conn: Any, state: InstanceState,
                         obj: Any, changes: dict[str, Any], inline: dict[str, ClauseElement],
                         where_pk: Sequence[Any], old_version: Any, expire: list[str]) -> None:
    table = plan.table
    key_to_col = dict(plan.columns)
    crit = [c == v for (c, _), v in zip(plan.pk, where_pk)]
    if plan.version_key is not None:
        crit.append(key_to_col[plan.version_key] == old_version)
    values: dict[Any, Any] = {key_to_col[k].key: v for k, v in changes.items()}
    values.update({key_to_col[k].key: v for k, v in inline.items()})
    stmt = sqldml.update(table).where(and_(*crit)).values(values)
    d = obj.__dict__
    use_returning = bool(conn.dialect.update_returning) and expire
    if use_returning:
        stmt = stmt.returning(*[key_to_col[k] for k in expire])
    try:
        result = conn.execute(stmt)
    except exc.DocketError as e:
        e.add_detail(f"[while flushing: {_state_str(state)}]")
        raise
    if use_returning:
        row = result.fetchone()
        rowcount = 0 if row is None else 1
        if row is not None:
            for k, v in zip(expire, row):
                uow.populate(d, k, v)
        result.close()
    else:
        rowcount = result.rowcount
        uow.expire_after(state, expire)
    if conn.dialect.supports_sane_rowcount and rowcount != 1:
        raise exc.StaleDataError(
            f"UPDATE statement on table {table.name!r} expected to update 1 row(s); "
            f"{rowcount} were matched."
        )


# --- DELETE ------------------------------------------------------------------------------


def delete_states(uow: UOWTransaction, mapper: Mapper, items: list[tuple[InstanceState, Any]],
                  conn: Any) -> None:
    plan = _plan(mapper, conn.dialect)
    ck = ("delete",)
    sql = plan.sql_cache.get(ck)
    versioned = plan.version_key is not None
    if sql is None:
        n = len(plan.pk) + (1 if versioned else 0)
        ph = plan.placeholders(n)
        where = [f"{plan.quote(c)} = {ph[i]}" for i, (c, _) in enumerate(plan.pk)]
        if versioned:
            key_to_col = dict(plan.columns)
            where.append(f"{plan.quote(key_to_col[plan.version_key])} = {ph[-1]}")
        sql = plan.sql_cache[ck] = f"DELETE FROM {plan.q_table} WHERE {' AND '.join(where)}"
    params = []
    for state, obj in items:
        pk = state.identity
        assert pk is not None
        row = _pk_params(plan, pk)
        if versioned:
            committed = state.committed_state or {}
            v = committed.get(plan.version_key, NO_VALUE)
            row.append(obj.__dict__.get(plan.version_key) if v is NO_VALUE else v)
        params.append(tuple(row))
    states = [s for s, _ in items]
    dialect = conn.dialect
    many = len(params) > 1
    if many and versioned and not dialect.supports_sane_multi_rowcount:
        matched = 0
        for state, row in zip(states, params):
            cursor = _run(uow, conn, sql, row, False, [state])
            matched += cursor.rowcount
            cursor.close()
    else:
        cursor = _run(uow, conn, sql, params if many else params[0], many, states)
        matched = cursor.rowcount
        cursor.close()
    sane = dialect.supports_sane_multi_rowcount if many else dialect.supports_sane_rowcount
    if sane and matched != len(params) and matched >= 0:
        message = (
            f"DELETE statement on table {plan.table.name!r} expected to delete {len(params)} "
            f"row(s); {matched} were matched."
        )
        if versioned:
            raise exc.StaleDataError(
                message + " The row was changed or deleted by another transaction (version "
                "check)."
            )
        if mapper.confirm_deleted_rows:
            warnings.warn(message + " Please set confirm_deleted_rows=False within the mapper "
                          "configuration to prevent this warning.", stacklevel=4)


def save_obj(uow: UOWTransaction, mapper: Mapper, inserts: list[tuple[InstanceState, Any]],
             updates: list[tuple[InstanceState, Any]], conn: Any) -> None:
    """INSERTs then UPDATEs for one mapper's table."""
    if inserts:
        save_inserts(uow, mapper, inserts, conn)
    if updates:
        save_updates(uow, mapper, updates, conn)


def delete_obj(uow: UOWTransaction, mapper: Mapper, deletes: list[tuple[InstanceState, Any]],
               conn: Any) -> None:
    """DELETEs for one mapper's table."""
    if deletes:
        delete_states(uow, mapper, deletes, conn)
