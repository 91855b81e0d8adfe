"""Object states through the Session: transient -> pending -> persistent ->
deleted -> detached, and the helpers that move objects between them."""

from __future__ import annotations

from typing import Any

import pytest

from docket import String, exc, inspect, select
from docket.orm import (
    DeclarativeBase,
    Mapped,
    Session,
    close_all_sessions,
    make_transient,
    make_transient_to_detached,
    mapped_column,
    object_session,
)
from docket.orm.state import ObjectState


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "states_users"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
    age: Mapped[int | None]


def flags(obj: Any) -> tuple[bool, bool, bool, bool, bool]:
    st = inspect(obj)
    return (st.transient, st.pending, st.persistent, st.deleted, st.detached)


TRANSIENT = (True, False, False, False, False)
PENDING = (False, True, False, False, False)
PERSISTENT = (False, False, True, False, False)
DELETED = (False, False, False, True, False)
DETACHED = (False, False, False, False, True)


def test_full_lifecycle_flags(eng: Any) -> None:
    """inspect() reports exactly one state at every step of the lifecycle."""
    u = User(name="ann")
    assert flags(u) == TRANSIENT
    assert inspect(u).status is ObjectState.TRANSIENT
    with Session(eng) as s:
        s.add(u)
        assert flags(u) == PENDING
        assert inspect(u).key is None
        s.flush()
        assert flags(u) == PERSISTENT
        assert inspect(u).key == (User, (u.id,), None)
        assert inspect(u).identity == (u.id,)
        s.commit()
        assert flags(u) == PERSISTENT
        s.delete(u)
        assert flags(u) == PERSISTENT  # marked, not yet flushed
        assert u in s.deleted
        s.flush()
        assert flags(u) == DELETED
        assert inspect(u).was_deleted
        assert inspect(u).session is s
        s.commit()
        assert flags(u) == DETACHED
        assert inspect(u).was_deleted
        assert inspect(u).session is None
        assert u not in s


def test_commit_keeps_persistent_and_close_detaches(eng: Any) -> None:
    """commit leaves objects persistent; close() detaches them."""
    s = Session(eng)
    u = User(name="bob")
    s.add(u)
    s.commit()
    assert flags(u) == PERSISTENT
    s.close()
    assert flags(u) == DETACHED
    assert object_session(u) is None


def test_expunge_pending_becomes_transient(eng: Any) -> None:
    """expunge() of a pending object makes it transient again."""
    with Session(eng) as s:
        u = User(name="c")
        s.add(u)
        s.expunge(u)
        assert flags(u) == TRANSIENT
        assert u not in s and not s.new


def test_expunge_persistent_becomes_detached(eng: Any) -> None:
    """expunge() of a persistent object detaches it and drops it from the map."""
    with Session(eng) as s:
        u = User(name="d")
        s.add(u)
        s.flush()
        key = inspect(u).key
        s.expunge(u)
        assert flags(u) == DETACHED
        assert key not in s.identity_map


def test_expunge_all(eng: Any) -> None:
    """expunge_all() detaches persistent and discards pending objects."""
    with Session(eng) as s:
        a, b = User(name="a"), User(name="b")
        s.add(a)
        s.flush()
        s.add(b)
        s.expunge_all()
        assert flags(a) == DETACHED
        assert flags(b) == TRANSIENT
        assert list(s) == [] and len(s.identity_map) == 0


def test_detached_readded_becomes_persistent(eng: Any) -> None:
    """add() of a detached object makes it persistent in the new session."""
    with Session(eng, expire_on_commit=False) as s1:
        u = User(name="e")
        s1.add(u)
        s1.commit()
    assert flags(u) == DETACHED
    with Session(eng) as s2:
        s2.add(u)
        assert flags(u) == PERSISTENT
        assert s2.get(User, u.id) is u
        u.name = "e2"
        s2.commit()
        assert s2.scalar(select(User.name).where(User.id == u.id)) == "e2"


def test_add_all_mixed_states_and_a_bad_object(eng: Any) -> None:
    """add_all() takes transient, detached and already-added objects (and one made
    without the constructor) in order; an unmapped object raises after the
    objects before it joined, and nothing after it does."""
    with Session(eng, expire_on_commit=False) as s1:
        old = User(name="old")
        s1.add(old)
        s1.commit()
    with Session(eng) as s:
        bare = User.__new__(User)  # no constructor ran: no state yet
        bare.name = "bare"
        a, b, c = User(name="a"), User(name="b"), User(name="c")
        s.add(a)
        s.add_all([a, old, bare, b])
        assert flags(a) == PENDING and flags(bare) == PENDING and flags(b) == PENDING
        assert flags(old) == PERSISTENT and s.get(User, old.id) is old
        assert list(s.new) == [a, bare, b]
        with pytest.raises(exc.UnmappedInstanceError, match="add"):
            s.add_all([c, object(), User(name="d")])
        assert flags(c) == PENDING
        assert len(s.new) == 4
        s.commit()
        assert sorted(s.scalars(select(User.name))) == ["a", "b", "bare", "c", "old"]


def test_make_transient(eng: Any) -> None:
    """make_transient() forgets identity and session; add() then INSERTs anew."""
    with Session(eng, expire_on_commit=False) as s:
        u = User(name="f")
        s.add(u)
        s.commit()
        old_id = u.id
        make_transient(u)
        assert flags(u) == TRANSIENT
        assert u.name == "f"  # loaded values are kept
        u.id = old_id + 100
        s.add(u)
        s.commit()
        assert sorted(s.scalars(select(User.id))) == [old_id, old_id + 100]


def test_make_transient_drops_expired_attributes(eng: Any) -> None:
    """make_transient() on an expired object leaves its unloaded attributes unset."""
    with Session(eng) as s:
        u = User(name="g")
        s.add(u)
        s.commit()  # expires u
        make_transient(u)
        assert flags(u) == TRANSIENT
        assert "name" not in u.__dict__
        assert inspect(u).expired_attributes in (None, set())


def test_make_transient_to_detached(eng: Any) -> None:
    """make_transient_to_detached() gives an identity; add() makes it persistent
    and unloaded attributes load from the row."""
    with Session(eng) as s:
        s.add(User(id=7, name="row", age=3))
        s.commit()
    u = User(id=7)
    make_transient_to_detached(u)
    assert flags(u) == DETACHED
    assert inspect(u).key == (User, (7,), None)
    with Session(eng) as s:
        s.add(u)
        assert flags(u) == PERSISTENT
        assert u.name == "row" and u.age == 3
        assert s.get(User, 7) is u


def test_make_transient_to_detached_requires_transient(eng: Any) -> None:
    """make_transient_to_detached() refuses a persistent object."""
    from docket import exc

    with Session(eng) as s:
        u = User(id=1, name="x")
        s.add(u)
        s.flush()
        with pytest.raises(exc.InvalidRequestError, match="transient"):
            make_transient_to_detached(u)


def test_new_dirty_deleted_collections(eng: Any) -> None:
    """session.new/dirty/deleted list exactly the objects in each state."""
    with Session(eng) as s:
        a, b = User(name="a"), User(name="b")
        s.add_all([a, b])
        assert set(map(id, s.new)) == {id(a), id(b)}
        s.commit()
        assert s.new == [] and s.dirty == [] and s.deleted == []
        assert a.name == "a"  # load the expired object first
        a.name = "a2"
        s.delete(b)
        assert s.dirty == [a]
        assert s.deleted == [b]
        s.flush()
        assert s.dirty == [] and s.deleted == []


def test_modify_expired_object_then_flush(eng: Any) -> None:
    """Setting an attribute of an expired object UPDATEs the row by its identity."""
    with Session(eng) as s:
        u = User(name="p")
        s.add(u)
        s.commit()  # u is expired, id not in __dict__
        u.name = "p2"
        s.commit()
        assert s.scalar(select(User.name)) == "p2"


def test_is_modified_net_change(eng: Any) -> None:
    """is_modified() is False after setting a value back; dirty stays optimistic."""
    with Session(eng) as s:
        u = User(name="h")
        s.add(u)
        s.commit()
        assert u.name == "h"
        u.name = "h"
        assert u in s.dirty
        assert not s.is_modified(u)
        u.name = "i"
        assert s.is_modified(u)


def test_contains_and_iter(eng: Any) -> None:
    """`in` covers pending and persistent objects; iteration yields them all."""
    with Session(eng) as s:
        a, b, c = User(name="a"), User(name="b"), User(name="c")
        s.add(a)
        s.flush()
        s.add(b)
        assert a in s and b in s and c not in s
        assert {id(o) for o in s} == {id(a), id(b)}


def test_identity_map_view(eng: Any) -> None:
    """identity_map is dict-like over (class, pk tuple, token) keys."""
    with Session(eng) as s:
        u = User(name="j")
        s.add(u)
        s.flush()
        key = Session.identity_key(User, u.id)
        assert key == (User, (u.id,), None)
        assert key in s.identity_map
        assert s.identity_map[key] is u
        assert s.identity_map.get((User, (999,), None)) is None
        assert list(s.identity_map.keys()) == [key]
        assert list(s.identity_map.values()) == [u]
        assert len(s.identity_map) == 1
        assert Session.identity_key(instance=u) == key


def test_object_session(eng: Any) -> None:
    """object_session() and Session.object_session() name the owning session."""
    s = Session(eng)
    u = User(name="k")
    assert object_session(u) is None
    s.add(u)
    assert object_session(u) is s
    assert Session.object_session(u) is s
    s.close()
    assert object_session(u) is None


def test_close_all_sessions(eng: Any) -> None:
    """close_all_sessions() detaches the objects of every open session."""
    s1, s2 = Session(eng), Session(eng)
    a, b = User(name="a"), User(name="b")
    s1.add(a)
    s2.add(b)
    s1.flush()
    close_all_sessions()
    assert flags(a) == DETACHED  # close() expunges first: flushed objects are detached
    assert flags(b) == TRANSIENT
    assert not s1.in_transaction() and not s2.in_transaction()


def test_session_close_all_classmethod(eng: Any) -> None:
    """Session.close_all() closes open sessions like close_all_sessions()."""
    s = Session(eng, expire_on_commit=False)
    u = User(name="l")
    s.add(u)
    s.commit()
    Session.close_all()
    assert flags(u) == DETACHED


def test_delete_then_rollback_restores_persistent(eng: Any) -> None:
    """A flushed delete rolled back leaves the object persistent again."""
    with Session(eng) as s:
        u = User(name="m")
        s.add(u)
        s.commit()
        s.delete(u)
        s.flush()
        assert flags(u) == DELETED
        s.rollback()
        assert flags(u) == PERSISTENT
        assert u.name == "m"


def test_pending_flushed_then_rolled_back_is_transient(eng: Any) -> None:
    """An object INSERTed in a rolled-back transaction becomes transient."""
    with Session(eng) as s:
        u = User(name="n")
        s.add(u)
        s.flush()
        assert flags(u) == PERSISTENT
        s.rollback()
        assert flags(u) == TRANSIENT
        assert inspect(u).key is None


def test_delete_pending_object_in_other_txn_is_unaffected(eng: Any) -> None:
    """Deleting then committing removes the row from the database."""
    with Session(eng) as s:
        u = User(name="o")
        s.add(u)
        s.commit()
        uid = u.id
        s.delete(u)
        s.commit()
        assert s.get(User, uid) is None
