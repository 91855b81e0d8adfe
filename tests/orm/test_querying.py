"""2.0-style querying: ``session.execute(select(...))`` of entities, columns
and mixes, the Result API, execution options, and ``yield_per`` streaming in
bounded memory."""

from __future__ import annotations

import gc
import tracemalloc
from typing import Any

import pytest

from docket import ForeignKey, String, exc, func, insert, select
from docket.orm import DeclarativeBase, Mapped, Session, mapped_column


class Base(DeclarativeBase):
    pass


class Author(Base):
    __tablename__ = "qy_authors"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(30))


class Book(Base):
    __tablename__ = "qy_books"
    id: Mapped[int] = mapped_column(primary_key=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("qy_authors.id"))
    title: Mapped[str] = mapped_column(String(50))
    pages: Mapped[int] = mapped_column()


@pytest.fixture
def session(engine: Any) -> Any:
    Base.metadata.create_all(engine)
    with Session(engine) as s:
        s.add_all([Author(id=1, name="ann"), Author(id=2, name="bob"), Author(id=3, name="cy")])
        s.add_all([Book(id=i, author_id=a, title=t, pages=p) for i, a, t, p in
                   [(1, 1, "alpha", 100), (2, 1, "beta", 300), (3, 2, "gamma", 200),
                    (4, 2, "delta", 50), (5, 1, "eps", 10)]])
        s.commit()
        yield s


def test_entities(session: Any) -> None:
    """select(Entity) rows hold objects; scalars() gives the objects."""
    rows = session.execute(select(Author).order_by(Author.id)).all()
    assert [r[0].name for r in rows] == ["ann", "bob", "cy"]
    assert rows[0].Author is rows[0][0]
    authors = session.scalars(select(Author).order_by(Author.id)).all()
    assert [a.id for a in authors] == [1, 2, 3] and authors[0] is rows[0][0]


def test_columns_and_mixes(session: Any) -> None:
    """Columns, and entities mixed with columns, come back as named Rows."""
    rows = session.execute(select(Book.title, Book.pages).order_by(Book.id).limit(2)).all()
    assert [tuple(r) for r in rows] == [("alpha", 100), ("beta", 300)]
    assert rows[1].pages == 300
    mixed = session.execute(select(Author, Book.title).join(Book, Book.author_id == Author.id)
                            .where(Book.pages > 100).order_by(Book.id)).all()
    assert [(a.name, t) for a, t in mixed] == [("ann", "beta"), ("bob", "gamma")]
    two = session.execute(select(Author, Book).join(Book, Book.author_id == Author.id)
                          .where(Book.id == 3)).one()
    assert (two.Author.name, two.Book.title) == ("bob", "gamma")


def test_where_filter_by_order_limit_offset(session: Any) -> None:
    """where/filter_by/order_by/limit/offset compose."""
    stmt = (select(Book).where(Book.pages >= 50).filter_by(author_id=1)
            .order_by(Book.pages.desc()).limit(1).offset(1))
    assert [b.title for b in session.scalars(stmt)] == ["alpha"]


def test_group_by_having(session: Any) -> None:
    """Aggregates with group_by/having over a join."""
    stmt = (select(Author.name, func.count(Book.id), func.sum(Book.pages))
            .join(Book, Book.author_id == Author.id).group_by(Author.name)
            .having(func.count(Book.id) > 1).order_by(Author.name))
    assert [tuple(r) for r in session.execute(stmt)] == [("ann", 3, 410), ("bob", 2, 250)]


def test_subqueries(session: Any) -> None:
    """Subqueries in FROM, scalar subqueries and IN (select ...)."""
    counts = (select(Book.author_id, func.count(Book.id).label("n"))
              .group_by(Book.author_id).subquery())
    rows = session.execute(select(Author.name, counts.c.n)
                           .join(counts, counts.c.author_id == Author.id)
                           .order_by(Author.id)).all()
    assert [tuple(r) for r in rows] == [("ann", 3), ("bob", 2)]
    biggest = select(func.max(Book.pages)).scalar_subquery()
    assert session.scalars(select(Book).where(Book.pages == biggest)).one().id == 2
    no_books = session.scalars(select(Author).where(
        Author.id.not_in(select(Book.author_id)))).all()
    assert [a.name for a in no_books] == ["cy"]


def test_result_methods(session: Any) -> None:
    """first/one/one_or_none/unique/partitions behave as documented."""
    ordered = select(Book).order_by(Book.id)
    assert session.scalars(ordered).first().id == 1
    assert session.execute(ordered).first()[0].id == 1
    assert session.scalars(ordered.where(Book.id == 99)).first() is None
    assert session.scalars(ordered.where(Book.id == 99)).one_or_none() is None
    with pytest.raises(exc.NoResultFound):
        session.scalars(ordered.where(Book.id == 99)).one()
    with pytest.raises(exc.MultipleResultsFound):
        session.scalars(ordered).one_or_none()
    joined = (select(Author).join(Book, Book.author_id == Author.id).order_by(Author.id))
    assert [a.id for a in session.scalars(joined).all()] == [1, 1, 1, 2, 2]
    assert [a.id for a in session.scalars(joined).unique().all()] == [1, 2]
    parts = list(session.scalars(ordered).partitions(2))
    assert [[b.id for b in p] for p in parts] == [[1, 2], [3, 4], [5]]


def test_populate_existing(session: Any) -> None:
    """populate_existing overwrites an already loaded object with the row."""
    book = session.get(Book, 1)
    session.execute(Book.__table__.update().where(Book.__table__.c.id == 1)
                    .values(title="new"))
    assert session.scalars(select(Book).where(Book.id == 1)).one().title == "alpha"
    got = session.scalars(select(Book).where(Book.id == 1)
                          .execution_options(populate_existing=True)).one()
    assert got is book and book.title == "new"


def test_autoflush_option(session: Any) -> None:
    """execution_options(autoflush=False) skips the autoflush; the default flushes."""
    session.add(Author(id=9, name="zed"))
    stmt = select(Author).where(Author.name == "zed")
    assert session.scalars(stmt.execution_options(autoflush=False)).all() == []
    assert session.scalars(stmt, execution_options={"autoflush": False}).all() == []
    assert [a.id for a in session.scalars(stmt)] == [9]


def test_yield_per_batches(session: Any) -> None:
    """yield_per returns every row, in partitions of the batch size."""
    stmt = select(Book).order_by(Book.id).execution_options(yield_per=2)
    parts = list(session.scalars(stmt).partitions())
    assert [[b.id for b in p] for p in parts] == [[1, 2], [3, 4], [5]]
    assert [b.id for b in session.scalars(stmt)] == [1, 2, 3, 4, 5]


class Reading(Base):
    __tablename__ = "qy_readings"
    id: Mapped[int] = mapped_column(primary_key=True)
    sensor: Mapped[str] = mapped_column(String(20))
    value: Mapped[int] = mapped_column()


def _peak_kib(fn: Any) -> tuple[float, Any]:
    gc.collect()
    tracemalloc.start()
    try:
        out = fn()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return peak / 1024, out


def test_yield_per_bounded_memory(engine: Any) -> None:
    """Streaming 200,000 rows with yield_per(1000) keeps peak memory and the
    identity map bounded, far below loading everything at once."""
    Base.metadata.create_all(engine)
    total, batch = 200_000, 1000
    with engine.begin() as conn:
        for start in range(0, total, 20_000):
            conn.execute(insert(Reading), [
                {"id": i, "sensor": f"s{i % 7}", "value": i}
                for i in range(start, start + 20_000)])
    with Session(engine) as s:
        stmt = select(Reading).execution_options(yield_per=batch)

        def stream() -> tuple[int, int, int]:
            n = max_map = checksum = 0
            for obj in s.scalars(stmt):
                n += 1
                checksum += obj.value
                if n % batch == 0:
                    max_map = max(max_map, len(s.identity_map))
            return n, max_map, checksum

        stream_peak, (n, max_map, checksum) = _peak_kib(stream)
        assert n == total and checksum == sum(range(total))
        assert max_map <= 3 * batch, max_map
        assert len(s.identity_map) <= 3 * batch

    with Session(engine) as s:
        limit = 20_000  # a tenth of the rows, loaded all at once
        full_peak, objs = _peak_kib(
            lambda: s.scalars(select(Reading).limit(limit)).all())
        assert len(objs) == limit
    # streaming everything peaks below holding a tenth of it
    assert stream_peak < full_peak, (stream_peak, full_peak)
