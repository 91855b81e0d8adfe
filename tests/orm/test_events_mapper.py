"""MapperEvents, InstanceEvents and AttributeEvents: targets (mapped class,
declarative base, Mapper, the Mapper class, attribute), firing around
batched flush statements, load/refresh/expire/init, attribute ``set``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from docket import String, event, select
from docket.orm import DeclarativeBase, Mapped, Mapper, Session, mapped_column


class Base(DeclarativeBase):
    pass


class Item(Base):
    __tablename__ = "evm_items"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(40))
    slug: Mapped[str | None] = mapped_column(String(40))


class Tag(Base):
    __tablename__ = "evm_tags"
    id: Mapped[int] = mapped_column(primary_key=True)
    label: Mapped[str] = mapped_column(String(40))


@pytest.fixture
def listen() -> Iterator[Any]:
    """listen(target, name, fn, **kw), removed again after the test."""
    added: list[tuple[Any, str, Any]] = []

    def add(target: Any, name: str, fn: Any, **kw: Any) -> Any:
        event.listen(target, name, fn, **kw)
        added.append((target, name, fn))
        return fn

    yield add
    for target, name, fn in reversed(added):
        event.remove(target, name, fn)


def test_persistence_events_fire_around_batched_statements(
        eng: Any, session: Session, listen: Any) -> None:
    """before/after insert, update and delete fire per object; INSERTs stay one
    batched statement; a change made in before_insert is written."""
    log: list[tuple[str, Any]] = []
    for name in ("before_insert", "after_insert", "before_update", "after_update",
                 "before_delete", "after_delete"):
        listen(Item, name, lambda m, c, t, _n=name: log.append((_n, t.id)))
    listen(Item, "before_insert", lambda m, c, t: setattr(t, "slug", t.name.lower()))
    statements: list[str] = []
    listen(eng, "before_cursor_execute",
           lambda conn, cur, stmt, params, ctx, many: statements.append(stmt))
    session.add_all([Item(id=1, name="A"), Item(id=2, name="B"), Item(id=3, name="C")])
    session.flush()
    assert log == [("before_insert", 1), ("before_insert", 2), ("before_insert", 3),
                   ("after_insert", 1), ("after_insert", 2), ("after_insert", 3)]
    assert len([s for s in statements if s.startswith("INSERT")]) == 1
    session.expunge_all()
    assert [i.slug for i in session.scalars(select(Item).order_by(Item.id))] == ["a", "b", "c"]
    log.clear()
    one = session.get(Item, 1)
    assert one is not None
    one.name = "AA"
    session.delete(session.get(Item, 2))
    session.flush()
    assert log == [("before_update", 1), ("after_update", 1),
                   ("before_delete", 2), ("after_delete", 2)]


def test_mapper_targets(session: Session, listen: Any) -> None:
    """A Mapper, the declarative base and the Mapper class are targets too."""
    log: list[str] = []
    listen(Item.__mapper__, "after_insert", lambda m, c, t: log.append("mapper"))
    listen(Base, "after_insert", lambda m, c, t: log.append(f"base:{type(t).__name__}"))
    listen(Mapper, "after_insert", lambda m, c, t: log.append(f"all:{m.class_.__name__}"))
    session.add_all([Item(id=1, name="a"), Tag(id=1, label="t")])
    session.flush()
    assert sorted(log) == sorted(["all:Item", "base:Item", "mapper", "all:Tag", "base:Tag"])


def test_mapper_listener_remove_and_contains(session: Session) -> None:
    """remove() stops a mapper listener; contains() reflects registration."""
    log: list[Any] = []

    def fn(m: Any, c: Any, t: Any) -> None:
        log.append(t)

    event.listen(Tag, "before_insert", fn)
    assert event.contains(Tag, "before_insert", fn)
    event.remove(Tag, "before_insert", fn)
    assert not event.contains(Tag, "before_insert", fn)
    session.add(Tag(id=5, label="x"))
    session.flush()
    assert log == []


def test_load_refresh_expire_events(session: Session, listen: Any) -> None:
    """load fires for objects made from rows, refresh when attributes are
    reloaded, expire when they are expired."""
    session.add(Item(id=1, name="a"))
    session.commit()
    session.expunge_all()
    log: list[tuple[str, Any]] = []
    listen(Item, "load", lambda t, ctx: log.append(("load", ctx.session is session)))
    listen(Item, "refresh", lambda t, ctx, attrs: log.append(("refresh", attrs)))
    listen(Item, "expire", lambda t, attrs: log.append(("expire", attrs)))
    item = session.scalars(select(Item)).one()
    assert log == [("load", True)]
    log.clear()
    session.expire(item, ["name"])
    assert item.name == "a"
    assert log == [("expire", ["name"]), ("refresh", ["name"])]
    log.clear()
    session.refresh(item)
    assert [e[0] for e in log] == ["expire", "refresh"]
    log.clear()
    other = Item(id=2, name="b")
    session.add(other)
    session.commit()  # expire_on_commit: every object, all attributes (attrs None)
    assert sorted(log, key=repr) == [("expire", None), ("expire", None)]
    assert "name" not in item.__dict__ and "name" not in other.__dict__


def test_init_event_installed_only_while_listened(listen: Any) -> None:
    """init fires with the constructor arguments; removing the listener
    restores the class's original __init__."""
    original = Tag.__init__
    log: list[Any] = []

    def on_init(target: Any, args: Any, kwargs: Any) -> None:
        log.append(dict(kwargs))

    event.listen(Tag, "init", on_init)
    try:
        assert Tag.__init__ is not original
        tag = Tag(id=1, label="x")
        assert tag.label == "x" and log == [{"id": 1, "label": "x"}]
    finally:
        event.remove(Tag, "init", on_init)
    assert Tag.__init__ is original
    Tag(id=2, label="y")
    assert len(log) == 1


def test_attribute_set_event_with_retval(session: Session) -> None:
    """A ``set`` listener sees value and old value; with retval=True its
    return value is stored; removing it restores the plain setter."""
    plain = Item.__mapper__._setters["name"]
    seen: list[tuple[Any, Any]] = []

    def upper(target: Any, value: Any, oldvalue: Any, initiator: Any) -> Any:
        seen.append((value, oldvalue))
        return value.upper()

    event.listen(Item.name, "set", upper, retval=True)
    try:
        item = Item(id=1, name="abc")
        item.name = "def"
        item.slug = "s"  # another key: not listened to
        assert item.name == "DEF"
        assert seen[-1] == ("def", "ABC") and len(seen) == 2
        session.add(item)
        session.flush()
        session.expire(item)
        assert item.name == "DEF"
    finally:
        event.remove(Item.name, "set", upper)
    assert Item.__mapper__._setters["name"] is plain
    item2 = Item(id=2, name="low")
    assert item2.name == "low"


def test_attribute_set_without_retval_keeps_value(listen: Any) -> None:
    """A ``set`` listener without retval observes but does not change the value."""
    seen: list[Any] = []
    listen(Item.slug, "set", lambda t, v, o, i: seen.append((v, i.key)) or "ignored")
    item = Item(id=1, name="n", slug="s1")
    assert item.slug == "s1" and seen == [("s1", "slug")]


def test_collection_events_can_be_registered() -> None:
    """append/remove listeners register on an attribute (they fire for relationships)."""

    def fn(target: Any, value: Any, initiator: Any) -> None:
        pass

    event.listen(Item.name, "append", fn)
    event.listen(Item.name, "remove", fn)
    assert event.contains(Item.name, "append", fn) and event.contains(Item.name, "remove", fn)
    event.remove(Item.name, "append", fn)
    event.remove(Item.name, "remove", fn)
    assert not event.contains(Item.name, "append", fn)


def test_attribute_set_once_and_insert_order(listen: Any) -> None:
    """once=True fires a set listener a single time; insert=True runs a
    listener before earlier ones; values are not altered without retval."""
    order: list[str] = []
    listen(Item.name, "set", lambda t, v, o, i: order.append("first"), once=True)
    listen(Item.name, "set", lambda t, v, o, i: order.append("inserted"), insert=True)
    item = Item(id=1, name="a")
    item.name = "b"
    assert order == ["inserted", "first", "inserted"]
    assert item.name == "b"


def test_set_event_with_user_setattr_class() -> None:
    """A class with its own __setattr__ (data descriptors) fires set listeners too."""

    class Audited(Base):
        __tablename__ = "evm_audited"
        id: Mapped[int] = mapped_column(primary_key=True)
        name: Mapped[str] = mapped_column(String(40))

        def __setattr__(self, key: str, value: Any) -> None:
            super().__setattr__(key, value)

    seen: list[Any] = []

    def fn(target: Any, value: Any, oldvalue: Any, initiator: Any) -> Any:
        seen.append(value)
        return value + "!"

    event.listen(Audited.name, "set", fn, retval=True)
    try:
        obj = Audited(id=1, name="x")
        assert obj.name == "x!" and seen == ["x"]
    finally:
        event.remove(Audited.name, "set", fn)
    obj.name = "y"
    assert obj.name == "y"
