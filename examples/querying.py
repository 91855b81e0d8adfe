"""Querying with the ORM: select() of entities, columns and mixes, joins,
aggregates, subqueries, the Result API, streaming with yield_per, and the
legacy Query API.

Run with:  python examples/querying.py
"""

from __future__ import annotations

from docket import ForeignKey, String, create_engine, func, select
from docket.orm import DeclarativeBase, Mapped, Session, mapped_column


class Base(DeclarativeBase):
    pass


class Author(Base):
    __tablename__ = "author"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))


class Book(Base):
    __tablename__ = "book"
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(100))
    year: Mapped[int]
    author_id: Mapped[int] = mapped_column(ForeignKey("author.id"))


def main() -> None:
    engine = create_engine("sqlite://")
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        le_guin, pratchett = Author(name="Le Guin"), Author(name="Pratchett")
        session.add_all([le_guin, pratchett])
        session.flush()
        session.add_all([
            Book(title="A Wizard of Earthsea", year=1968, author_id=le_guin.id),
            Book(title="The Dispossessed", year=1974, author_id=le_guin.id),
            Book(title="Guards! Guards!", year=1989, author_id=pratchett.id),
            Book(title="Small Gods", year=1992, author_id=pratchett.id),
            Book(title="Night Watch", year=2002, author_id=pratchett.id),
        ])
        session.commit()

        # entities
        old = session.scalars(select(Book).where(Book.year < 1980).order_by(Book.year)).all()
        print("before 1980:", [b.title for b in old])

        # entities and columns together, through a join
        for book, name in session.execute(
            select(Book, Author.name).join(Author, Book.author_id == Author.id)
            .where(Author.name == "Pratchett").order_by(Book.year)
        ):
            print(f"  {name}: {book.title} ({book.year})")

        # aggregates with GROUP BY / HAVING
        prolific = session.execute(
            select(Author.name, func.count(Book.id).label("n"))
            .join(Book, Book.author_id == Author.id)
            .group_by(Author.name).having(func.count(Book.id) > 2)
        ).all()
        print("prolific:", [(row.name, row.n) for row in prolific])

        # a scalar subquery: each author's latest year
        latest = (select(func.max(Book.year)).where(Book.author_id == Author.id)
                  .scalar_subquery())
        print("latest:", session.execute(select(Author.name, latest).order_by(Author.id)).all())

        # one() / first() / one_or_none()
        print("one:", session.scalars(select(Book.title).where(Book.year == 1992)).one())

        # streaming in batches: objects are built per batch and can be dropped
        stmt = select(Book).order_by(Book.id).execution_options(yield_per=2)
        for batch in session.scalars(stmt).partitions():
            print("batch:", [b.id for b in batch])

        # the legacy Query API
        print("query count:", session.query(Book).filter(Book.year > 1970).count())
        print("query first:", session.query(Book).order_by(Book.year.desc()).first().title)


if __name__ == "__main__":
    main()
