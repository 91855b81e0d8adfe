"""Cascades along relationships: save-update and merge (the default),
delete and delete-orphan, expunge, refresh-expire, single_parent, and what
happens when a cascade is left out (SQLAlchemy 2.0 semantics throughout)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from docket import ForeignKey, String, event, exc, func, inspect, select
from docket.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(30), default="")
    addresses: Mapped[list[Address]] = relationship(
        back_populates="user", cascade="all, delete-orphan", order_by="Address.id")
    things: Mapped[list[Thing]] = relationship(back_populates="user", order_by="Thing.id")
    profile: Mapped[Profile | None] = relationship(
        back_populates="user", cascade="all, delete-orphan")
    others: Mapped[list[Other]] = relationship(back_populates="user", cascade="")


class Address(Base):
    __tablename__ = "addresses"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    email: Mapped[str] = mapped_column(String(30), default="")
    user: Mapped[User | None] = relationship(back_populates="addresses")
    notes: Mapped[list[Note]] = relationship(cascade="all, delete-orphan", order_by="Note.id")


class Note(Base):
    __tablename__ = "notes"
    id: Mapped[int] = mapped_column(primary_key=True)
    address_id: Mapped[int] = mapped_column(ForeignKey("addresses.id"))
    body: Mapped[str] = mapped_column(String(30), default="")


class Thing(Base):
    __tablename__ = "things"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    name: Mapped[str] = mapped_column(String(30), default="")
    user: Mapped[User | None] = relationship(back_populates="things")


class Profile(Base):
    __tablename__ = "profiles"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    user: Mapped[User | None] = relationship(back_populates="profile")


class Other(Base):
    __tablename__ = "others"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    user: Mapped[User | None] = relationship(back_populates="others", cascade="")


class Box(Base):
    __tablename__ = "boxes"
    id: Mapped[int] = mapped_column(primary_key=True)
    parts: Mapped[list[Part]] = relationship(cascade="save-update, merge, delete")


class Part(Base):
    __tablename__ = "parts"
    id: Mapped[int] = mapped_column(primary_key=True)
    box_id: Mapped[int | None] = mapped_column(ForeignKey("boxes.id"))


class Owner(Base):
    __tablename__ = "owners"
    id: Mapped[int] = mapped_column(primary_key=True)
    items: Mapped[list[Item]] = relationship(cascade="all, delete-orphan")


class Item(Base):
    __tablename__ = "items"
    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("owners.id"))  # NOT NULL


class Pref(Base):
    __tablename__ = "prefs"
    id: Mapped[int] = mapped_column(primary_key=True)


class Acct(Base):
    __tablename__ = "accts"
    id: Mapped[int] = mapped_column(primary_key=True)
    pref_id: Mapped[int | None] = mapped_column(ForeignKey("prefs.id"))
    pref: Mapped[Pref | None] = relationship(cascade="all, delete-orphan", single_parent=True)


def _fk_on(dbapi_connection: Any, connection_record: Any) -> None:
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


@pytest.fixture
def db(engine: Any, backend: Any) -> Any:
    """The backend's engine, foreign keys enforced on SQLite, this module's tables created."""
    if backend.is_sqlite:
        event.listen(engine, "connect", _fk_on)
        engine.dispose()
    Base.metadata.create_all(engine)
    if backend.is_sqlite:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    return engine


@pytest.fixture
def s(db: Any) -> Iterator[Session]:
    """A Session on the FK-enforcing engine."""
    with Session(db) as session:
        yield session


def count(s: Session, cls: type) -> int:
    return int(s.scalar(select(func.count()).select_from(cls)))


def _graph(s: Session) -> User:
    """User 1 with two addresses (each with a note), a thing and a profile, committed."""
    s.add(User(id=1, name="ann",
               addresses=[Address(id=1, notes=[Note(id=1)]), Address(id=2, notes=[Note(id=2)])],
               things=[Thing(id=1)], profile=Profile(id=1)))
    s.commit()
    s.expunge_all()
    return s.get(User, 1)


# -- configuration ---------------------------------------------------------------------------------


def test_cascade_option_sets() -> None:
    """The default is save-update + merge; "all" expands to every cascade but delete-orphan."""
    assert set(inspect(User).relationships["things"].cascade) == {"save-update", "merge"}
    assert set(inspect(User).relationships["addresses"].cascade) == {
        "save-update", "merge", "refresh-expire", "expunge", "delete", "delete-orphan"}
    assert set(inspect(User).relationships["others"].cascade) == set()


def test_delete_orphan_on_many_to_one_requires_single_parent() -> None:
    """delete-orphan on a many-to-one without single_parent=True is an ArgumentError."""
    class FreshBase(DeclarativeBase):
        pass

    class P(FreshBase):
        __tablename__ = "p"
        id: Mapped[int] = mapped_column(primary_key=True)

    class C(FreshBase):
        __tablename__ = "c"
        id: Mapped[int] = mapped_column(primary_key=True)
        p_id: Mapped[int | None] = mapped_column(ForeignKey("p.id"))
        p: Mapped[P | None] = relationship(cascade="all, delete-orphan")

    try:
        with pytest.raises(exc.ArgumentError) as info:
            FreshBase.registry.configure()
        assert "C.p" in str(info.value)
        assert "single_parent" in str(info.value)
    finally:
        FreshBase.registry.dispose()


# -- save-update -------------------------------------------------------------------------------------


def test_add_parent_adds_children(s: Session) -> None:
    """add(parent) cascades to its children through the default save-update cascade."""
    t = Thing(id=1)
    a = Address(id=1, notes=[Note(id=1)])
    u = User(id=1, things=[t], addresses=[a])
    s.add(u)
    assert t in s and a in s and a.notes[0] in s
    assert {type(o).__name__ for o in s.new} == {"User", "Thing", "Address", "Note"}
    s.commit()
    assert count(s, Thing) == 1 and count(s, Note) == 1


def test_append_to_persistent_parent_adds_child(s: Session) -> None:
    """Appending a transient child to a persistent parent's collection puts it in the session."""
    u = User(id=1)
    s.add(u)
    s.commit()
    t = Thing(id=5)
    u.things.append(t)
    assert t in s
    s.commit()
    assert s.execute(select(Thing.user_id).where(Thing.id == 5)).scalar() == 1


def test_many_to_one_save_update_adds_parent(s: Session) -> None:
    """add(child) cascades along the many-to-one to a new parent."""
    u = User(id=1)
    t = Thing(id=1, user=u)
    s.add(t)
    assert u in s
    s.commit()
    assert count(s, User) == 1


def test_backref_assignment_does_not_cascade(s: Session) -> None:
    """2.0: child.user = persistent_parent does not put the child in the session."""
    u = User(id=1)
    s.add(u)
    s.commit()
    t = Thing(id=9)
    t.user = u
    assert t not in s
    assert t.user is u


# -- delete ------------------------------------------------------------------------------------------


def test_delete_parent_deletes_children_and_grandchildren(s: Session) -> None:
    """delete(user) with "all" deletes addresses, and their notes through Address.notes."""
    u = _graph(s)
    s.delete(u)
    s.commit()
    assert count(s, User) == 0
    assert count(s, Address) == 0
    assert count(s, Note) == 0
    assert count(s, Profile) == 0


def test_delete_cascade_marks_loaded_children_deleted(s: Session) -> None:
    """delete(parent) puts the cascaded children in session.deleted before the flush."""
    u = _graph(s)
    a1, a2 = u.addresses
    s.delete(u)
    assert u in s.deleted and a1 in s.deleted and a2 in s.deleted
    s.flush()
    assert inspect(a1).deleted and inspect(a1.notes[0]).deleted


def test_without_delete_cascade_parent_delete_nulls_fk(s: Session) -> None:
    """Children of a relationship without delete cascade survive with their FK nulled."""
    u = _graph(s)
    s.delete(u)
    s.commit()
    assert s.execute(select(Thing.id, Thing.user_id)).all() == [(1, None)]


def test_removing_child_deletes_it(s: Session) -> None:
    """delete-orphan: removing an address deletes it (and its note) at flush."""
    u = _graph(s)
    u.addresses.remove(u.addresses[0])
    s.commit()
    assert s.scalars(select(Address.id)).all() == [2]
    assert s.scalars(select(Note.id)).all() == [2]


def test_replacing_collection_deletes_orphans(s: Session) -> None:
    """Assigning a new collection deletes the children that were dropped."""
    u = _graph(s)
    u.addresses = [u.addresses[1], Address(id=3)]
    s.commit()
    assert sorted(s.scalars(select(Address.id)).all()) == [2, 3]


def test_replacing_unloaded_collection_deletes_old_members(s: Session) -> None:
    """Assigning over a never-loaded delete-orphan collection still deletes the old members."""
    u = _graph(s)
    assert "addresses" not in u.__dict__
    u.addresses = [Address(id=7)]
    s.commit()
    assert s.scalars(select(Address.id)).all() == [7]
    assert count(s, Note) == 0


def test_reassigning_one_to_one_deletes_old_child(s: Session) -> None:
    """delete-orphan on a one-to-one: replacing the profile deletes the old one."""
    u = _graph(s)
    u.profile = Profile(id=2)
    s.commit()
    assert s.execute(select(Profile.id, Profile.user_id)).all() == [(2, 1)]
    u.profile = None
    s.commit()
    assert count(s, Profile) == 0


def test_moving_child_to_another_parent_is_not_an_orphan(s: Session) -> None:
    """A delete-orphan child moved to another parent is updated, not deleted."""
    u = _graph(s)
    bob = User(id=2)
    s.add(bob)
    a1 = u.addresses[0]
    a1.user = bob
    s.commit()
    assert s.execute(select(Address.user_id).where(Address.id == 1)).scalar() == 2
    assert count(s, Note) == 2


def test_remove_then_reappend_is_not_an_orphan(s: Session) -> None:
    """A child removed and re-appended before the flush stays, unchanged."""
    u = _graph(s)
    a1 = u.addresses[0]
    u.addresses.remove(a1)
    u.addresses.append(a1)
    s.commit()
    assert sorted(s.scalars(select(Address.id)).all()) == [1, 2]
    assert s.execute(select(Address.user_id).where(Address.id == 1)).scalar() == 1


def test_delete_without_delete_orphan(s: Session) -> None:
    """cascade "delete" alone: removal nulls the FK; deleting the parent deletes children."""
    s.add(Box(id=1, parts=[Part(id=1), Part(id=2)]))
    s.commit()
    box = s.get(Box, 1)
    box.parts.remove(box.parts[0])
    s.commit()
    assert s.execute(select(Part.id, Part.box_id).order_by(Part.id)).all() == [(1, None), (2, 1)]
    s.delete(box)
    s.commit()
    assert s.scalars(select(Part.id)).all() == [1]


def test_appending_to_another_parents_collection_is_not_an_orphan(s: Session) -> None:
    """A delete-orphan child appended to another parent's collection is moved, not deleted."""
    u = _graph(s)
    bob = User(id=2)
    s.add(bob)
    bob.addresses.append(u.addresses[0])
    s.commit()
    assert s.execute(select(Address.id, Address.user_id).order_by(Address.id)).all() == [
        (1, 2), (2, 1)]


def test_clearing_many_to_one_orphans_child_of_loaded_collection(s: Session) -> None:
    """child.user = None removes it from the loaded delete-orphan collection: it is deleted."""
    u = _graph(s)
    a2 = u.addresses[1]
    a2.user = None
    assert [a.id for a in u.addresses] == [1]
    s.commit()
    assert s.scalars(select(Address.id)).all() == [1]
    assert s.scalars(select(Note.id)).all() == [1]


def test_pending_orphan_is_expunged_not_inserted(s: Session) -> None:
    """A pending child removed from a delete-orphan collection leaves the session."""
    u = User(id=1)
    s.add(u)
    a = Address(id=5)
    u.addresses.append(a)
    assert a in s
    u.addresses.remove(a)
    assert a not in s
    s.commit()
    assert count(s, Address) == 0


def test_pending_never_attached_child_with_nullable_fk_is_inserted(s: Session) -> None:
    """2.0: a pending child that never had a parent is an ordinary INSERT (FK NULL)."""
    s.add(Address(id=7))
    s.commit()
    assert s.execute(select(Address.id, Address.user_id)).all() == [(7, None)]


def test_pending_orphan_with_not_null_fk_fails_in_database(s: Session) -> None:
    """A parentless pending child with a NOT NULL FK fails the flush; nothing is stored."""
    s.add(Owner(id=1, items=[Item(id=1)]))
    s.add(Item(id=2))
    with pytest.raises(exc.IntegrityError):
        s.flush()
    s.rollback()
    assert count(s, Owner) == 0 and count(s, Item) == 0


# -- expunge and refresh-expire ------------------------------------------------------------------------


def test_expunge_cascades_only_with_expunge_cascade(s: Session) -> None:
    """expunge(parent) detaches loaded "all" children but not default-cascade ones."""
    u = _graph(s)
    a1 = u.addresses[0]
    note = a1.notes[0]
    t = u.things[0]
    s.expunge(u)
    assert inspect(u).detached
    assert a1 not in s and inspect(a1).detached
    assert note not in s
    assert t in s


def test_expunge_cascades_to_pending_children(s: Session) -> None:
    """expunge(pending parent) also expunges its pending "all" children, not "things"."""
    a, t = Address(id=1), Thing(id=1)
    u = User(id=1, addresses=[a], things=[t])
    s.add(u)
    s.expunge(u)
    assert u not in s and a not in s
    assert t in s


def test_expire_cascades_only_with_refresh_expire(s: Session) -> None:
    """expire(parent) expires loaded children only along refresh-expire cascades."""
    u = _graph(s)
    a1 = u.addresses[0]
    t = u.things[0]
    assert "email" not in inspect(a1).expired_attributes
    s.expire(u)
    assert "email" in inspect(a1).expired_attributes
    assert "name" not in inspect(t).expired_attributes
    assert "name" in inspect(u).expired_attributes


def test_refresh_expires_children_along_refresh_expire(s: Session) -> None:
    """refresh(parent) reloads the parent and expires (not reloads) refresh-expire children."""
    u = _graph(s)
    a1 = u.addresses[0]
    t = u.things[0]
    s.refresh(u)
    assert "name" not in inspect(u).expired_attributes
    assert "email" in inspect(a1).expired_attributes
    assert "name" not in inspect(t).expired_attributes


# -- merge -------------------------------------------------------------------------------------------


def test_merge_detached_graph_copies_children(db: Any) -> None:
    """merge(detached parent) merges its loaded children: changes and new children flushed."""
    with Session(db) as s1:
        _graph(s1)
        u = s1.get(User, 1)
        assert len(u.addresses) == 2
    u.addresses[0].email = "changed"
    u.addresses.append(Address(id=9, email="new"))
    with Session(db) as s2:
        merged = s2.merge(u)
        assert merged is not u
        m1, _m2, m9 = merged.addresses
        assert m1 is not u.addresses[0]
        assert m1.email == "changed" and inspect(m1).persistent
        assert m9.email == "new" and inspect(m9).pending
        s2.commit()
        rows = s2.execute(select(Address.id, Address.email, Address.user_id)
                          .order_by(Address.id)).all()
        assert [tuple(r) for r in rows] == [(1, "changed", 1), (2, "", 1), (9, "new", 1)]


def test_merge_detached_graph_with_removed_child_deletes_orphan(db: Any) -> None:
    """Merging a detached parent whose collection lost a child deletes that orphan."""
    with Session(db) as s1:
        _graph(s1)
        u = s1.get(User, 1)
        assert len(u.addresses) == 2
    u.addresses.remove(u.addresses[0])
    with Session(db) as s2:
        merged = s2.merge(u)
        assert [a.id for a in merged.addresses] == [2]
        s2.commit()
        assert s2.scalars(select(Address.id)).all() == [2]
        assert s2.scalars(select(Note.id)).all() == [2]


def test_merge_without_merge_cascade_skips_relationship(s: Session) -> None:
    """cascade="": merge() does not copy the relationship nor add its objects."""
    merged = s.merge(User(id=7, others=[Other(id=1)]))
    assert merged.others == []
    assert not [o for o in s.new if isinstance(o, Other)]
    s.commit()
    assert count(s, Other) == 0 and count(s, User) == 1


def test_merge_transient_graph_creates_pending_copies(s: Session) -> None:
    """merge(transient parent with children) makes pending copies of the whole graph."""
    u = User(id=3, addresses=[Address(id=4, notes=[Note(id=5)])])
    merged = s.merge(u)
    assert merged is not u and inspect(merged).pending
    assert merged.addresses[0] is not u.addresses[0]
    assert inspect(merged.addresses[0].notes[0]).pending
    assert u not in s
    s.commit()
    assert (count(s, User), count(s, Address), count(s, Note)) == (1, 1, 1)


# -- single_parent -------------------------------------------------------------------------------------


def test_single_parent_rejects_second_parent(s: Session) -> None:
    """single_parent=True: giving the child a second parent raises InvalidRequestError."""
    a1, a2, p = Acct(id=1), Acct(id=2), Pref(id=1)
    a1.pref = p
    with pytest.raises(exc.InvalidRequestError) as info:
        a2.pref = p
    assert "Acct.pref" in str(info.value)
    assert "single parent" in str(info.value)


def test_single_parent_orphan_deleted(s: Session) -> None:
    """A single_parent many-to-one with delete-orphan deletes the de-associated target."""
    a = Acct(id=1, pref=Pref(id=1))
    s.add(a)
    s.commit()
    a.pref = None
    s.commit()
    assert count(s, Pref) == 0
    assert s.execute(select(Acct.pref_id)).scalar() is None


# -- cascade omitted ---------------------------------------------------------------------------------


def test_no_save_update_on_one_to_many_warns_and_skips_child(s: Session) -> None:
    """cascade="": the child is not added; the flush warns and does not insert it."""
    o = Other(id=1)
    u = User(id=1, others=[o])
    s.add(u)
    assert o not in s
    with pytest.warns(exc.SAWarning, match="not in session"):
        s.flush()
    s.commit()
    assert count(s, User) == 1
    assert count(s, Other) == 0


def test_no_save_update_on_many_to_one_warns_and_leaves_fk_null(s: Session) -> None:
    """cascade="" on the many-to-one: the parent is not added; the child row has a NULL FK."""
    o = Other(id=2, user=User(id=4))
    s.add(o)
    assert o.user not in s
    with pytest.warns(exc.SAWarning, match="not in session"):
        s.flush()
    s.commit()
    assert count(s, User) == 0
    assert s.execute(select(Other.id, Other.user_id)).all() == [(2, None)]
