"""The failure contract of flush: a failing statement (real constraint
violation, or a fault injected at each statement of a multi-table flush) leaves
objects as they were, the session refusing work until rollback(), the database
as before the transaction, and SAVEPOINTs containing their own failures."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from docket import ForeignKey, String, select
from docket import exc as dexc
from docket.orm import DeclarativeBase, Mapped, Session, mapped_column
from docket.orm.state import STATE_KEY
from docket.testing import FailurePlan, Recorder, recording_engine

_DML = r"^\s*(INSERT|UPDATE|DELETE)"


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(String(30), unique=True)
    age: Mapped[int] = mapped_column(default=0)


class Address(Base):
    __tablename__ = "addresses"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    email: Mapped[str] = mapped_column(String(30))


class Tag(Base):
    __tablename__ = "tags"
    id: Mapped[int] = mapped_column(primary_key=True)
    label: Mapped[str] = mapped_column(String(30))
    weight: Mapped[int] = mapped_column(default=1)
    status: Mapped[str] = mapped_column(String(10), server_default="new")


@pytest.fixture
def rec(backend: Any, request: pytest.FixtureRequest) -> Iterator[tuple[Any, Recorder]]:
    """(engine, recorder) on each backend with tables and two users, one address."""
    if backend.is_postgresql:
        request.getfixturevalue("pg_server").reset_schema()
    engine, recorder = recording_engine(backend.url)
    Base.metadata.create_all(engine)
    with Session(engine) as s:
        s.add_all([User(id=1, name="u1"), User(id=2, name="u2"),
                   Address(id=10, user_id=1, email="e10")])
        s.commit()
    recorder.clear()
    yield engine, recorder
    engine.dispose()


def snapshot(obj: Any) -> dict[str, Any]:
    """An object's attribute values (its __dict__ minus the ORM state)."""
    return {k: v for k, v in obj.__dict__.items() if k != STATE_KEY}


def db_rows(engine: Any) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, for before/after comparisons."""
    out = {}
    with engine.connect() as conn:
        for table in ("users", "addresses", "tags"):
            rows = conn.exec_driver_sql(f"SELECT * FROM {table} ORDER BY id").all()
            out[table] = [tuple(r) for r in rows]
    return out


def test_integrity_error_names_statement_parameters_and_instance(rec: Any) -> None:
    """A unique violation raises IntegrityError with the SQL, parameters and the object."""
    engine, _recorder = rec
    with Session(engine) as s:
        s.add(User(id=3, name="u1"))
        with pytest.raises(dexc.IntegrityError) as info:
            s.flush()
        err = info.value
        message = str(err)
        assert err.statement is not None and err.statement.startswith("INSERT INTO users")
        assert err.params == (3, "u1", 0)
        assert "[SQL: INSERT INTO users (id, name, age)" in message
        assert "[parameters: (3, 'u1', 0)]" in message
        assert "[while flushing: <User at 0x" in message and "(pending)" in message
        assert isinstance(err.orig, engine.dialect.dbapi.IntegrityError)
        s.rollback()


def test_batch_failure_names_the_objects_of_the_batch(rec: Any) -> None:
    """An executemany that fails lists the objects of its batch (elided past five)."""
    engine, _recorder = rec
    with Session(engine) as s:
        s.add_all([User(id=100 + i, name=f"n{i}") for i in range(6)] + [User(id=99, name="u2")])
        with pytest.raises(dexc.IntegrityError) as info:
            s.flush()
        assert "and 2 more" in str(info.value)
        s.rollback()


def test_pending_rollback_error_until_rollback(rec: Any) -> None:
    """After a failed flush, flush/execute/commit raise PendingRollbackError until rollback()."""
    engine, _recorder = rec
    with Session(engine) as s:
        s.add(User(id=3, name="u1"))
        with pytest.raises(dexc.IntegrityError):
            s.flush()
        assert not s.is_active
        s.add(User(id=4, name="fine"))
        for attempt in (s.flush, lambda: s.execute(select(User)), s.commit):
            with pytest.raises(dexc.PendingRollbackError, match="rollback"):
                attempt()
        s.rollback()
        assert s.is_active
        assert s.scalars(select(User.name).order_by(User.id)).all() == ["u1", "u2"]


def test_failed_flush_restores_objects_and_database(rec: Any) -> None:
    """A failed flush undoes the transaction; new objects come back unchanged and can be re-added."""
    engine, _recorder = rec
    before = db_rows(engine)
    with Session(engine) as s:
        early = User(id=3, name="early")
        s.add(early)
        s.flush()  # part of the transaction that will be rolled back
        tag = Tag(label="t")
        bad = User(id=4, name="u2")  # duplicate name
        s.add_all([tag, bad])
        snaps = {id(o): snapshot(o) for o in (tag, bad)}
        with pytest.raises(dexc.IntegrityError):
            s.flush()
        assert snapshot(tag) == snaps[id(tag)]  # no id, weight or status left behind
        assert snapshot(bad) == snaps[id(bad)]
        s.rollback()
        assert tag not in s and bad not in s and early not in s
        assert db_rows(engine) == before
        bad.name = "u4"
        s.add_all([early, tag, bad])
        s.commit()
        assert (tag.weight, tag.status) == (1, "new")
    after = db_rows(engine)
    assert [r[1] for r in after["users"]] == ["u1", "u2", "early", "u4"]
    assert len(after["tags"]) == 1


def _scenario(s: Session) -> tuple[list[Any], dict[str, Any]]:
    """A multi-table flush: INSERTs into three tables, two UPDATE groups, a DELETE."""
    u1, u2, a10 = s.get(User, 1), s.get(User, 2), s.get(Address, 10)
    new = [User(id=3, name="u3"), User(id=4, name="u4"), Tag(label="t1"), Tag(label="t2"),
           Address(id=11, user_id=3, email="e11"), Address(id=12, user_id=4, email="e12")]
    s.add_all(new)
    u1.name = "u1-renamed"
    u2.name = "u2-renamed"
    u2.age = 42
    s.delete(a10)
    return new, {"u1": u1, "u2": u2, "a10": a10}


def test_fault_at_each_statement_of_a_multi_table_flush(rec: Any) -> None:
    """For every statement k of the flush, an injected error restores everything."""
    engine, recorder = rec
    before = db_rows(engine)
    with Session(engine) as s:
        _scenario(s)
        with recorder.capture() as calls:
            s.flush()
        dml = [c for c in calls if not c.is_transaction_control]
        s.rollback()
    assert db_rows(engine) == before
    # users: INSERT, 2 UPDATE groups; tags: 1 INSERT (generated keys and server
    # defaults come back through one batched RETURNING); addresses: INSERT, DELETE
    assert len(dml) == 6, dml
    for k in range(len(dml)):
        with Session(engine) as s:
            new, old = _scenario(s)
            snaps = [snapshot(o) for o in new]
            with recorder.failing(FailurePlan.at_statement(k, match=_DML)) as plan:
                with pytest.raises(dexc.OperationalError) as info:
                    s.flush()
            assert plan.fired, f"fault {k} did not fire"
            message = str(info.value)
            assert "injected fault" in message and "[SQL: " in message
            assert "[while flushing: <" in message
            assert info.value.statement == dml[k].sql
            assert [snapshot(o) for o in new] == snaps, f"objects changed by failed flush {k}"
            assert all(o not in s for o in new)
            with pytest.raises(dexc.PendingRollbackError):
                s.execute(select(User))
            s.rollback()
            assert db_rows(engine) == before, f"database changed by failed flush {k}"
            assert old["u1"].name == "u1" and old["a10"] in s  # expired, reloaded, restored
    with Session(engine) as s:  # the same work still succeeds
        _scenario(s)
        s.commit()
    after = db_rows(engine)
    assert [r[1] for r in after["users"]] == ["u1-renamed", "u2-renamed", "u3", "u4"]
    assert [r[0] for r in after["addresses"]] == [11, 12]


def test_readd_same_objects_after_injected_failure(rec: Any) -> None:
    """The very objects of a failed flush commit fine once re-added after rollback()."""
    engine, recorder = rec
    with Session(engine) as s:
        objs = [Tag(label="a"), Tag(label="b"), User(id=5, name="u5")]
        s.add_all(objs)
        with recorder.failing(FailurePlan.at_statement(1, "DatabaseError", match=_DML)):
            with pytest.raises(dexc.DatabaseError):
                s.commit()
        s.rollback()
        s.add_all(objs)
        s.commit()
        ids = sorted(t.id for t in objs[:2])
        assert all(isinstance(i, int) for i in ids) and ids[0] != ids[1]
    assert [r[0] for r in db_rows(engine)["tags"]] == ids


def test_failure_inside_savepoint_keeps_outer_transaction(rec: Any) -> None:
    """A flush failing inside begin_nested() undoes only the SAVEPOINT's work."""
    engine, _recorder = rec
    with Session(engine) as s:
        outer = User(id=3, name="outer")
        s.add(outer)
        s.flush()
        with pytest.raises(dexc.IntegrityError):
            with s.begin_nested():
                s.add(User(id=4, name="inner-ok"))
                s.flush()
                s.add(User(id=5, name="u1"))  # duplicate
                s.flush()
        assert s.is_active
        assert outer in s
        assert s.scalars(select(User.name).order_by(User.id)).all() == ["u1", "u2", "outer"]
        s.commit()
    assert [r[1] for r in db_rows(engine)["users"]] == ["u1", "u2", "outer"]


def test_failure_inside_savepoint_without_context_manager(rec: Any) -> None:
    """Without the context manager, SAVEPOINT.rollback() ends the failure; the outer txn commits."""
    engine, recorder = rec
    with Session(engine) as s:
        s.add(User(id=3, name="outer"))
        s.flush()
        nested = s.begin_nested()
        s.add(Tag(label="x"))
        with recorder.failing(FailurePlan.at_statement(0, match=_DML)):
            with pytest.raises(dexc.OperationalError):
                s.flush()
        with pytest.raises(dexc.PendingRollbackError):
            s.execute(select(User))
        nested.rollback()
        assert s.is_active
        s.add(Tag(label="y"))
        s.commit()
    rows = db_rows(engine)
    assert [r[1] for r in rows["users"]] == ["u1", "u2", "outer"]
    assert [r[1] for r in rows["tags"]] == ["y"]


def test_stale_data_error_follows_the_same_contract(rec: Any) -> None:
    """StaleDataError (no DB-API error) also leaves the session needing rollback()."""
    engine, _recorder = rec
    with Session(engine, expire_on_commit=False) as s:
        u1 = s.get(User, 1)
        s.commit()
        with engine.begin() as conn:
            conn.exec_driver_sql("DELETE FROM addresses")
            conn.exec_driver_sql("DELETE FROM users WHERE id = 1")
        u1.name = "gone"
        with pytest.raises(dexc.StaleDataError, match="expected to update 1 row"):
            s.flush()
        with pytest.raises(dexc.PendingRollbackError):
            s.commit()
        s.rollback()


def test_flush_error_before_any_sql_follows_the_contract(rec: Any) -> None:
    """A NULL primary key is a FlushError naming the object; rollback() is then required."""
    engine, _recorder = rec
    with Session(engine) as s:
        s.add(User(name="nokey"))
        with pytest.raises(dexc.FlushError, match=r"<User at 0x.*NULL identity key.*'id'"):
            s.flush()
        with pytest.raises(dexc.PendingRollbackError):
            s.commit()
        s.rollback()
        assert s.scalars(select(User.id).order_by(User.id)).all() == [1, 2]
