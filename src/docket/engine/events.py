"""Engine, connection and pool event families.

Listener signatures are SQLAlchemy's.  Targets:

* :class:`ConnectionEvents` -- an ``Engine`` or ``Connection`` (class or
  instance).  A Connection shares its Engine's dispatch, so listeners added to
  an engine fire for every connection it hands out.
* :class:`PoolEvents` -- a ``Pool`` (class or instance); an ``Engine`` target
  is redirected to its pool (an ``Engine`` class to the ``Pool`` class).
"""

from __future__ import annotations

from typing import Any

from docket.event import Events


class PoolEvents(Events):
    """Events of a connection pool."""

    def connect(self, dbapi_connection: Any, connection_record: Any) -> None:
        """A new DB-API connection was created (run ``PRAGMA`` / ``SET`` here)."""

    def first_connect(self, dbapi_connection: Any, connection_record: Any) -> None:
        """The first DB-API connection of this pool was created."""

    def checkout(self, dbapi_connection: Any, connection_record: Any, connection_proxy: Any) -> None:
        """A connection was taken from the pool."""

    def checkin(self, dbapi_connection: Any, connection_record: Any) -> None:
        """A connection was returned to the pool (``dbapi_connection`` may be None)."""

    def reset(self, dbapi_connection: Any, connection_record: Any, reset_state: Any) -> None:
        """A returned connection is being reset (rolled back)."""

    def invalidate(self, dbapi_connection: Any, connection_record: Any, exception: Any) -> None:
        """A connection was invalidated (found dead or explicitly discarded)."""

    def soft_invalidate(self, dbapi_connection: Any, connection_record: Any, exception: Any) -> None:
        """A connection was marked to be replaced at its next checkin."""

    def close(self, dbapi_connection: Any, connection_record: Any) -> None:
        """A DB-API connection is being closed."""

    def detach(self, dbapi_connection: Any, connection_record: Any) -> None:
        """A connection was detached from the pool."""

    def close_detached(self, dbapi_connection: Any) -> None:
        """A detached connection was closed."""


class ConnectionEvents(Events):
    """Events of statement execution and transactions on a Connection."""

    def before_execute(
        self, conn: Any, clauseelement: Any, multiparams: Any, params: Any, execution_options: Any
    ) -> None:
        """A statement object is about to be executed."""

    def after_execute(
        self,
        conn: Any,
        clauseelement: Any,
        multiparams: Any,
        params: Any,
        execution_options: Any,
        result: Any,
    ) -> None:
        """A statement object was executed."""

    def before_cursor_execute(
        self, conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool
    ) -> None:
        """SQL is about to be sent to the driver.  With ``retval=True`` the
        listener returns ``(statement, parameters)`` to use instead."""

    def after_cursor_execute(
        self, conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool
    ) -> None:
        """The driver executed SQL."""

    def handle_error(self, exception_context: Any) -> None:
        """The driver raised an error (``exception_context`` describes it)."""

    def engine_connect(self, conn: Any) -> None:
        """A Connection was created by ``Engine.connect()``."""

    def engine_disposed(self, engine: Any) -> None:
        """``Engine.dispose()`` was called."""

    def begin(self, conn: Any) -> None:
        """A transaction began."""

    def commit(self, conn: Any) -> None:
        """A transaction is being committed."""

    def rollback(self, conn: Any) -> None:
        """A transaction is being rolled back."""

    def savepoint(self, conn: Any, name: str) -> None:
        """A SAVEPOINT was created."""

    def rollback_savepoint(self, conn: Any, name: str, context: Any) -> None:
        """The connection rolled back to a SAVEPOINT."""

    def release_savepoint(self, conn: Any, name: str, context: Any) -> None:
        """A SAVEPOINT was released."""

    def begin_twophase(self, conn: Any, xid: Any) -> None:
        """A two-phase transaction began."""

    def prepare_twophase(self, conn: Any, xid: Any) -> None:
        """A two-phase transaction was prepared."""

    def commit_twophase(self, conn: Any, xid: Any, is_prepared: bool) -> None:
        """A two-phase transaction was committed."""

    def rollback_twophase(self, conn: Any, xid: Any, is_prepared: bool) -> None:
        """A two-phase transaction was rolled back."""
