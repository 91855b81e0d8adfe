"""Result objects: ``Result``, ``ScalarResult``, ``MappingResult`` and the row sources.

Semantics follow SQLAlchemy 2.0's ``sqlalchemy.engine.Result`` family.  The
module sits on the ORM's load hot path, so its design is driven by speed.
``Row``, ``RowMapping``, ``ResultMetaData`` and ``RMKeyView`` live in
``docket.engine.row`` and are re-exported here.

* ``ResultMetaData`` (see ``docket.engine.row``) compiles, once per statement
  shape, the function turning a raw DB-API tuple into a ``Row``.
* ``all()`` on a cursor costs one ``fetchall()`` plus ``list(map(row_fn, raw))``;
  ``scalars().all()`` never builds a ``Row``: it maps ``itemgetter`` (and the
  column's processor, if any) over the raw rows.
* A view (``Result``, ``ScalarResult``, ``MappingResult``) owns a conversion
  (raw tuple -> output object) and an optional unique filter; the rows come
  from ``_real``, the source result (``CursorResult`` / ``IteratorResult`` /
  ``ChunkedIteratorResult``), which only hands out raw tuples.

Closing: a source is *soft closed* (cursor closed, ``on_close`` called, exactly
once) when it runs out of rows; fetching from it then yields nothing.  It is
*hard closed* by ``close()``, ``first()``, ``one()``, ``scalar()`` and friends;
fetching from it then raises ``ResourceClosedError``.
"""

from __future__ import annotations

import itertools
import weakref
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from typing import Any, Generic, TypeVar

from docket.engine.row import Processor, ResultMetaData, RMKeyView, Row, RowMapping
from docket.engine.row import _unpickle_metadata as _unpickle_metadata  # old pickles' path
from docket.engine.row import _unpickle_row as _unpickle_row  # old pickles' path
from docket.exc import (
    ArgumentError,
    InvalidRequestError,
    MultipleResultsFound,
    NoResultFound,
    ResourceClosedError,
)

__all__ = [
    "ChunkedIteratorResult",
    "CursorResult",
    "FrozenResult",
    "IteratorResult",
    "MappingResult",
    "RMKeyView",
    "Result",
    "ResultMetaData",
    "Row",
    "RowMapping",
    "ScalarResult",
]

_T = TypeVar("_T")
_TP = TypeVar("_TP", bound=tuple[Any, ...])

#: rows fetched per ``fetchmany`` while iterating without ``yield_per``: as fast
#: as one ``fetchall`` (measured on sqlite3) but an early ``break`` stops reading.
_ITER_CHUNK = 1000
_CLOSED_MSG = "This result object is closed."
_NO_ROWS_MSG = "This result object does not return rows. It has been closed automatically."
_NO_ROW: Any = object()  # sentinel: "no row" (None is a valid scalar)


def _mapping_unique_key(m: RowMapping) -> Any:
    return m._row


# ------------------------------------------------------------------- views

_R = TypeVar("_R")
_V = TypeVar("_V", bound="_View[Any]")


class _View(Generic[_R]):
    """Fetching and filtering shared by ``Result``, ``ScalarResult`` and ``MappingResult``.

    ``_R`` is what the view returns per row.  Invariants: ``_real`` is the
    source handing out raw tuples; ``_conv_one`` / ``_conv_list`` turn raw
    tuples into output objects; ``_unique`` is ``None`` or ``(seen keys, key
    function or None for the item itself)``.
    """

    _real: Result[Any]
    _meta: ResultMetaData
    _conv_one: Processor
    _conv_list: Callable[[list[Any]], list[Any]]
    _unique: tuple[set[Any], Processor | None] | None = None
    #: set (to a reason) on ORM results whose rows repeat because of joined
    #: eager loading of collections: fetching requires unique()
    _require_unique: str | None = None

    def _default_unique_key(self) -> Processor | None:
        return None

    def _check_unique(self) -> None:
        if self._unique is None and self._real._require_unique is not None:
            raise InvalidRequestError(
                "The unique() method must be invoked on this Result, as it contains results "
                "that include joined eager loads against collections "
                f"({self._real._require_unique}); call result.unique() (or use selectinload)."
            )

    def _filter(self, items: list[Any]) -> list[Any]:
        assert self._unique is not None
        seen, key = self._unique
        out: list[Any] = []
        add, append = seen.add, out.append
        for item in items:
            k = item if key is None else key(item)
            if k not in seen:
                add(k)
                append(item)
        return out

    def _all(self) -> list[Any]:
        self._check_unique()
        out = self._conv_list(self._real._raw_all())
        return out if self._unique is None else self._filter(out)

    def _many(self, size: int | None) -> list[Any]:
        self._check_unique()
        real = self._real
        if size is None:
            size = real._default_size()
            if size is None:
                return self._all()
            if size < 0:  # the source's natural batch (a ChunkedIteratorResult chunk)
                out = self._conv_list(real._raw_many(size))
                return out if self._unique is None else self._filter(out)
        elif size < 1:
            if size == 0:
                return []
            raise ArgumentError(f"fetchmany() size must be a positive integer or None, not {size}.")
        if self._unique is None:
            return self._conv_list(real._raw_many(size))
        out = []
        while len(out) < size:
            want = size - len(out)
            raw = real._raw_many(want)
            out.extend(self._filter(self._conv_list(raw)))
            if len(raw) < want:
                break
        return out

    def _onerow(self) -> Any:
        """The next output object, or ``_NO_ROW``."""
        real, conv = self._real, self._conv_one
        while True:
            raw = real._raw_one()
            if raw is None:
                return _NO_ROW
            item = conv(raw)
            if self._unique is None:
                return item
            seen, key = self._unique
            k = item if key is None else key(item)
            if k not in seen:
                seen.add(k)
                return item

    def _only_one(self, raise_for_none: bool) -> Any:
        """The single output object (None if absent and allowed); closes the result.

        With ``unique()``, rows equal to the first one are skipped while
        looking for a second row.
        """
        self._check_unique()
        real = self._real
        try:
            raw = real._raw_one()
            if raw is None:
                if raise_for_none:
                    raise NoResultFound("No row was found when one was required")
                return None
            item = self._conv_one(raw)
            key = None if self._unique is None else self._unique[1]
            first_key = item if key is None else key(item)
            while True:
                nxt = real._raw_one()
                if nxt is None:
                    return item
                if self._unique is None:
                    break
                other = self._conv_one(nxt)
                if (other if key is None else key(other)) != first_key:
                    break
            raise MultipleResultsFound("Multiple rows were found when exactly one was required")
        finally:
            real.close()

    # -- public API common to every view -----------------------------------
    def __iter__(self) -> Iterator[_R]:
        self._check_unique()
        conv = self._conv_list
        for raw in self._real._raw_chunks():
            items = conv(raw)
            yield from (items if self._unique is None else self._filter(items))

    def all(self) -> list[_R]:
        """Return every remaining row (or value)."""
        return self._all()

    def fetchall(self) -> list[_R]:
        """Return every remaining row (or value); the DB-API name of ``all()``."""
        return self._all()

    def fetchmany(self, size: int | None = None) -> list[_R]:
        """Return up to ``size`` rows; default ``yield_per``, else the source's default.

        The default is ``cursor.arraysize`` for a cursor, everything left for
        an iterator, the current chunk for a chunked result.

        Raises:
            ArgumentError: ``size`` is negative.
        """
        return self._many(size)

    def partitions(self, size: int | None = None) -> Iterator[list[_R]]:
        """Yield lists of up to ``size`` rows (default as for ``fetchmany()``).

        Raises:
            ArgumentError: ``size`` is not positive.
        """
        if size is not None and size < 1:
            raise ArgumentError(
                f"partitions() size must be a positive integer or None, not {size}."
            )
        while True:
            part = self._many(size)
            if not part:
                return
            yield part
            if size is not None and len(part) < size:
                return

    def first(self) -> _R | None:
        """Return the first row or None, then close the result."""
        try:
            item = self._onerow()
        finally:
            self._real.close()
        return None if item is _NO_ROW else item

    def one(self) -> _R:
        """Return exactly one row, then close the result.

        Raises:
            NoResultFound: there is no row.
            MultipleResultsFound: there is more than one row.
        """
        return self._only_one(True)

    def one_or_none(self) -> _R | None:
        """Return the only row or None, then close the result.

        Raises:
            MultipleResultsFound: there is more than one row.
        """
        return self._only_one(False)

    def unique(self: _V, strategy: Processor | None = None) -> _V:
        """Drop duplicate rows, compared by value or by ``strategy(row)``; returns this view."""
        self._unique = (set(), strategy if strategy is not None else self._default_unique_key())
        return self

    def yield_per(self: _V, num: int) -> _V:
        """Read ``num`` rows at a time (also the default fetchmany/partition size).

        Raises:
            ArgumentError: ``num`` is not a positive integer.
        """
        if not isinstance(num, int) or num < 1:
            raise ArgumentError(f"yield_per() needs a positive integer row count, not {num!r}.")
        self._real._yield_per = num
        return self

    def close(self) -> None:
        """Close the underlying result: release its cursor; later fetches raise."""
        self._real.close()

    @property
    def closed(self) -> bool:
        """True once the result was closed (by ``close()``, ``first()``, ``one()``...)."""
        return self._real._closed

    def _inherit_unique(self, parent: _View[Any]) -> None:
        if parent._unique is not None:
            self.unique(parent._unique[1])


class Result(_View[Row[_TP]]):
    """Rows of one statement execution, SQLAlchemy 2.0 style.

    Built by the sources ``CursorResult``, ``IteratorResult`` and
    ``ChunkedIteratorResult``.  ``unique()``, ``columns()`` and
    ``yield_per()`` change this object and return it.
    """

    _closed: bool = False
    _yield_per: int | None = None
    #: False for a statement without a result set (fetching raises).
    returns_rows: bool = True

    def _init_view(self, metadata: ResultMetaData) -> None:
        self._set_meta(metadata)

    # A result is its own source.  A property, not ``self._real = self``: that
    # reference cycle would keep a dropped, unread result (and its cursor, or
    # a server-side cursor's portal) alive until the garbage collector runs,
    # instead of releasing it at once by reference counting.
    @property
    def _real(self) -> Result[Any]:  # type: ignore[override]
        return self

    def _set_meta(self, metadata: ResultMetaData) -> None:
        self._meta = metadata
        self._conv_one = metadata._row_fn
        self._conv_list = metadata._rows_fn

    # -- source interface, implemented by the row sources -------------------
    def _raw_all(self) -> list[Any]:
        raise NotImplementedError

    def _raw_many(self, size: int) -> list[Any]:
        """Up to ``size`` raw rows (a negative size: the source's natural batch)."""
        raise NotImplementedError

    def _raw_one(self) -> Any:
        raise NotImplementedError

    def _default_size(self) -> int | None:
        """``fetchmany()`` size when none is given; None = everything left."""
        return self._yield_per

    def _raw_chunks(self) -> Iterator[list[Any]]:
        size = self._yield_per or _ITER_CHUNK
        while True:
            chunk = self._raw_many(size)
            if chunk:
                yield chunk
            if len(chunk) < size:
                return

    def close(self) -> None:
        """Close this result; later fetches raise ``ResourceClosedError``."""
        raise NotImplementedError

    # -- public API ---------------------------------------------------------
    def __enter__(self: _V) -> _V:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def keys(self) -> RMKeyView:
        """The column keys of the rows (``in`` also accepts aliases)."""
        return RMKeyView(self._meta)

    def fetchone(self) -> Row[_TP] | None:
        """Return the next row, or None when there are no more."""
        row = self._onerow()
        return None if row is _NO_ROW else row

    def scalar(self) -> Any:
        """Return the first column of the first row (or None), then close the result."""
        return ScalarResult(self).first()

    def scalar_one(self) -> Any:
        """Return the first column of the only row, then close the result.

        Raises:
            NoResultFound: there is no row.
            MultipleResultsFound: there is more than one row.
        """
        return ScalarResult(self).one()

    def scalar_one_or_none(self) -> Any:
        """Return the first column of the only row or None, then close the result.

        Raises:
            MultipleResultsFound: there is more than one row.
        """
        return ScalarResult(self).one_or_none()

    def scalars(self, index: int | str | Hashable = 0) -> ScalarResult[Any]:
        """A view returning one column (by position, key or alias) of each row."""
        return ScalarResult(self, index)

    def mappings(self) -> MappingResult:
        """A view returning a ``RowMapping`` per row."""
        return MappingResult(self)

    def columns(self, *keys: int | str | Hashable) -> Result[Any]:
        """Keep only the given columns (by position, key or alias), in that order.

        Raises:
            NoSuchColumnError: a key or position is not in the result.
            InvalidRequestError: a key is ambiguous.
        """
        meta = self._meta
        self._set_meta(meta._reduce([meta._index_for(k) for k in keys]))
        return self

    def tuples(self) -> Result[_TP]:
        """Return this result, typed as yielding plain tuples."""
        return self

    @property
    def t(self) -> Result[_TP]:
        """This result, typed as yielding plain tuples."""
        return self

    def freeze(self) -> FrozenResult[_TP]:
        """Consume the remaining rows into a ``FrozenResult`` that can replay them."""
        return FrozenResult(self._meta._for_freeze(), self._all())

    def merge(self, *others: Result[Any]) -> IteratorResult[_TP]:
        """A result yielding this result's rows, then those of each of ``others``."""
        results = (self, *others)

        def close_all() -> None:
            for r in results:
                r.close()

        return IteratorResult(self._meta._for_freeze(),
                              itertools.chain.from_iterable(results), on_close=close_all)


class ScalarResult(_View[_T]):
    """A view of one column of a result's rows; builds no ``Row`` objects.

    Shares the source with the result it came from; ``unique()`` there carries over.
    """

    def __init__(self, parent: Result[Any], index: int | str | Hashable = 0) -> None:
        self._real = real = parent._real
        meta = parent._meta
        if real.returns_rows:
            self._conv_one, self._conv_list = meta._scalar_fns(meta._index_for(index))
        else:  # every fetch raises before converting
            self._conv_one, self._conv_list = meta._row_fn, list
        self._inherit_unique(parent)


class MappingResult(_View[RowMapping]):
    """A view returning a ``RowMapping`` for each row.

    Shares the source with the result it came from; ``unique()`` there carries over.
    """

    def __init__(self, parent: Result[Any]) -> None:
        self._real = parent._real
        self._set_meta(parent._meta)
        self._inherit_unique(parent)

    def _default_unique_key(self) -> Processor | None:
        return _mapping_unique_key

    def _set_meta(self, metadata: ResultMetaData) -> None:
        self._meta = metadata
        row_fn = metadata._row_fn
        self._conv_one = lambda raw: RowMapping(row_fn(raw))
        self._conv_list = lambda raw: list(map(RowMapping, map(row_fn, raw)))

    def keys(self) -> RMKeyView:
        """The column keys."""
        return RMKeyView(self._meta)

    def fetchone(self) -> RowMapping | None:
        """Return the next row as a mapping, or None."""
        m = self._onerow()
        return None if m is _NO_ROW else m

    def columns(self, *keys: int | str | Hashable) -> MappingResult:
        """Keep only the given columns, in that order.

        Raises:
            NoSuchColumnError: a key or position is not in the result.
        """
        meta = self._meta
        self._set_meta(meta._reduce([meta._index_for(k) for k in keys]))
        return self


# ------------------------------------------------------------------ sources


class _IterFetcher:
    """The DB-API fetch methods over an iterator of row tuples."""

    __slots__ = ("_it",)

    def __init__(self, iterable: Iterable[Any]) -> None:
        self._it = iter(iterable)

    def fetchall(self) -> list[Any]:
        return list(self._it)

    def fetchmany(self, size: int) -> list[Any]:
        return list(itertools.islice(self._it, size))

    def fetchone(self) -> Any:
        return next(self._it, None)

    def close(self) -> None:
        it, self._it = self._it, iter(())
        close = getattr(it, "close", None)  # a generator: let it clean up now
        if close is not None:
            close()


class _ChunkFetcher:
    """The DB-API fetch methods over ``chunks(size)``, reading lazily.

    Invariant: it holds at most one chunk (``_buf``, next unread row at
    ``_pos``) and asks for the next only when that one is used up.
    ``fetchmany(-1)`` returns the rest of the current chunk (or the next one).
    """

    def __init__(self, chunks: Callable[[int | None], Iterable[list[Any]]],
                 size: Callable[[], int | None]) -> None:
        self._chunks, self._size = chunks, size
        self._it: Iterator[list[Any]] | None = None
        self._buf: list[Any] = []
        self._pos = 0

    def _take(self, size: int) -> list[Any]:
        buf, pos = self._buf, self._pos
        if pos >= len(buf):
            if self._it is None:  # first fetch: chunk size is yield_per as set by now
                self._it = iter(self._chunks(self._size()))
            buf = next((c for c in self._it if c), [])
            self._buf, pos = buf, 0
        if size < 0:
            size = len(buf) - pos
        rows = buf if pos == 0 and size >= len(buf) else buf[pos:pos + size]
        self._pos = pos + len(rows)
        return rows

    def fetchall(self) -> list[Any]:
        rows: list[Any] = []
        while chunk := self._take(-1):
            rows.extend(chunk)
        return rows

    def fetchmany(self, size: int) -> list[Any]:
        rows = self._take(size)
        while 0 < len(rows) < size and (more := self._take(size - len(rows))):
            rows = rows + more
        return rows

    def fetchone(self) -> Any:
        rows = self._take(1)
        return rows[0] if rows else None

    def close(self) -> None:
        it, self._it, self._buf = self._it, iter(()), []
        close = getattr(it, "close", None)
        if close is not None:
            close()


class _Source(Result[_TP]):
    """A result reading raw rows through ``_fetcher`` (a cursor or an adapter).

    Invariant: ``_released`` turns True exactly once - when the rows run out
    or on ``close()`` - and that is the only place the fetcher is closed and
    ``on_close`` runs.
    """

    _released = False
    _fetcher: Any
    _on_close: Callable[[], Any] | None = None

    def _release(self) -> None:
        if self._released:
            return
        self._released = True
        try:
            self._fetcher.close()
        finally:
            cb, self._on_close = self._on_close, None
            if cb is not None:
                cb()

    def _check(self) -> None:
        if not self.returns_rows:
            raise ResourceClosedError(_NO_ROWS_MSG)
        if self._closed:
            raise ResourceClosedError(_CLOSED_MSG)

    def _raw_all(self) -> list[Any]:
        self._check()
        if self._released:
            return []
        rows: list[Any] = self._fetcher.fetchall()
        self._release()
        return rows

    def _raw_many(self, size: int) -> list[Any]:
        self._check()
        if self._released:
            return []
        rows: list[Any] = self._fetcher.fetchmany(size)
        if not rows or len(rows) < size:  # DB-API: fewer than asked = no more rows
            self._release()
        return rows

    def _raw_one(self) -> Any:
        self._check()
        if self._released:
            return None
        row = self._fetcher.fetchone()
        if row is None:
            self._release()
        return row

    def close(self) -> None:
        """Release the rows (calling ``on_close`` if not yet called); later fetches raise."""
        self._closed = True
        self._release()


class CursorResult(_Source[_TP]):
    """Rows read from a DB-API cursor.

    ``all()`` costs one ``cursor.fetchall()``; ``fetchmany``, ``partitions``
    and ``yield_per`` use ``cursor.fetchmany(n)``; iteration reads chunks of
    ``fetchmany(yield_per or 1000)``; ``first()``/``one()`` use ``fetchone()``.

    Args:
        metadata: keys and processors of the rows.
        cursor: an executed DB-API cursor.
        on_close: called once, when the rows run out or the result is closed.
        rowcount: rows matched by the statement (the driver's ``rowcount``).
        lastrowid: the driver's ``lastrowid``.
        returns_rows: False for statements without a result set; the cursor is
            then released at once and fetching raises ``ResourceClosedError``.
        buffer_all: read every row now, then close the cursor and call ``on_close``.
    """

    def __init__(
        self,
        metadata: ResultMetaData,
        cursor: Any,
        *,
        on_close: Callable[[], Any] | None = None,
        rowcount: int = -1,
        lastrowid: Any = None,
        returns_rows: bool = True,
        buffer_all: bool = False,
    ) -> None:
        self._init_view(metadata)
        self.cursor = self._fetcher = cursor
        self._on_close = on_close
        self.rowcount = rowcount
        self.lastrowid = lastrowid
        self.returns_rows = returns_rows
        #: set by the engine after an INSERT.
        self.inserted_primary_key: Any = None
        if not returns_rows:
            self._release()
        elif buffer_all:
            rows = cursor.fetchall()
            self._fetcher = _IterFetcher(rows)
            self._on_close = None
            try:
                cursor.close()
            finally:
                if on_close is not None:
                    on_close()

    def _default_size(self) -> int | None:
        return self._yield_per or getattr(self.cursor, "arraysize", 1) or 1


class IteratorResult(_Source[_TP]):
    """Rows from an iterable of tuples already in Python form (used by the ORM).

    A generator is closed when the result is closed or exhausted.

    Args:
        metadata: keys (and, rarely, processors) of the rows.
        iterable: the raw row tuples; consumed lazily.
        on_close: called once, when the rows run out or the result is closed.
    """

    def __init__(self, metadata: ResultMetaData, iterable: Iterable[Any], *,
                 on_close: Callable[[], Any] | None = None) -> None:
        self._init_view(metadata)
        self._fetcher = _IterFetcher(iterable)
        self._on_close = on_close


class ChunkedIteratorResult(_Source[_TP]):
    """Rows pulled in lists from ``chunks(yield_per)``, never more than one list ahead.

    ``chunks`` is called once, at the first fetch, with the ``yield_per`` set
    by then (or None), so call ``yield_per()`` before fetching.  Without a
    size, ``fetchmany()``/``partitions()`` return one chunk at a time.

    Args:
        metadata: keys of the rows.
        chunks: ``chunks(size)`` returns an iterator of lists of row tuples.
        on_close: called once, when the rows run out or the result is closed.
    """

    def __init__(self, metadata: ResultMetaData,
                 chunks: Callable[[int | None], Iterable[list[Any]]], *,
                 on_close: Callable[[], Any] | None = None) -> None:
        self._init_view(metadata)
        self.chunks = chunks
        me = weakref.ref(self)  # not a closure over self: that would be a cycle
        self._fetcher = _ChunkFetcher(chunks, lambda: getattr(me(), "_yield_per", None))
        self._on_close = on_close

    def _default_size(self) -> int | None:
        return self._yield_per or -1

    def _raw_chunks(self) -> Iterator[list[Any]]:
        while chunk := self._raw_many(-1):
            yield chunk


# ------------------------------------------------------------------- frozen


class FrozenResult(Generic[_TP]):
    """Rows captured by ``Result.freeze()``; calling it returns a fresh ``Result``.

    ``data`` holds the rows (already converted); ``metadata`` their keys.
    """

    def __init__(self, metadata: ResultMetaData, data: list[Any]) -> None:
        self.metadata = metadata
        self.data = data

    def with_new_rows(self, rows: Sequence[tuple[Any, ...]]) -> FrozenResult[_TP]:
        """A FrozenResult with the same keys over other rows."""
        return FrozenResult(self.metadata, list(rows))

    def __call__(self) -> IteratorResult[_TP]:
        return IteratorResult(self.metadata, iter(self.data))
