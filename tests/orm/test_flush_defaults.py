"""Defaults in a flush: Python default/onupdate, SQL-expression defaults, SQL
expressions assigned to attributes, null() vs None, and seed 000's four cases of
fetching server-generated values (eager_defaults True / False / "auto")."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from expected_sql import q

from docket import (
    FetchedValue,
    Identity,
    Integer,
    MetaData,
    Sequence,
    String,
    func,
    literal_column,
    null,
    text,
)
from docket import exc as dexc
from docket.orm import DeclarativeBase, Mapped, Session, mapped_column
from docket.testing import SQL, Recorder, assert_sql, recording_engine

_edits = itertools.count(1)


class Base(DeclarativeBase):
    pass


class PyDefaults(Base):
    __tablename__ = "py_defaults"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    scalar: Mapped[int] = mapped_column(default=7)
    name: Mapped[str] = mapped_column(String(30))
    fn: Mapped[str] = mapped_column(String(30), default=lambda: "called")
    ctx: Mapped[str] = mapped_column(
        String(40), default=lambda c: c.get_current_parameters()["name"] + "!")


class SqlDefaults(Base):
    __tablename__ = "sql_defaults"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    answer: Mapped[int] = mapped_column(default=literal_column("40 + 2", Integer))
    lowered: Mapped[str] = mapped_column(String(10), default=func.lower("ABC"))


class OnUpdate(Base):
    __tablename__ = "on_update"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(String(20))
    stamp: Mapped[str] = mapped_column(String(20), default="new", onupdate="changed")
    edits: Mapped[int] = mapped_column(default=0, onupdate=lambda: next(_edits))
    echo: Mapped[str | None] = mapped_column(
        String(40), onupdate=lambda c: "name=" + str(c.get_current_parameters().get("name")))
    by_sql: Mapped[str | None] = mapped_column(
        String(20), onupdate=literal_column("'by-sql'", String))
    by_server: Mapped[str | None] = mapped_column(
        String(20), server_default="s", server_onupdate=FetchedValue())


class Counter(Base):
    __tablename__ = "counters"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    count: Mapped[int] = mapped_column(default=0)
    label: Mapped[str | None] = mapped_column(String(20), default="dflt")


class ServerAuto(Base):
    __tablename__ = "server_auto"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), server_default="fresh")


class ServerLazy(Base):
    __tablename__ = "server_lazy"
    __mapper_args__ = {"eager_defaults": False}
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), server_default="fresh")


class ServerEager(Base):
    __tablename__ = "server_eager"
    __mapper_args__ = {"eager_defaults": True}
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), server_default="fresh")
    touched: Mapped[str | None] = mapped_column(
        String(20), server_default="t0", server_onupdate=FetchedValue())


class SeqKey(Base):
    __tablename__ = "seq_key"
    id: Mapped[int] = mapped_column(Integer, Sequence("seq_key_ids", start=100),
                                    primary_key=True)
    name: Mapped[str] = mapped_column(String(20))


class IdentKey(Base):
    __tablename__ = "ident_key"
    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    name: Mapped[str] = mapped_column(String(20))


@pytest.fixture
def rec(recorded_engine: tuple[Any, Recorder]) -> tuple[Any, Recorder]:
    """(engine, recorder) on each backend with this module's tables created."""
    return recorded_engine


def _no_sql(recorder: Recorder) -> Any:
    """Context manager asserting that no statement is sent in the block."""
    class _Check:
        def __enter__(self) -> None:
            self.cm = recorder.capture()
            self.calls = self.cm.__enter__()

        def __exit__(self, *a: Any) -> None:
            self.cm.__exit__(*a)
            assert self.calls.without_transaction_control() == [], self.calls
    return _Check()


# --- Python-side and SQL-expression defaults --------------------------------------------


def test_python_defaults_are_sent_and_populated(rec: Any) -> None:
    """Scalar, callable and context-aware defaults go into the INSERT and onto the object."""
    engine, recorder = rec
    with Session(engine) as s:
        objs = [PyDefaults(id=1, name="ann"), PyDefaults(id=2, name="bob", scalar=9)]
        s.add_all(objs)
        with recorder.capture() as calls:
            s.flush()
        assert_sql(calls, [SQL(
            q(recorder, "INSERT INTO py_defaults (id, scalar, name, fn, ctx) "
                        "VALUES (?, ?, ?, ?, ?)"),
            [(1, 7, "ann", "called", "ann!"), (2, 9, "bob", "called", "bob!")])],
            ignore_transaction=True)
        with _no_sql(recorder):
            assert (objs[0].scalar, objs[0].fn, objs[0].ctx) == (7, "called", "ann!")


def test_none_lets_the_default_fire_and_null_forces_null(rec: Any) -> None:
    """None on an INSERT omits nothing but lets the default fire; null() sends NULL."""
    engine, recorder = rec
    with Session(engine) as s:
        a, b = Counter(id=1, label=None), Counter(id=2, label=null())
        s.add_all([a, b])
        with recorder.capture() as calls:
            s.flush()
        assert_sql(calls, [SQL(q(recorder, "INSERT INTO counters (id, count, label) "
                                           "VALUES (?, ?, ?)"),
                               [(1, 0, "dflt"), (2, 0, None)])], ignore_transaction=True)
        with _no_sql(recorder):
            assert a.label == "dflt" and b.label is None
        s.commit()
    with engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT id, label FROM counters ORDER BY id").all()
    assert [tuple(r) for r in rows] == [(1, "dflt"), (2, None)]


def test_null_on_update_sets_null(rec: Any) -> None:
    """Assigning null() to a loaded attribute UPDATEs it to NULL and reads back None."""
    engine, recorder = rec
    with Session(engine) as s:
        c = Counter(id=1, label="x")
        s.add(c)
        s.flush()
        c.label = null()
        with recorder.capture() as calls:
            s.flush()
        assert_sql(calls, [SQL(q(recorder, "UPDATE counters SET label=? WHERE counters.id = ?"),
                               (None, 1))], ignore_transaction=True)
        assert c.label is None


def test_sql_expression_defaults(rec: Any) -> None:
    """A bind-free SQL default is rendered in the INSERT; one with binds goes through Core."""
    engine, recorder = rec
    with Session(engine) as s:
        obj = SqlDefaults(id=1)
        s.add(obj)
        with recorder.capture() as calls:
            s.flush()
        sql = [c.sql for c in calls.without_transaction_control()]
        assert len(sql) == 1
        assert "40 + 2" in sql[0] and "lower(" in sql[0]
        assert (obj.answer, obj.lowered) == (42, "abc")
        s.add(SqlDefaults(id=2, lowered="given"))
        with recorder.capture() as calls:
            s.flush()
        assert_sql(calls, [SQL(q(recorder, "INSERT INTO sql_defaults (id, answer, lowered) "
                                           "VALUES (?, 40 + 2, ?) RETURNING sql_defaults.answer"),
                               (2, "given"))], ignore_transaction=True)


def test_onupdate_python_sql_and_server(rec: Any) -> None:
    """onupdate scalar/callable values are sent and populated; SQL/server ones are expired."""
    engine, recorder = rec
    with Session(engine) as s:
        o = OnUpdate(id=1, name="a")
        s.add(o)
        s.flush()
        assert (o.stamp, o.edits) == ("new", 0)
        o.name = "b"
        with recorder.capture() as calls:
            s.flush()
        stmts = calls.without_transaction_control()
        assert len(stmts) == 1
        assert stmts[0].sql == q(recorder, "UPDATE on_update SET name=?, stamp=?, edits=?, "
                                           "echo=?, by_sql='by-sql' WHERE on_update.id = ?")
        name, stamp, edits, echo, ident = stmts[0].params
        assert (name, stamp, echo, ident) == ("b", "changed", "name=b", 1)
        with _no_sql(recorder):
            assert (o.stamp, o.edits, o.echo) == ("changed", edits, "name=b")
        with recorder.capture() as calls:
            assert (o.by_sql, o.by_server) == ("by-sql", "s")  # expired: loaded now
        assert len(calls.without_transaction_control()) == 1


def test_expression_assigned_to_attribute_is_applied_and_reloaded(rec: Any) -> None:
    """obj.count = Counter.count + 1 runs in SQL; the attribute then holds the new value."""
    engine, recorder = rec
    with Session(engine) as s:
        c = Counter(id=1, count=5)
        s.add(c)
        s.commit()
        c.count = Counter.count + 1
        with recorder.capture() as calls:
            s.flush()
        stmts = calls.without_transaction_control()
        assert len(stmts) == 1 and "count=(counters.count + " in stmts[0].sql
        assert c.count == 6
        s.commit()
        assert c.count == 6


def test_expression_without_returning_is_expired_then_loaded(rec: Any) -> None:
    """Without UPDATE .. RETURNING the expression attribute is expired and SELECTed on access."""
    engine, recorder = rec
    engine.dialect.update_returning = False
    with Session(engine) as s:
        c = Counter(id=1, count=5)
        s.add(c)
        s.flush()
        c.count = Counter.count + 10
        with recorder.capture() as calls:
            s.flush()
        (stmt,) = calls.without_transaction_control()
        assert "RETURNING" not in stmt.sql and "count=(counters.count + " in stmt.sql
        assert "count" not in c.__dict__
        with recorder.capture() as calls:
            assert c.count == 15
        (load,) = calls.without_transaction_control()
        assert load.sql.startswith("SELECT")


def test_expression_in_insert(rec: Any) -> None:
    """A SQL expression given to a new object is evaluated by the database."""
    engine, _recorder = rec
    with Session(engine) as s:
        c = Counter(id=3, count=literal_column("2 * 21", Integer))
        s.add(c)
        s.flush()
        assert c.count == 42
        s.commit()
        assert s.get(Counter, 3).count == 42


# --- server-generated values: seed 000's four cases --------------------------------------


def test_case1_non_pk_server_default_fetched_by_returning(rec: Any) -> None:
    """Case 1: eager_defaults='auto' with RETURNING fetches server defaults in the INSERT."""
    engine, recorder = rec
    with Session(engine) as s:
        a = ServerAuto(name="x")
        s.add(a)
        with recorder.capture() as calls:
            s.flush()
        assert_sql(calls, [SQL(q(recorder, "INSERT INTO server_auto (name) VALUES (?) "
                                           "RETURNING server_auto.id, server_auto.status"),
                               ("x",))], ignore_transaction=True)
        with _no_sql(recorder):
            assert (a.id, a.status) == (1, "fresh")


def test_case2_non_pk_server_default_expired(rec: Any) -> None:
    """Case 2: eager_defaults=False leaves server defaults expired, loaded on access."""
    engine, recorder = rec
    with Session(engine) as s:
        a = ServerLazy(name="x")
        s.add(a)
        with recorder.capture() as calls:
            s.flush()
        stmts = calls.without_transaction_control()
        assert len(stmts) == 1 and "status" not in stmts[0].sql
        with recorder.capture() as calls:
            assert a.status == "fresh"
        assert len(calls.without_transaction_control()) == 1
        assert calls.without_transaction_control()[0].sql.startswith("SELECT")


def test_case2_eager_without_returning_selects_right_away(rec: Any) -> None:
    """Case 2 without RETURNING but eager_defaults=True: a SELECT follows the INSERT."""
    engine, recorder = rec
    engine.dialect.insert_returning = False
    engine.dialect.update_returning = False
    if recorder.dialect_name == "postgresql":
        engine.dialect.implicit_returning = False
    with Session(engine) as s:
        s.add(ServerEager(id=5, name="x"))
        with recorder.capture() as calls:
            s.flush()
        assert_sql(calls, [
            SQL(q(recorder, "INSERT INTO server_eager (id, name) VALUES (?, ?)"), (5, "x")),
            SQL(q(recorder, "SELECT server_eager.status, server_eager.touched FROM server_eager "
                            "WHERE server_eager.id = ?"), (5,)),
        ], ignore_transaction=True)
        obj = s.get(ServerEager, 5)
        with _no_sql(recorder):
            assert (obj.status, obj.touched) == ("fresh", "t0")


def test_eager_true_fetches_server_onupdate_after_update(rec: Any) -> None:
    """eager_defaults=True also fetches server_onupdate values with the UPDATE's RETURNING."""
    engine, recorder = rec
    with Session(engine) as s:
        obj = ServerEager(name="x")
        s.add(obj)
        s.flush()
        obj.name = "y"
        with recorder.capture() as calls:
            s.flush()
        assert_sql(calls, [SQL(q(recorder, "UPDATE server_eager SET name=? WHERE "
                                           "server_eager.id = ? RETURNING server_eager.touched"),
                               ("y", obj.id))], ignore_transaction=True)
        with _no_sql(recorder):
            assert obj.touched == "t0"


def test_case3_primary_key_server_default_by_returning(backend: Any,
                                                       request: pytest.FixtureRequest) -> None:
    """Case 3: a server-generated (non-autoincrement) primary key comes back by RETURNING."""
    if backend.is_postgresql:
        request.getfixturevalue("pg_server").reset_schema()
    engine, recorder = recording_engine(backend.url)
    expr = ("md5(random()::text)" if backend.is_postgresql
            else "(lower(hex(randomblob(8))))")

    class KBase(DeclarativeBase):
        metadata = MetaData()

    class Keyed(KBase):
        __tablename__ = "keyed"
        code: Mapped[str] = mapped_column(String(40), primary_key=True,
                                          server_default=text(expr))
        name: Mapped[str] = mapped_column(String(20))

    try:
        KBase.metadata.create_all(engine)
        with Session(engine) as s:
            k = Keyed(name="n")
            s.add(k)
            with recorder.capture() as calls:
                s.flush()
            assert_sql(calls, [SQL(q(recorder, "INSERT INTO keyed (name) VALUES (?) "
                                               "RETURNING keyed.code"), ("n",))],
                       ignore_transaction=True)
            assert isinstance(k.code, str) and len(k.code) >= 16
            assert s.get(Keyed, k.code) is k
            s.commit()
    finally:
        engine.dispose()


def test_case4_primary_key_without_returning(rec: Any) -> None:
    """Case 4: no RETURNING -- sqlite takes lastrowid; psycopg has none: a clear FlushError."""
    engine, recorder = rec
    engine.dialect.insert_returning = False
    engine.dialect.implicit_returning = False
    with Session(engine) as s:
        a = ServerLazy(name="x")
        s.add(a)
        if recorder.dialect_name == "sqlite":
            with recorder.capture() as calls:
                s.flush()
            assert_sql(calls, [SQL("INSERT INTO server_lazy (name) VALUES (?)", ("x",))],
                       ignore_transaction=True)
            assert a.id == 1
        else:
            with pytest.raises(dexc.FlushError, match="no lastrowid"):
                s.flush()
            s.rollback()


def test_sequence_primary_key(rec: Any) -> None:
    """A Sequence key: nextval() in the INSERT with RETURNING on PG; autoincrement on sqlite."""
    engine, recorder = rec
    with Session(engine) as s:
        objs = [SeqKey(name="a"), SeqKey(name="b")]
        s.add_all(objs)
        with recorder.capture() as calls:
            s.flush()
        if recorder.dialect_name == "postgresql":
            sql = ("INSERT INTO seq_key (id, name) VALUES (nextval('seq_key_ids'), %s) "
                   "RETURNING seq_key.id")
            assert_sql(calls, [SQL(sql, [("a",), ("b",)], many=True)], ignore_transaction=True)
            assert [o.id for o in objs] == [100, 101]
        else:
            sql = "INSERT INTO seq_key (name) VALUES (?), (?) RETURNING seq_key.id"
            assert_sql(calls, [SQL(sql, ("a", "b"))], ignore_transaction=True)
            assert [o.id for o in objs] == [1, 2]


def test_identity_primary_key(rec: Any) -> None:
    """An Identity() key is generated by the database and assigned to each new object."""
    engine, _recorder = rec
    with Session(engine) as s:
        objs = [IdentKey(name="a"), IdentKey(name="b")]
        s.add_all(objs)
        s.commit()
        assert [o.id for o in objs] == [1, 2]
        assert s.get(IdentKey, 2) is objs[1]
