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
  outside a transaction; a fairy whose ``dbapi_connection`` is None was
  invalidated: the connection reconnects on next use, but only once the
  transaction that saw the loss has been rolled back (``PendingRollbackError``
  until then);
* ``_dispatch`` is what the hot path fires: the engine's shared connection
  dispatch, or this connection's own once a listener was added to it.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from operator import itemgetter
from typing import TYPE_CHECKING, Any, NoReturn

from docket import exc
from docket.engine.events import ConnectionEvents, PoolEvents
from docket.engine.pool import Pool
from docket.engine.result import CursorResult, ResultMetaData, ScalarResult
from docket.event import Dispatch
from docket.sql.compiler import Compiled
from docket.sql.elements import BindParameter

if TYPE_CHECKING:
    from docket.engine.default import DefaultDialect
    from docket.engine.url import URL

__all__ = [
    "Connection",
    "Engine",
    "ExceptionContext",
    "ExecutionContext",
    "NestedTransaction",
    "OptionEngine",
    "RootTransaction",
    "Transaction",
    "TwoPhaseTransaction",
]

log = logging.getLogger("docket.engine")

_EMPTY: dict[str, Any] = {}
_NO_PARAMS: list[Any] = [None]


def _force_log(msg: str, *args: Any) -> None:
    """Log at INFO whatever the logger's level (``echo=True`` means "show it",
    as SQLAlchemy's echo flag does); handlers and filters still apply."""
    if log.isEnabledFor(logging.INFO):
        log.info(msg, *args)
    elif not log.disabled:
        log.handle(log.makeRecord(log.name, logging.INFO, "(docket)", 0, msg, args, None))


class _LRU:
    """A bounded mapping; the least recently *inserted or hit* entry goes first.

    Safe to share between threads: a race costs at most a recompilation.
    """

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
                data.pop(old, None)

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
        self.connection._check_not_lost()
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
            raise exc.InvalidRequestError(
                "This two-phase transaction is not active; begin a new one with "
                "connection.begin_twophase()."
            )
        self.connection._prepare_twophase_impl(self.xid)
        self._is_prepared = True

    def commit(self) -> None:
        """Second phase (COMMIT PREPARED), or a plain commit if never prepared.

        Raises:
            InvalidRequestError: the transaction is not active.
        """
        if not self.is_active:
            raise exc.InvalidRequestError(
                "This two-phase transaction is not active; begin a new one with "
                "connection.begin_twophase()."
            )
        self.connection._check_not_lost()
        try:
            self.connection._commit_twophase_impl(self.xid, self._is_prepared)
        finally:
            self._deactivate()

    def rollback(self) -> None:
        """ROLLBACK PREPARED (or a plain rollback if never prepared)."""
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
        self._dispatch: Dispatch = engine._conn_dispatch
        # SQLAlchemy's rule: echo=True logs; otherwise the logger's level decides
        self._echo = engine._echo or log.isEnabledFor(logging.INFO)
        self._execution_options: dict[str, Any] = dict(engine._execution_options)
        self._transaction: RootTransaction | None = None
        self._nested: NestedTransaction | None = None
        self._savepoint_seq = 0
        self._invalidated = False
        self._closed = False
        self._autocommit = False
        self._fairy: Any = None
        self._fairy = self._checkout()
        level = self._execution_options.get("isolation_level")
        if level is not None:
            try:
                self._apply_isolation(level)
            except BaseException:
                self.close()
                raise
        if self._dispatch.engine_connect:
            self._dispatch.engine_connect(self)

    @property
    def dispatch(self) -> Dispatch:
        """This connection's own listeners (``event.listen(conn, ...)`` fires
        for this connection only), plus the engine's and class-level ones."""
        own = self.__dict__.get("_own_dispatch")
        if own is None:
            own = Dispatch(ConnectionEvents, type(self), parents=(self.engine.dispatch,))
            self.__dict__["_own_dispatch"] = own
            self._dispatch = own
        return own

    def _checkout(self) -> Any:
        fairy = self.engine._pool_connect()
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
        """The isolation level the database gives a new connection (read at
        the engine's first connect)."""
        return self.dialect.default_isolation_level

    def _live_fairy(self) -> Any:
        fairy = self._fairy
        if fairy is not None and fairy.dbapi_connection is not None:
            return fairy
        if self._closed:
            raise exc.ResourceClosedError(
                "This Connection is closed; open a new one with engine.connect()."
            )
        self._check_not_lost()
        self._fairy = None
        self._fairy = self._checkout()
        self._invalidated = False
        level = self._execution_options.get("isolation_level")
        if level is not None:  # the new DB-API connection has the engine's level
            self._apply_isolation(level)
        return self._fairy

    def _check_not_lost(self) -> None:
        """Raise PendingRollbackError if the DB-API connection went away
        inside the current transaction."""
        if self._transaction is not None and (
            self._fairy is None or self._fairy.dbapi_connection is None
        ):
            raise exc.PendingRollbackError(
                "This Connection was invalidated inside a transaction (the database "
                "connection was lost, or invalidate() was called); call rollback() before "
                "using it again. It then reconnects on next use."
            )

    # -- options -------------------------------------------------------------------
    def execution_options(self, **opts: Any) -> Connection:
        """Set options for this connection's executions; returns self.

        ``isolation_level`` (including ``"AUTOCOMMIT"``) takes effect at once
        and is reset when the connection returns to the pool.

        Raises:
            InvalidRequestError: isolation_level changed inside a transaction.
            ArgumentError: the isolation level is not one the dialect knows.
        """
        level = opts.get("isolation_level")
        if level is not None:
            if self._transaction is not None:
                raise exc.InvalidRequestError(
                    "Can't change isolation_level while a transaction is in progress on "
                    "this Connection (begun explicitly or by autobegin); commit() or "
                    "rollback() first."
                )
            self._apply_isolation(level)
        self._execution_options.update(opts)
        return self

    def _apply_isolation(self, level: str) -> None:
        level = self.dialect._check_isolation_level(level)
        fairy = self._live_fairy()
        try:
            self.dialect.set_isolation_level(fairy.dbapi_connection, level)
        except exc.DocketError:
            raise
        except BaseException as e:
            self._handle_dbapi_exception(e, None, None, None, None)
        fairy.info["docket_reset_isolation"] = True
        self._autocommit = level == "AUTOCOMMIT"

    def get_execution_options(self) -> dict[str, Any]:
        return dict(self._execution_options)

    def get_isolation_level(self) -> str:
        """The isolation level in effect on the database connection now
        (asks the database; ``"AUTOCOMMIT"`` in autocommit mode)."""
        fairy = self._live_fairy()
        try:
            return self.dialect.get_isolation_level(fairy.dbapi_connection)
        except BaseException as e:
            self._handle_dbapi_exception(e, None, None, None, None)

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
        """Begin a two-phase transaction identified by ``xid`` (a string;
        generated when omitted).

        Raises:
            InvalidRequestError: a transaction is already in progress, or the
                dialect has no two-phase commit.
        """
        if self._transaction is not None:
            raise exc.InvalidRequestError(
                "Cannot begin a two-phase transaction while a transaction is in progress "
                "on this Connection; commit() or rollback() it first."
            )
        if xid is None:
            import uuid

            xid = f"docket_{uuid.uuid4().hex}"
        self._transaction = TwoPhaseTransaction(self, xid)
        return self._transaction

    def recover_twophase(self) -> list[Any]:
        """The xids of transactions prepared on the database and not yet finished."""
        return self._driver_call("recover two-phase transactions",
                                 self.dialect.do_recover_twophase, self)  # type: ignore[no-any-return]

    def commit_prepared(self, xid: Any, recover: bool = False) -> None:
        """COMMIT PREPARED ``xid`` (``recover=True`` for one found by
        :meth:`recover_twophase`, possibly prepared by another connection)."""
        self._driver_call(f"COMMIT PREPARED {xid!r}", self.dialect.do_commit_twophase, self,
                          xid, True, recover)

    def rollback_prepared(self, xid: Any, recover: bool = False) -> None:
        """ROLLBACK PREPARED ``xid``."""
        self._driver_call(f"ROLLBACK PREPARED {xid!r}", self.dialect.do_rollback_twophase,
                          self, xid, True, recover)

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

    def _log(self, msg: str, *args: Any) -> None:
        if self.engine._echo:
            _force_log(msg, *args)
        else:
            log.info(msg, *args)

    def _driver_call(self, what: str, fn: Callable[..., Any], *args: Any) -> Any:
        """Call a dialect hook, wrapping driver errors like statement errors."""
        try:
            return fn(*args)
        except exc.DocketError:
            raise
        except BaseException as e:
            self._handle_dbapi_exception(e, what, None, None, None)

    def _begin_impl(self) -> None:
        if self._echo:
            self._log("BEGIN (implicit)")
        if self._dispatch.begin:
            self._dispatch.begin(self)
        if self._autocommit:
            return
        fairy = self._live_fairy()
        try:
            self.dialect.do_begin(fairy.dbapi_connection)
        except BaseException as e:
            self._handle_dbapi_exception(e, "BEGIN", None, None, None)

    def _commit_impl(self) -> None:
        if self._echo:
            self._log("COMMIT" if not self._autocommit else "COMMIT using DBAPI connection."
                      "commit(), has no effect due to autocommit mode")
        if self._dispatch.commit:
            self._dispatch.commit(self)
        if self._autocommit:
            return
        fairy = self._live_fairy()
        try:
            self.dialect.do_commit(fairy.dbapi_connection)
        except BaseException as e:
            self._handle_dbapi_exception(e, "COMMIT", None, None, None)

    def _rollback_impl(self) -> None:
        if self._echo:
            self._log("ROLLBACK")
        if self._dispatch.rollback:
            self._dispatch.rollback(self)
        fairy = self._fairy
        if fairy is None or fairy.dbapi_connection is None or self._autocommit:
            return
        try:
            self.dialect.do_rollback(fairy.dbapi_connection)
        except BaseException as e:
            self._handle_dbapi_exception(e, "ROLLBACK", None, None, None)

    def _savepoint_impl(self, name: str) -> None:
        if self._dispatch.savepoint:
            self._dispatch.savepoint(self, name)
        self.dialect.do_savepoint(self, name)

    def _rollback_to_savepoint_impl(self, name: str) -> None:
        if self._dispatch.rollback_savepoint:
            self._dispatch.rollback_savepoint(self, name, None)
        self.dialect.do_rollback_to_savepoint(self, name)
        self.dialect.do_release_savepoint(self, name)

    def _release_savepoint_impl(self, name: str) -> None:
        if self._dispatch.release_savepoint:
            self._dispatch.release_savepoint(self, name, None)
        self.dialect.do_release_savepoint(self, name)

    def _begin_twophase_impl(self, txn: TwoPhaseTransaction) -> None:
        if self._dispatch.begin_twophase:
            self._dispatch.begin_twophase(self, txn.xid)
        if self._echo:
            self._log("BEGIN TWOPHASE %r", txn.xid)
        self._driver_call(f"BEGIN TWOPHASE {txn.xid!r}", self.dialect.do_begin_twophase,
                          self, txn.xid)

    def _prepare_twophase_impl(self, xid: Any) -> None:
        if self._dispatch.prepare_twophase:
            self._dispatch.prepare_twophase(self, xid)
        if self._echo:
            self._log("PREPARE TRANSACTION %r", xid)
        self._driver_call(f"PREPARE TRANSACTION {xid!r}", self.dialect.do_prepare_twophase,
                          self, xid)

    def _commit_twophase_impl(self, xid: Any, is_prepared: bool) -> None:
        if self._dispatch.commit_twophase:
            self._dispatch.commit_twophase(self, xid, is_prepared)
        if self._echo:
            self._log("COMMIT PREPARED %r", xid)
        self._driver_call(f"COMMIT PREPARED {xid!r}", self.dialect.do_commit_twophase,
                          self, xid, is_prepared)

    def _rollback_twophase_impl(self, xid: Any, is_prepared: bool) -> None:
        if self._dispatch.rollback_twophase:
            self._dispatch.rollback_twophase(self, xid, is_prepared)
        if self._fairy is None or self._fairy.dbapi_connection is None:
            return
        if self._echo:
            self._log("ROLLBACK PREPARED %r", xid)
        self._driver_call(f"ROLLBACK PREPARED {xid!r}", self.dialect.do_rollback_twophase,
                          self, xid, is_prepared)

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
                    except Exception as e:  # a broken connection: discard it
                        fairy.invalidate(e)
                fairy.close()
            self._fairy = None
            self._closed = True
            self._transaction = None
            self._nested = None

    def invalidate(self, exception: BaseException | None = None) -> None:
        """Discard the DB-API connection; the next use (after rollback() if a
        transaction was in progress) reconnects.

        Raises:
            ResourceClosedError: the Connection is closed.
        """
        if self._closed:
            raise exc.ResourceClosedError(
                "This Connection is closed; invalidate() needs an open one."
            )
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
            ArgumentError: ``statement`` is a plain string (wrap it in ``text()``),
                or the parameters are not a dict or a list of dicts.
            StatementError: a parameter is missing or could not be converted.
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
            raise exc.ArgumentError(
                f"Not an executable object: {statement!r}; pass a select(), insert(), "
                "update(), delete(), text() or DDL construct."
            )
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
            for p in plist:
                if not isinstance(p, Mapping):
                    raise exc.ArgumentError(
                        "Parameters for a docket statement must be a dict or a list of "
                        f"dicts keyed by parameter name, got a list holding "
                        f"{type(p).__name__}; use exec_driver_sql() for positional values."
                    )
        else:
            raise exc.ArgumentError(
                "Parameters must be a dict or a list of dicts keyed by parameter name, got "
                f"{type(parameters).__name__}."
            )
        many = len(plist) > 1
        column_keys = frozenset(plist[0]) if plist and statement.is_dml else None
        options = self._execution_options
        stmt_opts = getattr(statement, "_execution_options", None)
        if stmt_opts or execution_options:
            options = {**options, **(stmt_opts or {}), **(execution_options or {})}
        dispatch = self._dispatch
        if dispatch.before_execute:
            for fn in dispatch.before_execute:
                fn(self, statement, plist, {}, options)
        compiled, extracted = self._compile(statement, column_keys, many)
        result = self._execute_compiled(compiled, plist, extracted, options, statement)
        if dispatch.after_execute:
            for fn in dispatch.after_execute:
                fn(self, statement, plist, {}, options, result)
        return result

    def _execute_compiled(self, compiled: Compiled, plist: list[dict[str, Any]],
                          extracted: list[Any] | None, options: Mapping[str, Any],
                          invoked: Any = None) -> CursorResult[Any]:
        if self._transaction is None:
            self._autobegin()
        plan: _ExecPlan | None = compiled.__dict__.get("_docket_plan")
        if plan is None:
            plan = _ExecPlan(compiled)
        sql = compiled.string
        context = ExecutionContext(self, compiled, sql, None, len(plist) > 1, invoked, options)
        driver_params: list[Any] = []
        prefetch = compiled.prefetch
        construct = compiled.construct_params
        procs = plan.procs
        getter = plan.getter
        pk_prefetched: dict[str, Any] | None = None
        try:
            for params in plist or _NO_PARAMS:
                values = construct(params, extracted)
                if prefetch:
                    _apply_prefetch(context, compiled, values, params)
                    if plan.pk_prefetch and pk_prefetched is None:
                        pk_prefetched = {n: values[n] for n in plan.pk_prefetch}
                for name, proc in procs:
                    values[name] = proc(values[name])
                if plan.expanding:
                    for name, proc in plan.expanding_procs:
                        values[name] = [proc(v) for v in values[name]]
                    sql, order, values = compiled.expand(values)
                    driver_params.append(
                        values if order is None else tuple([values[n] for n in order])
                    )
                elif getter is not None:
                    driver_params.append(getter(values))
                else:
                    driver_params.append(values)
        except Exception as e:  # a missing value, or a value its type can't convert
            self._handle_dbapi_exception(
                e, compiled.string, plist[0] if len(plist) == 1 else plist or None, None,
                context)
        context.statement = sql
        many = len(driver_params) > 1
        context.executemany = many
        params_arg: Any = driver_params if many else driver_params[0]
        context.parameters = params_arg
        cursor = self._cursor_execute(sql, params_arg, context, many)
        return self._make_result(compiled, plan, cursor, context, plist, pk_prefetched)

    def _cursor_execute(self, statement: str, parameters: Any, context: ExecutionContext | None,
                        many: bool) -> Any:
        """Run SQL on a new cursor with events, logging and error wrapping."""
        fairy = self._fairy
        if fairy is None or fairy.dbapi_connection is None:
            fairy = self._live_fairy()
        dispatch = self._dispatch
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
            if context is not None:
                context.statement, context.parameters = statement, parameters
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
        self._log("%s", statement)
        if self.engine.hide_parameters:
            self._log("[SQL parameters hidden due to hide_parameters=True]")
        else:
            self._log("[%s] %s", "executemany" if many else "params",
                      exc._repr_params(parameters))

    def _make_result(self, compiled: Compiled, plan: _ExecPlan, cursor: Any,
                     context: ExecutionContext, plist: list[dict[str, Any]],
                     pk_prefetched: dict[str, Any] | None) -> CursorResult[Any]:
        description = cursor.description
        if description is None:
            result: CursorResult[Any] = CursorResult(
                _NO_ROWS, cursor, rowcount=cursor.rowcount,
                lastrowid=getattr(cursor, "lastrowid", None), returns_rows=False)
            if compiled.isinsert and not context.executemany and plan.pk_plan is not None:
                result.inserted_primary_key = plan.pk_from_lastrowid(
                    result.lastrowid, plist[0] if plist else None, context.invoked_statement,
                    pk_prefetched)
            return result
        if compiled.isinsert and compiled.implicit_returning:
            row = cursor.fetchone()
            result = CursorResult(_NO_ROWS, cursor, rowcount=cursor.rowcount,
                                  returns_rows=False)
            result.inserted_primary_key = plan.pk_from_returning(row)
            return result
        meta = _compiled_meta(compiled) if compiled.result_columns else _description_meta(
            description)
        return CursorResult(meta, cursor, rowcount=cursor.rowcount,
                            lastrowid=getattr(cursor, "lastrowid", None))

    def exec_driver_sql(self, statement: str, parameters: Any = None, *,
                        execution_options: Mapping[str, Any] | None = None) -> CursorResult[Any]:
        """Execute SQL exactly as the driver takes it (its own paramstyle).

        Args:
            statement: SQL in the driver's paramstyle (``?`` for sqlite3,
                ``%s`` for psycopg).
            parameters: a tuple/dict, or a list of them for executemany.
            execution_options: per-execution options.

        Raises:
            DBAPIError: the database refused it; carries statement and params.
        """
        if self._transaction is None:
            self._autobegin()
        many = False
        if isinstance(parameters, list) and parameters and isinstance(
            parameters[0], (tuple, list, dict)
        ):
            if len(parameters) == 1:
                parameters = parameters[0]
            else:
                many = True
        options = self._execution_options
        if execution_options:
            options = {**options, **execution_options}
        context = ExecutionContext(self, None, statement, parameters, many, statement, options)
        cursor = self._cursor_execute(statement, parameters, context, many)
        description = cursor.description
        returns_rows = description is not None
        meta = _description_meta(description) if returns_rows else _NO_ROWS
        return CursorResult(
            meta, cursor, rowcount=cursor.rowcount,
            lastrowid=getattr(cursor, "lastrowid", None), returns_rows=returns_rows,
        )

    def _run_ddl(self, action: str, target: Any, checkfirst: bool, **kw: Any) -> None:
        from docket.engine.ddl import run_ddl  # type: ignore[import-not-found, unused-ignore]

        run_ddl(self, action, target, checkfirst, **kw)

    # -- errors ----------------------------------------------------------------------
    def _handle_dbapi_exception(self, e: BaseException, statement: str | None, parameters: Any,
                                cursor: Any, context: ExecutionContext | None) -> NoReturn:
        """Wrap ``e`` in a docket error, invalidate a lost connection, run
        ``handle_error`` listeners, and raise."""
        if cursor is not None:
            try:
                cursor.close()
            except Exception:
                pass
        engine = self.engine
        dialect = self.dialect
        hide = engine.hide_parameters
        is_exit = not isinstance(e, Exception)  # KeyboardInterrupt etc.: state unknown
        is_dbapi = isinstance(e, dialect.dbapi.Error)
        fairy = self._fairy
        dbapi_conn = fairy.dbapi_connection if fairy is not None else None
        is_disconnect = is_exit and dbapi_conn is not None
        if is_dbapi:
            is_disconnect = dialect.is_disconnect(e, dbapi_conn, cursor)
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
        invalidate_pool = is_dbapi
        if self._dispatch.handle_error and not is_exit:
            ctx = ExceptionContext(
                self, engine, dialect, e,
                wrapped if isinstance(wrapped, exc.DocketError) else None,
                statement, parameters, cursor, context, is_disconnect,
            )
            for fn in self._dispatch.handle_error:
                replacement = fn(ctx)
                if replacement is not None:
                    wrapped = ctx.chained_exception = replacement
            if ctx.is_disconnect != is_disconnect:
                is_disconnect = ctx.is_disconnect
                if isinstance(wrapped, exc.DBAPIError) and wrapped.orig is e:
                    wrapped = exc.DBAPIError.instance(
                        statement, parameters, e, hide_parameters=hide,
                        connection_invalidated=is_disconnect)
            invalidate_pool = invalidate_pool and ctx.invalidate_pool_on_disconnect
        if is_disconnect:
            self._invalidated = True
            if dbapi_conn is not None:
                fairy.invalidate(e)
            if self._transaction is None:
                self._fairy = None
            if invalidate_pool:
                # the server likely dropped every connection: don't hand out the others
                engine.pool.dispose()
        engine._scrub_password(wrapped)
        if wrapped is e:
            raise e
        raise wrapped.with_traceback(sys.exc_info()[2]) from e


_NO_ROWS = ResultMetaData(())


class _ExecPlan:
    """What executing one Compiled needs beyond the compiler's output, worked
    out once and cached on it (``compiled.__dict__["_docket_plan"]``).

    Attributes:
        procs: ``(bind name, bind processor)`` for scalar binds.
        expanding: the statement has IN-list binds (rendered per execution).
        expanding_procs: processors applied to each element of an IN list.
        getter: values dict -> positional tuple, for positional paramstyles
            without IN lists; None for named paramstyles.
        pk_plan: ``(key, prefetch bind name or None, is autoincrement)`` per
            primary-key column of an INSERT's table, or None.
        pk_prefetch: bind names of Python-side defaults on primary-key columns.
    """

    __slots__ = ("procs", "expanding", "expanding_procs", "getter", "pk_plan", "pk_prefetch",
                 "_pk_meta", "_returning_meta")

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
                self._pk_meta = ResultMetaData([c.key for c in pk_cols])
        if compiled.implicit_returning:
            pk = compiled.implicit_returning
            keys = [c.key for c in pk]
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
        self._execution_options: dict[str, Any] = {}
        self._compiled_cache: _LRU | None = _LRU(query_cache_size) if query_cache_size else None
        self.dispatch = Dispatch(ConnectionEvents, type(self))
        # what every Connection of this engine fires, unless it has listeners of its own
        self._conn_dispatch = Dispatch(ConnectionEvents, Connection, parents=(self.dispatch,))
        self._echo = False
        self.echo = echo
        if execution_options:
            self._check_execution_options(execution_options)
            self._execution_options.update(execution_options)

    def _event_redirect(self, family: type) -> Any:
        if issubclass(family, PoolEvents):
            return self.pool
        return None

    @property
    def echo(self) -> Any:
        """Log SQL to the ``docket.engine`` logger (``"debug"`` accepted)."""
        return self._echo

    @echo.setter
    def echo(self, value: Any) -> None:
        self._echo = bool(value)
        if value and not log.handlers and not logging.getLogger().handlers:
            # nothing would show the lines: print them, as SQLAlchemy does
            handler = logging.StreamHandler(sys.stdout)
            handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(message)s"))
            log.addHandler(handler)

    @property
    def name(self) -> str:
        return self.dialect.name

    @property
    def driver(self) -> str:
        return self.dialect.driver

    def connect(self) -> Connection:
        """Check out a Connection (use it as a context manager).

        Raises:
            TimeoutError: the pool had no connection free within ``pool_timeout``.
            DBAPIError: the driver could not connect.
        """
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
        return self._pool_connect()

    def _pool_connect(self) -> Any:
        try:
            return self.pool.connect()
        except exc.DocketError:
            raise
        except Exception as e:
            if not isinstance(e, self.dialect.dbapi.Error):
                raise
            self._handle_connect_error(e)

    def _handle_connect_error(self, e: BaseException) -> NoReturn:
        """Wrap a driver error raised while connecting (handle_error listeners
        see it with ``connection=None``)."""
        wrapped: BaseException = exc.DBAPIError.instance(
            None, None, e, hide_parameters=self.hide_parameters,
            connection_invalidated=self.dialect.is_disconnect(e, None, None))
        if self._conn_dispatch.handle_error:
            ctx = ExceptionContext(None, self, self.dialect, e, wrapped,  # type: ignore[arg-type]
                                   None, None, None, None, False)
            for fn in self._conn_dispatch.handle_error:
                replacement = fn(ctx)
                if replacement is not None:
                    wrapped = ctx.chained_exception = replacement
        self._scrub_password(wrapped)
        raise wrapped.with_traceback(sys.exc_info()[2]) from e

    def _scrub_password(self, error: BaseException) -> None:
        """Replace the URL's password in ``error``'s message, should a driver echo it."""
        password = self.url.password
        if not password or len(password) < 3 or not isinstance(error, exc.DocketError):
            return
        if error.args and isinstance(error.args[0], str) and password in error.args[0]:
            error.args = (error.args[0].replace(password, "***"),) + error.args[1:]

    def dispose(self, close: bool = True) -> None:
        """Close the pool's idle connections and start a fresh pool.

        Connections checked out now are closed when they are returned.
        """
        if close:
            self.pool.dispose()
        self.pool = self.pool.recreate()
        if self.dispatch.engine_disposed:
            self.dispatch.engine_disposed(self)

    def _check_execution_options(self, opts: Mapping[str, Any]) -> None:
        level = opts.get("isolation_level")
        if level is not None:
            self.dialect._check_isolation_level(level)

    def execution_options(self, **opts: Any) -> OptionEngine:
        """An engine sharing this one's pool, dialect and listeners whose
        connections get ``opts`` (e.g. ``isolation_level="AUTOCOMMIT"``).

        Raises:
            ArgumentError: an invalid isolation level.
        """
        return OptionEngine(self, opts)

    def get_execution_options(self) -> dict[str, Any]:
        return dict(self._execution_options)

    def _run_ddl(self, action: str, target: Any, checkfirst: bool, **kw: Any) -> None:
        with self.begin() as conn:
            conn._run_ddl(action, target, checkfirst, **kw)

    def clear_compiled_cache(self) -> None:
        """Forget every cached compiled statement."""
        if self._compiled_cache is not None:
            self._compiled_cache.clear()

    def __repr__(self) -> str:
        return f"Engine({self.url!r})"


class OptionEngine(Engine):
    """What :meth:`Engine.execution_options` returns: a view of another
    engine with extra execution options.  Its pool is always the proxied
    engine's (so ``dispose()`` on either affects both); listeners added to the
    proxied engine apply here, not the other way round."""

    def __init__(self, proxied: Engine, opts: Mapping[str, Any]) -> None:
        proxied._check_execution_options(opts)
        self._proxied = proxied
        self.dialect = proxied.dialect
        self.url = proxied.url
        self.hide_parameters = proxied.hide_parameters
        self.logging_name = proxied.logging_name
        self._execution_options = {**proxied._execution_options, **opts}
        self._compiled_cache = proxied._compiled_cache
        self.dispatch = Dispatch(ConnectionEvents, type(self), parents=(proxied.dispatch,))
        self._conn_dispatch = Dispatch(ConnectionEvents, Connection, parents=(self.dispatch,))
        self._echo = proxied._echo

    @property  # type: ignore[override]
    def pool(self) -> Pool:
        return self._proxied.pool

    @pool.setter
    def pool(self, pool: Pool) -> None:
        self._proxied.pool = pool
