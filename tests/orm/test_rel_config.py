"""Declaring relationships: every kind, its configuration options, what
``inspect()`` reports about it, and the errors for a relationship that can't
be configured.

This module deliberately does NOT use ``from __future__ import annotations``:
the ``Mapped[List["X"]]`` / ``Mapped[Optional["X"]]`` annotations are real
typing objects holding forward references, as in most user code.
"""

from collections.abc import Iterator
from typing import Any, List, Optional, Set  # noqa: UP035 - the typing forms are under test

import pytest

from docket import Column, ForeignKey, Integer, String, Table, and_, event, exc, inspect, select
from docket.orm import (
    DeclarativeBase,
    Mapped,
    Session,
    attribute_keyed_dict,
    backref,
    mapped_column,
    registry,
    relationship,
)


class Base(DeclarativeBase):
    pass


post_tags = Table(
    "post_tags", Base.metadata,
    Column("post_id", ForeignKey("posts.id"), primary_key=True),
    Column("tag_id", ForeignKey("tags.id"), primary_key=True),
)

friendship = Table(
    "friendship", Base.metadata,
    Column("user_id", ForeignKey("users.id"), primary_key=True),
    Column("friend_id", ForeignKey("users.id"), primary_key=True),
)


class Address(Base):
    __tablename__ = "addresses"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[Optional[int]] = mapped_column(ForeignKey("users.id"))  # noqa: UP045
    email: Mapped[str] = mapped_column(String(50))
    # "User" is not defined yet: resolved late through the registry
    user: Mapped[Optional["User"]] = relationship(back_populates="addresses")  # noqa: UP045


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
    addresses: Mapped[List["Address"]] = relationship(  # noqa: UP006
        back_populates="user", order_by=Address.id)
    by_email: Mapped[list["Address"]] = relationship(order_by="Address.email", viewonly=True)
    by_email_desc: Mapped[list["Address"]] = relationship(
        order_by=[Address.email.desc(), Address.id], viewonly=True)
    x_addresses: Mapped[list["Address"]] = relationship(
        primaryjoin="and_(User.id == Address.user_id, Address.email.like('%@x'))",
        viewonly=True, order_by="Address.id")
    y_addresses: Mapped[list["Address"]] = relationship(
        primaryjoin=lambda: and_(User.id == Address.user_id, Address.email.like("%@y")),
        viewonly=True, order_by=Address.id)
    profile: Mapped["Profile"] = relationship(back_populates="user")
    card = relationship("Card", uselist=False, back_populates="user")
    friends: Mapped[list["User"]] = relationship(
        secondary=friendship,
        primaryjoin=id == friendship.c.user_id,
        secondaryjoin=id == friendship.c.friend_id,
        order_by="User.id",
    )


class Profile(Base):
    __tablename__ = "profiles"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), unique=True)
    bio: Mapped[str] = mapped_column(String(50), default="")
    user: Mapped["User"] = relationship(back_populates="profile")


class Card(Base):
    __tablename__ = "cards"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    user = relationship("User", back_populates="card")


class Order(Base):
    __tablename__ = "orders"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[Optional[int]] = mapped_column(ForeignKey("users.id"))  # noqa: UP045
    # backref given as a plain string: creates User.orders
    user = relationship("User", backref="orders")


class Line(Base):
    __tablename__ = "lines"
    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[Optional[int]] = mapped_column(ForeignKey("orders.id"))  # noqa: UP045
    pos: Mapped[int] = mapped_column()
    # backref() with arguments for the generated Order.lines
    order = relationship(
        "Order", backref=backref("lines", order_by="Line.pos", cascade="all, delete-orphan"))


class Post(Base):
    __tablename__ = "posts"
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(50))
    tags: Mapped[list["Tag"]] = relationship(
        secondary=post_tags, back_populates="posts", order_by="Tag.name")


class Tag(Base):
    __tablename__ = "tags"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
    posts: Mapped[list["Post"]] = relationship(
        secondary="post_tags", back_populates="tags", order_by="Post.id")


class Node(Base):
    __tablename__ = "nodes"
    id: Mapped[int] = mapped_column(primary_key=True)
    parent_id: Mapped[Optional[int]] = mapped_column(ForeignKey("nodes.id"))  # noqa: UP045
    name: Mapped[str] = mapped_column(String(50))
    parent: Mapped[Optional["Node"]] = relationship(  # noqa: UP045
        back_populates="children", remote_side=[id])
    children: Mapped[List["Node"]] = relationship(  # noqa: UP006
        back_populates="parent", order_by="Node.id")


class Category(Base):
    __tablename__ = "categories"
    id: Mapped[int] = mapped_column(primary_key=True)
    parent_id: Mapped[Optional[int]] = mapped_column(ForeignKey("categories.id"))  # noqa: UP045
    name: Mapped[str] = mapped_column(String(50))
    subcategories = relationship(
        "Category", backref=backref("parent", remote_side="Category.id"),
        order_by="Category.id")


class Invoice(Base):
    __tablename__ = "invoices"
    id: Mapped[int] = mapped_column(primary_key=True)
    billing_user_id: Mapped[Optional[int]] = mapped_column(ForeignKey("users.id"))  # noqa: UP045
    shipping_user_id: Mapped[Optional[int]] = mapped_column(ForeignKey("users.id"))  # noqa: UP045
    billing: Mapped[Optional["User"]] = relationship(  # noqa: UP045
        foreign_keys=[billing_user_id])
    shipping: Mapped[Optional["User"]] = relationship(  # noqa: UP045
        foreign_keys="Invoice.shipping_user_id")


class Team(Base):
    __tablename__ = "teams"
    id: Mapped[int] = mapped_column(primary_key=True)
    member_set = relationship("Member", collection_class=set, back_populates="team")
    by_name: Mapped[dict[str, "Member"]] = relationship(
        collection_class=attribute_keyed_dict("name"), viewonly=True)
    annotated_set: Mapped[Set["Member"]] = relationship(viewonly=True)  # noqa: UP006


class Member(Base):
    __tablename__ = "members"
    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[Optional[int]] = mapped_column(ForeignKey("teams.id"))  # noqa: UP045
    name: Mapped[str] = mapped_column(String(50))
    team = relationship("Team", back_populates="member_set")


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
def fresh() -> Iterator[type[DeclarativeBase]]:
    """A new declarative base (own registry) for classes defined inside one test."""
    class FreshBase(DeclarativeBase):
        pass

    yield FreshBase
    FreshBase.registry.dispose()


def rel(cls: type, key: str) -> Any:
    return inspect(cls).relationships[key]


# -- inspect(): keys, direction, mapper, uselist ---------------------------------------------


def test_relationship_keys_include_backref_generated_ones() -> None:
    """Mapper.relationships lists declared relationships plus the ones backref() creates."""
    assert set(inspect(User).relationships.keys()) == {
        "addresses", "by_email", "by_email_desc", "x_addresses", "y_addresses",
        "profile", "card", "friends", "orders",
    }
    assert set(inspect(Order).relationships.keys()) == {"user", "lines"}
    assert set(inspect(Category).relationships.keys()) == {"subcategories", "parent"}


@pytest.mark.parametrize("cls, key, direction", [
    (User, "addresses", "ONETOMANY"),
    (Address, "user", "MANYTOONE"),
    (User, "profile", "ONETOMANY"),
    (Profile, "user", "MANYTOONE"),
    (Post, "tags", "MANYTOMANY"),
    (Tag, "posts", "MANYTOMANY"),
    (User, "friends", "MANYTOMANY"),
    (Node, "parent", "MANYTOONE"),
    (Node, "children", "ONETOMANY"),
    (Category, "parent", "MANYTOONE"),
    (Category, "subcategories", "ONETOMANY"),
    (User, "orders", "ONETOMANY"),
    (Invoice, "billing", "MANYTOONE"),
])
def test_direction_name(cls: type, key: str, direction: str) -> None:
    """RelationshipProperty.direction.name is derived from the foreign keys and secondary."""
    assert rel(cls, key).direction.name == direction


@pytest.mark.parametrize("cls, key, target, uselist", [
    (User, "addresses", Address, True),
    (User, "by_email", Address, True),
    (Address, "user", User, False),
    (User, "profile", Profile, False),
    (User, "card", Card, False),
    (Post, "tags", Tag, True),
    (Node, "parent", Node, False),
    (Node, "children", Node, True),
    (User, "orders", Order, True),
    (Order, "lines", Line, True),
    (Team, "member_set", Member, True),
])
def test_mapper_and_uselist(cls: type, key: str, target: type, uselist: bool) -> None:
    """.mapper is the target class's Mapper and .uselist says collection vs scalar."""
    prop = rel(cls, key)
    assert prop.mapper is inspect(target)
    assert prop.mapper.class_ is target
    assert prop.uselist is uselist


def test_class_attribute_property_is_the_relationship() -> None:
    """User.addresses (the class attribute) exposes the same RelationshipProperty."""
    assert User.addresses.property is rel(User, "addresses")
    assert Category.parent.property is rel(Category, "parent")


def test_back_populates_recorded_on_both_sides() -> None:
    """back_populates names the reverse attribute on each side."""
    assert rel(User, "addresses").back_populates == "user"
    assert rel(Address, "user").back_populates == "addresses"


# -- annotations -------------------------------------------------------------------------------


def test_annotations_give_target_and_uselist(fresh: Any) -> None:
    """Mapped[List["X"]], list["X"], Set["X"], Optional["X"] and "X" give target and uselist."""
    class Parent(fresh):
        __tablename__ = "parent"
        id: Mapped[int] = mapped_column(primary_key=True)
        kids_typing: Mapped[List["Kid"]] = relationship(viewonly=True)  # noqa: UP006
        kids_builtin: Mapped[list["Kid"]] = relationship(viewonly=True)
        kids_set: Mapped[Set["Kid"]] = relationship(viewonly=True)  # noqa: UP006

    class Kid(fresh):
        __tablename__ = "kid"
        id: Mapped[int] = mapped_column(primary_key=True)
        parent_id: Mapped[Optional[int]] = mapped_column(ForeignKey("parent.id"))  # noqa: UP045
        maybe_parent: Mapped[Optional["Parent"]] = relationship(viewonly=True)  # noqa: UP045
        plain_parent: Mapped["Parent"] = relationship(viewonly=True)

    fresh.registry.configure()
    for key in ("kids_typing", "kids_builtin", "kids_set"):
        assert rel(Parent, key).mapper.class_ is Kid
        assert rel(Parent, key).uselist is True
    assert rel(Parent, "kids_set").collection_class is set
    for key in ("maybe_parent", "plain_parent"):
        assert rel(Kid, key).mapper.class_ is Parent
        assert rel(Kid, key).uselist is False
        assert rel(Kid, key).direction.name == "MANYTOONE"


def test_string_target_resolved_after_both_classes_exist(fresh: Any) -> None:
    """relationship("Child") declared before Child is defined resolves at configure time."""
    class Parent(fresh):
        __tablename__ = "parent"
        id: Mapped[int] = mapped_column(primary_key=True)
        children = relationship("Child", back_populates="parent")

    class Child(fresh):
        __tablename__ = "child"
        id: Mapped[int] = mapped_column(primary_key=True)
        parent_id: Mapped[Optional[int]] = mapped_column(ForeignKey("parent.id"))  # noqa: UP045
        parent = relationship("Parent", back_populates="children")

    fresh.registry.configure()
    assert rel(Parent, "children").mapper.class_ is Child
    assert rel(Child, "parent").mapper.class_ is Parent
    c = Child()
    p = Parent(children=[c])
    assert c.parent is p


def test_inspect_relationships_configures_pending_mappers(fresh: Any) -> None:
    """Reading Mapper.relationships configures the registry, so backref names are there."""
    class Parent(fresh):
        __tablename__ = "parent"
        id: Mapped[int] = mapped_column(primary_key=True)

    class Child(fresh):
        __tablename__ = "child"
        id: Mapped[int] = mapped_column(primary_key=True)
        parent_id: Mapped[Optional[int]] = mapped_column(ForeignKey("parent.id"))  # noqa: UP045
        parent = relationship("Parent", backref="children")

    assert "children" in inspect(Parent).relationships.keys()
    assert rel(Parent, "children").direction.name == "ONETOMANY"


def test_string_and_table_secondary_resolve_to_the_same_table() -> None:
    """secondary= as a Table and as its name both give the association Table."""
    assert rel(Post, "tags").secondary is post_tags
    assert rel(Tag, "posts").secondary is post_tags
    assert rel(User, "friends").secondary is friendship


def test_remote_side_list_and_string() -> None:
    """remote_side=[id] and remote_side="Category.id" mark the primary key as remote."""
    assert set(rel(Node, "parent").remote_side) == {Node.__table__.c.id}
    assert set(rel(Category, "parent").remote_side) == {Category.__table__.c.id}


def test_backref_kwargs_apply_to_generated_relationship() -> None:
    """backref("lines", cascade=...) configures the generated Order.lines."""
    lines = rel(Order, "lines")
    assert lines.cascade.delete_orphan
    assert lines.cascade.delete
    assert lines.back_populates == "order"
    assert rel(Line, "order").back_populates == "lines"


def test_viewonly_flag_reported() -> None:
    """viewonly=True is visible on the property."""
    assert rel(User, "by_email").viewonly is True
    assert rel(User, "addresses").viewonly is False


# -- configuration errors ----------------------------------------------------------------------


def test_unknown_target_name_is_a_clear_error(fresh: Any) -> None:
    """A target name that no class has raises InvalidRequestError naming it and the class."""
    class Parent(fresh):
        __tablename__ = "parent"
        id: Mapped[int] = mapped_column(primary_key=True)
        kids = relationship("Nope")

    with pytest.raises(exc.InvalidRequestError) as info:
        fresh.registry.configure()
    assert "Nope" in str(info.value)
    assert "Parent" in str(info.value)


def test_unmapped_target_is_a_clear_error(fresh: Any) -> None:
    """relationship(int) fails at configure time with an error naming the unmapped class."""
    class Parent(fresh):
        __tablename__ = "parent"
        id: Mapped[int] = mapped_column(primary_key=True)
        kids = relationship(int)

    with pytest.raises((exc.ArgumentError, exc.InvalidRequestError)) as info:
        fresh.registry.configure()
    assert "int" in str(info.value)


def test_self_reference_without_remote_side_is_one_to_many(fresh: Any) -> None:
    """A self-referential relationship with no remote_side defaults to one-to-many."""
    class Tree(fresh):
        __tablename__ = "tree"
        id: Mapped[int] = mapped_column(primary_key=True)
        parent_id: Mapped[Optional[int]] = mapped_column(ForeignKey("tree.id"))  # noqa: UP045
        nodes = relationship("Tree")

    fresh.registry.configure()
    assert rel(Tree, "nodes").direction.name == "ONETOMANY"
    assert rel(Tree, "nodes").uselist is True


def test_no_foreign_key_between_tables(fresh: Any) -> None:
    """No FK linking the tables raises NoForeignKeysError naming the relationship and the fix."""
    class Lonely(fresh):
        __tablename__ = "lonely"
        id: Mapped[int] = mapped_column(primary_key=True)
        kids: Mapped[list["Stranger"]] = relationship()

    class Stranger(fresh):
        __tablename__ = "stranger"
        id: Mapped[int] = mapped_column(primary_key=True)

    with pytest.raises(exc.NoForeignKeysError) as info:
        fresh.registry.configure()
    msg = str(info.value)
    assert "Lonely.kids" in msg
    assert "primaryjoin" in msg
    assert isinstance(info.value, exc.ArgumentError)


def test_two_foreign_keys_without_foreign_keys_is_ambiguous(fresh: Any) -> None:
    """Two FKs to the same table and no foreign_keys= raise AmbiguousForeignKeysError."""
    class Customer(fresh):
        __tablename__ = "customer"
        id: Mapped[int] = mapped_column(primary_key=True)

    class Bill(fresh):
        __tablename__ = "bill"
        id: Mapped[int] = mapped_column(primary_key=True)
        billing_id: Mapped[int] = mapped_column(ForeignKey("customer.id"))
        shipping_id: Mapped[int] = mapped_column(ForeignKey("customer.id"))
        customer: Mapped["Customer"] = relationship()

    with pytest.raises(exc.AmbiguousForeignKeysError) as info:
        fresh.registry.configure()
    msg = str(info.value)
    assert "Bill.customer" in msg
    assert "foreign_keys" in msg
    assert isinstance(info.value, exc.ArgumentError)


def test_back_populates_naming_missing_attribute(fresh: Any) -> None:
    """back_populates naming an attribute the target lacks raises, naming it."""
    class Parent(fresh):
        __tablename__ = "parent"
        id: Mapped[int] = mapped_column(primary_key=True)
        kids: Mapped[list["Kid"]] = relationship(back_populates="owner")

    class Kid(fresh):
        __tablename__ = "kid"
        id: Mapped[int] = mapped_column(primary_key=True)
        parent_id: Mapped[Optional[int]] = mapped_column(ForeignKey("parent.id"))  # noqa: UP045
        parent: Mapped["Parent"] = relationship(back_populates="kids")

    with pytest.raises(exc.InvalidRequestError) as info:
        fresh.registry.configure()
    assert "owner" in str(info.value)
    assert "Kid" in str(info.value)


def test_back_populates_naming_a_column(fresh: Any) -> None:
    """back_populates naming a column attribute raises: it must name a relationship."""
    class Parent(fresh):
        __tablename__ = "parent"
        id: Mapped[int] = mapped_column(primary_key=True)
        kids: Mapped[list["Kid"]] = relationship(back_populates="parent_id")

    class Kid(fresh):
        __tablename__ = "kid"
        id: Mapped[int] = mapped_column(primary_key=True)
        parent_id: Mapped[Optional[int]] = mapped_column(ForeignKey("parent.id"))  # noqa: UP045

    with pytest.raises(exc.InvalidRequestError) as info:
        fresh.registry.configure()
    assert "parent_id" in str(info.value)
    assert "relationship" in str(info.value)


def test_back_populates_pointing_at_another_class(fresh: Any) -> None:
    """back_populates naming a relationship that targets a different class is rejected."""
    class Parent(fresh):
        __tablename__ = "parent"
        id: Mapped[int] = mapped_column(primary_key=True)
        kids: Mapped[list["Kid"]] = relationship(back_populates="other")

    class Other(fresh):
        __tablename__ = "other"
        id: Mapped[int] = mapped_column(primary_key=True)

    class Kid(fresh):
        __tablename__ = "kid"
        id: Mapped[int] = mapped_column(primary_key=True)
        parent_id: Mapped[Optional[int]] = mapped_column(ForeignKey("parent.id"))  # noqa: UP045
        other_id: Mapped[Optional[int]] = mapped_column(ForeignKey("other.id"))  # noqa: UP045
        other: Mapped["Other"] = relationship()

    with pytest.raises((exc.ArgumentError, exc.InvalidRequestError)) as info:
        fresh.registry.configure()
    assert "Parent.kids" in str(info.value)
    assert "Kid.other" in str(info.value)


def test_backref_uselist_false_gives_one_to_one(fresh: Any) -> None:
    """backref("kid", uselist=False) generates a scalar one-to-one on the parent."""
    class Parent(fresh):
        __tablename__ = "parent"
        id: Mapped[int] = mapped_column(primary_key=True)

    class Kid(fresh):
        __tablename__ = "kid"
        id: Mapped[int] = mapped_column(primary_key=True)
        parent_id: Mapped[Optional[int]] = mapped_column(ForeignKey("parent.id"))  # noqa: UP045
        parent = relationship("Parent", backref=backref("kid", uselist=False))

    fresh.registry.configure()
    assert rel(Parent, "kid").uselist is False
    assert rel(Parent, "kid").direction.name == "ONETOMANY"
    p, k1, k2 = Parent(), Kid(), Kid()
    k1.parent = p
    assert p.kid is k1
    p.kid = k2
    assert k1.parent is None and k2.parent is p


def test_backref_name_clash_is_a_clear_error(fresh: Any) -> None:
    """backref="parent" when the target already has .parent raises ArgumentError naming it."""
    class Parent(fresh):
        __tablename__ = "parent"
        id: Mapped[int] = mapped_column(primary_key=True)
        kids = relationship("Kid", backref="parent")

    class Kid(fresh):
        __tablename__ = "kid"
        id: Mapped[int] = mapped_column(primary_key=True)
        parent_id: Mapped[Optional[int]] = mapped_column(ForeignKey("parent.id"))  # noqa: UP045
        parent = relationship("Parent")

    with pytest.raises(exc.ArgumentError) as info:
        fresh.registry.configure()
    msg = str(info.value)
    assert "parent" in msg and "Parent.kids" in msg and "Kid" in msg


def test_back_populates_syncs_only_from_the_declaring_side(fresh: Any) -> None:
    """back_populates on one side only: that side updates the other, not the reverse."""
    class Parent(fresh):
        __tablename__ = "parent"
        id: Mapped[int] = mapped_column(primary_key=True)
        kids: Mapped[list["Kid"]] = relationship(back_populates="parent")

    class Kid(fresh):
        __tablename__ = "kid"
        id: Mapped[int] = mapped_column(primary_key=True)
        parent_id: Mapped[Optional[int]] = mapped_column(ForeignKey("parent.id"))  # noqa: UP045
        parent: Mapped["Parent"] = relationship()

    fresh.registry.configure()
    p, k1, k2 = Parent(), Kid(), Kid()
    p.kids.append(k1)
    assert k1.parent is p
    k2.parent = p
    assert p.kids == [k1]


def test_overlapping_writable_relationships_warn(fresh: Any) -> None:
    """Two unlinked relationships writing the same FK warn, naming overlaps= as the fix."""
    class Parent(fresh):
        __tablename__ = "parent"
        id: Mapped[int] = mapped_column(primary_key=True)
        kids: Mapped[list["Kid"]] = relationship()

    class Kid(fresh):
        __tablename__ = "kid"
        id: Mapped[int] = mapped_column(primary_key=True)
        parent_id: Mapped[Optional[int]] = mapped_column(ForeignKey("parent.id"))  # noqa: UP045
        parent: Mapped[Optional["Parent"]] = relationship()  # noqa: UP045

    with pytest.warns(exc.SAWarning, match="conflicts with relationship") as record:
        fresh.registry.configure()
    assert any("overlaps" in str(w.message) for w in record)


def test_overlaps_parameter_silences_the_warning(fresh: Any) -> None:
    """overlaps="kids" on the second relationship suppresses the conflict warning."""
    import warnings

    class Parent(fresh):
        __tablename__ = "parent"
        id: Mapped[int] = mapped_column(primary_key=True)
        kids: Mapped[list["Kid"]] = relationship()

    class Kid(fresh):
        __tablename__ = "kid"
        id: Mapped[int] = mapped_column(primary_key=True)
        parent_id: Mapped[Optional[int]] = mapped_column(ForeignKey("parent.id"))  # noqa: UP045
        parent: Mapped[Optional["Parent"]] = relationship(overlaps="kids")  # noqa: UP045

    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        fresh.registry.configure()
    assert not [w for w in record if "conflicts" in str(w.message)]


def test_primaryjoin_with_foreign_annotation_and_no_fk(fresh: Any, engine: Any) -> None:
    """primaryjoin="P.code == foreign(K.p_code)" joins tables with no ForeignKey."""
    from docket.orm import foreign

    class Parent(fresh):
        __tablename__ = "parent"
        id: Mapped[int] = mapped_column(primary_key=True)
        code: Mapped[str] = mapped_column(String(10), unique=True)
        kids: Mapped[list["Kid"]] = relationship(
            primaryjoin="Parent.code == foreign(Kid.p_code)", back_populates="parent")

    class Kid(fresh):
        __tablename__ = "kid"
        id: Mapped[int] = mapped_column(primary_key=True)
        p_code: Mapped[Optional[str]] = mapped_column(String(10))  # noqa: UP045
        parent: Mapped[Optional["Parent"]] = relationship(  # noqa: UP045
            primaryjoin=lambda: Parent.code == foreign(Kid.p_code), back_populates="kids")

    fresh.registry.configure()
    assert rel(Parent, "kids").direction.name == "ONETOMANY"
    assert rel(Kid, "parent").direction.name == "MANYTOONE"
    fresh.metadata.create_all(engine)
    with Session(engine) as s:
        s.add(Parent(id=1, code="x", kids=[Kid(id=1), Kid(id=2)]))
        s.commit()
        assert s.scalars(select(Kid.p_code)).all() == ["x", "x"]
        s.expunge_all()
        assert s.get(Kid, 2).parent.id == 1


# -- imperative mapping with expression joins ----------------------------------------------------


def test_imperative_primaryjoin_expression(engine: Any) -> None:
    """map_imperatively with relationship(primaryjoin=<expression>) loads matching rows only."""
    reg = registry()
    authors = Table("authors", reg.metadata, Column("id", Integer, primary_key=True))
    books = Table("books", reg.metadata, Column("id", Integer, primary_key=True),
                  Column("author_id", ForeignKey("authors.id")),
                  Column("title", String(50)))

    class Author:
        pass

    class Book:
        pass

    reg.map_imperatively(Book, books)
    reg.map_imperatively(Author, authors, properties={
        "b_books": relationship(
            Book, primaryjoin=and_(authors.c.id == books.c.author_id,
                                   books.c.title.like("b%")),
            viewonly=True, order_by=books.c.id),
    })
    try:
        reg.metadata.create_all(engine)
        with engine.begin() as conn:
            conn.execute(authors.insert(), [{"id": 1}])
            conn.execute(books.insert(), [
                {"id": 1, "author_id": 1, "title": "alpha"},
                {"id": 2, "author_id": 1, "title": "beta"},
                {"id": 3, "author_id": 1, "title": "bravo"},
            ])
        with Session(engine) as s:
            author = s.get(Author, 1)
            assert [b.id for b in author.b_books] == [2, 3]
            assert rel(Author, "b_books").direction.name == "ONETOMANY"
    finally:
        reg.dispose()


# -- behaviour against the database ---------------------------------------------------------------


def _seed_user_with_addresses(s: Session) -> int:
    u = User(name="ann", addresses=[
        Address(id=3, email="c@y"), Address(id=1, email="b@x"),
        Address(id=2, email="a@x"), Address(id=4, email="d@z"),
    ])
    s.add(u)
    s.commit()
    return u.id


def test_order_by_column(db: Any) -> None:
    """order_by=Address.id loads the collection in id order, not insertion order."""
    with Session(db) as s:
        uid = _seed_user_with_addresses(s)
    with Session(db) as s:
        assert [a.id for a in s.get(User, uid).addresses] == [1, 2, 3, 4]


def test_order_by_string(db: Any) -> None:
    """order_by="Address.email" is resolved late and orders the load."""
    with Session(db) as s:
        uid = _seed_user_with_addresses(s)
    with Session(db) as s:
        assert [a.email for a in s.get(User, uid).by_email] == ["a@x", "b@x", "c@y", "d@z"]


def test_order_by_list(db: Any) -> None:
    """order_by=[Address.email.desc(), Address.id] applies both terms."""
    with Session(db) as s:
        uid = _seed_user_with_addresses(s)
        s.add(Address(id=5, email="d@z", user_id=uid))
        s.commit()
    with Session(db) as s:
        assert [a.id for a in s.get(User, uid).by_email_desc] == [4, 5, 3, 1, 2]


def test_primaryjoin_string_with_extra_criteria(db: Any) -> None:
    """A string primaryjoin with and_() and like() loads only the matching children."""
    with Session(db) as s:
        uid = _seed_user_with_addresses(s)
    with Session(db) as s:
        assert [a.email for a in s.get(User, uid).x_addresses] == ["b@x", "a@x"]


def test_primaryjoin_lambda(db: Any) -> None:
    """A primaryjoin given as a lambda returning an expression is honoured."""
    with Session(db) as s:
        uid = _seed_user_with_addresses(s)
    with Session(db) as s:
        assert [a.id for a in s.get(User, uid).y_addresses] == [3]


def test_viewonly_collection_is_not_written(db: Any) -> None:
    """Appending to a viewonly collection neither cascades the child nor writes it."""
    with Session(db) as s:
        u = User(name="ann")
        s.add(u)
        s.commit()
        extra = Address(id=9, email="v@x")
        u.by_email.append(extra)
        assert extra not in s
        s.commit()
        assert s.scalar(select(Address).where(Address.id == 9)) is None


def test_viewonly_change_does_not_touch_existing_child_fk(db: Any) -> None:
    """Moving a persistent child through a viewonly collection leaves its FK unchanged."""
    with Session(db) as s:
        ann, bob = User(name="ann"), User(name="bob")
        a = Address(id=1, email="a@x", user=ann)
        s.add_all([ann, bob, a])
        s.commit()
        bob.x_addresses.append(a)
        s.commit()
        assert s.execute(select(Address.user_id).where(Address.id == 1)).scalar() == ann.id


def test_one_to_one_loads_a_scalar(db: Any) -> None:
    """A one-to-one (Mapped["Profile"] / uselist=False) loads one object, not a list."""
    with Session(db) as s:
        u = User(name="ann", profile=Profile(bio="hi"), card=Card(id=7))
        s.add(u)
        s.commit()
        uid = u.id
    with Session(db) as s:
        u = s.get(User, uid)
        assert isinstance(u.profile, Profile)
        assert u.profile.bio == "hi"
        assert isinstance(u.card, Card) and u.card.id == 7
        assert u.profile.user is u


def test_one_to_one_absent_is_none(db: Any) -> None:
    """A one-to-one with no row loads as None."""
    with Session(db) as s:
        s.add(User(id=1, name="ann"))
        s.commit()
    with Session(db) as s:
        assert s.get(User, 1).profile is None


def test_many_to_many_round_trip(db: Any) -> None:
    """secondary as Table and as string name: rows land in post_tags and load from both sides."""
    with Session(db) as s:
        py, sql = Tag(name="py"), Tag(name="sql")
        s.add(Post(id=1, title="p1", tags=[sql, py]))
        s.add(Post(id=2, title="p2", tags=[py]))
        s.commit()
    with Session(db) as s:
        assert [t.name for t in s.get(Post, 1).tags] == ["py", "sql"]
        py = s.scalars(select(Tag).where(Tag.name == "py")).one()
        assert [p.id for p in py.posts] == [1, 2]
        pairs = s.execute(select(post_tags.c.post_id, post_tags.c.tag_id)).all()
        assert len(pairs) == 3


def test_self_referential_many_to_many_with_secondaryjoin(db: Any) -> None:
    """primaryjoin/secondaryjoin pick the direction through the friendship table."""
    with Session(db) as s:
        ann, bob, cy = User(id=1, name="ann"), User(id=2, name="bob"), User(id=3, name="cy")
        ann.friends = [bob, cy]
        s.add(ann)
        s.commit()
    with Session(db) as s:
        assert [u.name for u in s.get(User, 1).friends] == ["bob", "cy"]
        assert s.get(User, 2).friends == []
        rows = s.execute(select(friendship.c.user_id, friendship.c.friend_id)
                         .order_by(friendship.c.friend_id)).all()
        assert [tuple(r) for r in rows] == [(1, 2), (1, 3)]


def test_adjacency_list_remote_side_list(db: Any) -> None:
    """remote_side=[id]: Node.parent is the many-to-one, children the collection."""
    with Session(db) as s:
        root = Node(name="root", children=[Node(name="a"), Node(name="b")])
        s.add(root)
        s.commit()
        rid = root.id
    with Session(db) as s:
        root = s.get(Node, rid)
        assert [c.name for c in root.children] == ["a", "b"]
        assert all(c.parent is root for c in root.children)
        assert root.parent is None


def test_adjacency_list_backref_remote_side_string(db: Any) -> None:
    """backref("parent", remote_side="Category.id") gives a working many-to-one."""
    with Session(db) as s:
        top = Category(name="top")
        sub = Category(name="sub")
        sub.parent = top
        assert top.subcategories == [sub]
        s.add(sub)
        s.commit()
        sid, tid = sub.id, top.id
    with Session(db) as s:
        assert s.get(Category, sid).parent.id == tid
        assert [c.id for c in s.get(Category, tid).subcategories] == [sid]


def test_foreign_keys_select_the_column(db: Any) -> None:
    """foreign_keys=[col] / "Invoice.col" choose which FK each relationship writes and reads."""
    with Session(db) as s:
        ann, bob = User(name="ann"), User(name="bob")
        s.add(Invoice(id=1, billing=ann, shipping=bob))
        s.commit()
        ids = (ann.id, bob.id)
    with Session(db) as s:
        row = s.execute(select(Invoice.billing_user_id, Invoice.shipping_user_id)).one()
        assert tuple(row) == ids
        inv = s.get(Invoice, 1)
        assert inv.billing.name == "ann"
        assert inv.shipping.name == "bob"


def test_backref_string_generates_working_collection(db: Any) -> None:
    """backref="orders" creates User.orders, kept in sync and loadable."""
    with Session(db) as s:
        u = User(name="ann")
        o = Order(id=1, user=u)
        assert u.orders == [o]
        s.add(u)
        s.commit()
        uid = u.id
    with Session(db) as s:
        assert [o.id for o in s.get(User, uid).orders] == [1]


def test_backref_order_by_used_when_loading(db: Any) -> None:
    """backref("lines", order_by="Line.pos") orders the generated collection's load."""
    with Session(db) as s:
        s.add(Order(id=1, lines=[Line(id=1, pos=3), Line(id=2, pos=1), Line(id=3, pos=2)]))
        s.commit()
    with Session(db) as s:
        assert [ln.pos for ln in s.get(Order, 1).lines] == [1, 2, 3]


def test_collection_class_set(db: Any) -> None:
    """collection_class=set (and Mapped[Set[...]]) holds and loads a set."""
    with Session(db) as s:
        t = Team(id=1)
        assert isinstance(t.member_set, set)
        t.member_set.add(Member(id=1, name="ann"))
        t.member_set.add(Member(id=2, name="bob"))
        s.add(t)
        s.commit()
    with Session(db) as s:
        t = s.get(Team, 1)
        assert isinstance(t.member_set, set)
        assert {m.name for m in t.member_set} == {"ann", "bob"}
        assert isinstance(t.annotated_set, set) and len(t.annotated_set) == 2


def test_attribute_keyed_dict(db: Any) -> None:
    """attribute_keyed_dict("name") loads a dict keyed by each child's name."""
    with Session(db) as s:
        s.add(Team(id=1, member_set={Member(id=1, name="ann"), Member(id=2, name="bob")}))
        s.commit()
    with Session(db) as s:
        t = s.get(Team, 1)
        assert isinstance(t.by_name, dict)
        assert sorted(t.by_name) == ["ann", "bob"]
        assert t.by_name["bob"].id == 2
