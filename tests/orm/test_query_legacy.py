"""The legacy ``session.query(...)`` API on every backend."""

from __future__ import annotations

from typing import Any

import pytest

from docket import ForeignKey, String, exc, func, select
from docket.orm import DeclarativeBase, Mapped, Session, mapped_column


class Base(DeclarativeBase):
    pass


class Person(Base):
    __tablename__ = "ql_people"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(30))
    age: Mapped[int] = mapped_column()


class Pet(Base):
    __tablename__ = "ql_pets"
    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("ql_people.id"))
    kind: Mapped[str] = mapped_column(String(20))


@pytest.fixture
def session(engine: Any) -> Any:
    Base.metadata.create_all(engine)
    with Session(engine) as s:
        s.add_all([Person(id=i, name=n, age=a) for i, n, a in
                   [(1, "ann", 30), (2, "bob", 25), (3, "cid", 41), (4, "dee", 25)]])
        s.add_all([Pet(id=1, owner_id=1, kind="cat"), Pet(id=2, owner_id=1, kind="dog"),
                   Pet(id=3, owner_id=3, kind="cat")])
        s.commit()
        yield s


def test_all_filter_order(session: Any) -> None:
    """filter/filter_by/order_by/all return objects of a single-entity query."""
    q = session.query(Person).filter(Person.age < 40).filter_by(age=25).order_by(Person.name)
    assert [p.name for p in q.all()] == ["bob", "dee"]
    assert all(isinstance(p, Person) for p in q)


def test_limit_offset_slice(session: Any) -> None:
    """limit/offset and Python slicing become LIMIT/OFFSET."""
    q = session.query(Person).order_by(Person.id)
    assert [p.id for p in q.limit(2).offset(1)] == [2, 3]
    assert [p.id for p in q[1:3]] == [2, 3]
    assert [p.id for p in q[2:]] == [3, 4]
    assert q[0].id == 1 and q[3].id == 4
    with pytest.raises(IndexError):
        q[10]
    with pytest.raises(IndexError, match="negative"):
        q[-1]


def test_first_one_one_or_none(session: Any) -> None:
    """first/one/one_or_none follow their contracts."""
    q = session.query(Person)
    assert q.order_by(Person.id.desc()).first().id == 4
    assert q.filter(Person.id == 99).first() is None
    assert q.filter_by(name="ann").one().id == 1
    assert q.filter_by(name="zed").one_or_none() is None
    with pytest.raises(exc.NoResultFound):
        q.filter_by(name="zed").one()
    with pytest.raises(exc.MultipleResultsFound):
        q.filter_by(age=25).one()
    with pytest.raises(exc.MultipleResultsFound):
        q.filter_by(age=25).one_or_none()


def test_count_and_scalar(session: Any) -> None:
    """count() counts the query's rows; scalar() gives one value or None."""
    assert session.query(Person).count() == 4
    assert session.query(Person).filter_by(age=25).count() == 2
    assert session.query(Person.age).distinct().count() == 3
    assert session.query(func.max(Person.age)).scalar() == 41
    assert session.query(Person.name).filter_by(id=2).scalar() == "bob"
    assert session.query(Person.name).filter_by(id=99).scalar() is None
    assert session.query(Person).filter_by(id=3).scalar().name == "cid"
    with pytest.raises(exc.MultipleResultsFound):
        session.query(Person.name).scalar()


def test_columns_return_rows(session: Any) -> None:
    """Column queries return Rows with named attributes, even for one column."""
    rows = session.query(Person.name, Person.age).order_by(Person.id).limit(2).all()
    assert [tuple(r) for r in rows] == [("ann", 30), ("bob", 25)]
    assert rows[0].name == "ann"
    assert [tuple(r) for r in session.query(Person.id).order_by(Person.id)] == [
        (1,), (2,), (3,), (4,)]


def test_get_identity_map(session: Any) -> None:
    """get() returns the identity-mapped object without re-creating it."""
    p = session.query(Person).get(2)
    assert p.name == "bob"
    assert session.query(Person).get(2) is p
    assert session.query(Person).get(99) is None


def test_join_explicit_on(session: Any) -> None:
    """join(target, onclause) with an explicit ON; entity + column results."""
    q = (session.query(Person).join(Pet, Pet.owner_id == Person.id)
         .filter(Pet.kind == "cat").order_by(Person.id))
    assert [p.name for p in q] == ["ann", "cid"]
    rows = (session.query(Person, Pet.kind).join(Pet, Pet.owner_id == Person.id)
            .order_by(Pet.id).all())
    assert [(p.name, k) for p, k in rows] == [("ann", "cat"), ("ann", "dog"), ("cid", "cat")]
    outer = (session.query(Person.name, Pet.kind).outerjoin(Pet, Pet.owner_id == Person.id)
             .filter(Pet.id.is_(None)).order_by(Person.name).all())
    assert [r.name for r in outer] == ["bob", "dee"]


def test_group_by_having(session: Any) -> None:
    """group_by/having on a column query."""
    rows = (session.query(Person.age, func.count(Person.id)).group_by(Person.age)
            .having(func.count(Person.id) > 1).all())
    assert [tuple(r) for r in rows] == [(25, 2)]


def test_with_entities(session: Any) -> None:
    """with_entities() replaces what is selected, keeping the criteria."""
    q = session.query(Person).filter(Person.age == 25).order_by(Person.id)
    assert [tuple(r) for r in q.with_entities(Person.name)] == [("bob",), ("dee",)]
    assert [p.id for p in q.with_entities(Person)] == [2, 4]


def test_options_and_execution_options(session: Any) -> None:
    """options() and populate_existing() run; populate_existing refreshes loaded objects."""
    p = session.query(Person).get(1)
    p.name = "changed"
    session.flush()
    session.execute(Person.__table__.update().where(Person.__table__.c.id == 1)
                    .values(name="db"))
    assert session.query(Person).filter_by(id=1).one().name == "changed"
    assert session.query(Person).populate_existing().filter_by(id=1).one().name == "db"
    assert session.query(Person).options().filter_by(id=1).one() is p


def test_autoflush_before_query(session: Any) -> None:
    """A Query autoflushes pending objects first."""
    session.add(Person(id=5, name="eve", age=20))
    assert session.query(Person).filter_by(name="eve").one().id == 5


def test_bulk_update_delete(session: Any) -> None:
    """Query.update()/delete() run UPDATE/DELETE for the filtered rows and return counts."""
    n = session.query(Person).filter(Person.age == 25).update(
        {Person.age: 26}, synchronize_session=False)
    assert n == 2
    assert session.scalars(select(Person.id).where(Person.age == 26)
                           .order_by(Person.id)).all() == [2, 4]
    n = session.query(Pet).filter(Pet.kind == "cat").delete(synchronize_session=False)
    assert n == 2
    assert session.query(Pet).count() == 1


def test_statement_and_subquery(session: Any) -> None:
    """statement / subquery() let a Query feed a select()."""
    sub = session.query(Person.id).filter(Person.age > 28).subquery()
    names = session.scalars(select(Person.name).where(Person.id.in_(select(sub.c.id)))
                            .order_by(Person.name)).all()
    assert names == ["ann", "cid"]
    assert "ql_people" in str(session.query(Person).statement)


def test_unbound_query_errors() -> None:
    """A Query without a session says how to bind it."""
    from docket.orm.query import Query

    with pytest.raises(exc.InvalidRequestError, match="with_session"):
        Query(Person).all()


def test_session_query_cls(engine: Any) -> None:
    """Session(query_cls=...) makes session.query() return that class."""
    from docket.orm.query import Query

    class MyQuery(Query):
        pass

    with Session(engine, query_cls=MyQuery) as s:
        assert isinstance(s.query(Person), MyQuery)
