"""SQL operators: what they render as and how tightly they bind.

An :class:`Operator` is an immutable singleton; expression nodes hold one and
the compiler renders ``op.sql``.  ``precedence`` decides parenthesisation:
a child expression is grouped when its operator binds less tightly than its
parent's (or equally, for non-associative operators).
"""

from __future__ import annotations


class Operator:
    """One SQL operator.

    Attributes:
        name: a stable identifier (also used in cache keys).
        sql: the rendered token, e.g. ``" = "`` (with surrounding spaces).
        precedence: higher binds tighter.
        associative: ``a op (b op c) == (a op b) op c``.
        comparison: the result is a boolean.
    """

    __slots__ = ("name", "sql", "precedence", "associative", "comparison", "negate_name")

    def __init__(
        self,
        name: str,
        sql: str,
        precedence: int,
        *,
        associative: bool = False,
        comparison: bool = False,
        negate: str | None = None,
    ) -> None:
        self.name = name
        self.sql = sql
        self.precedence = precedence
        self.associative = associative
        self.comparison = comparison
        self.negate_name = negate

    @property
    def negate(self) -> Operator | None:
        return BY_NAME.get(self.negate_name) if self.negate_name else None

    def __repr__(self) -> str:
        return f"<Operator {self.name}>"

    def __reduce__(self) -> str:
        return self.name


_P_UNARY = 15
_P_MUL = 8
_P_ADD = 7
_P_CONCAT = 6
_P_CMP = 5
_P_NOT = 4
_P_AND = 3
_P_OR = 2
_P_MODIFIER = 1  # DESC, ASC, NULLS FIRST: never inside another operator

getitem = Operator("getitem", "", _P_UNARY)
mul = Operator("mul", " * ", _P_MUL, associative=True)
truediv = Operator("truediv", " / ", _P_MUL)
mod = Operator("mod", " % ", _P_MUL)
add = Operator("add", " + ", _P_ADD, associative=True)
sub = Operator("sub", " - ", _P_ADD)
concat_op = Operator("concat_op", " || ", _P_CONCAT, associative=True)
eq = Operator("eq", " = ", _P_CMP, comparison=True, negate="ne")
ne = Operator("ne", " != ", _P_CMP, comparison=True, negate="eq")
lt = Operator("lt", " < ", _P_CMP, comparison=True, negate="ge")
le = Operator("le", " <= ", _P_CMP, comparison=True, negate="gt")
gt = Operator("gt", " > ", _P_CMP, comparison=True, negate="le")
ge = Operator("ge", " >= ", _P_CMP, comparison=True, negate="lt")
is_ = Operator("is_", " IS ", _P_CMP, comparison=True, negate="is_not")
is_not = Operator("is_not", " IS NOT ", _P_CMP, comparison=True, negate="is_")
is_distinct_from = Operator(
    "is_distinct_from", " IS DISTINCT FROM ", _P_CMP, comparison=True, negate="is_not_distinct_from"
)
is_not_distinct_from = Operator(
    "is_not_distinct_from", " IS NOT DISTINCT FROM ", _P_CMP, comparison=True,
    negate="is_distinct_from",
)
like_op = Operator("like_op", " LIKE ", _P_CMP, comparison=True, negate="not_like_op")
not_like_op = Operator("not_like_op", " NOT LIKE ", _P_CMP, comparison=True, negate="like_op")
ilike_op = Operator("ilike_op", " ILIKE ", _P_CMP, comparison=True, negate="not_ilike_op")
not_ilike_op = Operator("not_ilike_op", " NOT ILIKE ", _P_CMP, comparison=True, negate="ilike_op")
in_op = Operator("in_op", " IN ", _P_CMP, comparison=True, negate="not_in_op")
not_in_op = Operator("not_in_op", " NOT IN ", _P_CMP, comparison=True, negate="in_op")
between_op = Operator("between_op", " BETWEEN ", _P_CMP, comparison=True, negate="not_between_op")
not_between_op = Operator(
    "not_between_op", " NOT BETWEEN ", _P_CMP, comparison=True, negate="between_op"
)
and_ = Operator("and_", " AND ", _P_AND, associative=True)
or_ = Operator("or_", " OR ", _P_OR, associative=True)
inv = Operator("inv", "NOT ", _P_NOT)
neg = Operator("neg", "-", _P_UNARY)
exists = Operator("exists", "EXISTS ", _P_UNARY)
distinct_op = Operator("distinct_op", "DISTINCT ", _P_UNARY)
desc_op = Operator("desc_op", " DESC", _P_MODIFIER)
asc_op = Operator("asc_op", " ASC", _P_MODIFIER)
nulls_first_op = Operator("nulls_first_op", " NULLS FIRST", _P_MODIFIER)
nulls_last_op = Operator("nulls_last_op", " NULLS LAST", _P_MODIFIER)
collate_op = Operator("collate_op", " COLLATE ", _P_UNARY)
as_op = Operator("as_op", " AS ", 0)
comma_op = Operator("comma_op", ", ", -1)

BY_NAME: dict[str, Operator] = {
    v.name: v for v in list(globals().values()) if isinstance(v, Operator)
}


def is_comparison(op: Operator) -> bool:
    """True when ``op`` produces a boolean."""
    return op.comparison
