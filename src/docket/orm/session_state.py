"""Moving objects between states for a Session, and the module-level helpers
(``make_transient``, ``make_transient_to_detached``, ``object_session``,
``close_all_sessions``).

The functions taking a Session first are bound as private Session methods
(``Session._expire_state = expire_state`` ...), so the unit of work and the
transaction call them as ``session._expire_state(state)``.  Every transition
keeps these invariants:

* a state is in at most one of ``session._new`` (pending, no identity), the
  identity map (persistent), or neither (transient / detached / flushed
  deleted);
* ``state.session_id`` names the session only while the object is pending,
  persistent or deleted in it;
* ``session._modified`` holds exactly the attached states with unflushed
  changes (strongly, so they survive until flushed).
"""

from __future__ import annotations

import reprlib
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from docket import event as _event
from docket import exc
from docket.orm.state import (
    DELETED,
    EXPIRED,
    STATE_KEY,
    WAS_DELETED,
    InstanceState,
    _sessions,
    instance_state,
)

if TYPE_CHECKING:
    from docket.event import Dispatch
    from docket.orm.mapper import Mapper
    from docket.orm.session import Session

__all__ = ["close_all_sessions", "make_transient", "make_transient_to_detached",
           "object_session"]


def state_str(state: InstanceState) -> str:
    """``<User at 0x...>`` for messages."""
    obj = state()
    name = state.mapper.class_.__name__
    return f"<{name} at 0x{id(obj):x}>" if obj is not None else f"<{name} (collected)>"


def state_of(obj: Any, verb: str) -> InstanceState:
    """The InstanceState of ``obj`` for ``session.<verb>()``.

    Raises:
        UnmappedInstanceError: ``obj`` is not an instance of a mapped class.
    """
    try:
        return obj.__dict__[STATE_KEY]  # type: ignore[no-any-return,unused-ignore]
    except (KeyError, AttributeError, TypeError):
        pass
    if isinstance(obj, type) and getattr(obj, "__mapper__", None) is not None:
        raise exc.UnmappedInstanceError(
            obj, f"session.{verb}() was given the class {obj.__name__} itself; pass an "
            f"instance such as {obj.__name__}(...) instead."
        )
    try:
        return instance_state(obj)
    except exc.UnmappedInstanceError:
        cls = type(obj)
        raise exc.UnmappedInstanceError(
            obj, f"session.{verb}() needs an instance of a mapped class, but got "
            f"{reprlib.repr(obj)} of class '{cls.__module__}.{cls.__qualname__}', which is "
            "not mapped; map the class (DeclarativeBase, registry.mapped or "
            "registry.map_imperatively) or pass a mapped object."
        ) from None


# -- transitions (bound as Session methods) ---------------------------------------------

def reset_to_transient(state: InstanceState, keep_was_deleted: bool = False) -> None:
    """Forget identity, expiry and deletion flags (values stay in ``__dict__``).

    A rollback keeps ``was_deleted`` on an object it makes transient (as
    SQLAlchemy does); ``make_transient()`` clears it.
    """
    state.ident = None
    state.identity_token = None
    state.flags &= WAS_DELETED if keep_was_deleted else 0
    state._expired_attributes = None


def expunge_state(session: Session, state: InstanceState, to_transient: bool) -> None:
    """Remove ``state`` from the session; ``to_transient`` also forgets its
    identity (its row was rolled back).  States now attached to another
    session are left alone."""
    if state.session_id not in (None, session.hash_key):
        return
    session._new.pop(state, None)
    session._deleted.pop(state, None)
    session._modified.pop(state, None)
    if state.ident is not None:
        session._identity_map._discard(state)
    state.session_id = None
    if to_transient:
        reset_to_transient(state, keep_was_deleted=True)


def detach_all(session: Session) -> None:
    """expunge_all(): pending -> transient, persistent / deleted -> detached."""
    session._pending_mutations.clear()
    states = session._identity_map.all_states() + list(session._new) + list(session._deleted)
    txn = session._transaction
    while txn is not None:
        states.extend(txn._deleted)
        txn = txn.parent
    sid = session.hash_key
    for state in states:
        if state.session_id == sid:
            state.session_id = None
    session._identity_map._clear()
    session._new.clear()
    session._deleted.clear()
    session._modified.clear()


def detach_deleted(session: Session, states: Iterable[InstanceState]) -> None:
    """After commit: flushed-deleted objects become detached (``was_deleted``
    stays True)."""
    sid = session.hash_key
    for state in states:
        if state.session_id == sid:
            state.session_id = None
        state.flags &= ~DELETED


def commit_flushed(session: Session, items: Iterable[tuple[InstanceState, Any]]) -> None:
    """A flush wrote each ``(state, obj)``: its values are now the committed ones,
    and it is no longer "expired" as a whole (attributes it never reloaded stay
    in ``expired_attributes``), as SQLAlchemy's ``_commit_all`` does."""
    pop = session._modified.pop
    for state, _obj in items:
        state.committed_state = None
        state.modified = False
        pop(state, None)
        if state.flags & EXPIRED:
            state._expired_attributes = state.expired_attributes or None
            state.flags &= ~EXPIRED


def mark_deleted(session: Session, state: InstanceState) -> None:
    """The object's row is gone: move it to the deleted state (a rollback
    restores it)."""
    session._identity_map._discard(state)
    session._deleted.pop(state, None)
    session._modified.pop(state, None)
    state.flags |= DELETED | WAS_DELETED
    txn = session._transaction
    if txn is not None:
        txn._deleted[state] = None


def restore_deleted(session: Session, state: InstanceState) -> None:
    """Rollback: a deleted (or marked-for-deletion) object is persistent again."""
    state.flags &= ~(DELETED | WAS_DELETED)
    if state.session_id != session.hash_key or state.ident is None or state() is None:
        return  # expunged meanwhile: it stays detached
    displaced = session._identity_map._replace(state)
    if displaced is not None:
        displaced.session_id = None  # a later load of the same row: detached


def restore_identity(session: Session, state: InstanceState, old_ident: Any) -> None:
    """Rollback: undo a primary-key change made by a flush."""
    idmap = session._identity_map
    idmap._discard(state)
    state.ident = old_ident
    if state.session_id == session.hash_key and state() is not None:
        displaced = idmap._replace(state)
        if displaced is not None:
            displaced.session_id = None


def expire_states(session: Session, states: Iterable[InstanceState]) -> None:
    """:func:`expire_state` of whole objects, many at once (commit, expire_all)."""
    modified = session._modified
    last: Any = None  # the previous state's mapper, and its parts:
    keys: tuple[str, ...] = ()
    listeners: Any = None
    for state in states:
        obj = state()
        if obj is None:
            continue
        mapper = state.mapper
        if mapper is not last:
            last = mapper
            keys = mapper._expire_keys
            listeners = mapper.instance_dispatch.expire or None
        d = obj.__dict__
        for k in keys:
            d.pop(k, None)
        state.flags |= EXPIRED
        extra = state._extra
        if extra is not None:
            extra.expired = None
            extra.parents = None
        state.committed_state = None
        state.modified = False
        modified.pop(state, None)
        if listeners is not None:
            listeners(obj, None)


def expire_state(session: Session, state: InstanceState,
                 keys: Iterable[str] | None = None) -> None:
    """Discard loaded values (all, or ``keys``) and pending changes to them;
    they reload on next access."""
    obj = state()
    if obj is None:
        return
    d = obj.__dict__
    if keys is None:
        for k in state.mapper._expire_keys:
            d.pop(k, None)
        state.flags |= EXPIRED
        state._expired_attributes = None
        state.parents = None  # collections reload from the database: parents unknown again
        state.committed_state = None
        state.modified = False
        session._modified.pop(state, None)
        listeners = state.mapper.instance_dispatch.expire
        if listeners:
            listeners(obj, None)
        return
    keys = list(keys)
    expired = state._expired_attributes
    if expired is None:
        expired = state._expired_attributes = set()
    committed = state.committed_state
    for k in keys:
        d.pop(k, None)
        expired.add(k)
        if committed is not None:
            committed.pop(k, None)
    if committed is not None and not committed:
        state.committed_state = None
        state.modified = False
        session._modified.pop(state, None)
    listeners = state.mapper.instance_dispatch.expire
    if listeners:
        listeners(obj, keys)


def clear_expired(state: InstanceState, keys: Iterable[str]) -> None:
    """``keys`` were just loaded: they are no longer expired."""
    expired = state._expired_attributes
    if expired is not None:
        expired.difference_update(keys)
        if not expired:
            state._expired_attributes = None
    d = state.dict
    if state.flags & EXPIRED and all(k in d for k in state.mapper._eager_column_keys):
        state.flags &= ~EXPIRED


def persistent_state(session: Session, instance: Any, verb: str) -> InstanceState:
    """The state of ``instance`` for ``session.<verb>()``.

    Raises:
        InvalidRequestError: the object is not persistent in ``session``.
    """
    state = state_of(instance, verb)
    if state.session_id != session.hash_key or not session._identity_map._contains_state(state):
        where = (f"it belongs to another Session, hash_key {state.session_id}"
                 if state.session_id is not None and state.session_id != session.hash_key
                 else f"it is {state.status.value}")
        raise exc.InvalidRequestError(
            f"Instance {state_str(state)} is not persistent within this Session ({where}); "
            f"can't {verb} it. Only objects loaded or flushed by this session can be; "
            "add() a detached object first, or merge() one from another session."
        )
    return state


def check_attribute_names(state: InstanceState, names: Iterable[str]) -> list[str]:
    """``names`` as a list, each a mapped attribute of the object.

    Raises:
        InvalidRequestError: a name is not mapped.
    """
    names = list(names)
    props = state.mapper._props
    for k in names:
        if k not in props:
            raise exc.InvalidRequestError(
                f"{state.mapper.class_.__name__} has no mapped attribute {k!r}; mapped "
                f"attributes are {sorted(props)}."
            )
    return names


def keys_to_load(state: InstanceState, key: str) -> list[str]:
    """The attributes to load when unloaded ``key`` is read: everything
    expired (for an expired object or attribute), else ``key``'s deferred group."""
    mapper = state.mapper
    d = state.dict
    expired = state._expired_attributes
    if state.flags & EXPIRED or (expired and key in expired):
        keys = [k for k in mapper._eager_column_keys if k not in d]
        if expired:
            keys += [k for k in expired if k not in keys and k in mapper._key_to_col]
        if key not in keys and key in mapper._key_to_col:
            keys.append(key)
        return keys
    group = getattr(mapper._props[key], "group", None)
    if group is None:
        return [key]
    return [p.key for p in mapper._props.values()
            if getattr(p, "group", None) == group and p.key not in d]


def merge_state(session: Session, state: InstanceState, instance: Any, load: bool) -> Any:
    """``session.merge()``: the object of this session with ``state``'s
    identity (from the map, the database or new), carrying its values.

    Raises:
        InvalidRequestError: ``load=False`` with a transient object, or with a
            modified one that is not already in the session.
    """
    from docket.orm import loading

    mapper = state.mapper
    d = state.dict
    if state.session_id == session.hash_key and (
            state in session._new or session._identity_map._contains_state(state)):
        return instance  # already this session's object for its identity
    if not load and state.ident is None:
        raise exc.InvalidRequestError(
            f"merge() with load=False does not support transient (never persisted) objects "
            f"such as {state_str(state)}; add() it, or flush() first."
        )
    if not load and state.modified:
        raise exc.InvalidRequestError(
            f"merge() with load=False does not support objects marked as 'dirty' such as "
            f"{state_str(state)}; flush() its changes first, or merge with load=True."
        )
    pk = tuple(d.get(k) for k in mapper._pk_keys)
    target = None
    if None not in pk:
        existing = session._identity_map._get_state(mapper, mapper._ident_from_pk(pk))
        target = existing() if existing is not None else None
        if target is None and load:
            target = loading.load_by_pk(session, mapper, pk)
    if target is None:
        cls: Any = mapper.class_
        target = cls.__new__(cls)
        tstate = mapper._new_state(target)
        if load:
            session.add(target)
        else:
            tstate.ident = state.ident
            tstate.session_id = session.hash_key
            session._identity_map._add(tstate)
    tdict = target.__dict__
    for k in mapper._column_attr_keys:
        if k in d:
            if load:
                setattr(target, k, d[k])  # recorded as changes, flushed later
            else:
                tdict[k] = d[k]  # stamped as loaded, no history
    return target


def save_or_update(session: Session, state: InstanceState, obj: Any) -> None:
    """``add()`` of one object: transient -> pending, detached -> persistent
    (with the attach/transition events), un-marking a pending delete.

    Raises:
        InvalidRequestError: the object was deleted, or belongs to another session.
    """
    dispatch = (session._attach_ev if session._attach_seen == _event._version
                else session._attach_events())
    if state.ident is None:
        session._before_attach(state)
        if state not in session._new:
            if dispatch is not None:
                add_pending_with_events(session, state, obj, dispatch)
                return
            state.flags &= ~WAS_DELETED  # a transient object starts a new life
            state.session_id = session.hash_key
            session._new[state] = obj
            if state.modified:
                session._modified[state] = obj
        return
    if state.flags & WAS_DELETED:
        raise exc.InvalidRequestError(
            f"Instance {state_str(state)} has been deleted; use make_transient() to "
            "send it back to the transient state and INSERT it as a new row."
        )
    session._before_attach(state)
    session._deleted.pop(state, None)
    if state.session_id == session.hash_key and session._identity_map._contains_state(state):
        return
    if dispatch is not None and dispatch.before_attach:
        dispatch.before_attach(session, obj)
    session._identity_map._add(state)
    state.session_id = session.hash_key
    if state.modified:
        session._modified[state] = obj
    if dispatch is not None:
        if dispatch.detached_to_persistent:
            dispatch.detached_to_persistent(session, obj)
        if dispatch.after_attach:
            dispatch.after_attach(session, obj)


def add_all(session: Session, instances: Iterable[Any]) -> None:
    """``session.add()`` of each object, in order: a run of objects whose class
    cascades nothing on save joins in one :func:`save_or_update_all` call.

    Raises:
        UnmappedInstanceError, InvalidRequestError: as ``session.add()``.
    """
    run: list[tuple[InstanceState, Any]] = []
    for obj in instances:
        try:
            state = obj.__dict__[STATE_KEY]
        except (KeyError, AttributeError, TypeError):
            if run:  # objects before a bad one are added, as add() one by one does
                save_or_update_all(session, run)
                run = []
            state = state_of(obj, "add")
        if state.mapper._save_cascades:
            if run:
                save_or_update_all(session, run)
                run = []
            session._save_cascading(state, obj)
        else:
            run.append((state, obj))
    if run:
        save_or_update_all(session, run)


def save_or_update_all(session: Session, items: list[tuple[InstanceState, Any]]) -> None:
    """:func:`save_or_update` of each ``(state, obj)``; transient objects
    (the usual result of a save-update cascade) join in one loop when no
    attach/transition event listens.

    Raises:
        InvalidRequestError: as :func:`save_or_update`.
    """
    dispatch = (session._attach_ev if session._attach_seen == _event._version
                else session._attach_events())
    if dispatch is not None or not items:
        for state, obj in items:
            save_or_update(session, state, obj)
        return
    sid = session.hash_key
    new = session._new
    modified = session._modified
    session._autobegin_t()
    for state, obj in items:
        if state.ident is not None or (state.session_id is not None and state.session_id != sid):
            save_or_update(session, state, obj)  # persistent, or another session's: full path
        elif state not in new:
            state.flags &= ~WAS_DELETED  # a transient object starts a new life
            state.session_id = sid
            new[state] = obj
            if state.modified:
                modified[state] = obj


def add_pending_with_events(session: Session, state: InstanceState, obj: Any,
                            dispatch: Dispatch) -> None:
    """transient -> pending, firing the session's attach/transition events."""
    attaching = state.session_id != session.hash_key
    if attaching and dispatch.before_attach:
        dispatch.before_attach(session, obj)
    state.flags &= ~WAS_DELETED
    state.session_id = session.hash_key
    session._new[state] = obj
    if state.modified:
        session._modified[state] = obj
    if dispatch.transient_to_pending:
        dispatch.transient_to_pending(session, obj)
    if attaching and dispatch.after_attach:
        dispatch.after_attach(session, obj)


def delete_state(session: Session, state: InstanceState, instance: Any, head: bool) -> None:
    """Mark one object for deletion (``head``: the object delete() was given;
    objects reached by the delete cascade are skipped when already deleted).

    Raises:
        InvalidRequestError: the object was never persisted, or was deleted.
    """
    if state.ident is None:
        raise exc.InvalidRequestError(
            f"Instance {state_str(state)} is not persisted; only an object loaded from or "
            "flushed to the database can be deleted (use expunge() to discard a "
            "pending one)."
        )
    if state.flags & DELETED and state.session_id == session.hash_key:
        return  # its DELETE was already flushed
    if state in session._deleted:
        return
    if state.flags & WAS_DELETED:
        if not head:
            return
        raise exc.InvalidRequestError(
            f"Instance {state_str(state)} has already been deleted by a flush; there is "
            "nothing left to delete (make_transient() it to INSERT it again)."
        )
    session._before_attach(state)
    if state.session_id != session.hash_key or not session._identity_map._contains_state(state):
        dispatch = session.dispatch
        if dispatch.before_attach:
            dispatch.before_attach(session, instance)
        session._identity_map._add(state)
        state.session_id = session.hash_key
        if dispatch.detached_to_persistent:
            dispatch.detached_to_persistent(session, instance)
        if dispatch.after_attach:
            dispatch.after_attach(session, instance)
    session._deleted[state] = instance


def refresh_state(session: Session, state: InstanceState, instance: Any,
                  attribute_names: Iterable[str] | None, with_for_update: Any) -> None:
    """``session.refresh()``: expire, then reload now (see Session.refresh).

    Raises:
        ArgumentError: ``with_for_update`` is an empty dict.
        ObjectDeletedError: the row no longer exists.
    """
    from docket.orm import loading
    from docket.sql.selectable import Select

    if with_for_update == {}:
        raise exc.ArgumentError(
            "with_for_update should be True or a dict of options; an empty dict is "
            "ambiguous."
        )
    mapper = state.mapper
    if attribute_names is None:
        session._cascade_expire(state, instance)
        session._expire_state(state)
        keys = list(mapper._eager_column_keys)
    else:
        keys = check_attribute_names(state, attribute_names)
        session._expire_state(state, keys)
    session._autoflush()
    col_keys = [k for k in keys if k in mapper._key_to_col]
    if attribute_names is None and (mapper._eager_candidates or mapper._joined_rels):
        # a whole-object refresh re-runs the eager loaders: a full ORM SELECT
        stmt = Select(mapper.class_).where(*[
            col == value for col, value in zip(mapper.primary_key, state.identity or ())])
        if with_for_update:
            stmt = stmt.with_for_update(
                **(with_for_update if isinstance(with_for_update, dict) else {}))
        found = session.execute(stmt, execution_options={"populate_existing": True}
                             ).scalars().unique(id).one_or_none()
        if found is None:
            raise exc.ObjectDeletedError(
                f"Could not refresh instance {state_str(state)}: it has been deleted, or "
                "its row is otherwise not present; expunge() it or rollback()."
            )
        col_keys = []
    if col_keys:
        try:
            if with_for_update:
                found = loading.load_by_pk(session, mapper, state.identity or (), keys=col_keys,
                                           populate_existing=True,
                                           with_for_update=with_for_update)
                if found is None:
                    raise exc.ObjectDeletedError(state_str(state))
            else:
                loading.load_attributes(session, state, col_keys)
        except exc.ObjectDeletedError:
            raise exc.ObjectDeletedError(
                f"Could not refresh instance {state_str(state)}: it has been deleted, or "
                "its row is otherwise not present; expunge() it or rollback()."
            ) from None
    clear_expired(state, keys)
    if attribute_names is not None:
        props = mapper._props
        for k in keys:
            if props[k].is_relationship and k not in instance.__dict__:
                getattr(instance, k)  # a named relationship is loaded right away


# -- arguments ----------------------------------------------------------------------------

def normalize_ident(mapper: Mapper, ident: Any) -> tuple[Any, ...] | None:
    """``session.get()``'s identifier as a primary-key tuple in column order;
    None when every value is None (no row can match).

    Raises:
        InvalidRequestError: wrong number of values, or wrong dict keys.
    """
    keys = mapper._pk_keys
    cls_name = mapper.class_.__name__
    if isinstance(ident, dict):
        missing = [k for k in keys if k not in ident]
        if missing:
            raise exc.InvalidRequestError(
                f"Incorrect names of values in identifier to formulate primary key for "
                f"session.get({cls_name}, {{...}}): missing {missing}; the primary key "
                f"attribute names are {list(keys)}."
            )
        pk = tuple(ident[k] for k in keys)
    else:
        pk = tuple(ident) if isinstance(ident, (tuple, list)) else (ident,)
    if len(pk) != len(keys):
        cols = ", ".join(f"'{c.table.name}.{c.name}'" for c in mapper.primary_key)
        raise exc.InvalidRequestError(
            f"Incorrect number of values in identifier to formulate primary key for "
            f"session.get({cls_name}, {ident!r}): got {len(pk)} value(s), but the primary "
            f"key columns are {cols}; pass one value per column, as a tuple in that order "
            "or a dict keyed by attribute name."
        )
    if all(v is None for v in pk):
        return None
    return pk


def first_mapper(statement: Any) -> Any:
    """The first mapped entity of an ORM statement, for bind resolution."""
    from docket.orm.mapper import Mapper

    for e in getattr(statement, "_raw_entities", ()):
        mapper = getattr(e, "__mapper__", None) or getattr(getattr(e, "parent", None),
                                                           "class_", None)
        if mapper is not None:
            return mapper if isinstance(mapper, Mapper) else getattr(mapper, "__mapper__", None)
    raw = getattr(statement, "_raw_table", None)
    return getattr(raw, "__mapper__", None)


def tables_of(clause: Any) -> list[Any]:
    """The tables a statement reads or writes, for bind resolution."""
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


# -- module-level API ---------------------------------------------------------------------

def object_session(instance: Any) -> Session | None:
    """The Session an object belongs to, or None.

    Raises:
        UnmappedInstanceError: ``instance`` is not a mapped object.
    """
    return state_of(instance, "object_session").session


def close_all_sessions() -> None:
    """``close()`` every Session in the process."""
    for session in list(_sessions.values()):
        session.close()


def make_transient(instance: Any) -> None:
    """Make an object transient: remove it from its session and forget its
    identity (loaded values stay, expired ones stay unloaded); a later
    ``add()`` INSERTs it as a new row."""
    state = state_of(instance, "make_transient")
    session = state.session
    was_persistent = state.ident is not None
    if session is not None:
        expunge_state(session, state, to_transient=False)
    state.session_id = None
    reset_to_transient(state)
    if session is not None and was_persistent:
        session._dispatch_state("persistent_to_transient", state)


def make_transient_to_detached(instance: Any) -> None:
    """Give a transient object the identity of its primary-key attributes, as
    if it had been loaded and then detached; ``add()`` makes it persistent
    and its unset attributes load from the row on access.

    Raises:
        InvalidRequestError: the object is not transient, or lacks a full
            primary key.
    """
    state = state_of(instance, "make_transient_to_detached")
    if state.session_id is not None or state.ident is not None:
        raise exc.InvalidRequestError(
            f"Given object must be transient: {state_str(state)} is {state.status.value}; "
            "call make_transient() on it first."
        )
    mapper = state.mapper
    d = state.dict
    pk = tuple(d.get(k) for k in mapper._pk_keys)
    if None in pk:
        raise exc.InvalidRequestError(
            f"Object {state_str(state)} has no complete primary key; set "
            f"{list(mapper._pk_keys)} before make_transient_to_detached()."
        )
    state.ident = mapper._ident_from_pk(pk)
    state.flags = 0
    state.committed_state = None
    state.modified = False
    unloaded = {k for k in mapper._column_attr_keys if k not in d}
    state._expired_attributes = unloaded or None
