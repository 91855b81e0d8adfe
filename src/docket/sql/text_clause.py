"""Textual SQL: :func:`text` and :class:`TextClause`.

Re-exported by :mod:`docket.sql.elements`.
"""

from __future__ import annotations

import re
from typing import Any

from docket import exc
from docket.sql import operators as ops
from docket.sql import types as sqltypes
from docket.sql.base import Executable
from docket.sql.elements import (
    BindParameter,
    ClauseElement,
    ColumnClause,
    ColumnElement,
    type_key,
)
from docket.sql.expressions import Grouping

__all__ = ["TextClause", "text"]

# ``:name`` not preceded by another colon or a backslash-escaped colon, and
# not a PostgreSQL ``::cast``.
_BIND_RE = re.compile(r"(?<![:\w\\]):(\w+)(?!:)", re.UNICODE)


class TextClause(Executable, ColumnElement):
    """Literal SQL with ``:name`` bound parameters.

    ``\\:`` escapes a colon that is not a parameter.  Parameters are always
    sent to the driver bound, never interpolated into the text.
    """

    __visit_name__ = "textclause"
    is_selectable = True  # executable as a statement

    def __init__(self, text: str) -> None:
        if not isinstance(text, str):
            raise exc.ArgumentError(f"text() needs a string, got {type(text).__name__}")
        self.text = text
        self._bindparams: dict[str, BindParameter] = {
            name: BindParameter(name, required=True) for name in _BIND_RE.findall(text)
        }
        self._columns: list[ColumnClause] = []

    def _ck(self, binds: list[BindParameter]) -> tuple[Any, ...]:
        for b in self._bindparams.values():
            binds.append(b)
        return (
            "text",
            self.text,
            tuple((k, type_key(b.type)) for k, b in self._bindparams.items()),
            tuple((c.key, type_key(c.type)) for c in self._columns),
        )

    def bindparams(self, *binds: BindParameter, **values: Any) -> TextClause:
        """Give parameters values or types: ``text(":x").bindparams(x=5)``."""
        new = self._clone()
        new._bindparams = dict(self._bindparams)
        for b in binds:
            if b.key not in new._bindparams:
                raise exc.ArgumentError(
                    f"This text() construct has no bind parameter named {b.key!r}; "
                    f"it has {sorted(new._bindparams)}."
                )
            new._bindparams[b.key] = b
        for key, value in values.items():
            if key not in new._bindparams:
                raise exc.ArgumentError(
                    f"This text() construct has no bind parameter named {key!r}; "
                    f"it has {sorted(new._bindparams)}."
                )
            old = new._bindparams[key]
            new._bindparams[key] = BindParameter(key, value, type_=None if isinstance(
                old.type, sqltypes.NullType) else old.type, required=False)
        return new

    def columns(self, *cols: Any, **types: Any) -> TextClause:
        """Declare the result columns (and their types) of a textual SELECT."""
        new = self._clone()
        new._columns = [c if isinstance(c, ColumnClause) else ColumnClause(c) for c in cols]
        new._columns += [ColumnClause(k, t) for k, t in types.items()]
        return new

    def self_group(self, against: ops.Operator | None = None) -> ClauseElement:
        if against is ops.in_op:
            return Grouping(self)
        return self

    def __repr__(self) -> str:
        return f"<text {self.text!r}>"


def text(text: str) -> TextClause:
    """Literal SQL with ``:name`` parameters."""
    return TextClause(text)
