"""Rows and result metadata: ``Row``, ``RowMapping``, ``ResultMetaData``, ``RMKeyView``.

Semantics follow SQLAlchemy 2.0's ``Row`` and ``RowMapping``.  The ``Result``
views and row sources that use these live in ``docket.engine.result`` (which
re-exports every public name here).

* ``ResultMetaData`` does all per-statement work once: the key -> index map,
  one ``Row`` subclass (shared through a bounded cache by every metadata with
  the same keys and aliases) and one compiled "row function" turning a raw
  DB-API tuple into a ``Row`` (processors inlined, column slices folded in).
  Build one metadata per compiled statement and reuse it.
* ``ResultMetaData._scalar_fns`` converts one column of raw rows without
  building a ``Row`` (what ``scalars().all()`` uses).
* ``ResultMetaData._serve`` lets a metadata cached for one statement answer
  ``row._mapping[col]`` for the column objects of another, equal-shaped
  statement it serves, without building a new ``Row`` class per execution:
  those objects go into the class's ``_served`` registry, held weakly.

Pickling: a ``Row`` pickles by its keys and values and unpickles as a ``Row``
with the same keys (aliases such as Column objects are dropped).
"""

from __future__ import annotations

import operator
import weakref
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from functools import partial
from typing import Any, ClassVar, Generic, NoReturn, TypeVar

from docket.exc import ArgumentError, InvalidRequestError, NoSuchColumnError

__all__ = ["Processor", "RMKeyView", "ResultMetaData", "Row", "RowMapping"]

_TP = TypeVar("_TP", bound=tuple[Any, ...])
#: a result processor: driver value -> Python value.
Processor = Callable[[Any], Any]


# --------------------------------------------------------------------------- rows


def _unpickle_row(keys: tuple[str, ...], values: tuple[Any, ...]) -> Row[Any]:
    """Rebuild a pickled ``Row`` (module level so pickle finds it by name)."""
    cls = _ROW_CLASSES.get((keys, ())) or ResultMetaData(keys)._row_cls
    return tuple.__new__(cls, values)


class Row(tuple[Any, ...], Generic[_TP]):
    """One result row: a tuple that also answers ``row.name`` and ``row._mapping``.

    Each ``ResultMetaData`` uses a subclass whose class attributes hold the key
    map; instances carry nothing but the tuple values (``__slots__ = ()``).
    """

    __slots__ = ()
    #: key (column name or alias) -> index; ``None`` marks an ambiguous key.
    _keymap: ClassVar[dict[Any, int | None]] = {}
    #: the column keys in order (duplicates kept).
    _keys: ClassVar[tuple[str, ...]] = ()
    #: id(column object of a served statement) -> (weak ref to it, index or
    #: None if ambiguous); see ``ResultMetaData._serve``.  Each class made by
    #: a ResultMetaData has its own dict; this empty one is never written.
    _served: ClassVar[dict[int, tuple[weakref.ref[Any], int | None]]] = {}

    def __getattr__(self, name: str) -> Any:
        try:
            idx = self._keymap[name]
        except KeyError:
            raise AttributeError(
                f"Row has no column or attribute {name!r}; its columns are "
                f"{list(self._keys)!r}. Check the spelling or add the column to "
                "the SELECT."
            ) from None
        if idx is None:
            _raise_ambiguous(name, self._keys)
        return self[idx]

    def __reduce__(self) -> tuple[Any, ...]:
        return (_unpickle_row, (self._keys, tuple(self)))

    @property
    def _mapping(self) -> RowMapping:
        """A read-only mapping of this row keyed by column key and alias."""
        return RowMapping(self)

    @property
    def _fields(self) -> tuple[str, ...]:
        """The column keys, in order."""
        return self._keys

    def _asdict(self) -> dict[str, Any]:
        """Return a new dict of column key -> value (a duplicated key keeps its last value)."""
        return dict(zip(self._keys, self, strict=False))

    @property
    def _t(self) -> _TP:
        """This row typed as a plain tuple (it already is one)."""
        return self  # type: ignore[return-value]

    def _tuple(self) -> _TP:
        """Return this row typed as a plain tuple (it already is one)."""
        return self  # type: ignore[return-value]


def _raise_ambiguous(key: Any, keys: Sequence[str]) -> NoReturn:
    raise InvalidRequestError(
        f"Ambiguous column name {key!r} in result set column descriptions: "
        f"{sum(1 for k in keys if k == key)} of the columns {list(keys)!r} have this "
        "key. Give them distinct labels (column.label('name')) or access them by position."
    )


_MISSING: Any = object()


def _served_index(served: dict[int, tuple[weakref.ref[Any], int | None]], key: Any) -> Any:
    """The index a served statement's column object stands for, or ``_MISSING``."""
    entry = served.get(id(key)) if served else None
    if entry is None or entry[0]() is not key:
        return _MISSING
    return entry[1]


def _forget(served: dict[int, tuple[weakref.ref[Any], int | None]], ident: int,
            ref: weakref.ref[Any]) -> None:
    """Weakref callback: drop a dead column object's entry (unless replaced)."""
    entry = served.get(ident)
    if entry is not None and entry[0] is ref:
        served.pop(ident, None)


class RowMapping(Mapping[Any, Any]):
    """A read-only ``Mapping`` view of a ``Row``, keyed by column key and alias.

    Iterates the column keys in order; ``len()`` is the number of columns.
    """

    __slots__ = ("_row",)

    def __init__(self, row: Row[Any]) -> None:
        self._row = row

    def __getitem__(self, key: Any) -> Any:
        row = self._row
        try:
            idx = row._keymap[key]
        except KeyError:
            idx = _served_index(row._served, key)
            if idx is _MISSING:
                raise NoSuchColumnError(
                    f"Could not locate column in row for column {key!r}; the row's keys "
                    f"are {list(row._keys)!r}. Check the key or select that column."
                ) from None
        except TypeError:  # unhashable key
            raise NoSuchColumnError(
                f"Row mapping keys must be column keys or column objects, not {key!r}."
            ) from None
        if idx is None:
            _raise_ambiguous(key, row._keys)
        return row[idx]

    def __contains__(self, key: object) -> bool:
        try:
            return key in self._row._keymap or (
                _served_index(self._row._served, key) is not _MISSING)
        except TypeError:
            return False

    def __iter__(self) -> Iterator[str]:
        return iter(self._row._keys)

    def __len__(self) -> int:
        return len(self._row)

    def __repr__(self) -> str:
        return repr(dict(zip(self._row._keys, self._row, strict=False)))


# ------------------------------------------------------------------- metadata

# Caches: invariant - entries are pure functions of their keys; a racing
# thread at worst builds a duplicate, never a wrong entry.  Both are bounded.
_CACHE_MAX = 512
#: (keys, ((id(alias), index), ...)) -> Row subclass.  The class's keymap holds
#: the alias objects, so their ids cannot be reused while the entry lives.
_ROW_CLASSES: dict[tuple[Any, ...], type[Row[Any]]] = {}
#: (source indexes, converted positions, makes_row) -> compiled factory.
_ROW_FACTORIES: dict[tuple[Any, ...], Callable[..., Processor]] = {}


def _cache_put(cache: dict[Any, Any], key: Any, value: Any) -> None:
    if len(cache) >= _CACHE_MAX:
        cache.pop(next(iter(cache)), None)
    cache[key] = value


def _row_class(keys: tuple[str, ...], keymap: dict[Any, int | None],
               aliases: dict[Hashable, int] | None) -> type[Row[Any]]:
    sig = (keys, tuple((id(k), i) for k, i in aliases.items()) if aliases else ())
    cls = _ROW_CLASSES.get(sig)
    if cls is None:
        ns: dict[str, Any] = {"__slots__": (), "_keymap": keymap, "_keys": keys,
                              "_served": {}, "__module__": __name__, "__qualname__": "Row"}
        # Fast ``row.name``: a C-level property per unambiguous key that does not
        # shadow a tuple/Row attribute; everything else goes through __getattr__.
        for key, idx in keymap.items():
            if (type(key) is str and idx is not None and not key.startswith("__")
                    and not hasattr(Row, key)):
                ns[key] = property(operator.itemgetter(idx))
        cls = type("Row", (Row,), ns)
        _cache_put(_ROW_CLASSES, sig, cls)
    return cls


def _row_function(src: tuple[int, ...], conv: Sequence[tuple[int, Processor]],
                  cls: type[Row[Any]] | None) -> Processor:
    """Compile ``raw tuple -> Row`` (or -> tuple when ``cls`` is None).

    The source text depends only on integer positions, so it is compiled once
    per shape and then bound to this metadata's processors and class.
    """
    positions = tuple(p for p, _ in conv)
    shape = (src, positions, cls is not None)
    factory = _ROW_FACTORIES.get(shape)
    if factory is None:
        items = [f"_p{p}(r[{s}])" if p in positions else f"r[{s}]" for p, s in enumerate(src)]
        body = "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"
        if cls is not None:
            body = f"_new(_cls, {body})"
        params = ", ".join(["_new", "_cls"] + [f"_p{p}" for p in positions])
        text = (f"def _factory({params}):\n    def _row(r):\n        return {body}\n"
                "    return _row\n")
        ns: dict[str, Any] = {}
        exec(compile(text, "<docket row function>", "exec"), ns)  # noqa: S102 - ints only
        factory = ns["_factory"]
        _cache_put(_ROW_FACTORIES, shape, factory)
    return factory(tuple.__new__, cls, *(fn for _, fn in conv))


class ResultMetaData:
    """Column keys, processors and the row factory of one result shape.

    Args:
        keys: the column keys in order; duplicates are allowed but looking one
            up by name raises ``InvalidRequestError``.
        processors: one result processor per column (``None`` = no conversion),
            or ``None`` when no column needs one.
        aliases: extra lookup keys, e.g. ``{table.c.name: 1}``, so that
            ``row._mapping[table.c.name]`` works.  They win over a column key.

    Raises:
        ArgumentError: ``processors`` or an alias index does not fit ``keys``.
    """

    __slots__ = ("keys", "processors", "_keymap", "_aliases", "_src", "_identity",
                 "_row_cls", "_row_fn", "_rows_fn", "_plain")

    keys: tuple[str, ...]
    #: per-column processors, or None when no column converts.
    processors: tuple[Processor | None, ...] | None

    def __init__(
        self,
        keys: Sequence[str],
        processors: Sequence[Processor | None] | None = None,
        aliases: Mapping[Hashable, int] | None = None,
    ) -> None:
        keys = tuple(keys)
        if processors is not None and len(processors) != len(keys):
            raise ArgumentError(
                f"ResultMetaData got {len(processors)} processors for {len(keys)} "
                f"columns {list(keys)!r}; pass one processor (or None) per column."
            )
        self._setup(keys, processors, dict(aliases) if aliases else None,
                    tuple(range(len(keys))), True)

    def _setup(self, keys: tuple[str, ...], processors: Sequence[Processor | None] | None,
               aliases: dict[Hashable, int] | None, src: tuple[int, ...],
               identity: bool) -> None:
        n = len(keys)
        keymap: dict[Any, int | None] = {}
        for i, key in enumerate(keys):
            keymap[key] = None if key in keymap else i
        if aliases:
            for obj, i in aliases.items():
                if not 0 <= i < n:
                    raise ArgumentError(
                        f"Alias {obj!r} points at column {i}, but the result has only "
                        f"{n} columns {list(keys)!r}; use an index from 0 to {n - 1}."
                    )
                keymap[obj] = i
        if processors is not None and all(p is None for p in processors):
            processors = None
        self.keys = keys
        self.processors = tuple(processors) if processors is not None else None
        self._keymap = keymap
        self._aliases = aliases
        #: position in the raw source tuple of each output column; ``identity``
        #: says it is 0..n-1 of a raw tuple of width n (no slicing).
        self._src = src
        self._identity = identity
        self._row_cls = cls = _row_class(keys, keymap, aliases)
        conv = [(p, fn) for p, fn in enumerate(self.processors or ()) if fn is not None]
        #: a row is its raw tuple as it stands (no column picked, none converted)
        self._plain = bool(identity and not conv)
        if identity and not conv:
            self._row_fn: Processor = partial(tuple.__new__, cls)
        else:
            self._row_fn = _row_function(src, conv, cls)
        self._rows_fn: Callable[[list[Any]], list[Any]] = partial(_map_list, self._row_fn)

    def __repr__(self) -> str:
        return f"ResultMetaData({list(self.keys)!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        # The Row class and row function are rebuilt; processors must be picklable.
        return (_unpickle_metadata,
                (self.keys, self.processors, self._aliases, self._src, self._identity))

    def _index_for(self, key: Any) -> int:
        """Position of ``key`` (an int, a column key or an alias)."""
        if isinstance(key, int) and not isinstance(key, bool):
            n = len(self.keys)
            if -n <= key < n:
                return key % n
            raise NoSuchColumnError(
                f"Column index {key} is out of range for a result with {n} columns "
                f"{list(self.keys)!r}."
            )
        try:
            idx = self._keymap[key]
        except (KeyError, TypeError):
            idx = _MISSING
        if idx is _MISSING:
            try:
                idx = _served_index(self._row_cls._served, key)
            except TypeError:
                pass
        if idx is _MISSING:
            raise NoSuchColumnError(
                f"Could not locate column {key!r} in the result; its columns are "
                f"{list(self.keys)!r}. Check the key or select that column."
            ) from None
        if idx is None:
            _raise_ambiguous(key, self.keys)
        return idx

    def _reduce(self, indexes: Sequence[int]) -> ResultMetaData:
        """Metadata for the given output columns, still reading the raw source."""
        procs = self.processors
        aliases: dict[Hashable, int] = {}
        for obj, i in self._all_aliases().items():
            if i in indexes:
                aliases[obj] = indexes.index(i)
        new = ResultMetaData.__new__(ResultMetaData)
        new._setup(tuple(self.keys[i] for i in indexes),
                   tuple(procs[i] for i in indexes) if procs else None,
                   aliases or None, tuple(self._src[i] for i in indexes), False)
        return new

    def _for_freeze(self) -> ResultMetaData:
        """Same keys and aliases, no processors, reading already-converted rows."""
        return ResultMetaData(self.keys, None, self._all_aliases() or None)

    def _all_aliases(self) -> dict[Hashable, int]:
        """The aliases plus the live, unambiguous served column objects."""
        aliases: dict[Hashable, int] = dict(self._aliases or {})
        for ref, i in list(self._row_cls._served.values()):
            obj = ref()
            if obj is not None and i is not None:
                aliases.setdefault(obj, i)
        return aliases

    def _serve(self, objs: Sequence[Any], own: Sequence[Any]) -> None:
        """Make the column objects ``objs`` of a statement this metadata
        serves (equal in shape to the one it was built for, whose objects
        are ``own``) valid lookup keys for its rows.

        They are held weakly: an entry lives as long as its object, which is
        as long as anyone can look a row up by it.  An object served at two
        different positions becomes ambiguous (looking it up raises).
        """
        served = self._row_cls._served
        for i, (obj, mine) in enumerate(zip(objs, own)):
            if obj is mine or obj is None:
                continue
            ident = id(obj)
            entry = served.get(ident)
            if entry is not None and entry[0]() is obj:
                if entry[1] != i:
                    served[ident] = (entry[0], None)
                continue
            ref = weakref.ref(obj, partial(_forget, served, ident))
            served[ident] = (ref, i)

    def _scalar_fns(self, index: int) -> tuple[Processor, Callable[[list[Any]], list[Any]]]:
        """(raw -> value, raw list -> value list) for one column; builds no Row."""
        getter = operator.itemgetter(self._src[index])
        proc = self.processors[index] if self.processors else None
        if proc is None:
            return getter, partial(_map_list, getter)
        return (lambda r: proc(getter(r))), (lambda raw: list(map(proc, map(getter, raw))))


def _unpickle_metadata(keys: tuple[str, ...], processors: Any, aliases: Any,
                       src: tuple[int, ...], identity: bool) -> ResultMetaData:
    meta = ResultMetaData.__new__(ResultMetaData)
    meta._setup(keys, processors, aliases, src, identity)
    return meta


def _map_list(fn: Processor, raw: Iterable[Any]) -> list[Any]:
    return list(map(fn, raw))


class RMKeyView(Sequence[str]):
    """The keys of a result: a sequence of names; ``in`` also accepts aliases."""

    __slots__ = ("_meta",)

    def __init__(self, metadata: ResultMetaData) -> None:
        self._meta = metadata

    def __getitem__(self, index: Any) -> Any:
        return self._meta.keys[index]

    def __len__(self) -> int:
        return len(self._meta.keys)

    def __iter__(self) -> Iterator[str]:
        return iter(self._meta.keys)

    def __contains__(self, key: object) -> bool:
        try:
            return key in self._meta._keymap
        except TypeError:
            return False

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (RMKeyView, list, tuple)):
            return list(self) == list(other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._meta.keys)

    def __repr__(self) -> str:
        return f"RMKeyView({list(self._meta.keys)!r})"
