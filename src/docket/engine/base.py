"""Engine, Connection and transactions.

A :class:`Connection` wraps one pooled DB-API connection.  It *autobegins*: the
first statement starts a transaction (``BEGIN`` is emitted by the dialect where
the driver does not begin implicitly), which lasts until ``commit()`` or
``rollback()`` -- SQLAlchemy 2.0's "commit as you go".  ``begin()`` returns the
same root transaction as a context manager; ``begin_nested()`` a SAVEPOINT at
any depth.

Invariants of a Connection:

* ``_transaction`` is the root transaction or None; ``_nested`` the innermost
  active SAVEPOINT or None, each nested transaction linking to its parent;
* ``_fairy`` is None only once closed or after the connection was found dead
  (``_invalidated``); a dead connection is replaced on next use once its
  transaction has been rolled back.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from docket import exc
from docket.engine.events import ConnectionEvents, PoolEvents
from docket.engine.pool import Pool
from docket.engine.result import CursorResult, ResultMetaData, ScalarResult
from docket.event import Dispatch
from docket.sql.compiler import Compiled

if TYPE_CHECKING:
    from docket.engine.default import DefaultDialect
    from docket.engine.url import URL

__all__ = [
    "Connection",
    "Engine",
    "ExceptionContext",
    "ExecutionContext",
    "NestedTransaction",
    "RootTransaction",
    "Transaction",
    "TwoPhaseTransaction",
]

log = logging.getLogger("docket.engine")

_EMPTY: dict[str, Any] = {}


class _LRU:
    """A bounded mapping; the least recently *inserted or hit* entry goes first."""

    __slots__ = ("_data", "size", "hits", "misses")

    def __init__(self, size: int) -> None:
        self._data: dict[Any, Any] = {}
        self.size = size
        self.hits = self.misses = 0

    def get(self, key: Any) -> Any:
        data = self._data
        value = data.pop(key, None)
        if value is None:
            self.misses += 1
            return None
        data[key] = value  # move to the young end
        self.hits += 1
        return value

    def put(self, key: Any, value: Any) -> None:
        data = self._data
        data[key] = value
        if len(data) > self.size:
            for old in list(data)[: max(1, self.size // 10)]:
                del data[old]

    def __len__(self) -> int:
        return len(self._data)

    def clear(self) -> None:
        self._data.clear()


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


# --- transactions ---------------------------------------------------------------


class Transaction:
    """A database transaction on a Connection; a context manager that commits
    on success and rolls back on error."""

    nested = False

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.is_active = True

    @property
    def is_valid(self) -> bool:
        return self.is_active and not self.connection.invalidated

    def commit(self) -> None:
        raise NotImplementedError

    def rollback(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Roll back if still active; a no-op otherwise."""
        if self.is_active:
            self.rollback()

    def __enter__(self) -> Transaction:
        return self

    def __exit__(self, type_: Any, value: Any, tb: Any) -> None:
        if type_ is None and self.is_active:
            try:
                self.commit()
            except BaseException:
                if self.is_active:
                    self.rollback()
                raise
        elif self.is_active:
            self.rollback()


class RootTransaction(Transaction):
    """The outermost transaction of a Connection."""

    def __init__(self, connection: Connection) -> None:
        super().__init__(connection)
        connection._begin_impl()

    def _deactivate(self) -> None:
        self.is_active = False
        conn = self.connection
        if conn._transaction is self:
            conn._transaction = None
        nested = conn._nested
        while nested is not None:
            nested.is_active = False
            nested = nested._parent_nested
        conn._nested = None

    def commit(self) -> None:
        """Commit (releasing any open savepoints with it).

        Raises:
            InvalidRequestError: the transaction is no longer active.
        """
        if not self.is_active:
            raise exc.InvalidRequestError(
                "This transaction is inactive (already committed or rolled back); "
                "begin a new one with connection.begin()."
            )
        try:
            self.connection._commit_impl()
        finally:
            self._deactivate()

    def rollback(self) -> None:
        """Roll back; a no-op if already inactive."""
        if not self.is_active and self.connection._transaction is not self:
            return
        try:
            self.connection._rollback_impl()
        finally:
            self._deactivate()


class NestedTransaction(Transaction):
    """A SAVEPOINT; commit releases it, rollback rolls back to it and leaves
    the enclosing transaction usable."""

    nested = True

    def __init__(self, connection: Connection) -> None:
        super().__init__(connection)
        connection._savepoint_seq += 1
        self.name = f"docket_sp_{connection._savepoint_seq}"
        self._parent_nested = connection._nested
        connection._savepoint_impl(self.name)
        connection._nested = self

    def _close_inner(self) -> None:
        """Deactivate this savepoint and every savepoint begun inside it."""
        conn = self.connection
        inner = conn._nested
        while inner is not None and inner is not self:
            inner.is_active = False
            inner = inner._parent_nested
        self.is_active = False
        conn._nested = self._parent_nested

    def commit(self) -> None:
        """RELEASE SAVEPOINT.

        Raises:
            InvalidRequestError: the savepoint is no longer active.
        """
        if not self.is_active:
            raise exc.InvalidRequestError(
                "This nested transaction (SAVEPOINT) is inactive; begin a new one with "
                "connection.begin_nested()."
            )
        try:
            self.connection._release_savepoint_impl(self.name)
        finally:
            self._close_inner()

    def rollback(self) -> None:
        """ROLLBACK TO SAVEPOINT (then release it); a no-op if inactive."""
        if not self.is_active:
            return
        try:
            conn = self.connection
            if not conn.invalidated:
                conn._rollback_to_savepoint_impl(self.name)
        finally:
            self._close_inner()


class TwoPhaseTransaction(RootTransaction):
    """A root transaction with a prepare phase (PostgreSQL ``PREPARE TRANSACTION``)."""

    def __init__(self, connection: Connection, xid: Any) -> None:
        self.xid = xid
        self._is_prepared = False
        Transaction.__init__(self, connection)
        connection._begin_twophase_impl(self)

    def prepare(self) -> None:
        """First phase: the database promises it can commit.

        Raises:
            InvalidRequestError: the transaction is not active.
        """
        if not self.is_active:
            raise exc.InvalidRequestError("This two-phase transaction is not active.")
        self.connection._prepare_twophase_impl(self.xid)
        self._is_prepared = True

    def commit(self) -> None:
        if not self.is_active:
            raise exc.InvalidRequestError("This two-phase transaction is not active.")
        try:
            self.connection._commit_twophase_impl(self.xid, self._is_prepared)
        finally:
            self._deactivate()

    def rollback(self) -> None:
        if not self.is_active and self.connection._transaction is not self:
            return
        try:
            self.connection._rollback_twophase_impl(self.xid, self._is_prepared)
        finally:
            self._deactivate()


# --- Connection -----------------------------------------------------------------


class Connection:
    """One checked-out database connection.  Use as a context manager
    (``with engine.connect() as conn:``); not safe to share between threads."""

    _dispatch_family = ConnectionEvents

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dialect: DefaultDialect = engine.dialect
        self.dispatch = engine.dispatch
        self._echo = engine._echo
        self._execution_options: dict[str, Any] = dict(engine._execution_options)
        self._transaction: RootTransaction | None = None
        self._nested: NestedTransaction | None = None
        self._savepoint_seq = 0
        self._invalidated = False
        self._closed = False
        self._autocommit = False
        self._fairy: Any = None
        self._fairy = self._checkout()
        if self.dispatch.engine_connect:
            self.dispatch.engine_connect(self)

    def _checkout(self) -> Any:
        try:
            fairy = self.engine.pool.connect()
        except exc.DocketError:
            raise
        except self.dialect.dbapi.Error as e:
            raise exc.DBAPIError.instance(None, None, e, connection_invalidated=True) from e
        self._autocommit = self.dialect.is_autocommit(fairy.dbapi_connection)
        return fairy

    # -- properties ------------------------------------------------------------------
    @property
    def connection(self) -> Any:
        """The pooled DB-API connection (reconnecting if it was invalidated)."""
        return self._live_fairy()

    @property
    def info(self) -> dict[Any, Any]:
        """A dict that lives with the underlying DB-API connection."""
        return self._live_fairy().info  # type: ignore[no-any-return]

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def invalidated(self) -> bool:
        return self._invalidated

    @property
    def default_isolation_level(self) -> str | None:
        return self.dialect.default_isolation_level

    def _live_fairy(self) -> Any:
        fairy = self._fairy
        if fairy is not None and fairy.dbapi_connection is not None:
            return fairy
        if self._closed:
            raise exc.ResourceClosedError(
                "This Connection is closed; open a new one with engine.connect()."
            )
        if self._transaction is not None:
            raise exc.PendingRollbackError(
                "The connection to the database was lost during a transaction; call "
                "rollback() before using this Connection again (it then reconnects)."
            )
        self._fairy = self._checkout()
        self._invalidated = False
        return self._fairy

    # -- options -------------------------------------------------------------------
    def execution_options(self, **opts: Any) -> Connection:
        """Set options for this connection's executions; returns self.

        ``isolation_level`` (including ``"AUTOCOMMIT"``) takes effect at once
        and is reset when the connection returns to the pool.

        Raises:
            InvalidRequestError: isolation_level changed inside a transaction.
        """
        level = opts.get("isolation_level")
        if level is not None:
            if self._transaction is not None:
                raise exc.InvalidRequestError(
                    "Can't change isolation_level while a transaction is in progress; "
                    "commit() or rollback() first."
                )
            level = self.dialect._check_isolation_level(level)
            fairy = self._live_fairy()
            self.dialect.set_isolation_level(fairy.dbapi_connection, level)
            fairy.info["docket_reset_isolation"] = True
            self._autocommit = level == "AUTOCOMMIT"
        self._execution_options.update(opts)
        return self

    def get_execution_options(self) -> dict[str, Any]:
        return dict(self._execution_options)

    def get_isolation_level(self) -> str:
        return self.dialect.get_isolation_level(self._live_fairy().dbapi_connection)

    # -- transactions --------------------------------------------------------------------
    def begin(self) -> RootTransaction:
        """Begin the root transaction (a context manager).

        Raises:
            InvalidRequestError: a transaction was already begun (explicitly or
                by autobegin); commit() or rollback() it first.
        """
        if self._transaction is not None:
            raise exc.InvalidRequestError(
                "This connection has already begun a transaction (explicitly or by "
                "autobegin); commit() or rollback() it before calling begin() again, "
                "or use begin_nested() for a SAVEPOINT."
            )
        self._transaction = RootTransaction(self)
        return self._transaction

    def begin_nested(self) -> NestedTransaction:
        """Begin a SAVEPOINT (autobeginning the root transaction if needed)."""
        if self._transaction is None:
            self.begin()
        return NestedTransaction(self)

    def begin_twophase(self, xid: Any = None) -> TwoPhaseTransaction:
        """Begin a two-phase transaction identified by ``xid``.

        Raises:
            InvalidRequestError: a transaction is already in progress.
        """
        if self._transaction is not None:
            raise exc.InvalidRequestError(
                "Cannot begin a two-phase transaction while a transaction is in progress."
            )
        if xid is None:
            import uuid

            xid = f"docket_{uuid.uuid4().hex}"
        self._transaction = TwoPhaseTransaction(self, xid)
        return self._transaction

    def recover_twophase(self) -> list[Any]:
        return self.dialect.do_recover_twophase(self)

    def commit_prepared(self, xid: Any, recover: bool = False) -> None:
        self.dialect.do_commit_twophase(self, xid, is_prepared=True, recover=recover)

    def rollback_prepared(self, xid: Any, recover: bool = False) -> None:
        self.dialect.do_rollback_twophase(self, xid, is_prepared=True, recover=recover)

    def commit(self) -> None:
        """Commit the transaction in progress, if any."""
        if self._transaction is not None:
            self._transaction.commit()

    def rollback(self) -> None:
        """Roll back the transaction in progress, if any."""
        if self._transaction is not None:
            self._transaction.rollback()

    def in_transaction(self) -> bool:
        return self._transaction is not None and self._transaction.is_active

    def in_nested_transaction(self) -> bool:
        return self._nested is not None

    def get_transaction(self) -> RootTransaction | None:
        return self._transaction

    def get_nested_transaction(self) -> NestedTransaction | None:
        return self._nested

    def _autobegin(self) -> None:
        if self._transaction is None:
            self._transaction = RootTransaction(self)

    def _begin_impl(self) -> None:
        if self._echo:
            log.info("BEGIN (implicit)")
        if self.dispatch.begin:
            self.dispatch.begin(self)
        if self._autocommit:
            return
        fairy = self._live_fairy()
        try:
            self.dialect.do_begin(fairy.dbapi_connection)
        except BaseException as e:
            self._handle_dbapi_exception(e, "BEGIN", None, None, None)

    def _commit_impl(self) -> None:
        if self._echo:
            log.info("COMMIT")
        if self.dispatch.commit:
            self.dispatch.commit(self)
        if self._autocommit:
            return
        fairy = self._live_fairy()
        try:
            self.dialect.do_commit(fairy.dbapi_connection)
        except BaseException as e:
            self._handle_dbapi_exception(e, "COMMIT", None, None, None)

    def _rollback_impl(self) -> None:
        if self._echo:
            log.info("ROLLBACK")
        if self.dispatch.rollback:
            self.dispatch.rollback(self)
        fairy = self._fairy
        if fairy is None or fairy.dbapi_connection is None or self._autocommit:
            return
        try:
            self.dialect.do_rollback(fairy.dbapi_connection)
        except BaseException as e:
            self._handle_dbapi_exception(e, "ROLLBACK", None, None, None)

    def _savepoint_impl(self, name: str) -> None:
        if self.dispatch.savepoint:
            self.dispatch.savepoint(self, name)
        self.dialect.do_savepoint(self, name)

    def _rollback_to_savepoint_impl(self, name: str) -> None:
        if self.dispatch.rollback_savepoint:
            self.dispatch.rollback_savepoint(self, name, None)
        self.dialect.do_rollback_to_savepoint(self, name)
        self.dialect.do_release_savepoint(self, name)

    def _release_savepoint_impl(self, name: str) -> None:
        if self.dispatch.release_savepoint:
            self.dispatch.release_savepoint(self, name, None)
        self.dialect.do_release_savepoint(self, name)

    def _begin_twophase_impl(self, txn: TwoPhaseTransaction) -> None:
        if self.dispatch.begin_twophase:
            self.dispatch.begin_twophase(self, txn.xid)
        self.dialect.do_begin_twophase(self, txn.xid)

    def _prepare_twophase_impl(self, xid: Any) -> None:
        if self.dispatch.prepare_twophase:
            self.dispatch.prepare_twophase(self, xid)
        self.dialect.do_prepare_twophase(self, xid)

    def _commit_twophase_impl(self, xid: Any, is_prepared: bool) -> None:
        if self.dispatch.commit_twophase:
            self.dispatch.commit_twophase(self, xid, is_prepared)
        self.dialect.do_commit_twophase(self, xid, is_prepared)

    def _rollback_twophase_impl(self, xid: Any, is_prepared: bool) -> None:
        if self.dispatch.rollback_twophase:
            self.dispatch.rollback_twophase(self, xid, is_prepared)
        if self._fairy is None or self._fairy.dbapi_connection is None:
            return
        self.dialect.do_rollback_twophase(self, xid, is_prepared)

    # -- lifecycle -------------------------------------------------------------------
    def close(self) -> None:
        """Roll back anything in progress and return the connection to the pool."""
        if self._closed:
            return
        try:
            if self._transaction is not None:
                self._transaction.close()
        finally:
            fairy = self._fairy
            if fairy is not None:
                if fairy.dbapi_connection is not None and fairy.info.pop(
                    "docket_reset_isolation", False
                ):
                    try:
                        self.dialect.reset_isolation_level(fairy.dbapi_connection)
                    except Exception:  # a broken connection: discard it
                        fairy.invalidate()
                fairy.close()
            self._fairy = None
            self._closed = True
            self._transaction = None
            self._nested = None

    def invalidate(self, exception: BaseException | None = None) -> None:
        """Discard the DB-API connection; the next use (after rollback) reconnects."""
        if self._closed:
            raise exc.ResourceClosedError("This Connection is closed.")
        fairy = self._fairy
        if fairy is not None and fairy.dbapi_connection is not None:
            fairy.invalidate(exception)
        self._invalidated = True

    def detach(self) -> None:
        """Take the DB-API connection out of the pool; close() then really closes it."""
        self._live_fairy().detach()

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *args: Any) -> None:
        self.close()

    # -- execution -------------------------------------------------------------------
    def execute(self, statement: Any, parameters: Any = None, *,
                execution_options: Mapping[str, Any] | None = None) -> CursorResult[Any]:
        """Execute a statement built with docket (select, insert, text(), DDL...).

        Args:
            statement: the statement.
            parameters: a dict (one execution) or a list of dicts (executemany).
            execution_options: per-execution options.

        Raises:
            ArgumentError: ``statement`` is a plain string (wrap it in ``text()``).
            DBAPIError: the database refused it; carries statement and params.
        """
        if getattr(statement, "is_ddl", False):
            return self.exec_driver_sql(statement.compile(dialect=self.dialect).string)
        if isinstance(statement, str):
            raise exc.ArgumentError(
                f"Not an executable object: {statement!r}. Wrap textual SQL in text(...), "
                "or use exec_driver_sql() for driver-level SQL."
            )
        if not getattr(statement, "is_selectable", False) and not getattr(
            statement, "is_dml", False
        ):
            raise exc.ArgumentError(f"Not an executable object: {statement!r}")
        return self._execute_clauseelement(statement, parameters, execution_options)

    def scalar(self, statement: Any, parameters: Any = None, *,
               execution_options: Mapping[str, Any] | None = None) -> Any:
        """The first column of the first row."""
        return self.execute(statement, parameters, execution_options=execution_options).scalar()

    def scalars(self, statement: Any, parameters: Any = None, *,
                execution_options: Mapping[str, Any] | None = None) -> ScalarResult[Any]:
        """The first column of every row."""
        return self.execute(statement, parameters,
                            execution_options=execution_options).scalars()

    def _compile(self, statement: Any, column_keys: frozenset[str] | None,
                 many: bool) -> tuple[Compiled, list[Any] | None]:
        """The compiled form of ``statement`` from the engine's cache, plus the
        statement's own bind parameters when the cached entry came from another
        statement of the same shape."""
        memo = statement.__dict__.get("_memo_key")
        if memo is None:
            memo = statement._generate_cache_key()
            statement.__dict__["_memo_key"] = memo
        key, binds = memo
        cache = self.engine._compiled_cache
        full_key = (key, column_keys, many)
        compiled = cache.get(full_key) if cache is not None else None
        if compiled is None:
            compiled = self.dialect.statement_compiler(
                self.dialect, statement, column_keys=column_keys, for_executemany=many
            )
            if cache is not None:
                cache.put(full_key, compiled)
            return compiled, None
        if compiled.statement is statement:
            return compiled, None
        return compiled, binds

    def _execute_clauseelement(self, statement: Any, parameters: Any,
                               execution_options: Mapping[str, Any] | None) -> CursorResult[Any]:
        if parameters is None:
            plist: list[dict[str, Any]] = []
        elif isinstance(parameters, Mapping):
            plist = [parameters]  # type: ignore[list-item]
        elif isinstance(parameters, (list, tuple)):
            plist = list(parameters)
            if plist and not isinstance(plist[0], Mapping):
                raise exc.ArgumentError(
                    "Parameters for a docket statement must be a dict or a list of dicts "
                    f"keyed by parameter name, got {type(plist[0]).__name__}."
                )
        else:
            raise exc.ArgumentError(
                f"Parameters must be a dict or a list of dicts, got {type(parameters).__name__}"
            )
        many = len(plist) > 1
        column_keys = frozenset(plist[0]) if plist and statement.is_dml else None
        options = self._execution_options
        stmt_opts = getattr(statement, "_execution_options", None)
        if stmt_opts or execution_options:
            options = {**options, **(stmt_opts or {}), **(execution_options or {})}
        if self.dispatch.before_execute:
            for fn in self.dispatch.before_execute:
                fn(self, statement, plist, {}, options)
        compiled, extracted = self._compile(statement, column_keys, many)
        result = self._execute_compiled(compiled, plist, extracted, options, statement)
        if self.dispatch.after_execute:
            for fn in self.dispatch.after_execute:
                fn(self, statement, plist, {}, options, result)
        return result

    def _execute_compiled(self, compiled: Compiled, plist: list[dict[str, Any]],
                          extracted: list[Any] | None, options: Mapping[str, Any],
                          invoked: Any = None) -> CursorResult[Any]:
        if self._transaction is None:
            self._autobegin()
        sql = compiled.string
        positional = compiled.positiontup is not None
        procs = compiled._bind_processors
        context = ExecutionContext(self, compiled, sql, None, len(plist) > 1, invoked, options)
        driver_params: list[Any] = []
        prefetch = compiled.prefetch
        for params in plist or [None]:  # type: ignore[list-item]
            values = compiled.construct_params(params, extracted)
            if prefetch:
                _apply_prefetch(context, compiled, values, params)
            if compiled.has_expanding:
                sql, order, values = compiled.expand(values)
            else:
                order = compiled.positiontup
            if procs:
                for name, proc in procs.items():
                    if name in values:
                        values[name] = proc(values[name])
            if positional:
                assert order is not None
                driver_params.append(tuple([values[n] for n in order]))
            else:
                driver_params.append(values)
        context.statement = sql
        many = len(driver_params) > 1
        context.executemany = many
        params_arg: Any = driver_params if many else driver_params[0]
        context.parameters = params_arg
        cursor = self._cursor_execute(sql, params_arg, context, many)
        return self._make_result(compiled, cursor, context, plist, driver_params)

    def _cursor_execute(self, statement: str, parameters: Any, context: ExecutionContext | None,
                        many: bool) -> Any:
        """Run SQL on a new cursor with events, logging and error wrapping."""
        fairy = self._fairy
        if fairy is None or fairy.dbapi_connection is None:
            fairy = self._live_fairy()
        dispatch = self.dispatch
        try:
            cursor = fairy.dbapi_connection.cursor()
        except BaseException as e:
            self._handle_dbapi_exception(e, statement, parameters, None, context)
        if context is not None:
            context.cursor = cursor
        if dispatch.before_cursor_execute:
            for entry in dispatch.before_cursor_execute.retval_entries():
                out = entry.call(self, cursor, statement, parameters, context, many)
                if entry.retval:
                    statement, parameters = out
        if self._echo:
            self._log_statement(statement, parameters, many)
        try:
            if many:
                self.dialect.do_executemany(cursor, statement, parameters, context)
            elif parameters is None:
                self.dialect.do_execute_no_params(cursor, statement, context)
            else:
                self.dialect.do_execute(cursor, statement, parameters, context)
        except BaseException as e:
            self._handle_dbapi_exception(e, statement, parameters, cursor, context)
        if dispatch.after_cursor_execute:
            dispatch.after_cursor_execute(self, cursor, statement, parameters, context, many)
        return cursor

    def _log_statement(self, statement: str, parameters: Any, many: bool) -> None:
        log.info("%s", statement)
        if self.engine.hide_parameters:
            log.info("[SQL parameters hidden due to hide_parameters=True]")
        else:
            log.info("[%s] %s", "executemany" if many else "params",
                     exc._repr_params(parameters))

    def _make_result(self, compiled: Compiled, cursor: Any, context: ExecutionContext,
                     plist: list[dict[str, Any]], driver_params: list[Any]) -> CursorResult[Any]:
        returns_rows = cursor.description is not None
        meta = _compiled_meta(compiled) if returns_rows else _NO_ROWS
        if returns_rows and not compiled.result_columns:
            meta = _description_meta(cursor.description)
        rowcount = cursor.rowcount
        if compiled.isinsert and compiled.implicit_returning and returns_rows:
            row = cursor.fetchone()
            cursor.fetchall()
            result: CursorResult[Any] = CursorResult(
                _NO_ROWS, cursor, rowcount=rowcount, returns_rows=False)
            result.inserted_primary_key = _pk_row(compiled, row)
            return result
        result = CursorResult(
            meta, cursor, rowcount=rowcount, lastrowid=getattr(cursor, "lastrowid", None),
            returns_rows=returns_rows,
        )
        if compiled.isinsert and not context.executemany and compiled.statement is not None:
            result.inserted_primary_key = _inserted_pk_from_lastrowid(
                compiled, result.lastrowid, plist[0] if plist else None, driver_params[0]
            )
        return result

    def exec_driver_sql(self, statement: str, parameters: Any = None, *,
                        execution_options: Mapping[str, Any] | None = None) -> CursorResult[Any]:
        """Execute SQL exactly as the driver takes it (its own paramstyle).

        Args:
            statement: SQL in the driver's paramstyle (``?`` for sqlite3,
                ``%s`` for psycopg).
            parameters: a tuple/dict, or a list of them for executemany.
        """
        if self._transaction is None:
            self._autobegin()
        many = isinstance(parameters, list) and bool(parameters) and isinstance(
            parameters[0], (tuple, list, dict)
        )
        context = ExecutionContext(self, None, statement, parameters, many, statement,
                                   execution_options or _EMPTY)
        cursor = self._cursor_execute(statement, parameters, context, many)
        returns_rows = cursor.description is not None
        meta = _description_meta(cursor.description) if returns_rows else _NO_ROWS
        return CursorResult(
            meta, cursor, rowcount=cursor.rowcount,
            lastrowid=getattr(cursor, "lastrowid", None), returns_rows=returns_rows,
        )

    def _run_ddl(self, action: str, target: Any, checkfirst: bool, **kw: Any) -> None:
        from docket.engine.ddl import run_ddl

        run_ddl(self, action, target, checkfirst, **kw)

    # -- errors ----------------------------------------------------------------------
    def _handle_dbapi_exception(self, e: BaseException, statement: str | None, parameters: Any,
                                cursor: Any, context: ExecutionContext | None) -> Any:
        if cursor is not None:
            try:
                cursor.close()
            except Exception:
                pass
        dbapi = self.dialect.dbapi
        is_dbapi = isinstance(e, dbapi.Error)
        fairy = self._fairy
        is_disconnect = is_dbapi and self.dialect.is_disconnect(
            e, fairy.dbapi_connection if fairy is not None else None, cursor
        )
        wrapped: BaseException | None = None
        if is_dbapi:
            wrapped = exc.DBAPIError.instance(
                statement, parameters, e, hide_parameters=self.engine.hide_parameters,
                connection_invalidated=is_disconnect,
            )
        if self.dispatch.handle_error:
            ctx = ExceptionContext(
                self, self.engine, self.dialect, e, wrapped if isinstance(
                    wrapped, exc.DocketError) else None, statement, parameters, cursor,
                context, is_disconnect,
            )
            for fn in self.dispatch.handle_error:
                replacement = fn(ctx)
                if replacement is not None:
                    wrapped = replacement
            if ctx.is_disconnect != is_disconnect:
                is_disconnect = ctx.is_disconnect
                if isinstance(wrapped, exc.DBAPIError):
                    wrapped = exc.DBAPIError.instance(
                        statement, parameters, e, hide_parameters=self.engine.hide_parameters,
                        connection_invalidated=is_disconnect,
                    )
        if is_disconnect:
            self._invalidated = True
            if fairy is not None and fairy.dbapi_connection is not None:
                fairy.invalidate(e)
            if self._transaction is None:
                self._fairy = None
        if wrapped is None or wrapped is e:
            raise e
        raise wrapped.with_traceback(sys.exc_info()[2]) from e


_NO_ROWS = ResultMetaData(())


def _compiled_meta(compiled: Compiled) -> ResultMetaData:
    meta = compiled.__dict__.get("_result_meta")
    if meta is None:
        keys = [k if k is not None else f"col_{i}" for i, (k, _t) in
                enumerate(compiled.result_columns)]
        procs = compiled._result_processors
        aliases = {}
        for i, col in enumerate(compiled.result_column_objects):
            if col is not None:
                aliases[col] = i
        meta = ResultMetaData(keys, procs if any(procs) else None, aliases=aliases)
        compiled.__dict__["_result_meta"] = meta
    return meta


_desc_cache: dict[tuple[str, ...], ResultMetaData] = {}


def _description_meta(description: Sequence[Any]) -> ResultMetaData:
    keys = tuple(d[0] for d in description)
    meta = _desc_cache.get(keys)
    if meta is None:
        meta = ResultMetaData(keys)
        if len(_desc_cache) < 1000:
            _desc_cache[keys] = meta
    return meta


def _apply_prefetch(context: ExecutionContext, compiled: Compiled, values: dict[str, Any],
                    params: Mapping[str, Any] | None) -> None:
    """Compute Python-side column defaults / onupdates the caller did not supply."""
    context.current_parameters = values
    for name, col, _for_update in compiled.prefetch:
        if params is not None and (name in params or col.key in params):
            continue
        default = col.onupdate if _for_update else col.default
        values[name] = default.arg(context) if default.is_callable else default.arg


def _pk_row(compiled: Compiled, row: Any) -> Any:
    from docket.engine.result import ResultMetaData as _RM

    pk = compiled.implicit_returning
    keys = [c.key for c in pk]
    meta = _RM(keys)
    values = tuple(row[: len(pk)]) if row is not None else tuple(None for _ in pk)
    procs = compiled._result_processors[: len(pk)]
    values = tuple(p(v) if p is not None else v for p, v in zip(procs, values))
    return meta._row_fn(values)


def _inserted_pk_from_lastrowid(compiled: Compiled, lastrowid: Any,
                                params: Mapping[str, Any] | None, driver_params: Any) -> Any:
    table = compiled.statement.table  # type: ignore[attr-defined]
    pk_cols = list(getattr(table, "primary_key", []) or [])
    if not pk_cols:
        return None
    autoinc = getattr(table, "autoincrement_column", None)
    values = []
    given = compiled.statement._values or {}  # type: ignore[attr-defined]
    for c in pk_cols:
        if params is not None and c.key in params:
            values.append(params[c.key])
        elif c.key in given and hasattr(given[c.key], "value"):
            values.append(given[c.key].value)
        elif c is autoinc:
            values.append(lastrowid)
        else:
            values.append(None)
    return ResultMetaData([c.key for c in pk_cols])._row_fn(tuple(values))


# --- Engine -----------------------------------------------------------------------


class Engine:
    """A source of connections to one database: a pool plus a dialect.

    Create with :func:`docket.create_engine`.  Thread-safe; create one per
    database URL per process.
    """

    _dispatch_family = ConnectionEvents
    _event_redirects = {"PoolEvents": Pool}

    def __init__(self, pool: Pool, dialect: DefaultDialect, url: URL, *, echo: Any = False,
                 hide_parameters: bool = False, execution_options: Mapping[str, Any] | None = None,
                 logging_name: str | None = None, query_cache_size: int = 500) -> None:
        self.pool = pool
        self.dialect = dialect
        self.url = url
        self.hide_parameters = hide_parameters
        self.logging_name = logging_name
        self._execution_options: dict[str, Any] = dict(execution_options or {})
        self._compiled_cache: _LRU | None = _LRU(query_cache_size) if query_cache_size else None
        self.dispatch = Dispatch(ConnectionEvents, type(self))
        self._echo = False
        self.echo = echo

    def _event_redirect(self, family: type) -> Any:
        if issubclass(family, PoolEvents):
            return self.pool
        return None

    @property
    def echo(self) -> Any:
        return self._echo

    @echo.setter
    def echo(self, value: Any) -> None:
        self._echo = bool(value)
        if value:
            if not log.handlers and not logging.getLogger().handlers:
                handler = logging.StreamHandler(sys.stdout)
                handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(message)s"))
                log.addHandler(handler)
            log.setLevel(logging.DEBUG if value == "debug" else logging.INFO)

    @property
    def name(self) -> str:
        return self.dialect.name

    @property
    def driver(self) -> str:
        return self.dialect.driver

    def connect(self) -> Connection:
        """Check out a Connection (use it as a context manager)."""
        return Connection(self)

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """``with engine.begin() as conn:`` -- a connection in a transaction
        that commits at the end of the block, or rolls back on error."""
        with self.connect() as conn:
            with conn.begin():
                yield conn

    def raw_connection(self) -> Any:
        """A pooled DB-API connection (``close()`` returns it to the pool)."""
        return self.pool.connect()

    def dispose(self, close: bool = True) -> None:
        """Close the pool's idle connections and start a fresh pool."""
        if close:
            self.pool.dispose()
        self.pool = self.pool.recreate()
        if self.dispatch.engine_disposed:
            self.dispatch.engine_disposed(self)

    def execution_options(self, **opts: Any) -> Engine:
        """A copy of this engine (sharing its pool) with default execution options."""
        new = Engine.__new__(Engine)
        new.__dict__.update(self.__dict__)
        new._execution_options = {**self._execution_options, **opts}
        new.dispatch = Dispatch(ConnectionEvents, type(self), parents=(self.dispatch,))
        return new

    def get_execution_options(self) -> dict[str, Any]:
        return dict(self._execution_options)

    def _run_ddl(self, action: str, target: Any, checkfirst: bool, **kw: Any) -> None:
        with self.begin() as conn:
            conn._run_ddl(action, target, checkfirst, **kw)

    def clear_compiled_cache(self) -> None:
        if self._compiled_cache is not None:
            self._compiled_cache.clear()

    def __repr__(self) -> str:
        return f"Engine({self.url!r})"

