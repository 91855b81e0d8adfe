"""Expression nodes, part 1: the bases, bound parameters, columns, coercion.

This module owns :class:`ClauseElement`, :class:`ColumnElement` with its
Python-operator methods, :class:`BindParameter`, :class:`ColumnClause` and the
helpers that turn Python values into nodes.  The composite nodes the
operators build (``BinaryExpression``, ``Label``, ``and_()`` ...) live in
:mod:`docket.sql.expressions`, textual SQL in :mod:`docket.sql.text_clause`; every
name is re-exported here, so ``from docket.sql.elements import X`` and
``elements.X`` keep working for all of them.

Every node is immutable once built (generative methods return copies), which
is what makes the compiled-statement cache sound.  Each node answers
``_ck(binds)``: a hashable *shape* key in which literal values are replaced by
their position in ``binds``; two statements with equal keys compile to the
same SQL and differ only in the values of their bound parameters.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from docket import exc
from docket.sql import operators as ops
from docket.sql import types as sqltypes
from docket.sql.base import Executable  # noqa: F401  (importable from here, as before)

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


# --- the composite nodes, bound late ----------------------------------------------
# ColumnElement's operators build BinaryExpression, Label, and_() ... and those
# classes subclass ColumnElement, so the two modules depend on each other.  The
# cycle is closed here, once, at the end of this module: by now every name that
# expressions.py and text_clause.py import from here exists, and the method bodies
# above look these names up in this module's globals only when called.  That
# keeps the operator methods beside ColumnElement (where readers look for
# them) with no function-level imports, and the same import is the re-export
# that keeps ``from docket.sql.elements import Label`` working.  Invariant:
# this module is imported before expressions.py and text_clause.py (importing the
# ``docket.sql`` package does so); a module that imported either of them
# first would fail loudly at ``import docket``, never subtly.
# (names this module does not use itself, e.g. ``TypeCoerce``, ``_BIND_RE``,
# are here only so that existing imports of them from this module keep working)
from docket.sql.expressions import (  # noqa: E402, F401
    BinaryExpression,
    BooleanClauseList,
    Case,
    Cast,
    ClauseList,
    CollationClause,
    False_,
    Grouping,
    Label,
    LabelReference,
    Null,
    Over,
    True_,
    Tuple,
    TypeCoerce,
    UnaryExpression,
    _anon_counter,
    _as_list,
    _boolean,
    _is_precedent,
    and_,
    asc,
    between,
    case,
    cast,
    collate,
    desc,
    distinct,
    false,
    not_,
    null,
    nulls_first,
    nulls_last,
    or_,
    order_by_expression,
    over,
    true,
    tuple_,
    type_coerce,
)
from docket.sql.text_clause import _BIND_RE, TextClause, text  # noqa: E402, F401
