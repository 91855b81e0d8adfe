"""``scoped_session``: thread-local and custom-scope registries, ``remove``,
``configure``, ``query_property``, proxies, and one scoped_session shared by
16 threads at once (SQLite file and PostgreSQL)."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from docket import String, create_engine, func, select
from docket.orm import (
    DeclarativeBase,
    Mapped,
    Session,
    mapped_column,
    scoped_session,
    sessionmaker,
)
from docket.orm.query import Query


class Base(DeclarativeBase):
    pass


class Note(Base):
    __tablename__ = "ss_notes"
    id: Mapped[int] = mapped_column(primary_key=True)
    owner: Mapped[str] = mapped_column(String(30))
    n: Mapped[int] = mapped_column()


class Item(Base):
    __tablename__ = "ss_items"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(20))


def test_same_session_in_one_thread(eng: Any) -> None:
    """Calling the registry twice in one thread returns the same Session."""
    Scoped = scoped_session(sessionmaker(eng))
    try:
        assert Scoped() is Scoped()
        assert isinstance(Scoped(), Session) and Scoped.has()
    finally:
        Scoped.remove()


def test_remove_closes_and_forgets(eng: Any) -> None:
    """remove() closes the current session; the next call makes a new one."""
    Scoped = scoped_session(sessionmaker(eng))
    s1 = Scoped()
    note = Note(owner="x", n=1)
    s1.add(note)
    Scoped.remove()
    assert not Scoped.has() and note not in s1
    s2 = Scoped()
    assert s2 is not s1
    Scoped.remove()


def test_proxies_methods_and_attributes(eng: Any) -> None:
    """Session methods and attributes on the scoped_session act on the current session."""
    Scoped = scoped_session(sessionmaker(eng))
    try:
        note = Note(owner="p", n=1)
        Scoped.add(note)
        assert note in Scoped and Scoped.new == [note]
        assert list(Scoped) == [note]
        Scoped.commit()
        assert Scoped.scalar(select(func.count()).select_from(Note)) == 1
        assert Scoped.get(Note, note.id) is note
        assert Scoped.query(Note).one() is note
        assert Scoped.execute(select(Note.owner)).scalar_one() == "p"
        assert Scoped.bind is eng and Scoped.is_active
        Scoped.autoflush = False
        assert Scoped().autoflush is False
        Scoped.info["k"] = 1
        assert Scoped().info == {"k": 1}
        assert Scoped.object_session(note) is Scoped()
        assert Scoped.identity_key(Note, note.id) == (Note, (note.id,), None)
        Scoped.delete(note)
        assert Scoped.deleted == [note]
        Scoped.rollback()
        assert Scoped.dirty == []
    finally:
        Scoped.remove()


def test_call_with_arguments(eng: Any) -> None:
    """Arguments create the scope's session; giving them again once it exists is an error."""
    from docket import exc

    Scoped = scoped_session(sessionmaker(eng))
    try:
        s = Scoped(expire_on_commit=False)
        assert s.expire_on_commit is False and Scoped() is s
        with pytest.raises(exc.InvalidRequestError, match="already present"):
            Scoped(autoflush=False)
    finally:
        Scoped.remove()


def test_configure(eng: Any) -> None:
    """configure() reconfigures the factory; with a session present it warns."""
    Scoped = scoped_session(sessionmaker())
    Scoped.configure(bind=eng)
    try:
        assert Scoped().bind is eng
        with pytest.warns(UserWarning, match="already present"):
            Scoped.configure(expire_on_commit=False)
        assert Scoped().expire_on_commit is True
        Scoped.remove()
        assert Scoped().expire_on_commit is False
    finally:
        Scoped.remove()


def test_custom_scopefunc(eng: Any) -> None:
    """A scopefunc keys sessions by whatever it returns (e.g. a request id)."""
    current = {"req": 1}
    Scoped = scoped_session(sessionmaker(eng), scopefunc=lambda: current["req"])
    s1 = Scoped()
    current["req"] = 2
    s2 = Scoped()
    assert s1 is not s2
    current["req"] = 1
    assert Scoped() is s1
    Scoped.remove()
    assert Scoped() is not s1 and Scoped.registry.registry[2] is s2
    Scoped.remove()
    current["req"] = 2
    Scoped.remove()
    assert Scoped.registry.registry == {}


def test_query_property(eng: Any) -> None:
    """query_property() gives the class a Query in the current session."""
    Scoped = scoped_session(sessionmaker(eng))

    class Q(Query):
        pass

    Item.query = Scoped.query_property()  # type: ignore[attr-defined]
    Note.q = Scoped.query_property(Q)  # type: ignore[attr-defined]
    try:
        Scoped.add_all([Item(name="b"), Item(name="a")])
        Scoped.commit()
        q = Item.query  # type: ignore[attr-defined]
        assert isinstance(q, Query) and q.session is Scoped()
        assert [i.name for i in q.order_by(Item.name).all()] == ["a", "b"]
        assert isinstance(Note.q, Q) and Note.q.count() == 0  # type: ignore[attr-defined]
    finally:
        del Note.q  # type: ignore[attr-defined]
        del Item.query  # type: ignore[attr-defined]
        Scoped.remove()


def _threaded_run(url: str) -> None:
    """16 threads share one scoped_session; each writes and reads its own rows."""
    eng = create_engine(url, pool_size=16, max_overflow=4)
    Base.metadata.create_all(eng)
    Scoped = scoped_session(sessionmaker(eng))
    threads_n, rows_n = 16, 25
    seen: dict[int, int] = {}
    errors: list[BaseException] = []
    lock = threading.Lock()
    barrier = threading.Barrier(threads_n)

    def work(t: int) -> None:
        try:
            barrier.wait()
            session = Scoped()
            with lock:
                seen[t] = id(session)
            for i in range(rows_n):
                Scoped.add(Note(owner=f"t{t}", n=i))
                if i % 5 == 4:
                    Scoped.commit()
            Scoped.commit()
            mine = Scoped.scalars(select(Note.n).where(Note.owner == f"t{t}")
                                  .order_by(Note.n)).all()
            assert mine == list(range(rows_n)), mine
            assert Scoped() is session
            Scoped.remove()
        except BaseException as e:  # noqa: BLE001 - reported below
            with lock:
                errors.append(e)

    sessions: list[Any] = []
    orig_factory = Scoped.session_factory

    def factory(**kw: Any) -> Any:
        s = orig_factory(**kw)
        with lock:
            sessions.append(s)
        return s

    Scoped.registry.createfunc = factory
    threads = [threading.Thread(target=work, args=(t,)) for t in range(threads_n)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(120)
    try:
        assert not errors, errors
        assert len(seen) == threads_n
        assert len(sessions) == threads_n
        assert len({id(s) for s in sessions}) == threads_n
        with Session(eng) as s:
            total = s.scalar(select(func.count()).select_from(Note))
            per_owner = dict(s.execute(select(Note.owner, func.count())
                                       .group_by(Note.owner)).all())
        assert total == threads_n * rows_n
        assert per_owner == {f"t{t}": rows_n for t in range(threads_n)}
    finally:
        eng.dispose()


def test_threads_sqlite_file(tmp_path: Any) -> None:
    """On a SQLite file, 16 threads each get their own Session and no row is lost."""
    _threaded_run(f"sqlite:///{tmp_path / 'threads.db'}?timeout=60")


@pytest.mark.postgresql
def test_threads_postgresql(pg_server: Any) -> None:
    """On PostgreSQL, 16 threads each get their own Session and no row is lost."""
    pg_server.reset_schema()
    _threaded_run(pg_server.url())
