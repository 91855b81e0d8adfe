"""Relationship patterns: one-to-many / many-to-one with back_populates, a
one-to-one, many-to-many through an association table, an association object,
a self-referential tree (remote_side), two foreign keys to one table, a
filtered viewonly relationship, a keyed-dict collection, rows that point at
each other (post_update), and queries that use relationships (join, any, has,
contains, aliased, of_type).

Run with:  python examples/relationships.py
"""

from __future__ import annotations

from typing import Any

from docket import Column, ForeignKey, String, Table, create_engine, event, func, select
from docket.orm import (
    DeclarativeBase,
    Mapped,
    Session,
    aliased,
    attribute_keyed_dict,
    backref,
    mapped_column,
    relationship,
)


class Base(DeclarativeBase):
    pass


# many-to-many: a plain association table, no class of its own
post_tag = Table(
    "post_tag", Base.metadata,
    Column("post_id", ForeignKey("post.id"), primary_key=True),
    Column("tag_id", ForeignKey("tag.id"), primary_key=True),
)


class Author(Base):
    __tablename__ = "author"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
    # one-to-many; the target comes from the annotation
    posts: Mapped[list[Post]] = relationship(back_populates="author", order_by="Post.id")
    # one-to-one: a scalar annotation makes uselist=False
    profile: Mapped[Profile | None] = relationship(back_populates="author")
    # a filtered, read-only view of the same rows
    published: Mapped[list[Post]] = relationship(
        primaryjoin="and_(Author.id == Post.author_id, Post.published == True)",
        viewonly=True, order_by="Post.id")
    # a dict keyed by an attribute of the child
    links: Mapped[dict[str, Link]] = relationship(
        collection_class=attribute_keyed_dict("site"), cascade="all, delete-orphan")


class Profile(Base):
    __tablename__ = "profile"
    id: Mapped[int] = mapped_column(primary_key=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("author.id"), unique=True)
    bio: Mapped[str]
    author: Mapped[Author] = relationship(back_populates="profile")


class Link(Base):
    __tablename__ = "link"
    id: Mapped[int] = mapped_column(primary_key=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("author.id"))
    site: Mapped[str]
    url: Mapped[str]


class Post(Base):
    __tablename__ = "post"
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str]
    published: Mapped[bool] = mapped_column(default=False)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("author.id"))
    author: Mapped[Author | None] = relationship(back_populates="posts")
    # many-to-many, held in a set
    tags: Mapped[set[Tag]] = relationship(secondary=post_tag, back_populates="posts")


class Tag(Base):
    __tablename__ = "tag"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(unique=True)
    posts: Mapped[list[Post]] = relationship(secondary=post_tag, back_populates="tags")


class Category(Base):
    """An adjacency list: each row points at its parent row."""
    __tablename__ = "category"
    id: Mapped[int] = mapped_column(primary_key=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("category.id"))
    name: Mapped[str]
    # backref() declares the many-to-one side; remote_side marks the parent's id
    children: Mapped[list[Category]] = relationship(
        backref=backref("parent", remote_side=[id]), order_by="Category.name")


class Shipment(Base):
    """Two foreign keys to the same table: foreign_keys picks one per relationship."""
    __tablename__ = "shipment"
    id: Mapped[int] = mapped_column(primary_key=True)
    origin_id: Mapped[int] = mapped_column(ForeignKey("place.id"))
    destination_id: Mapped[int] = mapped_column(ForeignKey("place.id"))
    origin: Mapped[Place] = relationship(foreign_keys=[origin_id])
    destination: Mapped[Place] = relationship(foreign_keys="Shipment.destination_id")


class Place(Base):
    __tablename__ = "place"
    id: Mapped[int] = mapped_column(primary_key=True)
    city: Mapped[str]


class Enrollment(Base):
    """An association object: a many-to-many link that carries its own data."""
    __tablename__ = "enrollment"
    student_id: Mapped[int] = mapped_column(ForeignKey("student.id"), primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("course.id"), primary_key=True)
    grade: Mapped[str | None]
    student: Mapped[Student] = relationship(back_populates="enrollments")
    course: Mapped[Course] = relationship()


class Student(Base):
    __tablename__ = "student"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str]
    enrollments: Mapped[list[Enrollment]] = relationship(back_populates="student")


class Course(Base):
    __tablename__ = "course"
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str]


class Album(Base):
    """Album.cover and Photo.album point at each other: post_update breaks the cycle."""
    __tablename__ = "album"
    id: Mapped[int] = mapped_column(primary_key=True)
    cover_id: Mapped[int | None] = mapped_column(ForeignKey("photo.id"))
    photos: Mapped[list[Photo]] = relationship(foreign_keys="Photo.album_id")
    cover: Mapped[Photo | None] = relationship(foreign_keys=[cover_id], post_update=True)


class Photo(Base):
    __tablename__ = "photo"
    id: Mapped[int] = mapped_column(primary_key=True)
    album_id: Mapped[int | None] = mapped_column(ForeignKey("album.id"))


def main() -> None:
    engine = create_engine("sqlite://")

    @event.listens_for(engine, "connect")
    def fk_on(dbapi_connection: Any, connection_record: Any) -> None:
        dbapi_connection.execute("PRAGMA foreign_keys=ON")    # so ordering mistakes fail

    sql: list[str] = []

    @event.listens_for(engine, "before_cursor_execute")
    def log(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        sql.append(statement)

    Base.metadata.create_all(engine)

    with Session(engine) as session:
        # -- one-to-many / many-to-one: both sides stay in step in memory
        ann = Author(name="ann")
        first = Post(title="Hello", published=True)
        ann.posts.append(first)
        assert first.author is ann                      # set by back_populates
        draft = Post(title="Draft", author=ann)
        assert ann.posts == [first, draft]              # and the other way round

        # -- one-to-one
        ann.profile = Profile(bio="writes things")
        assert ann.profile.author is ann

        # -- many-to-many, set collection
        python, orm = Tag(name="python"), Tag(name="orm")
        first.tags = {python, orm}
        draft.tags.add(python)
        assert set(python.posts) == {first, draft}

        # -- keyed dict
        ann.links["web"] = Link(site="web", url="https://ann.example")

        # -- a tree
        root = Category(name="root", children=[
            Category(name="books", children=[Category(name="sf")]),
            Category(name="music"),
        ])

        # -- two foreign keys to one table
        paris, oslo = Place(city="Paris"), Place(city="Oslo")
        ship = Shipment(origin=paris, destination=oslo)

        # -- association object
        maths = Course(title="Maths")
        bob = Student(name="bob", enrollments=[Enrollment(course=maths, grade="A")])

        # -- rows pointing at each other
        album = Album()
        cover = Photo()
        album.photos = [Photo(), cover]
        album.cover = cover

        # save-update cascade: adding the roots brings in everything they reference
        session.add_all([ann, root, ship, bob, album])
        sql.clear()
        session.commit()
        # parents before children, association rows after both ends, and the
        # album's cover written by a separate UPDATE once the photos exist
        order = [s.split(" (")[0].split(" SET")[0] for s in sql]
        print("flush order:", list(dict.fromkeys(order)))
        assert order.index("INSERT INTO post") > order.index("INSERT INTO author")
        assert order.index("INSERT INTO post_tag") > order.index("INSERT INTO tag")
        assert order.index("UPDATE album") > order.index("INSERT INTO photo")

        assert album.cover_id == cover.id
        assert first.author_id == ann.id and ship.destination.city == "Oslo"

    with Session(engine) as session:
        ann = session.scalars(select(Author).where(Author.name == "ann")).one()
        print("posts:", [p.title for p in ann.posts])
        print("published (viewonly):", [p.title for p in ann.published])
        assert [p.title for p in ann.published] == ["Hello"]
        print("links:", {k: v.url for k, v in ann.links.items()})
        sf = session.scalars(select(Category).where(Category.name == "sf")).one()
        assert sf.parent.name == "books" and sf.parent.parent.name == "root"
        root = sf.parent.parent
        assert [c.name for c in root.children] == ["books", "music"]
        bob = session.scalars(select(Student)).one()
        print("enrollments:", [(e.course.title, e.grade) for e in bob.enrollments])

        # removing from a many-to-many collection deletes the association row only
        first = ann.posts[0]
        first.tags = {t for t in first.tags if t.name != "orm"}
        session.commit()
        assert session.scalars(select(func.count()).select_from(post_tag)).one() == 2
        assert session.scalar(select(func.count(Tag.id))) == 2

        # -- querying through relationships
        # join along a relationship: the ON clause comes from it
        authors = session.scalars(
            select(Author.name).join(Author.posts).join(Post.tags).where(Tag.name == "python")
            .distinct()).all()
        assert authors == ["ann"]
        # any(): EXISTS over a collection; has(): EXISTS over a many-to-one
        with_drafts = session.scalars(
            select(Author.name).where(Author.posts.any(Post.published == False))).all()  # noqa: E712
        assert with_drafts == ["ann"]
        by_ann = session.scalars(
            select(Post.title).where(Post.author.has(name="ann")).order_by(Post.id)).all()
        assert by_ann == ["Hello", "Draft"]
        # contains(): the collection includes this object
        python = session.scalars(select(Tag).where(Tag.name == "python")).one()
        tagged = session.scalars(
            select(Post.title).where(Post.tags.contains(python)).order_by(Post.id)).all()
        assert tagged == ["Hello", "Draft"]
        # comparing a many-to-one with an object
        assert session.scalars(select(Post.title).where(Post.author == ann)).all() == by_ann
        # aliased(): the same class twice -- categories with their parent's name
        parent = aliased(Category)
        pairs = session.execute(
            select(Category.name, parent.name).join(parent, Category.parent)
            .order_by(Category.name)).all()
        print("category -> parent:", pairs)
        assert pairs == [("books", "root"), ("music", "root"), ("sf", "books")]
        # of_type(): join a relationship to an alias of its target
        dest = aliased(Place)
        cities = session.scalars(
            select(dest.city).select_from(Shipment)
            .join(Shipment.destination.of_type(dest))).all()
        assert cities == ["Oslo"]
        print("authors of python posts:", authors, "| posts tagged python:", tagged)


if __name__ == "__main__":
    main()
