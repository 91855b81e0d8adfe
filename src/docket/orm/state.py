"""InstanceState: the ORM's bookkeeping for one mapped object.

An InstanceState *is* a weak reference to its object (a ``weakref.ref``
subclass with ``__slots__``): calling it returns the object or None.  The
object holds its state strongly in ``obj.__dict__[STATE_KEY]``; the state
holds the object weakly, so an unreferenced clean object can be collected and
its identity-map entry removed by :func:`_object_gone`.

Slots and their invariants:

* ``mapper`` -- the object's Mapper.
* ``ident`` -- the primary key as the identity map keys it within the base
  mapper: the bare value for a single-column key, a tuple otherwise; None
  until the object is persistent.  ``key`` builds SQLAlchemy's
  ``(class, pk_tuple, identity_token)`` from it on demand.
* ``session_id`` -- the owning Session's id (see ``_sessions``) or None.
* ``committed_state`` -- attribute key -> value as last loaded/flushed, kept
  only for attributes changed since (NO_VALUE if never loaded); None when
  nothing changed.  This is the history: it costs nothing until a change.
* ``modified`` -- set by the first change after a load/flush; a modified state
  is held strongly by its session until flushed.
* ``expired_attributes`` -- keys to reload on next access (a set; None in
  ``_expired_attributes`` until the first expiry, so hot paths test its
  truthiness without building a set).
* ``flags`` -- DELETED (row deleted by a flush in the current transaction),
  WAS_DELETED (ever deleted by a flush), EXPIRED (whole object expired).
* ``_extra`` -- None, or a :class:`_StateExtra` holding the attributes most
  states never set: ``identity_token``, ``load_ctx`` (loader options for
  lazy loads), ``parents`` (orphan tracking) and the ``_expired_attributes``
  set.  They read as attributes of the state (properties); keeping them
  apart saves 24 bytes on every loaded object.
"""

from __future__ import annotations

import operator
import weakref
from collections.abc import Iterator
from enum import Enum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from docket.orm.mapper import Mapper
    from docket.orm.session import Session

__all__ = ["AttributeState", "InstanceState", "NO_VALUE", "ObjectState", "STATE_KEY", "instance_state"]

#: where an object keeps its InstanceState in ``__dict__``
STATE_KEY = "_docket_state"

DELETED = 1
WAS_DELETED = 2
EXPIRED = 4


class _NoValue:
    """Marker: the attribute had no value (never loaded / never set)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "NO_VALUE"

    def __bool__(self) -> bool:
        return False

    def __reduce__(self) -> str:
        return "NO_VALUE"


NO_VALUE: Any = _NoValue()

#: session id -> weak reference to the Session, so a state can find its session
#: without a strong ref.  A plain dict of refs: a lookup is one dict get and one
#: call (a WeakValueDictionary's ``get`` is a Python method), and the attribute-set
#: and flush paths look sessions up once per object.
_session_refs: dict[int, weakref.ref[Session]] = {}


class _SessionRegistry:
    """The live sessions by id (see ``_session_refs``)."""

    __slots__ = ()

    def __setitem__(self, sid: int, session: Session) -> None:
        def gone(ref: weakref.ref[Session], sid: int = sid) -> None:
            if _session_refs.get(sid) is ref:
                del _session_refs[sid]

        _session_refs[sid] = weakref.ref(session, gone)

    def get(self, sid: int) -> Session | None:
        ref = _session_refs.get(sid)
        return ref() if ref is not None else None

    def __contains__(self, sid: object) -> bool:
        ref = _session_refs.get(sid)  # type: ignore[call-overload]
        return ref is not None and ref() is not None

    def values(self) -> list[Session]:
        return [s for s in (r() for r in list(_session_refs.values())) if s is not None]


_sessions = _SessionRegistry()


class ObjectState(Enum):
    """The lifecycle states of a mapped object (see docs/states.md)."""

    TRANSIENT = "transient"
    PENDING = "pending"
    PERSISTENT = "persistent"
    DELETED = "deleted"
    DETACHED = "detached"


def _object_gone(state: InstanceState) -> None:
    """Weakref callback: a clean object was garbage collected."""
    ref = _session_refs.get(state.session_id)  # type: ignore[arg-type]
    if ref is not None:
        session = ref()
        if session is not None:
            session._identity_map._discard_gone(state)


def new_state(obj: Any, mapper: Mapper) -> InstanceState:
    """A fresh (transient) state for ``obj``; every slot but ``__weakref__`` set."""
    state = InstanceState(obj, _object_gone)
    state.mapper = mapper
    state.ident = None
    state.session_id = None
    state.committed_state = None
    state.modified = False
    state.flags = 0
    state._extra = None
    return state


class _StateExtra:
    """The rarely set attributes of an InstanceState (see the module docstring)."""

    __slots__ = ("identity_token", "load_ctx", "parents", "expired")

    def __init__(self) -> None:
        self.identity_token: Any = None
        self.load_ctx: Any = None
        self.parents: Any = None
        self.expired: set[str] | None = None


def _extra_attribute(name: str) -> Any:
    """A property of InstanceState stored in its ``_extra`` (None until set)."""
    getter = operator.attrgetter(name)

    def get(self: InstanceState) -> Any:
        extra = self._extra
        return None if extra is None else getter(extra)

    def set_(self: InstanceState, value: Any) -> None:
        extra = self._extra
        if extra is None:
            if value is None:
                return
            extra = self._extra = _StateExtra()
        setattr(extra, name, value)

    return property(get, set_)


class InstanceState(weakref.ref):
    """Per-object ORM state; ``inspect(obj)`` returns it."""

    __slots__ = (
        "mapper", "ident", "session_id", "committed_state", "modified", "flags", "_extra",
        "__weakref__",
    )

    mapper: Mapper
    ident: Any
    session_id: int | None
    committed_state: dict[str, Any] | None
    modified: bool
    flags: int
    _extra: _StateExtra | None

    identity_token = _extra_attribute("identity_token")
    load_ctx = _extra_attribute("load_ctx")
    parents = _extra_attribute("parents")
    _expired_attributes = _extra_attribute("expired")

    # weakrefs compare their referents; states compare by identity
    __hash__ = object.__hash__

    def __eq__(self, other: object) -> bool:
        return self is other

    def __ne__(self, other: object) -> bool:
        return self is not other

    # Made by new_state() (or, in generated loaders, the same steps inline): the
    # weakref is created in C, with no Python __new__/__init__ to run per object.

    # -- object ----------------------------------------------------------------
    def obj(self) -> Any:
        """The object, or None if it was garbage collected."""
        return self()

    @property
    def object(self) -> Any:
        return self()

    @property
    def dict(self) -> dict[str, Any]:
        obj = self()
        return obj.__dict__ if obj is not None else {}

    @property
    def class_(self) -> type:
        return self.mapper.class_

    # -- identity ------------------------------------------------------------------
    @property
    def key(self) -> tuple[type, tuple[Any, ...], Any] | None:
        """SQLAlchemy's identity key ``(class, primary key tuple, token)``."""
        if self.ident is None:
            return None
        pk = self.ident if isinstance(self.ident, tuple) else (self.ident,)
        return (self.mapper.base_mapper.class_, pk, self.identity_token)

    identity_key = key

    @property
    def identity(self) -> tuple[Any, ...] | None:
        """The primary key tuple, or None before the object is persistent."""
        if self.ident is None:
            return None
        return self.ident if isinstance(self.ident, tuple) else (self.ident,)

    @property
    def has_identity(self) -> bool:
        return self.ident is not None

    # -- session -----------------------------------------------------------------
    @property
    def session(self) -> Session | None:
        ref = _session_refs.get(self.session_id)  # type: ignore[arg-type]
        return ref() if ref is not None else None

    @property
    def _attached(self) -> bool:
        sid = self.session_id
        return sid is not None and sid in _sessions

    # -- lifecycle states ---------------------------------------------------------
    @property
    def transient(self) -> bool:
        return self.ident is None and not self._attached

    @property
    def pending(self) -> bool:
        return self.ident is None and self._attached

    @property
    def persistent(self) -> bool:
        return self.ident is not None and self._attached and not self.flags & DELETED

    @property
    def deleted(self) -> bool:
        return self.ident is not None and self._attached and bool(self.flags & DELETED)

    @property
    def detached(self) -> bool:
        return self.ident is not None and not self._attached

    @property
    def was_deleted(self) -> bool:
        return bool(self.flags & WAS_DELETED)

    @property
    def status(self) -> ObjectState:
        """The lifecycle state as an :class:`ObjectState`."""
        if self.ident is None:
            return ObjectState.PENDING if self._attached else ObjectState.TRANSIENT
        if not self._attached:
            return ObjectState.DETACHED
        return ObjectState.DELETED if self.flags & DELETED else ObjectState.PERSISTENT

    # -- attributes -------------------------------------------------------------------
    @property
    def expired_attributes(self) -> set[str]:
        """Keys of attributes expired and reloaded on next access (a set, as in
        SQLAlchemy; the slot holds None until something is expired)."""
        expired = self._expired_attributes
        if expired is None:
            expired = self._expired_attributes = set()
        if self.flags & EXPIRED:
            # the whole object is expired: every unloaded column attribute is
            # (folded into the set, which is what a reload consults)
            obj = self()
            if obj is not None:
                d = obj.__dict__
                expired.update(k for k in self.mapper._eager_column_keys if k not in d)
        return expired

    @expired_attributes.setter
    def expired_attributes(self, value: set[str] | None) -> None:
        self._expired_attributes = value

    @property
    def unloaded(self) -> set[str]:
        """Keys of mapped attributes with no value in the object's dict
        (never loaded, expired or deferred)."""
        d = self.dict
        return {k for k in self.mapper._props if k not in d}

    @property
    def unloaded_expirable(self) -> set[str]:
        return self.unloaded

    @property
    def expired(self) -> bool:
        return bool(self.flags & EXPIRED)

    @property
    def attrs(self) -> AttributeStates:
        """``state.attrs.name.value`` / ``.history`` / ``.loaded_value``."""
        return AttributeStates(self)

    @property
    def is_instance(self) -> bool:
        return True

    def _modified_event(self) -> None:
        """First change since load/flush: mark modified; the session keeps the
        object strongly until it is flushed."""
        self.modified = True
        if self.committed_state is None:
            self.committed_state = {}
        sid = self.session_id
        if sid is not None:
            ref = _session_refs.get(sid)
            session = ref() if ref is not None else None
            if session is not None:
                obj = self()
                if obj is not None:
                    session._modified[self] = obj
                if session._transaction is None and session.autobegin:
                    session._autobegin_t()  # as SQLAlchemy: a change begins a transaction

    def _commit_all(self) -> None:
        """The object's attributes now match the database (after a flush/load)."""
        self.committed_state = None
        self.modified = False

    def __repr__(self) -> str:
        obj = self()
        return f"<InstanceState of {obj!r} {self.status.value}>" if obj is not None else (
            "<InstanceState (object gone)>"
        )

    def __reduce__(self) -> Any:
        """Pickle support: the state is rebuilt around the unpickled object.

        Pickling a mapped object pickles its ``__dict__`` and so this state;
        the object itself is already in the pickle's memo by then, so the
        reference below is resolved to the new object on load.  The session
        link is not kept: a persistent object unpickles as *detached* with its
        loaded values and pending history, a pending one as *transient*.
        """
        obj = self()
        if obj is None:
            raise TypeError(
                "Can't pickle an InstanceState whose object was garbage collected; pickle "
                "the mapped object itself."
            )
        return (_restore_state, (
            obj, self.mapper.class_, self.ident, self.identity_token, self.committed_state,
            self.modified, self._expired_attributes, self.flags & (WAS_DELETED | EXPIRED),
        ))


class AttributeState:
    """One attribute of one object, as seen by ``inspect(obj).attrs[key]``."""

    __slots__ = ("state", "key")

    def __init__(self, state: InstanceState, key: str) -> None:
        self.state = state
        self.key = key

    @property
    def value(self) -> Any:
        """The current value (loading it if needed)."""
        return getattr(self.state(), self.key)

    @property
    def loaded_value(self) -> Any:
        """The value in the object's dict, or NO_VALUE; never loads."""
        return self.state.dict.get(self.key, NO_VALUE)

    @property
    def history(self) -> Any:
        """The attribute's History without loading anything (an unloaded
        attribute has empty history), like SQLAlchemy's ``attrs[key].history``."""
        from docket.orm.attributes import PASSIVE_NO_INITIALIZE, get_state_history

        return get_state_history(self.state, self.key, PASSIVE_NO_INITIALIZE)

    def load_history(self) -> Any:
        """The attribute's History, loading the value first if needed."""
        from docket.orm.attributes import PASSIVE_OFF, get_state_history

        return get_state_history(self.state, self.key, PASSIVE_OFF)

    def __repr__(self) -> str:
        return f"<AttributeState {self.key!r}>"


class AttributeStates:
    """``state.attrs``: attribute states by key (``attrs.name`` or ``attrs["name"]``)."""

    __slots__ = ("_state",)

    def __init__(self, state: InstanceState) -> None:
        self._state = state

    def __getitem__(self, key: str) -> AttributeState:
        if key not in self._state.mapper._props:
            raise KeyError(f"{self._state.mapper.class_.__name__} has no mapped attribute {key!r}")
        return AttributeState(self._state, key)

    def __getattr__(self, key: str) -> AttributeState:
        try:
            return self[key]
        except KeyError as e:
            raise AttributeError(str(e)) from None

    def __iter__(self) -> Iterator[AttributeState]:
        return (AttributeState(self._state, k) for k in self._state.mapper._props)

    def keys(self) -> list[str]:
        return list(self._state.mapper._props)

    def __len__(self) -> int:
        return len(self._state.mapper._props)


def _restore_state(obj: Any, cls: type, ident: Any, identity_token: Any,
                   committed_state: dict[str, Any] | None, modified: bool,
                   expired: set[str] | None, flags: int) -> InstanceState:
    """Unpickle: a detached (or transient) state for ``obj``.

    Raises:
        UnmappedClassError: ``cls`` is not mapped in the unpickling process.
    """
    mapper = getattr(cls, "__mapper__", None)
    if mapper is None:
        from docket import exc

        raise exc.UnmappedClassError(cls)
    state = new_state(obj, mapper)
    state.ident = ident
    state.identity_token = identity_token
    state.committed_state = committed_state
    state.modified = modified
    state._expired_attributes = expired
    state.flags = flags
    return state


def instance_state(obj: Any) -> InstanceState:
    """The InstanceState of a mapped object (creating it for objects made
    without the mapped constructor).

    Raises:
        UnmappedInstanceError: ``obj``'s class is not mapped.
    """
    try:
        return obj.__dict__[STATE_KEY]
    except (KeyError, AttributeError):
        pass
    from docket import exc

    mapper = getattr(type(obj), "__mapper__", None)
    if mapper is None or not hasattr(obj, "__dict__"):
        raise exc.UnmappedInstanceError(obj)
    state = new_state(obj, mapper)
    obj.__dict__[STATE_KEY] = state
    return state
