"""Shared building blocks of the SQL layer: column collections, generative
statements and execution options."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Generic, TypeVar

from docket import exc

__all__ = ["ColumnCollection", "Executable", "Generative"]

_C = TypeVar("_C")
_S = TypeVar("_S", bound="Generative")


class ColumnCollection(Generic[_C]):
    """An ordered, read-only collection of columns: ``table.c.name``,
    ``table.c["name"]``, iteration in declaration order.

    Invariant: ``_by_key`` maps every key to its column and ``_cols`` holds the
    columns in order; both change only through ``_add`` while the owning
    selectable is being built.
    """

    __slots__ = ("_cols", "_by_key", "_ids")

    def __init__(self, columns: list[tuple[str, _C]] | None = None) -> None:
        self._cols: list[_C] = []
        self._by_key: dict[str, _C] = {}
        self._ids: set[int] = set()
        for key, col in columns or ():
            self._add(key, col)

    def _add(self, key: str, col: _C) -> None:
        if key in self._by_key:
            old = self._by_key[key]
            self._cols[self._cols.index(old)] = col
            self._ids.discard(id(old))
        else:
            self._cols.append(col)
        self._by_key[key] = col
        self._ids.add(id(col))

    def __getattr__(self, key: str) -> _C:
        try:
            return self._by_key[key]
        except KeyError:
            raise AttributeError(
                f"No column named {key!r}; columns are {list(self._by_key)}"
            ) from None

    def __getitem__(self, key: str | int) -> _C:
        if isinstance(key, int):
            return self._cols[key]
        try:
            return self._by_key[key]
        except KeyError:
            raise KeyError(f"No column named {key!r}; columns are {list(self._by_key)}") from None

    def get(self, key: str, default: Any = None) -> Any:
        return self._by_key.get(key, default)

    def __contains__(self, item: object) -> bool:
        if isinstance(item, str):
            return item in self._by_key
        return id(item) in self._ids

    def contains_column(self, col: object) -> bool:
        return id(col) in self._ids

    def __iter__(self) -> Iterator[_C]:
        return iter(list(self._cols))

    def __len__(self) -> int:
        return len(self._cols)

    def keys(self) -> list[str]:
        return list(self._by_key)

    def values(self) -> list[_C]:
        return list(self._cols)

    def items(self) -> list[tuple[str, _C]]:
        return list(self._by_key.items())

    def __bool__(self) -> bool:
        return bool(self._cols)

    def __repr__(self) -> str:
        return f"ColumnCollection({', '.join(self._by_key)})"

    def __getstate__(self) -> dict[str, Any]:
        return {"cols": list(self._by_key.items())}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["cols"])  # type: ignore[misc]


class Generative:
    """Statements whose builder methods return modified copies."""

    def _generate(self: _S) -> _S:
        new = self.__class__.__new__(self.__class__)
        new.__dict__.update(self.__dict__)
        new.__dict__.pop("_memo_key", None)
        return new


class Executable(Generative):
    """A statement that can be passed to ``Connection.execute``."""

    _execution_options: dict[str, Any] = {}
    is_dml = False
    is_select = False

    def execution_options(self: _S, **kw: Any) -> _S:
        """Return a copy with options for execution (``yield_per``,
        ``populate_existing``, ``synchronize_session``, ...)."""
        if "isolation_level" in kw:
            raise exc.ArgumentError(
                "isolation_level is set on the Connection or Engine "
                "(connection.execution_options(isolation_level=...)), not per statement."
            )
        new = self._generate()
        new._execution_options = {**self._execution_options, **kw}  # type: ignore[attr-defined]
        return new

    def get_execution_options(self) -> dict[str, Any]:
        return dict(self._execution_options)
