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
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

from docket import exc
from docket.orm.state import NO_VALUE, STATE_KEY, InstanceState, instance_state
from docket.sql.elements import ColumnElement

if TYPE_CHECKING:
    from docket.orm.mapper import Mapper

__all__ = [
    "History",
    "InstrumentedAttribute",
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


class History(NamedTuple):
    """An attribute's change since it was loaded: ``added`` (new value),
    ``unchanged`` (value loaded and not changed), ``deleted`` (value replaced)."""

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
    def _filter_by_entity(self) -> type:
        return self.class_

    @property
    def info(self) -> dict[str, Any]:
        return self.property.info  # type: ignore[no-any-return]

    def _op(self, name: str, *args: Any) -> Any:
        return getattr(self.__clause_element__(), name)(*args)

    def __eq__(self, other: Any) -> Any:  # type: ignore[override]
        return self.property._compare("__eq__", self, other)

    def __ne__(self, other: Any) -> Any:  # type: ignore[override]
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

    return set_scalar


def make_scalar_deleter(key: str) -> Callable[[Any], None]:
    def del_scalar(obj: Any) -> None:
        d = obj.__dict__
        state = instance_state(obj)
        if key not in d:
            raise AttributeError(f"{type(obj).__name__}.{key} has no value to delete")
        committed = state.committed_state
        if committed is None or key not in committed:
            if committed is None:
                state.committed_state = committed = {}
            committed[key] = d[key]
        d[key] = None  # the column is written as NULL at the next flush
        if not state.modified:
            state._modified_event()

    return del_scalar


def install_setattr(cls: type, setters: dict[str, Callable[[Any, Any], None]],
                    deleters: dict[str, Callable[[Any], None]]) -> None:
    """Give ``cls`` a ``__setattr__``/``__delattr__`` that route mapped keys
    through ``setters``/``deleters`` and everything else to the class's
    previous implementation."""
    base_set = cls.__setattr__
    base_del = cls.__delattr__
    if getattr(base_set, "_docket_setattr", False):
        base_set = base_set._docket_base  # type: ignore[attr-defined]
        base_del = base_del._docket_base  # type: ignore[attr-defined]
    get_setter = setters.get
    get_deleter = deleters.get

    def __setattr__(self: Any, key: str, value: Any) -> None:
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

    for fn, base in ((__setattr__, base_set), (__delattr__, base_del)):
        fn._docket_setattr = True  # type: ignore[attr-defined]
        fn._docket_base = base  # type: ignore[attr-defined]
        fn.__qualname__ = f"{cls.__qualname__}.{fn.__name__}"
    cls.__setattr__ = __setattr__  # type: ignore[method-assign,assignment]
    cls.__delattr__ = __delattr__  # type: ignore[method-assign,assignment]


# --- history and helpers ----------------------------------------------------------------


def _values_equal(a: Any, b: Any) -> bool:
    if a is b:
        return True
    if a is NO_VALUE or b is NO_VALUE:
        return False
    try:
        return bool(a == b)
    except Exception:
        return False


def get_state_history(state: InstanceState, key: str) -> History:
    prop = state.mapper.attrs.get(key)
    if prop is not None and hasattr(prop, "_history"):
        return prop._history(state)  # type: ignore[no-any-return]
    d = state.dict
    current = d.get(key, NO_VALUE)
    committed = state.committed_state
    if committed is None or key not in committed:
        return History((), [current] if current is not NO_VALUE else (), ())
    original = committed[key]
    if _values_equal(original, current):
        return History((), [current] if current is not NO_VALUE else (), ())
    return History(
        [current] if current is not NO_VALUE else (),
        (),
        [original] if original is not NO_VALUE else (),
    )


def get_history(obj: Any, key: str, passive: Any = None) -> History:
    """The change history of ``obj.<key>`` since it was loaded or flushed."""
    return get_state_history(instance_state(obj), key)


def _check_key(state: InstanceState, key: str) -> None:
    if key not in state.mapper.attrs:
        raise exc.InvalidRequestError(
            f"{state.mapper.class_.__name__} has no mapped attribute {key!r}"
        )


def flag_modified(obj: Any, key: str) -> None:
    """Mark ``obj.<key>`` changed (e.g. after mutating a JSON value in place),
    so the next flush writes it.

    Raises:
        InvalidRequestError: the attribute is not loaded on the object.
    """
    state = instance_state(obj)
    _check_key(state, key)
    if key not in state.dict:
        raise exc.InvalidRequestError(
            f"Can't flag attribute {key!r} modified; it's not present in the object state "
            "(load or set it first)."
        )
    state._modified_event()
    assert state.committed_state is not None
    state.committed_state.setdefault(key, NO_VALUE)


def flag_dirty(obj: Any) -> None:
    """Mark ``obj`` dirty without changing an attribute (flush events fire for it)."""
    instance_state(obj)._modified_event()


def set_committed_value(obj: Any, key: str, value: Any) -> None:
    """Set ``obj.<key>`` as if loaded from the database: no history, no UPDATE."""
    state = instance_state(obj)
    _check_key(state, key)
    prop = state.mapper.attrs[key]
    if hasattr(prop, "_set_committed"):
        prop._set_committed(state, value)
        return
    state.dict[key] = value
    if state.committed_state is not None:
        state.committed_state.pop(key, None)
    if state.expired_attributes:
        state.expired_attributes.discard(key)


def set_attribute(obj: Any, key: str, value: Any) -> None:
    """Set an attribute with history and events, as ``setattr`` would."""
    setattr(obj, key, value)


def get_attribute(obj: Any, key: str) -> Any:
    """Get an attribute, loading it if needed, as ``getattr`` would."""
    return getattr(obj, key)


def del_attribute(obj: Any, key: str) -> None:
    """Delete an attribute with history, as ``delattr`` would."""
    delattr(obj, key)


def init_collection(obj: Any, key: str) -> Any:
    """Initialise an empty collection for a relationship attribute and return it."""
    state = instance_state(obj)
    prop = state.mapper.attrs[key]
    return prop._init_collection(state)  # type: ignore[attr-defined]

