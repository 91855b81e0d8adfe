"""Event registration: ``listen``, ``listens_for``, ``remove``, ``contains``.

This module knows no concrete target.  Each layer declares its event families
by subclassing :class:`Events` (engine/pool events in ``docket.engine.events``,
Session/mapper/instance/attribute events in ``docket.orm.events``); a family
says which targets it accepts and resolves a target to the *holder* of its
listeners:

* a class (``Engine``, ``Session``, a mapped class): listeners are kept in a
  module-level registry keyed by ``(class, event name)`` and apply to every
  instance of that class and of its subclasses;
* an instance: listeners are kept on ``instance.dispatch``, a :class:`Dispatch`.

Invariant: ``Dispatch.<name>`` is a :class:`Listeners` whose truth value is
False when no listener anywhere applies, so hot paths guard with
``if dispatch.before_cursor_execute:`` and pay one cheap check.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, ClassVar, TypeVar

from docket.exc import InvalidRequestError

__all__ = ["Events", "Dispatch", "Listeners", "contains", "listen", "listens_for", "remove"]

_F = TypeVar("_F", bound=Callable[..., Any])

# (holder class, event name) -> listener entries; see _Entry.
_class_listeners: dict[tuple[type, str], list[_Entry]] = {}
# Bumped on every class-level change so Listeners caches know to recompute.
_version = 0

_families: list[type[Events]] = []


class _Entry:
    """One registration: the user's function and the callable actually invoked."""

    __slots__ = ("fn", "call", "retval")

    def __init__(self, fn: Callable[..., Any], call: Callable[..., Any], retval: bool) -> None:
        self.fn = fn
        self.call = call
        self.retval = retval


class Listeners:
    """The listeners for one event name on one holder, in invocation order.

    Order: listeners on base classes first, then subclasses, then parent
    dispatches (for example a connection's engine), then the holder's own.
    """

    __slots__ = ("name", "_classes", "_parents", "local", "_cache", "_seen")

    def __init__(
        self, name: str, classes: tuple[type, ...], parents: tuple[Dispatch, ...] = ()
    ) -> None:
        self.name = name
        self._classes = classes
        self._parents = parents
        self.local: list[_Entry] = []
        self._cache: tuple[_Entry, ...] = ()
        self._seen = -1

    def _entries(self) -> tuple[_Entry, ...]:
        if self._seen != _version:
            found: list[_Entry] = []
            for cls in reversed(self._classes):
                found.extend(_class_listeners.get((cls, self.name), ()))
            for parent in self._parents:
                found.extend(getattr(parent, self.name)._entries())
            found.extend(self.local)
            self._cache = tuple(found)
            self._seen = _version
        return self._cache

    def __bool__(self) -> bool:
        if self.local:
            return True
        return bool(self._entries())

    def __len__(self) -> int:
        return len(self._entries())

    def __iter__(self) -> Iterator[Callable[..., Any]]:
        return (e.call for e in self._entries())

    def __call__(self, *args: Any, **kw: Any) -> None:
        """Invoke every listener with the event's arguments."""
        for entry in self._entries():
            entry.call(*args, **kw)

    def retval_entries(self) -> tuple[_Entry, ...]:
        """Entries, for events whose listeners may return a replacement value."""
        return self._entries()


class Dispatch:
    """Per-instance listener holder; ``dispatch.<event>`` is a Listeners."""

    def __init__(self, family: type[Events], owner: type, parents: tuple[Dispatch, ...] = ()):
        self._family = family
        self._classes = tuple(c for c in owner.__mro__ if c is not object)
        self._parents = parents

    def __getattr__(self, name: str) -> Listeners:
        if name.startswith("_") or name not in self._family._event_names:
            raise AttributeError(name)
        listeners = Listeners(name, self._classes, self._parents)
        setattr(self, name, listeners)
        return listeners


class Events:
    """Base class of an event family.

    A subclass defines one method per event (its docstring documents the
    listener signature) and implements :meth:`_accept_with`.
    """

    _event_names: ClassVar[frozenset[str]] = frozenset()

    def __init_subclass__(cls, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        names = {
            n for n, v in vars(cls).items() if not n.startswith("_") and callable(v)
        }
        for base in cls.__mro__[1:]:
            names |= getattr(base, "_event_names", frozenset())
        cls._event_names = frozenset(names)
        _families.append(cls)

    @classmethod
    def _accept_with(cls, target: Any, identifier: str) -> Any:
        """Return the holder (a class or an object with ``.dispatch``) or None.

        The default accepts a class whose ``_dispatch_family`` is this family
        (or a subclass of it), and an instance whose ``dispatch`` is a
        :class:`Dispatch` of this family.  Otherwise a target may redirect:
        ``_event_redirects`` (a class attribute mapping family name to another
        target, for example Engine -> Pool for pool events) or an instance's
        ``_event_redirect(family)`` method (an engine -> its pool).
        """
        if isinstance(target, type):
            family = getattr(target, "_dispatch_family", None)
            if isinstance(family, type) and issubclass(family, cls):
                return target
            redirect = getattr(target, "_event_redirects", {}).get(cls.__name__)
            return cls._accept_with(redirect, identifier) if redirect is not None else None
        dispatch = getattr(target, "dispatch", None)
        if isinstance(dispatch, Dispatch) and issubclass(dispatch._family, cls):
            return target
        redirect_fn = getattr(target, "_event_redirect", None)
        if redirect_fn is not None:
            other = redirect_fn(cls)
            if other is not None and other is not target:
                return cls._accept_with(other, identifier)
        return None

    @classmethod
    def _wrap(cls, identifier: str, fn: Callable[..., Any], **kw: Any) -> Callable[..., Any]:
        """Adapt a listener (for example to named arguments); default: as is."""
        if kw.get("named"):
            raise InvalidRequestError(
                f"Event '{identifier}' does not support named=True listeners."
            )
        return fn

    @classmethod
    def _after_change(cls, holder: Any, identifier: str) -> None:
        """Called after a listener was added to or removed from ``holder``
        (families that install instrumentation only while listened to)."""


def _resolve(target: Any, identifier: str) -> tuple[type[Events], Any]:
    for family in reversed(_families):
        if identifier in family._event_names:
            holder = family._accept_with(target, identifier)
            if holder is not None:
                return family, holder
    raise InvalidRequestError(
        f"No such event '{identifier}' for target {target!r}. Check the event "
        "name and that the target is an Engine, Pool, Connection, Session, "
        "sessionmaker, scoped_session, mapped class or attribute, as the event needs."
    )


def _entries_for(holder: Any, identifier: str) -> list[_Entry]:
    if isinstance(holder, type):
        return _class_listeners.setdefault((holder, identifier), [])
    return getattr(holder.dispatch, identifier).local


def listen(target: Any, identifier: str, fn: Callable[..., Any], *args: Any, **kw: Any) -> None:
    """Register ``fn`` to be called when event ``identifier`` fires on ``target``.

    Args:
        target: an Engine, Pool, Connection, Session (class or instance),
            sessionmaker, scoped_session, mapped class, or mapped attribute.
        identifier: the event name, e.g. ``"before_cursor_execute"``.
        fn: the listener; its signature is the event's.
        once: call the listener only the first time the event fires.
        insert: put the listener first instead of last.
        retval: the listener's return value is used (events that allow it).
        propagate: accepted for compatibility (docket's class listeners always
            apply to subclasses).

    Raises:
        InvalidRequestError: no event of that name applies to the target.
    """
    global _version
    family, holder = _resolve(target, identifier)
    call = family._wrap(identifier, fn, **kw)
    if kw.get("once"):
        call = _once(call)
    entry = _Entry(fn, call, bool(kw.get("retval")))
    entries = _entries_for(holder, identifier)
    if kw.get("insert"):
        entries.insert(0, entry)
    else:
        entries.append(entry)
    _version += 1
    family._after_change(holder, identifier)


def listens_for(target: Any, identifier: str, *args: Any, **kw: Any) -> Callable[[_F], _F]:
    """Decorator form of :func:`listen`."""

    def decorate(fn: _F) -> _F:
        listen(target, identifier, fn, *args, **kw)
        return fn

    return decorate


def remove(target: Any, identifier: str, fn: Callable[..., Any]) -> None:
    """Remove a listener added with :func:`listen`.

    Raises:
        InvalidRequestError: ``fn`` is not registered for that event and target.
    """
    global _version
    family, holder = _resolve(target, identifier)
    entries = _entries_for(holder, identifier)
    for i, entry in enumerate(entries):
        if entry.fn is fn or entry.fn == fn:  # bound methods are new objects each access
            del entries[i]
            _version += 1
            family._after_change(holder, identifier)
            return
    raise InvalidRequestError(
        f"No listener {fn!r} is registered for event '{identifier}' on {target!r}."
    )


def contains(target: Any, identifier: str, fn: Callable[..., Any]) -> bool:
    """True if ``fn`` is registered for ``identifier`` on ``target``."""
    _, holder = _resolve(target, identifier)
    return any(e.fn is fn or e.fn == fn for e in _entries_for(holder, identifier))


def _once(fn: Callable[..., Any]) -> Callable[..., Any]:
    fired = False

    def call_once(*args: Any, **kw: Any) -> Any:
        nonlocal fired
        if fired:
            return None
        fired = True
        return fn(*args, **kw)

    return call_once
