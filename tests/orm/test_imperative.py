"""Mapping without a DeclarativeBase: ``registry.map_imperatively`` for plain
classes, the ``registry.mapped`` decorator, ``declarative_base()`` and
``generate_base()``.  Annotations in this module are real objects (no
``from __future__ import annotations``), the other path of annotation parsing."""

from typing import Any

import pytest

from docket import Column, ForeignKey, Integer, MetaData, String, Table, exc, func, select
from docket.orm import (
    DeclarativeBase,
    Mapped,
    Session,
    column_property,
    declarative_base,
    deferred,
    mapped_column,
    registry,
)
from docket.orm.attributes import get_history


def user_table(metadata: MetaData) -> Table:
    return Table(
        "imp_users", metadata,
        Column("id", Integer, primary_key=True),
        Column("name", String(30), nullable=False),
        Column("bio", String(200)),
    )


def test_map_imperatively_keeps_plain_init() -> None:
    """A plain class mapped imperatively keeps its own ``__init__`` and gets
    instrumented attributes recording history."""
    reg = registry()
    table = user_table(reg.metadata)

    class User:
        def __init__(self, name: str) -> None:
            self.name = name
            self.greeting = f"hi {name}"

    mapper = reg.map_imperatively(User, table)
    u = User("ann")
    assert (u.name, u.greeting) == ("ann", "hi ann")
    assert get_history(u, "name") == (["ann"], (), ())
    assert mapper.attrs.keys() == ["id", "name", "bio"]
    assert User.__mapper__ is mapper and u.id is None
    with pytest.raises(TypeError):
        User(name="x", bogus=1)  # type: ignore[call-arg]


def test_map_imperatively_properties(engine: Any) -> None:
    """``properties`` renames columns, adds column_property / deferred, and the
    mapping loads and flushes on a real database."""
    reg = registry()
    table = user_table(reg.metadata)

    class User:
        pass

    reg.map_imperatively(User, table, properties={
        "username": table.c.name,
        "bio": deferred(table.c.bio),
        "name_len": column_property(func.length(table.c.name)),
    })
    assert User.__mapper__.attrs.keys() == ["id", "username", "bio", "name_len"]
    reg.metadata.create_all(engine)
    with Session(engine) as s:
        u = User()
        u.id, u.username, u.bio = 1, "zed", "about"  # type: ignore[attr-defined]
        s.add(u)
        s.commit()
        s.expunge_all()
        loaded = s.scalars(select(User).where(User.username == "zed")).one()  # type: ignore[attr-defined]
        assert loaded.__dict__["name_len"] == 3
        assert "bio" not in loaded.__dict__
        assert loaded.bio == "about"


def test_map_imperatively_without_primary_key_raises() -> None:
    """A table without primary key raises ArgumentError unless primary_key= is given."""
    reg = registry()
    table = Table("nopk", reg.metadata, Column("a", Integer), Column("b", Integer))

    class A:
        pass

    class B:
        pass

    with pytest.raises(exc.ArgumentError, match="primary key"):
        reg.map_imperatively(A, table)
    mapper = reg.map_imperatively(B, table, primary_key=[table.c.a])
    assert mapper.primary_key == (table.c.a,)


def test_map_imperatively_unknown_argument_raises() -> None:
    """An unknown mapper argument raises ArgumentError naming it."""
    reg = registry()
    table = user_table(reg.metadata)

    class User:
        pass

    with pytest.raises(exc.ArgumentError, match="nonsense"):
        reg.map_imperatively(User, table, nonsense=True)


def test_registry_mapped_decorator() -> None:
    """``@registry.mapped`` maps declaratively and adds the keyword constructor."""
    reg = registry()

    @reg.mapped
    class Note:
        __tablename__ = "notes"
        id: Mapped[int] = mapped_column(primary_key=True)
        text: Mapped[str | None] = mapped_column(String(50))

    @reg.mapped
    class Custom:
        __tablename__ = "custom"
        id: Mapped[int] = mapped_column(primary_key=True)

        def __init__(self, ident: int) -> None:
            self.id = ident

    n = Note(text="x")
    assert n.text == "x" and Note.__table__.c.text.nullable is True
    assert Custom(5).id == 5
    assert reg.metadata.tables["notes"] is Note.__table__
    with pytest.raises(TypeError, match="'txt' is an invalid keyword argument for Note"):
        Note(txt="x")


def test_declarative_base_function() -> None:
    """``declarative_base()`` returns a base with its own registry, metadata and
    type map, optionally mixing in ``cls``."""

    class Shared:
        def describe(self) -> str:
            return f"{type(self).__name__}#{self.id}"  # type: ignore[attr-defined]

    md = MetaData()
    Base = declarative_base(metadata=md, cls=Shared, name="MyBase",
                            type_annotation_map={str: String(15)})

    class Item(Base):
        __tablename__ = "items"
        id: Mapped[int] = mapped_column(primary_key=True)
        label: Mapped[str]

    assert Base.__name__ == "MyBase" and Base.metadata is md
    assert isinstance(Base.registry, registry)
    assert md.tables["items"].c.label.type.length == 15
    assert Item(id=3, label="x").describe() == "Item#3"


def test_generate_base_shares_registry() -> None:
    """``registry.generate_base()`` binds a base to an existing registry."""
    reg = registry()
    Base = reg.generate_base()

    class Item(Base):
        __tablename__ = "items"
        id: Mapped[int] = mapped_column(primary_key=True)

    assert Base.registry is reg and Item.__mapper__ in reg.mappers


def test_real_annotations_and_imperative_mix(engine: Any) -> None:
    """Declarative classes with evaluated annotations and imperatively mapped
    classes work side by side in one session."""
    reg = registry()
    table = user_table(reg.metadata)

    class Base(DeclarativeBase):
        registry = reg

    class Post(Base):
        __tablename__ = "imp_posts"
        id: Mapped[int] = mapped_column(primary_key=True)
        user_id: Mapped[int] = mapped_column(ForeignKey("imp_users.id"))
        title: Mapped[str] = mapped_column(String(40))

    class User:
        def __init__(self, id: int, name: str) -> None:
            self.id, self.name = id, name

    reg.map_imperatively(User, table)
    assert isinstance(Post.__table__.c.user_id.type, Integer)
    reg.metadata.create_all(engine)
    with Session(engine) as s:
        s.add(User(1, "ann"))
        s.flush()
        s.add(Post(id=10, user_id=1, title="hello"))
        s.commit()
        rows = s.execute(
            select(User.name, Post.title).join(Post, Post.user_id == User.id)  # type: ignore[attr-defined]
        ).all()
        assert [tuple(r) for r in rows] == [("ann", "hello")]
