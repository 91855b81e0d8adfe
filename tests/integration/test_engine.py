"""Executing statements through Engine and Connection on real databases:
parameters, results, type round trips, primary keys, IN lists, the compiled
cache, the Inspector and the pool as seen through the engine."""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import threading
import uuid
from typing import Any

import pytest

from docket import (
    JSON,
    Boolean,
    Column,
    Date,
    DateTime,
    Enum,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Uuid,
    bindparam,
    create_engine,
    delete,
    exc,
    func,
    insert,
    inspect,
    select,
    text,
    update,
)


class Color(enum.Enum):
    red = "r"
    green = "g"


@pytest.fixture
def people(engine: Any) -> Table:
    """A created table ``people(id, name, age)``."""
    md = MetaData()
    table = Table("people", md, Column("id", Integer, primary_key=True),
                  Column("name", String(50)), Column("age", Integer))
    md.create_all(engine)
    return table


@pytest.fixture(params=["sqlite-file", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def pooled_url(request: pytest.FixtureRequest, tmp_path: Any) -> str:
    """A URL whose engine uses a QueuePool (not sqlite://, which shares one connection)."""
    if request.param == "sqlite-file":
        return f"sqlite:///{tmp_path}/pool.db"
    server = request.getfixturevalue("pg_server")
    server.reset_schema()
    return str(server.url())


def _placeholder(engine: Any) -> str:
    return "?" if engine.dialect.paramstyle == "qmark" else "%s"


# --- execute() forms ------------------------------------------------------------------


def test_execute_with_dict_list_and_none(engine: Any, people: Table) -> None:
    """execute() takes one dict, a list of dicts (executemany) or no parameters."""
    with engine.begin() as conn:
        conn.execute(insert(people), {"name": "ann", "age": 30})
        conn.execute(insert(people), [{"name": "bob", "age": 40}, {"name": "cy", "age": 50}])
        conn.execute(insert(people).values(name="dee", age=60), None)
        rows = conn.execute(select(people.c.name, people.c.age).order_by(people.c.id)).all()
    assert [tuple(r) for r in rows] == [("ann", 30), ("bob", 40), ("cy", 50), ("dee", 60)]


def test_text_with_named_parameters(engine: Any, people: Table) -> None:
    """text() with :name parameters works with dict and list-of-dict parameters."""
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO people (name, age) VALUES (:n, :a)"),
                     [{"n": "x", "a": 1}, {"n": "y", "a": 2}])
        row = conn.execute(text("SELECT name, age FROM people WHERE age = :a"), {"a": 2}).one()
    assert row.name == "y" and row._mapping["age"] == 2


def test_exec_driver_sql_forms(engine: Any, people: Table) -> None:
    """exec_driver_sql takes the driver's own paramstyle: a tuple, a list of tuples
    (executemany), or nothing."""
    p = _placeholder(engine)
    with engine.begin() as conn:
        r = conn.exec_driver_sql(f"INSERT INTO people (name, age) VALUES ({p}, {p})", ("a", 1))
        assert r.rowcount == 1
        r = conn.exec_driver_sql(f"INSERT INTO people (name, age) VALUES ({p}, {p})",
                                 [("b", 2), ("c", 3), ("d", 4)])
        assert r.rowcount == 3
        assert conn.exec_driver_sql("SELECT count(*) FROM people").scalar() == 4
        result = conn.exec_driver_sql(f"SELECT name FROM people WHERE age > {p} ORDER BY age",
                                      (2,))
        assert result.keys() == ["name"]
        assert result.scalars().all() == ["c", "d"]


def test_scalar_and_scalars(engine: Any, people: Table) -> None:
    """Connection.scalar gives the first column of the first row (None when no row);
    scalars() every first column."""
    with engine.begin() as conn:
        conn.execute(insert(people), [{"name": n, "age": i} for i, n in enumerate("abc")])
        assert conn.scalar(select(people.c.name).where(people.c.age == 1)) == "b"
        assert conn.scalar(select(people.c.name).where(people.c.age == 99)) is None
        assert conn.scalars(select(people.c.age).order_by(people.c.age)).all() == [0, 1, 2]


def test_plain_string_is_refused(engine: Any) -> None:
    """A plain SQL string raises ArgumentError pointing at text() / exec_driver_sql."""
    with engine.connect() as conn:
        with pytest.raises(exc.ArgumentError, match=r"text\(") as info:
            conn.execute("SELECT 1")  # type: ignore[arg-type]
        assert "exec_driver_sql" in str(info.value)


def test_bad_parameter_shapes_are_refused(engine: Any, people: Table) -> None:
    """Positional tuples or scalars as execute() parameters raise ArgumentError."""
    with engine.connect() as conn:
        with pytest.raises(exc.ArgumentError, match="dict"):
            conn.execute(select(people), [("a", 1)])
        with pytest.raises(exc.ArgumentError, match="dict"):
            conn.execute(select(people), 5)


def test_update_delete_rowcount_and_executemany(engine: Any, people: Table) -> None:
    """rowcount counts matched rows for UPDATE/DELETE, and sums over an executemany."""
    with engine.begin() as conn:
        conn.execute(insert(people), [{"name": f"p{i}", "age": i % 3} for i in range(9)])
        r = conn.execute(update(people).where(people.c.age == 0).values(name="zero"))
        assert r.rowcount == 3
        r = conn.execute(
            update(people).where(people.c.name == bindparam("old")).values(age=bindparam("new")),
            [{"old": "p1", "new": 10}, {"old": "p2", "new": 20}, {"old": "nope", "new": 0}],
        )
        assert r.rowcount == 2
        r = conn.execute(delete(people).where(people.c.age >= 10))
        assert r.rowcount == 2
        assert conn.scalar(select(people.c.age).where(people.c.name == "p1")) is None


# --- inserted primary keys --------------------------------------------------------------


def test_inserted_primary_key_autoincrement(engine: Any, people: Table) -> None:
    """A single-row INSERT reports the generated key (lastrowid on SQLite, implicit
    RETURNING on PostgreSQL) as a Row."""
    with engine.begin() as conn:
        first = conn.execute(insert(people), {"name": "a"}).inserted_primary_key
        second = conn.execute(insert(people).values(name="b")).inserted_primary_key
        assert first is not None and second is not None
        assert tuple(second) == (first[0] + 1,)
        assert first.id == first[0]
        ids = conn.scalars(select(people.c.id).order_by(people.c.id)).all()
    assert ids == [first[0], second[0]]


def test_inserted_primary_key_explicit_values_same_shape(engine: Any, people: Table) -> None:
    """Two INSERTs of the same shape with explicit keys each report their own key
    (the second reuses the cached compiled form of the first)."""
    with engine.begin() as conn:
        a = conn.execute(insert(people).values(id=7, name="x")).inserted_primary_key
        b = conn.execute(insert(people).values(id=8, name="y")).inserted_primary_key
        c = conn.execute(insert(people), {"id": 9, "name": "z"}).inserted_primary_key
    assert (tuple(a), tuple(b), tuple(c)) == ((7,), (8,), (9,))


def test_inserted_primary_key_python_default_and_composite(engine: Any) -> None:
    """Keys from a Python-side default and composite keys come back in column order."""
    md = MetaData()
    tokens = Table("tokens", md, Column("id", Uuid, primary_key=True, default=uuid.uuid4),
                   Column("label", String(20)))
    pairs = Table("pairs", md, Column("a", Integer, primary_key=True, autoincrement=False),
                  Column("b", String(5), primary_key=True), Column("v", Integer))
    md.create_all(engine)
    with engine.begin() as conn:
        pk = conn.execute(insert(tokens), {"label": "t"}).inserted_primary_key
        assert isinstance(pk[0], uuid.UUID)
        assert conn.scalar(select(tokens.c.id)) == pk[0]
        pk2 = conn.execute(insert(pairs), {"a": 3, "b": "x", "v": 1}).inserted_primary_key
        assert tuple(pk2) == (3, "x") and pk2._fields == ("a", "b")


def test_executemany_has_no_inserted_primary_key(engine: Any, people: Table) -> None:
    """An executemany INSERT reports its rowcount; it has no single inserted key."""
    with engine.begin() as conn:
        r = conn.execute(insert(people), [{"name": "a"}, {"name": "b"}, {"name": "c"}])
        assert r.rowcount == 3
        assert r.inserted_primary_key is None


def test_returning_clauses(engine: Any, people: Table) -> None:
    """INSERT / UPDATE / DELETE ... RETURNING give rows (SQLite >= 3.35, PostgreSQL)."""
    with engine.begin() as conn:
        row = conn.execute(insert(people).returning(people.c.id, people.c.name),
                           {"name": "r", "age": 1}).one()
        assert row.name == "r" and isinstance(row.id, int)
        ages = conn.execute(update(people).where(people.c.id == row.id).values(age=5)
                            .returning(people.c.age)).scalars().all()
        assert ages == [5]
        gone = conn.execute(delete(people).returning(people.c.name)).scalars().all()
        assert gone == ["r"]


def test_executemany_with_returning(engine: Any, people: Table) -> None:
    """An executemany INSERT ... RETURNING gives one row per parameter set, in order
    (batched on psycopg, row by row elsewhere), with result types applied."""
    params = [{"name": f"n{i}", "age": i} for i in range(25)]
    with engine.begin() as conn:
        result = conn.execute(insert(people).returning(people.c.id, people.c.name), params)
        rows = result.all()
        assert [r.name for r in rows] == [p["name"] for p in params]
        ids = [r.id for r in rows]
        assert ids == sorted(ids) and len(set(ids)) == 25
        stored = dict(conn.execute(select(people.c.id, people.c.name)).all())
        assert {i: n for i, n in rows} == stored
        renamed = conn.execute(
            update(people).where(people.c.id == bindparam("pk")).values(name=bindparam("nm"))
            .returning(people.c.name),
            [{"pk": ids[0], "nm": "first"}, {"pk": ids[-1], "nm": "last"}],
        ).scalars().all()
        assert renamed == ["first", "last"]


# --- type round trips -------------------------------------------------------------------


def test_type_round_trips_through_core(engine: Any) -> None:
    """Date, DateTime, Numeric, Boolean, JSON, Uuid and Enum values come back as the
    same Python values they went in as, on every backend."""
    md = MetaData()
    things = Table(
        "things", md,
        Column("id", Integer, primary_key=True),
        Column("day", Date),
        Column("at", DateTime),
        Column("price", Numeric(10, 2)),
        Column("flag", Boolean),
        Column("doc", JSON),
        Column("uid", Uuid),
        Column("color", Enum(Color)),
    )
    md.create_all(engine)
    row_in = {
        "day": dt.date(2024, 2, 29),
        "at": dt.datetime(2024, 2, 29, 13, 45, 6, 123456),
        "price": decimal.Decimal("1234.50"),
        "flag": True,
        "doc": {"a": [1, 2, {"b": None}], "s": "ü"},
        "uid": uuid.UUID("12345678-1234-5678-1234-567812345678"),
        "color": Color.green,
    }
    nulls = {k: None for k in row_in}
    with engine.begin() as conn:
        conn.execute(insert(things), [{"id": 1, **row_in}, {"id": 2, **nulls}])
    with engine.connect() as conn:
        got = conn.execute(select(things).where(things.c.id == 1)).one()._asdict()
        empty = conn.execute(select(things).where(things.c.id == 2)).one()._asdict()
        flagged = conn.scalar(select(things.c.id).where(things.c.flag == True))  # noqa: E712
        by_color = conn.scalar(select(things.c.id).where(things.c.color == Color.green))
        by_uid = conn.scalar(select(things.c.id).where(things.c.uid == row_in["uid"]))
        by_day = conn.scalar(select(things.c.id).where(things.c.day > dt.date(2024, 1, 1)))
    assert {k: got[k] for k in row_in} == row_in
    assert type(got["price"]) is decimal.Decimal and type(got["at"]) is dt.datetime
    assert got["flag"] is True
    assert empty["doc"] is None and empty["color"] is None and empty["uid"] is None
    assert flagged == by_color == by_uid == by_day == 1


# --- IN lists -------------------------------------------------------------------------------


def test_expanding_in(engine: Any, people: Table) -> None:
    """in_() with a list, a bindparam(expanding=True) given at execution, an empty
    list, and not_in()."""
    with engine.begin() as conn:
        conn.execute(insert(people), [{"name": n, "age": i} for i, n in enumerate("abcde")])
        q = select(people.c.name).order_by(people.c.name)
        assert conn.scalars(q.where(people.c.age.in_([1, 3]))).all() == ["b", "d"]
        assert conn.scalars(q.where(people.c.age.in_([4]))).all() == ["e"]
        assert conn.scalars(q.where(people.c.age.in_([]))).all() == []
        assert conn.scalars(q.where(people.c.age.not_in([0, 1, 2]))).all() == ["d", "e"]
        param = q.where(people.c.name.in_(bindparam("names", expanding=True)))
        assert conn.scalars(param, {"names": ["a", "e", "zz"]}).all() == ["a", "e"]
        assert conn.scalars(param, {"names": ["c"]}).all() == ["c"]


def test_expanding_in_converts_each_value(engine: Any) -> None:
    """IN-list elements go through their column type's conversion (UUID, Enum, Date
    and Decimal values that the drivers can't bind as they are)."""
    md = MetaData()
    t = Table("typed", md, Column("id", Integer, primary_key=True), Column("uid", Uuid),
              Column("color", Enum(Color)), Column("day", Date), Column("amount", Numeric(8, 2)))
    md.create_all(engine)
    uids = [uuid.uuid4() for _ in range(3)]
    with engine.begin() as conn:
        conn.execute(insert(t), [
            {"id": i, "uid": u, "color": c, "day": dt.date(2020, 1, i + 1),
             "amount": decimal.Decimal(f"{i}.25")}
            for i, (u, c) in enumerate(zip(uids, [Color.red, Color.green, Color.red]))
        ])
        ids = select(t.c.id).order_by(t.c.id)
        assert conn.scalars(ids.where(t.c.uid.in_(uids[:2]))).all() == [0, 1]
        assert conn.scalars(ids.where(t.c.color.in_([Color.red]))).all() == [0, 2]
        assert conn.scalars(ids.where(t.c.day.in_([dt.date(2020, 1, 2)]))).all() == [1]
        assert conn.scalars(ids.where(t.c.amount.in_([decimal.Decimal("2.25")]))).all() == [2]


def test_expanding_in_with_executemany_is_refused(engine: Any, people: Table) -> None:
    """An IN list can't vary per parameter set of an executemany: a clear error."""
    stmt = update(people).where(people.c.age.in_(bindparam("ages", expanding=True))) \
        .values(name=bindparam("n"))
    with engine.connect() as conn:
        with pytest.raises(exc.InvalidRequestError, match="executemany"):
            conn.execute(stmt, [{"ages": [1], "n": "a"}, {"ages": [2, 3], "n": "b"}])


def test_yield_per_and_stream_results(engine: Any, backend: Any, people: Table) -> None:
    """yield_per=N reads rows N at a time (partitions of N); on PostgreSQL
    stream_results/yield_per use a server-side cursor inside the transaction."""
    with engine.begin() as conn:
        conn.execute(insert(people), [{"name": f"p{i:02d}", "age": i} for i in range(25)])
    with engine.connect() as conn:
        result = conn.execute(select(people.c.age).order_by(people.c.age),
                              execution_options={"yield_per": 10})
        sizes = [len(p) for p in result.partitions()]
        assert sizes == [10, 10, 5]
        streamed = conn.execution_options(stream_results=True).execute(
            select(people.c.name).order_by(people.c.age))
        server_side = type(streamed.cursor).__name__ == "ServerCursor"
        assert server_side == backend.is_postgresql
        assert streamed.fetchmany(3) == [("p00",), ("p01",), ("p02",)]
        assert len(streamed.all()) == 22
        text_rows = conn.execute(text("SELECT name FROM people WHERE age < :a ORDER BY age"),
                                 {"a": 3}, execution_options={"yield_per": 2}).scalars()
        assert text_rows.all() == ["p00", "p01", "p02"]
        # DML is never sent to a server-side cursor
        assert conn.execute(update(people).values(age=0)).rowcount == 25


@pytest.mark.postgresql
def test_stream_results_not_used_in_autocommit(pg_server: Any) -> None:
    """In AUTOCOMMIT there is no transaction to hold a server-side cursor: a plain
    cursor is used and the rows still arrive."""
    pg_server.reset_schema()
    eng = create_engine(pg_server.url(), isolation_level="AUTOCOMMIT")
    try:
        with eng.connect() as conn:
            result = conn.execute(text("SELECT generate_series(1, 5)"),
                                  execution_options={"stream_results": True})
            assert type(result.cursor).__name__ != "ServerCursor"
            assert result.scalars().all() == [1, 2, 3, 4, 5]
    finally:
        eng.dispose()


# --- compiled cache -------------------------------------------------------------------------


def test_compiled_cache_hits_with_different_values(engine: Any, people: Table) -> None:
    """The same statement shape with different literal values compiles once; each
    execution still uses its own values."""
    with engine.begin() as conn:
        conn.execute(insert(people), [{"name": n, "age": i} for i, n in enumerate("abc")])
        cache = engine._compiled_cache
        conn.scalar(select(people.c.name).where(people.c.age == 0))
        hits, size = cache.hits, len(cache)
        assert conn.scalar(select(people.c.name).where(people.c.age == 1)) == "b"
        assert conn.scalar(select(people.c.name).where(people.c.age == 2)) == "c"
        assert cache.hits == hits + 2 and len(cache) == size
        assert conn.scalar(select(people.c.age).where(people.c.name == "a")) == 0
        assert len(cache) == size + 1
        conn.execute(update(people).where(people.c.name == "a").values(age=10))
        conn.execute(update(people).where(people.c.name == "b").values(age=20))
        assert conn.scalars(select(people.c.age).order_by(people.c.name)).all() == [10, 20, 2]


def test_cached_compiled_serves_rows_keyed_by_the_new_statements_columns(
        engine: Any, people: Table) -> None:
    """A statement served by another statement's cached Compiled gives rows whose
    _mapping accepts its own label, function and subquery column objects."""
    with engine.begin() as conn:
        conn.execute(insert(people), [{"name": "ann", "age": 30}])
        for _ in range(3):  # the first compiles, the others are cache hits
            label = people.c.name.label("who")
            upper = func.upper(people.c.name)
            sub = select(people.c.age).subquery()
            row = conn.execute(select(label, upper, sub.c.age)).one()
            assert (row._mapping[label], row._mapping[upper], row._mapping[sub.c.age]) == (
                "ann", "ANN", 30)
            assert conn.execute(select(label)).scalars(label).all() == ["ann"]
            n_col = people.c.name.label("n")
            textual = text("SELECT name FROM people").columns(n_col)
            assert conn.execute(textual).one()._mapping[n_col] == "ann"
        if engine.dialect.update_returning:
            for _ in range(2):
                ret = people.c.age.label("new_age")
                row = conn.execute(update(people).values(age=people.c.age + 1)
                                   .returning(ret)).one()
                assert row._mapping[ret] == row.new_age


def test_executemany_dict_missing_a_key_is_refused(engine: Any) -> None:
    """executemany: a dict lacking a key the first dict gives raises StatementError
    naming the key and group, inserting nothing; a column with a Python default
    may be left out of later dicts (its default is used)."""
    md = MetaData()
    t = Table("items", md, Column("id", Integer, primary_key=True),
              Column("name", String(20)), Column("qty", Integer, default=lambda ctx: 7))
    md.create_all(engine)
    with engine.connect() as conn:
        with pytest.raises(exc.StatementError,
                           match="bind parameter 'name', in parameter group 1"):
            conn.execute(insert(t), [{"id": 1, "name": "a"}, {"id": 2}])
        conn.rollback()
        assert conn.scalar(select(func.count()).select_from(t)) == 0
        conn.execute(insert(t), [{"id": 1, "name": "a", "qty": 1}, {"id": 2, "name": "b"}])
        assert conn.execute(select(t).order_by(t.c.id)).all() == [(1, "a", 1), (2, "b", 7)]
        with pytest.raises(exc.StatementError, match="'name', in parameter group 2"):
            conn.execute(update(t).where(t.c.id == bindparam("b_id")),
                         [{"b_id": 1, "name": "x"}, {"b_id": 2, "name": "y"}, {"b_id": 2}])


def test_compiled_cache_can_be_disabled(backend: Any) -> None:
    """query_cache_size=0 turns the cache off; execution still works."""
    eng = create_engine(backend.url, query_cache_size=0)
    try:
        assert eng._compiled_cache is None
        with eng.connect() as conn:
            assert conn.scalar(select(text("1"))) == 1
    finally:
        eng.dispose()


# --- inspector ------------------------------------------------------------------------------


def test_inspector(engine: Any, people: Table) -> None:
    """inspect(engine) lists tables and answers has_table; inspect(conn) sees the
    connection's own uncommitted DDL."""
    insp = inspect(engine)
    assert insp.get_table_names() == ["people"]
    assert insp.has_table("people") and not insp.has_table("nope")
    with engine.connect() as conn:
        conn.execute(text("CREATE TABLE later (id INTEGER)"))
        assert inspect(conn).has_table("later")
        assert inspect(conn).get_table_names() == ["later", "people"]
        conn.rollback()
    assert insp.get_table_names() == ["people"]


# --- pool through the engine ------------------------------------------------------------------


def test_pool_exhaustion_times_out(pooled_url: str) -> None:
    """With pool_size=1, max_overflow=0, a second connect() waits pool_timeout and
    raises TimeoutError naming the limits; after a return it succeeds."""
    eng = create_engine(pooled_url, pool_size=1, max_overflow=0, pool_timeout=0.2)
    try:
        first = eng.connect()
        with pytest.raises(exc.TimeoutError, match="size 1 overflow 0"):
            eng.connect()
        first.close()
        with eng.connect() as again:
            assert again.scalar(select(text("1"))) == 1
    finally:
        eng.dispose()


def test_waiting_connect_gets_returned_connection(pooled_url: str) -> None:
    """A connect() waiting on a full pool gets the connection another thread returns."""
    eng = create_engine(pooled_url, pool_size=1, max_overflow=0, pool_timeout=5)
    try:
        first = eng.connect()
        timer = threading.Timer(0.2, first.close)
        timer.start()
        with eng.connect() as second:
            assert second.scalar(select(text("1"))) == 1
        timer.join()
    finally:
        eng.dispose()


def test_connections_are_reused(backend: Any, engine: Any) -> None:
    """Closing a Connection returns its DB-API connection for the next checkout."""
    with engine.connect() as c1:
        raw = c1.connection.dbapi_connection
    with engine.connect() as c2:
        assert c2.connection.dbapi_connection is raw


def test_engine_properties(engine: Any, backend: Any) -> None:
    """name/driver reflect the URL; dispose() leaves the engine usable."""
    assert engine.name == ("sqlite" if backend.is_sqlite else "postgresql")
    assert engine.driver == ("pysqlite" if backend.is_sqlite else "psycopg")
    engine.dispose()
    with engine.connect() as conn:
        assert conn.scalar(select(text("2"))) == 2


def test_postgresql_percent_signs(engine: Any, backend: Any) -> None:
    """A literal % in SQL survives the driver's format paramstyle, with and without
    parameters."""
    with engine.connect() as conn:
        assert conn.scalar(text("SELECT '100%'")) == "100%"
        assert conn.scalar(text("SELECT '5%' || :x"), {"x": "!"}) == "5%!"
        assert conn.scalar(select(text("'a%b'"))) == "a%b"
