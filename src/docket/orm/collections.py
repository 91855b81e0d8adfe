"""Instrumented collections: the list / set / dict held by a one-to-many or
many-to-many attribute.

A collection knows its owner (``_docket_owner = (state, prop)``, or None for
a collection nobody owns yet).  Every mutator first lets the owner record
the collection's contents as of the last load/flush (history, taken on the
first change only), then changes the contents, then reports each item
added or removed to the owning relationship, which keeps the other side of
a backref, orphan tracking and save-update cascade in step.

Loading fills a collection with :meth:`_docket_load` (no events, no history).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from docket import exc

__all__ = [
    "InstrumentedDict", "InstrumentedList", "InstrumentedSet", "KeyFuncDict",
    "attribute_keyed_dict", "attribute_mapped_collection", "column_keyed_dict",
    "keyfunc_mapping",
]

_MISSING: Any = object()


class _Owned:
    """Shared plumbing: owner notifications.  ``initiator`` is the
    relationship whose backref caused the change (None for user calls)."""

    _docket_owner: Any

    def _changing(self) -> None:
        owner = self._docket_owner
        if owner is not None:
            owner[1]._coll_changing(owner[0], self)

    def _added(self, item: Any, initiator: Any = None) -> None:
        owner = self._docket_owner
        if owner is not None:
            owner[1]._coll_appended(owner[0], item, initiator)

    def _removed(self, item: Any, initiator: Any = None) -> None:
        owner = self._docket_owner
        if owner is not None:
            owner[1]._coll_removed(owner[0], item, initiator)


class InstrumentedList(_Owned, list):
    """A list collection; mutations are reported to the owning relationship."""

    _docket_owner: Any = None

    def _docket_load(self, items: Iterable[Any]) -> None:
        list.extend(self, items)

    def _docket_values(self) -> list[Any]:
        return list(self)

    def _docket_contains(self, item: Any) -> bool:
        return any(x is item for x in self)

    def _docket_append(self, item: Any, initiator: Any) -> None:
        self._changing()
        list.append(self, item)
        self._added(item, initiator)

    def _docket_remove(self, item: Any, initiator: Any) -> None:
        for i, x in enumerate(self):
            if x is item:
                self._changing()
                list.__delitem__(self, i)
                self._removed(item, initiator)
                return

    def append(self, item: Any) -> None:
        self._docket_append(item, None)

    def extend(self, items: Iterable[Any]) -> None:
        for item in list(items):
            self._docket_append(item, None)

    def __iadd__(self, items: Iterable[Any]) -> InstrumentedList:  # type: ignore[misc]
        self.extend(items)
        return self

    def insert(self, index: Any, item: Any) -> None:
        self._changing()
        list.insert(self, index, item)
        self._added(item)

    def remove(self, item: Any) -> None:
        self._changing()
        list.remove(self, item)
        self._removed(item)

    def pop(self, index: Any = -1) -> Any:
        self._changing()
        item = list.pop(self, index)
        self._removed(item)
        return item

    def clear(self) -> None:
        self._changing()
        items = list(self)
        list.clear(self)
        for item in items:
            self._removed(item)

    def __setitem__(self, index: Any, value: Any) -> None:
        self._changing()
        if isinstance(index, slice):
            old = list.__getitem__(self, index)
            value = list(value)
            list.__setitem__(self, index, value)
        else:
            old = [list.__getitem__(self, index)]
            list.__setitem__(self, index, value)
            value = [value]
        for item in old:
            if not any(item is v for v in value):
                self._removed(item)
        for item in value:
            if not any(item is o for o in old):
                self._added(item)

    def __delitem__(self, index: Any) -> None:
        self._changing()
        old = list.__getitem__(self, index)
        list.__delitem__(self, index)
        for item in (old if isinstance(index, slice) else [old]):
            self._removed(item)

    def __reduce_ex__(self, protocol: Any) -> Any:
        return (list, (list(self),))


class InstrumentedSet(_Owned, set):
    """A set collection; mutations are reported to the owning relationship."""

    _docket_owner: Any = None

    def _docket_load(self, items: Iterable[Any]) -> None:
        set.update(self, items)

    def _docket_values(self) -> list[Any]:
        return list(self)

    def _docket_contains(self, item: Any) -> bool:
        return set.__contains__(self, item)

    def _docket_append(self, item: Any, initiator: Any) -> None:
        if set.__contains__(self, item):
            return
        self._changing()
        set.add(self, item)
        self._added(item, initiator)

    def _docket_remove(self, item: Any, initiator: Any) -> None:
        if set.__contains__(self, item):
            self._changing()
            set.discard(self, item)
            self._removed(item, initiator)

    def add(self, item: Any) -> None:
        self._docket_append(item, None)

    def discard(self, item: Any) -> None:
        self._docket_remove(item, None)

    def remove(self, item: Any) -> None:
        if not set.__contains__(self, item):
            raise KeyError(item)
        self._docket_remove(item, None)

    def pop(self) -> Any:
        self._changing()
        item = set.pop(self)
        self._removed(item)
        return item

    def clear(self) -> None:
        for item in list(self):
            self._docket_remove(item, None)

    def update(self, *others: Iterable[Any]) -> None:
        for other in others:
            for item in list(other):
                self._docket_append(item, None)

    def __ior__(self, other: Any) -> InstrumentedSet:  # type: ignore[misc]
        self.update(other)
        return self

    def difference_update(self, *others: Iterable[Any]) -> None:
        for other in others:
            for item in list(other):
                self._docket_remove(item, None)

    def __isub__(self, other: Any) -> InstrumentedSet:  # type: ignore[misc]
        self.difference_update(other)
        return self

    def intersection_update(self, *others: Iterable[Any]) -> None:
        keep = set(self)
        for other in others:
            keep &= set(other)
        for item in list(self):
            if item not in keep:
                self._docket_remove(item, None)

    def __iand__(self, other: Any) -> InstrumentedSet:  # type: ignore[misc]
        self.intersection_update(other)
        return self

    def symmetric_difference_update(self, other: Iterable[Any]) -> None:
        for item in list(other):
            if set.__contains__(self, item):
                self._docket_remove(item, None)
            else:
                self._docket_append(item, None)

    def __ixor__(self, other: Any) -> InstrumentedSet:  # type: ignore[misc]
        self.symmetric_difference_update(other)
        return self

    def __reduce_ex__(self, protocol: Any) -> Any:
        return (set, (list(self),))


class KeyFuncDict(_Owned, dict):
    """A dict collection keyed by a function of each member
    (``attribute_keyed_dict("name")``); values are the related objects."""

    _docket_owner: Any = None
    keyfunc: Callable[[Any], Any]

    def __init__(self, keyfunc: Callable[[Any], Any], *args: Any, **kw: Any) -> None:
        self.keyfunc = keyfunc
        dict.__init__(self, *args, **kw)

    def _docket_load(self, items: Iterable[Any]) -> None:
        for item in items:
            dict.__setitem__(self, self.keyfunc(item), item)

    def _docket_values(self) -> list[Any]:
        return list(dict.values(self))

    def _docket_contains(self, item: Any) -> bool:
        return any(v is item for v in dict.values(self))

    def _docket_append(self, item: Any, initiator: Any) -> None:
        key = self.keyfunc(item)
        old = dict.get(self, key, _MISSING)
        if old is item:
            return
        self._changing()
        dict.__setitem__(self, key, item)
        if old is not _MISSING:
            self._removed(old, initiator)
        self._added(item, initiator)

    def _docket_remove(self, item: Any, initiator: Any) -> None:
        for k, v in list(dict.items(self)):
            if v is item:
                self._changing()
                dict.__delitem__(self, k)
                self._removed(item, initiator)
                return

    def set(self, item: Any) -> None:
        """Add ``item`` under its key."""
        self._docket_append(item, None)

    def remove(self, item: Any) -> None:
        """Remove ``item`` (by identity)."""
        self._docket_remove(item, None)

    def __setitem__(self, key: Any, item: Any) -> None:
        old = dict.get(self, key, _MISSING)
        if old is item:
            return
        self._changing()
        dict.__setitem__(self, key, item)
        if old is not _MISSING:
            self._removed(old)
        self._added(item)

    def __delitem__(self, key: Any) -> None:
        item = dict.__getitem__(self, key)
        self._changing()
        dict.__delitem__(self, key)
        self._removed(item)

    def pop(self, key: Any, *default: Any) -> Any:
        if key not in self:
            if default:
                return default[0]
            raise KeyError(key)
        item = dict.__getitem__(self, key)
        del self[key]
        return item

    def popitem(self) -> tuple[Any, Any]:
        self._changing()
        key, item = dict.popitem(self)
        self._removed(item)
        return key, item

    def clear(self) -> None:
        for key in list(self):
            del self[key]

    def setdefault(self, key: Any, default: Any = None) -> Any:
        if key not in self:
            self[key] = default
        return dict.__getitem__(self, key)

    def update(self, *args: Any, **kw: Any) -> None:
        for key, item in dict(*args, **kw).items():
            self[key] = item

    def __reduce_ex__(self, protocol: Any) -> Any:
        return (dict, (dict(self),))


InstrumentedDict = KeyFuncDict


class _KeyedFactory:
    """What ``attribute_keyed_dict(...)`` returns: a collection_class that
    makes KeyFuncDicts with one key function."""

    def __init__(self, keyfunc: Callable[[Any], Any], description: str,
                 ignore_unpopulated_attribute: bool = False) -> None:
        self.keyfunc = keyfunc
        self.description = description
        self.ignore_unpopulated_attribute = ignore_unpopulated_attribute

    def __call__(self) -> KeyFuncDict:
        return KeyFuncDict(self.keyfunc)

    def __repr__(self) -> str:
        return self.description


def attribute_keyed_dict(attr_name: str, *, ignore_unpopulated_attribute: bool = False
                         ) -> _KeyedFactory:
    """A dict collection keyed by each member's ``attr_name`` attribute.

    Raises (when a member is added):
        InvalidRequestError: the member has no value for the key attribute.
    """

    def keyfunc(obj: Any) -> Any:
        value = getattr(obj, attr_name, None)
        if value is None and not ignore_unpopulated_attribute:
            raise exc.InvalidRequestError(
                f"In event triggered from population of attribute keyed dict, can't populate "
                f"key {attr_name!r} of {type(obj).__name__} object {obj!r}: it has no value. "
                f"Set {attr_name!r} before adding the object to the collection."
            )
        return value

    return _KeyedFactory(keyfunc, f"attribute_keyed_dict({attr_name!r})")


attribute_mapped_collection = attribute_keyed_dict


def column_keyed_dict(column: Any, *, ignore_unpopulated_attribute: bool = False
                      ) -> _KeyedFactory:
    """A dict collection keyed by each member's value for ``column``."""
    key = getattr(column, "key", None) or getattr(column, "name")  # noqa: B009
    return attribute_keyed_dict(key, ignore_unpopulated_attribute=ignore_unpopulated_attribute)


def keyfunc_mapping(keyfunc: Callable[[Any], Any], *,
                    ignore_unpopulated_attribute: bool = False) -> _KeyedFactory:
    """A dict collection keyed by ``keyfunc(member)``."""
    return _KeyedFactory(keyfunc, f"keyfunc_mapping({keyfunc!r})", ignore_unpopulated_attribute)


def factory_for(prop: Any) -> Callable[[], Any]:
    """A function making an empty, unowned collection for ``prop``.

    Raises:
        ArgumentError: ``collection_class`` is not a supported kind.
    """
    cls = prop.collection_class
    if cls is None or cls is list:
        return InstrumentedList
    if cls is set:
        return InstrumentedSet
    if isinstance(cls, _KeyedFactory):
        return cls
    if isinstance(cls, type):
        for base, instrumented in ((list, InstrumentedList), (set, InstrumentedSet)):
            if issubclass(cls, base):
                return type(f"Instrumented{cls.__name__}", (instrumented, cls), {})
        if issubclass(cls, dict) and issubclass(cls, KeyFuncDict):
            return cls
    if callable(cls):
        sample = cls()
        if isinstance(sample, KeyFuncDict):
            return cls
    raise exc.ArgumentError(
        f"relationship {prop}: unsupported collection_class {cls!r}; use list, set, a "
        "subclass of either, or attribute_keyed_dict() / keyfunc_mapping()."
    )


def new_collection(prop: Any, state: Any, items: Iterable[Any] = ()) -> Any:
    """A collection for ``prop`` owned by ``state``, holding ``items`` (no events)."""
    coll = prop._collection_factory()
    coll._docket_load(items)
    coll._docket_owner = (state, prop)
    return coll
