"""The identity map: at most one object per identity per Session.

Storage: one dict per (base mapper, identity token) mapping the primary key
(``state.ident``: bare value for single-column keys, tuple otherwise) to the
InstanceState.  States are weak references to their objects, so the map
never keeps a clean object alive; when one is collected,
``state._object_gone`` removes its entry (only if that entry is still the
same state).  Modified, new and deleted objects are kept alive by the
Session's own strong collections until flushed.

The public face (``session.identity_map``) is dict-like over SQLAlchemy's
identity keys ``(class, pk_tuple, token)`` with objects as values.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from docket import exc
from docket.orm.state import InstanceState

if TYPE_CHECKING:
    from docket.orm.mapper import Mapper

__all__ = ["IdentityMap"]


def _state_str(state: InstanceState) -> str:
    obj = state()
    return f"<{state.mapper.class_.__name__} at 0x{id(obj):x}>" if obj is not None else (
        f"<{state.mapper.class_.__name__} (collected)>"
    )


class IdentityMap:
    """Per-session map of persistent objects by identity."""

    def __init__(self) -> None:
        # (base mapper | (base mapper, token)) -> {ident: state}
        self._maps: dict[Any, dict[Any, InstanceState]] = {}

    # -- internal (hot) ------------------------------------------------------------------
    def _map_for(self, mapper: Mapper, token: Any = None) -> dict[Any, InstanceState]:
        key: Any = mapper.base_mapper if token is None else (mapper.base_mapper, token)
        m = self._maps.get(key)
        if m is None:
            m = self._maps[key] = {}
        return m

    def _get_state(self, mapper: Mapper, ident: Any, token: Any = None) -> InstanceState | None:
        key: Any = mapper.base_mapper if token is None else (mapper.base_mapper, token)
        m = self._maps.get(key)
        if m is None:
            return None
        state = m.get(ident)
        if state is not None and state() is None:
            del m[ident]
            return None
        return state

    def _add(self, state: InstanceState) -> None:
        """Register a persistent state.

        Raises:
            InvalidRequestError: another live object already has this identity.
        """
        m = self._map_for(state.mapper, state.identity_token)
        existing = m.get(state.ident)
        if existing is not None and existing is not state and existing() is not None:
            raise exc.InvalidRequestError(
                f"Can't attach instance {_state_str(state)}; another instance with key "
                f"{state.key} is already present in this session "
                f"({_state_str(existing)}). Use session.merge(obj) to copy its state onto "
                "the object already here, or expunge that one first."
            )
        m[state.ident] = state

    def _add_all(self, states: list[InstanceState]) -> None:
        """:meth:`_add` of each of ``states`` (newly INSERTed, so usually no
        other object has their identity).

        Raises:
            InvalidRequestError: another live object already has one of these identities.
        """
        m: dict[Any, InstanceState] | None = None
        mapper = token = None
        for state in states:
            extra = state._extra  # (identity_token, read without the property)
            stoken = None if extra is None else extra.identity_token
            if m is None or state.mapper is not mapper or stoken is not token:
                mapper, token = state.mapper, stoken
                m = self._map_for(mapper, token)
            ident = state.ident
            existing = m.get(ident)
            if existing is not None and existing is not state and existing() is not None:
                self._add(state)  # raises, naming both objects
            m[ident] = state

    def _replace(self, state: InstanceState) -> InstanceState | None:
        """Register ``state``, displacing any other live state with its
        identity; returns the displaced one."""
        m = self._map_for(state.mapper, state.identity_token)
        existing = m.get(state.ident)
        m[state.ident] = state
        if existing is None or existing is state or existing() is None:
            return None
        return existing

    def _state_map(self, state: InstanceState) -> dict[Any, InstanceState] | None:
        """The dict ``state`` belongs in, if it exists yet."""
        extra = state._extra  # (identity_token, read without the property)
        if extra is None or extra.identity_token is None:
            return self._maps.get(state.mapper.base_mapper)
        return self._maps.get((state.mapper.base_mapper, extra.identity_token))

    def _discard(self, state: InstanceState) -> None:
        m = self._state_map(state)
        if m is not None and m.get(state.ident) is state:
            del m[state.ident]

    _discard_gone = _discard

    def _contains_state(self, state: InstanceState) -> bool:
        if state.ident is None:
            return False
        m = self._state_map(state)
        return m is not None and m.get(state.ident) is state

    def all_states(self) -> list[InstanceState]:
        """Every live state (a snapshot list)."""
        out = []
        for m in self._maps.values():
            for state in list(m.values()):
                if state() is not None:
                    out.append(state)
        return out

    def _filed_states(self) -> list[InstanceState]:
        """Every filed state (a snapshot list), including any whose object was just
        collected -- for callers that call ``state()`` anyway."""
        return [state for m in self._maps.values() for state in m.values()]

    def _clear(self) -> None:
        self._maps.clear()

    # -- public dict-like view -------------------------------------------------------------
    def _lookup(self, key: tuple[Any, ...]) -> InstanceState | None:
        try:
            cls, pk, token = key
        except (TypeError, ValueError):
            raise KeyError(key) from None
        mapper = getattr(cls, "__mapper__", None)
        if mapper is None:
            raise KeyError(key)
        ident = pk[0] if len(mapper._pk_keys) == 1 else tuple(pk)
        return self._get_state(mapper, ident, token)

    def __getitem__(self, key: tuple[Any, ...]) -> Any:
        state = self._lookup(key)
        if state is None:
            raise KeyError(key)
        return state()

    def get(self, key: tuple[Any, ...], default: Any = None) -> Any:
        try:
            return self[key]
        except KeyError:
            return default

    def __contains__(self, key: object) -> bool:
        try:
            return self._lookup(key) is not None  # type: ignore[arg-type]
        except KeyError:
            return False

    def keys(self) -> list[tuple[Any, ...]]:
        return [s.key for s in self.all_states()]  # type: ignore[misc]

    def values(self) -> list[Any]:
        return [obj for s in self.all_states() if (obj := s()) is not None]

    def items(self) -> list[tuple[tuple[Any, ...], Any]]:
        return [(s.key, obj) for s in self.all_states() if (obj := s()) is not None]  # type: ignore[misc]

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        return iter(self.keys())

    def __len__(self) -> int:
        return sum(1 for m in self._maps.values() for s in m.values() if s() is not None)

    def __bool__(self) -> bool:
        return any(s() is not None for m in self._maps.values() for s in m.values())

    def __repr__(self) -> str:
        return f"<IdentityMap of {len(self)} objects>"
