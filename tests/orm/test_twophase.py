"""Two-phase commit through the Session (``twophase=True`` + ``prepare()``):
PostgreSQL's PREPARE TRANSACTION / COMMIT PREPARED, and a clear error on
SQLite, which has no two-phase commit."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from docket import String, create_engine, exc, func, select, text
from docket.orm import DeclarativeBase, Mapped, Session, mapped_column


class Base(DeclarativeBase):
    pass


class Account(Base):
    __tablename__ = "tpc_accounts"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))


class Entry(Base):
    __tablename__ = "tpc_entries"
    id: Mapped[int] = mapped_column(primary_key=True)
    memo: Mapped[str] = mapped_column(String(50))


@pytest.fixture
def pg(pg_server: Any) -> Iterator[Any]:
    pg_server.reset_schema()
    eng = create_engine(pg_server.url())
    Base.metadata.create_all(eng)
    try:
        yield eng
    finally:
        eng.dispose()


@pytest.fixture
def pg2(pg_server: Any) -> Iterator[Any]:
    """An engine on the second test database (a second 'resource manager')."""
    pg_server.reset_schema("docket_test2")
    eng = create_engine(pg_server.url("docket_test2"))
    Base.metadata.create_all(eng)
    try:
        yield eng
    finally:
        eng.dispose()


def prepared_gids(engine: Any) -> list[str]:
    with engine.connect() as conn:
        return list(conn.scalars(text(
            "SELECT gid FROM pg_prepared_xacts WHERE database = current_database()")))


def committed(engine: Any, table: Any) -> int:
    with engine.connect() as conn:
        return conn.scalar(select(func.count()).select_from(table))  # type: ignore[no-any-return]


@pytest.mark.postgresql
def test_twophase_commit(pg: Any) -> None:
    """commit() of a twophase session prepares, then commits the prepared transaction."""
    with Session(pg, twophase=True) as s:
        s.add(Account(id=1, name="a"))
        s.commit()
    assert committed(pg, Account.__table__) == 1
    assert prepared_gids(pg) == []


@pytest.mark.postgresql
def test_prepare_then_commit(pg: Any) -> None:
    """prepare() flushes and leaves a prepared transaction visible to the server;
    commit() finishes it."""
    with Session(pg, twophase=True) as s:
        s.add(Account(id=1, name="a"))
        s.prepare()
        gids = prepared_gids(pg)
        assert len(gids) == 1
        assert committed(pg, Account.__table__) == 0  # not visible before phase two
        with pytest.raises(exc.InvalidRequestError, match="'prepared' state"):
            s.execute(select(Account))
        s.commit()
    assert prepared_gids(pg) == []
    assert committed(pg, Account.__table__) == 1


@pytest.mark.postgresql
def test_prepare_then_rollback(pg: Any) -> None:
    """rollback() after prepare() discards the prepared transaction and its pending objects."""
    with Session(pg, twophase=True) as s:
        a = Account(id=1, name="a")
        s.add(a)
        s.prepare()
        assert len(prepared_gids(pg)) == 1
        s.rollback()
        assert a not in s
    assert prepared_gids(pg) == []
    assert committed(pg, Account.__table__) == 0


@pytest.mark.postgresql
def test_twophase_across_two_databases(pg: Any, pg2: Any) -> None:
    """binds to two databases: both are prepared, then both committed."""
    s = Session(binds={Account: pg, Entry: pg2}, twophase=True)
    s.add(Account(id=1, name="a"))
    s.add(Entry(id=1, memo="e"))
    s.prepare()
    assert len(prepared_gids(pg)) == 1 and len(prepared_gids(pg2)) == 1
    s.commit()
    s.close()
    assert committed(pg, Account.__table__) == 1
    assert committed(pg2, Entry.__table__) == 1
    assert prepared_gids(pg) == [] and prepared_gids(pg2) == []


@pytest.mark.postgresql
def test_prepare_requires_twophase(pg: Any) -> None:
    """prepare() on an ordinary session is an InvalidRequestError saying why."""
    with Session(pg) as s:
        s.add(Account(id=1, name="a"))
        with pytest.raises(exc.InvalidRequestError, match="'twophase' mode not enabled"):
            s.prepare()


@pytest.mark.postgresql
def test_prepare_inside_savepoint_refused(pg: Any) -> None:
    """prepare() while a SAVEPOINT is current is refused (only the root prepares)."""
    with Session(pg, twophase=True) as s:
        s.begin_nested()
        with pytest.raises(exc.InvalidRequestError, match="not root transaction"):
            s.prepare()
        s.rollback()
    assert prepared_gids(pg) == []


def test_twophase_on_sqlite_is_a_clear_error(tmp_path: Path) -> None:
    """SQLite has no two-phase commit: the first use says so and names the fix."""
    eng = create_engine(f"sqlite:///{tmp_path / 'tpc.db'}")
    try:
        Base.metadata.create_all(eng)
        s = Session(eng, twophase=True)
        s.add(Account(id=1, name="a"))
        with pytest.raises(exc.InvalidRequestError, match="two-phase") as ei:
            s.commit()
        assert "sqlite" in str(ei.value) and "twophase=False" in str(ei.value)
        s.close()
        with Session(eng) as plain:  # the engine is unharmed
            plain.add(Account(id=1, name="a"))
            plain.commit()
            assert plain.scalar(select(func.count()).select_from(Account)) == 1
    finally:
        eng.dispose()
