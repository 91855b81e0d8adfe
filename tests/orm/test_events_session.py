"""SessionEvents: targets (Session class, sessionmaker, scoped_session,
instance), flush / transaction / state-transition events and do_orm_execute,
on every backend."""

from __future__ import annotations

from typing import Any

import pytest

from docket import String, event, select
from docket.exc import InvalidRequestError
from docket.orm import (
    DeclarativeBase,
    Mapped,
    ORMExecuteState,
    Session,
    make_transient,
    mapped_column,
    scoped_session,
    sessionmaker,
)


class Base(DeclarativeBase):
    pass


class Note(Base):
    __tablename__ = "ev_notes"
    id: Mapped[int] = mapped_column(primary_key=True)
    text: Mapped[str] = mapped_column(String(40))


def _recorder(log: list[Any], name: str) -> Any:
    def fn(*args: Any) -> None:
        log.append((name, *args))

    return fn


def test_listen_on_instance_only_affects_it(eng: Any) -> None:
    """A listener on one Session instance does not fire for another session."""
    log: list[Any] = []
    with Session(eng) as s1, Session(eng) as s2:
        event.listen(s1, "before_commit", _recorder(log, "bc"))
        s2.commit()
        assert log == []
        s1.commit()
        assert log == [("bc", s1)]


def test_listen_on_session_class_fires_for_all_and_remove(eng: Any) -> None:
    """A Session-class listener fires for every session, including sessionmaker
    ones, until removed; contains() reports it."""
    log: list[Any] = []

    def fn(session: Any) -> None:
        log.append(session)

    event.listen(Session, "after_commit", fn)
    try:
        assert event.contains(Session, "after_commit", fn)
        maker = sessionmaker(eng)
        with maker() as s1, Session(eng) as s2:
            s1.commit()
            s2.commit()
        assert log == [s1, s2]
    finally:
        event.remove(Session, "after_commit", fn)
    assert not event.contains(Session, "after_commit", fn)
    with Session(eng) as s3:
        s3.commit()
    assert len(log) == 2


def test_bound_method_listener_is_removed(eng: Any) -> None:
    """A bound method is a new object at each access: remove()/contains() match it by ==."""

    class Audit:
        def __init__(self) -> None:
            self.log: list[Any] = []

        def began(self, session: Any, transaction: Any, connection: Any) -> None:
            self.log.append(session)

    audit = Audit()
    event.listen(Session, "after_begin", audit.began)
    with Session(eng) as s1:
        s1.connection()
    assert event.contains(Session, "after_begin", audit.began)
    event.remove(Session, "after_begin", audit.began)
    assert not event.contains(Session, "after_begin", audit.began)
    with Session(eng) as s2:
        s2.connection()
    assert audit.log == [s1]


def test_sessionmaker_target_scopes_to_its_sessions(eng: Any) -> None:
    """Listeners on a sessionmaker fire only for sessions it creates."""
    log: list[Any] = []
    maker = sessionmaker(eng)
    other = sessionmaker(eng)

    @event.listens_for(maker, "after_begin")
    def began(session: Any, transaction: Any, connection: Any) -> None:
        log.append(session)

    with maker() as s1, other() as s2, Session(eng) as s3:
        for s in (s1, s2, s3):
            s.connection()
    assert log == [s1]
    assert event.contains(maker, "after_begin", began)
    event.remove(maker, "after_begin", began)
    with maker() as s4:
        s4.connection()
    assert log == [s1]


def test_scoped_session_target(eng: Any) -> None:
    """Listeners on a scoped_session apply to the sessions of its factory."""
    log: list[Any] = []
    registry = scoped_session(sessionmaker(eng))
    try:
        event.listen(registry, "before_flush", _recorder(log, "bf"))
        registry.add(Note(id=1, text="a"))
        registry.flush()
        assert [e[0] for e in log] == ["bf"] and log[0][1] is registry()
    finally:
        registry.remove()


def test_unknown_event_is_a_clear_error(session: Session) -> None:
    """Listening for an event the target does not have raises InvalidRequestError."""
    with pytest.raises(InvalidRequestError, match="No such event 'before_insert'"):
        event.listen(session, "before_insert", lambda *a: None)


def test_flush_events_in_order_and_before_flush_can_add(session: Session) -> None:
    """before_flush, after_flush and after_flush_postexec fire in order; an
    object added in before_flush is written by that same flush."""
    log: list[str] = []

    @event.listens_for(session, "before_flush")
    def before(s: Any, ctx: Any, instances: Any) -> None:
        log.append("before")
        if not any(n.id == 99 for n in s.new):
            s.add(Note(id=99, text="from hook"))

    @event.listens_for(session, "after_flush")
    def after(s: Any, ctx: Any) -> None:
        log.append(f"after new={len(s.new)}")

    @event.listens_for(session, "after_flush_postexec")
    def post(s: Any, ctx: Any) -> None:
        log.append(f"post new={len(s.new)}")

    session.add(Note(id=1, text="x"))
    session.flush()
    assert log == ["before", "after new=2", "post new=0"]
    assert session.get(Note, 99) is not None
    session.flush()  # nothing to do: no events
    assert len(log) == 3


def test_transaction_events(session: Session) -> None:
    """Transaction create/begin/commit/rollback/end events fire with the
    session and transaction objects."""
    log: list[Any] = []
    for name in ("after_transaction_create", "after_transaction_end", "before_commit",
                 "after_commit", "after_rollback", "after_soft_rollback"):
        event.listen(session, name, _recorder(log, name))
    event.listen(session, "after_begin", lambda s, t, c: log.append(("after_begin", s, t)))
    session.add(Note(id=1, text="x"))
    txn = session.get_transaction()
    session.commit()
    names = [e[0] for e in log]
    assert names == ["after_transaction_create", "before_commit", "after_begin",
                     "after_commit", "after_transaction_end"]
    assert log[0][2] is txn and log[2][2] is txn and log[4][2] is txn
    log.clear()
    session.add(Note(id=2, text="y"))
    session.flush()
    session.rollback()
    names = [e[0] for e in log]
    assert names == ["after_transaction_create", "after_begin", "after_rollback",
                     "after_transaction_end", "after_soft_rollback"]


def test_state_transition_events(session: Session) -> None:
    """Object lifecycle events fire for add, flush, delete, commit and expunge."""
    log: list[tuple[str, Any]] = []
    for name in ("transient_to_pending", "pending_to_persistent", "persistent_to_deleted",
                 "deleted_to_detached", "persistent_to_detached", "detached_to_persistent",
                 "before_attach", "after_attach"):
        event.listen(session, name, lambda s, obj, _n=name: log.append((_n, obj)))
    a, b = Note(id=1, text="a"), Note(id=2, text="b")
    session.add_all([a, b])
    assert log == [("before_attach", a), ("transient_to_pending", a), ("after_attach", a),
                   ("before_attach", b), ("transient_to_pending", b), ("after_attach", b)]
    log.clear()
    session.flush()
    assert log == [("pending_to_persistent", a), ("pending_to_persistent", b)]
    log.clear()
    session.delete(b)
    session.flush()
    assert log == [("persistent_to_deleted", b)]
    log.clear()
    session.commit()
    assert log == [("deleted_to_detached", b)]
    log.clear()
    session.expunge(a)
    session.add(a)
    assert log == [("persistent_to_detached", a), ("before_attach", a),
                   ("detached_to_persistent", a), ("after_attach", a)]


def test_rollback_transition_events(session: Session) -> None:
    """Rollback fires pending_to_transient, persistent_to_transient and
    deleted_to_persistent for the objects it restores."""
    session.add(Note(id=1, text="keep"))
    session.commit()
    log: list[tuple[str, Any]] = []
    for name in ("pending_to_transient", "persistent_to_transient", "deleted_to_persistent"):
        event.listen(session, name, lambda s, obj, _n=name: log.append((_n, obj)))
    kept = session.get(Note, 1)
    inserted, pending = Note(id=2, text="ins"), Note(id=3, text="pend")
    session.add(inserted)
    session.delete(kept)
    session.flush()
    session.add(pending)
    session.rollback()
    assert sorted(log, key=lambda e: e[0]) == [
        ("deleted_to_persistent", kept), ("pending_to_transient", pending),
        ("persistent_to_transient", inserted)]


def test_loaded_as_persistent_and_make_transient(session: Session) -> None:
    """Loading a row fires loaded_as_persistent once per new object;
    make_transient() of a persistent object fires persistent_to_transient."""
    session.add_all([Note(id=1, text="a"), Note(id=2, text="b")])
    session.commit()
    session.expunge_all()
    loaded: list[Any] = []
    event.listen(session, "loaded_as_persistent", lambda s, obj: loaded.append(obj))
    notes = session.scalars(select(Note).order_by(Note.id)).all()
    assert loaded == notes
    session.scalars(select(Note)).all()  # already present: no new event
    assert len(loaded) == 2
    gone: list[Any] = []
    event.listen(session, "persistent_to_transient", lambda s, obj: gone.append(obj))
    make_transient(notes[0])
    assert gone == [notes[0]]


def test_do_orm_execute_options_and_flags(session: Session) -> None:
    """do_orm_execute sees the statement and may change execution options
    (populate_existing here overwrites a loaded object's changed value)."""
    session.add(Note(id=1, text="db"))
    session.commit()
    note = session.get(Note, 1)
    assert note is not None
    seen: list[Any] = []

    @event.listens_for(session, "do_orm_execute")
    def hook(state: ORMExecuteState) -> None:
        seen.append((state.is_select, state.is_update, state.is_delete, state.session))
        state.update_execution_options(populate_existing=True)

    with session.no_autoflush:
        note.text = "local"
        session.scalars(select(Note)).all()
    assert seen == [(True, False, False, session)]
    assert note.text == "db"


def test_do_orm_execute_returning_result_replaces_execution(session: Session) -> None:
    """A listener returning a Result (here from invoke_statement with a
    different statement) replaces the execution."""
    session.add_all([Note(id=1, text="a"), Note(id=2, text="b")])
    session.flush()

    @event.listens_for(session, "do_orm_execute")
    def only_b(state: ORMExecuteState) -> Any:
        if state.is_select:
            return state.invoke_statement(statement=state.statement.where(Note.text == "b"))
        return None

    assert [n.id for n in session.scalars(select(Note))] == [2]
    event.remove(session, "do_orm_execute", only_b)
    assert len(session.scalars(select(Note)).all()) == 2


def test_do_orm_execute_fires_for_get_that_hits_the_database(session: Session) -> None:
    """get() runs its SELECT through do_orm_execute when it must query; an
    identity-map hit runs no SQL and fires nothing."""
    session.add_all([Note(id=1, text="a"), Note(id=2, text="b")])
    session.commit()
    session.expunge_all()
    seen: list[Any] = []

    @event.listens_for(session, "do_orm_execute")
    def hook(state: ORMExecuteState) -> None:
        seen.append(state.statement)

    note = session.get(Note, 2)
    assert note is not None and note.text == "b"
    assert len(seen) == 1 and "WHERE" in str(seen[0])
    assert session.get(Note, 2) is note
    assert len(seen) == 1
    assert session.get(Note, 99) is None
    assert len(seen) == 2
