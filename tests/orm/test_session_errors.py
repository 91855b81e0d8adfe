"""Errors on bad input to Session operations (SPEC §6): each is a clear
docket.exc error saying what was wrong, on which object, and what to do --
and nothing held by the session is lost."""

from __future__ import annotations

from typing import Any

import pytest

from docket import String, exc, inspect, select
from docket.orm import (
    DeclarativeBase,
    Mapped,
    Session,
    make_transient_to_detached,
    mapped_column,
    object_session,
)


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "err_users"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))


class Plain:
    """Not mapped."""

    def __repr__(self) -> str:
        return "<Plain thing>"


@pytest.fixture
def eng(engine: Any) -> Any:
    Base.metadata.create_all(engine)
    with Session(engine) as s:
        s.add(User(id=1, name="ann"))
        s.commit()
    return engine


# -- unmapped ------------------------------------------------------------------------------

@pytest.mark.parametrize("op", ["add", "delete", "expunge", "refresh", "expire",
                                "is_modified", "merge", "contains"])
def test_unmapped_instance(eng: Any, op: str) -> None:
    """Every object-taking operation rejects an unmapped object, naming it,
    its class and the fix."""
    with Session(eng) as s:
        obj = Plain()
        with pytest.raises(exc.UnmappedInstanceError) as ei:
            if op == "contains":
                obj in s  # noqa: B015
            else:
                getattr(s, op)(obj)
        msg = str(ei.value)
        assert "<Plain thing>" in msg and "Plain" in msg and "not mapped" in msg
        assert "map the class" in msg


def test_add_plain_object(eng: Any) -> None:
    """session.add(object()) raises UnmappedInstanceError naming the builtin class."""
    with Session(eng) as s:
        with pytest.raises(exc.UnmappedInstanceError, match=r"builtins\.object"):
            s.add(object())
        assert list(s) == []


def test_add_class_instead_of_instance(eng: Any) -> None:
    """session.add(User) says to pass an instance instead of the class."""
    with Session(eng) as s:
        with pytest.raises(exc.UnmappedInstanceError, match=r"User\(\.\.\.\)"):
            s.add(User)


def test_get_unmapped_class(eng: Any) -> None:
    """session.get(int, 1) raises UnmappedClassError naming the class and the fix."""
    with Session(eng) as s:
        with pytest.raises(exc.UnmappedClassError, match="'int' is not mapped") as ei:
            s.get(int, 1)
        assert "DeclarativeBase" in str(ei.value)


def test_object_session_unmapped(eng: Any) -> None:
    """object_session() of an unmapped object is an UnmappedInstanceError."""
    with pytest.raises(exc.UnmappedInstanceError):
        object_session(Plain())


# -- wrong state -------------------------------------------------------------------------------

def test_delete_transient(eng: Any) -> None:
    """Deleting a never-persisted object says so and suggests expunge()."""
    with Session(eng) as s:
        u = User(id=5, name="new")
        with pytest.raises(exc.InvalidRequestError, match="not persisted") as ei:
            s.delete(u)
        assert "User" in str(ei.value) and "expunge" in str(ei.value)
        s.add(u)
        with pytest.raises(exc.InvalidRequestError, match="not persisted"):
            s.delete(u)
        assert u in s.new  # still pending, nothing lost


def test_add_object_of_another_session(eng: Any) -> None:
    """add()/delete() of an object attached elsewhere name both sessions and
    the fixes; it stays in its own session."""
    s1, s2 = Session(eng), Session(eng)
    u = s1.get(User, 1)
    with pytest.raises(exc.InvalidRequestError, match="already attached to session") as ei:
        s2.add(u)
    msg = str(ei.value)
    assert f"'{s1.hash_key}'" in msg and f"'{s2.hash_key}'" in msg
    assert "expunge" in msg and "merge" in msg
    with pytest.raises(exc.InvalidRequestError, match="already attached"):
        s2.delete(u)
    pending = User(id=7, name="p")
    s1.add(pending)
    with pytest.raises(exc.InvalidRequestError, match="already attached"):
        s2.add(pending)
    assert object_session(u) is s1 and u in s1 and u not in s2
    s1.commit()
    assert s2.get(User, 7) is not None
    s1.close()
    s2.close()


def test_second_object_with_same_identity(eng: Any) -> None:
    """Attaching a second object with a present identity names the key and merge()."""
    with Session(eng, expire_on_commit=False) as s0:
        copy = s0.get(User, 1)
    with Session(eng) as s:
        original = s.get(User, 1)
        with pytest.raises(exc.InvalidRequestError) as ei:
            s.add(copy)
        msg = str(ei.value)
        assert "another instance with key" in msg and "User" in msg and "merge" in msg
        with pytest.raises(exc.InvalidRequestError, match="another instance with key"):
            s.delete(copy)
        assert s.get(User, 1) is original and s.deleted == []


def test_expunge_foreign_object(eng: Any) -> None:
    """expunge() of an object not in this session is an InvalidRequestError."""
    with Session(eng) as s:
        with pytest.raises(exc.InvalidRequestError, match="not present in this Session"):
            s.expunge(User(id=9, name="x"))


def test_add_deleted_object(eng: Any) -> None:
    """Re-adding an object whose DELETE was flushed/committed points to make_transient()."""
    with Session(eng) as s:
        u = s.get(User, 1)
        s.delete(u)
        s.flush()
        with pytest.raises(exc.InvalidRequestError, match="make_transient"):
            s.add(u)
        s.commit()
    with Session(eng) as s2:
        with pytest.raises(exc.InvalidRequestError, match="has been deleted"):
            s2.add(u)
        with pytest.raises(exc.InvalidRequestError, match="already been deleted by a flush"):
            s2.delete(u)
        assert inspect(u).detached


def test_get_wrong_number_of_values(eng: Any) -> None:
    """get() with too many key values names the expected primary key column."""
    with Session(eng) as s:
        with pytest.raises(exc.InvalidRequestError, match="'err_users.id'"):
            s.get(User, (1, 2))


def test_make_transient_to_detached_without_key(eng: Any) -> None:
    """make_transient_to_detached() needs the primary key set, and says which."""
    with pytest.raises(exc.InvalidRequestError, match=r"\['id'\]"):
        make_transient_to_detached(User(name="no id"))


# -- transactions ---------------------------------------------------------------------------

def test_use_after_failed_flush(eng: Any) -> None:
    """After a failed flush the error names the cause and says to rollback()."""
    with Session(eng) as s:
        s.add(User(id=1, name="dup"))
        with pytest.raises(exc.IntegrityError) as flush_error:
            s.flush()
        assert "INSERT" in str(flush_error.value)
        with pytest.raises(exc.PendingRollbackError) as ei:
            s.execute(select(User))
        msg = str(ei.value)
        assert "previous exception during flush" in msg and "IntegrityError" in msg
        assert "Session.rollback()" in msg
        s.rollback()
        assert s.get(User, 1).name == "ann"


def test_closed_transaction_used_again(eng: Any) -> None:
    """A finished SessionTransaction refuses commit()/rollback() and says what to do."""
    with Session(eng) as s:
        txn = s.begin()
        txn.commit()
        with pytest.raises(exc.ResourceClosedError, match="closed") as ei:
            txn.rollback()
        assert "session.begin()" in str(ei.value)
        with pytest.raises(exc.InvalidRequestError, match="closed"):
            txn.commit()
        s.add(User(id=2, name="bob"))  # the session itself carries on
        s.commit()
        assert s.get(User, 2) is not None


def test_double_begin_message(eng: Any) -> None:
    """A second begin() says a transaction is in progress and what to do."""
    with Session(eng) as s:
        s.begin()
        with pytest.raises(exc.InvalidRequestError, match="commit\\(\\) or rollback\\(\\)"):
            s.begin()


def test_autocommit_rejected(eng: Any) -> None:
    """Session(autocommit=True) is refused with the 2.0-style alternative."""
    with pytest.raises(exc.ArgumentError, match="session.begin"):
        Session(eng, autocommit=True)


def test_unbound_session(eng: Any) -> None:
    """A session without a bind says how to give it one."""
    with Session() as s:
        with pytest.raises(exc.UnboundExecutionError, match="bind=engine"):
            s.get(User, 1)
