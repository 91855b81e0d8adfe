"""Instance behaviour of relationship attributes: reading (loading on
access), setting, collections' change events, backrefs, orphan tracking and
the save-update cascade on attribute events.

History of a relationship uses the same ``state.committed_state`` slot as
columns: on the first change since load/flush the previous value is recorded
(for a collection, a list snapshot of its members; NO_VALUE when it was never
loaded).  ``added``/``deleted`` are computed by identity against it.

Orphan tracking (for ``delete-orphan`` and ``single_parent``):
``child_state.parents`` is a dict ``{prop: parent state or False}`` -- the
parent the child was last attached to through ``prop``, or False once it was
removed; absent when nothing is known.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from docket import event as _event
from docket import exc
from docket.orm.attributes import HISTORY_BLANK, History, PassiveFlag
from docket.orm.state import NO_VALUE, STATE_KEY, InstanceState, instance_state

if TYPE_CHECKING:
    from docket.orm.relationships import RelationshipProperty

__all__ = ["RelationshipAttributeImpl"]


def _state(obj: Any) -> InstanceState:
    state = obj.__dict__.get(STATE_KEY)
    return state if state is not None else instance_state(obj)


def _desc(obj: Any) -> str:
    return f"<{type(obj).__name__} at 0x{id(obj):x}>"


def _record(state: InstanceState, key: str, old: Any) -> None:
    """First change of ``key`` since load/flush: remember ``old``."""
    committed = state.committed_state
    if committed is None:
        state.committed_state = {key: old}
        state._modified_event()
    elif key not in committed:
        committed[key] = old
        if not state.modified:
            state._modified_event()
    elif not state.modified:
        state._modified_event()


def _detach_parent(prop: Any, parent: InstanceState, istate: InstanceState) -> None:
    """``istate`` was removed from ``parent`` through ``prop`` (orphan tracking):
    it has no parent there any more, unless it was attached elsewhere since."""
    parents = istate.parents
    if parents is None:
        istate.parents = {prop: False}
        return
    current = parents.get(prop)
    if current is None or current is parent:
        parents[prop] = False


def _queue(prop: Any, state: InstanceState, item: Any, added: bool) -> None:
    """A backref changed an unloaded collection of a persistent object:
    remember it in the session, so that loading the collection before the
    next flush shows the change (the database doesn't have it yet)."""
    session = state.session
    if session is None:
        return
    adds, removes = session._pending_mutations.setdefault((state, prop.key), ([], []))
    mine, other = (adds, removes) if added else (removes, adds)
    if any(x is item for x in other):
        other[:] = [x for x in other if x is not item]
    elif not any(x is item for x in mine):
        mine.append(item)


def _apply_queued(prop: Any, state: InstanceState, items: list[Any]) -> list[Any]:
    """Loaded ``items`` with the changes queued by :func:`_queue`."""
    session = state.session
    queued = session._pending_mutations.pop((state, prop.key), None) if session else None
    if queued is None:
        return items
    adds, removes = queued
    out = [x for x in items if not any(x is r for r in removes)]
    out += [x for x in adds if not any(x is y for y in out)]
    return out


class RelationshipAttributeImpl:
    """Mixed into RelationshipProperty: what happens on ``obj.<rel>``."""

    key: str
    uselist: bool | None

    # -- reading ---------------------------------------------------------------------------
    def _get_missing(self: Any, obj: Any, key: str) -> Any:
        from docket.orm import strategies

        return strategies.load_on_access(self, _state(obj), obj)

    def _init_collection(self: Any, state: InstanceState) -> Any:
        from docket.orm.collections import new_collection

        self.mapper  # noqa: B018 - configure
        coll = new_collection(self, state)
        obj = state()
        if obj is not None:
            obj.__dict__[self.key] = coll
        return coll

    def _set_committed(self: Any, state: InstanceState, value: Any) -> None:
        """Store a loaded value: no history, no events."""
        from docket.orm.collections import new_collection

        obj = state()
        if obj is None:
            return
        if self.uselist:
            items = list(value.values() if isinstance(value, dict) else (value or ()))
            session = state.session
            if session is not None and session._pending_mutations:
                items = _apply_queued(self, state, items)
            value = new_collection(self, state, items)
        obj.__dict__[self.key] = value
        committed = state.committed_state
        if committed is not None:
            committed.pop(self.key, None)
        expired = state._expired_attributes
        if expired:
            expired.discard(self.key)

    # -- history ------------------------------------------------------------------------------
    def _history(self: Any, state: InstanceState, passive: int) -> History:
        key = self.key
        obj = state()
        d = obj.__dict__ if obj is not None else {}
        committed = state.committed_state
        if self._dynamic:
            pending = committed.get(key) if committed else None
            if pending is None or pending is NO_VALUE:
                return HISTORY_BLANK
            return History(list(pending.added) or (), (), list(pending.removed) or ())
        current = d.get(key, NO_VALUE)
        if current is NO_VALUE and obj is not None and state.ident is not None and (
                passive & PassiveFlag.SQL_OK) and state.session is not None:
            current = getattr(obj, key)
        if self.uselist:
            items = [] if current is NO_VALUE else current._docket_values() if hasattr(
                current, "_docket_values") else list(current)
            if committed is None or key not in committed:
                return History((), items or (), ()) if items else HISTORY_BLANK
            original = committed[key]
            orig = [] if original is NO_VALUE else original
            before = {id(x) for x in orig}
            now = {id(x) for x in items}
            added = [x for x in items if id(x) not in before]
            unchanged = [x for x in items if id(x) in before]
            deleted = [x for x in orig if id(x) not in now]
            return History(added or (), unchanged or (), deleted or ())
        if committed is None or key not in committed:
            if current is NO_VALUE or current is None:
                return HISTORY_BLANK if current is NO_VALUE else History((), [None], ())
            return History((), [current], ())
        original = committed[key]
        if current is original:
            return History((), [current], ())
        gone: Any = () if original is NO_VALUE or original is None else [original]
        if current is NO_VALUE:
            return History((), (), gone)
        return History([current], (), gone)

    # -- setting ---------------------------------------------------------------------------------
    def _setter(self: Any) -> Any:
        prop = self

        def set_relationship(obj: Any, value: Any) -> None:
            if not prop._configured:
                prop.mapper  # noqa: B018 - configure (uselist, collection class, reverse)
            if prop._dynamic:
                from docket.orm.dynamic import assign

                assign(prop, obj, value)
            elif prop.uselist:
                prop._set_collection(obj, value, None)
            else:
                prop._set_scalar(obj, value, None)

        return set_relationship

    def _deleter(self: Any) -> Any:
        prop = self

        def del_relationship(obj: Any) -> None:
            prop.mapper  # noqa: B018
            if prop.uselist:
                prop._set_collection(obj, [], None)
            else:
                prop._set_scalar(obj, None, None)

        return del_relationship

    def _check_item(self: Any, owner: Any, item: Any) -> InstanceState:
        """``item``'s state, after checking it is an instance of the target class.

        Raises:
            InvalidRequestError: it is not.
        """
        target = self.mapper.class_
        if not isinstance(item, target):
            raise exc.InvalidRequestError(
                f"Attribute '{type(owner).__name__}.{self.key}' accepts objects of type "
                f"{target.__name__} (or subclasses), not {item!r} of type "
                f"{type(item).__name__}; pass a {target.__name__} instance."
            )
        state = item.__dict__.get(STATE_KEY)
        return state if state is not None else instance_state(item)

    def _check_items(self: Any, owner: Any, items: list[Any]) -> list[InstanceState]:
        """:meth:`_check_item` of each of ``items``, in order."""
        target = self.mapper.class_
        out = []
        for item in items:
            state = item.__dict__.get(STATE_KEY) if item.__class__ is target else None
            out.append(state if state is not None else self._check_item(owner, item))
        return out

    def _old_value(self: Any, state: InstanceState, obj: Any) -> Any:
        """The current value of an unloaded scalar, as far as it can be known:
        from the identity map for a many-to-one (no SQL), loaded for a
        one-to-one parent side (its old child must be updated)."""
        if state.ident is None or state.session is None:
            return NO_VALUE
        from docket.orm import strategies

        if self.direction.name == "MANYTOONE" and not (
                self.cascade.delete_orphan or self.active_history):
            found = strategies.identity_lookup(self, state, obj)
            return NO_VALUE if found is strategies.NOT_FOUND else found
        return strategies.load_on_access(self, state, obj)

    def _set_scalar(self: Any, obj: Any, value: Any, initiator: Any,
                    vstate: InstanceState | None = None) -> None:
        """``obj.<key> = value`` with history, backref, orphan tracking and
        cascade; ``vstate`` is ``value``'s state when the caller already knows
        it (a backref from the owner's collection: the type is right)."""
        d = obj.__dict__
        state = _state(obj)
        key = self.key
        if value is not None and vstate is None:
            vstate = self._check_item(obj, value)
        old = d.get(key, NO_VALUE)
        if old is NO_VALUE and state.ident is not None:
            old = self._old_value(state, obj)
        if old is value and key in d:
            return
        _record(state, key, old)
        d[key] = value
        track = self._track_parents
        rev = self._reverse
        if old is not None and old is not NO_VALUE:
            ostate = _state(old)
            if track:
                _detach_parent(self, state, ostate)
            if rev is not None:
                rev._backref_remove(old, obj, self)
            if self.cascade.delete_orphan:
                self._expunge_pending_orphan(state, ostate)
        if value is not None:
            if track:
                self._attach_parent(state, vstate, value)
            if rev is not None and initiator is not rev:
                rev._backref_add(value, obj, self)
            if initiator is None and self.cascade.save_update:
                self._cascade_add(state, vstate, value)

    def _set_collection(self: Any, obj: Any, value: Any, initiator: Any) -> None:
        from docket.orm.collections import new_collection

        d = obj.__dict__
        state = _state(obj)
        key = self.key
        if value is None:
            raise exc.InvalidRequestError(
                f"Can't set collection '{type(obj).__name__}.{key}' to None; assign an empty "
                "collection, or call .clear()."
            )
        items = list(value.values()) if isinstance(value, dict) else list(value)
        old = d.get(key, NO_VALUE)
        if old is NO_VALUE and state.ident is not None and state.session is not None:
            old = getattr(obj, key)
        old_items = [] if old is NO_VALUE else old._docket_values() if hasattr(
            old, "_docket_values") else list(old)
        if old is not NO_VALUE and getattr(old, "_docket_owner", None) is not None:
            old._changing()
            old._docket_owner = None
        else:
            _record(state, key, old_items if old is not NO_VALUE else NO_VALUE)
        istates = self._check_items(obj, items)
        coll = new_collection(self, state, items)
        d[key] = coll
        if not old_items:
            self._appended_all(state, obj, items, istates, initiator)
            return
        before = {id(x) for x in old_items}
        after = {id(x) for x in items}
        for item in old_items:
            if id(item) not in after:
                self._coll_removed(state, item, initiator)
        for item, istate in zip(items, istates):
            if id(item) not in before:
                self._coll_appended(state, item, initiator, istate)

    def _appended_all(self: Any, state: InstanceState, obj: Any, items: list[Any],
                      istates: list[InstanceState], initiator: Any) -> None:
        """:meth:`_coll_appended` for each of ``items`` (a collection assigned
        whole), with the per-relationship decisions taken once."""
        if self._append_listeners or self._track_parents:
            for item, istate in zip(items, istates):
                self._coll_appended(state, item, initiator, istate)
            return
        rev = self._reverse
        if rev is initiator:
            rev = None
        cascade = initiator is None and self.cascade.save_update and state.session_id is not None
        if rev is not None and not rev.uselist and not rev._dynamic:
            set_scalar = rev._set_scalar  # the usual many-to-one backref, without the detour
            rkey = rev.key
            plain = not rev._track_parents
            for item, istate in zip(items, istates):
                d = item.__dict__
                if plain and istate.ident is None and rkey not in d:
                    # a new object's first parent: all _set_scalar would do is record
                    # "no value before" and store the parent
                    _record(istate, rkey, NO_VALUE)
                    d[rkey] = obj
                else:
                    set_scalar(item, obj, self, state)
                if cascade:
                    self._cascade_add(state, istate, item)
            return
        for item, istate in zip(items, istates):
            if rev is not None:
                rev._backref_add(item, obj, self)
            if cascade:
                self._cascade_add(state, istate, item)

    # -- collection events (called by docket.orm.collections) ----------------------------
    def _coll_changing(self: Any, state: InstanceState, coll: Any) -> None:
        committed = state.committed_state
        if committed is None or self.key not in committed:
            _record(state, self.key, coll._docket_values())
        elif not state.modified:
            state._modified_event()

    def _coll_appended(self: Any, state: InstanceState, item: Any,
                       initiator: Any, istate: InstanceState | None = None) -> None:
        obj = state()
        if istate is None:
            istate = self._check_item(obj, item)
        listeners = self._append_listeners
        if listeners:
            for fn, _retval in listeners:
                fn(obj, item, initiator or self._token("append"))
        if self._track_parents:
            self._attach_parent(state, istate, item)
        rev = self._reverse
        if rev is not None and initiator is not rev:
            rev._backref_add(item, obj, self)
        if initiator is None and self.cascade.save_update:
            self._cascade_add(state, istate, item)

    def _coll_removed(self: Any, state: InstanceState, item: Any,
                      initiator: Any) -> None:
        obj = state()
        istate = _state(item)
        listeners = self._remove_listeners
        if listeners:
            for fn, _retval in listeners:
                fn(obj, item, initiator or self._token("remove"))
        if self._track_parents:
            _detach_parent(self, state, istate)
        rev = self._reverse
        if rev is not None and initiator is not rev:
            rev._backref_remove(item, obj, self)
        if self.cascade.delete_orphan:
            self._expunge_pending_orphan(state, istate)

    # -- backrefs --------------------------------------------------------------------------------
    def _backref_add(self: Any, target: Any, item: Any,
                     initiator: RelationshipProperty) -> None:
        """The other side made ``item`` related to ``target``: reflect it in
        ``target.<self.key>`` (only if loaded, or ``target`` is new)."""
        d = target.__dict__
        tstate = _state(target)
        if self._dynamic:
            from docket.orm.dynamic import backref_add

            backref_add(self, tstate, target, item)
            return
        if not self.uselist:
            self._set_scalar(target, item, initiator)
            return
        coll = d.get(self.key, NO_VALUE)
        if coll is NO_VALUE:
            if tstate.ident is not None:
                if self._track_parents:
                    self._attach_parent(tstate, _state(item), item)
                _queue(self, tstate, item, added=True)
                return  # not loaded: queued for when it loads; the flush writes the link
            coll = self._init_collection(tstate)
        if not coll._docket_contains(item):
            coll._docket_append(item, initiator)

    def _backref_remove(self: Any, target: Any, item: Any,
                        initiator: RelationshipProperty) -> None:
        d = target.__dict__
        tstate = _state(target)
        if self._dynamic:
            from docket.orm.dynamic import backref_remove

            backref_remove(self, tstate, target, item)
            return
        if not self.uselist:
            current = d.get(self.key, NO_VALUE)
            if current is item or current is NO_VALUE:  # unloaded: it can only be item
                self._set_scalar(target, None, initiator)
            return
        coll = d.get(self.key, NO_VALUE)
        if coll is NO_VALUE:
            istate = _state(item)
            if self._track_parents:
                _detach_parent(self, tstate, istate)
            if self.cascade.delete_orphan:
                self._expunge_pending_orphan(tstate, istate)
            if tstate.ident is not None:
                _queue(self, tstate, item, added=False)
            return
        coll._docket_remove(item, initiator)

    # -- orphans, single parent, cascade ------------------------------------------------------
    def _attach_parent(self: Any, state: InstanceState, istate: InstanceState,
                       item: Any) -> None:
        parents = istate.parents
        if parents is None:
            parents = istate.parents = {}
        if self.single_parent:
            current = parents.get(self)
            if current and current is not state and current() is not None:
                obj = current()
                d = obj.__dict__.get(self.key, NO_VALUE)
                still = (d is item) if not self.uselist else (
                    d is not NO_VALUE and d._docket_contains(item))
                if still:
                    raise exc.InvalidRequestError(
                        f"Instance {_desc(item)} is already associated with an instance of "
                        f"{self.parent.class_.__name__} via its {self} attribute, and is only "
                        "allowed a single parent (single_parent=True); remove it from that "
                        "parent first."
                    )
        parents[self] = state

    def _expunge_pending_orphan(self: Any, state: InstanceState,
                                istate: InstanceState) -> None:
        """A pending child removed from a delete-orphan relationship leaves the
        session (it was never written, so there is nothing to delete)."""
        if istate.ident is not None or istate.session_id is None:
            return
        session = istate.session
        if session is None or istate not in session._new:
            return
        if not self.mapper._is_orphan(istate):
            return
        session._expunge_state(istate, to_transient=False)

    def _cascade_add(self: Any, state: InstanceState, istate: InstanceState,
                     item: Any) -> None:
        """save-update cascade on an attribute event: the owner is in a
        session, so the newly related object joins it."""
        sid = state.session_id
        if sid is None or istate.session_id == sid:
            return
        session = state.session
        if session is None:
            return
        if istate.ident is None or istate.session_id is None:
            session._cascade_save(istate, item)

    @property
    def _append_listeners(self: Any) -> list[tuple[Any, bool]]:
        return self._listeners("append")

    @property
    def _remove_listeners(self: Any) -> list[tuple[Any, bool]]:
        return self._listeners("remove")

    def _listeners(self: Any, identifier: str) -> list[tuple[Any, bool]]:
        """AttributeEvents listeners, recomputed only when listeners change."""
        cache = self.__dict__.get("_listener_cache")
        if cache is None or cache[0] != _event._version:
            from docket.orm.events import attribute_listeners

            cls = self.parent.class_
            cache = self.__dict__["_listener_cache"] = (
                _event._version, attribute_listeners(cls, self.key, "append"),
                attribute_listeners(cls, self.key, "remove"))
        return cache[1] if identifier == "append" else cache[2]

    def _token(self: Any, op: str) -> Any:
        from docket.orm.events import AttributeToken

        return AttributeToken(self.key, op)
