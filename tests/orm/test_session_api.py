"""Session querying and loading API: get/get_one, execute/scalars/scalar,
autoflush and its switches, expire/expire_all/refresh, and loading rules for
expired, detached and deleted-behind-the-back objects."""

from __future__ import annotations

from typing import Any

import pytest

from docket import String, event, exc, func, inspect, select, text, update
from docket.orm import DeclarativeBase, Mapped, Session, mapped_column


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "api_users"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
    age: Mapped[int | None]


class Pair(Base):
    __tablename__ = "api_pairs"
    a: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    b: Mapped[str] = mapped_column(String(10), primary_key=True)
    v: Mapped[str | None] = mapped_column(String(10))


class Counter:
    """Records every statement sent to the database by ``engine``."""

    def __init__(self, engine: Any) -> None:
        self.statements: list[str] = []
        self.connections: list[Any] = []  # the Connection each statement ran on
        event.listen(engine, "before_cursor_execute", self._on)

    def _on(self, conn: Any, cursor: Any, statement: str, parameters: Any, context: Any,
            executemany: bool) -> None:
        self.statements.append(" ".join(statement.split()).upper())
        self.connections.append(conn)

    def kinds(self) -> list[str]:
        return [s.split(" ", 1)[0] for s in self.statements]


@pytest.fixture
def eng(engine: Any) -> Any:
    Base.metadata.create_all(engine)
    with Session(engine) as s:
        s.add_all([User(id=1, name="ann", age=30), User(id=2, name="bob", age=40)])
        s.add_all([Pair(a=1, b="x", v="1x"), Pair(a=1, b="y", v="1y")])
        s.commit()
    return engine


def users_table() -> Any:
    return User.__table__


# -- get / get_one ---------------------------------------------------------------------

def test_get_scalar_tuple_dict(eng: Any) -> None:
    """get() accepts a scalar, a 1-tuple and a dict for a single-column key."""
    with Session(eng) as s:
        u = s.get(User, 1)
        assert u is not None and u.name == "ann"
        assert s.get(User, (1,)) is u
        assert s.get(User, {"id": 1}) is u
        assert s.get(User, 3) is None


def test_get_miss_after_identity_map_transaction_and_listener_changes(eng: Any) -> None:
    """Repeated get() misses stay right when what a miss depends on changes in
    between: the identity map is emptied, a load listener is added, the
    transaction (and its connection) ends; each miss is one SELECT."""
    loaded: list[Any] = []

    def on_load(obj: Any, ctx: Any) -> None:
        loaded.append(obj.id)

    with Session(eng) as s:
        counter = Counter(eng)
        ann = s.get(User, 1)
        assert ann is not None and ann.name == "ann" and s.get(User, 1) is ann
        s.expunge_all()
        again = s.get(User, 1)
        assert again is not ann and again is not None and again.name == "ann"
        assert s.get(User, 1) is again
        event.listen(User, "load", on_load)
        try:
            assert s.get(User, 2).age == 40  # type: ignore[union-attr]
        finally:
            event.remove(User, "load", on_load)
        assert loaded == [2]
        s.commit()
        assert s.get(User, 99) is None
        assert counter.connections[-1] is s.connection()  # the new transaction's
        assert loaded == [2]
        assert counter.kinds().count("SELECT") == 4


def test_get_composite_key(eng: Any) -> None:
    """get() of a composite key by tuple (column order) or dict."""
    with Session(eng) as s:
        p = s.get(Pair, (1, "y"))
        assert p is not None and p.v == "1y"
        assert s.get(Pair, {"b": "y", "a": 1}) is p
        assert s.get(Pair, [1, "y"]) is p
        assert s.get(Pair, (2, "y")) is None
        assert inspect(p).key == (Pair, (1, "y"), None)


def test_get_wrong_number_of_values(eng: Any) -> None:
    """Too few/many key values is an InvalidRequestError naming the key columns."""
    with Session(eng) as s:
        with pytest.raises(exc.InvalidRequestError, match="Incorrect number of values") as ei:
            s.get(Pair, 1)
        assert "'api_pairs.a', 'api_pairs.b'" in str(ei.value)
        with pytest.raises(exc.InvalidRequestError, match="Incorrect number of values"):
            s.get(User, (1, 2))
        with pytest.raises(exc.InvalidRequestError, match="missing"):
            s.get(Pair, {"a": 1})


def test_get_none_identity_returns_none(eng: Any) -> None:
    """get(cls, None) can match no row: None without SQL."""
    with Session(eng) as s:
        counter = Counter(eng)
        assert s.get(User, None) is None
        assert counter.statements == []


def test_get_one(eng: Any) -> None:
    """get_one() returns the object or raises NoResultFound saying what was missing."""
    with Session(eng) as s:
        assert s.get_one(User, 2).name == "bob"
        with pytest.raises(exc.NoResultFound, match="User") as ei:
            s.get_one(User, 99)
        assert "99" in str(ei.value)


def test_get_with_for_update(eng: Any, backend: Any) -> None:
    """get(with_for_update=True) always SELECTs, with FOR UPDATE where supported."""
    with Session(eng) as s:
        u = s.get(User, 1)
        counter = Counter(eng)
        assert s.get(User, 1, with_for_update=True) is u
        assert len(counter.statements) == 1
        if backend.is_postgresql:
            assert counter.statements[0].endswith("FOR UPDATE")


def test_get_populate_existing_execution_option(eng: Any) -> None:
    """get(execution_options={'populate_existing': True}) refreshes the object."""
    with Session(eng) as s:
        u = s.get(User, 1)
        s.execute(update(users_table()).where(users_table().c.id == 1).values(name="db"))
        assert s.get(User, 1, execution_options={"populate_existing": True}) is u
        assert u.name == "db"


# -- execute / scalars / scalar ---------------------------------------------------------------

def test_execute_entities_columns_and_mixes(eng: Any) -> None:
    """execute() returns Rows of entities, of columns, or of both."""
    with Session(eng) as s:
        rows = s.execute(select(User).order_by(User.id)).all()
        assert [r[0].name for r in rows] == ["ann", "bob"]
        assert rows[0].User is rows[0][0]
        cols = s.execute(select(User.name, User.age).order_by(User.id)).all()
        assert [tuple(r) for r in cols] == [("ann", 30), ("bob", 40)]
        assert cols[1].name == "bob"
        mixed = s.execute(select(User, User.age).where(User.id == 2)).one()
        assert mixed[0] is s.get(User, 2) and mixed[1] == 40


def test_scalars_and_scalar(eng: Any) -> None:
    """scalars() yields first-column values or objects; scalar() the first value."""
    with Session(eng) as s:
        assert s.scalars(select(User.name).order_by(User.name)).all() == ["ann", "bob"]
        users = s.scalars(select(User).order_by(User.id)).all()
        assert [u.id for u in users] == [1, 2]
        assert s.scalar(select(func.count()).select_from(User)) == 2
        assert s.scalar(select(User).where(User.id == 2)) is users[1]
        assert s.scalar(select(User).where(User.id == 9)) is None


def test_execute_text_with_params(eng: Any) -> None:
    """Core text() statements run on the session's connection with params."""
    with Session(eng) as s:
        r = s.execute(text("SELECT name FROM api_users WHERE id = :i"), {"i": 2})
        assert r.scalar() == "bob"


def test_connection_is_the_transactions(eng: Any) -> None:
    """connection() returns the same Connection for the whole transaction."""
    with Session(eng) as s:
        c1 = s.connection()
        s.get(User, 1)
        assert s.connection() is c1
        s.commit()
        assert s.connection() is not c1


# -- autoflush --------------------------------------------------------------------------------

def test_autoflush_before_orm_select(eng: Any) -> None:
    """A pending object is flushed before an ORM select, so the query sees it."""
    with Session(eng) as s:
        s.add(User(id=3, name="cid"))
        assert s.scalars(select(User.name).order_by(User.id)).all() == ["ann", "bob", "cid"]
        assert s.new == []


def test_autoflush_before_database_get(eng: Any) -> None:
    """get() that must hit the database flushes first; one from the map does not."""
    with Session(eng) as s:
        u = s.get(User, 1)
        u.name = "ann2"
        counter = Counter(eng)
        assert s.get(User, 1) is u
        assert counter.statements == []
        assert s.get(User, 2) is not None
        assert counter.kinds() == ["UPDATE", "SELECT"]


def test_autoflush_before_expired_attribute_load(eng: Any) -> None:
    """Loading an expired attribute flushes pending changes first."""
    with Session(eng) as s:
        a, b = s.get(User, 1), s.get(User, 2)
        s.expire(b)
        a.name = "ann2"
        counter = Counter(eng)
        assert b.name == "bob"
        assert counter.kinds() == ["UPDATE", "SELECT"]


def n_users(s: Session, **kw: Any) -> int:
    """Row count through an ORM select (which autoflushes unless told not to)."""
    return len(s.execute(select(User.id), **kw).all())


def test_no_autoflush_block(eng: Any) -> None:
    """Inside `with session.no_autoflush:` queries don't flush; after it they do."""
    with Session(eng) as s:
        s.add(User(id=3, name="cid"))
        with s.no_autoflush:
            assert n_users(s) == 2
            assert len(s.new) == 1
        assert s.autoflush
        assert n_users(s) == 3


def test_autoflush_false_session(eng: Any) -> None:
    """Session(autoflush=False) never flushes before queries; flush() still works."""
    with Session(eng, autoflush=False) as s:
        s.add(User(id=3, name="cid"))
        assert n_users(s) == 2
        assert s.get(User, 3) is None
        s.flush()
        assert n_users(s) == 3


def test_autoflush_execution_option(eng: Any) -> None:
    """execution_options(autoflush=False) on a statement or execute() skips the flush."""
    with Session(eng) as s:
        s.add(User(id=3, name="cid"))
        stmt = select(User.id).execution_options(autoflush=False)
        assert len(s.execute(stmt).all()) == 2
        assert n_users(s, execution_options={"autoflush": False}) == 2
        assert n_users(s) == 3


def test_autoflush_select_from_entity(eng: Any) -> None:
    """select(func.count()).select_from(User) is an ORM select and autoflushes."""
    with Session(eng) as s:
        s.add(User(id=3, name="cid"))
        assert s.scalar(select(func.count()).select_from(User)) == 3


def test_core_statement_does_not_autoflush(eng: Any) -> None:
    """A Core text() statement is not an ORM query: no autoflush."""
    with Session(eng) as s:
        s.add(User(id=3, name="cid"))
        assert s.execute(text("SELECT count(*) FROM api_users")).scalar() == 2
        assert len(s.new) == 1


def test_autoflush_error_says_autoflush(eng: Any) -> None:
    """An error raised by an autoflush says so and suggests no_autoflush."""
    with Session(eng) as s:
        s.add(User(id=1, name="duplicate"))
        with pytest.raises(exc.IntegrityError, match="autoflush") as ei:
            s.scalars(select(User)).all()
        assert "no_autoflush" in str(ei.value)
        s.rollback()


# -- expire / refresh ---------------------------------------------------------------------------

def test_expire_all_and_attributes(eng: Any) -> None:
    """expire() (whole / named attributes) and expire_all() reload from the database."""
    with Session(eng) as s:
        u = s.get(User, 1)
        s.execute(update(users_table()).where(users_table().c.id == 1)
                  .values(name="db", age=31))
        s.expire(u, ["name"])
        assert "name" not in u.__dict__ and u.__dict__["age"] == 30
        assert inspect(u).expired_attributes == {"name"}
        assert u.name == "db" and u.age == 30
        s.expire(u)
        assert inspect(u).expired and u.age == 31
        s.expire_all()
        assert inspect(u).expired


def test_expire_discards_pending_change(eng: Any) -> None:
    """Expiring a modified attribute discards the change: nothing is flushed."""
    with Session(eng) as s:
        u = s.get(User, 1)
        u.name = "changed"
        s.expire(u, ["name"])
        assert u not in s.dirty
        counter = Counter(eng)
        s.flush()
        assert counter.statements == []
        assert u.name == "ann"


def test_expire_rejects_non_persistent_and_unknown(eng: Any) -> None:
    """expire() of a pending object or an unmapped attribute name is an error."""
    with Session(eng) as s:
        pending = User(id=5, name="p")
        s.add(pending)
        with pytest.raises(exc.InvalidRequestError, match="not persistent"):
            s.expire(pending)
        u = s.get(User, 1)
        with pytest.raises(exc.InvalidRequestError, match="no mapped attribute 'nope'"):
            s.expire(u, ["nope"])


def test_refresh(eng: Any) -> None:
    """refresh() reloads now and discards pending changes to what it reloads."""
    with Session(eng) as s:
        u = s.get(User, 1)
        u.name = "changed"
        s.execute(update(users_table()).where(users_table().c.id == 1).values(age=31))
        counter = Counter(eng)
        s.refresh(u)
        assert counter.kinds() == ["SELECT"]  # the change was discarded, not flushed
        assert u.__dict__["name"] == "ann" and u.__dict__["age"] == 31
        assert u not in s.dirty


def test_refresh_named_attributes(eng: Any) -> None:
    """refresh(obj, ['age']) reloads only age; a pending change to another
    attribute survives (autoflushed, as SQLAlchemy does)."""
    with Session(eng) as s:
        u = s.get(User, 1)
        u.name = "mine"
        s.execute(update(users_table()).where(users_table().c.id == 1)
                  .values(age=31), execution_options={"autoflush": False})
        s.refresh(u, ["age"])
        assert u.age == 31 and u.name == "mine"
        assert s.scalar(select(User.name).where(User.id == 1)) == "mine"


def test_refresh_with_for_update(eng: Any, backend: Any) -> None:
    """refresh(with_for_update=True) reloads with SELECT ... FOR UPDATE (PostgreSQL)."""
    with Session(eng) as s:
        u = s.get(User, 1)
        counter = Counter(eng)
        s.refresh(u, with_for_update=True)
        assert len(counter.statements) == 1
        if backend.is_postgresql:
            assert "FOR UPDATE" in counter.statements[0]
        assert u.name == "ann"
        with pytest.raises(exc.ArgumentError, match="with_for_update"):
            s.refresh(u, with_for_update={})


def test_refresh_deleted_row_raises(eng: Any) -> None:
    """refresh() of an object whose row was deleted behind the session's back
    raises ObjectDeletedError naming the object."""
    with Session(eng) as s:
        u = s.get(User, 2)
        s.execute(text("DELETE FROM api_users WHERE id = 2"))
        with pytest.raises(exc.ObjectDeletedError, match="Could not refresh") as ei:
            s.refresh(u)
        assert "User" in str(ei.value)


def test_refresh_rejects_pending(eng: Any) -> None:
    """refresh() of an object not persistent in this session is an error."""
    with Session(eng) as s:
        pending = User(id=5, name="p")
        s.add(pending)
        with pytest.raises(exc.InvalidRequestError, match="not persistent"):
            s.refresh(pending)


def test_expired_attribute_of_deleted_row(eng: Any) -> None:
    """Reading an expired attribute whose row is gone raises ObjectDeletedError."""
    with Session(eng) as s:
        u = s.get(User, 2)
        s.expire(u)
        s.execute(text("DELETE FROM api_users WHERE id = 2"))
        with pytest.raises(exc.ObjectDeletedError):
            _ = u.name


def test_get_expired_object_whose_row_is_gone(eng: Any) -> None:
    """get() of an expired object whose row vanished returns None; a rollback
    brings the object back."""
    with Session(eng) as s:
        u = s.get(User, 2)
        s.expire(u)
        s.execute(text("DELETE FROM api_users WHERE id = 2"))
        assert s.get(User, 2) is None
        assert u not in s
        s.rollback()
        assert u in s and u.name == "bob"


def test_detached_expired_attribute(eng: Any) -> None:
    """An expired attribute of a detached object raises DetachedInstanceError
    saying how to fix it; loaded attributes stay readable."""
    s = Session(eng)
    u = s.get(User, 1)
    s.commit()  # expires u
    s.close()
    with pytest.raises(exc.DetachedInstanceError, match="not bound to a Session") as ei:
        _ = u.name
    assert "name" in str(ei.value)
    with Session(eng, expire_on_commit=False) as s2:
        v = s2.get(User, 1)
        s2.commit()
    assert v.name == "ann"


def test_is_modified_pending_and_clean(eng: Any) -> None:
    """is_modified() is False for a clean object and True for a pending one with values."""
    with Session(eng) as s:
        assert not s.is_modified(s.get(User, 1))
        assert s.is_modified(User(id=9, name="n"))


def test_session_identity_key_forms(eng: Any) -> None:
    """Session.identity_key() from class+ident (scalar or tuple) or instance."""
    with Session(eng) as s:
        p = s.get(Pair, (1, "x"))
        assert Session.identity_key(Pair, (1, "x")) == (Pair, (1, "x"), None)
        assert Session.identity_key(instance=p) == (Pair, (1, "x"), None)
        assert Session.identity_key(User, 1) == (User, (1,), None)


def test_identity_key_from_row(eng: Any) -> None:
    """identity_key(row=...) reads the primary-key columns of a result row."""
    from docket.orm import identity_key

    with Session(eng) as s:
        row = s.execute(select(Pair.v, Pair.b, Pair.a).where(Pair.b == "y")).one()
        assert identity_key(Pair, row=row) == (Pair, (1, "y"), None)
        p = s.get(Pair, (1, "y"))
        assert s.identity_map[identity_key(Pair, row=row)] is p
        with pytest.raises(exc.ArgumentError, match="'api_pairs.a'"):
            identity_key(Pair, row=s.execute(select(Pair.b)).first())
        with pytest.raises(exc.ArgumentError, match="ident="):
            identity_key(Pair)


def test_connection_execution_options(eng: Any, backend: Any) -> None:
    """connection(execution_options=...) applies to the transaction's first
    connection only; later ones warn and are ignored."""
    level = "SERIALIZABLE"
    with Session(eng) as s:
        conn = s.connection(execution_options={"isolation_level": level})
        assert conn.get_isolation_level() == level
        with pytest.warns(UserWarning, match="execution_options ignored"):
            assert s.connection(execution_options={"isolation_level": "READ COMMITTED"}) is conn
        s.commit()
        if backend.is_postgresql:  # the next transaction's connection is back to default
            assert s.connection().get_isolation_level() == "READ COMMITTED"
