"""Compiled SQL runs on the real databases: each statement form is executed on
SQLite (memory and file) and PostgreSQL and its rows checked, proving the SQL
is valid there and means what the expression says."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from docket import exc
from docket.dialects.postgresql import insert as pg_insert
from docket.dialects.sqlite import insert as sqlite_insert
from docket.sql import (
    Column,
    ForeignKey,
    MetaData,
    Table,
    and_,
    bindparam,
    case,
    cast,
    delete,
    desc,
    exists,
    func,
    insert,
    literal,
    not_,
    or_,
    select,
    text,
    tuple_,
    union,
    union_all,
    update,
)
from docket.sql import types as T

USERS = [
    (1, "alice", 30, "a%b"),
    (2, "bob", 25, "b_c"),
    (3, "carol", 35, None),
    (4, "Dave", 40, "d/e"),
]
ADDRESSES = [
    (1, 1, "alice@x.org"),
    (2, 1, "alice@y.org"),
    (3, 2, "bob@x.org"),
    (4, 4, "dave@z.org"),
]


def _schema(md: MetaData) -> tuple[Table, Table]:
    users = Table(
        "users", md,
        Column("id", T.Integer, primary_key=True),
        Column("name", T.String(50), nullable=False),
        Column("age", T.Integer),
        Column("note", T.String(20)),
    )
    addresses = Table(
        "addresses", md,
        Column("id", T.Integer, primary_key=True),
        Column("user_id", None, ForeignKey("users.id")),
        Column("email", T.String(100)),
    )
    return users, addresses


@pytest.fixture
def db(engine: Any, metadata: MetaData) -> Any:
    """Tables users/addresses with rows; yields (engine, users, addresses)."""
    users, addresses = _schema(metadata)
    metadata.create_all(engine)
    with engine.begin() as conn:
        # ids come from autoincrement (1, 2, ... in order), so later inserts get fresh ones
        for r in USERS:
            result = conn.execute(insert(users).values(name=r[1], age=r[2], note=r[3]))
            assert result.inserted_primary_key[0] == r[0]
        conn.execute(insert(addresses), [{"user_id": r[1], "email": r[2]} for r in ADDRESSES])
    return engine, users, addresses


def rows(engine: Any, stmt: Any, params: Any = None) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(stmt, params).all()]


# --- WHERE operators ------------------------------------------------------------------


def test_comparisons_and_boolean_logic(db: Any) -> None:
    """AND/OR/NOT grouping selects the rows the expression describes."""
    engine, users, _ = db
    u = users.c
    stmt = select(u.id).where(or_(and_(u.age > 26, u.age < 36), u.name == "bob")).order_by(u.id)
    assert rows(engine, stmt) == [(1,), (2,), (3,)]
    stmt = select(u.id).where(not_(and_(u.age > 26, u.age < 36))).order_by(u.id)
    assert rows(engine, stmt) == [(2,), (4,)]
    stmt = select(u.id).where(~(u.id == 1), u.note.is_not(None)).order_by(u.id)
    assert rows(engine, stmt) == [(2,), (4,)]
    assert rows(engine, select(u.id).where(u.note == None)) == [(3,)]  # noqa: E711


def test_arithmetic_precedence(db: Any) -> None:
    """a - (b - c) and (a - b) - c compute different, correct values."""
    engine, users, _ = db
    u = users.c
    stmt = select(u.age - (u.id - 10), (u.age - u.id) - 10, u.age + u.id * 2).where(u.id == 2)
    assert rows(engine, stmt) == [(33, 13, 29)]
    assert rows(engine, select(u.age % 7).where(u.id == 1)) == [(2,)]


def test_in_forms(db: Any) -> None:
    """IN with a list, an empty list, NOT IN empty, a subquery and row values."""
    engine, users, addresses = db
    u = users.c
    assert rows(engine, select(u.id).where(u.id.in_([2, 4, 9])).order_by(u.id)) == [(2,), (4,)]
    assert rows(engine, select(u.id).where(u.id.in_([]))) == []
    assert len(rows(engine, select(u.id).where(u.id.not_in([])))) == 4
    assert rows(engine, select(u.name).where(u.name.in_([]))) == []
    sub = select(addresses.c.user_id).where(addresses.c.email.like("%x.org"))
    assert rows(engine, select(u.id).where(u.id.in_(sub)).order_by(u.id)) == [(1,), (2,)]
    pairs = tuple_(u.id, u.name).in_([(1, "alice"), (2, "nobody"), (4, "Dave")])
    assert rows(engine, select(u.id).where(pairs).order_by(u.id)) == [(1,), (4,)]
    assert rows(engine, select(u.id).where(tuple_(u.id, u.name).in_([]))) == []


def test_in_list_values_go_through_type_processors(engine: Any, metadata: MetaData) -> None:
    """Dates in an IN list (and in tuple IN rows) are converted like any bind."""
    t = Table("events", metadata, Column("id", T.Integer, primary_key=True),
              Column("day", T.Date))
    metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(insert(t), [{"id": 1, "day": dt.date(2024, 1, 1)},
                                 {"id": 2, "day": dt.date(2024, 2, 1)}])
    assert rows(engine, select(t.c.id).where(t.c.day.in_([dt.date(2024, 2, 1)]))) == [(2,)]
    stmt = select(t.c.id).where(tuple_(t.c.id, t.c.day).in_([(1, dt.date(2024, 1, 1))]))
    assert rows(engine, stmt) == [(1,)]


def test_between_and_like_family(db: Any) -> None:
    """BETWEEN, LIKE, startswith/endswith/contains with and without autoescape."""
    engine, users, _ = db
    u = users.c
    assert rows(engine, select(u.id).where(u.age.between(25, 30)).order_by(u.id)) == [(1,), (2,)]
    assert rows(engine, select(u.id).where(u.name.startswith("ca"))) == [(3,)]
    assert rows(engine, select(u.id).where(u.name.endswith("ob"))) == [(2,)]
    assert rows(engine, select(u.id).where(u.name.contains("li"))) == [(1,)]
    # without escaping, % and _ are wildcards; with autoescape they are literal
    assert len(rows(engine, select(u.id).where(u.note.contains("%")))) == 3
    assert rows(engine, select(u.id).where(u.note.contains("%", autoescape=True))) == [(1,)]
    assert rows(engine, select(u.id).where(u.note.contains("_", autoescape=True))) == [(2,)]
    assert rows(engine, select(u.id).where(u.note.contains("/", autoescape=True))) == [(4,)]
    assert rows(engine, select(u.id).where(u.note.startswith("a%", autoescape=True))) == [(1,)]
    assert rows(engine, select(u.id).where(u.name.ilike("dave"))) == [(4,)]
    assert rows(engine, select(u.id).where(u.name.icontains("AV"))) == [(4,)]


def test_text_with_named_parameters_and_percent(db: Any) -> None:
    """text() binds :name, keeps \\: and a literal % (doubled for %s drivers)."""
    engine, _, _ = db
    stmt = text(r"SELECT name, '50%', 'a\:b' FROM users WHERE id = :id")
    assert rows(engine, stmt, {"id": 2}) == [("bob", "50%", "a:b")]
    assert rows(engine, text("SELECT name FROM users WHERE note LIKE 'a%' AND id = :i"),
                {"i": 1}) == [("alice",)]


# --- SELECT structure ------------------------------------------------------------------


def test_labels_order_by_group_by_having(db: Any) -> None:
    """GROUP BY / ORDER BY a label name, HAVING on an aggregate."""
    engine, users, addresses = db
    n = func.count(addresses.c.id).label("n")
    stmt = (
        select(users.c.name, n).join(addresses).group_by(users.c.name)
        .having(func.count(addresses.c.id) >= 1).order_by(desc(n), users.c.name)
    )
    assert rows(engine, stmt) == [("alice", 2), ("Dave", 1), ("bob", 1)]
    stmt = select(addresses.c.user_id, n).group_by("user_id").order_by("user_id")
    assert rows(engine, stmt) == [(1, 2), (2, 1), (4, 1)]


def test_anonymous_labels_and_functions(db: Any) -> None:
    """count(*), coalesce, lower, CASE and CAST are valid in the columns clause."""
    engine, users, _ = db
    u = users.c
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(users)).scalar() == 4
        result = conn.execute(
            select(func.coalesce(u.note, "none"), func.lower(u.name),
                   case((u.age > 30, "old"), else_="young"), cast(u.age, T.String(10)))
            .where(u.id == 3)
        )
        assert [tuple(r) for r in result] == [("none", "carol", "old", "35")]


def test_distinct_limit_offset(db: Any) -> None:
    """DISTINCT, LIMIT, OFFSET alone (LIMIT -1 on SQLite) and both."""
    engine, users, addresses = db
    stmt = select(addresses.c.user_id).distinct().order_by(addresses.c.user_id)
    assert rows(engine, stmt) == [(1,), (2,), (4,)]
    base = select(users.c.id).order_by(users.c.id)
    assert rows(engine, base.limit(2)) == [(1,), (2,)]
    assert rows(engine, base.offset(3)) == [(4,)]
    assert rows(engine, base.limit(1).offset(2)) == [(3,)]


def test_joins(db: Any) -> None:
    """Inferred inner and outer joins, join_from, and a self-join via alias."""
    engine, users, addresses = db
    stmt = select(users.c.name, addresses.c.email).join(addresses).order_by(addresses.c.id)
    assert rows(engine, stmt)[0] == ("alice", "alice@x.org") and len(rows(engine, stmt)) == 4
    stmt = select(users.c.name, addresses.c.id).outerjoin(addresses).where(
        addresses.c.id.is_(None))
    assert rows(engine, stmt) == [("carol", None)]
    stmt = select(addresses.c.email).join_from(users, addresses).where(users.c.name == "bob")
    assert rows(engine, stmt) == [("bob@x.org",)]
    older = users.alias("older")
    stmt = (
        select(users.c.name, older.c.name)
        .join(older, older.c.age == users.c.age + 5).order_by(users.c.id)
    )
    assert rows(engine, stmt) == [("alice", "carol"), ("bob", "alice"), ("carol", "Dave")]


def test_subquery_cte_and_scalar_subquery(db: Any) -> None:
    """A grouped subquery joined by inferred FK, a CTE, a correlated scalar subquery."""
    engine, users, addresses = db
    counts = (
        select(addresses.c.user_id, func.count(addresses.c.id).label("n"))
        .group_by(addresses.c.user_id).subquery()
    )
    stmt = select(users.c.name, counts.c.n).join_from(users, counts).order_by(users.c.id)
    assert rows(engine, stmt) == [("alice", 2), ("bob", 1), ("Dave", 1)]
    c = select(addresses.c.user_id).where(addresses.c.email.like("%x.org")).cte("xorg")
    stmt = select(users.c.name).where(users.c.id.in_(select(c.c.user_id))).order_by(users.c.id)
    assert rows(engine, stmt) == [("alice",), ("bob",)]
    n = (
        select(func.count(addresses.c.id)).where(addresses.c.user_id == users.c.id)
        .scalar_subquery()
    )
    stmt = select(users.c.name, n.label("n")).order_by(users.c.id)
    assert rows(engine, stmt) == [("alice", 2), ("bob", 1), ("carol", 0), ("Dave", 1)]


def test_exists_and_not_exists(db: Any) -> None:
    """Correlated EXISTS / NOT EXISTS."""
    engine, users, addresses = db
    has = exists().where(addresses.c.user_id == users.c.id)
    assert rows(engine, select(users.c.id).where(has).order_by(users.c.id)) == [(1,), (2,), (4,)]
    assert rows(engine, select(users.c.id).where(~has)) == [(3,)]


def test_recursive_cte(engine: Any, metadata: MetaData) -> None:
    """WITH RECURSIVE walks a tree."""
    nodes = Table("nodes", metadata, Column("id", T.Integer, primary_key=True),
                  Column("parent_id", T.Integer))
    metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(insert(nodes), [{"id": 1, "parent_id": None}, {"id": 2, "parent_id": 1},
                                     {"id": 3, "parent_id": 2}, {"id": 4, "parent_id": None}])
    tree = select(nodes.c.id).where(nodes.c.id == 1).cte("tree", recursive=True)
    child = nodes.alias("child")
    tree = tree.union_all(select(child.c.id).where(child.c.parent_id == tree.c.id))
    assert rows(engine, select(tree.c.id).order_by(tree.c.id)) == [(1,), (2,), (3,)]


def test_unions(db: Any) -> None:
    """UNION ALL with ORDER BY, and a member with its own LIMIT (wrapped on SQLite)."""
    engine, users, addresses = db
    u = union_all(
        select(users.c.id).where(users.c.id < 3),
        select(addresses.c.id).where(addresses.c.id > 2),
    ).order_by(users.c.id)
    assert rows(engine, u) == [(1,), (2,), (3,), (4,)]
    u2 = union(select(users.c.id).order_by(users.c.id.desc()).limit(1),
               select(addresses.c.user_id).where(addresses.c.id == 1))
    assert sorted(rows(engine, u2)) == [(1,), (4,)]
    sub = union_all(select(users.c.id), select(addresses.c.user_id)).subquery()
    assert rows(engine, select(func.count()).select_from(sub)) == [(8,)]


def test_with_for_update_is_valid(db: Any) -> None:
    """FOR UPDATE variants run (SQLite drops them)."""
    engine, users, _ = db
    with engine.begin() as conn:
        for kw in ({}, {"nowait": True}, {"read": True}, {"skip_locked": True, "of": users}):
            stmt = select(users.c.id).where(users.c.id == 1).with_for_update(**kw)
            assert [tuple(r) for r in conn.execute(stmt)] == [(1,)]


def test_reserved_and_mixed_case_identifiers(engine: Any, metadata: MetaData) -> None:
    """Quoted names (reserved words, mixed case, %) work end to end."""
    t = Table("Order Items", metadata, Column("select", T.Integer, primary_key=True),
              Column("Group", T.String(10)), Column("pct%", T.Integer))
    metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(insert(t).values({"select": 1, "Group": "g", "pct%": 50}))
        conn.execute(update(t).values({"pct%": t.c["pct%"] + 1}).where(t.c.select == 1))
    assert rows(engine, select(t).where(t.c.Group == "g")) == [(1, "g", 51)]


# --- INSERT / UPDATE / DELETE -----------------------------------------------------------


def test_insert_single_multi_and_from_select(db: Any) -> None:
    """values(), multi-row values() and from_select() insert the rows given."""
    engine, users, addresses = db
    with engine.begin() as conn:
        result = conn.execute(insert(users).values(name="eve", age=22))
        new_id = result.inserted_primary_key[0]
        conn.execute(insert(users).values([{"id": 10, "name": "x", "age": None},
                                           {"id": 11, "name": "y", "age": 1}]))
        conn.execute(insert(addresses).from_select(
            ["user_id", "email"],
            select(users.c.id, users.c.name + literal("@new")).where(users.c.id >= 10),
        ))
    assert rows(engine, select(users.c.name).where(users.c.id == new_id)) == [("eve",)]
    got = rows(engine, select(addresses.c.email).where(addresses.c.user_id >= 10)
               .order_by(addresses.c.email))
    assert got == [("x@new",), ("y@new",)]


def test_insert_returning(db: Any) -> None:
    """INSERT ... RETURNING gives back generated keys and values."""
    engine, users, _ = db
    with engine.begin() as conn:
        result = conn.execute(
            insert(users).values(name="ret", age=7).returning(users.c.id, users.c.name))
        row = result.one()
    assert row[1] == "ret" and row[0] > 4


def test_defaults_prefetch_and_sql(engine: Any, metadata: MetaData) -> None:
    """Python defaults (scalar and callable), SQL defaults and onupdate all apply."""
    calls: list[int] = []

    def nxt() -> int:
        calls.append(1)
        return 100 + len(calls)

    t = Table(
        "d", metadata,
        Column("id", T.Integer, primary_key=True),
        Column("x", T.Integer, default=5),
        Column("y", T.Integer, default=nxt),
        Column("z", T.Integer, server_default=text("9")),
        Column("u", T.Integer, default=func.abs(-3), onupdate=func.abs(-4)),
        Column("w", T.String(5), onupdate=lambda: "upd"),
    )
    metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(insert(t).values(id=1))
        conn.execute(insert(t), [{"id": 2}, {"id": 3, "x": 0}])
        conn.execute(insert(t).values([{"id": 4}, {"id": 5}]))
        conn.execute(update(t).where(t.c.id == 1).values(x=6))
    got = rows(engine, select(t).order_by(t.c.id))
    assert got == [
        (1, 6, 101, 9, 4, "upd"),
        (2, 5, 102, 9, 3, None),
        (3, 0, 103, 9, 3, None),
        (4, 5, 104, 9, 3, None),
        (5, 5, 105, 9, 3, None),
    ]


def test_update_forms(db: Any) -> None:
    """SET with expressions, executemany with bindparams, correlated and FROM updates."""
    engine, users, addresses = db
    u = users.c
    with engine.begin() as conn:
        conn.execute(update(users).values(name=u.name + "!", age=u.age + 1).where(u.id == 1))
        conn.execute(
            update(users).where(u.name == bindparam("old")).values(name=bindparam("new")),
            [{"old": "bob", "new": "robert"}, {"old": "carol", "new": "caroline"}],
        )
        # execution-parameter SET keys; the WHERE key is not a SET column
        conn.execute(update(users).where(u.id == bindparam("id")), {"id": 4, "age": 41})
        first_email = (
            select(addresses.c.email).where(addresses.c.user_id == u.id)
            .order_by(addresses.c.id).limit(1).scalar_subquery()
        )
        conn.execute(update(users).values(note=func.substr(first_email, 1, 5))
                     .where(u.id == 2))
        conn.execute(update(users).values(age=0).where(u.id == addresses.c.user_id)
                     .where(addresses.c.email == "dave@z.org"))
    assert rows(engine, select(u.name, u.age, u.note).order_by(u.id)) == [
        ("alice!", 31, "a%b"), ("robert", 25, "bob@x"), ("caroline", 35, None), ("Dave", 0, "d/e"),
    ]


def test_delete_and_returning(db: Any) -> None:
    """DELETE with criteria, a correlated NOT EXISTS, and RETURNING."""
    engine, users, addresses = db
    with engine.begin() as conn:
        result = conn.execute(
            delete(addresses).where(addresses.c.user_id == 1).returning(addresses.c.id))
        assert sorted(r[0] for r in result) == [1, 2]
        gone = conn.execute(delete(users).where(
            ~exists().where(addresses.c.user_id == users.c.id)))
        assert gone.rowcount == 2  # alice (now without addresses) and carol
    assert rows(engine, select(users.c.id).order_by(users.c.id)) == [(2,), (4,)]


def test_on_conflict(db: Any, backend: Any) -> None:
    """ON CONFLICT DO NOTHING and DO UPDATE with excluded, on each backend."""
    engine, users, _ = db
    make = sqlite_insert if backend.is_sqlite else pg_insert
    with engine.begin() as conn:
        stmt = make(users).values(id=1, name="dup", age=1)
        conn.execute(stmt.on_conflict_do_nothing(index_elements=["id"]))
        up = make(users).values(id=2, name="bobby", age=99)
        conn.execute(up.on_conflict_do_update(
            index_elements=[users.c.id],
            set_={"name": up.excluded.name, "age": users.c.age + 1},
            where=users.c.name != up.excluded.name,
        ))
    assert rows(engine, select(users.c.name, users.c.age).where(users.c.id.in_([1, 2]))
                .order_by(users.c.id)) == [("alice", 30), ("bobby", 26)]


def test_equal_shaped_statements_reuse_the_compiled_cache(db: Any) -> None:
    """A second statement of the same shape uses its own literal values."""
    engine, users, _ = db
    with engine.connect() as conn:
        for uid, name in ((1, "alice"), (2, "bob"), (4, "Dave")):
            stmt = select(users.c.name.label("n")).where(users.c.id == uid).limit(uid)
            assert conn.execute(stmt).scalar() == name
        for ids, count in (([1, 2], 2), ([3], 1), ([], 0)):
            stmt = select(func.count()).select_from(users).where(users.c.id.in_(ids))
            assert conn.execute(stmt).scalar() == count


def test_missing_required_parameter_is_reported(db: Any) -> None:
    """A bindparam without a value fails before reaching the database."""
    engine, users, _ = db
    with engine.connect() as conn, pytest.raises(exc.StatementError, match="'x'"):
        conn.execute(select(users.c.id).where(users.c.id == bindparam("x")))


def test_boolean_is_true_and_expanding_bindparam(engine: Any, metadata: MetaData) -> None:
    """IS true / IS NOT false and an expanding bindparam run on each backend."""
    t = Table("flags", metadata, Column("id", T.Integer, primary_key=True),
              Column("on", T.Boolean))
    metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(insert(t), [{"id": 1, "on": True}, {"id": 2, "on": False},
                                 {"id": 3, "on": None}])
    assert rows(engine, select(t.c.id).where(t.c.on.is_(True))) == [(1,)]
    assert rows(engine, select(t.c.id).where(t.c.on.is_not(False)).order_by(t.c.id)) == [
        (1,), (3,)]
    stmt = select(t.c.id).where(t.c.id.in_(bindparam("ids", expanding=True))).order_by(t.c.id)
    assert rows(engine, stmt, {"ids": [1, 3]}) == [(1,), (3,)]
    assert rows(engine, stmt, {"ids": []}) == []


# --- now(), DELETE ... USING ------------------------------------------------------------


def test_func_now_selects_the_current_time(engine: Any) -> None:
    """select(func.now()) runs on each backend (CURRENT_TIMESTAMP on SQLite) and
    returns the current time as a datetime."""
    before = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None, microsecond=0)
    with engine.connect() as conn:
        value = conn.scalar(select(func.now()))
    assert isinstance(value, dt.datetime)
    if value.tzinfo is not None:
        value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
    assert abs((value - before).total_seconds()) < 3600 * 14  # server clock / timezone


def test_server_default_now_is_created_and_filled(engine: Any, metadata: MetaData) -> None:
    """A table with server_default=func.now() is created on each backend and an
    INSERT that leaves the column out gets the server's timestamp."""
    events = Table("events", metadata, Column("id", T.Integer, primary_key=True),
                   Column("name", T.String(20)),
                   Column("at", T.DateTime, server_default=func.now(), nullable=False))
    metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(insert(events), [{"name": "a"}, {"name": "b"}])
        stamps = conn.execute(select(events.c.name, events.c.at).order_by(events.c.id)).all()
    assert [n for n, _ in stamps] == ["a", "b"]
    assert all(isinstance(at, dt.datetime) for _, at in stamps)


@pytest.mark.postgresql
def test_postgresql_delete_using_another_table(pg_server: Any) -> None:
    """DELETE ... USING deletes exactly the rows joined to the other table's match."""
    from docket import create_engine

    pg_server.reset_schema()
    engine = create_engine(pg_server.url())
    try:
        users, addresses = _schema(MetaData())
        users.metadata.create_all(engine)
        with engine.begin() as conn:
            conn.execute(insert(users), [{"id": r[0], "name": r[1], "age": r[2], "note": r[3]}
                                         for r in USERS])
            conn.execute(insert(addresses), [{"id": r[0], "user_id": r[1], "email": r[2]}
                                             for r in ADDRESSES])
            stmt = delete(addresses).where(addresses.c.user_id == users.c.id,
                                           users.c.name == "alice")
            assert "USING users" in str(stmt.compile(dialect=engine.dialect))
            assert conn.execute(stmt).rowcount == 2
            gone = conn.execute(
                delete(addresses).where(addresses.c.user_id == users.c.id, users.c.age > 30)
                .returning(addresses.c.email, users.c.name)).all()
        assert [tuple(r) for r in gone] == [("dave@z.org", "Dave")]
        assert rows(engine, select(addresses.c.id).order_by(addresses.c.id)) == [(3,)]
    finally:
        engine.dispose()
