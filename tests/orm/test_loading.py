"""Loading rows into objects: ORM selects of entities and columns, joins,
outer joins, the identity map on load, populate_existing, yield_per
streaming, result processors and compiled-statement reuse."""

from __future__ import annotations

import datetime
import gc
from typing import Any

import pytest

from docket import ForeignKey, String, event, func, inspect, select
from docket.engine.result import ChunkedIteratorResult
from docket.orm import DeclarativeBase, Mapped, Session, mapped_column


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "load_users"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(30))
    active: Mapped[bool] = mapped_column(default=True)
    joined: Mapped[datetime.datetime | None]


class Address(Base):
    __tablename__ = "load_addresses"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("load_users.id"))
    email: Mapped[str] = mapped_column(String(50))


class Pair(Base):
    __tablename__ = "load_pairs"
    a: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    b: Mapped[str] = mapped_column(String(5), primary_key=True)
    v: Mapped[str | None] = mapped_column(String(10))


JOINED = datetime.datetime(2020, 1, 2, 3, 4, 5)


class Statements:
    """Counts the SELECTs ``engine`` executes."""

    def __init__(self, engine: Any) -> None:
        self.selects = 0
        event.listen(engine, "before_cursor_execute", self._on)

    def _on(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            self.selects += 1


@pytest.fixture
def session(engine: Any) -> Any:
    Base.metadata.create_all(engine)
    with Session(engine) as s:
        s.add_all([User(id=1, name="ann", active=True, joined=JOINED),
                   User(id=2, name="bob", active=False),
                   User(id=3, name="cy")])
        s.flush()
        s.add_all([Address(id=10, user_id=1, email="ann@a"),
                   Address(id=11, user_id=1, email="ann@b"),
                   Address(id=12, user_id=2, email="bob@a")])
        s.add_all([Pair(a=1, b="x", v="1x"), Pair(a=1, b="y", v="1y")])
        s.commit()
        s.expunge_all()
        yield s


def test_select_entity_returns_objects(session: Session) -> None:
    """select(User) loads persistent objects with their column values converted."""
    users = session.scalars(select(User).order_by(User.id)).all()
    assert [(u.id, u.name, u.active) for u in users] == [
        (1, "ann", True), (2, "bob", False), (3, "cy", True)]
    assert users[0].joined == JOINED and users[1].joined is None
    assert type(users[0].active) is bool
    st = inspect(users[0])
    assert st.persistent and st.session is session and st.key == (User, (1,), None)
    assert st.modified is False and st.committed_state is None


def test_entity_rows_and_result_methods(session: Session) -> None:
    """A one-entity result gives Rows (attribute, index and mapping access)
    and supports first/one/scalar_one/mappings."""
    stmt = select(User).where(User.id == 1)
    row = session.execute(stmt).one()
    assert row.User is row[0] and row._mapping["User"] is row[0] and row[0].name == "ann"
    assert session.execute(stmt).first()[0] is row[0]
    assert session.execute(stmt).scalar_one() is row[0]
    assert session.execute(stmt).mappings().one() == {"User": row[0]}
    assert list(session.execute(select(User).order_by(User.id)).keys()) == ["User"]
    assert [r[0].id for r in session.execute(select(User).order_by(User.id))] == [1, 2, 3]


def test_identity_map_returns_same_object(session: Session, engine: Any) -> None:
    """Rows for one identity give one object; get() then emits no SQL."""
    a = session.scalars(select(User).where(User.name == "ann")).one()
    b = session.scalars(select(User).order_by(User.id)).first()
    assert a is b
    counter = Statements(engine)
    assert session.get(User, 1) is a
    assert counter.selects == 0


def test_select_columns(session: Session) -> None:
    """select(User.name) returns column values; labels keep their names."""
    rows = session.execute(select(User.name).order_by(User.name.desc())).all()
    assert [tuple(r) for r in rows] == [("cy",), ("bob",), ("ann",)]
    assert session.scalars(select(User.joined).where(User.id == 1)).one() == JOINED
    row = session.execute(select(User.name, func.count(Address.id).label("n"))
                          .join(Address, Address.user_id == User.id)
                          .group_by(User.name).order_by(User.name)).all()
    assert [(r.name, r.n) for r in row] == [("ann", 2), ("bob", 1)]


def test_two_entities_and_mixed_columns(session: Session) -> None:
    """select(User, Address) and select(User.id, User) give tuples of entities
    and values with SQLAlchemy's keys."""
    rows = session.execute(
        select(User, Address).join(Address, Address.user_id == User.id)
        .order_by(Address.id)).all()
    assert [(u.id, a.email) for u, a in rows] == [(1, "ann@a"), (1, "ann@b"), (2, "bob@a")]
    assert rows[0].User is rows[1].User
    assert rows[0].Address.user_id == 1
    mixed = session.execute(select(User.id, User).where(User.id < 3).order_by(User.id)).all()
    assert [(i, u.name) for i, u in mixed] == [(1, "ann"), (2, "bob")]
    assert list(session.execute(select(User.id, User)).keys()) == ["id", "User"]


def test_where_order_limit_offset(session: Session) -> None:
    """where / order_by / limit / offset work through mapped attributes."""
    stmt = select(User).where(User.name != "bob").order_by(User.id.desc()).limit(1)
    assert [u.name for u in session.scalars(stmt)] == ["cy"]
    stmt = select(User).order_by(User.id).offset(1).limit(5)
    assert [u.id for u in session.scalars(stmt)] == [2, 3]
    assert [u.id for u in session.scalars(select(User).filter_by(name="bob"))] == [2]


def test_outer_join_null_entity_is_none(session: Session) -> None:
    """An outer-join row without a match gives None for that entity."""
    rows = session.execute(
        select(User, Address).outerjoin(Address, Address.user_id == User.id)
        .order_by(User.id, Address.id)).all()
    assert [(u.id, a.id if a else None) for u, a in rows] == [
        (1, 10), (1, 11), (2, 12), (3, None)]


def test_composite_key_entities(session: Session, engine: Any) -> None:
    """Objects with a composite key load into the identity map by the key tuple."""
    pairs = session.scalars(select(Pair).order_by(Pair.b)).all()
    assert [(p.a, p.b, p.v) for p in pairs] == [(1, "x", "1x"), (1, "y", "1y")]
    assert inspect(pairs[1]).key == (Pair, (1, "y"), None)
    counter = Statements(engine)
    assert session.get(Pair, (1, "x")) is pairs[0]
    assert counter.selects == 0


def test_pending_changes_survive_reload(session: Session) -> None:
    """A query never overwrites an unflushed change of an object already loaded."""
    with session.no_autoflush:
        u = session.get(User, 1)
        u.name = "changed"
        again = session.scalars(select(User).where(User.id == 1)).one()
        assert again is u and u.name == "changed"
        assert inspect(u).committed_state == {"name": "ann"}


def test_populate_existing_overwrites(session: Session) -> None:
    """execution_options(populate_existing=True) reloads loaded objects,
    discarding their unflushed changes."""
    with session.no_autoflush:
        u = session.get(User, 1)
        u.name = "changed"
        stmt = select(User).where(User.id == 1).execution_options(populate_existing=True)
        assert session.scalars(stmt).one() is u
    assert u.name == "ann"
    assert inspect(u).modified is False and not session.is_modified(u)


def test_query_refreshes_expired_object(session: Session, engine: Any) -> None:
    """A row for an expired object fills its attributes without another SELECT."""
    u = session.get(User, 2)
    session.expire(u)
    session.scalars(select(User)).all()
    counter = Statements(engine)
    assert (u.name, u.active) == ("bob", False)
    assert counter.selects == 0 and inspect(u).expired_attributes == set()


def test_yield_per_streams_in_batches(session: Session, engine: Any) -> None:
    """execution_options(yield_per=N) fetches and builds N objects at a time."""
    with Session(engine) as s:
        s.add_all([User(id=100 + i, name=f"u{i}") for i in range(25)])
        s.commit()
    gc.collect()
    stmt = select(User).where(User.id >= 100).order_by(User.id).execution_options(yield_per=10)
    result = session.execute(stmt)
    assert isinstance(result, ChunkedIteratorResult)
    parts = result.scalars().partitions()
    first = next(parts)
    assert [u.id for u in first] == list(range(100, 110))
    assert len(session.identity_map) <= 10  # only this batch was built so far
    rest = [u.id for part in parts for u in part]
    assert rest == list(range(110, 125))
    assert [len(p) for p in session.scalars(stmt).partitions()] == [10, 10, 5]


def test_repeated_query_reuses_compiled_statement(session: Session, engine: Any) -> None:
    """The same ORM select shape with other values hits the engine's compiled cache."""
    cache = engine._compiled_cache
    session.scalars(select(User).where(User.id == 1)).one()
    hits, misses = cache.hits, cache.misses
    for ident in (2, 3, 1):
        session.scalars(select(User).where(User.id == ident)).one()
    assert cache.misses == misses
    assert cache.hits == hits + 3


def test_loaded_objects_are_held_weakly(session: Session) -> None:
    """Unreferenced clean objects leave the identity map."""
    session.scalars(select(User)).all()
    gc.collect()
    assert len(session.identity_map) == 0
    keep = session.scalars(select(User)).all()
    assert len(session.identity_map) == 3 and len(keep) == 3


def test_single_entity_result_views(session: Session) -> None:
    """freeze(), unique(), columns() and fetchone/fetchmany work on a
    one-entity result (whose raw rows are the objects themselves)."""
    stmt = select(User).order_by(User.id)
    users = session.scalars(stmt).all()
    frozen = session.execute(stmt).freeze()
    assert [r[0] for r in frozen().all()] == users
    assert frozen().scalars().all() == users
    assert session.execute(stmt).columns("User").scalars().all() == users
    assert [r[0] for r in session.execute(stmt).unique().all()] == users
    result = session.execute(stmt)
    assert result.fetchone()[0] is users[0]
    assert [r.User for r in result.fetchmany(5)] == users[1:]
    assert result.fetchone() is None
