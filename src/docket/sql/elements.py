"""Expression nodes: columns, bound parameters, operators, literals, text.

Every node is immutable once built (generative methods return copies), which
is what makes the compiled-statement cache sound.  Each node answers
``_ck(binds)``: a hashable *shape* key in which literal values are replaced by
their position in ``binds``; two statements with equal keys compile to the
same SQL and differ only in the values of their bound parameters.
"""

from __future__ import annotations

import itertools
import re
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from docket import exc
from docket.sql import operators as ops
from docket.sql import types as sqltypes
from docket.sql.base import Executable

if TYPE_CHECKING:
    from docket.sql.compiler import Compiled
    from docket.sql.dialect import Dialect
    from docket.sql.selectable import FromClause

__all__ = [
    "BinaryExpression",
    "BindParameter",
    "BooleanClauseList",
    "Case",
    "Cast",
    "ClauseElement",
    "ClauseList",
    "ColumnClause",
    "ColumnElement",
    "False_",
    "Grouping",
    "Label",
    "Null",
    "Over",
    "TextClause",
    "True_",
    "Tuple",
    "UnaryExpression",
    "and_",
    "asc",
    "between",
    "bindparam",
    "case",
    "cast",
    "collate",
    "column",
    "desc",
    "distinct",
    "false",
    "literal",
    "literal_column",
    "not_",
    "null",
    "nulls_first",
    "nulls_last",
    "or_",
    "over",
    "text",
    "true",
    "tuple_",
    "type_coerce",
]


class ClauseElement:
    """Base of every SQL expression node."""

    __visit_name__ = "clause"
    _is_clause_element = True
    # set on a few node types (a select, a text) that may be executed
    is_selectable = False

    def _ck(self, binds: list[BindParameter]) -> tuple[Any, ...]:
        """Shape key; appends this node's bound parameters to ``binds``."""
        raise NotImplementedError(type(self).__name__)

    def _generate_cache_key(self) -> tuple[tuple[Any, ...], list[BindParameter]]:
        """``(shape key, bound parameters in traversal order)``."""
        binds: list[BindParameter] = []
        return self._ck(binds), binds

    @property
    def _from_objects(self) -> list[FromClause]:
        return []

    def self_group(self, against: ops.Operator | None = None) -> ClauseElement:
        return self

    def get_children(self) -> Iterable[ClauseElement]:
        return ()

    def compile(self, bind: Any = None, dialect: Dialect | None = None, **kw: Any) -> Compiled:
        """Compile to SQL for ``dialect`` (or the dialect of ``bind``).

        Without either, renders generic SQL with ``:name`` parameters.
        """
        if dialect is None:
            if bind is not None:
                dialect = bind.dialect
            else:
                from docket.sql.dialect import default_dialect

                dialect = default_dialect()
        return dialect.statement_compiler(dialect, self, **kw)

    def __str__(self) -> str:
        return self.compile().string

    def _clone(self) -> Any:
        new = self.__class__.__new__(self.__class__)
        new.__dict__.update(self.__dict__)
        new.__dict__.pop("_memo_key", None)
        return new


class _NoValue:
    def __repr__(self) -> str:
        return "<no value>"


_NO_VALUE: Any = _NoValue()

# --- cache-key helpers ----------------------------------------------------------

# type instance -> its structural key; types are immutable descriptions, so the
# key computed once stays valid for the instance's lifetime.
_TYPE_KEYS: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()


def type_key(type_: Any) -> Any:
    """A hashable key for ``type_`` that is equal for two instances of the same
    class built with the same arguments (``String(30)`` twice), so statements
    using equal but distinct type objects share a cache entry."""
    try:
        return _TYPE_KEYS[type_]
    except KeyError:
        pass
    except TypeError:  # not weak-referenceable: identity is always safe
        return type_
    items = []
    for name, value in sorted(vars(type_).items()):
        if name == "_dialect_cache":
            continue
        items.append((name, _freeze(value)))
    key: Any = (type(type_), tuple(items))
    try:
        hash(key)
    except TypeError:
        key = type_
    try:
        _TYPE_KEYS[type_] = key
    except TypeError:
        pass
    return key


def _freeze(value: Any) -> Any:
    if isinstance(value, sqltypes.TypeEngine):
        return type_key(value)
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, (set, frozenset)):
        return frozenset(_freeze(v) for v in value)
    if isinstance(value, Mapping):
        return tuple((k, _freeze(v)) for k, v in value.items())
    return value


# --- coercion -----------------------------------------------------------------


def coerce_expression(obj: Any, *, role: str = "expression") -> ColumnElement:
    """Turn ``obj`` into a ColumnElement: clause elements pass through, objects
    with ``__clause_element__`` (ORM attributes) are unwrapped, plain Python
    values become bound parameters."""
    if isinstance(obj, ColumnElement):
        return obj
    ce = getattr(obj, "__clause_element__", None)
    if ce is not None:
        return coerce_expression(ce(), role=role)
    if isinstance(obj, ClauseElement):
        if getattr(obj, "is_selectable", False) and hasattr(obj, "scalar_subquery"):
            return obj.scalar_subquery()
        raise exc.ArgumentError(f"{type(obj).__name__} cannot be used as a SQL {role}: {obj!r}")
    if obj is None:
        return Null()
    return BindParameter(None, obj, unique=True)


def coerce_where(obj: Any) -> ColumnElement:
    """Coerce a WHERE/ON/HAVING criterion; a bare string is refused (use text())."""
    if isinstance(obj, str):
        raise exc.ArgumentError(
            f"Textual SQL expression {obj!r} should be explicitly declared as text({obj!r})."
        )
    if obj is True:
        return True_()
    if obj is False:
        return False_()
    el = coerce_expression(obj, role="WHERE criterion")
    return el


def _bind_key(expr: Any) -> str | None:
    """The name a literal compared with ``expr`` is bound under: a column's
    key (``:name_1``), a function's name (``:count_1``), else ``:param_1``."""
    if getattr(expr, "_is_column", False) or getattr(expr, "__visit_name__", None) == "function":
        key = expr.key
        return key if isinstance(key, str) else None
    return None


def _typed_like(bind: BindParameter, expr: Any) -> BindParameter:
    """An untyped ``bindparam()`` compared with ``expr`` takes its type (so the
    value goes through that type's processors); the original is not modified."""
    target = getattr(expr, "type", None)
    if isinstance(bind.type, sqltypes.NullType) and target is not None and not isinstance(
        target, sqltypes.NullType
    ):
        new: BindParameter = bind._clone()
        new.type = target
        return new
    return bind


def _bind_for(expr: ColumnElement, op: ops.Operator, value: Any) -> ColumnElement:
    if isinstance(value, ClauseElement) or hasattr(value, "__clause_element__"):
        el = coerce_expression(value)
        return _typed_like(el, expr) if isinstance(el, BindParameter) else el
    return BindParameter(
        _bind_key(expr),
        value,
        type_=expr.type.coerce_compared_value(op, value),
        unique=True,
    )


# --- column expressions ---------------------------------------------------------


class ColumnElement(ClauseElement):
    """An expression usable in a column list or a comparison.

    Python operators build SQL: ``col == 5`` is a :class:`BinaryExpression`,
    not a bool.  ``__hash__`` stays identity-based.
    """

    __visit_name__ = "column_element"
    type: sqltypes.TypeEngine = sqltypes.NULLTYPE
    key: str | None = None
    primary_key = False
    foreign_keys: Sequence[Any] = ()
    _is_column = False

    __hash__ = ClauseElement.__hash__  # keep identity hashing despite __eq__

    # -- binary operators --------------------------------------------------
    def _binary(self, op: ops.Operator, other: Any, reverse: bool = False) -> ColumnElement:
        if other is None and op in (ops.eq, ops.ne, ops.is_, ops.is_not):
            op = ops.is_ if op in (ops.eq, ops.is_) else ops.is_not
            return BinaryExpression(self, Null(), op, sqltypes.BOOLEANTYPE)
        if isinstance(other, bool) and op in (ops.is_, ops.is_not):
            # ``IS`` takes the keywords TRUE / FALSE, never a parameter
            const = True_() if other else False_()
            return BinaryExpression(self, const, op, sqltypes.BOOLEANTYPE)
        right = _bind_for(self, op, other)
        if isinstance(right, Null) and op in (ops.eq, ops.ne):
            op = ops.is_ if op is ops.eq else ops.is_not
        if op is ops.add and sqltypes.is_string_like(self.type):
            op = ops.concat_op
        rtype = sqltypes.BOOLEANTYPE if op.comparison else self.type
        if reverse:
            return BinaryExpression(right, self, op, rtype)
        return BinaryExpression(self, right, op, rtype)

    def __eq__(self, other: Any) -> ColumnElement:  # type: ignore[override]
        return self._binary(ops.eq, other)

    def __ne__(self, other: Any) -> ColumnElement:  # type: ignore[override]
        return self._binary(ops.ne, other)

    def __lt__(self, other: Any) -> ColumnElement:
        return self._binary(ops.lt, other)

    def __le__(self, other: Any) -> ColumnElement:
        return self._binary(ops.le, other)

    def __gt__(self, other: Any) -> ColumnElement:
        return self._binary(ops.gt, other)

    def __ge__(self, other: Any) -> ColumnElement:
        return self._binary(ops.ge, other)

    def __add__(self, other: Any) -> ColumnElement:
        return self._binary(ops.add, other)

    def __radd__(self, other: Any) -> ColumnElement:
        return self._binary(ops.add, other, reverse=True)

    def __sub__(self, other: Any) -> ColumnElement:
        return self._binary(ops.sub, other)

    def __rsub__(self, other: Any) -> ColumnElement:
        return self._binary(ops.sub, other, reverse=True)

    def __mul__(self, other: Any) -> ColumnElement:
        return self._binary(ops.mul, other)

    def __rmul__(self, other: Any) -> ColumnElement:
        return self._binary(ops.mul, other, reverse=True)

    def __truediv__(self, other: Any) -> ColumnElement:
        return self._binary(ops.truediv, other)

    def __rtruediv__(self, other: Any) -> ColumnElement:
        return self._binary(ops.truediv, other, reverse=True)

    def __mod__(self, other: Any) -> ColumnElement:
        return self._binary(ops.mod, other)

    def __rmod__(self, other: Any) -> ColumnElement:
        return self._binary(ops.mod, other, reverse=True)

    def __neg__(self) -> ColumnElement:
        return UnaryExpression(self, operator=ops.neg, type_=self.type)

    def __invert__(self) -> ColumnElement:
        return not_(self)

    def __and__(self, other: Any) -> ColumnElement:
        return and_(self, other)

    def __or__(self, other: Any) -> ColumnElement:
        return or_(self, other)

    def __bool__(self) -> bool:
        raise TypeError(
            "Boolean value of a SQL expression is not defined; use and_()/or_() "
            "or the & | ~ operators to combine criteria."
        )

    # -- named operators -------------------------------------------------
    def like(self, other: Any, escape: str | None = None) -> ColumnElement:
        return _with_escape(self._binary(ops.like_op, other), escape)

    def not_like(self, other: Any, escape: str | None = None) -> ColumnElement:
        return _with_escape(self._binary(ops.not_like_op, other), escape)

    notlike = not_like

    def ilike(self, other: Any, escape: str | None = None) -> ColumnElement:
        return _with_escape(self._binary(ops.ilike_op, other), escape)

    def not_ilike(self, other: Any, escape: str | None = None) -> ColumnElement:
        return _with_escape(self._binary(ops.not_ilike_op, other), escape)

    notilike = not_ilike

    def _affix(
        self, other: Any, before: bool, after: bool, escape: str | None, autoescape: bool,
        op: ops.Operator = ops.like_op,
    ) -> ColumnElement:
        # ``LIKE '%' || :param || '%'``: the value stays a bound parameter and
        # the wildcards are SQL literals (as SQLAlchemy renders it).
        if autoescape:
            if escape is None:
                escape = "/"
            if not isinstance(other, str):
                raise exc.ArgumentError(
                    f"autoescape=True needs a string value, got {type(other).__name__}: {other!r}"
                )
            other = (
                other.replace(escape, escape + escape)
                .replace("%", escape + "%")
                .replace("_", escape + "_")
            )
        expr: ColumnElement = _bind_for(self, op, other)
        if before:
            expr = BinaryExpression(_PERCENT_LITERAL, expr, ops.concat_op, sqltypes.STRINGTYPE)
        if after:
            expr = BinaryExpression(expr, _PERCENT_LITERAL, ops.concat_op, sqltypes.STRINGTYPE)
        return _with_escape(BinaryExpression(self, expr, op, sqltypes.BOOLEANTYPE), escape)

    def startswith(self, other: Any, escape: str | None = None,
                   autoescape: bool = False) -> ColumnElement:
        """``LIKE other || '%'``; ``autoescape=True`` escapes ``%``, ``_`` and ``/``."""
        return self._affix(other, False, True, escape, autoescape)

    def endswith(self, other: Any, escape: str | None = None,
                 autoescape: bool = False) -> ColumnElement:
        """``LIKE '%' || other``."""
        return self._affix(other, True, False, escape, autoescape)

    def contains(self, other: Any, escape: str | None = None,
                 autoescape: bool = False) -> ColumnElement:
        """``LIKE '%' || other || '%'``."""
        return self._affix(other, True, True, escape, autoescape)

    def istartswith(self, other: Any, escape: str | None = None,
                    autoescape: bool = False) -> ColumnElement:
        """Case-insensitive :meth:`startswith` (ILIKE)."""
        return self._affix(other, False, True, escape, autoescape, ops.ilike_op)

    def iendswith(self, other: Any, escape: str | None = None,
                  autoescape: bool = False) -> ColumnElement:
        """Case-insensitive :meth:`endswith` (ILIKE)."""
        return self._affix(other, True, False, escape, autoescape, ops.ilike_op)

    def icontains(self, other: Any, escape: str | None = None,
                  autoescape: bool = False) -> ColumnElement:
        """Case-insensitive :meth:`contains` (ILIKE)."""
        return self._affix(other, True, True, escape, autoescape, ops.ilike_op)

    def in_(self, other: Any) -> ColumnElement:
        """``IN``: a list (an expanding parameter), ``select()`` or expressions."""
        return BinaryExpression(self, _in_target(self, other), ops.in_op, sqltypes.BOOLEANTYPE)

    def not_in(self, other: Any) -> ColumnElement:
        return BinaryExpression(self, _in_target(self, other), ops.not_in_op, sqltypes.BOOLEANTYPE)

    notin_ = not_in

    def is_(self, other: Any) -> ColumnElement:
        return self._binary(ops.is_, other)

    def is_not(self, other: Any) -> ColumnElement:
        return self._binary(ops.is_not, other)

    isnot = is_not

    def is_distinct_from(self, other: Any) -> ColumnElement:
        return self._binary(ops.is_distinct_from, other)

    def is_not_distinct_from(self, other: Any) -> ColumnElement:
        return self._binary(ops.is_not_distinct_from, other)

    def between(self, cleft: Any, cright: Any, symmetric: bool = False) -> ColumnElement:
        """``BETWEEN cleft AND cright`` (``BETWEEN SYMMETRIC`` when asked)."""
        pair = ClauseList(
            _bind_for(self, ops.between_op, cleft), _bind_for(self, ops.between_op, cright)
        )
        return BinaryExpression(
            self, pair, ops.between_op, sqltypes.BOOLEANTYPE,
            modifiers={"symmetric": True} if symmetric else None,
        )

    def concat(self, other: Any) -> ColumnElement:
        return BinaryExpression(self, _bind_for(self, ops.concat_op, other), ops.concat_op, self.type)

    def op(
        self, opstring: str, precedence: int = 0, is_comparison: bool = False,
        return_type: Any = None,
    ) -> Callable[[Any], ColumnElement]:
        """A custom binary operator: ``col.op("->>")("key")``.

        Args:
            opstring: the operator's SQL token.
            precedence: how tightly it binds (0, the default, groups it inside
                any other operator, as SQLAlchemy does).
            is_comparison: it yields a boolean.
            return_type: the result type (default: this expression's type).
        """
        custom = ops.Operator(
            f"custom:{opstring}", f" {opstring} ", precedence, comparison=is_comparison
        )

        def apply(other: Any) -> ColumnElement:
            rtype = (
                sqltypes.to_instance(return_type)
                if return_type is not None
                else (sqltypes.BOOLEANTYPE if is_comparison else self.type)
            )
            return BinaryExpression(self, _bind_for(self, custom, other), custom, rtype)

        return apply

    def desc(self) -> ColumnElement:
        return UnaryExpression(self, modifier=ops.desc_op)

    def asc(self) -> ColumnElement:
        return UnaryExpression(self, modifier=ops.asc_op)

    def nulls_first(self) -> ColumnElement:
        return UnaryExpression(self, modifier=ops.nulls_first_op)

    def nulls_last(self) -> ColumnElement:
        return UnaryExpression(self, modifier=ops.nulls_last_op)

    nullsfirst = nulls_first
    nullslast = nulls_last

    def distinct(self) -> ColumnElement:
        return UnaryExpression(self, operator=ops.distinct_op, type_=self.type)

    def collate(self, collation: str) -> ColumnElement:
        return CollationClause(self, collation)

    def label(self, name: str | None) -> Label:
        return Label(name, self)

    def cast(self, type_: Any) -> Cast:
        return Cast(self, type_)

    def __clause_element__(self) -> ColumnElement:
        return self

    @property
    def _result_key(self) -> str | None:
        """The key a result row exposes this expression under."""
        return self.key


def _with_escape(expr: ColumnElement, escape: str | None) -> ColumnElement:
    if escape is not None:
        assert isinstance(expr, BinaryExpression)
        expr.modifiers = {**expr.modifiers, "escape": escape}  # expr is new: not shared yet
    return expr


def _in_target(expr: ColumnElement, other: Any) -> ClauseElement:
    ce = getattr(other, "__clause_element__", None)
    if ce is not None:
        other = ce()
    if isinstance(other, ClauseElement):
        inner = getattr(other, "element", None)
        if getattr(other, "_is_from_clause", False) and getattr(inner, "is_select", False):
            other = inner  # IN (subquery) means IN (its SELECT)
        if getattr(other, "is_selectable", False):
            return Grouping(other)
        if isinstance(other, BindParameter) and other.expanding:
            return _typed_like(other, expr)
        return Grouping(other)
    if isinstance(other, str) or not isinstance(other, Iterable):
        raise exc.ArgumentError(
            f"IN expression for {expr.key or 'expression'!r} needs a list, tuple, "
            f"set or select(), got {type(other).__name__}: {other!r}"
        )
    values = list(other)
    if any(isinstance(v, ClauseElement) or hasattr(v, "__clause_element__") for v in values):
        return Grouping(ClauseList(*[_bind_for(expr, ops.in_op, v) for v in values]))
    type_ = expr.type
    if values and isinstance(type_, sqltypes.NullType):
        type_ = sqltypes.type_for_python_value(values[0])
    return BindParameter(_bind_key(expr), values, type_=type_, unique=True, expanding=True)


class BindParameter(ColumnElement):
    """A bound parameter: ``:name`` in SQL, its value sent separately.

    ``unique`` binds get a fresh name at compile time (``name_1``); a
    non-unique bind keeps ``key`` so ``execute(stmt, {key: value})`` can set
    it.  ``expanding`` binds hold a list and render as ``(?, ?, ...)``.
    """

    __visit_name__ = "bindparam"
    key: str
    # for an expanding bind holding rows (``tuple_(a, b).in_(...)``): each position's type
    _tuple_types: tuple[sqltypes.TypeEngine, ...] | None = None

    def __init__(
        self,
        key: str | None,
        value: Any = _NO_VALUE,
        type_: Any = None,
        unique: bool = False,
        required: Any = _NO_VALUE,
        callable_: Callable[[], Any] | None = None,
        expanding: bool = False,
        literal_execute: bool = False,
    ) -> None:
        self.key = key or "param"
        # ``required`` (no value until execution) unless a value or callable was given
        if required is _NO_VALUE:
            required = value is _NO_VALUE and callable_ is None
        self.value = None if value is _NO_VALUE else value
        self.callable = callable_
        self.unique = unique or key is None
        self.required = bool(required)
        self.expanding = expanding
        self.literal_execute = literal_execute
        if type_ is None:
            sample = self.value
            if expanding and isinstance(sample, (list, tuple)):
                sample = sample[0] if sample else None
            if isinstance(sample, tuple) and expanding:
                type_ = sqltypes.NULLTYPE
            else:
                type_ = sqltypes.type_for_python_value(sample)
        self.type = sqltypes.to_instance(type_)

    def _ck(self, binds: list[BindParameter]) -> tuple[Any, ...]:
        binds.append(self)
        return (
            "bind",
            None if self.unique else self.key,
            type_key(self.type),
            self.expanding,
            # rendered inline, so the value is part of the SQL text
            repr(self.effective_value()) if self.literal_execute else None,
            None if self._tuple_types is None else tuple(type_key(t) for t in self._tuple_types),
        )

    def effective_value(self) -> Any:
        """The value: the callable's result when one was given."""
        return self.callable() if self.callable is not None else self.value

    def _with_value(self, value: Any, type_: Any = None) -> BindParameter:
        """A copy carrying ``value`` (and ``type_``); the original is untouched."""
        new: BindParameter = self._clone()
        new.value = value
        new.callable = None
        new.required = False
        if type_ is not None:
            new.type = sqltypes.to_instance(type_)
        return new

    def __repr__(self) -> str:
        return f"BindParameter({self.key!r}, {self.value!r}, type_={self.type!r})"


def bindparam(
    key: str | None,
    value: Any = _NO_VALUE,
    type_: Any = None,
    unique: bool = False,
    required: Any = _NO_VALUE,
    callable_: Callable[[], Any] | None = None,
    expanding: bool = False,
    literal_execute: bool = False,
) -> BindParameter:
    """A named bound parameter; without ``value`` it must be given at execution.

    Args:
        key: the name ``execute(stmt, {key: value})`` sets.
        value: a default value (may be None).
        type_: its SQL type (inferred from ``value`` when omitted).
        unique: rename on collision instead of sharing one parameter per key.
        required: force (or waive) "a value must be given at execution".
        callable_: computes the value at execution.
        expanding: the value is a list rendered as ``(?, ?, ...)`` (IN).
        literal_execute: render the value inline in the SQL.
    """
    return BindParameter(
        key, value, type_, unique, required, callable_, expanding, literal_execute
    )


def literal(value: Any, type_: Any = None) -> BindParameter:
    """A Python value rendered as a bound parameter."""
    return BindParameter(None, value, type_=type_, unique=True)


class ColumnClause(ColumnElement):
    """A named column, optionally attached to a table (``table.c.name``).

    ``is_literal`` columns render their name verbatim (``literal_column``).
    """

    __visit_name__ = "column"
    _is_column = True

    def __init__(
        self,
        text: str,
        type_: Any = None,
        is_literal: bool = False,
        _selectable: Any = None,
    ) -> None:
        self.name = text
        self.key = text
        self.type = sqltypes.to_instance(type_)
        self.is_literal = is_literal
        self.table = _selectable
        self._proxies: tuple[ColumnElement, ...] = ()

    def _ck(self, binds: list[BindParameter]) -> tuple[Any, ...]:
        if self.table is None:
            return ("col", self.name, self.is_literal, type_key(self.type))
        return ("col", self)

    @property
    def _from_objects(self) -> list[FromClause]:
        return [self.table] if self.table is not None else []

    def _make_proxy(self, selectable: Any, name: str | None = None) -> ColumnClause:
        """A column of ``selectable`` (an alias/subquery) standing for this one."""
        proxy = ColumnClause(name or self.name, self.type, _selectable=selectable)
        proxy.key = name or self.key or self.name
        proxy.primary_key = self.primary_key
        proxy._proxies = (self,)
        return proxy

    def shares_lineage(self, other: ColumnElement) -> bool:
        return bool(self.proxy_set & getattr(other, "proxy_set", {other}))

    @property
    def proxy_set(self) -> set[ColumnElement]:
        found: set[ColumnElement] = {self}
        for p in self._proxies:
            found |= getattr(p, "proxy_set", {p})
        return found

    def __repr__(self) -> str:
        owner = getattr(self.table, "name", None)
        return f"<column {owner + '.' if owner else ''}{self.name}>"


def column(text: str, type_: Any = None) -> ColumnClause:
    """A lightweight column not tied to a Table (``column("x")``)."""
    return ColumnClause(text, type_)


def literal_column(text: str, type_: Any = None) -> ColumnClause:
    """A column whose text is rendered verbatim (not quoted)."""
    return ColumnClause(text, type_, is_literal=True)


# the ``'%'`` of startswith/endswith/contains; a shared, immutable node
_PERCENT_LITERAL = ColumnClause("'%'", sqltypes.STRINGTYPE, is_literal=True)


def _is_precedent(operator: ops.Operator, against: ops.Operator | None) -> bool:
    """True when an expression using ``operator`` must be parenthesised inside
    one using ``against``: it binds no tighter, unless both are the same
    associative operator (``a + b + c`` needs no parentheses)."""
    if against is None:
        return False
    if operator is against and operator.associative:
        return False
    return operator.precedence <= against.precedence


class BinaryExpression(ColumnElement):
    """``left <op> right``.

    ``modifiers`` holds rendering options: ``escape`` (LIKE), ``symmetric``
    (BETWEEN).
    """

    __visit_name__ = "binary"

    def __init__(
        self,
        left: ColumnElement | ClauseElement,
        right: ColumnElement | ClauseElement,
        operator: ops.Operator,
        type_: Any = None,
        modifiers: dict[str, Any] | None = None,
    ) -> None:
        self.left = left.self_group(against=operator)
        self.right = right.self_group(against=operator)
        self.operator = operator
        self.type = sqltypes.to_instance(type_)
        self.modifiers = modifiers or {}

    def _ck(self, binds: list[BindParameter]) -> tuple[Any, ...]:
        return (
            "bin",
            self.operator.name,
            self.operator.sql if self.operator.name.startswith("custom:") else None,
            self.left._ck(binds),
            self.right._ck(binds),
            tuple(self.modifiers.items()) if self.modifiers else None,
        )

    @property
    def _from_objects(self) -> list[FromClause]:
        return self.left._from_objects + self.right._from_objects

    def get_children(self) -> Iterable[ClauseElement]:
        return (self.left, self.right)

    def self_group(self, against: ops.Operator | None = None) -> ClauseElement:
        if _is_precedent(self.operator, against):
            return Grouping(self)
        return self

    def __invert__(self) -> ColumnElement:
        negate = self.operator.negate
        if negate is not None:
            return BinaryExpression(self.left, self.right, negate, self.type, self.modifiers)
        return super().__invert__()

    def __bool__(self) -> bool:
        # ``col_a == col_b`` used as a Python bool compares identity (so
        # ``col in [cols]`` works), as SQLAlchemy does.
        if self.operator is ops.eq:
            return self.left is self.right
        if self.operator is ops.ne:
            return self.left is not self.right
        return super().__bool__()


class UnaryExpression(ColumnElement):
    """``<operator> element`` or ``element <modifier>`` (NOT x, x DESC)."""

    __visit_name__ = "unary"

    def __init__(
        self,
        element: ClauseElement,
        operator: ops.Operator | None = None,
        modifier: ops.Operator | None = None,
        type_: Any = None,
    ) -> None:
        against = operator or modifier
        self.element = element.self_group(against=against)
        self.operator = operator
        self.modifier = modifier
        self.type = sqltypes.to_instance(type_) if type_ is not None else getattr(
            element, "type", sqltypes.NULLTYPE
        )
        self.key = getattr(element, "key", None)

    def _ck(self, binds: list[BindParameter]) -> tuple[Any, ...]:
        return (
            "unary",
            self.operator.name if self.operator else None,
            self.modifier.name if self.modifier else None,
            self.element._ck(binds),
        )

    @property
    def _from_objects(self) -> list[FromClause]:
        return self.element._from_objects

    def get_children(self) -> Iterable[ClauseElement]:
        return (self.element,)

    def self_group(self, against: ops.Operator | None = None) -> ClauseElement:
        if self.operator is not None and against is not None and (
            self.operator.precedence < against.precedence
        ):
            return Grouping(self)
        if self.modifier is not None and against is not None and (
            against.precedence > ops.desc_op.precedence
        ):
            return Grouping(self)  # ``x DESC`` inside an operator
        return self

    def __invert__(self) -> ColumnElement:
        if self.operator is ops.inv:
            return self.element  # type: ignore[return-value]
        return super().__invert__()


class CollationClause(ColumnElement):
    """``expr COLLATE name``."""

    __visit_name__ = "collation"

    def __init__(self, element: ColumnElement, collation: str) -> None:
        self.element = element.self_group(against=ops.collate_op)
        self.collation = collation
        self.type = element.type
        self.key = element.key

    def _ck(self, binds: list[BindParameter]) -> tuple[Any, ...]:
        return ("collate", self.collation, self.element._ck(binds))

    @property
    def _from_objects(self) -> list[FromClause]:
        return self.element._from_objects


def collate(expression: Any, collation: str) -> ColumnElement:
    """``expression COLLATE collation``."""
    return CollationClause(coerce_expression(expression), collation)


class ClauseList(ColumnElement):
    """Comma-separated expressions (also the body of an IN list)."""

    __visit_name__ = "clauselist"
    operator = ops.comma_op

    def __init__(self, *clauses: Any) -> None:
        self.clauses = [coerce_expression(c) for c in clauses]

    def _ck(self, binds: list[BindParameter]) -> tuple[Any, ...]:
        return (self.__visit_name__, self.operator.name) + tuple(
            c._ck(binds) for c in self.clauses
        )

    @property
    def _from_objects(self) -> list[FromClause]:
        return [f for c in self.clauses for f in c._from_objects]

    def get_children(self) -> Iterable[ClauseElement]:
        return self.clauses


class BooleanClauseList(ClauseList):
    """Criteria joined by AND or OR; ``and_()`` / ``or_()`` build these."""

    __visit_name__ = "boolean_list"

    def __init__(self, operator: ops.Operator, clauses: Sequence[ClauseElement]) -> None:
        self.operator = operator
        self.type = sqltypes.BOOLEANTYPE
        self.clauses = [
            c.self_group(against=operator) for c in clauses  # type: ignore[misc]
        ]

    def self_group(self, against: ops.Operator | None = None) -> ClauseElement:
        if not self.clauses:
            return self
        if len(self.clauses) > 1 and against is not None and (
            against.precedence > self.operator.precedence
            or (against is not self.operator and against.precedence >= self.operator.precedence)
        ):
            return Grouping(self)
        return self


def _boolean(operator: ops.Operator, clauses: Sequence[Any]) -> ColumnElement:
    # true()/false() simplify as in SQLAlchemy: and_(true(), x) is x,
    # and_(false(), x) is false(); or_ the other way round.
    neutral, absorbing = (True_, False_) if operator is ops.and_ else (False_, True_)
    flat: list[ColumnElement] = []
    saw_neutral = False
    for c in clauses:
        el = coerce_where(c)
        if isinstance(el, BooleanClauseList) and (el.operator is operator or not el.clauses):
            flat.extend(el.clauses)
        elif isinstance(el, absorbing):
            return el
        elif isinstance(el, neutral):
            saw_neutral = True
        else:
            flat.append(el)
    if not flat and saw_neutral:
        return neutral()
    if len(flat) == 1:
        return flat[0]
    return BooleanClauseList(operator, flat)


def and_(*clauses: Any) -> ColumnElement:
    """Criteria joined by AND; ``and_()`` with none renders nothing."""
    return _boolean(ops.and_, clauses)


def or_(*clauses: Any) -> ColumnElement:
    """Criteria joined by OR; ``or_()`` with none renders nothing."""
    return _boolean(ops.or_, clauses)


def not_(clause: Any) -> ColumnElement:
    """``NOT clause``; comparisons are negated directly (``a != b``), ``NOT NOT x``
    is ``x`` and ``not_(true())`` is ``false()``."""
    el = coerce_where(clause)
    if isinstance(el, BinaryExpression) and el.operator.negate is not None:
        return ~el
    if isinstance(el, UnaryExpression) and el.operator is ops.inv:
        return el.element  # type: ignore[return-value]
    if isinstance(el, True_):
        return False_()
    if isinstance(el, False_):
        return True_()
    if isinstance(el, BooleanClauseList) and not el.clauses:
        return el
    return UnaryExpression(el, operator=ops.inv, type_=sqltypes.BOOLEANTYPE)


class Grouping(ColumnElement):
    """An expression in parentheses."""

    __visit_name__ = "grouping"

    def __init__(self, element: ClauseElement) -> None:
        self.element = element
        self.type = getattr(element, "type", sqltypes.NULLTYPE)
        self.key = getattr(element, "key", None)

    def _ck(self, binds: list[BindParameter]) -> tuple[Any, ...]:
        return ("group", self.element._ck(binds))

    @property
    def _from_objects(self) -> list[FromClause]:
        return self.element._from_objects

    def get_children(self) -> Iterable[ClauseElement]:
        return (self.element,)


class Label(ColumnElement):
    """``expr AS name``."""

    __visit_name__ = "label"

    def __init__(self, name: str | None, element: Any, type_: Any = None) -> None:
        self.element = coerce_expression(element)
        if name is None:
            name = f"anon_{next(_anon_counter)}"
            self._anonymous = True
        else:
            self._anonymous = False
        self.name = self.key = name
        self.type = sqltypes.to_instance(type_) if type_ is not None else self.element.type

    def _ck(self, binds: list[BindParameter]) -> tuple[Any, ...]:
        # an anonymous label's generated name is global, so it keys by identity
        return ("label", self if self._anonymous else self.name, self.element._ck(binds))

    @property
    def _from_objects(self) -> list[FromClause]:
        return self.element._from_objects

    def get_children(self) -> Iterable[ClauseElement]:
        return (self.element,)

    def self_group(self, against: ops.Operator | None = None) -> ClauseElement:
        # outside a columns clause a label renders its element, which may need
        # parentheses: ``(a + b).label("x") * 2``
        grouped = self.element.self_group(against=against)
        if grouped is self.element:
            return self
        new: Label = self._clone()
        new.element = grouped  # type: ignore[assignment]
        return new


_anon_counter = itertools.count(1)


class Cast(ColumnElement):
    """``CAST(expr AS type)``."""

    __visit_name__ = "cast"

    def __init__(self, expression: Any, type_: Any) -> None:
        self.type = sqltypes.to_instance(type_)
        clause = coerce_expression(expression)
        if isinstance(clause, BindParameter) and isinstance(clause.type, sqltypes.NullType):
            clause = clause._with_value(clause.value, self.type) if not clause.required else clause
        self.clause = clause
        self.key = getattr(self.clause, "key", None)

    def _ck(self, binds: list[BindParameter]) -> tuple[Any, ...]:
        return ("cast", type_key(self.type), self.clause._ck(binds))

    @property
    def _from_objects(self) -> list[FromClause]:
        return self.clause._from_objects


def cast(expression: Any, type_: Any) -> Cast:
    """``CAST(expression AS type_)``."""
    return Cast(expression, type_)


class TypeCoerce(ColumnElement):
    """An expression given a different Python-side type, rendered unchanged."""

    __visit_name__ = "type_coerce"

    def __init__(self, expression: Any, type_: Any) -> None:
        self.type = sqltypes.to_instance(type_)
        clause = coerce_expression(expression)
        if isinstance(clause, BindParameter):
            # the value is sent through ``type_``'s processors; copy, don't mutate
            clause = clause._clone()
            clause.type = self.type
        self.clause = clause
        self.key = getattr(self.clause, "key", None)

    def _ck(self, binds: list[BindParameter]) -> tuple[Any, ...]:
        return ("coerce", type_key(self.type), self.clause._ck(binds))

    @property
    def _from_objects(self) -> list[FromClause]:
        return self.clause._from_objects


def type_coerce(expression: Any, type_: Any) -> TypeCoerce:
    """Treat ``expression`` as ``type_`` in Python without a SQL CAST."""
    return TypeCoerce(expression, type_)


class Case(ColumnElement):
    """``CASE WHEN ... THEN ... [ELSE ...] END``."""

    __visit_name__ = "case"

    def __init__(self, *whens: Any, value: Any = None, else_: Any = None) -> None:
        if len(whens) == 1 and isinstance(whens[0], dict):
            pairs = list(whens[0].items())
        else:
            pairs = [tuple(w) for w in whens]
        if not pairs:
            raise exc.ArgumentError("case() needs at least one (condition, result) pair.")
        self.value = coerce_expression(value) if value is not None else None
        self.whens = [
            (
                _bind_for(self.value, ops.eq, c) if self.value is not None else coerce_where(c),
                coerce_expression(r),
            )
            for c, r in pairs
        ]
        self.else_ = coerce_expression(else_) if else_ is not None else None
        self.type = next(
            (r.type for _, r in self.whens if not isinstance(r.type, sqltypes.NullType)),
            sqltypes.NULLTYPE,
        )

    def _ck(self, binds: list[BindParameter]) -> tuple[Any, ...]:
        return (
            "case",
            self.value._ck(binds) if self.value is not None else None,
            tuple((c._ck(binds), r._ck(binds)) for c, r in self.whens),
            self.else_._ck(binds) if self.else_ is not None else None,
        )

    @property
    def _from_objects(self) -> list[FromClause]:
        out: list[FromClause] = list(self.value._from_objects) if self.value is not None else []
        for c, r in self.whens:
            out += c._from_objects + r._from_objects
        if self.else_ is not None:
            out += self.else_._from_objects
        return out


def case(*whens: Any, value: Any = None, else_: Any = None) -> Case:
    """``case((cond, result), ..., else_=x)`` or ``case({v: r}, value=col)``."""
    return Case(*whens, value=value, else_=else_)


class Tuple(ClauseList):
    """``(a, b, c)`` -- a row value, e.g. for composite-key IN."""

    __visit_name__ = "tuple"

    def in_(self, other: Any) -> ColumnElement:
        """``(a, b) IN ((1, 2), (3, 4))`` -- rows of plain values become one
        expanding parameter; a ``select()`` or expressions render as given."""
        return BinaryExpression(self, self._in_target(other), ops.in_op, sqltypes.BOOLEANTYPE)

    def not_in(self, other: Any) -> ColumnElement:
        return BinaryExpression(
            self, self._in_target(other), ops.not_in_op, sqltypes.BOOLEANTYPE
        )

    notin_ = not_in

    def _in_target(self, other: Any) -> ClauseElement:
        if isinstance(other, ClauseElement) or hasattr(other, "__clause_element__"):
            return _in_target(self, other)
        rows = [tuple(r) for r in other]
        width = len(self.clauses)
        for r in rows:
            if len(r) != width:
                raise exc.ArgumentError(
                    f"tuple_ IN: row {r!r} has {len(r)} values but the tuple has {width} "
                    "elements; give one value per element."
                )
        if any(isinstance(v, ClauseElement) or hasattr(v, "__clause_element__")
               for r in rows for v in r):
            return Grouping(ClauseList(*[
                Tuple(*[_bind_for(c, ops.in_op, v) for c, v in zip(self.clauses, r)])
                for r in rows
            ]))
        bind = BindParameter(None, rows, unique=True, expanding=True)
        # per-element types: the compiler renders and processes each position
        bind._tuple_types = tuple(
            c.type if not isinstance(c.type, sqltypes.NullType)
            else sqltypes.type_for_python_value(rows[0][i] if rows else None)
            for i, c in enumerate(self.clauses)
        )
        bind.key = "param"
        return bind

    def self_group(self, against: ops.Operator | None = None) -> ClauseElement:
        return self


def tuple_(*clauses: Any) -> Tuple:
    """A row value ``(a, b)``."""
    return Tuple(*clauses)


class Over(ColumnElement):
    """``fn OVER (PARTITION BY ... ORDER BY ...)``."""

    __visit_name__ = "over"

    def __init__(self, element: ColumnElement, partition_by: Any = None, order_by: Any = None):
        self.element = element
        self.type = element.type
        self.key = element.key
        self.partition_by = [coerce_expression(c) for c in _as_list(partition_by)]
        self.order_by = [coerce_expression(c) for c in _as_list(order_by)]

    def _ck(self, binds: list[BindParameter]) -> tuple[Any, ...]:
        return (
            "over",
            self.element._ck(binds),
            tuple(c._ck(binds) for c in self.partition_by),
            tuple(c._ck(binds) for c in self.order_by),
        )

    @property
    def _from_objects(self) -> list[FromClause]:
        out = list(self.element._from_objects)
        for c in (*self.partition_by, *self.order_by):
            out += c._from_objects
        return out


def over(element: ColumnElement, partition_by: Any = None, order_by: Any = None) -> Over:
    """A window function call."""
    return Over(element, partition_by, order_by)


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


class Null(ColumnElement):
    """SQL ``NULL``."""

    __visit_name__ = "null"

    def _ck(self, binds: list[BindParameter]) -> tuple[Any, ...]:
        return ("null",)


class True_(ColumnElement):
    """SQL ``true`` (``1`` where booleans are not native)."""

    __visit_name__ = "true"
    type = sqltypes.BOOLEANTYPE

    def _ck(self, binds: list[BindParameter]) -> tuple[Any, ...]:
        return ("true",)


class False_(ColumnElement):
    """SQL ``false`` (``0`` where booleans are not native)."""

    __visit_name__ = "false"
    type = sqltypes.BOOLEANTYPE

    def _ck(self, binds: list[BindParameter]) -> tuple[Any, ...]:
        return ("false",)


def null() -> Null:
    """SQL NULL; assigned to an ORM attribute it forces NULL over a default."""
    return Null()


def true() -> True_:
    return True_()


def false() -> False_:
    return False_()


def distinct(expr: Any) -> ColumnElement:
    """``DISTINCT expr``."""
    return coerce_expression(expr).distinct()


class LabelReference(ColumnElement):
    """A name given as a string to ``order_by()`` / ``group_by()`` / ``desc()``:
    it refers to a column or label of the enclosing SELECT's columns clause and
    renders as that (``order_by("user_id")`` -> ``ORDER BY address.user_id``)."""

    __visit_name__ = "label_reference"

    def __init__(self, name: str) -> None:
        self.name = self.key = name

    def _ck(self, binds: list[BindParameter]) -> tuple[Any, ...]:
        return ("labelref", self.name)

    def __repr__(self) -> str:
        return f"<label reference {self.name!r}>"


def order_by_expression(obj: Any) -> ColumnElement:
    """Coerce an ORDER BY / GROUP BY item; a string names a selected column."""
    if isinstance(obj, str):
        return LabelReference(obj)
    return coerce_expression(obj, role="ORDER BY expression")


def desc(column: Any) -> ColumnElement:
    """``column DESC``; a string names a column of the SELECT."""
    return order_by_expression(column).desc()


def asc(column: Any) -> ColumnElement:
    """``column ASC``; a string names a column of the SELECT."""
    return order_by_expression(column).asc()


def nulls_first(column: Any) -> ColumnElement:
    """``column NULLS FIRST``."""
    return order_by_expression(column).nulls_first()


def nulls_last(column: Any) -> ColumnElement:
    """``column NULLS LAST``."""
    return order_by_expression(column).nulls_last()


def between(expr: Any, lower: Any, upper: Any, symmetric: bool = False) -> ColumnElement:
    return coerce_expression(expr).between(lower, upper, symmetric)


# --- textual SQL -----------------------------------------------------------------

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
