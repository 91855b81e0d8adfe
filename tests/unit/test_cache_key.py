"""Statement cache keys: equal shapes share a key (and compile to the same SQL),
literal values never enter the key, anything that changes the SQL does, and
a Compiled cached for one statement serves an equal-shaped one with that
statement's own values."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from docket.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite
from docket.sql import (
    Column,
    ForeignKey,
    MetaData,
    Table,
    bindparam,
    case,
    cast,
    delete,
    func,
    insert,
    literal,
    select,
    text,
    tuple_,
    union,
    update,
)
from docket.sql import types as T
from docket.sql.compiler import Compiled

SQLITE = SQLiteDialect_pysqlite()

md = MetaData()
users = Table(
    "users", md,
    Column("id", T.Integer, primary_key=True),
    Column("name", T.String(50)),
    Column("age", T.Integer),
)
addresses = Table(
    "addresses", md,
    Column("id", T.Integer, primary_key=True),
    Column("user_id", None, ForeignKey("users.id")),
    Column("email", T.String(100)),
)


def key(stmt: Any) -> Any:
    return stmt._generate_cache_key()[0]


def values_via_cache(first: Any, second: Any, params: dict[str, Any] | None = None) -> dict:
    """Compile ``first``, then produce ``second``'s values from that Compiled."""
    compiled = Compiled(SQLITE, first)
    k2, binds2 = second._generate_cache_key()
    assert k2 == compiled._cache_key
    return compiled.construct_params(params, binds2)


# Builders taking one "literal" argument: two different values must give equal keys.
SAME_SHAPE: list[tuple[str, Callable[[Any], Any]]] = [
    ("where literal", lambda v: select(users.c.id).where(users.c.age > v)),
    ("in list", lambda v: select(users.c.id).where(users.c.id.in_([v, v + 1]))),
    ("limit/offset", lambda v: select(users.c.id).limit(v).offset(v)),
    ("function arg", lambda v: select(func.coalesce(users.c.age, v))),
    ("count()", lambda v: select(func.count()).where(users.c.age == v)),
    ("cast to a new type instance", lambda v: select(cast(users.c.age, T.String(20)) == str(v))),
    ("case", lambda v: select(case((users.c.age > v, "old"), else_="young"))),
    ("between", lambda v: select(users.c.id).where(users.c.age.between(v, v + 10))),
    ("like", lambda v: select(users.c.id).where(users.c.name.contains(str(v)))),
    ("tuple in", lambda v: select(users.c.id).where(tuple_(users.c.id, users.c.age).in_([(v, v)]))),
    ("literal", lambda v: select(literal(v) + users.c.age)),
    ("text bindparams", lambda v: text("SELECT :x").bindparams(x=v)),
    ("insert values", lambda v: insert(users).values(name=str(v), age=v)),
    ("update values", lambda v: update(users).where(users.c.id == v).values(age=v)),
    ("delete", lambda v: delete(users).where(users.c.id == v)),
    ("union", lambda v: union(select(users.c.id).where(users.c.age == v),
                              select(addresses.c.id).where(addresses.c.id == v))),
    ("scalar subquery", lambda v: select(users.c.id).where(
        users.c.age > select(func.max(users.c.age)).where(users.c.id < v).scalar_subquery())),
    ("join", lambda v: select(users.c.name).join(addresses).where(addresses.c.id == v)),
    ("cte", lambda v: select(users.c.id).where(users.c.id.in_(
        select(addresses.c.user_id).where(addresses.c.id == v).cte("c").select()))),
]


@pytest.mark.parametrize(("name", "build"), SAME_SHAPE, ids=[n for n, _ in SAME_SHAPE])
def test_different_literal_values_share_a_key_and_sql(name: str, build: Any) -> None:
    """Two statements differing only in literal values have equal keys and SQL."""
    a, b = build(3), build(40)
    assert key(a) == key(b)
    assert hash(key(a)) == hash(key(b))
    assert Compiled(SQLITE, a).string == Compiled(SQLITE, b).string


@pytest.mark.parametrize(("name", "build"), SAME_SHAPE, ids=[n for n, _ in SAME_SHAPE])
def test_cached_compiled_yields_the_new_statements_values(name: str, build: Any) -> None:
    """construct_params(extracted=...) gives the second statement's own values."""
    a, b = build(3), build(40)
    compiled_b = Compiled(SQLITE, b)
    assert values_via_cache(a, b) == compiled_b.construct_params()


# Pairs of statements that must NOT share a key.
DIFFERENT: list[tuple[str, Any, Any]] = [
    ("column", select(users.c.id), select(users.c.name)),
    ("table", select(users.c.id), select(addresses.c.id)),
    ("operator", users.c.age > 1, users.c.age < 1),
    ("and vs or", select(users.c.id).where((users.c.age > 1) & (users.c.id > 1)),
     select(users.c.id).where((users.c.age > 1) | (users.c.id > 1))),
    ("literal type", users.c.name == "5", users.c.name == 5),
    ("order direction", select(users.c.id).order_by(users.c.id),
     select(users.c.id).order_by(users.c.id.desc())),
    ("limit presence", select(users.c.id).limit(1), select(users.c.id)),
    ("distinct", select(users.c.id).distinct(), select(users.c.id)),
    ("for update", select(users.c.id).with_for_update(), select(users.c.id)),
    ("for update nowait", select(users.c.id).with_for_update(nowait=True),
     select(users.c.id).with_for_update()),
    ("label name", select(users.c.id.label("a")), select(users.c.id.label("b"))),
    ("bindparam key", users.c.id == bindparam("a"), users.c.id == bindparam("b")),
    ("function name", func.max(users.c.age), func.min(users.c.age)),
    ("cast type", cast(users.c.age, T.String(10)), cast(users.c.age, T.String(20))),
    ("text", text("SELECT 1"), text("SELECT 2")),
    ("text columns", text("SELECT 1 AS a").columns(a=T.Integer),
     text("SELECT 1 AS a").columns(a=T.String)),
    ("outer join", select(users.c.id).join(addresses),
     select(users.c.id).outerjoin(addresses)),
    ("insert columns", insert(users).values(name="x"), insert(users).values(age=1)),
    ("multi-row count", insert(users).values([{"age": 1}]),
     insert(users).values([{"age": 1}, {"age": 2}])),
    ("update where", update(users).values(age=1).where(users.c.id == 1),
     update(users).values(age=1)),
    ("returning", delete(users).returning(users.c.id), delete(users)),
    ("literal_execute value", users.c.id == bindparam("x", 1, literal_execute=True),
     users.c.id == bindparam("x", 2, literal_execute=True)),
    ("custom operator", users.c.name.op("~")("a"), users.c.name.op("~*")("a")),
    ("tuple vs list", tuple_(users.c.id, users.c.age).in_([(1, 2)]),
     users.c.id.in_([1, 2])),
    ("union vs union all", union(select(users.c.id), select(users.c.id)),
     select(users.c.id).union_all(select(users.c.id))),
    ("correlate", select(users.c.id).correlate(addresses), select(users.c.id)),
]


@pytest.mark.parametrize(("name", "a", "b"), DIFFERENT, ids=[n for n, _, _ in DIFFERENT])
def test_different_shapes_have_different_keys(name: str, a: Any, b: Any) -> None:
    """Statements whose SQL differs never share a key."""
    assert key(a) != key(b)


def test_same_statement_built_twice_gives_equal_keys() -> None:
    """Rebuilding an identical statement gives an equal key (cache hit)."""
    def build() -> Any:
        return (
            select(users.c.name, func.count(addresses.c.id).label("n"))
            .join(addresses).where(users.c.age > 18).group_by(users.c.name)
            .order_by(users.c.name).limit(10)
        )
    assert key(build()) == key(build())


def test_anonymous_aliases_are_distinct_objects_in_keys() -> None:
    """Two anonymous aliases are different FROM objects: keys differ."""
    assert key(select(users.alias().c.id)) != key(select(users.alias().c.id))
    a = users.alias()
    assert key(select(a.c.id).where(a.c.id == 1)) == key(select(a.c.id).where(a.c.id == 2))


def test_binds_listed_in_traversal_order() -> None:
    """The key's bind list follows the statement's structure."""
    stmt = select(users.c.id).where(users.c.age > 1, users.c.name == "x").limit(5)
    _, binds = stmt._generate_cache_key()
    assert [b.value for b in binds] == [1, "x", 5]


def test_key_bind_names_map_to_compiled_names() -> None:
    """_key_bind_names gives, per key bind, the name it compiled to."""
    compiled = Compiled(SQLITE, select(users.c.id).where(users.c.age > 1).limit(5))
    assert compiled._key_bind_names == ["age_1", "param_1"]


def test_parameters_override_values_from_the_cached_statement() -> None:
    """Execution parameters still win over values extracted from the statement."""
    a = select(users.c.id).where(users.c.id == bindparam("x", 1))
    b = select(users.c.id).where(users.c.id == bindparam("x", 2))
    assert values_via_cache(a, b) == {"x": 2}
    assert values_via_cache(a, b, {"x": 9}) == {"x": 9}


def test_result_objects_for_an_equal_shaped_statement() -> None:
    """A cached Compiled maps result columns to the new statement's objects."""
    a = select(users.c.name.label("n"))
    b = select(users.c.name.label("n"))
    compiled = Compiled(SQLITE, a)
    assert key(a) == key(b)
    objs = compiled.result_objects_for(b)
    assert objs[0] is b.selected_columns[0]
    assert compiled.result_objects_for(a) == compiled.result_column_objects
