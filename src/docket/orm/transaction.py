"""SessionTransaction: the Session's transaction state machine.

A Session has at most one *current* SessionTransaction; a root transaction
(``nested=False``) may have a chain of SAVEPOINT children
(``begin_nested()``), each pointing at its ``parent``.

States (:class:`TxState`): ACTIVE -> (PREPARED ->) COMMITTED -> CLOSED, or
ACTIVE -> DEACTIVE (a flush failed inside it: its database work was rolled
back and every further use raises PendingRollbackError until it is rolled
back explicitly) -> CLOSED.

In-memory restore on rollback follows SQLAlchemy: ``_new`` holds states
INSERTed by flushes inside this transaction, ``_deleted`` states DELETEd,
``_dirty`` states UPDATEd.  Rolling back expunges the new ones (and anything
still pending), restores the deleted ones as persistent, and expires the
rest -- every persistent object for a root transaction, only objects changed
inside it for a SAVEPOINT.
"""

from __future__ import annotations

from enum import Enum
from typing import TYPE_CHECKING, Any

from docket import exc

if TYPE_CHECKING:
    from docket.engine.base import Connection, Transaction
    from docket.orm.session import Session
    from docket.orm.state import InstanceState

__all__ = ["SessionTransaction", "SessionTransactionOrigin", "TxState"]


class TxState(Enum):
    ACTIVE = "active"
    PREPARED = "prepared"
    COMMITTED = "committed"
    DEACTIVE = "deactive"
    CLOSED = "closed"


class SessionTransactionOrigin(Enum):
    """How a SessionTransaction began."""

    AUTOBEGIN = 0
    BEGIN = 1
    BEGIN_NESTED = 2


class _Bound:
    """One connection enlisted in a session transaction."""

    __slots__ = ("connection", "transaction", "should_close", "should_commit")

    def __init__(self, connection: Connection, transaction: Transaction | None,
                 should_close: bool, should_commit: bool) -> None:
        self.connection = connection
        self.transaction = transaction
        self.should_close = should_close
        self.should_commit = should_commit


class SessionTransaction:
    """A transaction (or SAVEPOINT) of a Session; a context manager.

    Attributes:
        parent: the enclosing SessionTransaction (None for the root).
        nested: True for a SAVEPOINT.
        origin: how it began.
    """

    def __init__(self, session: Session, origin: SessionTransactionOrigin,
                 parent: SessionTransaction | None = None) -> None:
        self.session = session
        self.origin = origin
        self.parent = parent
        self.nested = origin is SessionTransactionOrigin.BEGIN_NESTED
        self._state = TxState.ACTIVE
        self._connections: dict[Any, _Bound] = {}
        self._new: dict[InstanceState, Any] = {}
        self._deleted: dict[InstanceState, Any] = {}
        self._dirty: set[InstanceState] = set()
        self._failure: BaseException | None = None
        if self.nested:
            assert parent is not None
            # a SAVEPOINT opens on every connection the parent holds
            for bind, bound in parent._connections.items():
                self._connections[bind] = _Bound(
                    bound.connection, bound.connection.begin_nested(), False, True
                )
        session._dispatch_after_transaction_create(self)

    # -- introspection ---------------------------------------------------------------
    @property
    def is_active(self) -> bool:
        return self._state is TxState.ACTIVE

    @property
    def _is_root(self) -> bool:
        return self.parent is None

    def _root(self) -> SessionTransaction:
        txn = self
        while txn.parent is not None:
            txn = txn.parent
        return txn

    def _check_usable(self) -> None:
        if self._state is TxState.DEACTIVE:
            first_line = str(self._failure).split("\n", 1)[0]
            raise exc.PendingRollbackError(
                "This Session's transaction has been rolled back due to a previous exception "
                f"during flush ({type(self._failure).__name__}: {first_line}). To begin a "
                "new transaction with this Session, first issue Session.rollback()."
            )
        if self._state is not TxState.ACTIVE:
            raise exc.InvalidRequestError(
                f"This session transaction is {self._state.value} and can no longer be used; "
                "begin a new one."
            )

    # -- connections --------------------------------------------------------------------
    def _connection_for_bind(self, bind: Any) -> Connection:
        self._check_usable()
        bound = self._connections.get(bind)
        if bound is not None:
            return bound.connection
        if self.parent is not None:
            conn = self.parent._connection_for_bind(bind)
            self._connections[bind] = _Bound(conn, conn.begin_nested(), False, True)
            return conn
        from docket.engine.base import Connection as _Connection

        session = self.session
        if isinstance(bind, _Connection):
            conn = bind
            mode = session.join_transaction_mode
            if conn.in_transaction():
                if mode == "create_savepoint" or (
                    mode == "conservative_savepoint" and conn.in_nested_transaction()
                ):
                    self._connections[bind] = _Bound(conn, conn.begin_nested(), False, True)
                elif mode == "control_fully":
                    self._connections[bind] = _Bound(conn, conn.get_transaction(), False, True)
                else:  # rollback_only / conservative_savepoint outside a savepoint
                    self._connections[bind] = _Bound(conn, conn.get_transaction(), False, False)
            else:
                trans = conn.begin_twophase() if session.twophase else conn.begin()
                self._connections[bind] = _Bound(conn, trans, False, True)
        else:
            conn = bind.connect()
            if session._connection_execution_options:
                conn.execution_options(**session._connection_execution_options)
            try:
                trans = conn.begin_twophase() if session.twophase else conn.begin()
            except BaseException:
                conn.close()
                raise
            self._connections[bind] = _Bound(conn, trans, True, True)
        session._dispatch_after_begin(self, conn)
        return conn

    # -- commit --------------------------------------------------------------------------
    def prepare(self) -> None:
        """First phase of a two-phase commit (flushes first).

        Raises:
            InvalidRequestError: not a root two-phase transaction.
        """
        if self.parent is not None or not self.session.twophase:
            raise exc.InvalidRequestError(
                "'twophase' mode not enabled, or not root transaction; can't prepare."
            )
        self._prepare_impl()

    def _prepare_impl(self) -> None:
        self._check_usable()
        session = self.session
        session._dispatch_before_commit()
        for _ in range(100):  # before_flush hooks may add more work
            if not session._has_changes():
                break
            session.flush()
        else:
            raise exc.FlushError("Over 100 subsequent flushes have occurred within "
                                 "session.commit() - is an after_flush() hook creating new "
                                 "objects?")
        if self.parent is None and session.twophase:
            for bound in self._connections.values():
                if bound.should_commit and bound.transaction is not None:
                    bound.transaction.prepare()  # type: ignore[attr-defined]
        self._state = TxState.PREPARED

    def commit(self, _to_root: bool = False) -> None:
        """Flush and commit (release, for a SAVEPOINT).

        Raises:
            PendingRollbackError: a flush failed; call rollback() first.
        """
        if self._state is not TxState.PREPARED:
            self._prepare_impl()
        if self.parent is None or self.nested:
            for bound in self._connections.values():
                if bound.should_commit and bound.transaction is not None and (
                    bound.transaction.is_active
                ):
                    bound.transaction.commit()
        self._state = TxState.COMMITTED
        session = self.session
        if self.parent is None:
            session._finish_commit(self)
        else:
            parent = self.parent
            parent._new.update(self._new)
            parent._deleted.update(self._deleted)
            parent._dirty.update(self._dirty)
        self.close()
        if _to_root and self.parent is not None:
            self.parent.commit(_to_root=True)

    # -- rollback ------------------------------------------------------------------------
    def rollback(self, _capture_exception: BaseException | None = None) -> None:
        """Roll back (to the SAVEPOINT, for a nested transaction) and restore
        the in-memory state of the objects it touched."""
        if self._state is TxState.CLOSED:
            return
        session = self.session
        if self._state is not TxState.DEACTIVE:
            self._rollback_db()
            session._restore_after_rollback(self)
        if _capture_exception is not None:
            self._state = TxState.DEACTIVE
            self._failure = _capture_exception
            return
        self._state = TxState.CLOSED
        session._dispatch_after_rollback(self)
        self.close()

    def _rollback_db(self) -> None:
        error: BaseException | None = None
        for bound in self._connections.values():
            trans = bound.transaction
            if trans is None or not trans.is_active:
                continue
            if bound.should_commit or self.parent is None:
                try:
                    trans.rollback()
                except BaseException as e:  # keep rolling back the others
                    error = error or e
        if error is not None:
            raise error

    def close(self) -> None:
        """End this transaction: release connections (root) and make the
        parent current again."""
        session = self.session
        if self._state not in (TxState.CLOSED, TxState.COMMITTED, TxState.DEACTIVE):
            self._rollback_db()
            session._restore_after_rollback(self)
        self._state = TxState.CLOSED
        if self.parent is None:
            for bound in self._connections.values():
                if bound.should_close:
                    bound.connection.close()
            self._connections.clear()
        if session._transaction is self:
            session._transaction = self.parent
        session._dispatch_after_transaction_end(self)

    # -- context manager -------------------------------------------------------------------
    def __enter__(self) -> SessionTransaction:
        return self

    def __exit__(self, type_: Any, value: Any, tb: Any) -> None:
        if self._state is TxState.CLOSED:
            return
        if type_ is None and self._state is TxState.ACTIVE:
            try:
                self.commit()
            except BaseException:
                if self._state is not TxState.CLOSED:
                    self.rollback()
                raise
        else:
            self.rollback()

    def __repr__(self) -> str:
        kind = "nested" if self.nested else "root"
        return f"<SessionTransaction {kind} {self._state.value}>"
