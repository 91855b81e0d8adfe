"""Transactions of a Connection: the root transaction, SAVEPOINTs and
two-phase transactions.

Invariants (kept together with :class:`~docket.engine.connection.Connection`):

* a Connection's ``_transaction`` is its active root transaction or None;
* its ``_nested`` is the innermost active SAVEPOINT or None, and each
  :class:`NestedTransaction` links to the one it was begun inside
  (``_parent_nested``); ending one ends every SAVEPOINT begun inside it;
* ending the root transaction deactivates every SAVEPOINT.

The SQL itself is emitted by the Connection's ``_*_impl`` methods (which fire
events, log and wrap driver errors); these classes own only the state.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from docket import exc

if TYPE_CHECKING:
    from docket.engine.connection import Connection

__all__ = ["NestedTransaction", "RootTransaction", "Transaction", "TwoPhaseTransaction"]

class Transaction:
    """A database transaction on a Connection; a context manager that commits
    on success and rolls back on error."""

    nested = False

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.is_active = True

    @property
    def is_valid(self) -> bool:
        """Active, on a connection that was not invalidated."""
        return self.is_active and not self.connection.invalidated

    def commit(self) -> None:
        """Commit this transaction (release, for a SAVEPOINT)."""
        raise NotImplementedError

    def rollback(self) -> None:
        """Roll this transaction back."""
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
        # a failed RELEASE leaves the savepoint active, so that rollback() can
        # still ROLLBACK TO it (its work must not leak into the outer transaction)
        self.connection._release_savepoint_impl(self.name)
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
