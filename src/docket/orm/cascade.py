"""Walking relationships for the session's cascades (``save-update``,
``delete``, ``expunge``, ``merge``, ``refresh-expire``).

:func:`cascade_iter` yields every object reachable from one object through
relationships that carry a given cascade, each once, depth first.  Only
loaded values are followed unless ``load`` is set (``delete`` loads, as
SQLAlchemy does, so that children are deleted too).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from docket.orm.state import NO_VALUE, STATE_KEY, InstanceState, instance_state

__all__ = ["cascade_iter", "related"]


def related(prop: Any, state: InstanceState, obj: Any, load: bool) -> list[Any]:
    """The objects ``prop`` relates ``obj`` to: loaded ones, pending ones of a
    write-only collection, and (with ``load``) loaded from the database."""
    d = obj.__dict__
    if prop.lazy in ("write_only", "dynamic"):
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


def cascade_iter(state: InstanceState, obj: Any, cascade: str, load: bool = False,
                 halt_on: Callable[[InstanceState], bool] | None = None
                 ) -> Iterator[tuple[InstanceState, Any]]:
    """Every object reachable from ``obj`` along relationships with
    ``cascade`` (e.g. ``"save_update"``), excluding ``obj`` itself; objects
    for which ``halt_on`` is true are neither yielded nor walked through."""
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
                if halt_on is not None and halt_on(istate):
                    continue
                yield istate, item
                todo.append((istate, item))
