"""SQL functions: ``func.count()``, ``func.lower(x)``, ``func.now()``, ...

``func.<name>(*args)`` builds a :class:`Function`; a dotted name
(``func.my_schema.fn()``) renders with its package prefix.  A few well-known
functions know their return type (so ``count`` yields an Integer column and
``now`` a DateTime); the aggregates ``sum max min coalesce abs`` take the type
of their first argument; any other name has the null type.  Plain Python
arguments become bound parameters named after the function (``:lower_1``).
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
    type_key,
)

if TYPE_CHECKING:
    from docket.sql.selectable import FromClause

__all__ = ["Function", "func"]

# name -> return type (shared instances, so cache keys stay equal); None
# means "the type of the first argument".
_DATETIME = sqltypes.DateTime()
_RETURN_TYPES: dict[str, Any] = {
    "count": sqltypes.INTEGERTYPE,
    "char_length": sqltypes.INTEGERTYPE,
    "length": sqltypes.INTEGERTYPE,
    "now": _DATETIME,
    "current_timestamp": _DATETIME,
    "localtimestamp": _DATETIME,
    "localtime": _DATETIME,
    "current_date": sqltypes.Date(),
    "current_time": sqltypes.Time(),
    "lower": sqltypes.STRINGTYPE,
    "upper": sqltypes.STRINGTYPE,
    "concat": sqltypes.STRINGTYPE,
    "current_user": sqltypes.STRINGTYPE,
    "session_user": sqltypes.STRINGTYPE,
    "random": sqltypes.Float(),
    "avg": sqltypes.Numeric(),
    "row_number": sqltypes.INTEGERTYPE,
    "rank": sqltypes.INTEGERTYPE,
    "dense_rank": sqltypes.INTEGERTYPE,
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
        self.clauses = ClauseList(*[
            a if a is None or isinstance(a, ClauseElement) or hasattr(a, "__clause_element__")
            else BindParameter(name, a, unique=True)
            for a in args
        ])
        lname = name.lower()
        self.no_parens = lname in _NO_PARENS and not args
        if type_ is not None:
            self.type = sqltypes.to_instance(type_)
        elif lname in _RETURN_TYPES:
            known = _RETURN_TYPES[lname]
            if known is not None:
                self.type = known
            elif self.clauses.clauses:
                self.type = self.clauses.clauses[0].type
            else:
                self.type = sqltypes.NULLTYPE
        else:
            self.type = sqltypes.NULLTYPE

    def _ck(self, binds: list[BindParameter]) -> tuple[Any, ...]:
        return (
            "fn", self.packagenames, self.name, type_key(self.type), self.clauses._ck(binds)
        )

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
        unknown = set(kw) - {"type_"}
        if unknown:
            raise TypeError(
                f"func.{'.'.join(self._names)}() got unexpected keyword arguments "
                f"{sorted(unknown)}; only type_= is accepted."
            )
        return Function(
            self._names[-1], *args, type_=kw.get("type_"), packagenames=self._names[:-1]
        )


func = _FunctionGenerator()
