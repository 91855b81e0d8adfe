"""One Session over several databases: ``binds`` by mapper, base class and
table, ``bind_mapper`` / ``bind_table``, ``get_bind`` overrides, a transaction
spanning two engines, and two-phase commit across two PostgreSQL databases."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from docket import Column, Integer, MetaData, String, Table, create_engine, exc, insert, select
from docket.orm import DeclarativeBase, Mapped, Session, mapped_column


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "md_users"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(30))


class Account(Base):
    __tablename__ = "md_accounts"
    id: Mapped[int] = mapped_column(primary_key=True)
    owner: Mapped[str] = mapped_column(String(30))


class OtherBase(DeclarativeBase):
    pass


class Log(OtherBase):
    __tablename__ = "md_logs"
    id: Mapped[int] = mapped_column(primary_key=True)
    line: Mapped[str] = mapped_column(String(50))


audit_md = MetaData()
audit = Table("md_audit", audit_md, Column("id", Integer, primary_key=True),
              Column("what", String(50)))


def _create(eng: Any) -> Any:
    for md in (Base.metadata, OtherBase.metadata, audit_md):
        md.create_all(eng)
    return eng


@pytest.fixture
def engines(backend: Any, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Any]:
    """Three independent databases of the backend under test (on PostgreSQL the
    third is a SQLite file: one session may span dialects)."""
    if backend.is_postgresql:
        pg = request.getfixturevalue("pg_server")
        pg.reset_schema()
        pg.reset_schema("docket_test2")
        urls = [pg.url(), pg.url("docket_test2"), f"sqlite:///{tmp_path / 'c.db'}"]
    elif backend.name == "sqlite-memory":
        urls = ["sqlite://", "sqlite://", "sqlite://"]
    else:
        urls = [f"sqlite:///{tmp_path / n}.db" for n in "abc"]
    engs = [_create(create_engine(u)) for u in urls]
    try:
        yield engs
    finally:
        for e in engs:
            e.dispose()


def _rows(eng: Any, table: Any) -> list[tuple[Any, ...]]:
    with eng.connect() as conn:
        return [tuple(r) for r in conn.execute(select(table).order_by(table.c.id))]


def test_binds_by_mapper_base_and_table(engines: Any) -> None:
    """binds route by mapped class, then base class, then table."""
    e1, e2, e3 = engines
    with Session(binds={User: e1, Account: e2, OtherBase: e2, audit: e3}) as s:
        assert s.get_bind(User) is e1
        assert s.get_bind(User.__mapper__) is e1
        assert s.get_bind(Account) is e2
        assert s.get_bind(Log) is e2  # via the base class
        assert s.get_bind(clause=select(audit)) is e3
        s.add_all([User(id=1, name="u"), Account(id=1, owner="a"), Log(id=1, line="l")])
        s.execute(insert(audit).values(id=1, what="w"))
        s.commit()
    assert _rows(e1, User.__table__) == [(1, "u")] and _rows(e2, User.__table__) == []
    assert _rows(e2, Account.__table__) == [(1, "a")] and _rows(e1, Account.__table__) == []
    assert _rows(e2, Log.__table__) == [(1, "l")]
    assert _rows(e3, audit) == [(1, "w")] and _rows(e1, audit) == []


def test_binds_by_table_for_mapped_class(engines: Any) -> None:
    """A bind on a mapped class's table routes that class's ORM work."""
    e1, e2, _ = engines
    with Session(e1, binds={Account.__table__: e2}) as s:
        s.add_all([User(id=1, name="u"), Account(id=7, owner="a")])
        s.commit()
        assert s.get(Account, 7).owner == "a"
        assert s.scalars(select(Account.owner)).all() == ["a"]
    assert _rows(e2, Account.__table__) == [(7, "a")] and _rows(e1, Account.__table__) == []
    assert _rows(e1, User.__table__) == [(1, "u")]


def test_mapper_bind_wins_over_session_bind(engines: Any) -> None:
    """Queries of a class bound elsewhere read from its own database."""
    e1, e2, _ = engines
    with e2.begin() as conn:
        conn.execute(insert(User.__table__).values(id=5, name="on-e2"))
    with Session(e1, binds={User: e2}) as s:
        assert [u.name for u in s.scalars(select(User))] == ["on-e2"]
        assert s.query(User).get(5).name == "on-e2"
        assert s.connection(bind_arguments={"mapper": User}).engine is e2


def test_bind_mapper_and_bind_table(engines: Any) -> None:
    """bind_mapper()/bind_table() add routes after construction."""
    e1, e2, e3 = engines
    s = Session()
    s.bind_mapper(User, e1)
    s.bind_mapper(Account.__mapper__, e2)
    s.bind_table(audit, e3)
    assert s.get_bind(User) is e1 and s.get_bind(Account) is e2
    assert s.get_bind(clause=audit.insert()) is e3
    with pytest.raises(exc.UnboundExecutionError, match="Log"):
        s.get_bind(Log)
    s.close()


def test_unbound_error() -> None:
    """A session with no bind at all says how to configure one."""
    with Session() as s, pytest.raises(exc.UnboundExecutionError, match="bind"):
        s.execute(select(User))


def test_one_transaction_two_engines(engines: Any) -> None:
    """A session transaction spanning two engines commits both, or rolls back both."""
    e1, e2, _ = engines
    with Session(binds={User: e1, Account: e2}) as s:
        s.add_all([User(id=1, name="u1"), Account(id=1, owner="a1")])
        s.flush()
        txn = s.get_transaction()
        assert txn is not None and len(txn._connections) == 2
        s.rollback()
        assert _rows(e1, User.__table__) == [] and _rows(e2, Account.__table__) == []
        s.add_all([User(id=2, name="u2"), Account(id=2, owner="a2")])
        s.commit()
    assert _rows(e1, User.__table__) == [(2, "u2")]
    assert _rows(e2, Account.__table__) == [(2, "a2")]


def test_get_bind_override_routes(engines: Any) -> None:
    """A get_bind() override routes writes (flushes, DML) and reads separately."""
    leader, follower, _ = engines
    calls: list[str] = []

    class RoutingSession(Session):
        def get_bind(self, mapper: Any = None, *, clause: Any = None, **kw: Any) -> Any:
            is_write = self._flushing or (clause is not None and not getattr(
                clause, "is_select", False))
            calls.append("leader" if is_write else "follower")
            return leader if is_write else follower

    with follower.begin() as conn:
        conn.execute(insert(User.__table__).values(id=100, name="replica-only"))
    with RoutingSession() as s:
        s.add(User(id=1, name="new"))
        s.commit()
        assert [u.name for u in s.scalars(select(User))] == ["replica-only"]
    assert _rows(leader, User.__table__) == [(1, "new")]
    assert "leader" in calls and "follower" in calls


def test_get_bind_receives_bind_arguments(engines: Any) -> None:
    """Extra bind_arguments reach get_bind (shard selection)."""
    e1, e2, _ = engines
    shards = {"a": e1, "b": e2}

    class ShardSession(Session):
        def get_bind(self, mapper: Any = None, *, clause: Any = None,
                     shard_id: str = "a", **kw: Any) -> Any:
            return shards[shard_id]

    with e2.begin() as conn:
        conn.execute(insert(User.__table__).values(id=3, name="in-b"))
    with ShardSession() as s:
        assert s.scalars(select(User.name), bind_arguments={"shard_id": "b"}).all() == ["in-b"]
        assert s.scalars(select(User.name), bind_arguments={"shard_id": "a"}).all() == []


def test_twophase_sqlite_rejected(tmp_path: Path) -> None:
    """twophase=True on SQLite fails clearly at the first connection."""
    eng = _create(create_engine(f"sqlite:///{tmp_path / 'tp.db'}"))
    try:
        with Session(eng, twophase=True) as s, pytest.raises(
                exc.InvalidRequestError, match="two-phase"):
            s.connection()
    finally:
        eng.dispose()


@pytest.fixture
def pg_pair(pg_server: Any) -> Iterator[tuple[Any, Any]]:
    engs = []
    for name in (None, "docket_test2"):
        pg_server.reset_schema(name)
        engs.append(_create(create_engine(pg_server.url(name))))
    try:
        yield engs[0], engs[1]
    finally:
        for e in engs:
            e.dispose()


def _prepared(eng: Any) -> int:
    from docket import text

    with eng.connect() as conn:
        return int(conn.scalar(text(
            "SELECT count(*) FROM pg_prepared_xacts WHERE database = current_database()")))


@pytest.mark.postgresql
def test_twophase_two_postgresql_databases(pg_pair: Any) -> None:
    """prepare() prepares on both databases; commit() commits both."""
    e1, e2 = pg_pair
    with Session(binds={User: e1, Account: e2}, twophase=True) as s:
        s.add_all([User(id=1, name="u"), Account(id=1, owner="a")])
        s.prepare()
        assert _prepared(e1) == 1 and _prepared(e2) == 1
        s.commit()
    assert _prepared(e1) == 0 and _prepared(e2) == 0
    assert _rows(e1, User.__table__) == [(1, "u")]
    assert _rows(e2, Account.__table__) == [(1, "a")]


@pytest.mark.postgresql
def test_twophase_rollback_after_prepare(pg_pair: Any) -> None:
    """rollback() after prepare() rolls back the prepared work on both databases."""
    e1, e2 = pg_pair
    with Session(binds={User: e1, Account: e2}, twophase=True) as s:
        s.add_all([User(id=1, name="u"), Account(id=1, owner="a")])
        s.prepare()
        s.rollback()
    assert _prepared(e1) == 0 and _prepared(e2) == 0
    assert _rows(e1, User.__table__) == [] and _rows(e2, Account.__table__) == []


@pytest.mark.postgresql
def test_twophase_commit_without_prepare(pg_pair: Any) -> None:
    """commit() of a twophase session prepares implicitly and commits both databases."""
    e1, e2 = pg_pair
    with Session(binds={User: e1, Account: e2}, twophase=True) as s:
        s.add_all([User(id=2, name="u"), Account(id=2, owner="a")])
        s.commit()
    assert _rows(e1, User.__table__) == [(2, "u")]
    assert _rows(e2, Account.__table__) == [(2, "a")]


def test_mapper_bind_covers_its_table(engines: Any) -> None:
    """Binding a mapped class also routes Core statements on its table."""
    e1, e2, _ = engines
    with Session(e1, binds={User: e2}) as s:
        assert s.get_bind(clause=select(User.__table__)) is e2


def test_bad_bind_key_rejected() -> None:
    """A bind key that is not a class, mapper or table is an ArgumentError."""
    eng = create_engine("sqlite://")
    try:
        with pytest.raises(exc.ArgumentError):
            Session(binds={"users": eng})
    finally:
        eng.dispose()
