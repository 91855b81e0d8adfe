"""Session: identity map + unit of work + transaction, per SPEC §5.

Collections (all keyed by InstanceState; values hold the object strongly):

* ``_new`` -- pending objects, in the order they were added;
* ``_deleted`` -- persistent objects marked for deletion, not yet flushed;
* ``_modified`` -- attached objects changed since their last load/flush (set
  by the first attribute change, see ``InstanceState._modified_event``).

Clean persistent objects live only in the weak identity map, so a session
never keeps an unreferenced, unchanged object alive.  State transitions are
in :mod:`docket.orm.session_state`, the transaction state machine in
:mod:`docket.orm.transaction`.  A Session is not thread-safe: use one per
thread or request (``scoped_session``); a second thread entering while one is
inside is refused with InvalidRequestError (see ``_exclusive``).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from threading import get_ident
from typing import Any, TypeVar

from docket import event as _event
from docket import exc
from docket.event import Dispatch
from docket.orm import bulk_persistence, loading
from docket.orm import session_state as _ss
from docket.orm.events import ORMExecuteState, SessionEvents
from docket.orm.identity import IdentityMap
from docket.orm.mapper import Mapper, class_mapper
from docket.orm.query import Query
from docket.orm.session_guard import concurrent_use, exclusive
from docket.orm.session_state import (
    close_all_sessions,
    make_transient,
    make_transient_to_detached,
    object_session,
    state_of,
    state_str,
)
from docket.orm.state import (
    DELETED,
    EXPIRED,
    NO_VALUE,
    WAS_DELETED,
    InstanceState,
    _sessions,
)
from docket.orm.transaction import SessionTransaction, SessionTransactionOrigin, TxState
from docket.sql.selectable import FromClause, Select

__all__ = ["Session", "close_all_sessions", "make_transient", "make_transient_to_detached",
           "object_session"]

# primary-key value types get()'s fast path accepts as-is
_SCALAR_IDENTS = frozenset({int, str})
_T = TypeVar("_T")
_ids = itertools.count(1)
_JOIN_MODES = ("conditional_savepoint", "create_savepoint", "rollback_only", "control_fully")


class Session:
    """Manages persistence operations for mapped objects.

    Args:
        bind: an Engine or Connection.
        autoflush: flush before ORM queries, database-hitting ``get()`` and
            loads of expired attributes.
        expire_on_commit: expire every object after commit.
        autobegin: begin a transaction on first use (if False, call begin()).
        twophase: two-phase commit across every enlisted database.
        binds: mapper / class / table -> Engine, for several databases.
        join_transaction_mode: how to use a ``bind`` Connection that is
            already in a transaction: ``"conditional_savepoint"`` (default:
            a SAVEPOINT if the connection is inside one, else
            ``"rollback_only"``), ``"create_savepoint"`` (always work inside
            a new SAVEPOINT; the outer transaction is never committed or
            rolled back), ``"rollback_only"`` (rollback() rolls the outer
            transaction back, commit() and close() leave it alone) or
            ``"control_fully"`` (the outer transaction is the session's own).
            ``"conservative_savepoint"`` is accepted as an alias of the default.
        close_resets_only: if False, ``close()`` closes the session for good.
        info: a user dict.

    Raises:
        ArgumentError: ``autocommit=True`` or an unknown join_transaction_mode.
    """

    _trans_context_manager: SessionTransaction | None = None
    #: (thread ident, method) of the exclusive call in progress (see _exclusive)
    _owner: tuple[int, str] | None = None

    def __init__(self, bind: Any = None, *, autoflush: bool = True,
                 expire_on_commit: bool = True, autobegin: bool = True,
                 twophase: bool = False, binds: Mapping[Any, Any] | None = None,
                 enable_baked_queries: bool = True, info: dict[Any, Any] | None = None,
                 query_cls: Any = None, autocommit: bool = False,
                 join_transaction_mode: str = "conditional_savepoint",
                 close_resets_only: bool = True) -> None:
        if autocommit:
            raise exc.ArgumentError(
                "autocommit=True is a SQLAlchemy 1.x mode that docket does not support; "
                "use session.begin() blocks instead."
            )
        if join_transaction_mode == "conservative_savepoint":
            join_transaction_mode = "conditional_savepoint"
        if join_transaction_mode not in _JOIN_MODES:
            raise exc.ArgumentError(
                f"invalid selection for join_transaction_mode: {join_transaction_mode!r}; "
                f"use one of {', '.join(map(repr, _JOIN_MODES))}."
            )
        self.hash_key = next(_ids)
        _sessions[self.hash_key] = self
        self.bind = bind
        self.autoflush = autoflush
        self.expire_on_commit = expire_on_commit
        self.autobegin = autobegin
        self.twophase = twophase
        self.join_transaction_mode = join_transaction_mode
        self.enable_baked_queries = enable_baked_queries
        self.info: dict[Any, Any] = dict(info or {})
        self._query_cls = query_cls
        self._close_resets_only = close_resets_only
        self._closed_for_good = False
        self.__binds: dict[Any, Any] = {}
        for key, value in (binds or {}).items():
            self._add_bind(key, value)
        self._identity_map = IdentityMap()
        #: get() row loaders: see loading._pk_loader and loading.get_miss
        self._pk_loaders: dict[Any, Any] = {}
        #: (state, key) -> (added, removed): backref changes to unloaded collections
        #: not flushed yet (see relationship_attrs._queue); emptied by each flush
        self._pending_mutations: dict[Any, tuple[list[Any], list[Any]]] = {}
        self._new: dict[InstanceState, Any] = {}
        self._deleted: dict[InstanceState, Any] = {}
        self._modified: dict[InstanceState, Any] = {}
        self._transaction: SessionTransaction | None = None
        self._flushing = False
        self._warn_on_events = False
        #: SessionEvents listeners of this session (and its class / sessionmaker)
        self.dispatch = Dispatch(SessionEvents, type(self))
        # add()/delete() test these once per call: the dispatch when any
        # attach / transition listener exists, else None (recomputed when
        # event registrations change)
        self._attach_ev: Dispatch | None = None
        self._attach_seen = -1

    # -- state transitions (see session_state; bound here as methods) ----------------------
    _expunge_state = _ss.expunge_state
    _expire_state = _ss.expire_state
    _restore_deleted = _ss.restore_deleted
    _restore_identity = _ss.restore_identity
    _detach_deleted = _ss.detach_deleted
    _mark_deleted = _ss.mark_deleted
    _commit_flushed = _ss.commit_flushed
    _persistent_state = _ss.persistent_state
    _save_or_update = _ss.save_or_update
    _delete_state = _ss.delete_state

    # -- event hooks: each is one truth test when nothing listens ----------------------
    def _dispatch_after_transaction_create(self, txn: SessionTransaction) -> None:
        if self.dispatch.after_transaction_create:
            self.dispatch.after_transaction_create(self, txn)

    def _dispatch_after_transaction_end(self, txn: SessionTransaction) -> None:
        if self.dispatch.after_transaction_end:
            self.dispatch.after_transaction_end(self, txn)

    def _dispatch_after_begin(self, txn: SessionTransaction, conn: Any) -> None:
        if self.dispatch.after_begin:
            self.dispatch.after_begin(self, txn, conn)

    def _dispatch_before_commit(self) -> None:
        if self.dispatch.before_commit:
            self.dispatch.before_commit(self)

    def _dispatch_after_commit(self, txn: SessionTransaction) -> None:
        if self.dispatch.after_commit:
            self.dispatch.after_commit(self)

    def _dispatch_after_rollback(self, txn: SessionTransaction) -> None:
        if self.dispatch.after_rollback:
            self.dispatch.after_rollback(self)

    def _dispatch_after_soft_rollback(self, txn: SessionTransaction) -> None:
        if self.dispatch.after_soft_rollback:
            self.dispatch.after_soft_rollback(self, txn)

    def _attach_events(self) -> Dispatch | None:
        d = self.dispatch
        self._attach_seen = _event._version
        self._attach_ev = d if (d.before_attach or d.after_attach or d.transient_to_pending
                                or d.detached_to_persistent) else None
        return self._attach_ev

    def _dispatch_state(self, event: str, state: InstanceState) -> None:
        """Fire a state-transition event (``pending_to_persistent`` ...) for ``state``."""
        listeners = getattr(self.dispatch, event)
        if listeners:
            obj = state()
            if obj is not None:
                listeners(self, obj)

    def _check_owner(self, op: str) -> None:
        """Raise if a thread other than this one is inside an exclusive call."""
        owner = self._owner
        if owner is not None and owner[0] != get_ident():
            raise concurrent_use(self, op, owner)

    # -- binds ----------------------------------------------------------------------------
    def _add_bind(self, key: Any, bind: Any) -> None:
        """Bind a mapped class (and with it its table) or a table.

        Raises:
            ArgumentError: ``key`` is neither a mapped class, a Mapper nor a table.
        """
        if isinstance(key, Mapper):
            key = key.class_
        if isinstance(key, type):
            self.__binds[key] = bind
            mapper = getattr(key, "__mapper__", None)
            if isinstance(mapper, Mapper) and mapper.class_ is key:
                self.__binds[mapper.local_table] = bind
        elif isinstance(key, FromClause):
            self.__binds[key] = bind
        else:
            raise exc.ArgumentError(
                f"Not an acceptable bind target: {key!r}; use a mapped class, Mapper or Table."
            )

    def bind_mapper(self, mapper: Any, bind: Any) -> None:
        """Route SQL for ``mapper`` (or class) to ``bind``."""
        self._add_bind(mapper, bind)

    def bind_table(self, table: Any, bind: Any) -> None:
        """Route SQL for ``table`` to ``bind``."""
        self._add_bind(table, bind)

    def get_bind(self, mapper: Any = None, *, clause: Any = None, bind: Any = None,
                 **kw: Any) -> Any:
        """The Engine or Connection to use for ``mapper`` / ``clause``.

        Resolution: explicit ``bind``; the mapper's class and its bases in
        ``binds``; its table; the tables of ``clause``; the session's ``bind``.

        Raises:
            UnboundExecutionError: nothing is bound.
        """
        if bind is not None:
            return bind
        binds = self.__binds
        if binds:
            if mapper is not None:
                cls = mapper.class_ if isinstance(mapper, Mapper) else mapper
                if isinstance(cls, type):
                    for klass in cls.__mro__:
                        if klass in binds:
                            return binds[klass]
                    m = getattr(cls, "__mapper__", None)
                    if m is not None and m.local_table in binds:
                        return binds[m.local_table]
            if clause is not None:
                for table in _ss.tables_of(clause):
                    if table in binds:
                        return binds[table]
        if self.bind is not None:
            return self.bind
        name = getattr(mapper, "__name__", None) or getattr(
            getattr(mapper, "class_", None), "__name__", None)
        raise exc.UnboundExecutionError(
            "Could not locate a bind configured on "
            + (f"mapper {name} or " if name else "")
            + "this Session; pass bind=engine to Session() / sessionmaker() or configure "
            "binds={...}."
        )

    # -- transactions ------------------------------------------------------------------------
    def _check_can_begin(self) -> None:
        """Raise if no new transaction may begin now."""
        if self._closed_for_good:
            raise exc.InvalidRequestError(
                "This Session has been permanently closed (close_resets_only=False) and is "
                "unable to handle any more transaction requests; create a new Session."
            )
        self._check_trans_context()

    def _check_trans_context(self) -> None:
        ctx = self._trans_context_manager
        if ctx is not None and ctx._state in (TxState.CLOSED, TxState.COMMITTED):
            raise exc.InvalidRequestError(
                "Can't operate on closed transaction inside context manager.  Please complete "
                "the context manager before emitting further commands."
            )

    def _autobegin_t(self, begin: bool = False) -> SessionTransaction:
        txn = self._transaction
        if txn is None:
            if not begin and not self.autobegin:
                raise exc.InvalidRequestError(
                    "Autobegin is disabled on this Session; please call session.begin() to "
                    "start a new transaction."
                )
            origin = SessionTransactionOrigin.BEGIN if begin else (
                SessionTransactionOrigin.AUTOBEGIN)
            txn = SessionTransaction(self, origin)
        return txn

    @exclusive
    def begin(self, nested: bool = False) -> SessionTransaction:
        """Begin a transaction explicitly; the result is a context manager
        that commits (or rolls back on error) at the end of the block.

        Raises:
            InvalidRequestError: a transaction is already in progress, begun
                explicitly or by autobegin (use begin_nested() for a SAVEPOINT).
        """
        if nested:
            return self.begin_nested()
        if self._transaction is not None:
            raise exc.InvalidRequestError(
                "A transaction is already begun on this Session (explicitly or by autobegin); "
                "commit() or rollback() it first, or use begin_nested() for a SAVEPOINT."
            )
        return self._autobegin_t(begin=True)

    @exclusive
    def begin_nested(self) -> SessionTransaction:
        """Flush, then begin a SAVEPOINT (beginning the outer transaction if
        needed); a context manager.

        Raises:
            PendingRollbackError: an earlier flush failed; call rollback().
        """
        parent = self._autobegin_t(begin=True)
        parent._check_usable()
        self.flush()
        return SessionTransaction(self, SessionTransactionOrigin.BEGIN_NESTED,
                                  self._autobegin_t(begin=True))

    @exclusive
    def commit(self) -> None:
        """Flush, then commit the outermost transaction (releasing every
        SAVEPOINT); with ``expire_on_commit`` every object is expired.
        Without a transaction this begins one and commits it.

        Raises:
            PendingRollbackError: an earlier flush failed; call rollback().
        """
        self._autobegin_t().commit(_to_root=True)

    @exclusive
    def rollback(self) -> None:
        """Roll back the outermost transaction (and every SAVEPOINT): pending
        objects are expunged, persistent ones expired, objects deleted in the
        transaction restored.  A no-op without a transaction."""
        if self._transaction is not None:
            self._transaction.rollback(_to_root=True)

    @exclusive
    def prepare(self) -> None:
        """First phase of a two-phase commit (``twophase=True`` sessions).

        Raises:
            InvalidRequestError: twophase is off, or a SAVEPOINT is current.
        """
        self._autobegin_t().prepare()

    def in_transaction(self) -> bool:
        """True while a transaction (begun explicitly or by autobegin) is in progress."""
        return self._transaction is not None

    def in_nested_transaction(self) -> bool:
        """True while a SAVEPOINT is in progress."""
        return self._transaction is not None and self._transaction.nested

    def get_transaction(self) -> SessionTransaction | None:
        """The root transaction in progress, or None."""
        txn = self._transaction
        return txn._root() if txn is not None else None

    def get_nested_transaction(self) -> SessionTransaction | None:
        """The innermost SAVEPOINT in progress, or None."""
        txn = self._transaction
        return txn if txn is not None and txn.nested else None

    @property
    def is_active(self) -> bool:
        """False only while a failed flush awaits rollback()."""
        txn = self._transaction
        return txn is None or txn._state is TxState.ACTIVE

    def close(self) -> None:
        """Expunge every object and end the transaction (rolling back what
        was not committed), releasing connections.  The session can be used
        again afterwards unless ``close_resets_only=False``."""
        self._close_impl(invalidate=False, is_reset=False)

    def reset(self) -> None:
        """Like close(), but the session is always usable afterwards."""
        self._close_impl(invalidate=False, is_reset=True)

    def invalidate(self) -> None:
        """close(), invalidating the connections in use (they are discarded
        from their pools, e.g. after a lost connection)."""
        self._close_impl(invalidate=True, is_reset=False)

    @exclusive
    def _close_impl(self, invalidate: bool, is_reset: bool) -> None:
        if not is_reset and not self._close_resets_only:
            self._closed_for_good = True
        self.expunge_all()
        txn = self._transaction
        if txn is not None:
            root = txn._root()
            try:
                root.close(invalidate=invalidate, _restore=False)
            finally:
                self._transaction = None

    def __enter__(self: _T) -> _T:
        return self

    def __exit__(self, *args: Any) -> None:
        self.close()

    @exclusive
    def connection(self, bind_arguments: dict[str, Any] | None = None,
                   execution_options: dict[str, Any] | None = None) -> Any:
        """The Connection of the current transaction for the resolved bind
        (beginning the transaction if needed).

        Args:
            bind_arguments: ``bind``, ``mapper``, ``clause`` for get_bind().
            execution_options: applied when the connection is first procured.
        """
        args = dict(bind_arguments or {})
        bind = args.pop("bind", None) or self.get_bind(**args)
        return self._connection_for_bind(bind, execution_options)

    def _connection_for_bind(self, bind: Any,
                             execution_options: dict[str, Any] | None = None) -> Any:
        self._check_trans_context()
        return self._autobegin_t()._connection_for_bind(bind, execution_options)

    def _connection_for_mapper(self, mapper: Any) -> Any:
        txn = self._transaction or self._autobegin_t()
        return txn._connection_for_bind(self.get_bind(mapper))

    # -- object states ---------------------------------------------------------------------
    @exclusive
    def add(self, instance: Any, _warn: bool = True) -> None:
        """Place an object in the session: transient -> pending (INSERTed at the
        next flush); a detached object becomes persistent again; a persistent
        one marked for deletion is un-marked.

        Raises:
            UnmappedInstanceError: the object's class is not mapped.
            InvalidRequestError: the object belongs to another session, was
                deleted, or another object with its identity is already here.
        """
        self._add_one(instance)

    def _add_one(self, instance: Any) -> None:
        self._save_cascading(state_of(instance, "add"), instance)

    def _cascade_save(self, state: InstanceState, obj: Any) -> None:
        """save-update cascade from an attribute event: ``obj`` (and what it
        cascades to) joins the session, unless it was deleted."""
        if not state.flags & WAS_DELETED:
            self._save_cascading(state, obj)

    def _save_cascading(self, state: InstanceState, obj: Any) -> None:
        self._save_or_update(state, obj)
        mapper = state.mapper
        if mapper._save_cascades:
            if not mapper._configured and mapper.registry is not None:
                mapper.registry.configure()
            self._cascade_children(state, obj)

    def _cascade_children(self, state: InstanceState, obj: Any) -> None:
        from docket.orm.cascade import save_children

        save_children(self, state, obj)

    @exclusive
    def add_all(self, instances: Iterable[Any]) -> None:
        """``add()`` each object."""
        _ss.add_all(self, instances)  # (the session is claimed once for the batch)

    def _before_attach(self, state: InstanceState) -> None:
        sid = state.session_id
        if sid is not None and sid != self.hash_key and sid in _sessions:
            raise exc.InvalidRequestError(
                f"Object {state_str(state)} is already attached to session '{sid}' (this is "
                f"'{self.hash_key}'); expunge it from that session first, or use "
                "session.merge(obj) to copy its state into this one."
            )
        self._autobegin_t()

    def delete(self, instance: Any) -> None:
        """Mark a persistent (or detached) object for deletion at the next flush.

        Raises:
            UnmappedInstanceError: the object's class is not mapped.
            InvalidRequestError: the object is transient or pending (never
                persisted), was already deleted, or belongs to another session.
        """
        if self._owner is not None:
            self._check_owner("delete")
        state = state_of(instance, "delete")
        cascaded: list[tuple[InstanceState, Any]] = []
        if state.mapper._delete_cascades and state.ident is not None and not (
                state.flags & WAS_DELETED):
            from docket.orm.cascade import cascade_iter

            # collected before the object is marked, so that loading the
            # children (which autoflushes) doesn't delete it already
            cascaded = list(cascade_iter(state, instance, "delete", load=True))
        self._delete_state(state, instance, head=True)
        for istate, item in cascaded:
            if istate.ident is None:
                if istate in self._new:
                    self._expunge_state(istate, to_transient=False)
                continue
            self._delete_state(istate, item, head=False)

    def expunge(self, instance: Any) -> None:
        """Remove an object from the session (pending -> transient,
        persistent / deleted -> detached).

        Raises:
            InvalidRequestError: the object is not in this session.
        """
        if self._owner is not None:
            self._check_owner("expunge")
        state = state_of(instance, "expunge")
        if state.session_id != self.hash_key:
            raise exc.InvalidRequestError(
                f"Instance {state_str(state)} is not present in this Session; nothing to "
                "expunge (check object_session(obj) for the session it belongs to)."
            )
        event = ("pending_to_transient" if state.ident is None else
                 "deleted_to_detached" if state.flags & DELETED else "persistent_to_detached")
        txn = self._transaction
        while txn is not None:  # a flushed delete is no longer restored by rollback
            txn._deleted.pop(state, None)
            txn = txn.parent
        self._expunge_state(state, to_transient=False)
        self._dispatch_state(event, state)
        if state.mapper._other_cascades:
            from docket.orm.cascade import cascade_iter

            sid = self.hash_key
            for istate, _item in list(cascade_iter(state, instance, "expunge")):
                if istate.session_id == sid:
                    self._expunge_state(istate, to_transient=False)

    def expunge_all(self) -> None:
        """Remove every object: pending ones become transient, the rest detached."""
        if self._owner is not None:
            self._check_owner("expunge_all")
        d = self.dispatch
        if d.pending_to_transient or d.persistent_to_detached or d.deleted_to_detached:
            pending = list(self._new)
            persistent = self._identity_map.all_states()
            _ss.detach_all(self)
            for state in pending:
                self._dispatch_state("pending_to_transient", state)
            for state in persistent:
                self._dispatch_state("persistent_to_detached", state)
            return
        _ss.detach_all(self)

    def __contains__(self, instance: Any) -> bool:
        state = state_of(instance, "__contains__")
        if state.session_id != self.hash_key:
            return False
        return state in self._new or self._identity_map._contains_state(state)

    def __iter__(self) -> Iterator[Any]:
        return iter(list(self._new.values()) + self._identity_map.values())

    @property
    def identity_map(self) -> IdentityMap:
        """Persistent objects by identity key ``(class, pk tuple, token)``."""
        return self._identity_map

    @property
    def new(self) -> list[Any]:
        """Pending objects (an ordered snapshot)."""
        return list(self._new.values())

    @property
    def deleted(self) -> list[Any]:
        """Objects marked for deletion and not yet flushed."""
        return list(self._deleted.values())

    @property
    def dirty(self) -> list[Any]:
        """Persistent objects with attribute changes (optimistic: any set
        counts; use is_modified() for net changes)."""
        sid = self.hash_key
        return [obj for s, obj in self._modified.items()
                if s.ident is not None and s.modified and s.session_id == sid
                and s not in self._deleted]

    def is_modified(self, instance: Any, include_collections: bool = True) -> bool:
        """True if the object has a net change to any attribute.

        Raises:
            UnmappedInstanceError: the object's class is not mapped.
        """
        from docket.orm.attributes import _values_equal

        state = state_of(instance, "is_modified")
        committed = state.committed_state
        if not committed:
            return False
        d = state.dict
        return any(not _values_equal(old, d.get(k, NO_VALUE)) for k, old in committed.items())

    def _has_changes(self) -> bool:
        return bool(self._new or self._deleted or self._modified)

    # -- expire / refresh -----------------------------------------------------------------------
    def expire(self, instance: Any, attribute_names: Iterable[str] | None = None) -> None:
        """Discard loaded values (all, or the named attributes) and pending
        changes to them; they are reloaded on next access.

        Raises:
            InvalidRequestError: the object is not persistent in this
                session, or an attribute name is not mapped.
        """
        if self._owner is not None:
            self._check_owner("expire")
        state = self._persistent_state(instance, "expire")
        if attribute_names is not None:
            attribute_names = _ss.check_attribute_names(state, attribute_names)
        self._cascade_expire(state, instance)
        self._expire_state(state, attribute_names)

    def _cascade_expire(self, state: InstanceState, instance: Any) -> None:
        """refresh-expire cascade: loaded related objects are expired too."""
        if state.mapper._other_cascades:
            from docket.orm.cascade import expire_related

            expire_related(self, state, instance)

    def expire_all(self) -> None:
        """Expire every persistent object in the session."""
        if self._owner is not None:
            self._check_owner("expire_all")
        _ss.expire_states(self, self._identity_map._filed_states())

    @exclusive
    def refresh(self, instance: Any, attribute_names: Iterable[str] | None = None,
                with_for_update: Any = None) -> None:
        """Expire, then reload the object's attributes (all, or the named
        ones) from the database now, discarding pending changes to them.

        Args:
            with_for_update: True (or a dict of ``with_for_update()``
                options) to lock the row with SELECT ... FOR UPDATE.

        Raises:
            InvalidRequestError: the object is not persistent in this session.
            ObjectDeletedError: its row no longer exists.
        """
        _ss.refresh_state(self, self._persistent_state(instance, "refresh"), instance,
                          attribute_names, with_for_update)

    @exclusive
    def _load_on_access(self, state: InstanceState, key: str) -> None:
        """An unloaded attribute was read: load it (with everything expired)."""
        txn = self._transaction
        if txn is not None:
            txn._check_usable()
        if state.flags & DELETED:
            raise exc.ObjectDeletedError(
                f"Instance {state_str(state)} has been deleted in this transaction; its "
                f"attribute {key!r} can't be loaded (rollback() restores the object)."
            )
        keys = _ss.keys_to_load(state, key)
        self._autoflush()
        loading.load_attributes(self, state, keys)
        _ss.clear_expired(state, keys)

    # -- flush --------------------------------------------------------------------------------
    def _autoflush(self) -> None:
        if self.autoflush and not self._flushing and self._has_changes():
            try:
                self.flush()
            except exc.StatementError as e:
                e.add_detail(
                    "(This happened during autoflush: the operation above flushed pending "
                    "changes first. Wrap it in `with session.no_autoflush:` to avoid that.)"
                )
                raise

    @property
    @contextmanager
    def no_autoflush(self) -> Iterator[Session]:
        """``with session.no_autoflush:`` -- suspend autoflush in the block."""
        old = self.autoflush
        self.autoflush = False
        try:
            yield self
        finally:
            self.autoflush = old

    @exclusive
    def flush(self, objects: Sequence[Any] | None = None) -> None:
        """Write pending changes (or only those of ``objects``) to the database
        in one ordered, batched unit of work.

        On failure the flush's work is rolled back, the session's transaction
        becomes inactive (PendingRollbackError until rollback()), and the
        error names the statement, parameters and objects involved.

        Raises:
            InvalidRequestError: called from inside a flush.
            PendingRollbackError: an earlier flush failed; call rollback().
        """
        if self._flushing:
            raise exc.InvalidRequestError(
                "Session is already flushing; don't call flush() (or run queries that "
                "autoflush) from inside flush events."
            )
        if not self._has_changes():
            return
        from docket.orm.unitofwork import flush as _flush

        self._flushing = True
        try:
            _flush(self, objects)
        finally:
            self._flushing = False

    # -- querying -----------------------------------------------------------------------------
    @exclusive
    def execute(self, statement: Any, params: Any = None, *,
                execution_options: Mapping[str, Any] | None = None,
                bind_arguments: dict[str, Any] | None = None, **kw: Any) -> Any:
        """Execute a statement: an ORM ``select(User)`` returns a Result of
        objects (autoflushing first unless ``execution_options(autoflush=False)``);
        Core statements run on the session's connection."""
        opts: dict[str, Any] = dict(getattr(statement, "_execution_options", None) or {})
        if execution_options:
            opts.update(execution_options)
        bind_arguments = dict(bind_arguments or {})
        orm = loading.is_orm_statement(statement)
        if orm and "mapper" not in bind_arguments:
            bind_arguments["mapper"] = _ss.first_mapper(statement)
        bind_arguments.setdefault("clause", statement)
        if orm and self.dispatch.do_orm_execute:
            return self._invoke_orm(ORMExecuteState(
                self, statement, params, opts, bind_arguments, self._invoke_orm))
        return self._execute_impl(statement, params, opts, bind_arguments, orm)

    def _invoke_orm(self, st: ORMExecuteState) -> Any:
        """Run the remaining ``do_orm_execute`` listeners; the first to return
        a Result replaces execution, else the statement runs."""
        entries = self.dispatch.do_orm_execute.retval_entries()
        while st._position < len(entries):
            fn = entries[st._position].call
            st._position += 1
            result = fn(st)
            if result is not None:
                return result
        st._position = len(entries)
        return self._execute_impl(st.statement, st.parameters, st._opts, st.bind_arguments,
                                  loading.is_orm_statement(st.statement))

    def _execute_impl(self, statement: Any, params: Any, opts: dict[str, Any],
                      bind_arguments: dict[str, Any], orm: bool) -> Any:
        if orm and opts.get("autoflush", True):
            self._autoflush()
        if orm and getattr(statement, "is_dml", False):
            return bulk_persistence.execute_orm_dml(self, statement, params, opts,
                                                    bind_arguments)
        conn = self.connection(bind_arguments)
        if orm and getattr(statement, "is_select", False):
            return loading.instances(self, conn, statement, params, opts)
        return conn.execute(statement, params, execution_options=opts or None)

    def scalars(self, statement: Any, params: Any = None, **kw: Any) -> Any:
        """``execute(...).scalars()``: the first entity/column of each row."""
        return self.execute(statement, params, **kw).scalars()

    def scalar(self, statement: Any, params: Any = None, **kw: Any) -> Any:
        """``execute(...).scalar()``: the first column of the first row."""
        return self.execute(statement, params, **kw).scalar()

    def get(self, entity: type[_T], ident: Any, *, options: Sequence[Any] | None = None,
            populate_existing: bool = False, with_for_update: Any = None,
            identity_token: Any = None, execution_options: Mapping[str, Any] | None = None,
            bind_arguments: dict[str, Any] | None = None) -> _T | None:
        """The object with this primary key, or None.

        No SQL is emitted when the object is already in the identity map and
        not expired; otherwise pending changes are autoflushed and the row is
        SELECTed.

        Args:
            ident: a scalar, a tuple in primary-key column order, or a dict
                keyed by primary-key attribute names.
            populate_existing: always SELECT and overwrite the loaded object.
            with_for_update: True (or a dict of options) to SELECT ... FOR UPDATE.

        Raises:
            UnmappedClassError: ``entity`` is not mapped.
            InvalidRequestError: ``ident`` has the wrong number of values.
        """
        if (ident.__class__ in _SCALAR_IDENTS and not populate_existing and options is None
                and with_for_update is None and identity_token is None
                and execution_options is None):
            # hot path: a scalar key of a loaded, unexpired object -- no SQL,
            # no argument normalising (falls through to the full path on any miss)
            mapper = entity.__dict__.get("__mapper__") if isinstance(entity, type) else None
            if mapper is not None and len(mapper._pk_keys) == 1 and (
                mapper.registry is None or mapper.registry._configured
            ):
                states = self._identity_map._maps.get(mapper.base_mapper)
                state = states.get(ident) if states is not None else None
                if state is not None and not state.flags & EXPIRED:
                    obj = state()
                    if obj is not None and isinstance(obj, entity):
                        return obj
                elif state is None and ident is not None and not (
                        mapper._eager_candidates or mapper._joined_rels
                        or self.dispatch.do_orm_execute):
                    return self._get_miss(mapper, ident, states)  # one SELECT
        return self._get_impl(entity, ident, options, populate_existing, with_for_update,
                              identity_token, execution_options)

    @exclusive
    def _get_miss(self, mapper: Mapper, ident: Any, states: Any) -> Any:
        """get() of a scalar key not in the identity map, nothing special about the
        mapper or the call: autoflush, then one primary-key SELECT."""
        if self.autoflush and not self._flushing and self._has_changes():
            self._autoflush()
        return loading.get_miss(self, mapper, ident, states)

    @exclusive
    def _get_impl(self, entity: Any, ident: Any, options: Sequence[Any] | None,
                  populate_existing: bool, with_for_update: Any, identity_token: Any,
                  execution_options: Mapping[str, Any] | None) -> Any:
        """get() past its identity-map hot path (may autoflush and SELECT)."""
        mapper = entity if isinstance(entity, Mapper) else class_mapper(entity)
        pk = _ss.normalize_ident(mapper, ident)
        if pk is None:
            return None
        if execution_options and execution_options.get("populate_existing"):
            populate_existing = True
        if not populate_existing and not with_for_update:
            found, obj = self._identity_lookup(mapper, pk, identity_token)
            if found:
                return obj
        if self.dispatch.do_orm_execute or options or (
                mapper._eager_candidates or mapper._joined_rels):
            # a full ORM SELECT: listeners see (and may replace) it, loader
            # options and eager relationships apply to it
            stmt = Select(mapper.class_).where(
                *[col == value for col, value in zip(mapper.primary_key, pk)])
            if options:
                stmt = stmt.options(*options)
            if with_for_update:
                stmt = stmt.with_for_update(
                    **(with_for_update if isinstance(with_for_update, dict) else {}))
            opts = dict(execution_options or {})
            if populate_existing:
                opts["populate_existing"] = True
            return self.execute(stmt, execution_options=opts).scalars().unique(
                id).one_or_none()
        self._autoflush()
        return loading.load_by_pk(
            self, mapper, pk, populate_existing=populate_existing,
            with_for_update=with_for_update)

    def _identity_lookup(self, mapper: Mapper, pk: tuple[Any, ...],
                         identity_token: Any) -> tuple[bool, Any]:
        """``(True, obj or None)`` when the identity map answers get(), else
        ``(False, None)``; a wholly expired object is refreshed on the way."""
        state = self._identity_map._get_state(mapper, mapper._ident_from_pk(pk),
                                              identity_token)
        obj = state() if state is not None else None
        if state is None or obj is None:
            return False, None
        if not isinstance(obj, mapper.class_):
            return True, None
        if state.flags & EXPIRED:  # (only some attributes expired: no load, as SQLAlchemy)
            try:
                self._load_on_access(state, mapper._pk_keys[0])
            except exc.ObjectDeletedError:
                self._mark_deleted(state)
                return True, None
        return True, obj

    def get_one(self, entity: type[_T], ident: Any, **kw: Any) -> _T:
        """Like get(), but the object must exist.

        Raises:
            NoResultFound: there is no row with this primary key.
        """
        obj = self.get(entity, ident, **kw)
        if obj is None:
            raise exc.NoResultFound(
                f"No row was found when one was required: no {getattr(entity, '__name__', entity)}"
                f" with primary key {ident!r}; use session.get() to get None instead."
            )
        return obj

    def query(self, *entities: Any, **kw: Any) -> Any:
        """Legacy ``Query`` API (``session.query(User).filter(...).all()``)."""
        return (self._query_cls or Query)(entities, self)

    # -- bulk operations (legacy API; see docs/bulk.md) ---------------------------------
    @exclusive
    def bulk_save_objects(self, objects: Iterable[Any], return_defaults: bool = False,
                          update_changed_only: bool = True, preserve_order: bool = True) -> None:
        """INSERT/UPDATE objects in batches without tracking them in the session."""
        bulk_persistence.bulk_save_objects(self, objects, return_defaults, update_changed_only,
                                           preserve_order)

    @exclusive
    def bulk_insert_mappings(self, mapper: Any, mappings: Iterable[dict[str, Any]],
                             return_defaults: bool = False, render_nulls: bool = False) -> None:
        """INSERT rows given as dicts of attribute values, in batches."""
        bulk_persistence.bulk_insert_mappings(self, mapper, mappings, return_defaults,
                                              render_nulls)

    @exclusive
    def bulk_update_mappings(self, mapper: Any, mappings: Iterable[dict[str, Any]]) -> None:
        """UPDATE rows by primary key from dicts of attribute values, in batches."""
        bulk_persistence.bulk_update_mappings(self, mapper, mappings)

    @exclusive
    def merge(self, instance: _T, *, load: bool = True, options: Any = None) -> _T:
        """Copy the state of ``instance`` onto the persistent object with the
        same identity (loading it, or creating a pending one) and return that.

        Raises:
            InvalidRequestError: ``load=False`` with a transient or modified object.
        """
        state = state_of(instance, "merge")
        if load:
            self._autoflush()
        with self.no_autoflush:
            return self._merge(state, instance, load, {})

    def _merge(self, state: InstanceState, instance: Any, load: bool,
               memo: dict[InstanceState, Any]) -> Any:
        """merge() of one object, then of its related objects (merge cascade);
        ``memo`` maps each source state to its merged object."""
        found = memo.get(state)
        if found is not None:
            return found
        target = _ss.merge_state(self, state, instance, load)
        memo[state] = target
        if target is not instance and state.mapper._other_cascades:
            from docket.orm.cascade import merge_related

            merge_related(self, state, instance, target, load, memo)
        return target

    def enable_relationship_loading(self, obj: Any) -> None:
        """Let a transient/detached object lazy-load through this session."""
        state_of(obj, "enable_relationship_loading").session_id = self.hash_key

    # -- class-level helpers -------------------------------------------------------------------
    @classmethod
    def object_session(cls, instance: Any) -> Session | None:
        """The Session an object belongs to, or None."""
        return object_session(instance)

    @classmethod
    def identity_key(cls, class_: Any = None, ident: Any = None, *, instance: Any = None,
                     row: Any = None, identity_token: Any = None) -> tuple[Any, ...]:
        """SQLAlchemy's identity key for a class + primary key, or an instance."""
        from docket.orm.util import identity_key

        return identity_key(class_, ident, instance=instance, row=row,
                            identity_token=identity_token)

    @classmethod
    def close_all(cls) -> None:
        """close() every Session in the process."""
        close_all_sessions()

    def __repr__(self) -> str:
        return f"<Session {self.hash_key} objects={len(self._identity_map) + len(self._new)}>"


_INSERTED = 8  # state flag: the row was INSERTed by a flush (see unitofwork)
