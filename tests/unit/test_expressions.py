"""Expression construction: operators, precedence, negation, coercion and the
SQL each renders with the generic dialect (``str(expr)``, named ``:params``)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from docket import exc
from docket.sql import (
    Column,
    ForeignKey,
    MetaData,
    Table,
    and_,
    between,
    bindparam,
    case,
    cast,
    collate,
    column,
    desc,
    distinct,
    exists,
    false,
    func,
    literal,
    literal_column,
    not_,
    null,
    or_,
    select,
    text,
    true,
    tuple_,
    type_coerce,
)
from docket.sql import types as T
from docket.sql.elements import BindParameter, Grouping, Label, type_key


def _tables() -> tuple[Table, Table]:
    md = MetaData()
    users = Table(
        "users", md,
        Column("id", T.Integer, primary_key=True),
        Column("name", T.String(50)),
        Column("order", T.Integer),
        Column("born", T.Date),
    )
    addresses = Table(
        "addresses", md,
        Column("id", T.Integer, primary_key=True),
        Column("user_id", None, ForeignKey("users.id")),
        Column("email", T.String(100)),
    )
    return users, addresses


users, addresses = _tables()
uid, uname, uorder = users.c.id, users.c.name, users.c.order


def s(expr: Any) -> str:
    return str(expr)


# --- arithmetic precedence -------------------------------------------------------


def test_subtraction_groups_a_right_hand_subtraction() -> None:
    """a - (b - c) keeps its parentheses; subtraction is not associative."""
    assert s(uid - (uorder - addresses.c.id)) == (
        'users.id - (users."order" - addresses.id)'
    )


def test_left_nested_subtraction_is_grouped_like_sqlalchemy() -> None:
    """(a - b) - c renders with parentheses around the inner operation."""
    assert s((uid - uorder) - 5) == '(users.id - users."order") - :param_1'


def test_associative_addition_is_not_grouped() -> None:
    """a + b + c needs no parentheses."""
    assert s(uid + uorder + 3) == 'users.id + users."order" + :param_1'


def test_multiplication_binds_tighter_than_addition() -> None:
    """(a + b) * c is grouped, a + b * c is not."""
    assert s((uid + uorder) * 2) == '(users.id + users."order") * :param_1'
    assert s(uid + uorder * 2) == 'users.id + users."order" * :order_1'


def test_division_of_a_product_is_grouped() -> None:
    """a / (b * c) keeps the product grouped."""
    assert s(uid / (uorder * 2)) == 'users.id / (users."order" * :order_1)'


def test_unary_minus_groups_a_sum() -> None:
    """-(a + b) is rendered with parentheses; -a is not."""
    assert s(-uid) == "-users.id"
    assert s(-(uid + uorder)) == '-(users.id + users."order")'


def test_reverse_operators_put_the_literal_on_the_left() -> None:
    """5 - col renders the bind first, named after the column."""
    assert s(5 - uid) == ":id_1 - users.id"
    assert s(10 / uid) == ":id_1 / users.id"


def test_string_plus_is_concatenation() -> None:
    """+ on a string column renders ||; a literal on the left too."""
    assert s(uname + "x") == "users.name || :name_1"
    assert s("x" + uname) == ":name_1 || users.name"


def test_modulo_renders_percent() -> None:
    """% renders as the SQL modulo operator."""
    assert s(uid % 5) == "users.id % :id_1"


def test_label_in_an_operation_keeps_its_grouping() -> None:
    """(a + b).label("x") * 2 renders the grouped sum, not the label."""
    assert s((uid + uorder).label("x") * 2) == '(users.id + users."order") * :param_1'


# --- boolean logic ----------------------------------------------------------------


def test_not_of_and_is_grouped() -> None:
    """not_(and_(a, b)) renders NOT (a AND b)."""
    assert s(not_(and_(uid == 1, uorder == 2))) == (
        'NOT (users.id = :id_1 AND users."order" = :order_1)'
    )


def test_invert_of_comparisons_negates_the_operator() -> None:
    """~(a == b) is a != b, and each comparison has its opposite."""
    assert s(~(uid == uorder)) == 'users.id != users."order"'
    assert s(~(uid > 5)) == "users.id <= :id_1"
    assert s(~(uid < 5)) == "users.id >= :id_1"
    assert s(~uid.is_(None)) == "users.id IS NOT NULL"
    assert s(~uid.in_([1, 2])) == "users.id NOT IN __[EXPAND_id_1]__"
    assert s(~uname.like("a%")) == "users.name NOT LIKE :name_1"
    assert s(~uid.between(1, 2)) == "users.id NOT BETWEEN :id_1 AND :id_2"


def test_double_negation_cancels() -> None:
    """NOT NOT x is x."""
    flag = column("flag", T.Boolean)
    assert s(not_(not_(flag))) == "flag"
    assert s(~~flag) == "flag"
    assert s(not_(flag)) == "NOT flag"


def test_and_inside_or_is_not_grouped_or_inside_and_is() -> None:
    """AND binds tighter than OR: only OR inside AND needs parentheses."""
    assert s(or_(and_(uid == 1, uorder == 2), uid == 3)) == (
        'users.id = :id_1 AND users."order" = :order_1 OR users.id = :id_2'
    )
    assert s(and_(or_(uid == 1, uorder == 2), uid == 3)) == (
        '(users.id = :id_1 OR users."order" = :order_1) AND users.id = :id_2'
    )


def test_nested_same_operators_flatten() -> None:
    """and_(a, and_(b, c)) renders as one flat AND list."""
    expr = and_(uid == 1, and_(uid == 2, uid == 3))
    assert s(expr) == "users.id = :id_1 AND users.id = :id_2 AND users.id = :id_3"


def test_python_operators_build_and_or() -> None:
    """& and | build AND / OR."""
    assert s((uid == 1) & (uorder == 2)) == 'users.id = :id_1 AND users."order" = :order_1'
    assert s((uid == 1) | (uorder == 2)) == 'users.id = :id_1 OR users."order" = :order_1'


def test_empty_and_renders_nothing_and_vanishes_in_where() -> None:
    """and_() is empty and drops out of a WHERE clause and of other lists."""
    assert s(and_()) == ""
    assert s(select(uid).where(and_())) == "SELECT users.id FROM users"
    assert s(or_(uid == 1, and_())) == "users.id = :id_1"


def test_true_and_false_simplify_like_sqlalchemy() -> None:
    """and_(true(), x) is x; and_(false(), x) is false; or_ the other way round."""
    assert s(and_(true(), uid == 1)) == "users.id = :id_1"
    assert s(and_(false(), uid == 1)) == "false"
    assert s(or_(true(), uid == 1)) == "true"
    assert s(or_(false(), uid == 1)) == "users.id = :id_1"
    assert s(not_(true())) == "false"


def test_expression_has_no_truth_value() -> None:
    """Using a comparison in an if statement is an error (except == identity)."""
    with pytest.raises(TypeError, match="Boolean value"):
        bool(uid > 1)
    assert bool(uid == uid) is True
    assert bool(uid == uorder) is False


def test_where_refuses_a_plain_string() -> None:
    """A bare string in where() asks for text()."""
    with pytest.raises(exc.ArgumentError, match=r"text\('id = 1'\)"):
        select(uid).where("id = 1")


# --- comparisons with NULL, IN, BETWEEN -----------------------------------------


def test_none_comparisons_become_is_null() -> None:
    """== None and != None render IS NULL / IS NOT NULL; is_ works too."""
    assert s(uid == None) == "users.id IS NULL"  # noqa: E711
    assert s(uid != None) == "users.id IS NOT NULL"  # noqa: E711
    assert s(uid.is_(None)) == "users.id IS NULL"
    assert s(uid.is_not(None)) == "users.id IS NOT NULL"
    assert s(uid == null()) == "users.id IS NULL"


def test_in_list_is_one_expanding_parameter() -> None:
    """in_([...]) renders one expanding bind holding the list."""
    expr = uid.in_([1, 2, 3])
    assert s(expr) == "users.id IN __[EXPAND_id_1]__"
    bind = expr.right
    assert isinstance(bind, BindParameter) and bind.expanding and bind.value == [1, 2, 3]


def test_in_empty_list_is_allowed() -> None:
    """in_([]) builds an expanding bind with no values (rendered per execution)."""
    expr = uid.in_([])
    assert isinstance(expr.right, BindParameter) and expr.right.value == []


def test_in_a_select_renders_a_subquery() -> None:
    """in_(select(...)) renders IN (SELECT ...); a .subquery() is unwrapped."""
    sel = select(addresses.c.user_id)
    assert s(uid.in_(sel)) == "users.id IN (SELECT addresses.user_id FROM addresses)"
    assert s(uid.in_(sel.subquery())) == "users.id IN (SELECT addresses.user_id FROM addresses)"


def test_in_with_expressions_renders_each() -> None:
    """in_() with column expressions renders them in a list."""
    assert s(uid.in_([uorder, 5])) == 'users.id IN (users."order", :id_1)'


def test_in_refuses_a_string() -> None:
    """in_("abc") is an error, not IN ('a', 'b', 'c')."""
    with pytest.raises(exc.ArgumentError, match="needs a list"):
        uid.in_("abc")


def test_tuple_in_rows_is_one_expanding_parameter() -> None:
    """tuple_(a, b).in_([(1, 2)]) keeps each position's type."""
    expr = tuple_(uid, uname).in_([(1, "a"), (2, "b")])
    assert s(expr) == "(users.id, users.name) IN __[EXPAND_param_1]__"
    bind = expr.right
    assert isinstance(bind, BindParameter)
    assert bind._tuple_types == (uid.type, uname.type)


def test_tuple_in_checks_row_width() -> None:
    """A row of the wrong width is refused with a clear message."""
    with pytest.raises(exc.ArgumentError, match="has 1 values but the tuple has 2"):
        tuple_(uid, uname).in_([(1,)])


def test_tuple_in_select() -> None:
    """tuple_(...).in_(select(...)) renders a row-value subquery comparison."""
    expr = tuple_(uid, uname).in_(select(addresses.c.user_id, addresses.c.email))
    assert s(expr) == (
        "(users.id, users.name) IN (SELECT addresses.user_id, addresses.email FROM addresses)"
    )


def test_between_and_symmetric() -> None:
    """between() renders BETWEEN ... AND ...; symmetric adds SYMMETRIC."""
    assert s(uid.between(1, 5)) == "users.id BETWEEN :id_1 AND :id_2"
    assert s(between(uid, 1, 5, symmetric=True)) == (
        "users.id BETWEEN SYMMETRIC :id_1 AND :id_2"
    )
    assert s(and_(uid.between(1, 2), uid > 0)) == (
        "users.id BETWEEN :id_1 AND :id_2 AND users.id > :id_3"
    )


def test_is_distinct_from() -> None:
    """is_distinct_from renders the standard operator."""
    assert s(uid.is_distinct_from(5)) == "users.id IS DISTINCT FROM :id_1"
    assert s(uid.is_not_distinct_from(5)) == "users.id IS NOT DISTINCT FROM :id_1"


# --- LIKE family ----------------------------------------------------------------------


def test_like_and_escape() -> None:
    """like() binds the pattern; escape= adds ESCAPE."""
    assert s(uname.like("a%")) == "users.name LIKE :name_1"
    assert s(uname.like("a/%", escape="/")) == "users.name LIKE :name_1 ESCAPE '/'"
    assert s(uname.not_like("a%")) == "users.name NOT LIKE :name_1"


def test_startswith_endswith_contains_concatenate_wildcards() -> None:
    """The wildcards are SQL literals around the bound value (SQLAlchemy's form)."""
    assert s(uname.startswith("x")) == "users.name LIKE :name_1 || '%'"
    assert s(uname.endswith("x")) == "users.name LIKE '%' || :name_1"
    assert s(uname.contains("x")) == "users.name LIKE '%' || :name_1 || '%'"


def test_autoescape_escapes_the_value() -> None:
    """autoescape=True escapes %, _ and the escape character in the value."""
    expr = uname.contains("5%_a/b", autoescape=True)
    assert s(expr) == "users.name LIKE '%' || :name_1 || '%' ESCAPE '/'"
    assert expr.compile().params == {"name_1": "5/%/_a//b"}


def test_autoescape_with_custom_escape_character() -> None:
    """escape= chooses the escape character used by autoescape."""
    expr = uname.startswith("a^b%", escape="^", autoescape=True)
    assert s(expr) == "users.name LIKE :name_1 || '%' ESCAPE '^'"
    assert expr.compile().params == {"name_1": "a^^b^%"}


def test_startswith_an_expression() -> None:
    """startswith(column) concatenates the column."""
    assert s(uname.startswith(addresses.c.email)) == (
        "users.name LIKE addresses.email || '%'"
    )


def test_ilike_without_native_support_uses_lower() -> None:
    """The generic dialect has no ILIKE: lower() on both sides."""
    assert s(uname.ilike("A%")) == "lower(users.name) LIKE lower(:name_1)"
    assert s(uname.not_ilike("A%")) == "lower(users.name) NOT LIKE lower(:name_1)"
    assert s(uname.icontains("a")) == "lower(users.name) LIKE lower('%' || :name_1 || '%')"


# --- labels, casts, CASE, functions ------------------------------------------------------


def test_label_renders_its_element_outside_a_columns_clause() -> None:
    """A label used in WHERE is its expression."""
    lbl = uid.label("x")
    assert s(select(uname).where(lbl > 1)) == (
        "SELECT users.name FROM users WHERE users.id > :param_1"
    )


def test_cast_and_type_coerce() -> None:
    """cast() renders CAST(... AS type); type_coerce() renders nothing."""
    assert s(cast(uid, T.String(20))) == "CAST(users.id AS VARCHAR(20))"
    assert s(cast("5", T.Integer)) == "CAST(:param_1 AS INTEGER)"
    assert s(type_coerce(uid, T.String)) == "users.id"


def test_cast_does_not_mutate_a_shared_bind() -> None:
    """cast() of an untyped bindparam leaves the original untouched."""
    b = bindparam("x", 5, type_=T.NullType())
    casted = cast(b, T.Integer)
    assert isinstance(b.type, T.NullType)
    assert casted.type._type_affinity is T.Integer


def test_case_searched_and_simple_forms() -> None:
    """case((cond, result), else_=) and case({value: result}, value=col)."""
    assert s(case((uid == 1, "one"), (uid == 2, "two"), else_="many")) == (
        "CASE WHEN users.id = :id_1 THEN :param_1 WHEN users.id = :id_2 THEN :param_2 "
        "ELSE :param_3 END"
    )
    assert s(case({1: "one", 2: "two"}, value=uid)) == (
        "CASE users.id WHEN :id_1 THEN :param_1 WHEN :id_2 THEN :param_2 END"
    )


def test_case_needs_a_when() -> None:
    """case() without any condition is an error."""
    with pytest.raises(exc.ArgumentError, match="at least one"):
        case()


def test_case_type_is_the_first_typed_result() -> None:
    """The CASE's type comes from its results."""
    assert isinstance(case((uid == 1, "x")).type, T.String)


def test_functions() -> None:
    """func.x renders x(...); count() is count(*); packages are dotted."""
    assert s(func.count()) == "count(*)"
    assert s(func.count(uid)) == "count(users.id)"
    assert s(func.count(distinct(uid))) == "count(DISTINCT users.id)"
    assert s(func.coalesce(uname, "x")) == "coalesce(users.name, :coalesce_1)"
    assert s(func.coalesce(uname, None)) == "coalesce(users.name, NULL)"
    assert s(func.my_pkg.my_fn(1)) == "my_pkg.my_fn(:my_fn_1)"
    assert s(func.now()) == "now()"


def test_ansi_functions_render_without_parentheses() -> None:
    """current_timestamp and friends are keywords, not quoted identifiers."""
    assert s(func.current_timestamp()) == "CURRENT_TIMESTAMP"
    assert s(func.current_date()) == "CURRENT_DATE"
    assert s(func.localtimestamp()) == "LOCALTIMESTAMP"


def test_function_names_are_quoted_only_when_illegal() -> None:
    """Reserved or mixed-case names render as given; odd characters are quoted."""
    assert s(func.left(uname, 2)) == "left(users.name, :left_1)"
    assert s(func.MyFunc()) == "MyFunc()"
    assert s(getattr(func, "weird name")()) == '"weird name"()'


def test_function_return_types() -> None:
    """Known functions have types; aggregates follow their argument; others are null."""
    assert isinstance(func.count().type, T.Integer)
    assert isinstance(func.now().type, T.DateTime)
    assert func.max(uname).type is uname.type
    assert isinstance(func.something(uid).type, T.NullType)
    assert isinstance(func.something(uid, type_=T.String).type, T.String)


def test_func_rejects_unknown_keywords() -> None:
    """func.x(foo=1) is a TypeError naming the bad keyword."""
    with pytest.raises(TypeError, match="foo"):
        func.lower(uname, foo=1)


def test_over_window() -> None:
    """fn.over(partition_by, order_by) renders OVER (...)."""
    assert s(func.row_number().over(partition_by=uname, order_by=desc(uid))) == (
        "row_number() OVER (PARTITION BY users.name ORDER BY users.id DESC)"
    )


def test_collate_and_modifiers() -> None:
    """collate(), desc(), nulls_last() chain."""
    assert s(collate(uname, "NOCASE")) == 'users.name COLLATE "NOCASE"'
    assert s(uname.desc().nulls_last()) == "users.name DESC NULLS LAST"
    assert s(uid.distinct()) == "DISTINCT users.id"


def test_custom_operator() -> None:
    """op() builds a binary operator; comparisons group inside AND."""
    expr = uname.op("~*")("^a")
    assert s(expr) == "users.name ~* :name_1"
    assert s(and_(expr, uid == 1)) == "(users.name ~* :name_1) AND users.id = :id_1"


def test_exists_is_grouped_inside_operators() -> None:
    """NOT (EXISTS (...)) and (EXISTS ...) OR (EXISTS ...), as SQLAlchemy renders."""
    e = exists().where(addresses.c.email == "a")
    assert s(~e) == (
        "NOT (EXISTS (SELECT * FROM addresses WHERE addresses.email = :email_1))"
    )
    assert s(or_(e, e)).startswith("(EXISTS (SELECT")


# --- bound parameters --------------------------------------------------------------------


def test_literal_comparison_binds_are_named_after_the_column() -> None:
    """users.id == 5 binds :id_1 with the column's type."""
    expr = uid == 5
    assert s(expr) == "users.id = :id_1"
    assert expr.right.type is uid.type


def test_value_of_another_type_keeps_its_own_type() -> None:
    """Comparing a Date column with a string keeps the string type."""
    expr = users.c.born == "2020-01-01"
    assert isinstance(expr.right.type, T.String)
    assert (users.c.born == dt.date(2020, 1, 1)).right.type is users.c.born.type


def test_bindparam_required_only_without_a_value() -> None:
    """bindparam("x") needs a value at execution; bindparam("x", None) does not."""
    assert bindparam("x").required is True
    assert bindparam("x", None).required is False
    assert literal(None).required is False
    assert bindparam("x", callable_=lambda: 1).required is False


def test_bindparam_type_inferred_from_value() -> None:
    """A bound value's type comes from the Python value; shared instances."""
    assert bindparam("x", 5).type is bindparam("y", 7).type
    assert isinstance(bindparam("x", "a").type, T.String)
    assert isinstance(bindparam("x").type, T.NullType)


def test_literal_column_and_text_in_expressions() -> None:
    """literal_column renders verbatim; text() params are :name."""
    assert s(literal_column("1") + uid) == "1 + users.id"
    assert s(select(uid).where(text("id > :lo"))) == (
        "SELECT users.id FROM users WHERE id > :lo"
    )


def test_text_escaped_colon_and_pg_casts() -> None:
    """\\: is a literal colon and :: is a PostgreSQL cast, not a parameter."""
    t = text(r"SELECT :a, '\:b', x::int, 'c:d'")
    assert s(t) == "SELECT :a, ':b', x::int, 'c:d'"
    assert set(t._bindparams) == {"a"}


def test_text_bindparams_sets_values_and_checks_names() -> None:
    """text().bindparams(x=1) gives a value; an unknown name is an error."""
    t = text("SELECT :x").bindparams(x=1)
    assert t.compile().params == {"x": 1}
    with pytest.raises(exc.ArgumentError, match="no bind parameter named 'y'"):
        text("SELECT :x").bindparams(y=1)


def test_type_key_is_structural() -> None:
    """Two String(30) instances share a key; String(30) and String(40) don't."""
    assert type_key(T.String(30)) == type_key(T.String(30))
    assert type_key(T.String(30)) != type_key(T.String(40))
    assert type_key(T.Integer()) != type_key(T.BigInteger())


def test_grouping_and_label_objects() -> None:
    """Label keeps name and type; anonymous labels get generated names."""
    lbl = uid.label("x")
    assert isinstance(lbl, Label) and lbl.name == "x" and lbl.type is uid.type
    anon = uid.label(None)
    assert anon.name.startswith("anon_")
    assert isinstance((uid + 1).self_group(against=None), type(uid + 1))
    assert isinstance(Grouping(uid).element, type(uid))


def test_untyped_bindparam_takes_the_compared_columns_type() -> None:
    """col == bindparam("x") gives the bind the column's type, leaving the original untyped."""
    b = bindparam("x")
    expr = users.c.born == b
    assert expr.right.type is users.c.born.type
    assert isinstance(b.type, T.NullType)
    ids = bindparam("ids", expanding=True)
    assert uid.in_(ids).right.type is uid.type
    assert (uid == bindparam("y", type_=T.String)).right.type._type_affinity is T.String


def test_elements_split_keeps_every_name_importable_from_elements() -> None:
    """Names moved to sql.expressions / sql.text_clause are the same objects via sql.elements."""
    from docket.sql import elements, expressions, text_clause

    for module in (expressions, text_clause):
        for name in module.__all__:
            assert getattr(elements, name) is getattr(module, name), name
    for name in elements.__all__:
        assert hasattr(elements, name), name
    # not in __all__ but imported from elements by other modules before the split
    for name in ("LabelReference", "TypeCoerce", "CollationClause", "order_by_expression",
                 "coerce_expression", "coerce_where", "type_key", "_bind_for", "_BIND_RE"):
        assert hasattr(elements, name), name
    assert elements.Label.__module__ == "docket.sql.expressions"
    assert elements.TextClause.__module__ == "docket.sql.text_clause"


def test_operators_build_nodes_defined_in_the_expressions_module() -> None:
    """ColumnElement's operators (in elements) build the late-bound node classes."""
    from docket.sql import expressions

    users, _ = _tables()
    assert type(users.c.id == 5) is expressions.BinaryExpression
    assert type(users.c.id.desc()) is expressions.UnaryExpression
    assert type((users.c.id == 1) & (users.c.name == "x")) is expressions.BooleanClauseList
    assert type(users.c.id.label("x")) is expressions.Label
    assert type(users.c.name.collate("C")) is expressions.CollationClause


def test_selectable_split_keeps_from_clause_names_importable() -> None:
    """Tables, aliases and joins moved to sql.from_clauses stay in sql.selectable."""
    from docket.sql import from_clauses, selectable

    for name in from_clauses.__all__:
        assert getattr(selectable, name) is getattr(from_clauses, name), name
    users, addresses = _tables()
    assert type(users.select()) is selectable.Select  # FROM side builds SELECT late-bound
    cte = select(users.c.id).cte("c", recursive=True)
    assert type(cte.union_all(select(users.c.id)).element) is selectable.CompoundSelect
    with pytest.raises(exc.ArgumentError, match="subquery first"):
        select(users.c.id).select_from(select(users.c.id))

