"""``sessionmaker``: configuration, per-call overrides, ``begin()``, ``class_``,
``info`` merging and repr, on every backend."""

from __future__ import annotations

from typing import Any

import pytest

from docket import String, select
from docket.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker


class Base(DeclarativeBase):
    pass


class Widget(Base):
    __tablename__ = "sm_widgets"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(30))


def test_factory_applies_configuration(eng: Any) -> None:
    """Sessions from a sessionmaker get its bind and keyword configuration."""
    maker = sessionmaker(eng, expire_on_commit=False, autoflush=False)
    with maker() as s:
        assert isinstance(s, Session)
        assert s.bind is eng
        assert s.expire_on_commit is False and s.autoflush is False


def test_per_call_overrides(eng: Any) -> None:
    """Keyword arguments to the call override the factory's, for that session only."""
    maker = sessionmaker(eng, expire_on_commit=False)
    with maker(expire_on_commit=True) as s1, maker() as s2:
        assert s1.expire_on_commit is True
        assert s2.expire_on_commit is False


def test_configure_changes_later_sessions(eng: Any) -> None:
    """configure() affects sessions created afterwards, not earlier ones."""
    maker = sessionmaker()
    early = maker()
    maker.configure(bind=eng, autoflush=False)
    late = maker()
    assert early.bind is None and early.autoflush is True
    assert late.bind is eng and late.autoflush is False
    early.close()
    late.close()


def test_begin_commits_and_closes(eng: Any) -> None:
    """maker.begin() commits at the end of the block and closes the session."""
    maker = sessionmaker(eng)
    with maker.begin() as s:
        w = Widget(name="a")
        s.add(w)
    assert w not in s and not s.in_transaction()
    with maker() as s2:
        assert s2.scalars(select(Widget.name)).all() == ["a"]


def test_begin_rolls_back_on_error(eng: Any) -> None:
    """An exception inside maker.begin() rolls the transaction back."""
    maker = sessionmaker(eng)
    with pytest.raises(RuntimeError), maker.begin() as s:
        s.add(Widget(name="lost"))
        s.flush()
        raise RuntimeError("boom")
    with maker() as s2:
        assert s2.scalars(select(Widget)).all() == []


def test_class_is_subclassed() -> None:
    """Each sessionmaker makes its own subclass of class_, named after it."""

    class MySession(Session):
        marker = "mine"

    m1 = sessionmaker(class_=MySession)
    m2 = sessionmaker(class_=MySession)
    s = m1()
    assert isinstance(s, MySession) and type(s) is m1.class_
    assert m1.class_ is not m2.class_ and m1.class_.__name__ == "MySession"
    assert s.marker == "mine"
    s.close()


def test_info_merged() -> None:
    """info given to the call is merged over the factory's info (copied, not shared)."""
    maker = sessionmaker(info={"a": 1, "b": 2})
    s1 = maker(info={"b": 3, "c": 4})
    s2 = maker()
    assert s1.info == {"a": 1, "b": 3, "c": 4}
    assert s2.info == {"a": 1, "b": 2}
    s2.info["z"] = 0
    assert maker.kw["info"] == {"a": 1, "b": 2}
    s1.close()
    s2.close()


def test_repr() -> None:
    """repr names the class and the configuration."""
    maker = sessionmaker(expire_on_commit=False)
    r = repr(maker)
    assert r.startswith("sessionmaker(class_='Session', ")
    assert "expire_on_commit=False" in r and "bind=None" in r
