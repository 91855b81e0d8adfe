"""Per-query loader options overriding a relationship's default strategy:
selectinload, joinedload, subqueryload, lazyload, raiseload (incl. ``"*"``), noload,
defaultload chains, chains three levels deep, contains_eager after explicit joins,
and the column options defer / undefer / load_only; also through the legacy Query.
Statement counts are exact, through the recording proxy."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import docket.orm
from docket import Column, ForeignKey, String, Text, event, insert, select
from docket.exc import ArgumentError, InvalidRequestError
from docket.orm import (
    DeclarativeBase,
    Mapped,
    Session,
    aliased,
    contains_eager,
    defaultload,
    defer,
    deferred,
    joinedload,
    lazyload,
    load_only,
    mapped_column,
    noload,
    raiseload,
    relationship,
    selectinload,
    subqueryload,
    undefer,
)
from docket.testing import Recorder


class Base(DeclarativeBase):
    pass


class Product(Base):
    __tablename__ = "ro_products"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(20))


class Line(Base):
    __tablename__ = "ro_lines"
    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("ro_orders.id"))
    product_id: Mapped[int] = mapped_column(ForeignKey("ro_products.id"))
    product: Mapped[Product] = relationship()


class Order(Base):
    __tablename__ = "ro_orders"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("ro_users.id"))
    description: Mapped[str] = mapped_column(String(20))
    lines: Mapped[list[Line]] = relationship(order_by=Line.id)


class Address(Base):
    __tablename__ = "ro_addresses"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("ro_users.id"))
    email: Mapped[str] = mapped_column(String(30))
    street: Mapped[str | None] = mapped_column(String(30))
    user: Mapped[User] = relationship(back_populates="addresses")


class User(Base):
    __tablename__ = "ro_users"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(20))
    age: Mapped[int | None]
    bio: Mapped[str | None] = mapped_column(Text, deferred=True)
    notes = deferred(Column(Text))
    addresses: Mapped[list[Address]] = relationship(back_populates="user", order_by=Address.id)
    orders: Mapped[list[Order]] = relationship(order_by=Order.id)


class Entry(Base):
    __tablename__ = "ro_entries"
    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("ro_accounts.id"))


class Account(Base):
    """Eager (joined / selectin) defaults, for options that switch eager loading off."""
    __tablename__ = "ro_accounts"
    id: Mapped[int] = mapped_column(primary_key=True)
    entries: Mapped[list[Entry]] = relationship(lazy="joined", order_by=Entry.id)
    sel_entries: Mapped[list[Entry]] = relationship(
        lazy="selectin", order_by=Entry.id, viewonly=True)
    raise_entries: Mapped[list[Entry]] = relationship(
        lazy="raise", order_by=Entry.id, viewonly=True)


#: user id -> address ids; order id -> [(line id, product name)]
USER_ADDRESSES = {1: [1, 2], 2: [3], 3: []}
USER_ORDERS = {1: [1, 2], 2: [3], 3: []}
ORDER_LINES = {1: [(1, "pen"), (2, "ink")], 2: [], 3: [(3, "pen")]}


def _fk_on(dbapi_connection: Any, record: Any) -> None:
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def seed(engine: Any) -> None:
    with engine.begin() as conn:
        conn.execute(insert(User.__table__), [
            {"id": 1, "name": "ann", "age": 30, "bio": "bio1", "notes": "n1"},
            {"id": 2, "name": "bob", "age": 40, "bio": "bio2", "notes": "n2"},
            {"id": 3, "name": "cat", "age": 50, "bio": None, "notes": None}])
        conn.execute(insert(Address.__table__), [
            {"id": 1, "user_id": 1, "email": "ann@a", "street": "s1"},
            {"id": 2, "user_id": 1, "email": "ann@b", "street": "s2"},
            {"id": 3, "user_id": 2, "email": "bob@x", "street": "s3"}])
        conn.execute(insert(Product.__table__), [{"id": 1, "name": "pen"}, {"id": 2, "name": "ink"}])
        conn.execute(insert(Order.__table__), [
            {"id": 1, "user_id": 1, "description": "o1"},
            {"id": 2, "user_id": 1, "description": "o2"},
            {"id": 3, "user_id": 2, "description": "o3"}])
        conn.execute(insert(Line.__table__), [
            {"id": 1, "order_id": 1, "product_id": 1}, {"id": 2, "order_id": 1, "product_id": 2},
            {"id": 3, "order_id": 3, "product_id": 1}])
        conn.execute(insert(Account.__table__), [{"id": 1}, {"id": 2}])
        conn.execute(insert(Entry.__table__), [{"id": 1, "account_id": 1},
                                               {"id": 2, "account_id": 1}])


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


def selects(calls: Any) -> list[str]:
    """The statements in ``calls``, asserting every one of them is a SELECT."""
    stmts = sql(calls)
    assert all(st.lstrip().upper().startswith(("SELECT", "WITH")) for st in stmts), stmts
    return stmts


def users(s: Session, *options: Any) -> list[User]:
    """All users by id with ``options``, de-duplicated (valid for joined loads)."""
    return list(s.scalars(select(User).options(*options).order_by(User.id)).unique().all())


def addresses_of(us: list[User]) -> dict[int, list[int]]:
    return {u.id: [a.id for a in u.addresses] for u in us}


def order_tree(us: list[User]) -> dict[int, list[tuple[int, list[tuple[int, str]]]]]:
    return {u.id: [(o.id, [(ln.id, ln.product.name) for ln in o.lines]) for o in u.orders]
            for u in us}


EXPECTED_ORDER_TREE = {u: [(o, ORDER_LINES[o]) for o in orders]
                       for u, orders in USER_ORDERS.items()}


# --- eager options over a lazy default ------------------------------------------------------

@pytest.mark.parametrize("option, count", [(selectinload, 2), (joinedload, 1),
                                           (subqueryload, 2)])
def test_eager_option_over_lazy_default(s: Session, db: Any, option: Any, count: int) -> None:
    """selectinload / subqueryload: 2 statements, joinedload: 1; collections then free."""
    _, recorder = db
    with recorder.capture() as calls:
        us = users(s, option(User.addresses))
    assert len(selects(calls)) == count
    with recorder.capture() as calls:
        assert addresses_of(us) == USER_ADDRESSES
    assert sql(calls) == []


def test_without_option_collection_is_lazy(s: Session, db: Any) -> None:
    """Control: with no option the query is 1 statement and each access one more."""
    _, recorder = db
    with recorder.capture() as calls:
        us = users(s)
    assert len(selects(calls)) == 1
    with recorder.capture() as calls:
        assert addresses_of(us) == USER_ADDRESSES
    assert len(selects(calls)) == 3


def test_joinedload_renders_left_outer_join(s: Session, db: Any) -> None:
    """joinedload(User.addresses) is one SELECT with a LEFT OUTER JOIN to addresses."""
    _, recorder = db
    with recorder.capture() as calls:
        users(s, joinedload(User.addresses))
    [stmt] = selects(calls)
    assert "LEFT OUTER JOIN" in stmt.upper() and "ro_addresses" in stmt


def test_joinedload_innerjoin_option_drops_childless_parents(s: Session) -> None:
    """joinedload(..., innerjoin=True) inner-joins, so users without addresses are absent."""
    us = users(s, joinedload(User.addresses, innerjoin=True))
    assert addresses_of(us) == {1: [1, 2], 2: [3]}


def test_selectinload_many_to_one(s: Session, db: Any) -> None:
    """selectinload(Address.user): two statements; every address.user then free."""
    _, recorder = db
    with recorder.capture() as calls:
        addrs = s.scalars(select(Address).options(selectinload(Address.user))
                          .order_by(Address.id)).all()
    assert len(selects(calls)) == 2
    with recorder.capture() as calls:
        assert [a.user.name for a in addrs] == ["ann", "ann", "bob"]
    assert sql(calls) == []
    assert addrs[0].user is addrs[1].user


def test_joinedload_many_to_one(s: Session, db: Any) -> None:
    """joinedload(Address.user): one statement, no unique() needed for a many-to-one."""
    _, recorder = db
    with recorder.capture() as calls:
        addrs = s.scalars(select(Address).options(joinedload(Address.user))
                          .order_by(Address.id)).all()
    assert len(selects(calls)) == 1
    assert [a.user.id for a in addrs] == [1, 1, 2]


def test_two_options_side_by_side(s: Session, db: Any) -> None:
    """selectinload of two relationships: 1 + 1 + 1 statements."""
    _, recorder = db
    with recorder.capture() as calls:
        us = users(s, selectinload(User.addresses), selectinload(User.orders))
    assert len(selects(calls)) == 3
    with recorder.capture() as calls:
        assert addresses_of(us) == USER_ADDRESSES
        assert {u.id: [o.id for o in u.orders] for u in us} == USER_ORDERS
    assert sql(calls) == []


def test_option_loads_relationship_with_raise_default(s: Session, db: Any) -> None:
    """An eager option loads a relationship whose default is lazy="raise"."""
    _, recorder = db
    with recorder.capture() as calls:
        accts = s.scalars(select(Account).options(selectinload(Account.raise_entries))
                          .order_by(Account.id)).unique().all()
    # joined entries in the main SELECT, then selectin sel_entries and raise_entries
    assert len(selects(calls)) == 3
    assert [[e.id for e in a.raise_entries] for a in accts] == [[1, 2], []]


# --- chains ----------------------------------------------------------------------------------

def test_chain_depth_three(s: Session, db: Any) -> None:
    """selectinload(U.orders).selectinload(O.lines).joinedload(L.product): 3 statements."""
    _, recorder = db
    with recorder.capture() as calls:
        us = users(s, selectinload(User.orders).selectinload(Order.lines)
                   .joinedload(Line.product))
    assert len(selects(calls)) == 3
    with recorder.capture() as calls:
        tree = order_tree(us)
    assert sql(calls) == []
    assert tree == EXPECTED_ORDER_TREE


def test_chain_all_joined(s: Session, db: Any) -> None:
    """joinedload chained three deep is a single statement."""
    _, recorder = db
    with recorder.capture() as calls:
        us = users(s, joinedload(User.orders).joinedload(Order.lines).joinedload(Line.product))
    assert len(selects(calls)) == 1
    with recorder.capture() as calls:
        assert order_tree(us) == EXPECTED_ORDER_TREE
    assert sql(calls) == []


def test_chain_subqueryload(s: Session, db: Any) -> None:
    """subqueryload chained two deep: 1 + 1 per level = 3 statements."""
    _, recorder = db
    with recorder.capture() as calls:
        us = users(s, subqueryload(User.orders).subqueryload(Order.lines))
    assert len(selects(calls)) == 3
    with recorder.capture() as calls:
        assert {u.id: [[ln.id for ln in o.lines] for o in u.orders] for u in us} == {
            1: [[1, 2], []], 2: [[3]], 3: []}
    assert sql(calls) == []


def test_chain_mixed_selectin_then_joined(s: Session, db: Any) -> None:
    """selectinload(U.orders).joinedload(O.lines): 2 statements; lines then free."""
    _, recorder = db
    with recorder.capture() as calls:
        us = users(s, selectinload(User.orders).joinedload(Order.lines))
    assert len(selects(calls)) == 2
    with recorder.capture() as calls:
        assert [len(o.lines) for u in us for o in u.orders] == [2, 0, 1]
    assert sql(calls) == []


def test_defaultload_then_selectinload(s: Session, db: Any) -> None:
    """defaultload(U.orders).selectinload(O.lines): lazy orders bring their lines (+1 SELECT)."""
    _, recorder = db
    with recorder.capture() as calls:
        us = users(s, defaultload(User.orders).selectinload(Order.lines))
    assert len(selects(calls)) == 1
    ann = us[0]
    assert "orders" not in ann.__dict__
    with recorder.capture() as calls:
        orders = ann.orders
    assert len(selects(calls)) == 2
    with recorder.capture() as calls:
        assert [[ln.id for ln in o.lines] for o in orders] == [[1, 2], []]
    assert sql(calls) == []


def test_defaultload_keeps_default_strategy(s: Session, db: Any) -> None:
    """defaultload on a joined-default relationship keeps it joined (one statement)."""
    _, recorder = db
    with recorder.capture() as calls:
        accts = s.scalars(select(Account).options(defaultload(Account.entries))
                          .order_by(Account.id)).unique().all()
    assert len(selects(calls)) == 2  # joined entries + selectin sel_entries
    assert [[e.id for e in a.entries] for a in accts] == [[1, 2], []]


# --- lazyload / noload / raiseload ------------------------------------------------------------

def test_lazyload_overrides_joined_default(s: Session, db: Any) -> None:
    """lazyload(Account.entries): no JOIN in the query; the collection loads on access."""
    _, recorder = db
    with recorder.capture() as calls:
        accts = s.scalars(select(Account).options(lazyload(Account.entries),
                                                  lazyload(Account.sel_entries))
                          .order_by(Account.id)).all()
    [stmt] = selects(calls)
    assert "JOIN" not in stmt.upper()
    with recorder.capture() as calls:
        assert [e.id for e in accts[0].entries] == [1, 2]
    assert len(selects(calls)) == 1


def test_lazyload_wildcard(s: Session, db: Any) -> None:
    """lazyload("*") turns every eager default of the entity into lazy loading."""
    _, recorder = db
    with recorder.capture() as calls:
        accts = s.scalars(select(Account).options(lazyload("*")).order_by(Account.id)).all()
    assert len(selects(calls)) == 1
    assert "entries" not in accts[0].__dict__ and "sel_entries" not in accts[0].__dict__


def test_noload_option_gives_empty_collection(s: Session, db: Any) -> None:
    """noload(User.addresses): the collection is empty despite rows, and no SQL is sent."""
    _, recorder = db
    us = users(s, noload(User.addresses))
    with recorder.capture() as calls:
        assert [u.addresses for u in us] == [[], [], []]
    assert sql(calls) == []


def test_noload_overrides_eager_default(s: Session, db: Any) -> None:
    """noload(Account.entries) suppresses the joined default: one statement, empty list."""
    _, recorder = db
    with recorder.capture() as calls:
        accts = s.scalars(select(Account).options(noload(Account.entries),
                                                  noload(Account.sel_entries))
                          .order_by(Account.id)).all()
    [stmt] = selects(calls)
    assert "JOIN" not in stmt.upper()
    assert accts[0].entries == [] and accts[0].sel_entries == []


def test_noload_many_to_one(s: Session) -> None:
    """noload(Address.user) makes the many-to-one None even though the user exists."""
    addrs = s.scalars(select(Address).options(noload(Address.user))).all()
    assert {a.user for a in addrs} == {None}


def test_raiseload_collection(s: Session, db: Any) -> None:
    """raiseload(User.addresses): access raises InvalidRequestError naming it; no SQL."""
    _, recorder = db
    [ann] = s.scalars(select(User).where(User.id == 1).options(raiseload(User.addresses))).all()
    with recorder.capture() as calls:
        with pytest.raises(InvalidRequestError, match="addresses"):
            _ = ann.addresses
    assert sql(calls) == []
    assert [o.id for o in ann.orders] == [1, 2]  # other relationships unaffected


def test_raiseload_many_to_one_raises_even_if_target_loaded(s: Session) -> None:
    """raiseload(Address.user) raises even when the user is in the identity map."""
    s.get(User, 1)
    [a] = s.scalars(select(Address).where(Address.id == 1)
                    .options(raiseload(Address.user))).all()
    with pytest.raises(InvalidRequestError, match="user"):
        _ = a.user


def test_raiseload_sql_only_allows_identity_map(s: Session, db: Any) -> None:
    """raiseload(sql_only=True): identity-map many-to-one works; one needing SQL raises."""
    _, recorder = db
    ann = s.get(User, 1)
    addrs = s.scalars(select(Address).options(raiseload(Address.user, sql_only=True))
                      .order_by(Address.id)).all()
    with recorder.capture() as calls:
        assert addrs[0].user is ann
    assert sql(calls) == []
    with pytest.raises(InvalidRequestError, match="user"):
        _ = addrs[2].user


def test_raiseload_star(s: Session, db: Any) -> None:
    """raiseload("*"): every relationship raises; column attributes still load."""
    _, recorder = db
    [ann] = s.scalars(select(User).where(User.id == 1).options(raiseload("*"))).all()
    assert ann.name == "ann"
    for attr in ("addresses", "orders"):
        with recorder.capture() as calls:
            with pytest.raises(InvalidRequestError, match=attr):
                getattr(ann, attr)
        assert sql(calls) == []


def test_raiseload_star_with_explicit_eager(s: Session, db: Any) -> None:
    """selectinload(U.orders) + raiseload("*"): orders load; addresses and lines raise."""
    _, recorder = db
    with recorder.capture() as calls:
        [ann] = s.scalars(select(User).where(User.id == 1)
                          .options(selectinload(User.orders), raiseload("*"))).all()
    assert len(selects(calls)) == 2
    assert [o.id for o in ann.orders] == [1, 2]
    with pytest.raises(InvalidRequestError, match="addresses"):
        _ = ann.addresses
    with pytest.raises(InvalidRequestError, match="lines"):
        _ = ann.orders[0].lines


# --- contains_eager -----------------------------------------------------------------------------

def test_contains_eager_after_join(s: Session, db: Any) -> None:
    """join(User.addresses) + contains_eager: one statement fills the collections."""
    _, recorder = db
    stmt = (select(User).join(User.addresses).options(contains_eager(User.addresses))
            .order_by(User.id, Address.id))
    with recorder.capture() as calls:
        us = s.scalars(stmt).unique().all()
    assert len(selects(calls)) == 1
    with recorder.capture() as calls:
        assert addresses_of(us) == {1: [1, 2], 2: [3]}
    assert sql(calls) == []


def test_contains_eager_filtered_join_populates_matching_only(s: Session) -> None:
    """A filtered join fills the collection with the matching children only."""
    stmt = (select(User).join(User.addresses).where(Address.email == "ann@b")
            .options(contains_eager(User.addresses)))
    [ann] = s.scalars(stmt).unique().all()
    assert [a.email for a in ann.addresses] == ["ann@b"]


def test_contains_eager_outerjoin_keeps_childless(s: Session) -> None:
    """outerjoin + contains_eager: childless users come back with empty collections."""
    stmt = (select(User).outerjoin(User.addresses).options(contains_eager(User.addresses))
            .order_by(User.id, Address.id))
    us = s.scalars(stmt).unique().all()
    assert addresses_of(us) == USER_ADDRESSES


def test_contains_eager_many_to_one(s: Session, db: Any) -> None:
    """join(Address.user) + contains_eager(Address.user): address.user needs no SQL."""
    _, recorder = db
    stmt = (select(Address).join(Address.user).options(contains_eager(Address.user))
            .order_by(Address.id))
    with recorder.capture() as calls:
        addrs = s.scalars(stmt).all()
        assert [a.user.name for a in addrs] == ["ann", "ann", "bob"]
    assert len(selects(calls)) == 1


def test_contains_eager_with_alias(s: Session, db: Any) -> None:
    """contains_eager(User.addresses.of_type(alias)) after joining to that alias."""
    _, recorder = db
    adr = aliased(Address)
    stmt = (select(User).join(User.addresses.of_type(adr))
            .options(contains_eager(User.addresses.of_type(adr)))
            .order_by(User.id, adr.id))
    with recorder.capture() as calls:
        us = s.scalars(stmt).unique().all()
        assert addresses_of(us) == {1: [1, 2], 2: [3]}
    assert len(selects(calls)) == 1


def test_contains_eager_requires_unique_for_collections(s: Session) -> None:
    """Like joined eager loading, contains_eager of a collection needs .unique()."""
    stmt = select(User).join(User.addresses).options(contains_eager(User.addresses))
    with pytest.raises(InvalidRequestError, match="unique"):
        s.scalars(stmt).all()


# --- columns: defer / undefer / load_only ------------------------------------------------------

def test_deferred_column_loads_on_access(s: Session, db: Any) -> None:
    """A deferred column is absent after the query and loads with one SELECT on access."""
    _, recorder = db
    [ann] = s.scalars(select(User).where(User.id == 1)).all()
    assert "bio" not in ann.__dict__ and "notes" not in ann.__dict__
    with recorder.capture() as calls:
        assert ann.bio == "bio1"
    assert len(selects(calls)) == 1
    with recorder.capture() as calls:
        assert ann.notes == "n1"
    assert len(selects(calls)) == 1


def test_undefer_mapped_column_deferred(s: Session, db: Any) -> None:
    """undefer(User.bio) loads the deferred column with the query; access is free."""
    _, recorder = db
    [ann] = s.scalars(select(User).where(User.id == 1).options(undefer(User.bio))).all()
    with recorder.capture() as calls:
        assert ann.bio == "bio1"
    assert sql(calls) == []


def test_undefer_deferred_function_column(s: Session, db: Any) -> None:
    """undefer() of a deferred(Column(...)) attribute loads it with the query."""
    _, recorder = db
    [ann] = s.scalars(select(User).where(User.id == 1).options(undefer(User.notes))).all()
    with recorder.capture() as calls:
        assert ann.notes == "n1"
    assert sql(calls) == []


def test_defer_column(s: Session, db: Any) -> None:
    """defer(User.age): not loaded by the query, one SELECT on access; others loaded."""
    _, recorder = db
    [ann] = s.scalars(select(User).where(User.id == 1).options(defer(User.age))).all()
    assert "age" not in ann.__dict__
    assert ann.__dict__["name"] == "ann"
    with recorder.capture() as calls:
        assert ann.age == 30
    assert len(selects(calls)) == 1


def test_defer_raiseload(s: Session, db: Any) -> None:
    """defer(User.age, raiseload=True): accessing the column raises, sending no SQL."""
    _, recorder = db
    [ann] = s.scalars(select(User).where(User.id == 1)
                      .options(defer(User.age, raiseload=True))).all()
    with recorder.capture() as calls:
        with pytest.raises(InvalidRequestError, match="age"):
            _ = ann.age
    assert sql(calls) == []


def test_load_only(s: Session, db: Any) -> None:
    """load_only(User.name): id and name loaded; age loads on access with one SELECT."""
    _, recorder = db
    with recorder.capture() as calls:
        [ann] = s.scalars(select(User).where(User.id == 1).options(load_only(User.name))).all()
    [stmt] = selects(calls)
    assert "age" not in stmt.lower().split("from")[0]
    assert ann.__dict__["id"] == 1 and ann.__dict__["name"] == "ann"
    assert "age" not in ann.__dict__
    with recorder.capture() as calls:
        assert ann.age == 30
    assert len(selects(calls)) == 1


def test_load_only_on_related_entity(s: Session, db: Any) -> None:
    """selectinload(U.addresses).load_only(A.email): email loaded, street deferred."""
    _, recorder = db
    us = users(s, selectinload(User.addresses).load_only(Address.email))
    a1 = us[0].addresses[0]
    assert a1.__dict__["email"] == "ann@a" and a1.__dict__["id"] == 1
    assert "street" not in a1.__dict__
    with recorder.capture() as calls:
        assert a1.street == "s1"
    assert len(selects(calls)) == 1


def test_column_options_with_relationship_options(s: Session, db: Any) -> None:
    """load_only and joinedload combine: one statement, collections and columns right."""
    _, recorder = db
    with recorder.capture() as calls:
        us = users(s, load_only(User.name), joinedload(User.addresses))
    assert len(selects(calls)) == 1
    assert addresses_of(us) == USER_ADDRESSES
    assert all("age" not in u.__dict__ for u in us)


# --- legacy Query -----------------------------------------------------------------------------

def test_legacy_query_selectinload(s: Session, db: Any) -> None:
    """session.query(User).options(selectinload(...)).all(): 2 statements."""
    _, recorder = db
    with recorder.capture() as calls:
        us = s.query(User).options(selectinload(User.addresses)).order_by(User.id).all()
    assert len(selects(calls)) == 2
    with recorder.capture() as calls:
        assert addresses_of(us) == USER_ADDRESSES
    assert sql(calls) == []


def test_legacy_query_joinedload_deduplicates(s: Session, db: Any) -> None:
    """session.query(User).options(joinedload(...)): one statement, users de-duplicated."""
    _, recorder = db
    with recorder.capture() as calls:
        us = s.query(User).options(joinedload(User.addresses)).order_by(User.id).all()
    assert len(selects(calls)) == 1
    assert [u.id for u in us] == [1, 2, 3]
    assert addresses_of(us) == USER_ADDRESSES


def test_legacy_query_chain_and_filter(s: Session, db: Any) -> None:
    """Legacy query with a filter and a three-deep chain loads in 3 statements."""
    _, recorder = db
    with recorder.capture() as calls:
        ann = (s.query(User).filter(User.name == "ann")
               .options(selectinload(User.orders).selectinload(Order.lines)
                        .joinedload(Line.product)).one())
    assert len(selects(calls)) == 3
    assert order_tree([ann]) == {1: EXPECTED_ORDER_TREE[1]}


def test_legacy_query_raiseload_and_load_only(s: Session) -> None:
    """Legacy query honours raiseload and load_only together."""
    ann = s.query(User).options(load_only(User.name), raiseload("*")).filter_by(id=1).one()
    assert "age" not in ann.__dict__
    with pytest.raises(InvalidRequestError, match="addresses"):
        _ = ann.addresses


# --- already loaded / populate_existing ------------------------------------------------------

def test_option_does_not_replace_loaded_collection(s: Session) -> None:
    """An eager option on a re-query keeps the collection already loaded in the session."""
    ann = s.get(User, 1)
    before = ann.addresses
    s.connection().execute(insert(Address.__table__),
                           {"id": 9, "user_id": 1, "email": "late@x", "street": None})
    users(s, selectinload(User.addresses))
    assert ann.addresses is before
    assert [a.id for a in ann.addresses] == [1, 2]


def test_option_with_populate_existing_reloads(s: Session) -> None:
    """populate_existing + selectinload replaces the loaded collection with fresh rows."""
    ann = s.get(User, 1)
    assert [a.id for a in ann.addresses] == [1, 2]
    s.connection().execute(insert(Address.__table__),
                           {"id": 9, "user_id": 1, "email": "late@x", "street": None})
    s.scalars(select(User).options(selectinload(User.addresses))
              .execution_options(populate_existing=True)).all()
    assert [a.id for a in ann.addresses] == [1, 2, 9]


# --- Load (optional) -----------------------------------------------------------------------------

def test_load_object_options(s: Session, db: Any) -> None:
    """Load(User).selectinload(User.addresses) behaves like selectinload(User.addresses)."""
    Load = getattr(docket.orm, "Load", None)
    if Load is None:
        pytest.skip("docket.orm has no Load (optional API)")
    _, recorder = db
    with recorder.capture() as calls:
        us = users(s, Load(User).selectinload(User.addresses))
    assert len(selects(calls)) == 2
    assert addresses_of(us) == USER_ADDRESSES


# --- more option combinations -------------------------------------------------------------------

def test_selectinload_children_reach_parent_without_sql(s: Session, db: Any) -> None:
    """After selectinload(User.addresses), address.user is answered from the identity map."""
    _, recorder = db
    us = users(s, selectinload(User.addresses))
    with recorder.capture() as calls:
        assert all(a.user is u for u in us for a in u.addresses)
    assert sql(calls) == []


def test_joinedload_option_with_limit(s: Session) -> None:
    """joinedload + LIMIT 1 returns the first user with both of its addresses."""
    [ann] = s.scalars(select(User).options(joinedload(User.addresses))
                      .order_by(User.id).limit(1)).unique().all()
    assert [a.id for a in ann.addresses] == [1, 2]


def test_raiseload_overrides_joined_default(s: Session, db: Any) -> None:
    """raiseload(Account.entries) drops the JOIN and makes access raise."""
    _, recorder = db
    with recorder.capture() as calls:
        accts = s.scalars(select(Account).options(raiseload(Account.entries),
                                                  lazyload(Account.sel_entries))
                          .order_by(Account.id)).all()
    [stmt] = selects(calls)
    assert "JOIN" not in stmt.upper()
    with pytest.raises(InvalidRequestError, match="entries"):
        _ = accts[0].entries


def test_contains_eager_populate_existing_replaces_loaded_collection(s: Session) -> None:
    """populate_existing + filtered contains_eager replaces an already loaded collection."""
    ann = s.get(User, 1)
    assert len(ann.addresses) == 2
    stmt = (select(User).join(User.addresses).where(Address.email == "ann@a")
            .options(contains_eager(User.addresses))
            .execution_options(populate_existing=True))
    [again] = s.scalars(stmt).unique().all()
    assert again is ann
    assert [a.email for a in ann.addresses] == ["ann@a"]


def test_sub_options_of_a_loader(s: Session, db: Any) -> None:
    """selectinload(U.orders).options(selectinload(O.lines).joinedload(L.product)): 3 statements."""
    _, recorder = db
    with recorder.capture() as calls:
        us = users(s, selectinload(User.orders).options(
            selectinload(Order.lines).joinedload(Line.product)))
    assert len(selects(calls)) == 3
    with recorder.capture() as calls:
        assert order_tree(us) == EXPECTED_ORDER_TREE
    assert sql(calls) == []


def test_defaultload_then_defer(s: Session, db: Any) -> None:
    """defaultload(U.orders).defer(O.description): lazily loaded orders lack the column."""
    _, recorder = db
    [ann] = s.scalars(select(User).where(User.id == 1)
                      .options(defaultload(User.orders).defer(Order.description))).all()
    orders = ann.orders
    assert all("description" not in o.__dict__ for o in orders)
    with recorder.capture() as calls:
        assert orders[0].description == "o1"
    assert len(selects(calls)) == 1


def test_load_only_primary_key_access_is_free(s: Session, db: Any) -> None:
    """With load_only(User.name) reading the primary key needs no SQL."""
    _, recorder = db
    us = users(s, load_only(User.name))
    with recorder.capture() as calls:
        assert [(u.id, u.name) for u in us] == [(1, "ann"), (2, "bob"), (3, "cat")]
    assert sql(calls) == []


def test_load_only_does_not_undefer_deferred(s: Session) -> None:
    """load_only(User.name) leaves deferred columns deferred as well."""
    [ann] = s.scalars(select(User).where(User.id == 1).options(load_only(User.name))).all()
    assert "bio" not in ann.__dict__ and "notes" not in ann.__dict__
    assert ann.bio == "bio1"


def test_load_only_including_deferred_column(s: Session, db: Any) -> None:
    """load_only(User.bio) loads a deferred column with the query."""
    _, recorder = db
    [ann] = s.scalars(select(User).where(User.id == 1).options(load_only(User.bio))).all()
    with recorder.capture() as calls:
        assert ann.bio == "bio1"
    assert sql(calls) == []
    assert "name" not in ann.__dict__


def test_options_on_aliased_entity(s: Session, db: Any) -> None:
    """selectinload(alias.addresses) on select(alias) loads the collections: 2 statements."""
    _, recorder = db
    ua = aliased(User)
    with recorder.capture() as calls:
        us = s.scalars(select(ua).options(selectinload(ua.addresses)).order_by(ua.id)).all()
    assert len(selects(calls)) == 2
    with recorder.capture() as calls:
        assert addresses_of(us) == USER_ADDRESSES
    assert sql(calls) == []


def test_joinedload_on_aliased_entity(s: Session, db: Any) -> None:
    """joinedload(alias.addresses) on select(alias): one statement, complete collections."""
    _, recorder = db
    ua = aliased(User)
    with recorder.capture() as calls:
        us = s.scalars(select(ua).options(joinedload(ua.addresses))
                       .order_by(ua.id)).unique().all()
    assert len(selects(calls)) == 1
    assert addresses_of(us) == USER_ADDRESSES



# --- misuse -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("make, name", [
    (lambda: load_only(User.addresses), "addresses"),
    (lambda: defer(User.addresses), "addresses"),
    (lambda: selectinload(User.name), "name"),
], ids=["load_only-of-relationship", "defer-of-relationship", "selectinload-of-column"])
def test_option_of_wrong_property_kind_raises(s: Session, make: Any, name: str) -> None:
    """A column option on a relationship (or a loader option on a column) is refused."""
    with pytest.raises(InvalidRequestError, match=name):
        s.scalars(select(User).options(make())).all()


def test_option_for_entity_not_in_query_raises(s: Session) -> None:
    """selectinload(Address.user) on select(User) raises ArgumentError naming the entity."""
    with pytest.raises(ArgumentError, match="Address"):
        s.scalars(select(User).options(selectinload(Address.user))).all()


def test_raiseload_star_leaves_deferred_columns_loadable(s: Session, db: Any) -> None:
    """raiseload("*") is about relationships: a deferred column still loads on access."""
    _, recorder = db
    [ann] = s.scalars(select(User).where(User.id == 1).options(raiseload("*"))).all()
    with recorder.capture() as calls:
        assert ann.bio == "bio1"
    assert len(selects(calls)) == 1



# --- single-object fetches with joined collections ------------------------------------------------

def _ann_joined() -> Any:
    return select(User).options(joinedload(User.addresses)).where(User.id == 1)


def test_session_scalar_with_joinedload_complete(s: Session) -> None:
    """session.scalar() of a joinedload query returns the user with all its addresses."""
    ann = s.scalar(_ann_joined())
    assert [a.id for a in ann.addresses] == [1, 2]


def test_scalars_first_with_joinedload_complete(s: Session) -> None:
    """scalars(...).first() does not cut the joined collection at the first row."""
    ann = s.scalars(_ann_joined()).first()
    assert [a.id for a in ann.addresses] == [1, 2]


def test_unique_one_with_joinedload(s: Session) -> None:
    """scalars(...).unique().one() returns the single user despite two joined rows."""
    ann = s.scalars(_ann_joined()).unique().one()
    assert [a.id for a in ann.addresses] == [1, 2]


def test_legacy_query_first_with_joinedload_complete(s: Session) -> None:
    """Query.first() (LIMIT 1) with joinedload still loads the full collection."""
    ann = s.query(User).options(joinedload(User.addresses)).order_by(User.id).first()
    assert [a.id for a in ann.addresses] == [1, 2]



def test_contains_eager_chain_two_levels(s: Session, db: Any) -> None:
    """join orders and lines, contains_eager(U.orders).contains_eager(O.lines): 1 statement."""
    _, recorder = db
    stmt = (select(User).join(User.orders).join(Order.lines)
            .options(contains_eager(User.orders).contains_eager(Order.lines))
            .order_by(User.id, Order.id, Line.id))
    with recorder.capture() as calls:
        us = s.scalars(stmt).unique().all()
        got = {u.id: [(o.id, [ln.id for ln in o.lines]) for o in u.orders] for u in us}
    assert len(selects(calls)) == 1
    assert got == {1: [(1, [1, 2])], 2: [(3, [3])]}


def test_lazyload_overrides_raise_default(s: Session, db: Any) -> None:
    """lazyload(Account.raise_entries) turns lazy="raise" into an ordinary lazy load."""
    _, recorder = db
    accts = s.scalars(select(Account).options(lazyload(Account.raise_entries))
                      .order_by(Account.id)).unique().all()
    with recorder.capture() as calls:
        assert [e.id for e in accts[0].raise_entries] == [1, 2]
    assert len(selects(calls)) == 1
