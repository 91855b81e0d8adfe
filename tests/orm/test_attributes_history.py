"""Attribute instrumentation: history recorded on first change only,
``docket.orm.attributes`` helpers, user-defined ``__setattr__`` and
properties, objects made with ``cls.__new__``, and pickling."""

from __future__ import annotations

import copy
import pickle
from typing import Any

import pytest

from docket import String, event, exc, inspect, select
from docket.orm import DeclarativeBase, Mapped, Session, column_property, mapped_column
from docket.orm.attributes import (
    NO_VALUE,
    PASSIVE_NO_INITIALIZE,
    History,
    del_attribute,
    flag_dirty,
    flag_modified,
    get_attribute,
    get_history,
    init_collection,
    instance_state,
    set_attribute,
    set_committed_value,
)
from docket.sql.functions import func


class Base(DeclarativeBase):
    pass


class Item(Base):
    __tablename__ = "hist_items"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(30))
    note: Mapped[str | None] = mapped_column(String(30))
    upper_name = column_property(func.upper(name))


class Guarded(Base):
    """A mapped class with its own __setattr__/__delattr__ and a property."""

    __tablename__ = "hist_guarded"
    id: Mapped[int] = mapped_column(primary_key=True)
    _code: Mapped[str | None] = mapped_column("code", String(10))
    calls: list[str] = []

    def __setattr__(self, key: str, value: Any) -> None:
        type(self).calls.append(key)
        if key == "_code" and isinstance(value, str):
            value = value.strip()
        super().__setattr__(key, value)

    def __delattr__(self, key: str) -> None:
        type(self).calls.append(f"del {key}")
        super().__delattr__(key)

    @property
    def code(self) -> str | None:
        return self._code

    @code.setter
    def code(self, value: str) -> None:
        self._code = value.upper()


class Statements:
    """Records the SQL statements ``engine`` executes."""

    def __init__(self, engine: Any) -> None:
        self.sql: list[str] = []
        event.listen(engine, "before_cursor_execute", self._on)

    def _on(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        self.sql.append(statement.split(None, 1)[0].upper())


@pytest.fixture
def session(engine: Any) -> Any:
    Base.metadata.create_all(engine)
    with Session(engine) as s:
        s.add(Item(id=1, name="one", note=None))
        s.commit()
        yield s


# --- history semantics ----------------------------------------------------------------------


def test_transient_history() -> None:
    """On a new object: unset -> empty history; set -> added (None included)."""
    item = Item()
    assert get_history(item, "name") == ((), (), ())
    item.name = "a"
    item.note = None
    assert get_history(item, "name") == (["a"], (), ())
    assert get_history(item, "note") == ([None], (), ())
    assert isinstance(get_history(item, "name"), History)
    assert inspect(item).committed_state == {"name": NO_VALUE, "note": NO_VALUE}


def test_persistent_history_first_change_only(session: Session) -> None:
    """The committed value is recorded once: two changes report the loaded
    value as deleted and the latest as added."""
    item = session.get(Item, 1)
    assert get_history(item, "name") == ((), ["one"], ())
    assert inspect(item).committed_state is None
    item.name = "two"
    item.name = "three"
    assert inspect(item).committed_state == {"name": "one"}
    assert get_history(item, "name") == (["three"], (), ["one"])
    assert get_history(item, "name").has_changes()


def test_set_back_to_loaded_value_is_no_net_change(session: Session, engine: Any) -> None:
    """Setting the loaded value again (or back) leaves no net change: no UPDATE."""
    item = session.get(Item, 1)
    item.name = "changed"
    item.name = "one"
    assert get_history(item, "name") == ((), ["one"], ())
    assert item in session.dirty and not session.is_modified(item)
    stmts = Statements(engine)
    session.flush()
    assert "UPDATE" not in stmts.sql


def test_none_values_in_history(session: Session) -> None:
    """A loaded None is reported as deleted when replaced; setting None records it."""
    item = session.get(Item, 1)
    item.note = "n"
    assert get_history(item, "note") == (["n"], (), [None])
    item.name = None  # type: ignore[assignment]
    assert get_history(item, "name") == ([None], (), ["one"])


def test_expired_attribute_history_loads_unless_passive(session: Session) -> None:
    """get_history loads an expired attribute; attrs[...].history and
    PASSIVE_NO_INITIALIZE do not."""
    item = session.get(Item, 1)
    session.expire(item, ["name"])
    state = inspect(item)
    assert state.attrs.name.history == ((), (), ())
    assert get_history(item, "name", PASSIVE_NO_INITIALIZE) == ((), (), ())
    assert "name" not in item.__dict__
    assert get_history(item, "name") == ((), ["one"], ())
    assert item.__dict__["name"] == "one"


def test_set_on_expired_attribute_has_no_deleted_value(session: Session) -> None:
    """Setting an expired (unloaded) attribute records no previous value."""
    item = session.get(Item, 1)
    session.expire(item, ["name"])
    item.name = "new"
    assert get_history(item, "name") == (["new"], (), ())


def test_detached_unloaded_history_raises(session: Session) -> None:
    """Loading history of an expired attribute on a detached object raises."""
    item = session.get(Item, 1)
    session.expire(item, ["name"])
    session.expunge(item)
    with pytest.raises(exc.DetachedInstanceError):
        get_history(item, "name")
    assert get_history(item, "name", PASSIVE_NO_INITIALIZE) == ((), (), ())


def test_history_of_unknown_attribute_raises() -> None:
    """History of a name that isn't mapped raises InvalidRequestError naming it."""
    with pytest.raises(exc.InvalidRequestError, match="no mapped attribute 'nope'"):
        get_history(Item(), "nope")


# --- helpers -------------------------------------------------------------------------------------


def test_flag_modified_forces_update(session: Session, engine: Any) -> None:
    """flag_modified marks a loaded attribute changed; the flush UPDATEs it."""
    item = session.get(Item, 1)
    flag_modified(item, "name")
    assert get_history(item, "name") == (["one"], (), ())
    assert session.is_modified(item)
    stmts = Statements(engine)
    session.flush()
    assert stmts.sql == ["UPDATE"]


def test_flag_modified_rejects_unloaded_and_unknown(session: Session) -> None:
    """flag_modified on an unloaded or unmapped attribute raises InvalidRequestError."""
    item = session.get(Item, 1)
    session.expire(item, ["note"])
    with pytest.raises(exc.InvalidRequestError, match="not present"):
        flag_modified(item, "note")
    with pytest.raises(exc.InvalidRequestError, match="no mapped attribute"):
        flag_modified(item, "missing")


def test_flag_dirty_marks_without_update(session: Session, engine: Any) -> None:
    """flag_dirty puts the object in session.dirty; no attribute changed, no UPDATE."""
    item = session.get(Item, 1)
    flag_dirty(item)
    assert item in session.dirty and not session.is_modified(item)
    stmts = Statements(engine)
    session.flush()
    assert "UPDATE" not in stmts.sql


def test_set_committed_value_has_no_history(session: Session, engine: Any) -> None:
    """set_committed_value sets a value as if loaded, discarding a pending change."""
    item = session.get(Item, 1)
    item.note = "pending"
    set_committed_value(item, "note", "db-value")
    assert item.note == "db-value"
    assert get_history(item, "note") == ((), ["db-value"], ())
    stmts = Statements(engine)
    session.flush()
    assert "UPDATE" not in stmts.sql
    session.expire(item, ["name"])
    set_committed_value(item, "name", "filled")
    assert "name" not in inspect(item).expired_attributes
    assert item.name == "filled"


def test_set_get_del_attribute() -> None:
    """set_attribute / get_attribute / del_attribute act with history and
    bypass user-defined __setattr__."""
    g = Guarded(id=1)
    Guarded.calls.clear()
    set_attribute(g, "_code", "  raw  ")
    assert g._code == "  raw  " and Guarded.calls == []
    assert get_attribute(g, "_code") == "  raw  "
    assert get_history(g, "_code") == (["  raw  "], (), ())
    del_attribute(g, "_code")
    assert g._code is None and Guarded.calls == []
    with pytest.raises(exc.InvalidRequestError, match="no mapped attribute"):
        set_attribute(g, "code", "x")


def test_del_attribute_writes_null(session: Session) -> None:
    """Deleting a loaded attribute records the old value and flushes NULL."""
    item = session.get(Item, 1)
    item.note = "x"
    session.commit()
    assert item.note == "x"  # reload after commit expired it
    del item.note
    assert get_history(item, "note") == ([None], (), ["x"])
    session.commit()
    assert session.scalar(select(Item.note).where(Item.id == 1)) is None


def test_del_unset_attribute_raises() -> None:
    """Deleting an attribute that never had a value raises AttributeError."""
    with pytest.raises(AttributeError, match="no value to delete"):
        del Item().name


def test_init_collection_on_column_raises() -> None:
    """init_collection() on a column attribute raises InvalidRequestError."""
    with pytest.raises(exc.InvalidRequestError, match="not a collection"):
        init_collection(Item(), "name")


def test_instance_state_is_inspect_result() -> None:
    """instance_state(obj) is inspect(obj); unmapped objects raise UnmappedInstanceError."""
    item = Item()
    assert instance_state(item) is inspect(item)
    with pytest.raises(exc.UnmappedInstanceError):
        instance_state(object())


def test_expression_attribute_assignable_not_persisted(session: Session, engine: Any) -> None:
    """A column_property SQL expression can be assigned (as in SQLAlchemy) but
    is never written: the flush emits no UPDATE for it."""
    item = session.get(Item, 1)
    assert item.upper_name == "ONE"
    item.upper_name = "X"
    assert get_history(item, "upper_name") == (["X"], (), ["ONE"])
    stmts = Statements(engine)
    session.flush()
    assert "UPDATE" not in stmts.sql


# --- user-defined __setattr__, properties, __new__ -----------------------------------------


def test_user_setattr_and_property_keep_working(session: Session) -> None:
    """A class's own __setattr__ runs for mapped attributes and history is kept;
    a property writing a mapped attribute works too."""
    Guarded.calls.clear()
    g = Guarded(id=5, _code="  ab ")
    assert g._code == "ab" and Guarded.calls == ["id", "_code"]
    g.code = "xy"
    assert g._code == "XY" and Guarded.calls[-2:] == ["code", "_code"]
    assert get_history(g, "_code") == (["XY"], (), ())
    session.add(g)
    session.commit()
    assert g._code == "XY"
    g._code = " z "
    assert get_history(g, "_code") == (["z"], (), ["XY"])
    del g._code
    assert Guarded.calls[-1] == "del _code" and g._code is None
    session.commit()
    session.expunge_all()
    assert session.get(Guarded, 5)._code is None


def test_object_made_with_new(session: Session) -> None:
    """An object created with ``cls.__new__`` (no __init__) reads None, records
    history and can be flushed."""
    item = Item.__new__(Item)
    assert item.name is None and inspect(item).transient
    item.id, item.name = 7, "raw"
    assert get_history(item, "name") == (["raw"], (), ())
    session.add(item)
    session.commit()
    assert session.scalar(select(Item.name).where(Item.id == 7)) == "raw"


# --- pickling --------------------------------------------------------------------------------------


def test_pickle_persistent_object_unpickles_detached(session: Session) -> None:
    """A pickled persistent object unpickles detached, with its loaded values,
    identity key and pending history."""
    item = session.get(Item, 1)
    item.note = "pending"
    clone = pickle.loads(pickle.dumps(item))
    state = inspect(clone)
    assert state.detached and state.key == (Item, (1,), None)
    assert state.session is None and state is not inspect(item)
    assert (clone.id, clone.name, clone.note) == (1, "one", "pending")
    assert get_history(clone, "note") == (["pending"], (), [None])
    assert inspect(item).persistent  # the original is untouched


def test_pickled_object_can_be_merged_back(session: Session) -> None:
    """An unpickled detached object merges into a session, carrying its change."""
    item = session.get(Item, 1)
    session.commit()
    assert item.name == "one"
    data = pickle.dumps(item)
    session.close()
    clone = pickle.loads(data)
    clone.name = "renamed"
    merged = session.merge(clone)
    session.commit()
    assert merged.name == "renamed"
    assert session.scalar(select(Item.name).where(Item.id == 1)) == "renamed"


def test_pickle_transient_and_deepcopy() -> None:
    """A transient object unpickles transient; deepcopy gives the copy its own state."""
    item = Item(name="t")
    clone = pickle.loads(pickle.dumps(item, protocol=0))
    assert inspect(clone).transient and clone.name == "t"
    assert get_history(clone, "name") == (["t"], (), ())
    dup = copy.deepcopy(item)
    assert inspect(dup) is not inspect(item) and inspect(dup).obj() is dup
    dup.name = "changed"
    assert item.name == "t"
