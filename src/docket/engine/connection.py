"""Connection: one pooled DB-API connection, its transactions and execution.

A :class:`Connection` *autobegins*: the first statement starts a transaction
(``BEGIN`` is emitted by the dialect where the driver does not begin
implicitly), which lasts until ``commit()`` or ``rollback()`` -- SQLAlchemy
2.0's "commit as you go".  ``begin()`` returns the same root transaction as a
context manager; ``begin_nested()`` a SAVEPOINT at any depth.

Invariants of a Connection:

* ``_transaction`` is the root transaction or None; ``_nested`` the innermost
  active SAVEPOINT or None, each nested transaction linking to its parent
  (see ``docket.engine.transaction``);
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
import re
import sys
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, NoReturn

from docket import event as _event
from docket import exc
from docket.engine.context import (
    NO_ROWS,
    BufferedCursor,
    ExecPlan,
    ExecutionContext,
    apply_prefetch,
    description_meta,
    force_log,
    log,
    make_result,
    wrap_error,
)
from docket.engine.events import ConnectionEvents
from docket.engine.result import CursorResult, ScalarResult
from docket.engine.transaction import NestedTransaction, RootTransaction, TwoPhaseTransaction
from docket.event import Dispatch
from docket.sql.compiler import Compiled

if TYPE_CHECKING:
    from docket.engine.base import Engine
    from docket.engine.default import DefaultDialect

__all__ = ["Connection"]

_NO_PARAMS: list[Any] = [None]
# statements that may run on a server-side cursor
_SELECT_RE = re.compile(r"\s*(?:\(\s*)*(?:SELECT|WITH|VALUES|TABLE)\b", re.IGNORECASE)


class Connection:
    """One checked-out database connection.  Use as a context manager
    (``with engine.connect() as conn:``); not safe to share between threads."""

    _dispatch_family = ConnectionEvents

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dialect: DefaultDialect = engine.dialect
        self._dispatch: Dispatch = engine._conn_dispatch
        self._hot_seen = -1  # listener-registry version _hot was computed at
        self._hot = (False, False, False, False)
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
        try:
            level = self._execution_options.get("isolation_level")
            if level is not None:
                self._apply_isolation(level)
            if self._dispatch.engine_connect:
                self._dispatch.engine_connect(self)
        except BaseException:
            self.close()  # give the pooled connection back
            raise

    @property
    def dispatch(self) -> Dispatch:
        """This connection's own listeners (``event.listen(conn, ...)`` fires
        for this connection only), plus the engine's and class-level ones."""
        own = self.__dict__.get("_own_dispatch")
        if own is None:
            own = Dispatch(ConnectionEvents, type(self), parents=(self.engine.dispatch,))
            self.__dict__["_own_dispatch"] = own
            self._dispatch = own
            self._hot_seen = -1
        return own

    def _hot_flags(self) -> tuple[bool, bool, bool, bool]:
        """Whether before_execute, after_execute, before_cursor_execute and
        after_cursor_execute have listeners; recomputed only after a listen()
        or remove() anywhere (one integer compare per statement otherwise)."""
        if self._hot_seen != _event._version:
            d = self._dispatch
            self._hot = (bool(d.before_execute), bool(d.after_execute),
                         bool(d.before_cursor_execute), bool(d.after_cursor_execute))
            self._hot_seen = _event._version
        return self._hot

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
        return self._live_fairy().info

    @property
    def closed(self) -> bool:
        """True once close() was called."""
        return self._closed

    @property
    def invalidated(self) -> bool:
        """True from invalidation (or a lost connection) until it reconnects."""
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
        """A copy of this connection's execution options."""
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
        return self._driver_call(  # type: ignore[no-any-return, unused-ignore]
            "recover two-phase transactions", self.dialect.do_recover_twophase, self)

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
        """True while a root transaction (explicit or autobegun) is active."""
        return self._transaction is not None and self._transaction.is_active

    def in_nested_transaction(self) -> bool:
        """True while a SAVEPOINT is active."""
        return self._nested is not None

    def get_transaction(self) -> RootTransaction | None:
        """The root transaction in progress, or None."""
        return self._transaction

    def get_nested_transaction(self) -> NestedTransaction | None:
        """The innermost active SAVEPOINT, or None."""
        return self._nested

    def _autobegin(self) -> None:
        if self._transaction is None:
            self._transaction = RootTransaction(self)

    def _log(self, msg: str, *args: Any) -> None:
        if self.engine._echo:
            force_log(msg, *args)
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
        hot = self._hot_flags()
        if hot[0]:
            for fn in self._dispatch.before_execute:
                fn(self, statement, plist, {}, options)
        compiled, extracted = self._compile(statement, column_keys, many)
        result = self._execute_compiled(compiled, plist, extracted, options, statement)
        if hot[1]:
            for fn in self._dispatch.after_execute:
                fn(self, statement, plist, {}, options, result)
        return result

    def _execute_compiled(self, compiled: Compiled, plist: list[dict[str, Any]],
                          extracted: list[Any] | None, options: Mapping[str, Any],
                          invoked: Any = None) -> CursorResult[Any]:
        if self._transaction is None:
            self._autobegin()
        plan: ExecPlan | None = compiled.__dict__.get("_docket_plan")
        if plan is None:
            plan = ExecPlan(compiled)
        sql = compiled.string
        many = len(plist) > 1
        context = ExecutionContext(self, compiled, sql, None, many, invoked, options)
        pk_prefetched: dict[str, Any] | None = None
        params_arg: Any
        try:
            if plan.simple and not many:
                # the common case: one parameter set, nothing computed per row
                values = compiled.construct_params(plist[0] if plist else None, extracted)
                for name, proc in plan.procs:
                    values[name] = proc(values[name])
                params_arg = values if plan.getter is None else plan.getter(values)
            elif plan.expanding:
                if many:
                    raise exc.InvalidRequestError(
                        "An IN-list (expanding) parameter can't be used with executemany (a "
                        "list of parameter dicts); execute the statement once per dict."
                    )
                values = compiled.construct_params(plist[0] if plist else None, extracted)
                if compiled.prefetch:
                    apply_prefetch(context, compiled, values, plist[0] if plist else None)
                for name, proc in plan.procs:
                    values[name] = proc(values[name])
                for name, proc in plan.expanding_procs:
                    values[name] = [proc(v) for v in values[name]]
                sql, order, values = compiled.expand(values)
                params_arg = values if order is None else tuple([values[n] for n in order])
            else:
                driver_params = []
                construct = compiled.construct_params
                procs = plan.procs
                getter = plan.getter
                prefetch = compiled.prefetch
                for group, params in enumerate(plist or _NO_PARAMS):
                    values = construct(params, extracted, _group=group if many else None)
                    if prefetch:
                        apply_prefetch(context, compiled, values, params)
                        if plan.pk_prefetch and pk_prefetched is None:
                            pk_prefetched = {n: values[n] for n in plan.pk_prefetch}
                    for name, proc in procs:
                        values[name] = proc(values[name])
                    driver_params.append(values if getter is None else getter(values))
                params_arg = driver_params if many else driver_params[0]
        except Exception as e:  # a missing value, or a value its type can't convert
            self._handle_dbapi_exception(
                e, compiled.string, plist[0] if len(plist) == 1 else plist or None, None,
                context)
        context.statement = sql
        context.parameters = params_arg
        cursor = self._cursor_execute(sql, params_arg, context, many)
        return make_result(compiled, plan, cursor, context, plist, pk_prefetched)

    def _cursor_execute(self, statement: str, parameters: Any, context: ExecutionContext | None,
                        many: bool, returning: bool = False) -> Any:
        """Run SQL on a new cursor with events, logging and error wrapping.
        ``many`` with ``returning``: the rows of every parameter set, in order,
        come back through a buffered cursor."""
        fairy = self._fairy
        if fairy is None or fairy.dbapi_connection is None:
            fairy = self._live_fairy()
        hot = self._hot_flags()
        try:
            if context is not None and context.execution_options and self._use_server_side(
                    context, statement, many):
                cursor = self.dialect.create_server_side_cursor(fairy.dbapi_connection)
            else:
                cursor = fairy.dbapi_connection.cursor()
        except BaseException as e:
            self._handle_dbapi_exception(e, statement, parameters, None, context)
        if context is not None:
            context.cursor = cursor
        if hot[2]:
            for entry in self._dispatch.before_cursor_execute.retval_entries():
                out = entry.call(self, cursor, statement, parameters, context, many)
                if entry.retval:
                    statement, parameters = out
            if context is not None:
                context.statement, context.parameters = statement, parameters
        if self._echo:
            self._log_statement(statement, parameters, many)
        try:
            if many:
                if returning or (context is not None and context.compiled is not None
                                 and context.compiled.returning):
                    rows = self.dialect.do_executemany_returning(cursor, statement, parameters,
                                                                 context)
                    cursor = BufferedCursor(cursor, rows)
                    if context is not None:
                        context.cursor = cursor
                else:
                    self.dialect.do_executemany(cursor, statement, parameters, context)
            elif parameters is None:
                self.dialect.do_execute_no_params(cursor, statement, context)
            else:
                self.dialect.do_execute(cursor, statement, parameters, context)
        except BaseException as e:
            self._handle_dbapi_exception(e, statement, parameters, cursor, context)
        if hot[3]:
            self._dispatch.after_cursor_execute(self, cursor, statement, parameters, context,
                                                many)
        return cursor

    def _use_server_side(self, context: ExecutionContext, statement: str, many: bool) -> bool:
        """``stream_results=True`` / ``yield_per=N``: fetch a SELECT's rows in
        batches from a server-side cursor, where the dialect has them (inside a
        transaction only, as the cursor lives until the transaction ends)."""
        opts = context.execution_options
        if not (opts.get("stream_results") or opts.get("yield_per")):
            return False
        if many or self._autocommit or not self.dialect.supports_server_side_cursors:
            return False
        return _SELECT_RE.match(statement) is not None

    def _log_statement(self, statement: str, parameters: Any, many: bool) -> None:
        self._log("%s", statement)
        if self.engine.hide_parameters:
            self._log("[SQL parameters hidden due to hide_parameters=True]")
        else:
            self._log("[%s] %s", "executemany" if many else "params",
                      exc._repr_params(parameters))

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
        meta = description_meta(description) if returns_rows else NO_ROWS
        result: CursorResult[Any] = CursorResult(
            meta, cursor, rowcount=cursor.rowcount,
            lastrowid=getattr(cursor, "lastrowid", None), returns_rows=returns_rows,
        )
        yield_per = options.get("yield_per") if returns_rows and options else None
        return result.yield_per(yield_per) if yield_per else result

    def _run_ddl(self, action: str, target: Any, checkfirst: bool, **kw: Any) -> None:
        from docket.engine.ddl import run_ddl  # type: ignore[import-not-found, unused-ignore]

        run_ddl(self, action, target, checkfirst, **kw)

    # -- errors ----------------------------------------------------------------------
    def _handle_dbapi_exception(self, e: BaseException, statement: str | None, parameters: Any,
                                cursor: Any, context: ExecutionContext | None) -> NoReturn:
        """Wrap ``e`` in a docket error, run ``handle_error`` listeners,
        invalidate a lost connection, and raise."""
        if cursor is not None:
            try:
                cursor.close()
            except Exception:
                pass
        engine = self.engine
        fairy = self._fairy
        dbapi_conn = fairy.dbapi_connection if fairy is not None else None
        if isinstance(e, self.dialect.dbapi.Error):
            is_disconnect = self.dialect.is_disconnect(e, dbapi_conn, cursor)
        else:  # KeyboardInterrupt etc. mid-statement: the connection's state is unknown
            is_disconnect = not isinstance(e, Exception) and dbapi_conn is not None
        wrapped, is_disconnect, dispose_pool = wrap_error(
            engine, self, self._dispatch, e, statement, parameters, cursor, context,
            is_disconnect)
        if is_disconnect:
            self._invalidated = True
            if dbapi_conn is not None:
                fairy.invalidate(e)
            if self._transaction is None:
                self._fairy = None
            if dispose_pool:
                # the server likely dropped every connection: don't hand out the others
                engine.pool.dispose()
        engine._scrub_password(wrapped)
        if wrapped is e:
            raise e
        raise wrapped.with_traceback(sys.exc_info()[2]) from e
