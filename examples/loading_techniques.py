"""Relationship loading techniques, with the number of SQL statements each
one costs for 3 authors x 2 books x 2 reviews:

* lazy loading (the default) and the N+1 pattern it creates;
* selectinload / joinedload / subqueryload, chained to two levels;
* lazy= strategies set on the relationship itself;
* raiseload to catch accidental lazy loads, noload;
* contains_eager for a join the query already has;
* defer / undefer / load_only for columns;
* DetachedInstanceError after the session closes, write-only collections.

Run with:  python examples/loading_techniques.py
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from docket import ForeignKey, Text, create_engine, event, select
from docket.exc import InvalidRequestError
from docket.orm import (
    DeclarativeBase,
    Mapped,
    Session,
    WriteOnlyMapped,
    contains_eager,
    defaultload,
    defer,
    joinedload,
    lazyload,
    load_only,
    mapped_column,
    noload,
    raiseload,
    relationship,
    selectinload,
    subqueryload,
    undefer,
)
from docket.orm.exc import DetachedInstanceError


class Base(DeclarativeBase):
    pass


class Author(Base):
    __tablename__ = "author"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str]
    bio: Mapped[str] = mapped_column(Text, deferred=True, default="")  # loaded on access
    books: Mapped[list[Book]] = relationship(back_populates="author", order_by="Book.id")
    # never loaded as a whole: queried and appended to
    log: WriteOnlyMapped[LogLine] = relationship(order_by="LogLine.id")


class Publisher(Base):
    """Strategies set on the relationship itself, for every query."""
    __tablename__ = "publisher"
    id: Mapped[int] = mapped_column(primary_key=True)
    # loaded along with every query of publishers
    books: Mapped[list[Book]] = relationship(lazy="selectin", order_by="Book.id")
    # the same rows, never loaded implicitly
    books_raise: Mapped[list[Book]] = relationship(lazy="raise", viewonly=True)


class Book(Base):
    __tablename__ = "book"
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str]
    author_id: Mapped[int] = mapped_column(ForeignKey("author.id"))
    publisher_id: Mapped[int | None] = mapped_column(ForeignKey("publisher.id"))
    author: Mapped[Author] = relationship(back_populates="books")
    reviews: Mapped[list[Review]] = relationship(order_by="Review.id")


class Review(Base):
    __tablename__ = "review"
    id: Mapped[int] = mapped_column(primary_key=True)
    book_id: Mapped[int] = mapped_column(ForeignKey("book.id"))
    stars: Mapped[int]


class LogLine(Base):
    __tablename__ = "log_line"
    id: Mapped[int] = mapped_column(primary_key=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("author.id"))
    text: Mapped[str]


def main() -> None:
    engine = create_engine("sqlite://")

    @event.listens_for(engine, "connect")
    def fk_on(dbapi_connection: Any, connection_record: Any) -> None:
        dbapi_connection.execute("PRAGMA foreign_keys=ON")

    sql: list[str] = []

    @event.listens_for(engine, "before_cursor_execute")
    def log(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        sql.append(statement)

    Base.metadata.create_all(engine)
    with Session(engine) as session:
        session.add_all([
            Author(name=f"author {a}", bio=f"bio {a}", books=[
                Book(title=f"book {a}.{b}", reviews=[Review(stars=s) for s in (3, 5)])
                for b in (1, 2)])
            for a in (1, 2, 3)])
        session.flush()
        session.add(Publisher(books=list(session.scalars(select(Book)))))
        session.commit()

    def statements(work: Callable[[Session], Any]) -> int:
        """Run ``work`` in a fresh session; return how many statements it sent."""
        with Session(engine) as session:
            sql.clear()
            work(session)
            return len(sql)

    def read_all(authors: list[Author]) -> int:
        return sum(r.stars for a in authors for b in a.books for r in b.reviews)

    cases = {
        # lazy loading: 1 + one SELECT per author + one per book ("N+1")
        "lazy (default)": select(Author),
        # one SELECT ... WHERE author_id IN (...) per level
        "selectinload x2": select(Author).options(
            selectinload(Author.books).selectinload(Book.reviews)),
        # one statement with LEFT OUTER JOINs
        "joinedload x2": select(Author).options(
            joinedload(Author.books).joinedload(Book.reviews)),
        # one SELECT per level, keyed by a subquery of the original statement
        "subqueryload x2": select(Author).options(
            subqueryload(Author.books).subqueryload(Book.reviews)),
        # mix freely: books by IN, each book's reviews joined into that SELECT
        "selectin + joined": select(Author).options(
            selectinload(Author.books).joinedload(Book.reviews)),
        # defaultload: keep books lazy, but say how reviews load below it
        "defaultload": select(Author).options(
            defaultload(Author.books).selectinload(Book.reviews)),
    }
    expected = {"lazy (default)": 1 + 3 + 6, "selectinload x2": 3, "joinedload x2": 1,
                "subqueryload x2": 3, "selectin + joined": 2, "defaultload": 1 + 3 + 3}
    for name, stmt in cases.items():
        def run(s: Session, stmt: Any = stmt) -> int:
            # unique(): joined eager loading of a collection repeats the parent rows
            return read_all(s.scalars(stmt).unique().all())
        n = statements(run)
        print(f"{name:18} {n:2} statements")
        assert n == expected[name], (name, n)

    # lazy="selectin" on the relationship: every query of publishers costs one more
    assert statements(lambda s: [len(p.books) for p in s.scalars(select(Publisher))]) == 2
    # an option overrides it for one query
    assert statements(lambda s: s.scalars(
        select(Publisher).options(lazyload(Publisher.books))).all()) == 1

    # a many-to-one whose target is already in the session needs no SQL
    def books_then_authors(s: Session) -> None:
        authors = s.scalars(select(Author)).all()      # keep them: the map holds them weakly
        assert authors and [b.author.name for b in s.scalars(select(Book))][0] == "author 1"
    assert statements(books_then_authors) == 2

    # raiseload: find N+1 problems -- a lazy load raises instead of running
    with Session(engine) as session:
        books = session.scalars(
            select(Book).options(selectinload(Book.reviews), raiseload("*"))).all()
        assert len(books[0].reviews) == 2                 # loaded up front: fine
        try:
            print(books[0].author)                        # would be a lazy load
        except InvalidRequestError as e:
            print("raiseload:", str(e).split(";")[0])
        else:
            raise AssertionError("raiseload('*') allowed a lazy load")
        publisher = session.scalars(select(Publisher)).one()
        try:
            print(publisher.books_raise)                   # lazy="raise" on the mapping
        except InvalidRequestError:
            pass
        else:
            raise AssertionError("lazy='raise' allowed a lazy load")
    # raise only when SQL is needed: the author is in the identity map here
    with Session(engine) as session:
        authors = session.scalars(select(Author).order_by(Author.id)).all()
        book = session.scalars(select(Book).options(
            raiseload(Book.author, sql_only=True)).limit(1)).one()
        assert book.author is authors[0]

    # noload: the collection is simply empty
    with Session(engine) as session:
        a = session.scalars(select(Author).options(noload(Author.books)).limit(1)).one()
        assert a.books == []

    # contains_eager: fill a collection from the query's own join (here filtered,
    # so each author's collection holds only the matching books)
    def contains(s: Session) -> None:
        stmt = (select(Author).join(Author.books).where(Book.title.endswith(".2"))
                .options(contains_eager(Author.books)).order_by(Author.id))
        authors = s.scalars(stmt).unique().all()
        assert [[b.title for b in a.books] for a in authors] == [
            ["book 1.2"], ["book 2.2"], ["book 3.2"]]
    assert statements(contains) == 1

    # columns: deferred by the mapping, undeferred per query, load_only
    with Session(engine) as session:
        a = session.scalars(select(Author).limit(1)).one()
        assert "bio" not in a.__dict__
        sql.clear()
        assert a.bio == "bio 1" and len(sql) == 1         # one SELECT on first access
        b = session.scalars(select(Book).options(load_only(Book.title)).limit(1)).one()
        assert "author_id" not in b.__dict__ and b.title == "book 1.1"
        b2 = session.scalars(select(Book).options(defer(Book.title)).where(Book.id == 2)).one()
        assert "title" not in b2.__dict__
        a2 = session.scalars(select(Author).options(undefer(Author.bio)).where(Author.id == 2)).one()
        assert "bio" in a2.__dict__
        # column options chain under relationship options too
        a3 = session.scalars(select(Author).where(Author.id == 3).options(
            selectinload(Author.books).load_only(Book.title))).one()
        assert "author_id" not in a3.books[0].__dict__

    # after the session closes, only what was loaded is available
    with Session(engine) as session:
        eager = session.scalars(select(Author).options(selectinload(Author.books))).first()
        lazy = session.get(Author, 2)
    assert eager is not None and lazy is not None
    assert [b.title for b in eager.books] == ["book 1.1", "book 1.2"]
    try:
        print(lazy.books)
    except DetachedInstanceError as e:
        print("detached:", type(e).__name__)
    else:
        raise AssertionError("a detached object lazy-loaded")

    # write-only collection: add without loading, query with select()
    with Session(engine) as session:
        a = session.get(Author, 1)
        assert a is not None
        a.log.add_all([LogLine(text="created"), LogLine(text="renamed")])
        session.commit()
        lines = session.scalars(a.log.select().where(LogLine.text != "created")).all()
        assert [x.text for x in lines] == ["renamed"]
    print("all loading checks passed")


if __name__ == "__main__":
    main()
