"""SessionTransaction: the Session's transaction state machine.

A Session has at most one *current* SessionTransaction
(``session._transaction``).  A root transaction (``parent is None``) may have
a chain of SAVEPOINT children (``begin_nested()``), each pointing at its
``parent``; the current one is always the innermost.

States (:class:`TxState`)::

    ACTIVE --prepare--> PREPARED --commit--> COMMITTED --> CLOSED
    ACTIVE --commit---------------------------^
    ACTIVE/PREPARED --rollback/close--> CLOSED
    ACTIVE --failed flush--> DEACTIVE --rollback/close--> CLOSED

DEACTIVE means a flush failed inside this transaction: its database work is
already rolled back and every further use raises PendingRollbackError until
``rollback()``.  Using a CLOSED transaction raises ResourceClosedError.

In-memory snapshot (what a rollback undoes), per transaction boundary:

* ``_new`` -- states INSERTed by flushes inside it (made transient again);
* ``_deleted`` -- states DELETEd by flushes inside it (restored persistent);
* ``_dirty`` -- states UPDATEd by flushes inside it (expired);
* ``_key_switches`` -- state -> identity before a flush changed its primary key.

They hold states weakly, so a long transaction never keeps the objects it
wrote alive.  Committing a SAVEPOINT hands them to its parent; rolling back
restores them (a root rollback expires every persistent object, a SAVEPOINT
rollback only those changed inside it).
"""

from __future__ import annotations

import warnings
import weakref
from collections.abc import Iterable, Iterator
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
    DEACTIVE = "inactive"
    CLOSED = "closed"


class SessionTransactionOrigin(Enum):
    """How a SessionTransaction began."""

    AUTOBEGIN = 0
    BEGIN = 1
    BEGIN_NESTED = 2


class _StateRegistry(weakref.WeakKeyDictionary):  # type: ignore[type-arg,unused-ignore]
    """States written by a transaction, held weakly.  Accepts
    ``registry[state] = obj`` but never stores the object, so registering
    does not keep it alive."""

    def __setitem__(self, state: Any, obj: Any) -> None:
        super().__setitem__(state, None)

    def update(self, other: Any = None, **kw: Any) -> None:  # type: ignore[override]
        self.add_all(other or ())

    def add_all(self, states: Iterable[Any]) -> None:
        """Register each of ``states`` (one weak reference each, as
        ``registry[state] = obj`` makes, without two Python calls per state)."""
        data = self.data  # type: ignore[attr-defined]
        remove = self._remove  # type: ignore[attr-defined]
        ref = weakref.ref
        for state in states:
            data[ref(state, remove)] = None


class _Bound:
    """One connection enlisted in a session transaction.

    ``should_commit`` -- commit()/close() act on ``transaction`` (False for a
    joined external transaction in ``rollback_only`` mode);
    ``should_close`` -- the session opened the connection and closes it.
    """

    __slots__ = ("connection", "transaction", "should_close", "should_commit")

    def __init__(self, connection: Connection, transaction: Transaction,
                 should_close: bool, should_commit: bool) -> None:
        self.connection = connection
        self.transaction = transaction
        self.should_close = should_close
        self.should_commit = should_commit


class SessionTransaction:
    """A transaction (or SAVEPOINT) of a Session; a context manager that
    commits on success and rolls back on error.

    Attributes:
        parent: the enclosing SessionTransaction (None for the root).
        nested: True for a SAVEPOINT.
        origin: how it began (:class:`SessionTransactionOrigin`).
    """

    def __init__(self, session: Session, origin: SessionTransactionOrigin,
                 parent: SessionTransaction | None = None) -> None:
        session._check_can_begin()
        self.session = session
        self.origin = origin
        self.parent = parent
        self.nested = origin is SessionTransactionOrigin.BEGIN_NESTED
        self._state = TxState.ACTIVE
        self._connections: dict[Any, _Bound] = {}
        self._new: _StateRegistry = _StateRegistry()
        self._deleted: _StateRegistry = _StateRegistry()
        self._dirty: weakref.WeakSet[InstanceState] = weakref.WeakSet()
        self._key_switches: weakref.WeakKeyDictionary[InstanceState, Any] = (
            weakref.WeakKeyDictionary())
        self._failure: BaseException | None = None
        self._outer_context: SessionTransaction | None = None
        if parent is not None:
            # a SAVEPOINT opens at once on every connection the parent holds
            for bind, bound in parent._connections.items():
                conn = bound.connection
                self._connections[bind] = _Bound(conn, conn.begin_nested(), False, True)
        session._transaction = self
        session._dispatch_after_transaction_create(self)

    # -- introspection ---------------------------------------------------------------
    @property
    def is_active(self) -> bool:
        """True until the transaction is committed, rolled back, closed or
        deactivated by a failed flush."""
        return self._state is TxState.ACTIVE

    def _root(self) -> SessionTransaction:
        txn = self
        while txn.parent is not None:
            txn = txn.parent
        return txn

    def _inner(self) -> list[SessionTransaction]:
        """The transactions begun inside this one, innermost first."""
        out = []
        txn = self.session._transaction
        while txn is not None and txn is not self:
            out.append(txn)
            txn = txn.parent
        return out if txn is self else []

    def _check_usable(self) -> None:
        """Raise unless SQL may be emitted in this transaction.

        Raises:
            PendingRollbackError: a flush failed; rollback() first.
            ResourceClosedError: the transaction is closed.
            InvalidRequestError: it is committed or prepared.
        """
        state = self._state
        if state is TxState.ACTIVE:
            return
        if state is TxState.DEACTIVE:
            failure = self._failure
            first_line = str(failure).split("\n", 1)[0] if failure is not None else ""
            raise exc.PendingRollbackError(
                "This Session's transaction has been rolled back due to a previous exception "
                f"during flush ({type(failure).__name__}: {first_line}). To begin a new "
                "transaction with this Session, first issue Session.rollback()."
            )
        if state is TxState.CLOSED:
            raise exc.ResourceClosedError(
                "This transaction is closed; it can't be committed, rolled back or used for "
                "SQL again. Use the Session itself (it begins a new transaction) or "
                "session.begin()."
            )
        raise exc.InvalidRequestError(
            f"This session is in '{state.value}' state; no further SQL can be emitted within "
            "this transaction. Finish it with commit() or rollback() first."
        )

    # -- connections --------------------------------------------------------------------
    def _connection_for_bind(self, bind: Any,
                             execution_options: dict[str, Any] | None = None) -> Connection:
        self._check_usable()
        bound = self._connections.get(bind)
        if bound is not None:
            if execution_options:
                warnings.warn(
                    "Connection is already established for the given bind; execution_options "
                    "ignored (pass them to the first session.connection() of the transaction).",
                    stacklevel=4,
                )
            return bound.connection
        if self.parent is not None:
            conn = self.parent._connection_for_bind(bind, execution_options)
            self._connections[bind] = _Bound(conn, conn.begin_nested(), False, True)
            return conn
        from docket.engine.base import Connection as _Connection

        owned = not isinstance(bind, _Connection)
        conn = bind.connect() if owned else bind
        try:
            if execution_options:
                conn.execution_options(**execution_options)
            trans, should_commit = self._begin_on(conn)
        except BaseException:
            if owned:
                conn.close()
            raise
        self._connections[bind] = _Bound(conn, trans, owned, should_commit)
        self.session._dispatch_after_begin(self, conn)
        return conn

    def _begin_on(self, conn: Connection) -> tuple[Transaction, bool]:
        """Begin (or join) the root transaction on ``conn``; returns it and
        whether commit()/close() act on it (``join_transaction_mode``)."""
        session = self.session
        if session.twophase:
            if not conn.dialect.supports_two_phase:
                raise exc.InvalidRequestError(
                    f"Session(twophase=True) needs two-phase commit, which the "
                    f"{conn.dialect.name} dialect does not support; use twophase=False or a "
                    "database that has it (PostgreSQL)."
                )
            return conn.begin_twophase(), True
        if not conn.in_transaction():
            return conn.begin(), True
        mode = session.join_transaction_mode
        if mode == "conditional_savepoint":
            mode = "create_savepoint" if conn.in_nested_transaction() else "rollback_only"
        if mode == "create_savepoint":
            return conn.begin_nested(), True
        trans: Any = conn.get_nested_transaction() or conn.get_transaction()
        return trans, mode == "control_fully"

    def _bounds(self) -> Iterator[_Bound]:
        return iter(list(self._connections.values()))

    # -- commit --------------------------------------------------------------------------
    def prepare(self) -> None:
        """First phase of a two-phase commit (flushes first).

        Raises:
            InvalidRequestError: not a root transaction of a ``twophase`` session.
        """
        if self.parent is not None or not self.session.twophase:
            raise exc.InvalidRequestError(
                "'twophase' mode not enabled, or not root transaction; can't prepare. Create "
                "the Session with twophase=True and call prepare() outside any SAVEPOINT."
            )
        self._prepare_impl()

    def _prepare_impl(self) -> None:
        self._check_usable()
        for inner in self._inner():  # SAVEPOINTs inside this one are released first
            inner.commit()
        session = self.session
        session._dispatch_before_commit()
        if not session._flushing:
            for _ in range(100):  # before_flush hooks may add more work
                if not session._has_changes():
                    break
                session.flush()
            else:
                raise exc.FlushError(
                    "Over 100 subsequent flushes have occurred within session.commit(); is an "
                    "after_flush() hook creating new objects on every flush?"
                )
        if self.parent is None and session.twophase:
            try:
                for bound in self._bounds():
                    bound.transaction.prepare()  # type: ignore[attr-defined]
            except BaseException:
                self.rollback()
                raise
        self._state = TxState.PREPARED

    def commit(self, _to_root: bool = False) -> None:
        """Flush and commit (RELEASE, for a SAVEPOINT); SAVEPOINTs begun
        inside this one are committed first.

        Raises:
            PendingRollbackError: a flush failed; call rollback() first.
            ResourceClosedError: the transaction is already closed.
        """
        if self._state is not TxState.PREPARED:
            self._prepare_impl()
        for bound in self._bounds():
            if bound.should_commit and bound.transaction.is_active:
                bound.transaction.commit()
        self._state = TxState.COMMITTED
        self.session._dispatch_after_commit(self)
        self._remove_snapshot()
        self.close(_restore=False)
        if _to_root and self.parent is not None:
            self.parent.commit(_to_root=True)

    def _remove_snapshot(self) -> None:
        session = self.session
        parent = self.parent
        if parent is not None:
            parent._new.update(self._new)
            parent._deleted.update(self._deleted)
            parent._dirty.update(self._dirty)
            for state, old in self._key_switches.items():
                parent._key_switches.setdefault(state, old)
            return
        deleted = list(self._deleted)
        session._detach_deleted(deleted)
        if session.dispatch.deleted_to_detached:
            for state in deleted:
                session._dispatch_state("deleted_to_detached", state)
        if session.expire_on_commit:
            session.expire_all()

    # -- rollback ------------------------------------------------------------------------
    def rollback(self, _capture_exception: BaseException | None = None,
                 _to_root: bool = False) -> None:
        """Roll back (to the SAVEPOINT, for a nested transaction), ending any
        SAVEPOINTs begun inside it, and restore the in-memory state of the
        objects it touched.

        Raises:
            ResourceClosedError: the transaction is already closed.
        """
        if self._state in (TxState.CLOSED, TxState.COMMITTED):
            self._check_usable()
        self._absorb_inner()
        error: BaseException | None = None
        if self._state in (TxState.ACTIVE, TxState.PREPARED):
            try:
                self._rollback_db()
            except BaseException as e:  # restore memory anyway, then report
                error = e
            self._state = TxState.DEACTIVE
            self._restore_snapshot()
            self.session._dispatch_after_rollback(self)
        elif self.session._has_changes():
            # changes made after a failed flush are discarded with it
            self._restore_snapshot()
        if _capture_exception is not None:
            self._failure = _capture_exception
            if error is not None:
                raise error
            return
        self.close(_restore=False)
        self.session._dispatch_after_soft_rollback(self)
        if error is not None:
            raise error
        if _to_root and self.parent is not None:
            self.parent.rollback(_to_root=True)

    def _absorb_inner(self) -> None:
        """End the SAVEPOINTs begun inside this transaction; their written
        states join this one so its restore covers them."""
        for inner in self._inner():
            self._new.update(inner._new)
            self._deleted.update(inner._deleted)
            self._dirty.update(inner._dirty)
            for state, old in inner._key_switches.items():
                self._key_switches[state] = old
            inner._state = TxState.CLOSED
            self.session._transaction = inner.parent
            self.session._dispatch_after_transaction_end(inner)

    def _rollback_db(self) -> None:
        error: BaseException | None = None
        for bound in self._bounds():
            trans = bound.transaction
            if trans.is_active:
                try:
                    trans.rollback()
                except BaseException as e:  # keep rolling back the others
                    error = error or e
        if error is not None:
            raise error

    def _restore_snapshot(self) -> None:
        """Undo in memory what this transaction did (see module docstring)."""
        session = self.session
        session._pending_mutations.clear()
        to_expunge = set(self._new).union(session._new)
        dispatch = session.dispatch
        fire = bool(dispatch.pending_to_transient or dispatch.persistent_to_transient
                    or dispatch.deleted_to_persistent)
        for state in to_expunge:
            was_pending = state.ident is None
            session._expunge_state(state, to_transient=True)
            if fire:
                session._dispatch_state(
                    "pending_to_transient" if was_pending else "persistent_to_transient", state)
        for state, old_ident in list(self._key_switches.items()):
            if state not in to_expunge:
                session._restore_identity(state, old_ident)
        for state in set(self._deleted).union(session._deleted) - to_expunge:
            session._restore_deleted(state)
            if fire and state in self._deleted and state.session_id == session.hash_key:
                session._dispatch_state("deleted_to_persistent", state)
        session._deleted.clear()
        dirty_only = self.nested
        dirty = self._dirty
        for state in session._identity_map.all_states():
            if not dirty_only or state.modified or state in dirty:
                session._expire_state(state)

    # -- close ---------------------------------------------------------------------------
    def close(self, invalidate: bool = False, _restore: bool = True) -> None:
        """End this transaction: an unfinished one is rolled back first;
        a root transaction releases (or invalidates) its connections; the
        parent becomes current again."""
        if self._state is TxState.CLOSED:
            return
        if _restore and self._state in (TxState.ACTIVE, TxState.PREPARED):
            self.rollback()
            return
        for inner in self._inner():  # innermost first: each ends its own SAVEPOINTs
            inner.close(invalidate, _restore=False)
        root = self.parent is None
        for bound in self._bounds():
            conn = bound.connection
            if invalidate and root and not conn.closed and not conn.invalidated:
                conn.invalidate()
            if bound.should_commit and bound.transaction.is_active:
                bound.transaction.close()
            if bound.should_close and root:
                conn.close()
        if root:
            self._connections.clear()
        self._state = TxState.CLOSED
        session = self.session
        if session._transaction is self:
            session._transaction = self.parent
        session._dispatch_after_transaction_end(self)

    # -- context manager -------------------------------------------------------------------
    def __enter__(self) -> SessionTransaction:
        session = self.session
        self._outer_context = session._trans_context_manager
        session._trans_context_manager = self
        return self

    def __exit__(self, type_: Any, value: Any, tb: Any) -> None:
        self.session._trans_context_manager = self._outer_context
        if self._state is TxState.CLOSED:
            return
        if type_ is None:  # a failed flush inside the block surfaces here
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

