"""Expression nodes, part 2: the composite expressions and their builders.

``BinaryExpression`` / ``UnaryExpression`` (what ``col == 5`` or ``col.desc()``
build), ``ClauseList`` / ``BooleanClauseList`` (``and_()``, ``or_()``),
``Grouping``, ``Label``, ``Cast``, ``TypeCoerce``, ``Case``, ``Tuple``,
``Over``, the constants ``Null`` / ``True_`` / ``False_``, and the public
functions that build them.  The bases and coercion helpers they rely on are in
:mod:`docket.sql.elements`, which also re-exports every name defined here.

Invariant: as for every node, instances are never mutated after they are
shared; methods that change something return a copy.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from docket import exc
from docket.sql import operators as ops
from docket.sql import types as sqltypes
from docket.sql.elements import (
    BindParameter,
    ClauseElement,
    ColumnElement,
    _bind_for,
    _in_target,
    coerce_expression,
    coerce_where,
    type_key,
)

if TYPE_CHECKING:
    from docket.sql.selectable import FromClause

__all__ = [
    "BinaryExpression",
    "BooleanClauseList",
    "Case",
    "Cast",
    "ClauseList",
    "CollationClause",
    "False_",
    "Grouping",
    "Label",
    "LabelReference",
    "Null",
    "Over",
    "True_",
    "Tuple",
    "TypeCoerce",
    "UnaryExpression",
    "and_",
    "asc",
    "between",
    "case",
    "cast",
    "collate",
    "desc",
    "distinct",
    "false",
    "not_",
    "null",
    "nulls_first",
    "nulls_last",
    "or_",
    "order_by_expression",
    "over",
    "true",
    "tuple_",
    "type_coerce",
]


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
