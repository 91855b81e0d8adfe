"""Session.merge(): detached, transient and already-present objects, with
load=True and load=False, on every backend."""

from __future__ import annotations

from typing import Any

import pytest

from docket import String, exc, inspect, select
from docket.orm import DeclarativeBase, Mapped, Session, make_transient, mapped_column


class Base(DeclarativeBase):
    pass


class Item(Base):
    __tablename__ = "merge_items"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
    qty: Mapped[int | None]


@pytest.fixture
def eng(engine: Any) -> Any:
    Base.metadata.create_all(engine)
    with Session(engine) as s:
        s.add(Item(name="one", qty=1))
        s.flush()  # ids are generated (1, 2) so the backends' sequences stay in step
        s.add(Item(name="two", qty=2))
        s.commit()
    return engine


def detached(eng: Any, ident: int) -> Item:
    with Session(eng, expire_on_commit=False) as s:
        obj = s.get(Item, ident)
        assert obj is not None
    return obj


def db_rows(engine: Any) -> list[tuple[Any, ...]]:
    with engine.connect() as c:
        return [tuple(r) for r in c.execute(
            select(Item.id, Item.name, Item.qty).order_by(Item.id)).all()]


def test_merge_detached_loads_and_copies(session: Session, eng: Any) -> None:
    """Merging a changed detached object returns a different, persistent copy with its values."""
    d = detached(eng, 1)
    d.name = "uno"
    m = session.merge(d)
    assert m is not d and inspect(m).persistent and inspect(d).detached
    assert m.name == "uno" and m in session.dirty
    session.commit()
    assert db_rows(eng)[0] == (1, "uno", 1)


def test_merge_reconciles_with_object_in_map(session: Session, eng: Any) -> None:
    """An object of the same identity already loaded receives the values; no duplicate."""
    present = session.get(Item, 2)
    d = detached(eng, 2)
    d.qty = 20
    m = session.merge(d)
    assert m is present
    assert present is not None and present.qty == 20
    assert len([o for o in session if isinstance(o, Item)]) == 1


def test_merge_twice_gives_same_object(session: Session, eng: Any) -> None:
    """Merging two copies of one row yields the same session object both times."""
    a, b = detached(eng, 1), detached(eng, 1)
    assert session.merge(a) is session.merge(b)


def test_merge_already_present_returns_it(session: Session) -> None:
    """Merging an object that is already this session's returns it unchanged."""
    obj = session.get(Item, 1)
    assert session.merge(obj) is obj
    pending = Item(name="p")
    session.add(pending)
    assert session.merge(pending) is pending


def test_merge_transient_without_row_is_pending(session: Session, eng: Any) -> None:
    """A transient object whose row doesn't exist becomes a new pending copy."""
    t = Item(id=7, name="seven", qty=7)
    m = session.merge(t)
    assert m is not t and inspect(m).pending and inspect(t).transient
    session.commit()
    assert db_rows(eng)[-1] == (7, "seven", 7)


def test_merge_transient_matching_row_updates(session: Session, eng: Any) -> None:
    """A transient object whose key exists is merged onto the loaded row (an UPDATE)."""
    m = session.merge(Item(id=1, name="first", qty=1))
    assert inspect(m).persistent
    session.commit()
    assert db_rows(eng)[0] == (1, "first", 1)


def test_merge_transient_no_pk_is_new(session: Session, eng: Any) -> None:
    """A transient object without a primary key becomes a new pending object."""
    m = session.merge(Item(name="auto"))
    assert inspect(m).pending
    session.commit()
    assert m.id == 3 and len(db_rows(eng)) == 3


def test_merge_deleted_row_detached_becomes_pending(session: Session, eng: Any) -> None:
    """A detached object whose row was deleted meanwhile is merged as a new pending object."""
    d = detached(eng, 2)
    with Session(eng) as other:
        other.delete(other.get(Item, 2))
        other.commit()
    m = session.merge(d)
    assert inspect(m).pending
    session.commit()
    assert db_rows(eng)[1] == (2, "two", 2)


def test_merge_load_false_no_sql(session: Session, eng: Any) -> None:
    """load=False stamps a clean detached object in as persistent without SQL or history."""
    d = detached(eng, 1)
    seen: list[str] = []
    from docket import event

    event.listen(eng, "before_cursor_execute",
                 lambda c, cur, st, p, ctx, many: seen.append(st))
    m = session.merge(d, load=False)
    assert inspect(m).persistent and m.name == "one" and m not in session.dirty
    assert seen == []


def test_merge_load_false_onto_present(session: Session, eng: Any) -> None:
    """load=False onto an object already in the map copies values without history."""
    present = session.get(Item, 1)
    d = detached(eng, 1)
    m = session.merge(d, load=False)
    assert m is present and m not in session.dirty


def test_merge_load_false_rejects_transient(session: Session) -> None:
    """load=False refuses a transient object and says what to do."""
    with pytest.raises(exc.InvalidRequestError, match="transient"):
        session.merge(Item(id=5, name="x"), load=False)


def test_merge_load_false_rejects_dirty(session: Session, eng: Any) -> None:
    """load=False refuses an object with unflushed changes, even when already mapped."""
    session.get(Item, 1)
    d = detached(eng, 1)
    d.name = "changed"
    with pytest.raises(exc.InvalidRequestError, match="dirty"):
        session.merge(d, load=False)


def test_merge_after_make_transient(session: Session, eng: Any) -> None:
    """make_transient() then merge() finds the row by primary key and updates it."""
    d = detached(eng, 2)
    make_transient(d)
    d.qty = 99
    m = session.merge(d)
    session.commit()
    assert m.qty == 99 and db_rows(eng)[1] == (2, "two", 99)


def test_merge_unmapped_object(session: Session) -> None:
    """merge() of a non-mapped object raises UnmappedInstanceError."""
    with pytest.raises(exc.UnmappedInstanceError):
        session.merge(object())
