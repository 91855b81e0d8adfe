"""Session transactions: autobegin, begin/commit/rollback, SAVEPOINTs at
depth, context managers, close/reset/invalidate, and the failed-flush
contract (PendingRollbackError until rollback())."""

from __future__ import annotations

from typing import Any

import pytest

from docket import String, exc, inspect, select, text
from docket.orm import (
    DeclarativeBase,
    Mapped,
    Session,
    SessionTransactionOrigin,
    mapped_column,
)
from docket.orm.attributes import get_history


class Base(DeclarativeBase):
    pass


class Thing(Base):
    __tablename__ = "txn_things"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
    n: Mapped[int | None]


@pytest.fixture
def eng(engine: Any) -> Any:
    Base.metadata.create_all(engine)
    with Session(engine) as s:
        s.add_all([Thing(id=1, name="one", n=1), Thing(id=2, name="two", n=2)])
        s.commit()
    return engine


def db_names(engine: Any) -> list[str]:
    """The names committed in the database, by id (read on a fresh connection)."""
    with engine.connect() as conn:
        return [r[0] for r in conn.execute(text("SELECT name FROM txn_things ORDER BY id"))]


def fail_flush(s: Session) -> None:
    """Make the next flush fail with a duplicate primary key."""
    with s.no_autoflush:
        s.add(Thing(id=1, name="duplicate"))
    with pytest.raises(exc.IntegrityError):
        s.flush()


# -- autobegin / begin ----------------------------------------------------------------

def test_autobegin(eng: Any) -> None:
    """A new session has no transaction; the first use begins one (AUTOBEGIN)."""
    s = Session(eng)
    assert not s.in_transaction() and s.get_transaction() is None
    s.get(Thing, 1)
    txn = s.get_transaction()
    assert txn is not None and txn.origin is SessionTransactionOrigin.AUTOBEGIN
    assert txn.parent is None and not txn.nested and txn.is_active
    s.close()


def test_add_autobegins(eng: Any) -> None:
    """add() begins the transaction, so it can be committed through get_transaction()."""
    s = Session(eng)
    s.add(Thing(id=3, name="three"))
    txn = s.get_transaction()
    assert txn is not None
    txn.commit()
    assert s.get_transaction() is None
    assert db_names(eng) == ["one", "two", "three"]
    s.close()


def test_begin_context_manager_commits(eng: Any) -> None:
    """with session.begin(): commits at the end; the transaction is gone after."""
    s = Session(eng)
    with s.begin() as txn:
        assert txn.origin is SessionTransactionOrigin.BEGIN
        assert s.get_transaction() is txn
        s.add(Thing(id=3, name="three"))
    assert s.get_transaction() is None
    assert not txn.is_active
    assert db_names(eng) == ["one", "two", "three"]
    s.close()


def test_begin_context_manager_rolls_back_on_error(eng: Any) -> None:
    """An exception in the block rolls back and propagates; the session stays usable."""
    s = Session(eng)
    with pytest.raises(RuntimeError, match="boom"):
        with s.begin():
            s.add(Thing(id=3, name="three"))
            s.flush()
            raise RuntimeError("boom")
    assert not s.in_transaction()
    assert db_names(eng) == ["one", "two"]
    with s.begin():
        s.add(Thing(id=4, name="four"))
    assert db_names(eng) == ["one", "two", "four"]
    s.close()


def test_session_and_begin_in_one_with(eng: Any) -> None:
    """with Session(engine) as s, s.begin(): commits, then closes the session."""
    with Session(eng) as s, s.begin():
        s.add(Thing(id=3, name="three"))
        t = s.get(Thing, 1)
        assert t is not None
        t.name = "uno"
    assert db_names(eng) == ["uno", "two", "three"]
    assert inspect(t).detached


def test_second_begin_raises(eng: Any) -> None:
    """begin() while a transaction (explicit or autobegun) is in progress raises."""
    with Session(eng) as s:
        s.begin()
        with pytest.raises(exc.InvalidRequestError, match="already begun"):
            s.begin()
    with Session(eng) as s:
        s.get(Thing, 1)  # autobegin
        with pytest.raises(exc.InvalidRequestError, match="begin_nested"):
            s.begin()


def test_autobegin_disabled(eng: Any) -> None:
    """autobegin=False: work without begin() raises; begin() then works."""
    with Session(eng, autobegin=False) as s:
        with pytest.raises(exc.InvalidRequestError, match="Autobegin is disabled"):
            s.get(Thing, 1)
        with pytest.raises(exc.InvalidRequestError, match="Autobegin is disabled"):
            s.add(Thing(id=5, name="five"))
        with s.begin():
            assert s.get(Thing, 1) is not None
        assert not s.in_transaction()
        with pytest.raises(exc.InvalidRequestError, match="session.begin"):
            s.execute(select(Thing))


# -- commit -------------------------------------------------------------------------------

def test_commit_expires_and_reloads(eng: Any) -> None:
    """commit() expires every object; the next access reloads committed values."""
    with Session(eng) as s:
        t = s.get(Thing, 1)
        t.name = "uno"
        s.commit()
        assert "name" not in t.__dict__
        assert inspect(t).expired
        assert t.name == "uno"


def test_expire_on_commit_false_keeps_values(eng: Any) -> None:
    """expire_on_commit=False keeps loaded values across commit (no reload)."""
    with Session(eng, expire_on_commit=False) as s:
        t = s.get(Thing, 1)
        s.commit()
        assert t.__dict__["name"] == "one"
        assert not inspect(t).expired


def test_commit_without_transaction(eng: Any) -> None:
    """commit() with nothing begun is a harmless empty commit."""
    with Session(eng) as s:
        s.commit()
        assert not s.in_transaction()


def test_commit_detaches_deleted(eng: Any) -> None:
    """Objects deleted in the transaction are detached by commit, in both expiry modes."""
    for expire in (True, False):
        with Session(eng, expire_on_commit=expire) as s:
            t = s.get(Thing, 2 if expire else 1)
            s.delete(t)
            s.commit()
            st = inspect(t)
            assert st.detached and st.was_deleted and not st.deleted
    assert db_names(eng) == []


# -- rollback -------------------------------------------------------------------------------

def test_rollback_restores_everything(eng: Any) -> None:
    """rollback(): pending expunged, persistent expired, deleted restored, history reset."""
    with Session(eng) as s:
        one, two = s.get(Thing, 1), s.get(Thing, 2)
        one.name = "changed"
        new = Thing(id=3, name="three")
        s.add(new)
        s.delete(two)
        s.flush()
        flushed_new = Thing(id=4, name="four")
        s.add(flushed_new)
        pending = Thing(id=5, name="five")
        with s.no_autoflush:
            s.add(pending)
        s.rollback()
        assert not s.in_transaction()
        assert inspect(new).transient and inspect(pending).transient
        assert inspect(flushed_new).transient
        assert new not in s and pending not in s
        assert inspect(two).persistent and two in s and s.deleted == []
        assert inspect(one).expired
        hist = get_history(one, "name")
        assert not hist.added and not hist.deleted
        assert one.name == "one" and two.name == "two"
    assert db_names(eng) == ["one", "two"]


def test_rollback_without_transaction_is_noop(eng: Any) -> None:
    """rollback() with nothing begun does nothing."""
    with Session(eng) as s:
        s.rollback()
        assert not s.in_transaction()


def test_unflushed_delete_restored_on_rollback(eng: Any) -> None:
    """A delete() never flushed is forgotten by rollback()."""
    with Session(eng, autoflush=False) as s:
        t = s.get(Thing, 1)
        s.delete(t)
        assert t in s.deleted
        s.rollback()
        assert t in s and t not in s.deleted and inspect(t).persistent


# -- savepoints -------------------------------------------------------------------------------

def test_begin_nested_flushes_first(eng: Any) -> None:
    """begin_nested() flushes pending objects before the SAVEPOINT."""
    with Session(eng) as s:
        t = Thing(id=3, name="three")
        s.add(t)
        sp = s.begin_nested()
        assert inspect(t).persistent
        sp.rollback()
        assert inspect(t).persistent and t.name == "three"


def test_nested_depth_three_scoped_restore(eng: Any) -> None:
    """Three SAVEPOINT levels: each rollback undoes only its own level, in
    memory and in the database; the outer transaction stays usable."""
    with Session(eng) as s:
        one, two = s.get(Thing, 1), s.get(Thing, 2)
        outer_new = Thing(id=10, name="outer")
        s.add(outer_new)
        sp1 = s.begin_nested()
        one.name = "sp1"
        sp2 = s.begin_nested()
        sp2_new = Thing(id=20, name="sp2")
        s.add(sp2_new)
        sp3 = s.begin_nested()
        assert s.get_nested_transaction() is sp3
        assert sp3.parent is sp2 and sp2.parent is sp1 and sp1.parent is s.get_transaction()
        assert sp3.nested and sp3.origin is SessionTransactionOrigin.BEGIN_NESTED
        s.delete(two)
        sp3_new = Thing(id=30, name="sp3")
        s.add(sp3_new)
        s.flush()
        assert inspect(two).deleted
        sp3.rollback()  # only sp3's work is undone
        assert s.get_nested_transaction() is sp2
        assert inspect(two).persistent and two in s
        assert inspect(sp3_new).transient
        assert inspect(sp2_new).persistent and "name" in sp2_new.__dict__
        assert "name" in one.__dict__ and one.name == "sp1"  # not touched inside sp3
        sp2.commit()
        assert s.get_nested_transaction() is sp1
        assert inspect(sp2_new).persistent
        sp1.rollback()  # undoes sp1 and the committed sp2
        assert s.get_nested_transaction() is None and s.in_transaction()
        assert inspect(sp2_new).transient
        assert inspect(one).expired and one.name == "one"
        assert inspect(outer_new).persistent and "name" in outer_new.__dict__
        s.commit()
    assert db_names(eng) == ["one", "two", "outer"]


def test_nested_context_manager_error_keeps_outer(eng: Any) -> None:
    """An error inside `with begin_nested():` rolls back only the SAVEPOINT."""
    with Session(eng) as s:
        s.add(Thing(id=3, name="kept"))
        with pytest.raises(ValueError):
            with s.begin_nested():
                s.add(Thing(id=4, name="lost"))
                s.flush()
                raise ValueError("inner")
        assert s.in_transaction() and not s.in_nested_transaction()
        with s.begin_nested():
            s.add(Thing(id=5, name="also kept"))
        s.commit()
    assert db_names(eng) == ["one", "two", "kept", "also kept"]


def test_failed_flush_inside_savepoint_recovers_outer(eng: Any) -> None:
    """A flush failing inside a SAVEPOINT deactivates it; rolling it back
    leaves the outer transaction usable with its own changes."""
    with Session(eng) as s:
        s.add(Thing(id=3, name="outer"))
        sp = s.begin_nested()
        fail_flush(s)
        assert not s.is_active and not sp.is_active
        with pytest.raises(exc.PendingRollbackError):
            s.commit()
        sp.rollback()
        assert s.is_active and s.get_nested_transaction() is None
        s.commit()
    assert db_names(eng) == ["one", "two", "outer"]


def test_commit_inside_savepoint_commits_all(eng: Any) -> None:
    """session.commit() inside SAVEPOINTs releases them and commits the root."""
    with Session(eng) as s:
        s.begin_nested()
        s.begin_nested()
        s.add(Thing(id=3, name="three"))
        s.commit()
        assert not s.in_transaction()
    assert db_names(eng) == ["one", "two", "three"]


def test_rollback_inside_savepoint_rolls_back_all(eng: Any) -> None:
    """session.rollback() inside SAVEPOINTs rolls back the whole transaction."""
    with Session(eng) as s:
        s.add(Thing(id=3, name="three"))
        s.begin_nested()
        s.add(Thing(id=4, name="four"))
        s.flush()
        s.rollback()
        assert not s.in_transaction()
        s.commit()
    assert db_names(eng) == ["one", "two"]


def test_outer_savepoint_rollback_ends_inner(eng: Any) -> None:
    """Rolling back an outer SAVEPOINT while an inner one is open ends both and
    restores what the inner one flushed."""
    with Session(eng) as s:
        one = s.get(Thing, 1)
        sp1 = s.begin_nested()
        sp2 = s.begin_nested()
        one.name = "inner"
        t = Thing(id=3, name="three")
        s.add(t)
        s.flush()
        sp1.rollback()
        assert not sp2.is_active and s.get_nested_transaction() is None
        assert inspect(t).transient and one.name == "one"
        s.commit()
    assert db_names(eng) == ["one", "two"]


def test_transaction_flags(eng: Any) -> None:
    """in_transaction / in_nested_transaction / get_*_transaction track the stack."""
    with Session(eng) as s:
        assert not s.in_transaction() and not s.in_nested_transaction()
        root = s.begin()
        n1 = s.begin_nested()
        assert s.in_nested_transaction() and s.get_transaction() is root
        n2 = s.begin_nested()
        assert s.get_nested_transaction() is n2
        n2.rollback()
        assert s.get_nested_transaction() is n1 and s.in_nested_transaction()
        n1.commit()
        assert s.get_nested_transaction() is None and not s.in_nested_transaction()
        assert s.in_transaction() and root.is_active
        s.commit()
        assert not s.in_transaction() and not root.is_active


# -- closed / used-again transactions ------------------------------------------------------------

def test_closed_transaction_used_again(eng: Any) -> None:
    """A rolled-back or committed transaction can't be committed or rolled back again."""
    with Session(eng) as s:
        t = s.begin()
        t.rollback()
        with pytest.raises(exc.ResourceClosedError, match="closed"):
            t.rollback()
        with pytest.raises(exc.InvalidRequestError, match="closed"):
            t.commit()
        t2 = s.begin()
        t2.commit()
        with pytest.raises(exc.ResourceClosedError):
            t2.commit()
        sp = s.begin_nested()
        sp.commit()
        with pytest.raises(exc.ResourceClosedError):
            sp.rollback()


def test_commit_inside_context_manager_then_use(eng: Any) -> None:
    """After commit() inside `with session.begin():`, further use in the block raises."""
    with Session(eng) as s:
        with pytest.raises(exc.InvalidRequestError, match="inside context manager"):
            with s.begin():
                s.add(Thing(id=3, name="three"))
                s.commit()
                s.add(Thing(id=4, name="four"))
    assert db_names(eng) == ["one", "two", "three"]


# -- failed flush ------------------------------------------------------------------------------

@pytest.mark.filterwarnings("ignore:New instance")  # the flush may warn before failing
def test_failed_flush_pending_rollback_everywhere(eng: Any) -> None:
    """After a failed flush every operation needing the transaction raises
    PendingRollbackError naming the cause, until rollback()."""
    with Session(eng) as s:
        one = s.get(Thing, 1)
        fail_flush(s)
        assert not s.is_active
        assert s.in_transaction()
        checks = [
            s.commit,
            lambda: s.execute(select(Thing)),
            lambda: s.scalars(select(Thing.name)).all(),
            lambda: s.connection(),
            s.begin_nested,
            lambda: s.get(Thing, 99),
            lambda: s.refresh(one),
            lambda: one.name,  # expired by the failed flush's rollback
        ]
        for check in checks:
            with pytest.raises(exc.PendingRollbackError, match="IntegrityError"):
                check()
        s.add(Thing(id=7, name="seven"))
        with pytest.raises(exc.PendingRollbackError, match=r"Session\.rollback\(\)"):
            s.flush()
        s.rollback()
        assert s.is_active
        assert one.name == "one"
        s.add(Thing(id=3, name="three"))
        s.commit()
    assert db_names(eng) == ["one", "two", "three"]


def test_failed_flush_restores_objects(eng: Any) -> None:
    """A failed flush leaves pending objects transient and discards what was
    added after it at rollback()."""
    with Session(eng) as s:
        dup = Thing(id=1, name="dup")
        s.add(dup)
        with pytest.raises(exc.IntegrityError):
            s.flush()
        assert dup not in s and inspect(dup).transient
        late = Thing(id=8, name="late")
        s.add(late)
        s.rollback()
        assert late not in s and inspect(late).transient
    assert db_names(eng) == ["one", "two"]


def test_failed_flush_in_begin_block_rolls_back(eng: Any) -> None:
    """A flush error swallowed inside `with session.begin():` surfaces at exit."""
    with Session(eng) as s:
        with pytest.raises(exc.PendingRollbackError):
            with s.begin():
                s.add(Thing(id=3, name="three"))
                try:
                    fail_flush(s)
                except AssertionError:
                    raise
        assert not s.in_transaction() and s.is_active
    assert db_names(eng) == ["one", "two"]


# -- close / reset / invalidate -----------------------------------------------------------------

def test_close_releases_and_rolls_back(eng: Any) -> None:
    """close() rolls back uncommitted work, closes the connection and detaches."""
    s = Session(eng)
    t = s.get(Thing, 1)
    t.name = "uncommitted"
    conn = s.connection()
    s.close()
    assert conn.closed
    assert inspect(t).detached and not s.in_transaction()
    assert db_names(eng) == ["one", "two"]
    # reusable
    assert s.get(Thing, 1).name == "one"
    s.close()


def test_reset_is_close(eng: Any) -> None:
    """reset() ends the transaction and expunges, leaving the session reusable."""
    s = Session(eng, close_resets_only=False)
    s.add(Thing(id=3, name="three"))
    s.reset()
    assert list(s) == [] and not s.in_transaction()
    s.add(Thing(id=4, name="four"))
    s.commit()
    assert db_names(eng) == ["one", "two", "four"]
    s.close()


def test_close_resets_only_false(eng: Any) -> None:
    """close_resets_only=False: after close() the session refuses new work."""
    s = Session(eng, close_resets_only=False)
    s.get(Thing, 1)
    s.close()
    with pytest.raises(exc.InvalidRequestError, match="permanently closed"):
        s.get(Thing, 1)


def test_invalidate(eng: Any, backend: Any) -> None:
    """invalidate() discards the connection, drops uncommitted work, and the
    session works again on a fresh connection."""
    s = Session(eng)
    s.add(Thing(id=3, name="three"))
    s.flush()
    conn = s.connection()
    s.invalidate()
    assert conn.closed
    assert not s.in_transaction() and list(s) == []
    if backend.name == "sqlite-memory":
        return  # the database lived in the discarded connection
    assert [t.name for t in s.scalars(select(Thing).order_by(Thing.id))] == ["one", "two"]
    s.close()


def test_close_inside_savepoints(eng: Any) -> None:
    """close() with SAVEPOINTs open ends them all; the session starts afresh."""
    s = Session(eng)
    s.begin_nested()
    s.add(Thing(id=3, name="three"))
    s.flush()
    s.begin_nested()
    s.close()
    assert not s.in_transaction()
    s.add(Thing(id=4, name="four"))
    s.commit()
    s.close()
    assert db_names(eng) == ["one", "two", "four"]
