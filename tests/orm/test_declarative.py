"""Declarative mapping: DeclarativeBase, Mapped[...] annotations (this module
uses ``from __future__ import annotations``, so every annotation is a string
resolved at mapping time), mapped_column options, table configuration,
mixins, declared_attr, __mapper_args__, column_property and deferred."""

# This module deliberately spells nullable annotations both as Optional[X] and X | None.
# ruff: noqa: UP045

from __future__ import annotations

import datetime
import decimal
import enum
import uuid
from typing import Annotated, Any, Literal, Optional

import pytest

from docket import (
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    UniqueConstraint,
    exc,
    func,
    select,
    text,
)
from docket.orm import (
    DeclarativeBase,
    Mapped,
    Session,
    column_property,
    declared_attr,
    mapped_column,
    registry,
)
from docket.orm.exc import MappedAnnotationError
from docket.sql import types as sqltypes


class Mood(enum.Enum):
    happy = "h"
    sad = "s"


intpk = Annotated[int, mapped_column(primary_key=True)]
str30 = Annotated[str, 30]
required_name = Annotated[str, mapped_column(String(40), nullable=False, index=True)]


def new_base(**attrs: Any) -> Any:
    """A fresh declarative base (own registry and MetaData) per test."""
    return type("Base", (DeclarativeBase,), dict(attrs))


def col(cls: Any, name: str) -> Any:
    return cls.__table__.c[name]


# --- the base class -------------------------------------------------------------------------


def test_base_gets_registry_and_metadata() -> None:
    """A DeclarativeBase subclass owns a registry whose MetaData collects the tables."""
    Base = new_base()

    class User(Base):
        __tablename__ = "user_account"
        id: Mapped[int] = mapped_column(primary_key=True)

    assert isinstance(Base.registry, registry)
    assert Base.metadata is Base.registry.metadata
    assert Base.metadata.tables["user_account"] is User.__table__
    assert User.__mapper__ in Base.registry.mappers


def test_base_uses_given_metadata_and_registry() -> None:
    """``metadata`` / ``registry`` class attributes on the base are used as given."""
    md = MetaData()
    Base1 = new_base(metadata=md)
    reg = registry()
    Base2 = new_base(registry=reg)

    class A(Base1):
        __tablename__ = "a"
        id: Mapped[int] = mapped_column(primary_key=True)

    class B(Base2):
        __tablename__ = "b"
        id: Mapped[int] = mapped_column(primary_key=True)

    assert Base1.metadata is md and "a" in md.tables
    assert Base2.registry is reg and Base2.metadata is reg.metadata
    assert "b" in reg.metadata.tables


def test_type_annotation_map_overrides_defaults() -> None:
    """The base's type_annotation_map wins for plain and Annotated types."""
    Base = new_base(type_annotation_map={str: String(80), str30: String(30),
                                         int: sqltypes.BigInteger})

    class T(Base):
        __tablename__ = "t"
        id: Mapped[int] = mapped_column(primary_key=True)
        name: Mapped[str]
        code: Mapped[str30]

    assert isinstance(col(T, "id").type, sqltypes.BigInteger)
    assert col(T, "name").type.length == 80
    assert col(T, "code").type.length == 30


# --- annotations --------------------------------------------------------------------------------


def test_annotations_give_default_types() -> None:
    """Python types map to SQL types as in SQLAlchemy's default type map."""
    Base = new_base()

    class T(Base):
        __tablename__ = "t"
        id: Mapped[int] = mapped_column(primary_key=True)
        s: Mapped[str]
        f: Mapped[float]
        b: Mapped[bool]
        n: Mapped[decimal.Decimal]
        dt: Mapped[datetime.datetime]
        d: Mapped[datetime.date]
        tm: Mapped[datetime.time]
        iv: Mapped[datetime.timedelta]
        raw: Mapped[bytes]
        u: Mapped[uuid.UUID]

    expected = {
        "id": sqltypes.Integer, "s": sqltypes.String, "f": sqltypes.Float,
        "b": sqltypes.Boolean, "n": sqltypes.Numeric, "dt": sqltypes.DateTime,
        "d": sqltypes.Date, "tm": sqltypes.Time, "iv": sqltypes.Interval,
        "raw": sqltypes.LargeBinary, "u": sqltypes.Uuid,
    }
    for name, type_ in expected.items():
        assert isinstance(col(T, name).type, type_), name


def test_optional_and_union_none_make_nullable() -> None:
    """``Optional[X]`` and ``X | None`` give NULL columns, plain ``X`` NOT NULL."""
    Base = new_base()

    class T(Base):
        __tablename__ = "t"
        id: Mapped[int] = mapped_column(primary_key=True)
        a: Mapped[str]
        b: Mapped[Optional[str]]
        c: Mapped[str | None]
        d: Mapped[Optional[int]] = mapped_column(nullable=False)
        e: Mapped[str] = mapped_column(nullable=True)

    assert col(T, "id").nullable is False
    assert col(T, "a").nullable is False
    assert col(T, "b").nullable is True
    assert col(T, "c").nullable is True
    assert isinstance(col(T, "c").type, sqltypes.String)
    assert col(T, "d").nullable is False  # explicit nullable wins
    assert col(T, "e").nullable is True


def test_enum_and_literal_annotations_map_to_enum() -> None:
    """``Mapped[SomeEnum]`` and ``Mapped[Literal[...]]`` become Enum columns."""
    Base = new_base()

    class T(Base):
        __tablename__ = "t"
        id: Mapped[int] = mapped_column(primary_key=True)
        mood: Mapped[Mood]
        kind: Mapped[Literal["a", "b"]]

    assert isinstance(col(T, "mood").type, sqltypes.Enum)
    assert col(T, "mood").type.enum_class is Mood
    assert isinstance(col(T, "kind").type, sqltypes.Enum)
    assert col(T, "kind").type.enums == ["a", "b"]


def test_annotated_mapped_column_is_merged() -> None:
    """``Annotated[int, mapped_column(...)]`` supplies column options; the class's
    own mapped_column arguments win over them."""
    Base = new_base()

    class T(Base):
        __tablename__ = "t"
        id: Mapped[intpk]
        name: Mapped[required_name]
        other: Mapped[required_name] = mapped_column(String(10), index=False)

    assert list(T.__table__.primary_key) == [col(T, "id")]
    assert col(T, "name").type.length == 40 and col(T, "name").index is True
    assert col(T, "name").nullable is False
    assert col(T, "other").type.length == 10 and col(T, "other").index is False


def test_unresolvable_annotation_raises() -> None:
    """An annotation whose type can't be resolved raises MappedAnnotationError naming it."""
    Base = new_base()
    with pytest.raises(MappedAnnotationError, match="NoSuchType"):
        class T(Base):
            __tablename__ = "t"
            id: Mapped[int] = mapped_column(primary_key=True)
            x: Mapped[NoSuchType]  # type: ignore[name-defined]  # noqa: F821


def test_type_without_sql_type_raises() -> None:
    """A Python type with no SQL type raises MappedAnnotationError with the fix."""
    Base = new_base()
    with pytest.raises(MappedAnnotationError, match="type_annotation_map"):
        class T(Base):
            __tablename__ = "t"
            id: Mapped[int] = mapped_column(primary_key=True)
            x: Mapped[complex]


def test_mapped_column_without_any_type_raises() -> None:
    """mapped_column() with no annotation, type or ForeignKey raises."""
    Base = new_base()
    with pytest.raises(MappedAnnotationError, match="Can't determine the type"):
        class T(Base):
            __tablename__ = "t"
            id: Mapped[int] = mapped_column(primary_key=True)
            x = mapped_column()


# --- mapped_column ----------------------------------------------------------------------------


def test_column_name_differs_from_attribute() -> None:
    """``mapped_column("user_name")`` names the column; the attribute keeps its name."""
    Base = new_base()

    class User(Base):
        __tablename__ = "users"
        id: Mapped[int] = mapped_column("user_id", primary_key=True)
        name: Mapped[str] = mapped_column("user_name")
        nick: Mapped[Optional[str]] = mapped_column("nick_col", key="nick_key")

    assert User.__table__.c.keys() == ["user_id", "user_name", "nick_key"]
    assert col(User, "nick_key").name == "nick_col"
    sql = str(select(User.id, User.name).where(User.name == "x"))
    assert "users.user_id" in sql and "users.user_name" in sql
    u = User(name="a", nick="b")
    assert (u.name, u.nick) == ("a", "b")
    assert User.__mapper__.attrs.nick.columns[0] is col(User, "nick_key")


def test_mapped_column_options_reach_the_column() -> None:
    """Every Column option given to mapped_column() is on the table column."""
    Base = new_base()

    def stamp() -> str:
        return "now"

    class T(Base):
        __tablename__ = "t"
        id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
        a: Mapped[str] = mapped_column(String(20), default="x", index=True,
                                       comment="the a", info={"k": 1}, doc="A doc")
        b: Mapped[str] = mapped_column(insert_default=stamp, onupdate=stamp, unique=True)
        c: Mapped[Optional[str]] = mapped_column(server_default=text("'s'"),
                                                 server_onupdate=text("'u'"))

    a, b, c = col(T, "a"), col(T, "b"), col(T, "c")
    assert col(T, "id").primary_key and col(T, "id").autoincrement is False
    assert a.type.length == 20 and a.default.arg == "x" and a.index is True
    assert (a.comment, a.info, a.doc) == ("the a", {"k": 1}, "A doc")
    assert b.default is not None and b.onupdate is not None and b.unique is True
    assert c.server_default is not None and c.server_onupdate is not None
    assert any(isinstance(i, Index) and list(i.columns) == [a] for i in T.__table__.indexes)
    assert T.__mapper__.attrs.a.info == {"k": 1}
    assert T.__mapper__.attrs.a.doc == "A doc"


def test_foreign_key_takes_target_type() -> None:
    """A mapped_column with only a ForeignKey gets the referenced column's type,
    whether the target table is declared before or after it."""
    Base = new_base()

    class Parent(Base):
        __tablename__ = "parent"
        id: Mapped[str] = mapped_column(String(12), primary_key=True)

    class Child(Base):
        __tablename__ = "child"
        id: Mapped[int] = mapped_column(primary_key=True)
        parent_id = mapped_column(ForeignKey("parent.id"))
        later_id: Mapped[Optional[int]] = mapped_column(ForeignKey("later.id"))
        early_id = mapped_column(ForeignKey("later.code"))

    class Later(Base):
        __tablename__ = "later"
        id: Mapped[int] = mapped_column(primary_key=True)
        code: Mapped[str] = mapped_column(String(5), unique=True)

    assert isinstance(col(Child, "parent_id").type, sqltypes.String)
    assert col(Child, "parent_id").type.length == 12
    assert isinstance(col(Child, "later_id").type, sqltypes.Integer)
    assert [fk.column for fk in col(Child, "early_id").foreign_keys] == [col(Later, "code")]
    assert col(Child, "early_id").type.length == 5


def test_composite_primary_key() -> None:
    """Two primary_key columns make a composite key, in declaration order."""
    Base = new_base()

    class T(Base):
        __tablename__ = "t"
        a: Mapped[int] = mapped_column(primary_key=True)
        b: Mapped[str] = mapped_column(String(5), primary_key=True)
        v: Mapped[Optional[str]]

    assert [c.name for c in T.__mapper__.primary_key] == ["a", "b"]
    assert T.__mapper__.identity_key_from_primary_key((1, "x")) == (T, (1, "x"), None)


# --- table configuration -----------------------------------------------------------------------


@pytest.mark.parametrize("form", ["tuple", "dict", "tuple+dict"])
def test_table_args_forms(form: str) -> None:
    """__table_args__ accepts a tuple of constraints, a dict of options, or both."""
    Base = new_base()
    args: Any = {
        "tuple": (UniqueConstraint("a", "b", name="uq_ab"),),
        "dict": {"comment": "table comment"},
        "tuple+dict": (UniqueConstraint("a", "b", name="uq_ab"), {"comment": "table comment"}),
    }[form]

    class T(Base):
        __tablename__ = "t"
        __table_args__ = args
        id: Mapped[int] = mapped_column(primary_key=True)
        a: Mapped[int]
        b: Mapped[int]

    names = {getattr(c, "name", None) for c in T.__table__.constraints}
    assert ("uq_ab" in names) == (form != "dict")
    assert (T.__table__.comment == "table comment") == (form != "tuple")


def test_bad_table_args_raises() -> None:
    """A __table_args__ that is neither tuple nor dict raises ArgumentError."""
    Base = new_base()
    with pytest.raises(exc.ArgumentError, match="__table_args__ must be a tuple"):
        class T(Base):
            __tablename__ = "t"
            __table_args__ = ["nope"]
            id: Mapped[int] = mapped_column(primary_key=True)


def test_existing_table_is_mapped() -> None:
    """``__table__`` maps an existing Table; annotations there only type the attributes."""
    Base = new_base()
    table = Table("things", Base.metadata,
                  Column("id", Integer, primary_key=True), Column("name", String(20)))

    class Thing(Base):
        __table__ = table
        id: Mapped[int]
        name: Mapped[str]
        upper_name = column_property(func.upper(table.c.name))

    assert Thing.__table__ is table
    assert Thing.__mapper__.local_table is table
    assert Thing.__mapper__.attrs.keys() == ["id", "name", "upper_name"]
    t = Thing(id=1, name="x")
    assert (t.id, t.name) == (1, "x")


def test_existing_table_rejects_extra_columns() -> None:
    """A class-body column next to ``__table__`` raises ArgumentError."""
    Base = new_base()
    table = Table("things", Base.metadata, Column("id", Integer, primary_key=True))
    with pytest.raises(exc.ArgumentError, match="existing __table__"):
        class Thing(Base):
            __table__ = table
            extra: Mapped[int] = mapped_column()


def test_missing_tablename_raises() -> None:
    """A mapped class with neither __tablename__ nor __table__ raises, naming the fix."""
    Base = new_base()
    with pytest.raises(exc.InvalidRequestError, match="__abstract__"):
        class T(Base):
            id: Mapped[int] = mapped_column(primary_key=True)


# --- mixins, abstract bases, declared_attr -----------------------------------------------------


class HasId:
    id: Mapped[int] = mapped_column(primary_key=True)


class Timestamped:
    created: Mapped[Optional[datetime.datetime]] = mapped_column(default=None)


class NamedByClass:
    @declared_attr.directive
    def __tablename__(cls) -> str:
        return cls.__name__.lower()


class HasOwner:
    owner_id = mapped_column(ForeignKey("owner.id"))

    @declared_attr
    def note(cls) -> Mapped[Optional[str]]:
        return mapped_column(String(10), comment=f"note of {cls.__name__}")

    @declared_attr
    def __table_args__(cls) -> Any:
        return (Index(f"ix_{cls.__name__.lower()}_owner", "owner_id"),)


def test_mixin_columns_are_copied_per_class() -> None:
    """Mixin columns (incl. ForeignKeys and declared_attr) are copied into each class."""
    Base = new_base()

    class Owner(NamedByClass, HasId, Base):
        pass

    class Car(NamedByClass, HasOwner, HasId, Timestamped, Base):
        model: Mapped[str]

    class Boat(NamedByClass, HasOwner, HasId, Base):
        pass

    assert Owner.__table__.name == "owner" and Car.__table__.name == "car"
    assert col(Car, "id") is not col(Boat, "id")
    assert col(Car, "owner_id") is not col(Boat, "owner_id")
    assert [fk.column for fk in col(Car, "owner_id").foreign_keys] == [col(Owner, "id")]
    assert [fk.column for fk in col(Boat, "owner_id").foreign_keys] == [col(Owner, "id")]
    assert col(Car, "note").comment == "note of Car"
    assert col(Boat, "note").comment == "note of Boat"
    assert col(Car, "note").nullable is True and col(Car, "note").type.length == 10
    assert {i.name for i in Car.__table__.indexes} == {"ix_car_owner"}
    assert col(Car, "created").nullable is True


def test_own_columns_before_mixin_columns_and_sort_order() -> None:
    """A class's own columns come first, then its mixins' in MRO order;
    ``sort_order`` moves a column."""
    Base = new_base()

    class First:
        pk: Mapped[int] = mapped_column(primary_key=True, sort_order=-10)

    class T(Timestamped, First, Base):
        __tablename__ = "t"
        b: Mapped[int]
        a: Mapped[int]
        z: Mapped[int] = mapped_column(sort_order=10)

    assert T.__table__.c.keys() == ["pk", "b", "a", "created", "z"]


def test_source_order_with_unannotated_columns() -> None:
    """Class-body order is kept where Python records it; between two annotated
    assignments, unannotated columns precede annotation-only ones (SQLAlchemy's
    reconciliation of ``__dict__`` and ``__annotations__``)."""
    Base = new_base()

    class Parent(Base):
        __tablename__ = "parent"
        id: Mapped[int] = mapped_column(primary_key=True)

    class T(Base):
        __tablename__ = "t"
        id: Mapped[int] = mapped_column(primary_key=True)
        parent_id = mapped_column(ForeignKey("parent.id"))
        name: Mapped[str]
        legacy = Column(String(5))
        last: Mapped[int]
        tail: Mapped[int] = mapped_column()

    assert T.__table__.c.keys() == ["id", "parent_id", "legacy", "name", "last", "tail"]


def test_abstract_base_is_not_mapped_and_shares_columns() -> None:
    """An ``__abstract__`` base maps nothing; its columns go to each subclass."""
    Base = new_base()

    class Abstract(Base):
        __abstract__ = True
        id: Mapped[int] = mapped_column(primary_key=True)
        kind: Mapped[str] = mapped_column(String(8), default="k")

    class A(Abstract):
        __tablename__ = "a"

    class B(Abstract):
        __tablename__ = "b"
        extra: Mapped[int]

    assert "__mapper__" not in Abstract.__dict__
    assert A.__table__.c.keys() == ["id", "kind"]
    assert B.__table__.c.keys() == ["extra", "id", "kind"]
    assert col(A, "kind") is not col(B, "kind")


def test_subclass_attribute_shadows_mixin_column() -> None:
    """A plain attribute of the class hides a mixin's column of the same name."""
    Base = new_base()

    class T(Timestamped, Base):
        __tablename__ = "t"
        id: Mapped[int] = mapped_column(primary_key=True)
        created = None

    assert T.__table__.c.keys() == ["id"]


def test_subclassing_a_mapped_class_is_rejected_clearly() -> None:
    """Inheriting from a mapped class raises until inheritance is supported."""
    Base = new_base()

    class A(Base):
        __tablename__ = "a"
        id: Mapped[int] = mapped_column(primary_key=True)

    with pytest.raises(exc.ArgumentError, match="inheritance"):
        class B(A):
            __tablename__ = "b"


# --- __mapper_args__ ---------------------------------------------------------------------------


def test_mapper_args_take_mapped_column_objects() -> None:
    """version_id_col / primary_key may name mapped_column() objects or Columns."""
    Base = new_base()

    class A(Base):
        __tablename__ = "a"
        id: Mapped[int] = mapped_column(primary_key=True)
        version: Mapped[int] = mapped_column(nullable=False)
        __mapper_args__ = {"version_id_col": version, "eager_defaults": True}

    legacy = Column("version", Integer, nullable=False)

    class B(Base):
        __tablename__ = "b"
        id: Mapped[int] = mapped_column(primary_key=True)
        version = legacy
        __mapper_args__ = {"version_id_col": legacy, "eager_defaults": False}

    class Versioned:
        ver: Mapped[int] = mapped_column(default=1)

        @declared_attr.directive
        def __mapper_args__(cls) -> dict[str, Any]:
            return {"version_id_col": cls.ver}

    class C(Versioned, Base):
        __tablename__ = "c"
        id: Mapped[int] = mapped_column(primary_key=True)

    class NoPk(Base):
        __tablename__ = "nopk"
        a: Mapped[int] = mapped_column()
        b: Mapped[int] = mapped_column()
        __mapper_args__ = {"primary_key": [a, b]}

    assert A.__mapper__.version_id_col is col(A, "version")
    assert A.__mapper__.eager_defaults is True
    assert B.__mapper__.version_id_col is col(B, "version")
    assert B.__mapper__.eager_defaults is False
    assert C.__mapper__.version_id_col is col(C, "ver")
    assert NoPk.__mapper__.primary_key == (col(NoPk, "a"), col(NoPk, "b"))


def test_unknown_mapper_arg_raises() -> None:
    """An unsupported __mapper_args__ key raises ArgumentError naming it."""
    Base = new_base()
    with pytest.raises(exc.ArgumentError, match="bogus"):
        class A(Base):
            __tablename__ = "a"
            id: Mapped[int] = mapped_column(primary_key=True)
            __mapper_args__ = {"bogus": 1}


# --- errors ------------------------------------------------------------------------------------


def test_keyword_constructor_rejects_unknown_names() -> None:
    """The default constructor raises SQLAlchemy's TypeError for unknown keywords."""
    Base = new_base()

    class User(Base):
        __tablename__ = "users"
        id: Mapped[int] = mapped_column(primary_key=True)
        name: Mapped[str]

    with pytest.raises(TypeError) as info:
        User(name="x", nmae="typo")
    assert str(info.value) == "'nmae' is an invalid keyword argument for User"
    assert User(name="ok").name == "ok"


def test_class_without_primary_key_raises() -> None:
    """A table without a primary key can't be mapped: ArgumentError names table and fix."""
    Base = new_base()
    with pytest.raises(exc.ArgumentError,
                       match="could not assemble any primary key columns.*'nopk'"):
        class T(Base):
            __tablename__ = "nopk"
            a: Mapped[int]


def test_mapping_a_class_twice_raises() -> None:
    """Mapping an already-mapped class again raises ArgumentError."""
    Base = new_base()

    class T(Base):
        __tablename__ = "t"
        id: Mapped[int] = mapped_column(primary_key=True)

    with pytest.raises(exc.ArgumentError, match="already has a primary mapper"):
        Base.registry.map_imperatively(T, T.__table__)
    with pytest.raises(exc.ArgumentError, match="already has a primary mapper"):
        Base.registry.mapped(T)


def test_relationship_annotation_without_value_raises() -> None:
    """``Mapped[list[X]]`` with no relationship() assigned raises ArgumentError."""
    Base = new_base()

    class Child(Base):
        __tablename__ = "child"
        id: Mapped[int] = mapped_column(primary_key=True)

    with pytest.raises(exc.ArgumentError, match="relationship"):
        class Parent(Base):
            __tablename__ = "parent"
            id: Mapped[int] = mapped_column(primary_key=True)
            children: Mapped[list[Child]]


# --- loading behaviour of mapped attributes (real databases) --------------------------------


def test_column_property_loads_with_object(engine: Any) -> None:
    """A column_property SQL expression is loaded with the object and filters."""
    Base = new_base()

    class User(Base):
        __tablename__ = "cp_users"
        id: Mapped[int] = mapped_column(primary_key=True)
        name: Mapped[str] = mapped_column(String(20))
        lower_name = column_property(func.lower(name))

    Base.metadata.create_all(engine)
    with Session(engine) as s:
        s.add(User(id=1, name="MiXeD"))
        s.commit()
        s.expunge_all()
        u = s.scalars(select(User)).one()
        assert u.__dict__["lower_name"] == "mixed"
        assert s.scalars(select(User).where(User.lower_name == "mixed")).one() is u


def test_deferred_column_loads_on_first_access(engine: Any) -> None:
    """A deferred column is left out of the object's SELECT and loaded when read."""
    Base = new_base()

    class Doc(Base):
        __tablename__ = "docs"
        id: Mapped[int] = mapped_column(primary_key=True)
        title: Mapped[str] = mapped_column(String(20))
        body: Mapped[Optional[str]] = mapped_column(String(200), deferred=True)

    Base.metadata.create_all(engine)
    with Session(engine) as s:
        s.add(Doc(id=1, title="t", body="long text"))
        s.commit()
        s.expunge_all()
        d = s.scalars(select(Doc)).one()
        assert "body" not in d.__dict__
        assert "body" in Doc.__mapper__.attrs.keys()
        assert d.body == "long text"
        assert d.__dict__["body"] == "long text"


def test_values_round_trip_through_result_processors(engine: Any) -> None:
    """DateTime, Boolean, Enum, Numeric and Uuid values load back as Python objects."""
    Base = new_base()

    class Rec(Base):
        __tablename__ = "recs"
        id: Mapped[int] = mapped_column(primary_key=True)
        at: Mapped[datetime.datetime]
        flag: Mapped[bool]
        mood: Mapped[Mood]
        amount: Mapped[decimal.Decimal] = mapped_column(sqltypes.Numeric(10, 2))
        token: Mapped[uuid.UUID]
        day: Mapped[Optional[datetime.date]]

    Base.metadata.create_all(engine)
    when = datetime.datetime(2021, 5, 6, 7, 8, 9)
    token = uuid.UUID("12345678-1234-5678-1234-567812345678")
    with Session(engine) as s:
        s.add(Rec(id=1, at=when, flag=True, mood=Mood.sad, amount=decimal.Decimal("3.50"),
                  token=token, day=None))
        s.commit()
        s.expunge_all()
        r = s.scalars(select(Rec)).one()
        assert (r.at, r.flag, r.mood, r.amount, r.token, r.day) == (
            when, True, Mood.sad, decimal.Decimal("3.50"), token, None)
        assert type(r.flag) is bool and isinstance(r.amount, decimal.Decimal)


def test_generic_enum_entry_in_type_map_configures_enums() -> None:
    """A ``{enum.Enum: Enum(...)}`` type map entry configures every enum annotation."""
    Base = new_base(type_annotation_map={
        enum.Enum: sqltypes.Enum(enum.Enum, native_enum=False, length=20)})

    class T(Base):
        __tablename__ = "t"
        id: Mapped[int] = mapped_column(primary_key=True)
        mood: Mapped[Mood]

    mood_type = col(T, "mood").type
    assert mood_type.enum_class is Mood
    assert mood_type.native_enum is False and mood_type.length == 20
