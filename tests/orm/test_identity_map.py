"""The identity map seen through the Session: one object per identity, no
SQL for present objects, pending changes never overwritten by query rows,
and weak references to clean objects."""

from __future__ import annotations

import gc
from typing import Any

import pytest

from docket import String, event, exc, inspect, select, update
from docket.orm import DeclarativeBase, Mapped, Session, mapped_column


class Base(DeclarativeBase):
    pass


class Item(Base):
    __tablename__ = "idmap_items"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
    qty: Mapped[int | None]


class Counter:
    """Records every statement sent to the database by ``engine``."""

    def __init__(self, engine: Any) -> None:
        self.statements: list[str] = []
        event.listen(engine, "before_cursor_execute", self._on)

    def _on(self, conn: Any, cursor: Any, statement: str, parameters: Any, context: Any,
            executemany: bool) -> None:
        self.statements.append(statement)

    @property
    def selects(self) -> list[str]:
        return [s for s in self.statements if s.lstrip().upper().startswith("SELECT")]


@pytest.fixture
def eng(engine: Any) -> Any:
    Base.metadata.create_all(engine)
    with Session(engine) as s:
        s.add_all([Item(id=i, name=f"n{i}", qty=i) for i in range(1, 6)])
        s.commit()
    return engine


def test_one_object_per_identity(eng: Any) -> None:
    """get(), scalars() and a second query all return the very same object."""
    with Session(eng) as s:
        a = s.get(Item, 1)
        b = s.scalars(select(Item).where(Item.id == 1)).one()
        c = s.execute(select(Item).order_by(Item.id)).scalars().first()
        assert a is b is c


def test_get_present_object_emits_no_sql(eng: Any) -> None:
    """get() of a present, unexpired object sends no statement at all."""
    with Session(eng) as s:
        obj = s.get(Item, 2)
        counter = Counter(eng)
        for _ in range(3):
            assert s.get(Item, 2) is obj
        assert counter.statements == []


def test_get_expired_object_reloads_once(eng: Any) -> None:
    """get() of an expired object SELECTs once and returns the same object."""
    with Session(eng) as s:
        obj = s.get(Item, 2)
        s.expire(obj)
        counter = Counter(eng)
        assert s.get(Item, 2) is obj
        assert len(counter.selects) == 1
        assert obj.name == "n2"
        assert len(counter.selects) == 1


def test_get_missing_row_hits_database_each_time(eng: Any) -> None:
    """get() of an absent key returns None (a SELECT each call; nothing is cached)."""
    with Session(eng) as s:
        counter = Counter(eng)
        assert s.get(Item, 99) is None
        assert s.get(Item, 99) is None
        assert len(counter.selects) == 2


def test_query_rows_do_not_overwrite_pending_changes(eng: Any) -> None:
    """A query row for a present object keeps its unflushed change (autoflush off)."""
    with Session(eng, autoflush=False) as s:
        obj = s.get(Item, 3)
        obj.name = "changed"
        again = s.scalars(select(Item).where(Item.id == 3)).one()
        assert again is obj
        assert obj.name == "changed"
        assert s.is_modified(obj)


def test_query_rows_do_not_overwrite_loaded_values(eng: Any) -> None:
    """A row changed behind the session's back does not refresh a loaded object."""
    with Session(eng) as s:
        obj = s.get(Item, 3)
        s.execute(update(Item.__table__).where(Item.__table__.c.id == 3).values(name="db"))
        assert s.scalars(select(Item).where(Item.id == 3)).one() is obj
        assert obj.name == "n3"


def test_populate_existing_overwrites(eng: Any) -> None:
    """populate_existing refreshes the present object, discarding its pending change."""
    with Session(eng, autoflush=False) as s:
        obj = s.get(Item, 3)
        obj.name = "changed"
        stmt = select(Item).where(Item.id == 3).execution_options(populate_existing=True)
        assert s.scalars(stmt).one() is obj
        assert obj.name == "n3"
        assert not s.is_modified(obj)


def test_get_populate_existing_refreshes(eng: Any) -> None:
    """get(populate_existing=True) SELECTs and overwrites the present object."""
    with Session(eng) as s:
        obj = s.get(Item, 4)
        s.execute(update(Item.__table__).where(Item.__table__.c.id == 4).values(name="db"))
        counter = Counter(eng)
        assert s.get(Item, 4, populate_existing=True) is obj
        assert len(counter.selects) == 1
        assert obj.name == "db"


def test_expired_object_refreshed_by_query_keeps_identity(eng: Any) -> None:
    """A query row refreshes an expired present object in place."""
    with Session(eng) as s:
        obj = s.get(Item, 5)
        s.expire(obj)
        s.execute(update(Item.__table__).where(Item.__table__.c.id == 5).values(name="db"))
        assert s.scalars(select(Item).where(Item.id == 5)).one() is obj
        assert "name" in obj.__dict__ and obj.name == "db"


def test_clean_objects_are_held_weakly(eng: Any) -> None:
    """An unreferenced, unmodified object leaves the identity map after gc."""
    with Session(eng) as s:
        objs = s.scalars(select(Item)).all()
        assert len(s.identity_map) == 5
        keep = objs[0]
        del objs
        gc.collect()
        assert len(s.identity_map) == 1
        assert list(s.identity_map.values()) == [keep]
        assert list(s) == [keep]


def test_modified_objects_are_held_strongly_until_flushed(eng: Any) -> None:
    """A modified object survives losing every reference and its change is flushed."""
    with Session(eng) as s:
        obj = s.get(Item, 1)
        obj.name = "kept"
        del obj
        gc.collect()
        assert len(s.identity_map) == 1
        s.flush()
        gc.collect()
        assert len(s.identity_map) == 0  # clean after flush: weak again
        assert s.scalar(select(Item.name).where(Item.id == 1)) == "kept"


def test_new_objects_are_held_strongly(eng: Any) -> None:
    """A pending object with no other reference is still INSERTed."""
    with Session(eng) as s:
        s.add(Item(id=10, name="ten"))
        gc.collect()
        assert len(s.new) == 1
        s.commit()
        assert s.scalar(select(Item.name).where(Item.id == 10)) == "ten"


def test_deleted_objects_are_held_strongly(eng: Any) -> None:
    """An object marked for deletion with no other reference is still DELETEd."""
    with Session(eng) as s:
        s.delete(s.get(Item, 2))
        gc.collect()
        assert len(s.deleted) == 1
        s.commit()
        assert s.get(Item, 2) is None


def test_reloaded_after_collection_is_a_new_object(eng: Any) -> None:
    """After a clean object is collected, the next get() loads a fresh one."""
    with Session(eng) as s:
        s.get(Item, 1)  # loaded, never referenced
        gc.collect()
        assert len(s.identity_map) == 0
        counter = Counter(eng)
        obj = s.get(Item, 1)
        assert len(counter.selects) == 1
        assert obj.name == "n1" and len(s.identity_map) == 1


def test_second_object_same_identity_rejected_on_add(eng: Any) -> None:
    """add() of a detached copy of a present identity raises, naming the key."""
    with Session(eng, expire_on_commit=False) as s1:
        detached = s1.get(Item, 1)
    with Session(eng) as s2:
        present = s2.get(Item, 1)
        with pytest.raises(exc.InvalidRequestError, match=r"another instance with key") as ei:
            s2.add(detached)
        assert "merge" in str(ei.value)
        assert s2.get(Item, 1) is present
        assert inspect(detached).detached


@pytest.mark.filterwarnings("ignore:New instance")  # the flush may warn before failing
def test_second_object_same_identity_rejected_on_flush(eng: Any) -> None:
    """A new object reusing a present primary key fails the flush; the
    session then needs rollback() and keeps the original object."""
    with Session(eng) as s:
        present = s.get(Item, 1)
        s.add(Item(id=1, name="dup"))
        with pytest.raises((exc.IntegrityError, exc.FlushError)):
            s.flush()
        with pytest.raises(exc.PendingRollbackError):
            s.commit()
        s.rollback()
        assert s.get(Item, 1) is present
        assert present.name == "n1"


def test_merge_reconciles_second_object(eng: Any) -> None:
    """merge() copies a detached duplicate onto the present object instead."""
    with Session(eng, expire_on_commit=False) as s1:
        detached = s1.get(Item, 1)
    detached.name = "merged"
    with Session(eng) as s2:
        present = s2.get(Item, 1)
        assert s2.merge(detached) is present
        assert present.name == "merged"
        s2.commit()
        assert s2.scalar(select(Item.name).where(Item.id == 1)) == "merged"


def test_identity_map_public_mapping(eng: Any) -> None:
    """identity_map supports keys/values/items/get/in/len with SQLAlchemy keys."""
    with Session(eng) as s:
        a, b = s.get(Item, 1), s.get(Item, 2)
        keys = set(s.identity_map.keys())
        assert keys == {(Item, (1,), None), (Item, (2,), None)}
        assert dict(s.identity_map.items()) == {(Item, (1,), None): a, (Item, (2,), None): b}
        assert s.identity_map[(Item, (2,), None)] is b
        assert s.identity_map.get((Item, (3,), None), "none") == "none"
        assert (Item, (1,), None) in s.identity_map
        with pytest.raises(KeyError):
            s.identity_map[(Item, (3,), None)]


def test_deleted_flushed_object_leaves_identity_map(eng: Any) -> None:
    """A flushed DELETE removes the object from the map; get() then finds nothing."""
    with Session(eng) as s:
        obj = s.get(Item, 2)
        s.delete(obj)
        s.flush()
        assert (Item, (2,), None) not in s.identity_map
        assert obj not in s
        assert s.get(Item, 2) is None


def test_get_of_object_marked_for_deletion_returns_it(eng: Any) -> None:
    """Before the flush, get() still answers from the map (as SQLAlchemy does)."""
    with Session(eng) as s:
        obj = s.get(Item, 2)
        s.delete(obj)
        assert s.get(Item, 2) is obj


def test_rarely_set_state_attributes_round_trip(eng: Any) -> None:
    """identity_token, load_ctx, parents and the expired keys live in one
    optional slot: unset they read None without allocating it, set they read
    back, and None clears them without touching the others."""
    with Session(eng) as s:
        item = s.get(Item, 1)
        state = inspect(item)
        assert state._extra is None
        assert (state.identity_token, state.load_ctx, state.parents) == (None, None, None)
        assert state._expired_attributes is None
        state.parents = None  # clearing what was never set allocates nothing
        assert state._extra is None
        s.expire(item, ["qty"])
        assert state.expired_attributes == {"qty"}
        assert state._extra is not None and state._extra.expired == {"qty"}
        state.parents = parents = {}
        assert state.parents is parents and state.expired_attributes == {"qty"}
        state.parents = None  # clears only that one
        assert state.parents is None and state.expired_attributes == {"qty"}
        assert item.qty == 1  # reloads the expired key
        assert not state.expired_attributes


def test_identity_map_with_a_token_keeps_states_apart(eng: Any) -> None:
    """A state whose identity token is set is filed under (base mapper,
    token): found and discarded there, not under the plain key."""
    with Session(eng) as s:
        item = s.get(Item, 2)
        state = inspect(item)
        idmap = s._identity_map
        idmap._discard(state)
        assert not idmap._contains_state(state)
        state.identity_token = "shard-a"
        assert state.key == (Item, (2,), "shard-a")
        idmap._add_all([state])
        assert idmap._contains_state(state)
        assert idmap._get_state(inspect(Item), 2, "shard-a") is state
        assert idmap._get_state(inspect(Item), 2) is None
        idmap._discard(state)
        assert not idmap._contains_state(state)
        state.identity_token = None  # back under the plain key
        idmap._add_all([state])
        assert idmap._get_state(inspect(Item), 2) is state
