"""Relationship attributes inside SQL: joins along relationships (inner, outer,
many-to-many, self-referential), ``any()`` / ``has()`` / ``contains()`` / comparison
to an object, and ``aliased()`` entities joined with ``of_type()``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from docket import Column, ForeignKey, String, Table, event, func, insert, select
from docket.orm import DeclarativeBase, Mapped, Session, aliased, mapped_column, relationship
from docket.testing import Recorder


class Base(DeclarativeBase):
    pass


user_keyword = Table(
    "rq_user_keyword", Base.metadata,
    Column("user_id", ForeignKey("rq_users.id"), primary_key=True),
    Column("keyword_id", ForeignKey("rq_keywords.id"), primary_key=True))


class Keyword(Base):
    __tablename__ = "rq_keywords"
    id: Mapped[int] = mapped_column(primary_key=True)
    word: Mapped[str] = mapped_column(String(20))


class Address(Base):
    __tablename__ = "rq_addresses"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("rq_users.id"))
    email: Mapped[str] = mapped_column(String(30))
    user: Mapped[User | None] = relationship(back_populates="addresses")


class User(Base):
    __tablename__ = "rq_users"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(20))
    manager_id: Mapped[int | None] = mapped_column(ForeignKey("rq_users.id"))
    manager: Mapped[User | None] = relationship(back_populates="reports", remote_side=[id])
    reports: Mapped[list[User]] = relationship(back_populates="manager")
    addresses: Mapped[list[Address]] = relationship(back_populates="user", order_by=Address.id)
    keywords: Mapped[list[Keyword]] = relationship(secondary=user_keyword)


def _fk_on(dbapi_connection: Any, record: Any) -> None:
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def seed(engine: Any) -> None:
    """ann manages bob and cat; bob manages dan. ann: 2 addresses, bob: 1; address 4 has
    no user. Keywords: ann red; bob red, blue."""
    with engine.begin() as conn:
        for row in ({"id": 1, "name": "ann", "manager_id": None},
                    {"id": 2, "name": "bob", "manager_id": 1},
                    {"id": 3, "name": "cat", "manager_id": 1},
                    {"id": 4, "name": "dan", "manager_id": 2}):
            conn.execute(insert(User.__table__), row)
        conn.execute(insert(Address.__table__), [
            {"id": 1, "user_id": 1, "email": "ann@a"},
            {"id": 2, "user_id": 1, "email": "ann@b"},
            {"id": 3, "user_id": 2, "email": "bob@x"},
            {"id": 4, "user_id": None, "email": "orphan@x"}])
        conn.execute(insert(Keyword.__table__), [{"id": 1, "word": "red"},
                                                 {"id": 2, "word": "blue"}])
        conn.execute(insert(user_keyword), [
            {"user_id": 1, "keyword_id": 1}, {"user_id": 2, "keyword_id": 1},
            {"user_id": 2, "keyword_id": 2}])


@pytest.fixture
def db(recorded_engine: tuple[Any, Recorder], backend: Any) -> Iterator[tuple[Any, Recorder]]:
    """(engine, recorder) with foreign keys enforced on every backend and seed data."""
    engine, recorder = recorded_engine
    if backend.is_sqlite:
        event.listen(engine, "connect", _fk_on)
        engine.dispose()  # later connections run the pragma; memory DB starts over
        Base.metadata.create_all(engine)
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    seed(engine)
    recorder.clear()
    yield engine, recorder


@pytest.fixture
def s(db: tuple[Any, Recorder]) -> Iterator[Session]:
    """A Session on the seeded engine."""
    with Session(db[0]) as session:
        yield session


def sql(calls: Any) -> list[str]:
    """The statements in ``calls`` other than transaction control."""
    return [c.sql for c in calls.without_transaction_control()]


def names(s: Session, stmt: Any) -> list[str]:
    """Names of the users ``stmt`` returns, in order."""
    return [u.name for u in s.scalars(stmt)]


# --- joins along relationships ------------------------------------------------------------------

def test_join_one_to_many(s: Session, db: Any) -> None:
    """select(User.name, Address.email).join(User.addresses): one row per pair, ON from FK."""
    _, recorder = db
    with recorder.capture() as calls:
        rows = s.execute(select(User.name, Address.email).join(User.addresses)
                         .order_by(Address.id)).all()
    [stmt] = sql(calls)
    assert " JOIN " in stmt.upper() and "OUTER" not in stmt.upper()
    assert [tuple(r) for r in rows] == [("ann", "ann@a"), ("ann", "ann@b"), ("bob", "bob@x")]


def test_join_entity_repeats_parent_per_child(s: Session) -> None:
    """select(User).join(User.addresses) returns a user once per matching address."""
    got = names(s, select(User).join(User.addresses).order_by(Address.id))
    assert got == ["ann", "ann", "bob"]


def test_join_with_where_on_target(s: Session) -> None:
    """Filtering on the joined entity's columns selects the right parents."""
    stmt = select(User).join(User.addresses).where(Address.email == "bob@x")
    assert names(s, stmt) == ["bob"]


def test_join_many_to_one(s: Session) -> None:
    """select(Address).join(Address.user).where(User.name == "ann") gives ann's addresses."""
    stmt = select(Address).join(Address.user).where(User.name == "ann").order_by(Address.id)
    assert [a.id for a in s.scalars(stmt)] == [1, 2]


def test_join_to_entity_infers_on_clause(s: Session) -> None:
    """select(User).join(Address) infers the ON clause from the single foreign key."""
    stmt = select(User).join(Address).where(Address.email == "ann@b")
    assert names(s, stmt) == ["ann"]


def test_outerjoin_keeps_parents_without_children(s: Session, db: Any) -> None:
    """outerjoin(User.addresses): childless users appear with NULL address columns."""
    _, recorder = db
    with recorder.capture() as calls:
        rows = s.execute(select(User.name, Address.email).outerjoin(User.addresses)
                         .order_by(User.id, Address.id)).all()
    assert "LEFT OUTER JOIN" in sql(calls)[0].upper()
    assert [tuple(r) for r in rows] == [("ann", "ann@a"), ("ann", "ann@b"), ("bob", "bob@x"),
                                        ("cat", None), ("dan", None)]


def test_outerjoin_with_is_none_finds_childless(s: Session) -> None:
    """outerjoin + Address.id IS NULL selects the users without addresses."""
    stmt = (select(User).outerjoin(User.addresses).where(Address.id.is_(None))
            .order_by(User.id))
    assert names(s, stmt) == ["cat", "dan"]


def test_join_many_to_many(s: Session) -> None:
    """join(User.keywords) goes through the secondary table."""
    rows = s.execute(select(User.name, Keyword.word).join(User.keywords)
                     .order_by(User.id, Keyword.id)).all()
    assert [tuple(r) for r in rows] == [("ann", "red"), ("bob", "red"), ("bob", "blue")]


def test_join_count(s: Session) -> None:
    """select(func.count()).select_from(User).join(User.addresses) counts joined rows."""
    assert s.scalar(select(func.count()).select_from(User).join(User.addresses)) == 3


def test_legacy_query_join(s: Session) -> None:
    """session.query(User).join(User.addresses).filter(...) works like select()."""
    got = s.query(User).join(User.addresses).filter(Address.email.like("ann%")).distinct().all()
    assert [u.name for u in got] == ["ann"]


# --- any / has / contains / == ------------------------------------------------------------------

def test_any_with_criterion(s: Session, db: Any) -> None:
    """where(User.addresses.any(Address.email == "bob@x")) is an EXISTS subquery."""
    _, recorder = db
    with recorder.capture() as calls:
        got = names(s, select(User).where(User.addresses.any(Address.email == "bob@x")))
    assert got == ["bob"]
    assert "EXISTS" in sql(calls)[0].upper()


def test_any_without_criterion(s: Session) -> None:
    """User.addresses.any() selects users having at least one address; ~any() the rest."""
    assert names(s, select(User).where(User.addresses.any()).order_by(User.id)) == ["ann", "bob"]
    assert names(s, select(User).where(~User.addresses.any()).order_by(User.id)) == ["cat", "dan"]


def test_any_many_to_many(s: Session) -> None:
    """User.keywords.any(Keyword.word == "blue") works through the secondary table."""
    assert names(s, select(User).where(User.keywords.any(Keyword.word == "blue"))) == ["bob"]


def test_any_self_referential(s: Session) -> None:
    """User.reports.any(User.name == "dan") finds dan's manager."""
    assert names(s, select(User).where(User.reports.any(User.name == "dan"))) == ["bob"]


def test_has_many_to_one(s: Session) -> None:
    """where(Address.user.has(User.name == "ann")) gives ann's addresses only."""
    stmt = select(Address).where(Address.user.has(User.name == "ann")).order_by(Address.id)
    assert [a.id for a in s.scalars(stmt)] == [1, 2]


def test_has_without_criterion(s: Session) -> None:
    """Address.user.has() excludes the address with no user."""
    stmt = select(Address).where(Address.user.has()).order_by(Address.id)
    assert [a.id for a in s.scalars(stmt)] == [1, 2, 3]


def test_has_self_referential(s: Session) -> None:
    """User.manager.has(User.name == "ann") selects ann's direct reports."""
    stmt = select(User).where(User.manager.has(User.name == "ann")).order_by(User.id)
    assert names(s, stmt) == ["bob", "cat"]


def test_many_to_one_equals_object(s: Session, db: Any) -> None:
    """where(Address.user == ann) compares the FK with ann's key in one statement."""
    _, recorder = db
    ann = s.get(User, 1)
    with recorder.capture() as calls:
        got = [a.id for a in s.scalars(select(Address).where(Address.user == ann)
                                       .order_by(Address.id))]
    assert got == [1, 2]
    assert len(sql(calls)) == 1


def test_many_to_one_equals_none(s: Session) -> None:
    """where(Address.user == None) selects addresses whose key is NULL."""
    stmt = select(Address).where(Address.user == None)  # noqa: E711
    assert [a.id for a in s.scalars(stmt)] == [4]


def test_many_to_one_not_equals_object(s: Session) -> None:
    """where(Address.user != ann) excludes ann's addresses (and keeps NULL-key rows, as SA)."""
    ann = s.get(User, 1)
    stmt = select(Address).where(Address.user != ann).order_by(Address.id)
    assert [a.id for a in s.scalars(stmt)] == [3, 4]


def test_filter_by_relationship(s: Session) -> None:
    """filter_by(user=ann) on a many-to-one compares to the object."""
    ann = s.get(User, 1)
    stmt = select(Address).filter_by(user=ann).order_by(Address.id)
    assert [a.id for a in s.scalars(stmt)] == [1, 2]


def test_self_referential_equals_object(s: Session) -> None:
    """where(User.manager == ann) selects ann's reports."""
    ann = s.get(User, 1)
    assert names(s, select(User).where(User.manager == ann).order_by(User.id)) == ["bob", "cat"]


def test_collection_contains_object(s: Session) -> None:
    """where(User.addresses.contains(addr)) finds the owner of addr."""
    addr = s.get(Address, 3)
    assert names(s, select(User).where(User.addresses.contains(addr))) == ["bob"]


def test_many_to_many_contains_object(s: Session) -> None:
    """where(User.keywords.contains(red)) finds every user tagged red."""
    red = s.get(Keyword, 1)
    stmt = select(User).where(User.keywords.contains(red)).order_by(User.id)
    assert names(s, stmt) == ["ann", "bob"]


def test_relationship_criteria_combine(s: Session) -> None:
    """any() and has() combine with ordinary column criteria."""
    stmt = (select(User).where(User.addresses.any(), User.manager.has(User.name == "ann")))
    assert names(s, stmt) == ["bob"]


# --- aliased ---------------------------------------------------------------------------------------

def test_aliased_entity_returns_mapped_objects(s: Session) -> None:
    """select(aliased(User)) returns User objects, the identity map's instances."""
    u = aliased(User)
    [ann] = s.scalars(select(u).where(u.name == "ann")).all()
    assert type(ann) is User
    assert ann is s.get(User, 1)


def test_self_join_with_alias_and_on_clause(s: Session) -> None:
    """A self-join through an alias and an explicit ON pairs each user with the manager."""
    mgr = aliased(User)
    rows = s.execute(select(User.name, mgr.name).join(mgr, User.manager_id == mgr.id)
                     .order_by(User.id)).all()
    assert [tuple(r) for r in rows] == [("bob", "ann"), ("cat", "ann"), ("dan", "bob")]


def test_self_join_via_of_type(s: Session) -> None:
    """join(User.manager.of_type(mgr)) self-joins along the relationship."""
    mgr = aliased(User)
    stmt = (select(User).join(User.manager.of_type(mgr)).where(mgr.name == "bob"))
    assert names(s, stmt) == ["dan"]


def test_two_level_self_join(s: Session) -> None:
    """Two aliases walk two levels of reports: ann -> bob -> dan."""
    r1, r2 = aliased(User), aliased(User)
    rows = s.execute(select(User.name, r1.name, r2.name)
                     .join(User.reports.of_type(r1)).join(r1.reports.of_type(r2))).all()
    assert [tuple(r) for r in rows] == [("ann", "bob", "dan")]


def test_select_both_sides_of_self_join(s: Session) -> None:
    """select(User, mgr) yields (User, User) rows; each object is the identity-map one."""
    mgr = aliased(User)
    rows = s.execute(select(User, mgr).join(User.manager.of_type(mgr)).order_by(User.id)).all()
    assert [(a.name, b.name) for a, b in rows] == [("bob", "ann"), ("cat", "ann"), ("dan", "bob")]
    assert rows[0][1] is rows[1][1] is s.get(User, 1)


def test_aliased_target_via_of_type(s: Session) -> None:
    """join(User.addresses.of_type(adr)) joins to the alias; its columns filter."""
    adr = aliased(Address)
    rows = s.execute(select(User.name, adr.email).join(User.addresses.of_type(adr))
                     .where(adr.email.like("ann%")).order_by(adr.id)).all()
    assert [tuple(r) for r in rows] == [("ann", "ann@a"), ("ann", "ann@b")]


def test_two_aliases_of_same_target(s: Session) -> None:
    """Two aliases of Address find users having both e-mail addresses."""
    a1, a2 = aliased(Address), aliased(Address)
    stmt = (select(User).join(User.addresses.of_type(a1)).join(User.addresses.of_type(a2))
            .where(a1.email == "ann@a", a2.email == "ann@b"))
    assert names(s, stmt) == ["ann"]


def test_join_from_alias_relationship(s: Session) -> None:
    """An alias's relationship attribute joins like the class's: aliased(User).addresses."""
    u = aliased(User)
    stmt = select(u).join(u.addresses).where(Address.email == "bob@x")
    assert names(s, stmt) == ["bob"]


def test_any_on_alias(s: Session) -> None:
    """any() on an aliased entity's relationship correlates to the alias."""
    u = aliased(User)
    stmt = select(u.name).where(u.addresses.any(Address.email == "ann@b"))
    assert s.scalars(stmt).all() == ["ann"]


def test_named_alias_appears_in_sql(s: Session, db: Any) -> None:
    """aliased(User, name="boss") renders the given alias name."""
    _, recorder = db
    boss = aliased(User, name="boss")
    with recorder.capture() as calls:
        rows = s.execute(select(User.name).join(boss, User.manager_id == boss.id)
                         .where(boss.name == "ann").order_by(User.id)).all()
    assert [r[0] for r in rows] == ["bob", "cat"]
    assert "boss" in sql(calls)[0]



def test_select_two_entities_joined(s: Session) -> None:
    """select(User, Address).join(User.addresses) yields (User, Address) pairs."""
    rows = s.execute(select(User, Address).join(User.addresses).order_by(Address.id)).all()
    assert [(u.name, a.email) for u, a in rows] == [
        ("ann", "ann@a"), ("ann", "ann@b"), ("bob", "bob@x")]
    assert rows[0][0] is rows[1][0]


def test_join_chain_across_relationships(s: Session) -> None:
    """Address -> user -> manager: addresses whose owner's manager is ann."""
    mgr = aliased(User)
    stmt = (select(Address).join(Address.user).join(User.manager.of_type(mgr))
            .where(mgr.name == "ann"))
    assert [a.email for a in s.scalars(stmt)] == ["bob@x"]


def test_outerjoin_self_referential_alias(s: Session) -> None:
    """outerjoin(User.manager.of_type(mgr)) keeps the user without a manager."""
    mgr = aliased(User)
    rows = s.execute(select(User.name, mgr.name).outerjoin(User.manager.of_type(mgr))
                     .order_by(User.id)).all()
    assert [tuple(r) for r in rows] == [("ann", None), ("bob", "ann"), ("cat", "ann"),
                                        ("dan", "bob")]


def test_not_any_many_to_many(s: Session) -> None:
    """~User.keywords.any() selects the users without keywords."""
    assert names(s, select(User).where(~User.keywords.any()).order_by(User.id)) == ["cat", "dan"]


def test_has_on_aliased_entity(s: Session) -> None:
    """aliased(Address).user.has(...) correlates to the alias."""
    adr = aliased(Address)
    stmt = select(adr.email).where(adr.user.has(User.name == "bob"))
    assert s.scalars(stmt).all() == ["bob@x"]



def test_any_and_has_with_keyword_criteria(s: Session) -> None:
    """any(email=...) and has(name=...) accept keyword criteria like filter_by."""
    assert names(s, select(User).where(User.addresses.any(email="bob@x"))) == ["bob"]
    stmt = select(Address.id).where(Address.user.has(name="ann")).order_by(Address.id)
    assert s.scalars(stmt).all() == [1, 2]


def test_any_via_of_type_alias(s: Session) -> None:
    """User.addresses.of_type(alias).any(alias.email == ...) filters through the alias."""
    adr = aliased(Address)
    stmt = select(User).where(User.addresses.of_type(adr).any(adr.email == "ann@b"))
    assert names(s, stmt) == ["ann"]
