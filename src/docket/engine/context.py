"""What one execution knows, and the per-Compiled plan the engine caches.

* :class:`ExecutionContext` -- passed to statement events and to Python
  column defaults; :class:`ExceptionContext` -- passed to ``handle_error``.
* ``ExecPlan`` -- what executing a ``Compiled`` needs beyond the compiler's
  output (bind processors, positional getter, primary-key plan), worked out
  once and cached on the Compiled.
* ``result_meta`` / ``description_meta`` -- the ``ResultMetaData`` of a
  statement's rows (cached per Compiled / per cursor description).
* ``apply_prefetch`` -- Python-side column defaults computed per parameter set.
* ``log`` / ``force_log`` -- the ``docket.engine`` logger and ``echo=True``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from docket import exc
from docket.engine.result import CursorResult, ResultMetaData
from docket.sql.compiler import Compiled
from docket.sql.elements import BindParameter

if TYPE_CHECKING:
    from docket.engine.base import Engine
    from docket.engine.connection import Connection

__all__ = ["ExceptionContext", "ExecutionContext"]

log = logging.getLogger("docket.engine")

_EMPTY: dict[str, Any] = {}


def force_log(msg: str, *args: Any) -> None:
    """Log at INFO whatever the logger's level (``echo=True`` means "show it",
    as SQLAlchemy's echo flag does); handlers and filters still apply."""
    if log.isEnabledFor(logging.INFO):
        log.info(msg, *args)
    elif not log.disabled:
        log.handle(log.makeRecord(log.name, logging.INFO, "(docket)", 0, msg, args, None))


class ExecutionContext:
    """What a statement's execution knows; passed to events and to Python
    column defaults (``default=lambda ctx: ...``)."""

    __slots__ = (
        "connection", "dialect", "compiled", "statement", "parameters", "cursor",
        "executemany", "current_parameters", "invoked_statement", "execution_options",
    )

    def __init__(self, connection: Connection, compiled: Compiled | None, statement: str,
                 parameters: Any, executemany: bool, invoked: Any = None,
                 execution_options: Mapping[str, Any] = _EMPTY) -> None:
        self.connection = connection
        self.dialect = connection.dialect
        self.compiled = compiled
        self.statement = statement
        self.parameters = parameters
        self.executemany = executemany
        self.cursor: Any = None
        self.current_parameters: dict[str, Any] | None = None
        self.invoked_statement = invoked
        self.execution_options = execution_options

    @property
    def engine(self) -> Engine:
        """The Engine of the executing connection."""
        return self.connection.engine

    def get_current_parameters(self, isolate_multiinsert_groups: bool = True) -> dict[str, Any]:
        """Parameters of the row being inserted/updated, by column key."""
        return dict(self.current_parameters or {})


class ExceptionContext:
    """Passed to ``handle_error`` listeners; they may set ``is_disconnect`` or
    return a replacement exception."""

    def __init__(self, connection: Connection | None, engine: Engine, dialect: Any,
                 original_exception: BaseException, docket_exception: exc.DocketError | None,
                 statement: str | None, parameters: Any, cursor: Any,
                 execution_context: ExecutionContext | None, is_disconnect: bool) -> None:
        self.connection = connection
        self.engine = engine
        self.dialect = dialect
        self.original_exception = original_exception
        self.docket_exception = self.sqlalchemy_exception = docket_exception
        self.chained_exception: BaseException | None = None
        self.statement = statement
        self.parameters = parameters
        self.cursor = cursor
        self.execution_context = execution_context
        self.is_disconnect = is_disconnect
        self.invalidate_pool_on_disconnect = True
        self.is_pre_ping = False


NO_ROWS = ResultMetaData(())


class BufferedCursor:
    """The rows of an executemany with RETURNING (several result sets, already
    fetched), served through the DB-API cursor methods results use."""

    __slots__ = ("_cursor", "_rows", "_pos", "description", "rowcount", "lastrowid",
                 "arraysize")

    def __init__(self, cursor: Any, rows: list[Any]) -> None:
        self._cursor = cursor
        self._rows = rows
        self._pos = 0
        self.description = cursor.description
        self.rowcount = len(rows)
        self.lastrowid = None
        self.arraysize = getattr(cursor, "arraysize", 1)

    def fetchone(self) -> Any:
        if self._pos >= len(self._rows):
            return None
        self._pos += 1
        return self._rows[self._pos - 1]

    def fetchmany(self, size: int | None = None) -> list[Any]:
        if size is None:
            size = self.arraysize
        if size < 0:
            return self.fetchall()
        start = self._pos
        self._pos = min(len(self._rows), start + size)
        return self._rows[start:self._pos]

    def fetchall(self) -> list[Any]:
        start, self._pos = self._pos, len(self._rows)
        return self._rows[start:]

    def close(self) -> None:
        self._cursor.close()


class ExecPlan:
    """What executing one Compiled needs beyond the compiler's output, worked
    out once and cached on it (``compiled.__dict__["_docket_plan"]``).

    Attributes:
        procs: ``(bind name, bind processor)`` for scalar binds.
        simple: no IN lists and no Python-side defaults (the fast path).
        expanding: the statement has IN-list binds (rendered per execution).
        expanding_procs: processors applied to each element of an IN list.
        getter: values dict -> positional tuple, for positional paramstyles
            without IN lists; None for named paramstyles.
        pk_plan: ``(key, prefetch bind name or None, is autoincrement)`` per
            primary-key column of an INSERT's table, or None.
        pk_prefetch: bind names of Python-side defaults on primary-key columns.
    """

    __slots__ = ("procs", "expanding", "expanding_procs", "getter", "simple", "pk_plan",
                 "pk_prefetch", "_pk_meta", "_returning_meta")

    def __init__(self, compiled: Compiled) -> None:
        binds = compiled.binds
        all_procs = compiled._bind_processors
        self.procs = tuple((n, p) for n, p in all_procs.items() if not binds[n].expanding)
        self.expanding = compiled.has_expanding
        self.expanding_procs = tuple((n, p) for n, p in all_procs.items() if binds[n].expanding)
        self.getter: Callable[[dict[str, Any]], tuple[Any, ...]] | None = None
        order = compiled.positiontup
        if order is not None and not self.expanding:
            if not order:
                self.getter = _empty_tuple
            elif len(order) == 1:
                self.getter = _single_getter(order[0])
            else:
                self.getter = itemgetter(*order)
        # no IN lists and no Python-side defaults: values need only conversion
        self.simple = not self.expanding and not compiled.prefetch
        self.pk_plan: list[tuple[str, str | None, bool]] | None = None
        self.pk_prefetch: tuple[str, ...] = ()
        self._pk_meta: ResultMetaData | None = None
        self._returning_meta: tuple[ResultMetaData, ResultMetaData] | None = None
        stmt = compiled.statement
        table = getattr(stmt, "table", None) if compiled.isinsert else None
        if table is not None and not getattr(stmt, "_multi_values", None) and getattr(
                stmt, "_from_select", None) is None:
            pk_cols = list(getattr(table, "primary_key", None) or ())
            if pk_cols:
                autoinc = getattr(table, "autoincrement_column", None)
                by_col = {col: name for name, col, for_update in compiled.prefetch
                          if not for_update}
                self.pk_plan = [(c.key, by_col.get(c), c is autoinc) for c in pk_cols]
                self.pk_prefetch = tuple(n for _k, n, _a in self.pk_plan if n is not None)
                self._pk_meta = ResultMetaData([str(c.key) for c in pk_cols])
        if compiled.implicit_returning:
            pk = compiled.implicit_returning
            keys = [str(c.key) for c in pk]
            self._returning_meta = (
                ResultMetaData(keys, compiled._result_processors[: len(pk)]),
                ResultMetaData(keys),
            )
        compiled.__dict__["_docket_plan"] = self

    def pk_from_lastrowid(self, lastrowid: Any, params: Mapping[str, Any] | None,
                          invoked: Any, prefetched: dict[str, Any] | None) -> Any:
        """``inserted_primary_key`` of a single-row INSERT without RETURNING:
        each key from the parameters, the statement's ``values()``, a Python
        default, or (the autoincrement column) ``cursor.lastrowid``."""
        assert self.pk_plan is not None and self._pk_meta is not None
        given = getattr(invoked, "_values", None) or _EMPTY
        values = []
        for key, prefetch_name, is_autoinc in self.pk_plan:
            if params is not None and key in params:
                values.append(params[key])
            elif key in given:
                v = given[key]
                values.append(v.effective_value() if isinstance(v, BindParameter) else None)
            elif prefetch_name is not None and prefetched is not None:
                values.append(prefetched[prefetch_name])
            elif is_autoinc:
                values.append(lastrowid)
            else:
                values.append(None)
        return self._pk_meta._row_fn(tuple(values))

    def pk_from_returning(self, row: Any) -> Any:
        """``inserted_primary_key`` from the implicit RETURNING row."""
        assert self._returning_meta is not None
        converted, raw = self._returning_meta
        n = len(raw.keys)
        if row is None:  # nothing inserted (e.g. ON CONFLICT DO NOTHING)
            return raw._row_fn((None,) * n)
        return converted._row_fn(tuple(row[:n]))


def _empty_tuple(values: Mapping[str, Any]) -> tuple[Any, ...]:
    return ()


def _single_getter(name: str) -> Callable[[Mapping[str, Any]], tuple[Any, ...]]:
    def get(values: Mapping[str, Any]) -> tuple[Any, ...]:
        return (values[name],)

    return get


def result_meta(compiled: Compiled, invoked: Any = None) -> ResultMetaData:
    """Keys, processors and column-object aliases of ``compiled``'s rows.

    The metadata of the compiled statement itself is built once and cached
    on it.  When the cached Compiled serves another, equal-shaped statement
    (``invoked``) whose result columns are different objects (a fresh
    ``label()``, function or subquery column), the aliases come from that
    statement, registered weakly on the cached metadata (no new ``Row``
    class per execution), so ``row._mapping[<its column>]`` finds them.
    """
    meta: ResultMetaData | None = compiled.__dict__.get("_result_meta")
    if meta is None:
        keys = [k if k is not None else f"col_{i}" for i, (k, _t) in
                enumerate(compiled.result_columns)]
        procs = compiled._result_processors
        meta = ResultMetaData(keys, procs if any(procs) else None,
                              aliases=_aliases(compiled.result_column_objects))
        compiled.__dict__["_result_meta"] = meta
    if invoked is None or invoked is compiled.statement:
        return meta
    own = compiled.result_column_objects
    objs = compiled.result_objects_for(invoked)
    if objs is own or all(a is b for a, b in zip(objs, own)):
        return meta  # same column objects (e.g. plain table columns)
    meta._serve(objs, own)
    return meta


def _aliases(objs: Sequence[Any]) -> dict[Any, int]:
    aliases: dict[Any, int] = {}
    for i, col in enumerate(objs):
        if col is not None:
            aliases[col] = i
    return aliases


def make_result(compiled: Compiled, plan: ExecPlan, cursor: Any, context: ExecutionContext,
                plist: list[dict[str, Any]],
                pk_prefetched: dict[str, Any] | None) -> CursorResult[Any]:
    """The result of an executed Compiled: its rows, or for an INSERT its
    ``inserted_primary_key`` (from RETURNING or ``cursor.lastrowid``)."""
    description = cursor.description
    if description is None:
        result: CursorResult[Any] = CursorResult(
            NO_ROWS, cursor, rowcount=cursor.rowcount,
            lastrowid=getattr(cursor, "lastrowid", None), returns_rows=False)
        if compiled.isinsert and not context.executemany and plan.pk_plan is not None:
            result.inserted_primary_key = plan.pk_from_lastrowid(
                result.lastrowid, plist[0] if plist else None, context.invoked_statement,
                pk_prefetched)
        return result
    if compiled.isinsert and compiled.implicit_returning:
        row = cursor.fetchone()
        result = CursorResult(NO_ROWS, cursor, rowcount=cursor.rowcount,
                              returns_rows=False)
        result.inserted_primary_key = plan.pk_from_returning(row)
        return result
    if compiled.result_columns:
        meta = result_meta(compiled, context.invoked_statement)
    else:
        meta = description_meta(description)
    result = CursorResult(meta, cursor, rowcount=cursor.rowcount,
                          lastrowid=getattr(cursor, "lastrowid", None))
    if context.execution_options:
        yield_per = context.execution_options.get("yield_per")
        if yield_per:
            result = result.yield_per(yield_per)
    return result


_desc_cache: dict[tuple[str, ...], ResultMetaData] = {}


def description_meta(description: Sequence[Any]) -> ResultMetaData:
    keys = tuple(d[0] for d in description)
    meta = _desc_cache.get(keys)
    if meta is None:
        meta = ResultMetaData(keys)
        if len(_desc_cache) < 1000:
            _desc_cache[keys] = meta
    return meta


def apply_prefetch(context: ExecutionContext, compiled: Compiled, values: dict[str, Any],
                    params: Mapping[str, Any] | None) -> None:
    """Compute Python-side column defaults / onupdates the caller did not supply."""
    context.current_parameters = values
    for name, col, _for_update in compiled.prefetch:
        if params is not None and (name in params or col.key in params):
            continue
        default = col.onupdate if _for_update else col.default
        values[name] = default.arg(context) if default.is_callable else default.arg


# --- Engine -----------------------------------------------------------------------



def wrap_error(engine: Engine, connection: Connection | None, dispatch: Any, e: BaseException,
               statement: str | None, parameters: Any, cursor: Any,
               context: ExecutionContext | None,
               is_disconnect: bool) -> tuple[BaseException, bool, bool]:
    """The exception to raise for ``e``, after the ``handle_error`` listeners.

    A DB-API error becomes the matching ``DBAPIError`` subclass, any other
    non-docket ``Exception`` a ``StatementError``; both carry the statement
    and parameters (hidden under ``hide_parameters``).  Listeners may replace
    the exception and change ``is_disconnect``.

    Returns:
        ``(exception, is_disconnect, dispose_pool)`` -- ``dispose_pool``: on a
        disconnect, whether the pool's other connections should be discarded
        too (DB-API errors only, unless a listener said not to).
    """
    dialect = engine.dialect
    hide = engine.hide_parameters
    is_exit = not isinstance(e, Exception)  # KeyboardInterrupt etc.
    is_dbapi = isinstance(e, dialect.dbapi.Error)
    wrapped: BaseException
    if is_dbapi:
        wrapped = exc.DBAPIError.instance(statement, parameters, e, hide_parameters=hide,
                                          connection_invalidated=is_disconnect)
    elif isinstance(e, exc.StatementError):
        e.hide_parameters = e.hide_parameters or hide
        wrapped = e
    elif is_exit or isinstance(e, exc.DocketError):
        wrapped = e
    else:
        wrapped = exc.StatementError(
            f"({type(e).__module__}.{type(e).__qualname__}) {e}", statement, parameters, e,
            hide_parameters=hide)
    dispose_pool = is_dbapi
    if dispatch.handle_error and not is_exit:
        ctx = ExceptionContext(
            connection, engine, dialect, e,
            wrapped if isinstance(wrapped, exc.DocketError) else None,
            statement, parameters, cursor, context, is_disconnect,
        )
        for fn in dispatch.handle_error:
            replacement = fn(ctx)
            if replacement is not None:
                wrapped = ctx.chained_exception = replacement
        if ctx.is_disconnect != is_disconnect:
            is_disconnect = ctx.is_disconnect
            if isinstance(wrapped, exc.DBAPIError) and wrapped.orig is e:
                wrapped = exc.DBAPIError.instance(
                    statement, parameters, e, hide_parameters=hide,
                    connection_invalidated=is_disconnect)
        dispose_pool = dispose_pool and ctx.invalidate_pool_on_disconnect
    return wrapped, is_disconnect, dispose_pool
