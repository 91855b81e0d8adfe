"""Optimistic concurrency with version_id_col: the version in UPDATE/DELETE,
counters, custom and server-side generators, and StaleDataError on conflicts."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from expected_sql import q

from docket import String
from docket.orm import DeclarativeBase, Mapped, Session, mapped_column
from docket.orm.exc import StaleDataError
from docket.testing import SQL, Recorder, assert_sql


class Base(DeclarativeBase):
    pass


class Doc(Base):
    __tablename__ = "docs"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    title: Mapped[str] = mapped_column(String(30))
    version_id: Mapped[int] = mapped_column(nullable=False)
    __mapper_args__ = {"version_id_col": version_id}


class Tagged(Base):
    __tablename__ = "tagged"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    title: Mapped[str] = mapped_column(String(30))
    tag: Mapped[str] = mapped_column(String(32), nullable=False)
    __mapper_args__ = {"version_id_col": tag,
                       "version_id_generator": lambda _old: uuid.uuid4().hex}


class Manual(Base):
    __tablename__ = "manual"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    title: Mapped[str] = mapped_column(String(30))
    ver: Mapped[int] = mapped_column(nullable=False, server_default="1")
    __mapper_args__ = {"version_id_col": ver, "version_id_generator": False}


@pytest.fixture
def rec(recorded_engine: tuple[Any, Recorder]) -> tuple[Any, Recorder]:
    """(engine, recorder) on each backend with this module's tables created."""
    return recorded_engine


def test_counter_starts_at_one_and_increments_in_update(rec: Any) -> None:
    """INSERT writes version 1; each UPDATE sets version+1 WHERE the old version."""
    engine, recorder = rec
    with Session(engine) as s:
        d = Doc(id=1, title="a")
        s.add(d)
        with recorder.capture() as calls:
            s.flush()
        assert_sql(calls, [SQL(q(recorder, "INSERT INTO docs (id, title, version_id) "
                                           "VALUES (?, ?, ?)"), (1, "a", 1))],
                   ignore_transaction=True)
        assert d.version_id == 1
        for expected_old in (1, 2):
            d.title = f"t{expected_old}"
            with recorder.capture() as calls:
                s.flush()
            assert_sql(calls, [SQL(q(recorder, "UPDATE docs SET title=?, version_id=? WHERE "
                                               "docs.id = ? AND docs.version_id = ?"),
                                   (f"t{expected_old}", expected_old + 1, 1, expected_old))],
                       ignore_transaction=True)
        assert d.version_id == 3
        s.commit()
        assert d.version_id == 3  # reloaded after commit


def test_batched_versioned_updates_and_delete(rec: Any) -> None:
    """Versioned UPDATEs still batch; DELETE checks the version too."""
    engine, recorder = rec
    with Session(engine) as s:
        docs = [Doc(id=i, title="x") for i in (1, 2)]
        s.add_all(docs)
        s.flush()
        for d in docs:
            d.title = "y"
        with recorder.capture() as calls:
            s.flush()
        assert_sql(calls, [SQL(q(recorder, "UPDATE docs SET title=?, version_id=? WHERE "
                                           "docs.id = ? AND docs.version_id = ?"),
                               [("y", 2, 1, 1), ("y", 2, 2, 1)])], ignore_transaction=True)
        for d in docs:
            s.delete(d)
        with recorder.capture() as calls:
            s.flush()
        assert_sql(calls, [SQL(q(recorder, "DELETE FROM docs WHERE docs.id = ? AND "
                                           "docs.version_id = ?"), [(1, 2), (2, 2)])],
                   ignore_transaction=True)
        s.commit()


def test_concurrent_session_update_raises_stale_data(rec: Any) -> None:
    """A row changed by a second Session makes the first one's UPDATE a StaleDataError."""
    engine, _recorder = rec
    with Session(engine) as s:
        s.add(Doc(id=1, title="a"))
        s.commit()
    # s1 ends its read transaction (keeping its objects) so SQLite lets s2 write
    with Session(engine, expire_on_commit=False) as s1, Session(engine) as s2:
        d1 = s1.get(Doc, 1)
        s1.commit()
        d2 = s2.get(Doc, 1)
        d2.title = "from s2"
        s2.commit()
        d1.title = "from s1"
        with pytest.raises(StaleDataError) as info:
            s1.flush()
        message = str(info.value)
        assert "UPDATE statement on table 'docs' expected to update 1 row(s); 0 were matched" \
            in message
        assert "<Doc at 0x" in message and "id=1" in message
        assert "version_id_col 'version_id'" in message and "Roll back" in message
        s1.rollback()
        assert s1.get(Doc, 1).title == "from s2"
        assert s1.get(Doc, 1).version_id == 2


def test_raw_update_then_stale_delete(rec: Any) -> None:
    """A raw UPDATE bumping the version makes a DELETE of the loaded object stale."""
    engine, _recorder = rec
    with Session(engine, expire_on_commit=False) as s:
        s.add(Doc(id=1, title="a"))
        s.commit()
        d = s.get(Doc, 1)
        assert d.version_id == 1
        s.commit()  # no session transaction open during the raw UPDATE (SQLite locking)
        with engine.begin() as conn:
            conn.exec_driver_sql("UPDATE docs SET version_id = 5 WHERE id = 1")
        s.delete(d)
        with pytest.raises(StaleDataError, match="DELETE statement on table 'docs' expected "
                                                 "to delete 1 row"):
            s.flush()
        s.rollback()


def test_one_stale_row_in_a_batch_fails_the_flush(rec: Any) -> None:
    """In a batched versioned UPDATE one stale row is detected (2 expected, 1 matched)."""
    engine, _recorder = rec
    with Session(engine, expire_on_commit=False) as s:
        s.add_all([Doc(id=1, title="a"), Doc(id=2, title="b")])
        s.commit()
        d1, d2 = s.get(Doc, 1), s.get(Doc, 2)
        assert (d1.version_id, d2.version_id) == (1, 1)
        s.commit()  # no session transaction open during the raw UPDATE (SQLite locking)
        with engine.begin() as conn:
            conn.exec_driver_sql("UPDATE docs SET version_id = 9 WHERE id = 2")
        d1.title = d2.title = "z"
        with pytest.raises(StaleDataError, match="expected to update 2 row"):
            s.flush()
        s.rollback()
    with engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT id, title, version_id FROM docs ORDER BY id").all()
    assert [tuple(r) for r in rows] == [(1, "a", 1), (2, "b", 9)]


def test_version_id_generator_callable(rec: Any) -> None:
    """A custom generator supplies the first and every next version."""
    engine, recorder = rec
    with Session(engine) as s:
        t = Tagged(id=1, title="a")
        s.add(t)
        s.flush()
        first = t.tag
        assert isinstance(first, str) and len(first) == 32
        t.title = "b"
        with recorder.capture() as calls:
            s.flush()
        (stmt,) = calls.without_transaction_control()
        assert stmt.sql == q(recorder, "UPDATE tagged SET title=?, tag=? WHERE tagged.id = ? "
                                       "AND tagged.tag = ?")
        assert stmt.params[0] == "b" and stmt.params[2:] == (1, first)
        assert t.tag == stmt.params[1] != first
        s.commit()


def test_version_generator_false_is_server_side(rec: Any) -> None:
    """version_id_generator=False: a manual bump is sent, else the version comes back by RETURNING."""
    engine, recorder = rec
    with Session(engine) as s:
        m = Manual(id=1, title="a")
        s.add(m)
        s.flush()
        assert m.ver == 1  # server default, fetched by RETURNING (eager "auto")
        m.title = "b"
        with recorder.capture() as calls:
            s.flush()
        assert_sql(calls, [SQL(q(recorder, "UPDATE manual SET title=? WHERE manual.id = ? "
                                           "AND manual.ver = ? RETURNING manual.ver"),
                               ("b", 1, 1))], ignore_transaction=True)
        assert m.ver == 1  # no trigger here: the server kept it
        m.title = "c"
        m.ver = 2
        with recorder.capture() as calls:
            s.flush()
        assert_sql(calls, [SQL(q(recorder, "UPDATE manual SET title=?, ver=? WHERE manual.id = ? "
                                           "AND manual.ver = ?"), ("c", 2, 1, 1))],
                   ignore_transaction=True)
        s.commit()
        assert s.get(Manual, 1).ver == 2


def test_expired_version_is_loaded_before_update(rec: Any) -> None:
    """After commit expires the object, the version is reloaded so the UPDATE checks it."""
    engine, recorder = rec
    with Session(engine) as s:
        d = Doc(id=1, title="a")
        s.add(d)
        s.commit()
        d.title = "b"  # everything expired, including version_id
        with recorder.capture() as calls:
            s.flush()
        stmts = calls.without_transaction_control()
        assert stmts[-1].sql.startswith("UPDATE docs")
        assert stmts[-1].params == ("b", 2, 1, 1)
        assert d.version_id == 2
