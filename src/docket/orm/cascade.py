"""Walking relationships for the session's cascades (``save-update``,
``delete``, ``expunge``, ``merge``, ``refresh-expire``).

:func:`cascade_iter` yields every object reachable from one object through
relationships that carry a given cascade, each once, depth first.  Only
loaded values are followed unless ``load`` is set (``delete`` loads, as
SQLAlchemy does, so that children are deleted too).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from docket.orm.state import NO_VALUE, STATE_KEY, WAS_DELETED, InstanceState, instance_state

if TYPE_CHECKING:
    from docket.orm.session import Session

__all__ = ["cascade_iter", "expire_related", "merge_related", "related", "save_children"]


def related(prop: Any, state: InstanceState, obj: Any, load: bool) -> list[Any]:
    """The objects ``prop`` relates ``obj`` to: loaded ones, pending ones of a
    write-only collection, and (with ``load``) loaded from the database."""
    d = obj.__dict__
    if prop._dynamic:
        committed = state.committed_state
        pending = committed.get(prop.key) if committed else None
        items = list(getattr(pending, "added", ()))
        if load and state.ident is not None and state.session is not None:
            from docket.orm.dynamic import load_all

            items += [x for x in load_all(prop, state, obj) if not any(x is y for y in items)]
        return items
    value = d.get(prop.key, NO_VALUE)
    if value is NO_VALUE:
        if not (load and state.ident is not None and state.session is not None):
            return []
        value = getattr(obj, prop.key)
    if value is None:
        return []
    if prop.uselist:
        return value._docket_values() if hasattr(value, "_docket_values") else list(value)
    return [value]


def cascade_iter(state: InstanceState, obj: Any, cascade: str, load: bool = False
                 ) -> Iterator[tuple[InstanceState, Any]]:
    """Every object reachable from ``obj`` along relationships with
    ``cascade`` (e.g. ``"delete"``), excluding ``obj`` itself (``add()``'s
    walk, which stops at objects already in the session, is
    :func:`save_children`)."""
    seen = {state}
    todo = [(state, obj)]
    while todo:
        st, o = todo.pop()
        for prop in st.mapper._rel_props:
            if not getattr(prop.cascade, cascade):
                continue
            for item in related(prop, st, o, load and not prop.passive_deletes):
                istate = item.__dict__.get(STATE_KEY) or instance_state(item)
                if istate in seen:
                    continue
                seen.add(istate)
                yield istate, item
                todo.append((istate, item))


# -- the session's cascades (bound as private Session methods' bodies) ---------------


def save_children(session: Session, state: InstanceState, obj: Any) -> None:
    """save-update cascade of ``add()``: related objects join the session;
    the walk stops at objects already in it (as SQLAlchemy's does).

    The same walk as :func:`cascade_iter` with the stop test inlined: this
    runs for every object added with its children."""
    from docket.orm.session_state import save_or_update_all

    sid = session.hash_key
    new = session._new
    here = session._identity_map._contains_state
    found: list[tuple[InstanceState, Any]] = []
    seen = {state}
    todo = [(state, obj)]
    while todo:
        st, o = todo.pop()
        d = o.__dict__
        for prop in st.mapper._save_cascades:
            items: Sequence[Any]
            if prop._dynamic:
                items = related(prop, st, o, False)
            else:  # related(), inline: the loaded value only
                value = d.get(prop.key)
                if value is None or value is NO_VALUE:
                    continue
                items = ((value._docket_values() if hasattr(value, "_docket_values")
                          else list(value)) if prop.uselist else (value,))
            for item in items:
                istate = item.__dict__.get(STATE_KEY) or instance_state(item)
                if istate in seen:
                    continue
                seen.add(istate)
                if istate.flags & WAS_DELETED or (
                        istate.session_id == sid and (istate in new or here(istate))):
                    continue
                pair = (istate, item)
                found.append(pair)
                todo.append(pair)
    save_or_update_all(session, found)


def expire_related(session: Session, state: InstanceState, obj: Any) -> None:
    """refresh-expire cascade: loaded related objects of this session are expired."""
    sid = session.hash_key
    for istate, _item in list(cascade_iter(state, obj, "refresh_expire")):
        if istate.session_id == sid and istate.ident is not None:
            session._expire_state(istate)


def merge_related(session: Session, state: InstanceState, instance: Any, target: Any,
                  load: bool, memo: dict[InstanceState, Any]) -> None:
    """merge cascade: the loaded related objects of ``instance`` are merged
    and set on ``target`` (as changes with ``load``, as loaded values without)."""
    tstate = target.__dict__[STATE_KEY]
    for prop in state.mapper._rel_props:
        if not prop.cascade.merge or prop._dynamic:
            continue
        if prop.key not in instance.__dict__:
            continue
        items = [session._merge(i.__dict__.get(STATE_KEY) or instance_state(i), i, load, memo)
                 for i in related(prop, state, instance, False)]
        value: Any = items if prop.uselist else (items[0] if items else None)
        if load:
            setattr(target, prop.key, value)
        else:
            prop._set_committed(tstate, value)
