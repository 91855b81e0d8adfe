"""Session: identity map + unit of work + transaction, per SPEC §5.

Collections (all keyed by InstanceState; values hold the object strongly):

* ``_new`` -- pending objects, in the order they were added;
* ``_deleted`` -- persistent objects marked for deletion, not yet flushed;
* ``_modified`` -- objects changed since their last load/flush (set by the
  first attribute change, see ``InstanceState._modified_event``).

Clean persistent objects live only in the weak identity map.  A Session is
not thread-safe: use one per thread or request (``scoped_session``).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

from docket import exc
from docket.orm import loading
from docket.orm.identity import IdentityMap
from docket.orm.mapper import Mapper, class_mapper
from docket.orm.state import (
    DELETED,
    EXPIRED,
    NO_VALUE,
    STATE_KEY,
    WAS_DELETED,
    InstanceState,
    _sessions,
    instance_state,
)
from docket.orm.transaction import SessionTransaction, SessionTransactionOrigin, TxState

__all__ = ["Session", "close_all_sessions", "make_transient", "make_transient_to_detached",
           "object_session"]

_T = TypeVar("_T")
_ids = itertools.count(1)
_JOIN_MODES = ("conservative_savepoint", "create_savepoint", "rollback_only", "control_fully")


def _state_str(state: InstanceState) -> str:
    obj = state()
    return f"<{state.mapper.class_.__name__} at 0x{id(obj):x}>"


def _state_of(obj: Any) -> InstanceState:
    try:
        return obj.__dict__[STATE_KEY]  # type: ignore[no-any-return]
    except (KeyError, AttributeError):
        return instance_state(obj)


class Session:
    """Manages persistence operations for mapped objects.

    Args:
        bind: an Engine or Connection.
        autoflush: flush before queries and lazy loads.
        expire_on_commit: expire every object after commit.
        autobegin: begin a transaction on first use (if False, call begin()).
        twophase: two-phase commit across every enlisted database.
        binds: mapper / class / table -> Engine, for several databases.
        join_transaction_mode: how to use a ``bind`` Connection that is
            already in a transaction (``"conservative_savepoint"``,
            ``"create_savepoint"``, ``"rollback_only"``, ``"control_fully"``).
        info: a user dict.
    """

    _close_state_transient = False

    def __init__(self, bind: Any = None, *, autoflush: bool = True,
                 expire_on_commit: bool = True, autobegin: bool = True,
                 twophase: bool = False, binds: Mapping[Any, Any] | None = None,
                 enable_baked_queries: bool = True, info: dict[Any, Any] | None = None,
                 query_cls: Any = None, autocommit: bool = False,
                 join_transaction_mode: str = "conservative_savepoint",
                 close_resets_only: bool = True) -> None:
        if autocommit:
            raise exc.ArgumentError(
                "autocommit=True is a SQLAlchemy 1.x mode that docket does not support; "
                "use session.begin() blocks instead."
            )
        if join_transaction_mode not in _JOIN_MODES:
            raise exc.ArgumentError(
                f"join_transaction_mode must be one of {_JOIN_MODES}, got {join_transaction_mode!r}"
            )
        self.hash_key = next(_ids)
        _sessions[self.hash_key] = self
        self.bind = bind
        self.autoflush = autoflush
        self.expire_on_commit = expire_on_commit
        self.autobegin = autobegin
        self.twophase = twophase
        self.join_transaction_mode = join_transaction_mode
        self.info: dict[Any, Any] = dict(info or {})
        self._query_cls = query_cls
        self.__binds: dict[Any, Any] = {}
        for key, value in (binds or {}).items():
            self._add_bind(key, value)
        self._identity_map = IdentityMap()
        self._new: dict[InstanceState, Any] = {}
        self._deleted: dict[InstanceState, Any] = {}
        self._modified: dict[InstanceState, Any] = {}
        self._transaction: SessionTransaction | None = None
        self._flushing = False
        self._connection_execution_options: dict[str, Any] = {}
        self._warn_on_events = False

    # -- event hooks (SessionEvents arrive with the session-surface issue) --------------
    def _dispatch_after_transaction_create(self, txn: SessionTransaction) -> None:
        pass

    def _dispatch_after_transaction_end(self, txn: SessionTransaction) -> None:
        pass

    def _dispatch_after_begin(self, txn: SessionTransaction, conn: Any) -> None:
        pass

    def _dispatch_before_commit(self) -> None:
        pass

    def _dispatch_after_rollback(self, txn: SessionTransaction) -> None:
        pass

    # -- binds ----------------------------------------------------------------------------
    def _add_bind(self, key: Any, bind: Any) -> None:
        if isinstance(key, type) or isinstance(key, Mapper):
            self.__binds[key.class_ if isinstance(key, Mapper) else key] = bind
        else:
            self.__binds[key] = bind

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
        ``binds``; the table; the session's ``bind``.

        Raises:
            UnboundExecutionError: nothing is bound.
        """
        if bind is not None:
            return bind
        if self.__binds:
            if mapper is not None:
                cls = mapper.class_ if isinstance(mapper, Mapper) else mapper
                if isinstance(cls, type):
                    for klass in cls.__mro__:
                        if klass in self.__binds:
                            return self.__binds[klass]
                    m = getattr(cls, "__mapper__", None)
                    if m is not None and m.local_table in self.__binds:
                        return self.__binds[m.local_table]
            if clause is not None:
                for table in _tables_of(clause):
                    if table in self.__binds:
                        return self.__binds[table]
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
    def _autobegin_t(self) -> SessionTransaction:
        txn = self._transaction
        if txn is None:
            if not self.autobegin:
                raise exc.InvalidRequestError(
                    "Autobegin is disabled on this Session; call session.begin() first."
                )
            txn = self._transaction = SessionTransaction(self, SessionTransactionOrigin.AUTOBEGIN)
        return txn

    def begin(self, nested: bool = False) -> SessionTransaction:
        """Begin a transaction explicitly (a context manager).

        Raises:
            InvalidRequestError: a transaction is already in progress (use
                begin_nested() for a SAVEPOINT).
        """
        if nested:
            return self.begin_nested()
        if self._transaction is not None:
            raise exc.InvalidRequestError(
                "A transaction is already begun on this Session (explicitly or by autobegin); "
                "commit() or rollback() it first, or use begin_nested() for a SAVEPOINT."
            )
        self._transaction = SessionTransaction(self, SessionTransactionOrigin.BEGIN)
        return self._transaction

    def begin_nested(self) -> SessionTransaction:
        """Begin a SAVEPOINT (flushing pending changes first); a context manager."""
        parent = self._autobegin_t()
        parent._check_usable()
        self.flush()
        if parent is not self._transaction:
            parent = self._autobegin_t()
        txn = SessionTransaction(self, SessionTransactionOrigin.BEGIN_NESTED, parent)
        self._transaction = txn
        return txn

    def commit(self) -> None:
        """Flush, then commit the transaction (and every SAVEPOINT inside it).

        With no transaction in progress this autobegins one and commits it.

        Raises:
            PendingRollbackError: an earlier flush failed; call rollback().
        """
        txn = self._transaction
        if txn is None:
            txn = self._autobegin_t()
        txn.commit(_to_root=True)

    def rollback(self) -> None:
        """Roll back the whole transaction (every SAVEPOINT and the root).

        Pending objects are expunged, persistent ones expired, objects deleted
        in the transaction restored.  A no-op without a transaction.
        """
        txn = self._transaction
        while txn is not None:
            parent = txn.parent
            txn.rollback()
            txn = parent
        self._transaction = None

    def prepare(self) -> None:
        """First phase of a two-phase commit.

        Raises:
            InvalidRequestError: no transaction, or twophase is not enabled.
        """
        txn = self._transaction
        if txn is None:
            raise exc.InvalidRequestError("No transaction is begun; nothing to prepare.")
        txn._root().prepare()

    def in_transaction(self) -> bool:
        return self._transaction is not None

    def in_nested_transaction(self) -> bool:
        return self._transaction is not None and self._transaction.nested

    def get_transaction(self) -> SessionTransaction | None:
        txn = self._transaction
        return txn._root() if txn is not None else None

    def get_nested_transaction(self) -> SessionTransaction | None:
        txn = self._transaction
        return txn if txn is not None and txn.nested else None

    @property
    def is_active(self) -> bool:
        """False only while a failed flush awaits rollback()."""
        txn = self._transaction
        return txn is None or txn._state is TxState.ACTIVE

    def _finish_commit(self, txn: SessionTransaction) -> None:
        """After the root committed: deleted -> detached, expire on commit."""
        for state in list(txn._deleted):
            state.session_id = None
            state.flags &= ~DELETED
        if self.expire_on_commit:
            for state in self._identity_map.all_states():
                self._expire_state(state)

    def _restore_after_rollback(self, txn: SessionTransaction) -> None:
        root = txn.parent is None
        for state in list(txn._new) + list(self._new):
            self._expunge_state(state, to_transient=True)
        for state in list(txn._deleted) + list(self._deleted):
            self._restore_deleted(state)
        self._deleted.clear()
        for state in self._identity_map.all_states():
            if root or state.modified or state in txn._dirty:
                self._expire_state(state)
        if txn.parent is not None:
            txn.parent._dirty.update(txn._dirty)

    def _restore_deleted(self, state: InstanceState) -> None:
        state.flags &= ~DELETED
        if not state.flags & WAS_DELETED or state.session_id == self.hash_key:
            state.session_id = self.hash_key
            if state.ident is not None and state() is not None:
                self._identity_map._replace(state)
        state.flags &= ~WAS_DELETED

    def close(self) -> None:
        """Expunge every object and end the transaction, releasing connections.
        The session can be used again afterwards."""
        self._close_impl(invalidate=False)

    def reset(self) -> None:
        """Same as close(): end the transaction and expunge everything."""
        self._close_impl(invalidate=False)

    def invalidate(self) -> None:
        """Invalidate the connections in use (discarding them from their pools),
        then close."""
        self._close_impl(invalidate=True)

    def _close_impl(self, invalidate: bool) -> None:
        txn = self._transaction
        if txn is not None:
            root = txn._root()
            if invalidate:
                for bound in root._connections.values():
                    if not bound.connection.closed and not bound.connection.invalidated:
                        bound.connection.invalidate()
            try:
                # SAVEPOINTs end with their root: closing it rolls everything back
                t: SessionTransaction | None = txn
                while t is not None and t is not root:
                    t._state = TxState.CLOSED
                    t = t.parent
                root.close()
            finally:
                self._transaction = None
        self.expunge_all()

    def __enter__(self: _T) -> _T:
        return self

    def __exit__(self, *args: Any) -> None:
        self.close()

    def connection(self, bind_arguments: dict[str, Any] | None = None,
                   execution_options: dict[str, Any] | None = None) -> Any:
        """The Connection of the current transaction (beginning one if needed)."""
        bind_arguments = bind_arguments or {}
        bind = self.get_bind(**bind_arguments)
        txn = self._autobegin_t()
        if execution_options and not txn._connections:
            self._connection_execution_options = dict(execution_options)
        return txn._connection_for_bind(bind)

    def _connection_for_mapper(self, mapper: Any) -> Any:
        txn = self._transaction
        if txn is None:
            txn = self._autobegin_t()
        return txn._connection_for_bind(self.get_bind(mapper))

    # -- object states ---------------------------------------------------------------------
    def add(self, instance: Any, _warn: bool = True) -> None:
        """Place an object in the session: transient -> pending (INSERTed at the
        next flush); a detached object becomes persistent again.

        Raises:
            UnmappedInstanceError: the object's class is not mapped.
            InvalidRequestError: the object belongs to another session, or
                another object with its identity is already here.
        """
        state = _state_of(instance)
        self._save_or_update(state, instance)

    def add_all(self, instances: Iterable[Any]) -> None:
        """``add()`` each object."""
        for obj in instances:
            self.add(obj)

    def _save_or_update(self, state: InstanceState, obj: Any) -> None:
        sid = state.session_id
        if sid is not None and sid != self.hash_key and sid in _sessions:
            raise exc.InvalidRequestError(
                f"Object {_state_str(state)} is already attached to session {sid} (this is "
                f"{self.hash_key}); expunge it from the other session or use merge()."
            )
        if state.ident is None:
            if state in self._new:
                return
            self._autobegin_t()
            state.session_id = self.hash_key
            self._new[state] = obj
            if state.modified:
                self._modified[state] = obj
        else:
            if state.session_id == self.hash_key:
                if state in self._deleted:
                    return
                if self._identity_map._contains_state(state):
                    return
            if state.flags & DELETED:
                raise exc.InvalidRequestError(
                    f"Instance {_state_str(state)} has been deleted; use make_transient() "
                    "to re-insert it as a new object."
                )
            self._autobegin_t()
            self._identity_map._add(state)
            state.session_id = self.hash_key
            if state.modified:
                self._modified[state] = obj

    def delete(self, instance: Any) -> None:
        """Mark a persistent object for deletion at the next flush.

        Raises:
            InvalidRequestError: the object is transient (never persisted) or
                belongs to another session.
        """
        state = _state_of(instance)
        if state.ident is None:
            raise exc.InvalidRequestError(
                f"Instance {_state_str(state)} is not persisted; a transient or pending "
                "object can't be deleted (use expunge() to discard a pending one)."
            )
        if state.session_id != self.hash_key or not self._identity_map._contains_state(state):
            if state.flags & DELETED and state.session_id == self.hash_key:
                return
            self._save_or_update(state, instance)
        if state in self._deleted:
            return
        self._deleted[state] = instance

    def expunge(self, instance: Any) -> None:
        """Remove an object from the session (pending -> transient,
        persistent -> detached).

        Raises:
            InvalidRequestError: the object is not in this session.
        """
        state = _state_of(instance)
        if state.session_id != self.hash_key:
            raise exc.InvalidRequestError(
                f"Instance {_state_str(state)} is not present in this Session."
            )
        self._expunge_state(state, to_transient=False)

    def _expunge_state(self, state: InstanceState, to_transient: bool) -> None:
        self._new.pop(state, None)
        self._deleted.pop(state, None)
        self._modified.pop(state, None)
        if state.ident is not None:
            self._identity_map._discard(state)
        state.session_id = None
        if to_transient and state.ident is not None and not state.flags & WAS_DELETED and (
            state.flags & _INSERTED
        ):
            _make_transient(state)

    def expunge_all(self) -> None:
        """Remove every object from the session."""
        for state in self._identity_map.all_states():
            state.session_id = None
        for state in list(self._new) + list(self._deleted):
            state.session_id = None
        self._identity_map._clear()
        self._new.clear()
        self._deleted.clear()
        self._modified.clear()

    def __contains__(self, instance: Any) -> bool:
        try:
            state = _state_of(instance)
        except exc.UnmappedInstanceError:
            raise
        if state.session_id != self.hash_key:
            return False
        return state in self._new or self._identity_map._contains_state(state)

    def __iter__(self) -> Iterator[Any]:
        return iter(list(self._new.values()) + self._identity_map.values())

    @property
    def identity_map(self) -> IdentityMap:
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
        return [obj for s, obj in self._modified.items()
                if s.ident is not None and s not in self._deleted and s.modified
                and s.session_id == self.hash_key]

    def is_modified(self, instance: Any, include_collections: bool = True) -> bool:
        """True if the object has a net change to any attribute."""
        from docket.orm.attributes import _values_equal

        state = _state_of(instance)
        committed = state.committed_state
        if not committed:
            return False
        d = state.dict
        return any(not _values_equal(old, d.get(k, NO_VALUE)) for k, old in committed.items())

    def _has_changes(self) -> bool:
        return bool(self._new or self._deleted or self._modified)

    # -- expire / refresh -----------------------------------------------------------------------
    def _expire_state(self, state: InstanceState, keys: Iterable[str] | None = None) -> None:
        obj = state()
        if obj is None:
            return
        d = obj.__dict__
        if keys is None:
            for k in state.mapper._column_attr_keys:
                d.pop(k, None)
            for prop in state.mapper._props.values():
                if prop.is_relationship:
                    d.pop(prop.key, None)
            state.flags |= EXPIRED
            state.expired_attributes = None
            state.committed_state = None
            state.modified = False
            self._modified.pop(state, None)
            return
        expired = state.expired_attributes
        if expired is None:
            expired = state.expired_attributes = set()
        committed = state.committed_state
        for k in keys:
            d.pop(k, None)
            expired.add(k)
            if committed is not None:
                committed.pop(k, None)
        if committed is not None and not committed:
            state.committed_state = None
            state.modified = False
            self._modified.pop(state, None)

    def expire(self, instance: Any, attribute_names: Iterable[str] | None = None) -> None:
        """Discard loaded values (all, or the named attributes); they are
        reloaded on next access.  Pending changes to them are discarded.

        Raises:
            InvalidRequestError: the object is not persistent in this session.
        """
        state = self._persistent_state(instance, "expire")
        if attribute_names is not None:
            for k in attribute_names:
                if k not in state.mapper.attrs:
                    raise exc.InvalidRequestError(
                        f"{state.mapper.class_.__name__} has no mapped attribute {k!r}"
                    )
        self._expire_state(state, attribute_names)

    def expire_all(self) -> None:
        """Expire every persistent object in the session."""
        for state in self._identity_map.all_states():
            self._expire_state(state)

    def refresh(self, instance: Any, attribute_names: Iterable[str] | None = None,
                with_for_update: Any = None) -> None:
        """Reload the object's attributes from the database now (discarding
        pending changes to them).

        Raises:
            InvalidRequestError: the object is not persistent in this session.
            ObjectDeletedError: its row no longer exists.
        """
        state = self._persistent_state(instance, "refresh")
        mapper = state.mapper
        keys = list(attribute_names) if attribute_names is not None else list(
            mapper._eager_column_keys
        )
        col_keys = [k for k in keys if k in mapper._key_to_col]
        self._autoflush()
        self._expire_state(state, keys)
        if col_keys:
            if with_for_update:
                pk = state.identity
                assert pk is not None
                obj = loading.load_by_pk(self, mapper, pk, keys=col_keys,
                                         populate_existing=True,
                                         with_for_update=with_for_update)
                if obj is None:
                    raise exc.ObjectDeletedError(
                        f"Instance {_state_str(state)} has been deleted, or its row is "
                        "otherwise not present."
                    )
            else:
                loading.load_attributes(self, state, col_keys)
        self._clear_expired(state, keys)

    def _clear_expired(self, state: InstanceState, keys: Iterable[str]) -> None:
        expired = state.expired_attributes
        if expired is not None:
            expired.difference_update(keys)
            if not expired:
                state.expired_attributes = None
        d = state.dict
        if state.flags & EXPIRED and all(k in d for k in state.mapper._eager_column_keys):
            state.flags &= ~EXPIRED

    def _persistent_state(self, instance: Any, verb: str) -> InstanceState:
        state = _state_of(instance)
        if state.ident is None or state.session_id != self.hash_key:
            raise exc.InvalidRequestError(
                f"Instance {_state_str(state)} is not persistent within this Session; "
                f"can't {verb} it."
            )
        return state

    def _load_on_access(self, state: InstanceState, key: str) -> None:
        """An unloaded attribute was read: load it (and everything expired)."""
        txn = self._transaction
        if txn is not None:
            txn._check_usable()
        mapper = state.mapper
        d = state.dict
        if state.flags & EXPIRED or (state.expired_attributes and key in
                                     state.expired_attributes):
            keys = [k for k in mapper._eager_column_keys if k not in d]
            if state.expired_attributes:
                keys += [k for k in state.expired_attributes if k not in keys and k in
                         mapper._key_to_col]
            if key not in keys and key in mapper._key_to_col:
                keys.append(key)
        else:
            prop = mapper._props[key]
            group = getattr(prop, "group", None)
            keys = [key] if group is None else [
                p.key for p in mapper._props.values() if getattr(p, "group", None) == group
                and p.key not in d
            ]
        if state.flags & DELETED:
            raise exc.ObjectDeletedError(
                f"Instance {_state_str(state)} has been deleted in this transaction; its "
                f"attribute {key!r} can't be loaded."
            )
        self._autoflush()
        loading.load_attributes(self, state, keys)
        self._clear_expired(state, keys)

    # -- flush --------------------------------------------------------------------------------
    def _autoflush(self) -> None:
        if self.autoflush and not self._flushing and self._has_changes():
            try:
                self.flush()
            except exc.DBAPIError as e:
                e.add_detail(
                    "(This happened during autoflush: the query above triggered a flush of "
                    "pending changes first. Wrap the query in `with session.no_autoflush:` "
                    "to avoid it.)"
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

    def flush(self, objects: Sequence[Any] | None = None) -> None:
        """Write pending changes (or only those of ``objects``) to the database
        in one ordered, batched unit of work.

        On failure the flush's work is rolled back, the session's transaction
        becomes inactive (PendingRollbackError until rollback()), and the
        error names the statement, parameters and objects involved.
        """
        if self._flushing:
            raise exc.InvalidRequestError("Session is already flushing")
        if not self._has_changes():
            return
        from docket.orm.unitofwork import flush as _flush

        self._flushing = True
        try:
            _flush(self, objects)
        finally:
            self._flushing = False

    # -- querying -----------------------------------------------------------------------------
    def execute(self, statement: Any, params: Any = None, *,
                execution_options: Mapping[str, Any] | None = None,
                bind_arguments: dict[str, Any] | None = None, **kw: Any) -> Any:
        """Execute a statement: an ORM ``select(User)`` returns a Result of
        objects; Core statements run on the session's connection."""
        opts: dict[str, Any] = dict(getattr(statement, "_execution_options", None) or {})
        if execution_options:
            opts.update(execution_options)
        bind_arguments = dict(bind_arguments or {})
        orm = loading.is_orm_statement(statement)
        if orm and "mapper" not in bind_arguments:
            bind_arguments["mapper"] = _first_mapper(statement)
        bind_arguments.setdefault("clause", statement)
        if orm and getattr(statement, "is_select", False):
            if opts.get("autoflush", True):
                self._autoflush()
            conn = self.connection(bind_arguments)
            return loading.instances(self, conn, statement, params, opts)
        if orm and getattr(statement, "is_dml", False):
            self._autoflush()
        conn = self.connection(bind_arguments)
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
        not expired.

        Args:
            ident: a scalar, a tuple in primary-key column order, or a dict
                keyed by primary-key attribute names.

        Raises:
            InvalidRequestError: ``ident`` has the wrong number of values.
        """
        mapper = class_mapper(entity)
        pk = _normalize_ident(mapper, ident)
        if execution_options:
            populate_existing = populate_existing or bool(
                execution_options.get("populate_existing"))
        if not populate_existing and not with_for_update:
            state = self._identity_map._get_state(mapper, mapper._ident_from_pk(pk),
                                                  identity_token)
            if state is not None:
                if state in self._deleted or state.flags & DELETED:
                    return None
                obj = state()
                if obj is not None:
                    if state.flags & EXPIRED or state.expired_attributes:
                        try:
                            self._load_on_access(state, mapper._pk_keys[0])
                        except exc.ObjectDeletedError:
                            self._expunge_state(state, to_transient=False)
                            return None
                    return obj  # type: ignore[no-any-return]
        self._autoflush()
        return loading.load_by_pk(  # type: ignore[no-any-return]
            self, mapper, pk, populate_existing=populate_existing,
            with_for_update=with_for_update)

    def get_one(self, entity: type[_T], ident: Any, **kw: Any) -> _T:
        """Like get(), but raises NoResultFound when there is no such row."""
        obj = self.get(entity, ident, **kw)
        if obj is None:
            raise exc.NoResultFound(
                f"No row was found for {getattr(entity, '__name__', entity)} with primary key "
                f"{ident!r}"
            )
        return obj

    def query(self, *entities: Any, **kw: Any) -> Any:
        """Legacy ``Query`` API (``session.query(User).filter(...).all()``)."""
        from docket.orm.query import Query

        return Query(entities, self)

    def merge(self, instance: _T, *, load: bool = True, options: Any = None) -> _T:
        """Copy the state of ``instance`` onto the persistent object with the
        same identity (loading it, or creating a pending one) and return that."""
        state = _state_of(instance)
        mapper = state.mapper
        d = state.dict
        if load:
            self._autoflush()
        pk = tuple(d.get(k) for k in mapper._pk_keys)
        target = None
        if None not in pk:
            if state.session_id == self.hash_key and self._identity_map._contains_state(state):
                return instance
            ident = mapper._ident_from_pk(pk)
            existing = self._identity_map._get_state(mapper, ident)
            if existing is not None:
                target = existing()
            elif load:
                target = loading.load_by_pk(self, mapper, pk)
            else:
                if state.ident is None:
                    raise exc.InvalidRequestError(
                        "merge() with load=False option does not support objects transient "
                        "(i.e. unpersisted) objects."
                    )
                if state.modified:
                    raise exc.InvalidRequestError(
                        "merge() with load=False option does not support objects marked as "
                        "'dirty'. flush() all changes on mapped instances before merging with "
                        "load=False."
                    )
        if target is None:
            target = mapper.class_.__new__(mapper.class_)
            tstate = mapper._new_state(target)
            if not load and state.ident is not None:
                tstate.ident = state.ident
                tstate.session_id = self.hash_key
                self._identity_map._add(tstate)
                for k in mapper._column_attr_keys:
                    if k in d:
                        target.__dict__[k] = d[k]
                return target  # type: ignore[no-any-return]
            self.add(target)
        for k in mapper._column_attr_keys:
            if k in d:
                if load:
                    setattr(target, k, d[k])
                else:
                    target.__dict__[k] = d[k]
        return target  # type: ignore[no-any-return]

    def enable_relationship_loading(self, obj: Any) -> None:
        """Let a transient/detached object lazy-load through this session."""
        state = _state_of(obj)
        state.session_id = self.hash_key

    # -- class-level helpers -------------------------------------------------------------------
    @classmethod
    def object_session(cls, instance: Any) -> Session | None:
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
        close_all_sessions()

    def __repr__(self) -> str:
        return f"<Session {self.hash_key} objects={len(self._identity_map) + len(self._new)}>"


_INSERTED = 8  # state flag: the row was INSERTed by a flush (see unitofwork)


def _make_transient(state: InstanceState) -> None:
    state.ident = None
    state.identity_token = None
    state.flags = 0
    state.expired_attributes = None


def _normalize_ident(mapper: Mapper, ident: Any) -> tuple[Any, ...]:
    keys = mapper._pk_keys
    if isinstance(ident, dict):
        try:
            return tuple(ident[k] for k in keys)
        except KeyError as e:
            raise exc.InvalidRequestError(
                f"Incorrect names of values in identifier formed from argument to get(): "
                f"missing {e.args[0]!r}; primary key attributes are {list(keys)}."
            ) from None
    pk = tuple(ident) if isinstance(ident, (tuple, list)) else (ident,)
    if len(pk) != len(keys):
        cols = ", ".join(f"'{c.table.name}.{c.name}'" for c in mapper.primary_key)
        raise exc.InvalidRequestError(
            f"Incorrect number of values in identifier formed from argument to get(); "
            f"primary key columns are {cols} ({len(keys)} value(s) expected, got {len(pk)})."
        )
    if None in pk:
        raise exc.InvalidRequestError(
            f"get() was given None in the primary key {pk!r}; a primary key never contains NULL."
        )
    return pk


def _first_mapper(statement: Any) -> Any:
    for e in getattr(statement, "_raw_entities", ()):
        mapper = getattr(e, "__mapper__", None) or getattr(getattr(e, "parent", None),
                                                           "class_", None)
        if mapper is not None:
            return mapper if isinstance(mapper, Mapper) else getattr(mapper, "__mapper__", None)
    raw = getattr(statement, "_raw_table", None)
    return getattr(raw, "__mapper__", None)


def _tables_of(clause: Any) -> list[Any]:
    out = []
    table = getattr(clause, "table", None)
    if table is not None:
        out.append(table)
    getter = getattr(clause, "get_final_froms", None)
    if getter is not None:
        try:
            for f in getter():
                out.extend(getattr(f, "_from_objects", [f]))
        except exc.DocketError:
            pass
    return out


def object_session(instance: Any) -> Session | None:
    """The Session an object belongs to, or None."""
    state = _state_of(instance)
    return state.session


def close_all_sessions() -> None:
    """close() every Session in the process."""
    for session in list(_sessions.values()):
        session.close()


def make_transient(instance: Any) -> None:
    """Make an object transient: remove it from its session and forget its
    identity (its attribute values stay); the next add() INSERTs it."""
    state = _state_of(instance)
    session = state.session
    if session is not None:
        session._expunge_state(state, to_transient=False)
    state.session_id = None
    _make_transient(state)
    d = state.dict
    expired = [k for k in state.mapper._column_attr_keys if k not in d]
    state.expired_attributes = None
    for k in expired:
        d.pop(k, None)


def make_transient_to_detached(instance: Any) -> None:
    """Give a transient object its identity (from its primary-key attributes)
    as if it had been loaded and then detached.

    Raises:
        InvalidRequestError: the object is not transient or lacks a primary key.
    """
    state = _state_of(instance)
    if state.session_id is not None or state.ident is not None:
        raise exc.InvalidRequestError("Given object must be transient")
    mapper = state.mapper
    pk = tuple(state.dict.get(k) for k in mapper._pk_keys)
    if None in pk:
        raise exc.InvalidRequestError(
            f"Object {_state_str(state)} has no complete primary key; set "
            f"{list(mapper._pk_keys)} first."
        )
    state.ident = mapper._ident_from_pk(pk)
    state.committed_state = None
    state.modified = False
    unloaded = [k for k in mapper._column_attr_keys if k not in state.dict]
    if unloaded:
        state.expired_attributes = set(unloaded)
