"""Runtime inspection: ``inspect(cls)`` gives the Mapper, ``inspect(obj)`` the
InstanceState, with the attributes SPEC section 3 lists."""

from __future__ import annotations

from typing import Any

import pytest

from docket import ForeignKey, String, exc, func, inspect
from docket.orm import (
    ColumnProperty,
    DeclarativeBase,
    InstanceState,
    Mapped,
    Mapper,
    Session,
    class_mapper,
    column_property,
    mapped_column,
    object_mapper,
)
from docket.orm.attributes import NO_VALUE


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "insp_users"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column("user_name", String(30))
    nick: Mapped[str | None] = mapped_column(String(30), deferred=True)
    name_upper = column_property(func.upper(name))


class Address(Base):
    __tablename__ = "insp_addresses"
    user_id: Mapped[int] = mapped_column(ForeignKey("insp_users.id"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(10), primary_key=True)
    email: Mapped[str] = mapped_column(String(50))


@pytest.fixture
def session(engine: Any) -> Any:
    Base.metadata.create_all(engine)
    with Session(engine) as s:
        s.add(User(id=1, name="ann", nick="a"))
        s.commit()
        yield s


# --- Mapper ------------------------------------------------------------------------------------


def test_inspect_class_gives_mapper() -> None:
    """inspect(cls) returns the class's Mapper with its class, entity and tables."""
    m = inspect(User)
    assert isinstance(m, Mapper) and m is User.__mapper__ is class_mapper(User)
    assert m.class_ is User and m.entity is User and m.mapper is m
    assert m.local_table is User.__table__ and m.persist_selectable is User.__table__
    assert m.tables == [User.__table__]
    assert object_mapper(User()) is m


def test_mapper_columns_and_attrs() -> None:
    """columns / c are keyed by attribute; attrs / column_attrs hold the properties."""
    m = inspect(User)
    table = User.__table__
    assert m.columns.keys() == ["id", "name", "nick", "name_upper"]
    assert m.c.name is table.c.user_name and m.columns["id"] is table.c.id
    assert m.attrs.keys() == ["id", "name", "nick", "name_upper"]
    assert isinstance(m.attrs.name, ColumnProperty) and m.attrs["name"] is m.attrs.name
    assert m.attrs.name.columns == [table.c.user_name]
    assert m.column_attrs.keys() == m.attrs.keys()
    assert [p.key for p in m.attrs] == m.attrs.keys()
    assert len(m.relationships) == 0
    assert m.attrs.nick.deferred is True
    assert "name" in m.attrs and "user_name" not in m.attrs


def test_mapper_primary_key_and_identity_helpers() -> None:
    """primary_key, identity_key_from_primary_key and primary_key_from_instance."""
    m = inspect(Address)
    assert m.primary_key == (Address.__table__.c.user_id, Address.__table__.c.kind)
    assert m.identity_key_from_primary_key((1, "home")) == (Address, (1, "home"), None)
    assert m.identity_key_from_primary_key([1, "home"], "shard") == (
        Address, (1, "home"), "shard")
    a = Address(user_id=2, kind="work", email="x@y")
    assert m.primary_key_from_instance(a) == (2, "work")
    assert m.identity_key_from_instance(a) == (Address, (2, "work"), None)
    assert inspect(User).identity_key_from_primary_key(5) == (User, (5,), None)


def test_get_property() -> None:
    """get_property returns a property by key; an unknown key raises."""
    m = inspect(User)
    assert m.get_property("name") is m.attrs.name
    assert m.get_property_by_column(User.__table__.c.user_name) is m.attrs.name
    with pytest.raises(exc.InvalidRequestError, match="no property 'nope'"):
        m.get_property("nope")


def test_inspect_unmapped() -> None:
    """Unmapped classes and objects can't be inspected; class_mapper raises."""

    class Plain:
        pass

    with pytest.raises(exc.NoInspectionAvailable):
        inspect(Plain)
    with pytest.raises(exc.NoInspectionAvailable):
        inspect(Plain())
    assert inspect(Plain, raiseerr=False) is None
    with pytest.raises(exc.UnmappedClassError):
        class_mapper(Plain)
    with pytest.raises(exc.UnmappedInstanceError):
        object_mapper(Plain())


def test_class_attribute_is_sql_expression() -> None:
    """A mapped attribute on the class knows its key, class and property."""
    attr = User.name
    assert attr.key == "name" and attr.class_ is User
    assert attr.property is inspect(User).attrs.name
    assert str(attr == "x") == "insp_users.user_name = :user_name_1"


# --- InstanceState -------------------------------------------------------------------------------


def test_state_lifecycle_flags(session: Session) -> None:
    """transient -> pending -> persistent -> deleted -> detached, with
    identity, key, session and was_deleted at each step."""
    u = User(id=2, name="bob")
    st = inspect(u)
    assert isinstance(st, InstanceState) and st.object is u
    assert (st.transient, st.pending, st.persistent, st.deleted, st.detached) == (
        True, False, False, False, False)
    assert st.identity is None and st.key is None and st.identity_key is None
    assert st.session is None and st.has_identity is False
    session.add(u)
    assert st.pending and st.session is session
    session.flush()
    assert st.persistent and st.identity == (2,) and st.key == (User, (2,), None)
    assert st.identity_key == st.key and st.has_identity
    session.delete(u)
    session.flush()
    assert st.deleted and not st.persistent and st.was_deleted
    session.commit()
    assert st.detached and st.was_deleted and st.session is None
    assert st.key == (User, (2,), None)


def test_state_modified_and_expired(session: Session) -> None:
    """modified turns on at the first change; expired_attributes / unloaded list
    what a read would load."""
    u = session.get(User, 1)
    st = inspect(u)
    assert st.modified is False and st.expired_attributes == set()
    assert st.unloaded == {"nick"}  # deferred
    u.name = "x"
    assert st.modified is True
    session.expire(u, ["name"])
    assert "name" in st.expired_attributes and "name" in st.unloaded
    session.commit()
    assert st.expired is True
    assert {"id", "name", "name_upper"} <= st.expired_attributes
    assert st.unloaded == {"id", "name", "nick", "name_upper"}
    assert u.name == "ann"
    assert st.expired_attributes == set() and st.unloaded == {"nick"}


def test_attribute_states(session: Session) -> None:
    """attrs[key].value loads, loaded_value never does, history reports changes."""
    u = session.get(User, 1)
    st = inspect(u)
    assert st.attrs.keys() == ["id", "name", "nick", "name_upper"]
    assert st.attrs.nick.loaded_value is NO_VALUE
    assert st.attrs.nick.history == ((), (), ())
    assert st.attrs.nick.value == "a"
    assert st.attrs["nick"].loaded_value == "a"
    u.name = "zed"
    assert st.attrs.name.history == (["zed"], (), ["ann"])
    assert st.attrs.name.value == "zed"
    assert [a.key for a in st.attrs] == st.attrs.keys()
    with pytest.raises(KeyError):
        st.attrs["nope"]
    with pytest.raises(AttributeError, match="no mapped attribute 'nope'"):
        assert st.attrs.nope is None


def test_state_of_object_without_init() -> None:
    """inspect() on an object made with __new__ gives a transient state."""
    u = User.__new__(User)
    st = inspect(u)
    assert st.transient and st.object is u and st.mapper is inspect(User)
    assert st.unloaded == {"id", "name", "nick", "name_upper"}
