"""Legacy bulk methods: bulk_save_objects, bulk_insert_mappings (with
return_defaults / render_nulls) and bulk_update_mappings, on every backend."""

from __future__ import annotations

from typing import Any

import pytest

from docket import String, event, exc, inspect, select
from docket.orm import DeclarativeBase, Mapped, Session, mapped_column


class Base(DeclarativeBase):
    pass


class Row(Base):
    __tablename__ = "bulk_rows"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
    kind: Mapped[str | None] = mapped_column(String(10), default="plain")


class Other(Base):
    __tablename__ = "bulk_other"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    label: Mapped[str | None] = mapped_column(String(10))




def rows(engine: Any) -> list[tuple[Any, ...]]:
    with engine.connect() as c:
        return [tuple(r) for r in c.execute(
            select(Row.id, Row.name, Row.kind).order_by(Row.id)).all()]


def record(engine: Any) -> list[tuple[str, bool]]:
    seen: list[tuple[str, bool]] = []
    event.listen(engine, "before_cursor_execute",
                 lambda c, cur, st, p, ctx, many: seen.append((st.split()[0].upper(), many)))
    return seen


def test_insert_mappings_batched(session: Session, eng: Any) -> None:
    """bulk_insert_mappings sends one executemany per key set; defaults fire for omitted keys."""
    seen = record(eng)
    session.bulk_insert_mappings(Row, [{"name": f"r{i}"} for i in range(5)])  # type: ignore[attr-defined]
    assert seen == [("INSERT", True)]
    session.commit()
    assert [r[1:] for r in rows(eng)] == [(f"r{i}", "plain") for i in range(5)]


def test_insert_mappings_none_omitted_unless_render_nulls(session: Session, eng: Any) -> None:
    """A None value lets the default fire; render_nulls=True stores NULL instead."""
    session.bulk_insert_mappings(Row, [{"id": 1, "name": "a", "kind": None}])  # type: ignore[attr-defined]
    session.bulk_insert_mappings(Row, [{"id": 2, "name": "b", "kind": None}],  # type: ignore[attr-defined]
                                 render_nulls=True)
    session.commit()
    assert rows(eng) == [(1, "a", "plain"), (2, "b", None)]


def test_insert_mappings_return_defaults(session: Session, eng: Any) -> None:
    """return_defaults=True writes the generated primary keys back into the dicts, in order."""
    maps = [{"name": "x"}, {"name": "y"}, {"name": "z"}]
    session.bulk_insert_mappings(Row, maps, return_defaults=True)  # type: ignore[attr-defined]
    session.commit()
    assert [m["id"] for m in maps] == [1, 2, 3]
    assert [(r[0], r[1]) for r in rows(eng)] == [(1, "x"), (2, "y"), (3, "z")]


def test_insert_mappings_leave_identity_map_alone(session: Session) -> None:
    """Bulk-inserted rows are not in the session until loaded."""
    session.bulk_insert_mappings(Row, [{"id": 5, "name": "five"}])  # type: ignore[attr-defined]
    assert list(session) == []
    assert session.get(Row, 5).name == "five"  # type: ignore[union-attr]


def test_insert_mappings_bad_key(session: Session) -> None:
    """An unknown attribute name is reported with the valid ones."""
    with pytest.raises(exc.InvalidRequestError, match="'nam' is not a mapped"):
        session.bulk_insert_mappings(Row, [{"nam": "x"}])  # type: ignore[attr-defined]


def test_insert_mappings_needs_mapped_class(session: Session) -> None:
    """Passing something that is not a mapped class is an ArgumentError."""
    with pytest.raises(exc.ArgumentError):
        session.bulk_insert_mappings("Row", [{"name": "x"}])  # type: ignore[attr-defined]


def test_update_mappings_by_primary_key(session: Session, eng: Any) -> None:
    """bulk_update_mappings updates each row by primary key, batched per key set."""
    session.bulk_insert_mappings(Row, [{"id": i, "name": f"r{i}"} for i in (1, 2, 3)])  # type: ignore[attr-defined]
    seen = record(eng)
    session.bulk_update_mappings(Row, [  # type: ignore[attr-defined]
        {"id": 1, "name": "A"}, {"id": 2, "name": "B"}, {"id": 3, "kind": "k"}])
    assert seen == [("UPDATE", True), ("UPDATE", False)]
    session.commit()
    assert rows(eng) == [(1, "A", "plain"), (2, "B", "plain"), (3, "r3", "k")]


def test_update_mappings_need_primary_key(session: Session) -> None:
    """A mapping without its primary key is refused."""
    with pytest.raises(exc.InvalidRequestError, match="primary key"):
        session.bulk_update_mappings(Row, [{"name": "nope"}])  # type: ignore[attr-defined]


def test_save_objects_inserts_transient(session: Session, eng: Any) -> None:
    """bulk_save_objects INSERTs transient objects without attaching them."""
    objs = [Row(name="a"), Row(name="b"), Other(id=1, label="o")]
    session.bulk_save_objects(objs)  # type: ignore[attr-defined]
    assert all(inspect(o).transient for o in objs)
    session.commit()
    assert [r[1] for r in rows(eng)] == ["a", "b"]
    with eng.connect() as c:
        assert c.execute(select(Other.label)).scalar() == "o"


def test_save_objects_return_defaults(session: Session) -> None:
    """return_defaults puts generated keys on the objects, which get an identity (detached)."""
    objs = [Row(name="a"), Row(name="b")]
    session.bulk_save_objects(objs, return_defaults=True)  # type: ignore[attr-defined]
    assert [o.id for o in objs] == [1, 2]
    assert all(inspect(o).detached for o in objs)


def test_save_objects_updates_persistent(session: Session, eng: Any) -> None:
    """Objects with an identity are UPDATEd with their changed attributes only."""
    session.add_all([Row(id=1, name="a", kind="k1"), Row(id=2, name="b", kind="k2")])
    session.commit()
    one, two = session.get(Row, 1), session.get(Row, 2)
    assert one is not None and two is not None
    one.name = "A"
    two.kind = "K"
    seen = record(eng)
    session.bulk_save_objects([one, two])  # type: ignore[attr-defined]
    assert [k for k, _m in seen] == ["UPDATE", "UPDATE"]  # different changed-column sets
    session.commit()
    assert rows(eng) == [(1, "A", "k1"), (2, "b", "K")]


def test_save_objects_preserve_order_false_groups(session: Session, eng: Any) -> None:
    """preserve_order=False groups all INSERTs of a class into one batch."""
    session.add(Row(id=1, name="a"))
    session.commit()
    existing = session.get(Row, 1)
    assert existing is not None
    existing.name = "A"
    seen = record(eng)
    session.bulk_save_objects(  # type: ignore[attr-defined]
        [Row(id=2, name="b"), existing, Row(id=3, name="c")], preserve_order=False)
    assert [k for k, _m in seen] == ["INSERT", "UPDATE"]
    session.commit()
    assert [r[1] for r in rows(eng)] == ["A", "b", "c"]
