"""Lazy relationship loading (``lazy="select"``, the default) and the non-loading
strategies ``"raise"``, ``"raise_on_sql"`` and ``"noload"``: exact statement counts
through the recording proxy, the identity-map shortcut for many-to-one, ordering,
detached objects, and expire / refresh of relationship attributes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from docket import Column, ForeignKey, String, Table, event, insert, select
from docket.exc import IntegrityError, InvalidRequestError
from docket.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship
from docket.orm.exc import DetachedInstanceError
from docket.testing import Recorder


class Base(DeclarativeBase):
    pass


user_keyword = Table(
    "rl_user_keyword",
    Base.metadata,
    Column("user_id", ForeignKey("rl_users.id"), primary_key=True),
    Column("keyword_id", ForeignKey("rl_keywords.id"), primary_key=True),
)


class Keyword(Base):
    __tablename__ = "rl_keywords"
    id: Mapped[int] = mapped_column(primary_key=True)
    word: Mapped[str] = mapped_column(String(20))
    users: Mapped[list[User]] = relationship(
        secondary=user_keyword, back_populates="keywords", order_by="User.id")


class Address(Base):
    __tablename__ = "rl_addresses"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("rl_users.id"))
    email: Mapped[str] = mapped_column(String(50))
    user: Mapped[User | None] = relationship(back_populates="addresses")
    user_raise: Mapped[User | None] = relationship(lazy="raise", viewonly=True)
    user_ros: Mapped[User | None] = relationship(lazy="raise_on_sql", viewonly=True)
    user_noload: Mapped[User | None] = relationship(lazy="noload", viewonly=True)


class User(Base):
    __tablename__ = "rl_users"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(30), unique=True)
    addresses: Mapped[list[Address]] = relationship(back_populates="user", order_by=Address.id)
    addresses_by_email: Mapped[list[Address]] = relationship(
        order_by=Address.email.desc(), viewonly=True)
    addresses_raise: Mapped[list[Address]] = relationship(lazy="raise", viewonly=True)
    addresses_ros: Mapped[list[Address]] = relationship(lazy="raise_on_sql", viewonly=True)
    addresses_noload: Mapped[list[Address]] = relationship(lazy="noload", viewonly=True)
    keywords: Mapped[list[Keyword]] = relationship(
        secondary=user_keyword, back_populates="users", order_by=Keyword.id)


class Note(Base):
    """Many-to-one on a non-primary-key column: the identity map cannot answer it."""
    __tablename__ = "rl_notes"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_name: Mapped[str] = mapped_column(ForeignKey("rl_users.name"))
    user: Mapped[User] = relationship()


def _fk_on(dbapi_connection: Any, record: Any) -> None:
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def seed(engine: Any) -> None:
    """Users 1 ann (2 addresses), 2 bob (1 address), 3 cat (none); address 4 has no user."""
    with engine.begin() as conn:
        conn.execute(insert(User.__table__), [
            {"id": 1, "name": "ann"}, {"id": 2, "name": "bob"}, {"id": 3, "name": "cat"}])
        conn.execute(insert(Address.__table__), [
            {"id": 1, "user_id": 1, "email": "ann@b"},
            {"id": 2, "user_id": 1, "email": "ann@a"},
            {"id": 3, "user_id": 2, "email": "bob@x"},
            {"id": 4, "user_id": None, "email": "nobody@x"}])
        conn.execute(insert(Keyword.__table__), [
            {"id": 1, "word": "red"}, {"id": 2, "word": "blue"}, {"id": 3, "word": "green"}])
        conn.execute(insert(user_keyword), [
            {"user_id": 1, "keyword_id": 1}, {"user_id": 1, "keyword_id": 2},
            {"user_id": 2, "keyword_id": 2}])
        conn.execute(insert(Note.__table__), [{"id": 1, "user_name": "bob"}])


@pytest.fixture
def db(recorded_engine: tuple[Any, Recorder], backend: Any) -> Iterator[tuple[Any, Recorder]]:
    """(engine, recorder) with foreign keys enforced on every backend and seed data."""
    engine, recorder = recorded_engine
    if backend.is_sqlite:
        event.listen(engine, "connect", _fk_on)
        engine.dispose()  # later connections run the pragma; memory DB starts over
        Base.metadata.create_all(engine)
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
    assert all(st.lstrip().upper().startswith("SELECT") for st in stmts), stmts
    return stmts


# --- setup -----------------------------------------------------------------------------

def test_foreign_keys_are_enforced(db: tuple[Any, Recorder], backend: Any) -> None:
    """The fixture enforces foreign keys on every backend (PRAGMA on SQLite)."""
    engine, _ = db
    with engine.connect() as conn:
        if backend.is_sqlite:
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        with pytest.raises(IntegrityError):
            conn.execute(insert(Address.__table__), {"id": 99, "user_id": 99, "email": "x"})
        conn.rollback()


# --- one-to-many -----------------------------------------------------------------------

def test_one_to_many_loads_on_first_access_only(s: Session, db: Any) -> None:
    """The first access of a collection emits exactly one SELECT; later ones none."""
    _, recorder = db
    u = s.get(User, 1)
    with recorder.capture() as calls:
        first = u.addresses
    assert len(selects(calls)) == 1
    with recorder.capture() as calls:
        again = u.addresses
        _ = [a.email for a in again]
    assert sql(calls) == []
    assert first is again


def test_one_to_many_not_loaded_before_access(s: Session, db: Any) -> None:
    """Loading the parent does not load a lazy collection: it is absent from __dict__."""
    _, recorder = db
    with recorder.capture() as calls:
        u = s.scalars(select(User).where(User.id == 1)).one()
    assert len(selects(calls)) == 1
    assert "addresses" not in u.__dict__


def test_one_to_many_contents_and_order(s: Session) -> None:
    """The lazily loaded collection holds exactly the children, in order_by order."""
    u = s.get(User, 1)
    assert [a.id for a in u.addresses] == [1, 2]
    assert all(isinstance(a, Address) for a in u.addresses)
    assert [a.id for a in s.get(User, 2).addresses] == [3]


def test_one_to_many_lazy_sql_uses_parent_key(s: Session, db: Any) -> None:
    """The lazy load selects from the child table with the parent's key as parameter."""
    _, recorder = db
    u = s.get(User, 2)
    with recorder.capture() as calls:
        _ = u.addresses
    [stmt] = calls.without_transaction_control()
    assert "rl_addresses" in stmt.sql
    assert 2 in list(stmt.params.values() if isinstance(stmt.params, dict) else stmt.params)


def test_one_to_many_empty_collection(s: Session, db: Any) -> None:
    """A parent with no children gets an empty list after one SELECT."""
    _, recorder = db
    u = s.get(User, 3)
    with recorder.capture() as calls:
        assert u.addresses == []
    assert len(selects(calls)) == 1
    with recorder.capture() as calls:
        assert u.addresses == []
    assert sql(calls) == []


def test_lazy_loaded_children_are_identity_mapped(s: Session, db: Any) -> None:
    """Children from a lazy load are the session's objects: get() returns them without SQL."""
    _, recorder = db
    u = s.get(User, 1)
    children = list(u.addresses)
    with recorder.capture() as calls:
        assert s.get(Address, 1) is children[0]
        assert s.get(Address, 2) is children[1]
    assert sql(calls) == []


def test_lazy_load_keeps_pending_changes_of_loaded_children(s: Session) -> None:
    """A lazy load does not overwrite unflushed changes of a child already in the session."""
    a = s.get(Address, 1)
    s.autoflush = False
    a.email = "changed@x"
    u = s.get(User, 1)
    assert u.addresses[0] is a
    assert a.email == "changed@x"


def test_lazy_load_autoflushes_pending_child(s: Session, db: Any) -> None:
    """A lazy load autoflushes first, so a pending child with the parent's key appears."""
    _, recorder = db
    u = s.get(User, 3)
    s.add(Address(id=10, user_id=3, email="new@x"))
    with recorder.capture() as calls:
        assert [a.id for a in u.addresses] == [10]
    kinds = [st.lstrip().split(None, 1)[0].upper() for st in sql(calls)]
    assert kinds == ["INSERT", "SELECT"]


def test_reverse_many_to_one_after_collection_load_needs_no_sql(s: Session, db: Any) -> None:
    """After loading user.addresses, each address.user resolves to the user with no SQL."""
    _, recorder = db
    u = s.get(User, 1)
    addrs = list(u.addresses)
    with recorder.capture() as calls:
        assert all(a.user is u for a in addrs)
    assert sql(calls) == []


# --- many-to-one -----------------------------------------------------------------------

def test_many_to_one_from_identity_map_emits_no_sql(s: Session, db: Any) -> None:
    """Many-to-one whose target is already in the session is answered without SQL."""
    _, recorder = db
    u = s.get(User, 1)
    a = s.get(Address, 2)
    with recorder.capture() as calls:
        assert a.user is u
    assert sql(calls) == []


def test_many_to_one_loads_once_when_target_absent(s: Session, db: Any) -> None:
    """Many-to-one whose target is not loaded emits one SELECT, then none."""
    _, recorder = db
    a = s.get(Address, 3)
    with recorder.capture() as calls:
        u = a.user
    assert len(selects(calls)) == 1
    assert u is not None and (u.id, u.name) == (2, "bob")
    with recorder.capture() as calls:
        assert a.user is u
        assert s.get(User, 2) is u
    assert sql(calls) == []


def test_many_to_one_targets_shared_by_siblings(s: Session, db: Any) -> None:
    """Two children of one parent: the second many-to-one access is free and identical."""
    _, recorder = db
    a1, a2 = s.get(Address, 1), s.get(Address, 2)
    with recorder.capture() as calls:
        u1 = a1.user
    assert len(selects(calls)) == 1
    with recorder.capture() as calls:
        assert a2.user is u1
    assert sql(calls) == []


def test_many_to_one_null_key_is_none_without_sql(s: Session, db: Any) -> None:
    """A many-to-one whose foreign key is NULL is None and emits no SQL."""
    _, recorder = db
    a = s.get(Address, 4)
    with recorder.capture() as calls:
        assert a.user is None
    assert sql(calls) == []


# --- many-to-many ----------------------------------------------------------------------

def test_many_to_many_lazy_load(s: Session, db: Any) -> None:
    """A many-to-many collection loads through the secondary table in one SELECT."""
    _, recorder = db
    u = s.get(User, 1)
    with recorder.capture() as calls:
        words = [k.word for k in u.keywords]
    assert len(selects(calls)) == 1
    assert "rl_user_keyword" in sql(calls)[0]
    assert words == ["red", "blue"]


def test_many_to_many_reverse_side(s: Session, db: Any) -> None:
    """The reverse many-to-many side loads the other end's objects, shared via identity."""
    _, recorder = db
    k = s.get(Keyword, 2)
    with recorder.capture() as calls:
        users = list(k.users)
    assert len(selects(calls)) == 1
    assert [u.name for u in users] == ["ann", "bob"]
    assert s.get(User, 1) is users[0]


def test_many_to_many_empty(s: Session) -> None:
    """A keyword nobody has and a user with no keywords give empty collections."""
    assert s.get(Keyword, 3).users == []
    assert s.get(User, 3).keywords == []


def test_many_to_many_objects_shared_across_parents(s: Session) -> None:
    """The same keyword reached from two users is one object."""
    blue_of_ann = s.get(User, 1).keywords[1]
    [blue_of_bob] = s.get(User, 2).keywords
    assert blue_of_ann is blue_of_bob


# --- order_by --------------------------------------------------------------------------

def test_order_by_descending_is_honoured(s: Session, db: Any) -> None:
    """relationship(order_by=Address.email.desc()) orders the lazily loaded collection."""
    _, recorder = db
    u = s.get(User, 1)
    with recorder.capture() as calls:
        emails = [a.email for a in u.addresses_by_email]
    assert emails == ["ann@b", "ann@a"]
    assert "ORDER BY" in sql(calls)[0].upper()


def test_order_by_ascending_is_honoured(s: Session) -> None:
    """The ascending order_by on the primary key orders the collection by id."""
    with s.begin():
        s.add(Address(id=0, user_id=1, email="zero@x"))
    u = s.get(User, 1)
    assert [a.id for a in u.addresses] == [0, 1, 2]


# --- raise / raise_on_sql / noload -------------------------------------------------------

def test_lazy_raise_collection_raises_naming_attribute(s: Session, db: Any) -> None:
    """lazy="raise": accessing the collection raises InvalidRequestError naming it, no SQL."""
    _, recorder = db
    u = s.get(User, 1)
    with recorder.capture() as calls:
        with pytest.raises(InvalidRequestError, match="addresses_raise"):
            _ = u.addresses_raise
    assert sql(calls) == []


def test_lazy_raise_many_to_one_raises_even_with_target_loaded(s: Session, db: Any) -> None:
    """lazy="raise" on a many-to-one raises even when the target is in the identity map."""
    _, recorder = db
    s.get(User, 1)
    a = s.get(Address, 1)
    with recorder.capture() as calls:
        with pytest.raises(InvalidRequestError, match="user_raise"):
            _ = a.user_raise
    assert sql(calls) == []


def test_raise_on_sql_collection_raises(s: Session, db: Any) -> None:
    """lazy="raise_on_sql": a collection needing SQL raises InvalidRequestError naming it."""
    _, recorder = db
    u = s.get(User, 1)
    with recorder.capture() as calls:
        with pytest.raises(InvalidRequestError, match="addresses_ros"):
            _ = u.addresses_ros
    assert sql(calls) == []


def test_raise_on_sql_many_to_one_from_identity_map_works(s: Session, db: Any) -> None:
    """lazy="raise_on_sql": a many-to-one answered from the identity map does not raise."""
    _, recorder = db
    u = s.get(User, 1)
    a = s.get(Address, 1)
    with recorder.capture() as calls:
        assert a.user_ros is u
    assert sql(calls) == []


def test_raise_on_sql_many_to_one_needing_sql_raises(s: Session, db: Any) -> None:
    """lazy="raise_on_sql": a many-to-one whose target is not loaded raises, no SQL sent."""
    _, recorder = db
    a = s.get(Address, 3)
    with recorder.capture() as calls:
        with pytest.raises(InvalidRequestError, match="user_ros"):
            _ = a.user_ros
    assert sql(calls) == []


def test_raise_on_sql_many_to_one_null_key_is_none(s: Session) -> None:
    """lazy="raise_on_sql": a NULL foreign key needs no SQL, so the value is None."""
    a = s.get(Address, 4)
    assert a.user_ros is None


def test_noload_collection_is_empty_without_sql(s: Session, db: Any) -> None:
    """lazy="noload": the collection is empty (though rows exist) and no SQL is sent."""
    _, recorder = db
    u = s.get(User, 1)
    with recorder.capture() as calls:
        assert u.addresses_noload == []
    assert sql(calls) == []
    assert len(u.addresses) == 2


def test_noload_many_to_one_is_none_without_sql(s: Session, db: Any) -> None:
    """lazy="noload": a many-to-one is None even with its target loaded; no SQL."""
    _, recorder = db
    s.get(User, 1)
    a = s.get(Address, 1)
    with recorder.capture() as calls:
        assert a.user_noload is None
    assert sql(calls) == []


# --- detached objects ----------------------------------------------------------------------

def test_detached_unloaded_collection_raises_detached_instance_error(db: Any) -> None:
    """An unloaded collection of a closed session's object raises DetachedInstanceError."""
    engine, _ = db
    with Session(engine) as s:
        u = s.get(User, 1)
    with pytest.raises(DetachedInstanceError, match="addresses"):
        _ = u.addresses


def test_detached_unloaded_many_to_one_raises(db: Any) -> None:
    """An unloaded many-to-one of a detached object raises DetachedInstanceError naming it."""
    engine, _ = db
    with Session(engine) as s:
        a = s.get(Address, 1)
    with pytest.raises(DetachedInstanceError, match="user"):
        _ = a.user


def test_expunged_object_unloaded_collection_raises(s: Session, db: Any) -> None:
    """expunge() detaches: an unloaded collection then raises, with no SQL sent."""
    _, recorder = db
    u = s.get(User, 2)
    s.expunge(u)
    with recorder.capture() as calls:
        with pytest.raises(DetachedInstanceError, match="addresses"):
            _ = u.addresses
    assert sql(calls) == []


def test_loaded_relationships_stay_usable_after_close(db: Any) -> None:
    """Collections and many-to-ones loaded before close() remain readable afterwards."""
    engine, recorder = db
    with Session(engine) as s:
        u = s.get(User, 1)
        addrs = u.addresses
        kws = u.keywords
        a = addrs[0]
        assert a.user is u
    with recorder.capture() as calls:
        assert [x.email for x in u.addresses] == ["ann@b", "ann@a"]
        assert u.addresses is addrs
        assert [k.word for k in kws] == ["red", "blue"]
        assert a.user is u
    assert sql(calls) == []


# --- expire / refresh ------------------------------------------------------------------------

def _add_address_behind_the_back(s: Session, user_id: int, addr_id: int) -> None:
    """Insert an address row with Core on the session's connection (no ORM bookkeeping)."""
    s.connection().execute(insert(Address.__table__),
                           {"id": addr_id, "user_id": user_id, "email": f"new{addr_id}@x"})


def test_expire_object_reloads_collection_on_access(s: Session) -> None:
    """expire(obj) discards a loaded collection; the next access reloads it from the DB."""
    u = s.get(User, 2)
    assert [a.id for a in u.addresses] == [3]
    _add_address_behind_the_back(s, 2, 20)
    assert [a.id for a in u.addresses] == [3]
    s.expire(u)
    assert "addresses" not in u.__dict__
    assert [a.id for a in u.addresses] == [3, 20]


def test_expire_relationship_attribute_only(s: Session, db: Any) -> None:
    """expire(obj, ["addresses"]) reloads only the collection: one SELECT on access."""
    _, recorder = db
    u = s.get(User, 1)
    first = list(u.addresses)
    s.expire(u, ["addresses"])
    assert "name" in u.__dict__
    with recorder.capture() as calls:
        again = list(u.addresses)
    assert len(selects(calls)) == 1
    assert [a.id for a in again] == [a.id for a in first]
    assert all(x is y for x, y in zip(again, first))


def test_expire_many_to_one_reloads(s: Session, db: Any) -> None:
    """An expired many-to-one is re-resolved on access; with the target loaded, no SQL."""
    _, recorder = db
    u = s.get(User, 1)
    a = s.get(Address, 1)
    assert a.user is u
    s.expire(a, ["user"])
    with recorder.capture() as calls:
        assert a.user is u
    assert sql(calls) == []


def test_commit_expires_relationships(s: Session) -> None:
    """After commit (expire_on_commit) a collection reloads and sees rows added since."""
    u = s.get(User, 3)
    assert u.addresses == []
    _add_address_behind_the_back(s, 3, 30)
    assert u.addresses == []
    s.commit()
    assert [a.id for a in u.addresses] == [30]


def test_refresh_discards_loaded_collection(s: Session) -> None:
    """refresh(obj) reloads columns now and the lazy collection on next access."""
    u = s.get(User, 3)
    assert u.addresses == []
    _add_address_behind_the_back(s, 3, 31)
    s.refresh(u)
    assert u.__dict__["name"] == "cat"
    assert [a.id for a in u.addresses] == [31]


def test_refresh_named_relationship_loads_it_immediately(s: Session, db: Any) -> None:
    """refresh(obj, ["addresses"]) loads the collection at once; access is then free."""
    _, recorder = db
    u = s.get(User, 1)
    s.refresh(u, ["addresses"])
    assert "addresses" in u.__dict__
    with recorder.capture() as calls:
        assert [a.id for a in u.addresses] == [1, 2]
    assert sql(calls) == []


# --- transient / pending objects and changed foreign keys -------------------------------------------

def test_transient_object_relationships_without_sql(s: Session, db: Any) -> None:
    """A new object's collection is an empty list and its many-to-one None; no SQL."""
    _, recorder = db
    with recorder.capture() as calls:
        u = User(name="new")
        a = Address(email="e")
        assert u.addresses == [] and u.keywords == []
        assert a.user is None
    assert sql(calls) == []


def test_pending_object_raise_collection_is_empty(s: Session, db: Any) -> None:
    """A pending object has nothing to load: even lazy="raise" gives an empty collection."""
    _, recorder = db
    u = User(id=9, name="new")
    s.add(u)
    with recorder.capture() as calls:
        assert u.addresses_raise == []
        assert u.addresses == []
    assert sql(calls) == []


def test_unloaded_many_to_one_follows_changed_foreign_key(s: Session) -> None:
    """A key changed before first access: the lazy load (after autoflush) finds the new target."""
    a = s.get(Address, 1)
    a.user_id = 2
    assert a.user is s.get(User, 2)


def test_loaded_many_to_one_not_resynced_until_expired(s: Session) -> None:
    """A loaded many-to-one ignores a changed key until expiry (commit), then follows it."""
    ann, bob = s.get(User, 1), s.get(User, 2)
    a = s.get(Address, 1)
    assert a.user is ann
    a.user_id = 2
    assert a.user is ann
    s.commit()
    assert a.user.id == bob.id


def test_many_to_one_on_non_primary_key_needs_sql(s: Session, db: Any) -> None:
    """Many-to-one on a unique non-key column needs one SELECT even with the target loaded."""
    _, recorder = db
    bob = s.get(User, 2)
    note = s.get(Note, 1)
    with recorder.capture() as calls:
        assert note.user is bob
    assert len(selects(calls)) == 1



def test_many_to_one_to_expired_target_is_same_object(s: Session, db: Any) -> None:
    """Many-to-one to an expired identity-map target: same object, refreshed once in all."""
    _, recorder = db
    ann = s.get(User, 1)
    a = s.get(Address, 1)
    s.expire(ann)
    with recorder.capture() as calls:
        assert a.user is ann
        assert ann.name == "ann"
    assert len(selects(calls)) == 1


def test_many_to_one_after_commit_keeps_identity(s: Session, db: Any) -> None:
    """After commit, child and many-to-one target refresh once each; the target is the same."""
    _, recorder = db
    ann = s.get(User, 1)
    a = s.get(Address, 1)
    s.commit()
    with recorder.capture() as calls:
        assert a.email == "ann@b"
        assert a.user is ann
        assert ann.name == "ann"
    assert len(selects(calls)) == 2



def test_expired_relationship_of_closed_session_object_raises(db: Any) -> None:
    """Loaded, then expired by commit, then detached: the collection raises DetachedInstanceError."""
    engine, _ = db
    with Session(engine) as s:
        u = s.get(User, 1)
        assert len(u.addresses) == 2
        s.commit()
    with pytest.raises(DetachedInstanceError):
        _ = u.addresses
