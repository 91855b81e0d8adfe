"""Instrumented attributes and attribute history.

How mapped attributes are instrumented (the hot path; DESIGN.md):

* **Reads cost nothing extra.**  A mapped attribute is a *non-data*
  descriptor (it defines ``__get__`` only), so when the value is in the
  object's ``__dict__`` Python returns it directly, at plain-attribute
  speed.  ``__get__`` runs only when the key is missing: the attribute is
  unloaded, expired or deferred, and :meth:`QueryableAttribute.__get__`
  loads it (or answers None for a new object).
* **Writes go through the mapped class's ``__setattr__``** (installed by the
  mapper), which looks the key up in the mapper's setter table.  A column
  setter records the committed value only on the first change since the last
  load/flush, then marks the state modified -- so history costs nothing for
  untouched attributes and flush costs O(changed objects).
* **Classes with their own ``__setattr__``** (or inheriting one from an
  unmapped base) keep it: their attributes become *data* descriptors
  (:class:`_DataInstrumentedAttribute`) so that the user's method, ending in
  ``super().__setattr__``, still reaches the history-recording setter.  Only
  such classes pay a descriptor call on reads.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

from docket import exc
from docket.orm.state import (
    EXPIRED,
    NO_VALUE,
    STATE_KEY,
    InstanceState,
    _session_refs,
    instance_state,
)
from docket.sql.elements import ColumnElement

if TYPE_CHECKING:
    from docket.orm.mapper import Mapper

__all__ = [
    "History",
    "InstrumentedAttribute",
    "NO_VALUE",
    "PASSIVE_NO_FETCH",
    "PASSIVE_NO_INITIALIZE",
    "PASSIVE_OFF",
    "PassiveFlag",
    "QueryableAttribute",
    "del_attribute",
    "flag_dirty",
    "flag_modified",
    "get_attribute",
    "get_history",
    "init_collection",
    "instance_state",
    "set_attribute",
    "set_committed_value",
]


class PassiveFlag(enum.IntFlag):
    """What an attribute read for history may do (SQLAlchemy's names)."""

    NO_CHANGE = 0
    #: run loader callables (lazy/deferred/expired loads)
    CALLABLES_OK = 1
    #: emit SQL to load a value
    SQL_OK = 2


#: load the value if needed (the default of ``get_history``)
PASSIVE_OFF = PassiveFlag.CALLABLES_OK | PassiveFlag.SQL_OK
#: never load: an unloaded attribute has empty history
PASSIVE_NO_INITIALIZE = PassiveFlag.NO_CHANGE
#: load from memory only, never emit SQL
PASSIVE_NO_FETCH = PassiveFlag.CALLABLES_OK


class History(NamedTuple):
    """An attribute's change since it was loaded: ``added`` (new value),
    ``unchanged`` (value loaded and not changed), ``deleted`` (value replaced).

    Populated entries are lists, empty ones ``()``, as in SQLAlchemy:
    ``History(added=['new'], unchanged=(), deleted=['old'])``.
    """

    added: tuple[Any, ...] | list[Any]
    unchanged: tuple[Any, ...] | list[Any]
    deleted: tuple[Any, ...] | list[Any]

    def has_changes(self) -> bool:
        return bool(self.added or self.deleted)

    def empty(self) -> bool:
        return not (self.added or self.unchanged or self.deleted)

    def non_deleted(self) -> list[Any]:
        return list(self.added) + list(self.unchanged)

    def non_added(self) -> list[Any]:
        return list(self.unchanged) + list(self.deleted)

    def sum(self) -> list[Any]:
        return list(self.added) + list(self.unchanged) + list(self.deleted)


HISTORY_BLANK = History((), (), ())


class QueryableAttribute:
    """A mapped attribute on the class: ``User.name``.

    In SQL it stands for its column (``User.name == "x"``,
    ``select(User.name)``, ``order_by(User.name.desc())``); on an instance
    it is the attribute's value.
    """

    is_attribute = True
    _of_type: Any = None

    def __init__(self, class_: type, key: str, prop: Any, mapper: Mapper) -> None:
        self.class_ = class_
        self.key = key
        self.property = prop
        self.parent = mapper
        self._expr: ColumnElement | None = None

    # -- instance access ------------------------------------------------------------
    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            return self
        return self.property._get_missing(obj, self.key)

    # -- SQL expression ---------------------------------------------------------------
    def __clause_element__(self) -> Any:
        return self.property._clause_element(self)

    @property
    def expression(self) -> Any:
        return self.__clause_element__()

    @property
    def __docket_join__(self) -> Any:
        """``select(...).join(User.addresses)``: relationships know their target
        and ON clause (AttributeError for column attributes)."""
        hook = getattr(self.property, "_join_hook", None)
        if hook is None:
            raise AttributeError("__docket_join__")
        return lambda left, target: hook(self, left, target)

    @property
    def _filter_by_entity(self) -> type:
        return self.class_

    @property
    def info(self) -> dict[str, Any]:
        return self.property.info

    def _op(self, name: str, *args: Any) -> Any:
        return getattr(self.__clause_element__(), name)(*args)

    def __eq__(self, other: Any) -> Any:
        return self.property._compare("__eq__", self, other)

    def __ne__(self, other: Any) -> Any:
        return self.property._compare("__ne__", self, other)

    def __lt__(self, other: Any) -> Any:
        return self._op("__lt__", other)

    def __le__(self, other: Any) -> Any:
        return self._op("__le__", other)

    def __gt__(self, other: Any) -> Any:
        return self._op("__gt__", other)

    def __ge__(self, other: Any) -> Any:
        return self._op("__ge__", other)

    def __add__(self, other: Any) -> Any:
        return self._op("__add__", other)

    def __radd__(self, other: Any) -> Any:
        return self._op("__radd__", other)

    def __sub__(self, other: Any) -> Any:
        return self._op("__sub__", other)

    def __rsub__(self, other: Any) -> Any:
        return self._op("__rsub__", other)

    def __mul__(self, other: Any) -> Any:
        return self._op("__mul__", other)

    def __rmul__(self, other: Any) -> Any:
        return self._op("__rmul__", other)

    def __truediv__(self, other: Any) -> Any:
        return self._op("__truediv__", other)

    def __mod__(self, other: Any) -> Any:
        return self._op("__mod__", other)

    def __neg__(self) -> Any:
        return self._op("__neg__")

    def __invert__(self) -> Any:
        return self._op("__invert__")

    def __and__(self, other: Any) -> Any:
        return self._op("__and__", other)

    def __or__(self, other: Any) -> Any:
        return self._op("__or__", other)

    __hash__ = object.__hash__

    def __getattr__(self, name: str) -> Any:
        # like(), in_(), desc(), label(), is_(), ... of the column expression
        if name.startswith("__"):
            raise AttributeError(name)
        try:
            target = self.property._comparator_target(self)
        except AttributeError:
            raise AttributeError(name) from None
        try:
            return getattr(target, name)
        except AttributeError:
            raise AttributeError(
                f"Neither {type(self).__name__} object for {self.class_.__name__}.{self.key} "
                f"nor its SQL expression has an attribute {name!r}"
            ) from None

    def __repr__(self) -> str:
        return f"<{self.class_.__name__}.{self.key}>"

    def __str__(self) -> str:
        return f"{self.class_.__name__}.{self.key}"


class InstrumentedAttribute(QueryableAttribute):
    """The descriptor placed on a mapped class for each mapped attribute."""


class _DataInstrumentedAttribute(InstrumentedAttribute):
    """A mapped attribute on a class with a user-defined ``__setattr__``: a
    data descriptor, so ``object.__setattr__`` (reached through the user's
    ``super().__setattr__``) records history too."""

    def __init__(self, class_: type, key: str, prop: Any, mapper: Mapper,
                 setter: Callable[[Any, Any], None] | None,
                 deleter: Callable[[Any], None] | None) -> None:
        super().__init__(class_, key, prop, mapper)
        self._set = setter
        self._del = deleter

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            return self
        try:
            return obj.__dict__[self.key]
        except KeyError:
            return self.property._get_missing(obj, self.key)

    def __set__(self, obj: Any, value: Any) -> None:
        if self._set is None:
            raise AttributeError(f"{type(obj).__name__}.{self.key} can't be set")
        self._set(obj, value)

    def __delete__(self, obj: Any) -> None:
        if self._del is None:
            raise AttributeError(f"{type(obj).__name__}.{self.key} can't be deleted")
        self._del(obj)


def has_user_setattr(cls: type) -> bool:
    """True when ``cls`` has a ``__setattr__``/``__delattr__`` of its own (or
    from an unmapped base) that docket's instrumentation must not replace."""
    for name, default in (("__setattr__", object.__setattr__),
                          ("__delattr__", object.__delattr__)):
        fn = getattr(cls, name)
        base = getattr(fn, "_docket_base", fn) if getattr(fn, "_docket_setattr", False) else fn
        if base is not default:
            return True
    return False


# --- setters (installed in the mapped class's __setattr__ table) ----------------------


def make_scalar_setter(key: str) -> Callable[[Any, Any], None]:
    """A setter recording history for column attribute ``key``."""

    def set_scalar(obj: Any, value: Any) -> None:
        d = obj.__dict__
        state = d.get(STATE_KEY)
        if state is None:
            state = instance_state(obj)
        committed = state.committed_state
        if committed is None:
            state.committed_state = {key: d.get(key, NO_VALUE)}
            d[key] = value
            state._modified_event()
            return
        if key not in committed:
            committed[key] = d.get(key, NO_VALUE)
        d[key] = value
        if not state.modified:
            state._modified_event()

    set_scalar._docket_plain = True  # type: ignore[attr-defined]  # see plain_setter_keys
    return set_scalar


def plain_setter_keys(setters: dict[str, Callable[[Any, Any], None]]) -> set[str]:
    """Keys whose setter is the plain recording setter (no ``set`` listeners): the
    class's ``__setattr__`` records them inline, and the keyword constructor writes
    a new object's values straight into ``__dict__``.  Kept as ``mapper._plain_keys``
    and updated in place when listeners come and go."""
    return {k for k, f in setters.items() if getattr(f, "_docket_plain", False)}


def install_set_listeners(mapper: Mapper, key: str,
                          listeners: list[tuple[Callable[..., Any], bool]]) -> None:
    """Route sets of ``key`` on ``mapper``'s class through ``set`` listeners
    (AttributeEvents; ``(fn, retval)`` pairs: with ``retval`` the listener's
    result is the value stored), or back to the plain setter when
    ``listeners`` is empty.  Only the listened-to key pays for the events."""
    plain = mapper._plain_setters  # key -> the setter wrapped by set_with_events
    current = mapper._setters.get(key)
    if current is None:
        return  # not a settable attribute (e.g. a column_property expression)
    base = plain.get(key, current)
    if not listeners:
        if key in plain:
            mapper._setters[key] = restored = plain.pop(key)
            _set_descriptor_setter(mapper, key, restored)
            if getattr(restored, "_docket_plain", False):
                mapper._plain_keys.add(key)
        return
    plain[key] = base
    mapper._plain_keys.discard(key)
    fns = tuple(listeners)
    from docket.orm.events import AttributeToken

    token = AttributeToken(key, "set")

    def set_with_events(obj: Any, value: Any) -> None:
        old = obj.__dict__.get(key, NO_VALUE)
        for fn, retval in fns:
            result = fn(obj, value, old, token)
            if retval:
                value = result
        base(obj, value)

    mapper._setters[key] = set_with_events
    _set_descriptor_setter(mapper, key, set_with_events)


def _set_descriptor_setter(mapper: Mapper, key: str, setter: Callable[[Any, Any], None]) -> None:
    attr = mapper.class_.__dict__.get(key)
    if isinstance(attr, _DataInstrumentedAttribute):
        attr._set = setter


def make_scalar_deleter(key: str) -> Callable[[Any], None]:
    """A deleter for column attribute ``key``: records history and leaves
    None (written as NULL at the next flush)."""

    def del_scalar(obj: Any) -> None:
        d = obj.__dict__
        state = d.get(STATE_KEY)
        if state is None:
            state = instance_state(obj)
        if key not in d:
            expired = state._expired_attributes
            if not (state.flags & EXPIRED or (expired and key in expired)):
                raise AttributeError(
                    f"{type(obj).__name__}.{key} has no value to delete (it was never set "
                    "or loaded)"
                )
        committed = state.committed_state
        if committed is None:
            state.committed_state = committed = {}
        if key not in committed:
            committed[key] = d.get(key, NO_VALUE)
        d[key] = None
        if not state.modified:
            state._modified_event()

    return del_scalar


def install_setattr(cls: type, setters: dict[str, Callable[[Any, Any], None]],
                    deleters: dict[str, Callable[[Any], None]], plain: set[str]) -> None:
    """Give ``cls`` a ``__setattr__``/``__delattr__`` that route mapped keys
    through ``setters``/``deleters`` and everything else to the class's
    previous implementation.  Keys in ``plain`` (``mapper._plain_keys``, the
    same set object, kept current as listeners come and go) are recorded by
    ``__setattr__`` itself, as their plain setter would."""
    base_set: Any = cls.__setattr__
    base_del: Any = cls.__delattr__
    if getattr(base_set, "_docket_setattr", False):
        base_set = base_set._docket_base
        base_del = base_del._docket_base
    get_setter = setters.get
    get_deleter = deleters.get
    session_ref = _session_refs.get

    def __setattr__(self: Any, key: str, value: Any) -> None:
        if key in plain:  # make_scalar_setter's recording, inlined: the hottest write
            d = self.__dict__
            state = d.get(STATE_KEY)
            if state is not None:
                committed = state.committed_state
                if committed is None:  # the first change: InstanceState._modified_event
                    state.committed_state = {key: d.get(key, NO_VALUE)}
                    d[key] = value
                    state.modified = True
                    sid = state.session_id
                    if sid is not None:
                        ref = session_ref(sid)
                        session = ref() if ref is not None else None
                        if session is not None:
                            session._modified[state] = self
                            if session._transaction is None and session.autobegin:
                                session._autobegin_t()
                    return
                if key not in committed:
                    committed[key] = d.get(key, NO_VALUE)
                d[key] = value
                if not state.modified:
                    state._modified_event()
                return
        setter = get_setter(key)
        if setter is None:
            base_set(self, key, value)
        else:
            setter(self, value)

    def __delattr__(self: Any, key: str) -> None:
        deleter = get_deleter(key)
        if deleter is None:
            base_del(self, key)
        else:
            deleter(self)

    fn: Any
    for fn, base in ((__setattr__, base_set), (__delattr__, base_del)):
        fn._docket_setattr = True
        fn._docket_base = base
        fn.__qualname__ = f"{cls.__qualname__}.{fn.__name__}"
    cls.__setattr__ = __setattr__  # type: ignore[method-assign,assignment]
    cls.__delattr__ = __delattr__  # type: ignore[method-assign,assignment]


# --- history and helpers ----------------------------------------------------------------


def _values_equal(a: Any, b: Any) -> bool:
    """Equality for history: only a plain ``True`` from ``==`` counts (a SQL
    expression compared to a value is a change)."""
    if a is b:
        return True
    if a is NO_VALUE or b is NO_VALUE:
        return False
    try:
        return (a == b) is True
    except Exception:
        return False


def _scalar_history(state: InstanceState, key: str, current: Any) -> History:
    """History of a scalar attribute whose current value is ``current``
    (NO_VALUE: none).  The committed value recorded at the first change is
    the reference; NO_VALUE there means "had no value" and is not reported
    as deleted."""
    committed = state.committed_state
    if committed is None or key not in committed:
        return HISTORY_BLANK if current is NO_VALUE else History((), [current], ())
    original = committed[key]
    if current is not NO_VALUE and _values_equal(current, original):
        return History((), [current], ())
    deleted: Any = () if original is NO_VALUE else [original]
    if current is NO_VALUE:
        return History((), (), deleted)
    return History([current], (), deleted)


def get_state_history(state: InstanceState, key: str,
                      passive: int = PASSIVE_OFF) -> History:
    """History of ``key`` on ``state``; with ``PASSIVE_OFF`` an unloaded
    attribute of a persistent object is loaded first.

    Raises:
        InvalidRequestError: ``key`` is not a mapped attribute.
        DetachedInstanceError: loading was needed on a detached object.
    """
    prop = state.mapper._props.get(key)
    if prop is None:
        _check_key(state, key)
    if hasattr(prop, "_history"):
        return prop._history(state, passive)  # type: ignore[union-attr]
    obj = state()
    d = obj.__dict__ if obj is not None else {}
    if key in d:
        return _scalar_history(state, key, d[key])
    committed = state.committed_state
    if (committed is None or key not in committed) and passive & PassiveFlag.SQL_OK and (
        obj is not None and state.ident is not None
    ):
        prop._get_missing(obj, key)  # type: ignore[union-attr]
        return _scalar_history(state, key, d.get(key, NO_VALUE))
    return _scalar_history(state, key, NO_VALUE)


def get_history(obj: Any, key: str, passive: int = PASSIVE_OFF) -> History:
    """The change history of ``obj.<key>`` since it was loaded or flushed.

    Args:
        obj: a mapped object.
        key: a mapped attribute name.
        passive: ``PASSIVE_OFF`` (default) loads an unloaded attribute of a
            persistent object; ``PASSIVE_NO_INITIALIZE`` never loads.

    Raises:
        UnmappedInstanceError: ``obj`` is not a mapped object.
        InvalidRequestError: ``key`` is not a mapped attribute.
    """
    return get_state_history(instance_state(obj), key, passive)


def _check_key(state: InstanceState, key: str) -> None:
    if key not in state.mapper._props:
        raise exc.InvalidRequestError(
            f"{state.mapper.class_.__name__} has no mapped attribute {key!r}; mapped "
            f"attributes are {sorted(state.mapper._props)}."
        )


def flag_modified(obj: Any, key: str) -> None:
    """Mark ``obj.<key>`` changed (e.g. after mutating a JSON value in place),
    so the next flush writes it.  Its history then shows the current value
    as added.

    Raises:
        InvalidRequestError: ``key`` is not mapped, or has no value on the
            object (load or set it first).
    """
    state = instance_state(obj)
    _check_key(state, key)
    if key not in obj.__dict__:
        raise exc.InvalidRequestError(
            f"Can't flag attribute {key!r} modified; it's not present in the object state "
            f"of {type(obj).__name__} (load or set it first)."
        )
    committed = state.committed_state
    if committed is None:
        state.committed_state = committed = {}
    committed.setdefault(key, NO_VALUE)
    state._modified_event()


def flag_dirty(obj: Any) -> None:
    """Mark ``obj`` dirty without changing an attribute: it appears in
    ``session.dirty`` and flush events fire for it, though no UPDATE is
    emitted unless an attribute changed."""
    instance_state(obj)._modified_event()


def set_committed_value(obj: Any, key: str, value: Any) -> None:
    """Set ``obj.<key>`` as if loaded from the database: no history, no UPDATE.

    Raises:
        InvalidRequestError: ``key`` is not a mapped attribute.
    """
    state = instance_state(obj)
    _check_key(state, key)
    prop = state.mapper._props[key]
    if hasattr(prop, "_set_committed"):
        prop._set_committed(state, value)
        return
    obj.__dict__[key] = value
    committed = state.committed_state
    if committed is not None:
        committed.pop(key, None)
    expired = state._expired_attributes
    if expired:
        expired.discard(key)


def set_attribute(obj: Any, key: str, value: Any) -> None:
    """Set a mapped attribute with history, bypassing any user-defined
    ``__setattr__`` or property of the class (as SQLAlchemy's does).

    Raises:
        InvalidRequestError: ``key`` is not a mapped attribute.
    """
    state = instance_state(obj)
    setter = state.mapper._setters.get(key)
    if setter is None:
        _check_key(state, key)
        raise AttributeError(f"{type(obj).__name__}.{key} can't be set")
    setter(obj, value)


def get_attribute(obj: Any, key: str) -> Any:
    """Get a mapped attribute, loading it if needed.

    Raises:
        InvalidRequestError: ``key`` is not a mapped attribute.
    """
    state = instance_state(obj)
    _check_key(state, key)
    d = obj.__dict__
    if key in d:
        return d[key]
    return state.mapper._props[key]._get_missing(obj, key)  # type: ignore[attr-defined]


def del_attribute(obj: Any, key: str) -> None:
    """Delete a mapped attribute's value with history (the column is written
    as NULL at the next flush).

    Raises:
        InvalidRequestError: ``key`` is not a mapped attribute.
        AttributeError: the attribute has no value.
    """
    state = instance_state(obj)
    _check_key(state, key)
    deleter = state.mapper._props[key]._deleter()
    if deleter is None:
        raise AttributeError(f"{type(obj).__name__}.{key} can't be deleted")
    deleter(obj)


def init_collection(obj: Any, key: str) -> Any:
    """Initialise an empty collection for a relationship attribute and return it.

    Raises:
        InvalidRequestError: ``key`` is not a collection attribute.
    """
    state = instance_state(obj)
    _check_key(state, key)
    prop = state.mapper._props[key]
    init = getattr(prop, "_init_collection", None)
    if init is None:
        raise exc.InvalidRequestError(
            f"{type(obj).__name__}.{key} is not a collection (relationship) attribute; "
            "init_collection() applies to collections only."
        )
    return init(state)
