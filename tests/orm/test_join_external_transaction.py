"""A Session bound to a Connection that is already in a transaction
(``join_transaction_mode``), including SQLAlchemy's "join a Session into an
external transaction" test-suite pattern."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from docket import String, exc, func, select, text
from docket.orm import DeclarativeBase, Mapped, Session, mapped_column


class Base(DeclarativeBase):
    pass


class Row(Base):
    __tablename__ = "join_rows"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))


def count(conn: Any) -> int:
    return conn.scalar(select(func.count()).select_from(Row.__table__))  # type: ignore[no-any-return]


def committed_count(engine: Any) -> int:
    with engine.connect() as conn:
        return count(conn)


@contextmanager
def external_session(engine: Any, mode: str = "create_savepoint") -> Iterator[Session]:
    """The documented fixture: outer transaction, Session joined to it, outer
    rolled back at the end whatever the Session did."""
    conn = engine.connect()
    trans = conn.begin()
    session = Session(bind=conn, join_transaction_mode=mode)
    try:
        yield session
    finally:
        session.close()
        assert trans.is_active, "the Session must not end the external transaction"
        trans.rollback()
        conn.close()


def test_fixture_pattern_commits_are_discarded(eng: Any) -> None:
    """Code under test may commit() freely; the outer rollback discards it all,
    and each 'test' starts from an empty table."""
    for _ in range(2):  # two consecutive tests using the fixture
        with external_session(eng) as s:
            assert s.scalar(select(func.count()).select_from(Row)) == 0
            s.add(Row(id=1, name="a"))
            s.commit()
            s.add(Row(id=2, name="b"))
            s.commit()
            assert s.scalar(select(func.count()).select_from(Row)) == 2
    assert committed_count(eng) == 0


def test_fixture_pattern_rollback_keeps_earlier_commits(eng: Any) -> None:
    """In create_savepoint mode, session.rollback() only undoes work since the
    last session commit; the outer transaction stays usable."""
    with external_session(eng) as s:
        s.add(Row(id=1, name="kept"))
        s.commit()
        r = Row(id=2, name="lost")
        s.add(r)
        s.flush()
        s.rollback()
        assert r not in s
        assert [x.name for x in s.scalars(select(Row))] == ["kept"]
        s.commit()  # the query above autobegan
        with s.begin():
            s.add(Row(id=3, name="block"))
        with pytest.raises(RuntimeError):
            with s.begin():
                s.add(Row(id=4, name="rolled back"))
                s.flush()
                raise RuntimeError("undo")
        assert sorted(s.scalars(select(Row.name))) == ["block", "kept"]
    assert committed_count(eng) == 0


def test_fixture_pattern_nested_savepoints(eng: Any) -> None:
    """begin_nested() inside a joined session nests under its SAVEPOINT."""
    with external_session(eng) as s:
        s.add(Row(id=1, name="a"))
        sp = s.begin_nested()
        s.add(Row(id=2, name="b"))
        s.flush()
        sp.rollback()
        s.commit()
        assert [x.name for x in s.scalars(select(Row))] == ["a"]
    assert committed_count(eng) == 0


def test_fixture_pattern_failed_flush_recovers(eng: Any) -> None:
    """A failed flush in a joined session rolls back to its SAVEPOINT only."""
    with external_session(eng) as s:
        s.add(Row(id=1, name="a"))
        s.commit()
        s.add(Row(id=1, name="dup"))
        with pytest.raises(exc.IntegrityError):
            s.flush()
        with pytest.raises(exc.PendingRollbackError):
            s.commit()
        s.rollback()
        assert [x.name for x in s.scalars(select(Row))] == ["a"]
    assert committed_count(eng) == 0


def test_outer_rollback_discards_everything(eng: Any) -> None:
    """Rows the session flushed and 'committed' disappear with the outer rollback."""
    with eng.connect() as conn:
        trans = conn.begin()
        conn.execute(Row.__table__.insert(), {"id": 100, "name": "outer"})
        s = Session(bind=conn, join_transaction_mode="create_savepoint")
        s.add(Row(id=1, name="session"))
        s.commit()
        assert count(conn) == 2
        s.close()
        trans.rollback()
        assert count(conn) == 0


@pytest.mark.parametrize("mode", ["conditional_savepoint", "rollback_only"])
def test_rollback_only_modes(eng: Any, mode: str) -> None:
    """Plain outer transaction, default/rollback_only: commit() and close()
    leave it alone; rollback() rolls it back."""
    with eng.connect() as conn:
        trans = conn.begin()
        s = Session(bind=conn, join_transaction_mode=mode)
        s.add(Row(id=1, name="a"))
        s.commit()
        assert trans.is_active and count(conn) == 1
        s.close()
        assert trans.is_active and count(conn) == 1
        s.add(Row(id=2, name="b"))
        s.flush()
        s.rollback()
        assert not trans.is_active and not conn.in_transaction()
        assert count(conn) == 0
    assert committed_count(eng) == 0


def test_conditional_savepoint_with_outer_savepoint(eng: Any) -> None:
    """Default mode inside an external SAVEPOINT: the session makes its own
    SAVEPOINT, so its rollback leaves the outer SAVEPOINT and transaction."""
    with eng.connect() as conn:
        trans = conn.begin()
        conn.execute(Row.__table__.insert(), {"id": 100, "name": "outer"})
        outer_sp = conn.begin_nested()
        s = Session(bind=conn)
        s.add(Row(id=1, name="a"))
        s.flush()
        s.rollback()
        assert outer_sp.is_active and trans.is_active
        assert count(conn) == 1
        s.add(Row(id=2, name="b"))
        s.commit()
        assert outer_sp.is_active and count(conn) == 2
        s.close()
        outer_sp.rollback()
        assert count(conn) == 1
        trans.rollback()
    assert committed_count(eng) == 0


def test_rollback_only_with_outer_savepoint(eng: Any) -> None:
    """rollback_only inside an external SAVEPOINT rolls back that SAVEPOINT."""
    with eng.connect() as conn:
        trans = conn.begin()
        conn.execute(Row.__table__.insert(), {"id": 100, "name": "outer"})
        outer_sp = conn.begin_nested()
        s = Session(bind=conn, join_transaction_mode="rollback_only")
        s.add(Row(id=1, name="a"))
        s.commit()
        assert outer_sp.is_active
        s.rollback()  # nothing begun since commit: no-op
        s.add(Row(id=2, name="b"))
        s.flush()
        s.rollback()
        assert not outer_sp.is_active and trans.is_active
        assert count(conn) == 1
        trans.rollback()


@pytest.mark.parametrize("op", ["commit", "rollback", "close"])
def test_control_fully(eng: Any, op: str) -> None:
    """control_fully: the outer transaction is the session's own -- commit()
    commits it, rollback() and close() roll it back."""
    with eng.connect() as conn:
        trans = conn.begin()
        conn.execute(Row.__table__.insert(), {"id": 100, "name": "outer"})
        s = Session(bind=conn, join_transaction_mode="control_fully")
        s.add(Row(id=1, name="a"))
        s.flush()
        getattr(s, op)()
        assert not trans.is_active and not conn.in_transaction()
        s.close()
    assert committed_count(eng) == (2 if op == "commit" else 0)


@pytest.mark.parametrize("mode", ["conditional_savepoint", "create_savepoint",
                                  "rollback_only", "control_fully"])
def test_connection_without_transaction(eng: Any, mode: str) -> None:
    """A Connection not yet in a transaction: every mode begins and commits its own."""
    with eng.connect() as conn:
        s = Session(bind=conn, join_transaction_mode=mode)
        s.add(Row(id=1, name="a"))
        s.commit()
        assert not conn.in_transaction()
        s.close()
        assert not conn.closed  # the session never closes a Connection it was given
    assert committed_count(eng) == 1


def test_create_savepoint_abusive_nesting(eng: Any) -> None:
    """Any sequence of begin/begin_nested/commit/rollback leaves the outer
    transaction intact (SQLAlchemy's "super abusive nesting")."""
    import random

    rnd = random.Random(7)
    with eng.connect() as conn:
        trans = conn.begin()
        s = Session(bind=conn, join_transaction_mode="create_savepoint")
        for i in range(40):
            choice = rnd.randint(1, 4)
            if choice == 1:
                if s.in_transaction():
                    s.begin_nested()
                else:
                    s.begin()
            elif choice == 2:
                s.rollback()
            elif choice == 3:
                s.commit()
            else:
                s.add(Row(id=i, name=str(i)))
            s.connection()
        s.close()
        assert trans.is_active
        trans.rollback()
    assert committed_count(eng) == 0


def test_unknown_mode_rejected(eng: Any) -> None:
    """An unknown join_transaction_mode is an ArgumentError listing the valid ones."""
    with pytest.raises(exc.ArgumentError, match="create_savepoint"):
        Session(eng, join_transaction_mode="sometimes")


def test_conservative_alias(eng: Any) -> None:
    """'conservative_savepoint' is accepted as an alias of the default mode."""
    s = Session(eng, join_transaction_mode="conservative_savepoint")
    assert s.join_transaction_mode == "conditional_savepoint"


def test_text_through_joined_session(eng: Any) -> None:
    """Core statements through a joined session run inside the outer transaction."""
    with external_session(eng) as s:
        s.execute(text("INSERT INTO join_rows (id, name) VALUES (5, 'core')"))
        s.commit()
        assert s.get(Row, 5).name == "core"
    assert committed_count(eng) == 0
