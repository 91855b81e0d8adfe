"""SQL functions: ``func.count()``, ``func.lower(x)``, ``func.now()``, ...

``func.<name>(*args)`` builds a :class:`Function`; a dotted name
(``func.my_schema.fn()``) renders with its package prefix.  A few well-known
functions know their return type (so ``count`` yields an Integer column and
``now`` a DateTime); any other name renders as given with the type of its
first argument.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from docket.sql import types as sqltypes
from docket.sql.elements import (
    BindParameter,
    ClauseElement,
    ClauseList,
    ColumnElement,
    Over,
    coerce_expression,
)

if TYPE_CHECKING:
    from docket.sql.selectable import FromClause

__all__ = ["Function", "func"]

# name -> return type; None means "the type of the first argument".
_RETURN_TYPES: dict[str, Any] = {
    "count": sqltypes.Integer,
    "char_length": sqltypes.Integer,
    "length": sqltypes.Integer,
    "now": sqltypes.DateTime,
    "current_timestamp": sqltypes.DateTime,
    "localtimestamp": sqltypes.DateTime,
    "current_date": sqltypes.Date,
    "current_time": sqltypes.Time,
    "lower": sqltypes.String,
    "upper": sqltypes.String,
    "concat": sqltypes.String,
    "random": sqltypes.Float,
    "avg": sqltypes.Numeric,
    "row_number": sqltypes.Integer,
    "rank": sqltypes.Integer,
    "dense_rank": sqltypes.Integer,
    "sum": None,
    "max": None,
    "min": None,
    "coalesce": None,
    "abs": None,
}

# ANSI functions rendered without parentheses when called with no arguments.
_NO_PARENS = frozenset(
    {"current_timestamp", "current_date", "current_time", "localtimestamp", "localtime",
     "current_user", "session_user"}
)


class Function(ColumnElement):
    """A SQL function call."""

    __visit_name__ = "function"

    def __init__(
        self, name: str, *args: Any, type_: Any = None, packagenames: tuple[str, ...] = ()
    ) -> None:
        self.name = name
        self.key = name
        self.packagenames = packagenames
        self.clauses = ClauseList(*args)
        lname = name.lower()
        self.no_parens = lname in _NO_PARENS and not args
        if type_ is not None:
            self.type = sqltypes.to_instance(type_)
        else:
            known = _RETURN_TYPES.get(lname, None)
            if known is not None:
                self.type = sqltypes.to_instance(known)
            elif self.clauses.clauses:
                self.type = self.clauses.clauses[0].type
            else:
                self.type = sqltypes.NULLTYPE
        for c in self.clauses.clauses:
            if isinstance(c, BindParameter) and isinstance(c.type, sqltypes.NullType):
                c.type = sqltypes.type_for_python_value(c.value)

    def _ck(self, binds: list[BindParameter]) -> tuple[Any, ...]:
        return ("fn", self.packagenames, self.name, self.type, self.clauses._ck(binds))

    @property
    def _from_objects(self) -> list[FromClause]:
        return self.clauses._from_objects

    def get_children(self) -> Iterable[ClauseElement]:
        return (self.clauses,)

    def over(self, partition_by: Any = None, order_by: Any = None) -> Over:
        """This call as a window function."""
        return Over(self, partition_by, order_by)

    def select(self) -> Any:
        from docket.sql.selectable import Select

        return Select(self)

    def scalar_subquery(self) -> ColumnElement:
        return self


class _FunctionGenerator:
    """``func.name(...)``; attribute access accumulates dotted package names."""

    def __init__(self, names: tuple[str, ...] = ()) -> None:
        self._names = names

    def __getattr__(self, name: str) -> _FunctionGenerator:
        if name.startswith("__"):
            raise AttributeError(name)
        if name.endswith("_"):
            name = name[:-1]
        return _FunctionGenerator(self._names + (name,))

    def __call__(self, *args: Any, **kw: Any) -> Function:
        if not self._names:
            raise TypeError("call func.<name>(...), e.g. func.count()")
        return Function(
            self._names[-1],
            *[coerce_expression(a) for a in args],
            type_=kw.get("type_"),
            packagenames=self._names[:-1],
        )


func = _FunctionGenerator()
