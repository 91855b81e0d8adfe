"""The exact SQL a flush sends, per dialect, through the recording proxy:
batching, grouping, topological order, net-change detection, flush(objects)."""

from __future__ import annotations

from typing import Any

import pytest
from expected_sql import q

from docket import ForeignKey, String, TypeDecorator, func, select
from docket.orm import DeclarativeBase, Mapped, Session, mapped_column
from docket.testing import SQL, AllOf, Recorder, assert_sql, recording_engine


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
    age: Mapped[int] = mapped_column(default=0)


class Address(Base):
    __tablename__ = "addresses"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    email: Mapped[str] = mapped_column(String(50))


class Note(Base):
    __tablename__ = "notes"
    id: Mapped[int] = mapped_column(primary_key=True)
    address_id: Mapped[int] = mapped_column(ForeignKey("addresses.id"))
    body: Mapped[str] = mapped_column(String(50))


class Memo(Base):
    """Only plain, nullable columns and a generated key: the tuple fast path."""

    __tablename__ = "memos"
    id: Mapped[int] = mapped_column(primary_key=True)
    text: Mapped[str | None] = mapped_column(String(20))
    n: Mapped[int | None]


class Pair(Base):
    __tablename__ = "pairs"
    a: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    b: Mapped[str] = mapped_column(String(10), primary_key=True)
    v: Mapped[str | None] = mapped_column(String(10))


class Shouted(TypeDecorator):
    """Upper case in the database, lower case in Python: a bind processor on
    every value written."""

    impl = String
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> Any:
        return None if value is None else value.upper()

    def process_result_value(self, value: Any, dialect: Any) -> Any:
        return None if value is None else value.lower()


class Coded(Base):
    __tablename__ = "coded"
    code: Mapped[str] = mapped_column(Shouted(10), primary_key=True)
    label: Mapped[str] = mapped_column(Shouted(20))
    n: Mapped[int] = mapped_column(default=0)


@pytest.fixture
def rec(recorded_engine: tuple[Any, Recorder]) -> tuple[Any, Recorder]:
    """(engine, recorder) on each backend with this module's tables created."""
    return recorded_engine


def pg(recorder: Recorder) -> bool:
    return recorder.dialect_name == "postgresql"


def test_inserts_with_keys_are_one_executemany_per_table_parents_first(rec: Any) -> None:
    """Rows with given keys batch into one executemany per table, parent table first."""
    engine, recorder = rec
    with Session(engine) as s:
        s.add_all([Address(id=10, user_id=1, email="a@x"), Address(id=11, user_id=2, email="b@x"),
                   User(id=1, name="ann"), User(id=2, name="bob")])
        with recorder.capture() as calls:
            s.flush()
        assert_sql(calls, [
            SQL(q(recorder, "INSERT INTO users (id, name, age) VALUES (?, ?, ?)"),
                [(1, "ann", 0), (2, "bob", 0)]),
            SQL(q(recorder, "INSERT INTO addresses (id, user_id, email) VALUES (?, ?, ?)"),
                [(10, 1, "a@x"), (11, 2, "b@x")]),
        ], ignore_transaction=True)
        s.commit()


def test_generated_keys_are_fetched_in_one_batch(rec: Any) -> None:
    """Generated keys: one multi-row INSERT .. RETURNING (sqlite), one pipelined
    executemany with RETURNING (PG); each object gets its own row's key."""
    engine, recorder = rec
    with Session(engine) as s:
        users = [User(name="ann"), User(name="bob")]
        s.add_all(users)
        with recorder.capture() as calls:
            s.flush()
        if pg(recorder):
            expected = [SQL("INSERT INTO users (name, age) VALUES (%s, %s) RETURNING users.id",
                            [("ann", 0), ("bob", 0)], many=True)]
        else:
            expected = [SQL("INSERT INTO users (name, age) VALUES (?, ?), (?, ?) "
                            "RETURNING users.id", ("ann", 0, "bob", 0), many=False)]
        assert_sql(calls, expected, ignore_transaction=True)
        assert [u.id for u in users] == [1, 2]
        assert s.get(User, 2) is users[1]


def test_generated_keys_follow_add_order(rec: Any) -> None:
    """Rows are INSERTed in add() order -- also when some objects leave an attribute
    unset (NULL) and others set every one -- so keys ascend in that order."""
    engine, recorder = rec
    with Session(engine) as s:
        memos = [Memo(text="a", n=1), Memo(text="b"), Memo(n=3), Memo(text="d", n=4)]
        s.add_all(memos)
        with recorder.capture() as calls:
            s.flush()
        assert len([c for c in calls if c.is_statement and "INSERT" in c.sql]) == 1
        assert [m.id for m in memos] == [1, 2, 3, 4]
        rows = s.execute(select(Memo.id, Memo.text, Memo.n).order_by(Memo.id)).tuples().all()
        assert rows == [(1, "a", 1), (2, "b", None), (3, None, 3), (4, "d", 4)]


def test_generated_keys_row_by_row_without_insertmanyvalues(rec: Any,
                                                            monkeypatch: Any) -> None:
    """use_insertmanyvalues=False: one INSERT per row, key from lastrowid (sqlite) or
    RETURNING (PG)."""
    engine, recorder = rec
    monkeypatch.setattr(engine.dialect, "use_insertmanyvalues", False)
    with Session(engine) as s:
        users = [User(name="ann"), User(name="bob")]
        s.add_all(users)
        with recorder.capture() as calls:
            s.flush()
        insert = ("INSERT INTO users (name, age) VALUES (?, ?)"
                  + (" RETURNING users.id" if pg(recorder) else ""))
        assert_sql(calls, [
            SQL(q(recorder, insert), ("ann", 0), many=False),
            SQL(q(recorder, insert), ("bob", 0), many=False),
        ], ignore_transaction=True)
        assert [u.id for u in users] == [1, 2]


def test_generated_keys_in_pages(rec: Any, monkeypatch: Any) -> None:
    """Pages of insertmanyvalues_page_size rows (sqlite), every key on its own object,
    also after deletes left gaps; the last, shorter page is built on the fly."""
    engine, recorder = rec
    monkeypatch.setattr(engine.dialect, "insertmanyvalues_page_size", 3)
    with Session(engine) as s:
        s.add_all([User(name=f"old{i}") for i in range(5)])
        s.flush()
        s.execute(User.__table__.delete().where(User.id.in_([2, 5])))  # gaps, a lower max
        users = [User(name=f"new{i}", age=i) for i in range(8)]
        s.add_all(users)
        with recorder.capture() as calls:
            s.flush()
        inserts = [c for c in calls if c.is_statement]
        assert len(inserts) == (1 if pg(recorder) else 3)  # 3 + 3 + 2 rows on sqlite
        keys = [u.id for u in users]
        assert len(set(keys)) == 8 and not set(keys) & {1, 3, 4}
        rows = dict(s.execute(select(User.id, User.name)).tuples().all())
        assert all(rows[u.id] == u.name for u in users), (keys, rows)
        assert all(s.get(User, u.id) is u for u in users)


_SHADOW_TRIGGER = {  # inserting 'a' also inserts a 'shadow' row into the same table
    "sqlite": ["CREATE TRIGGER users_shadow AFTER INSERT ON users WHEN NEW.name = 'a' "
               "BEGIN INSERT INTO users (name, age) VALUES ('shadow', 0); END"],
    "postgresql": [
        "CREATE FUNCTION users_shadow() RETURNS trigger AS $$ BEGIN "
        "IF NEW.name = 'a' THEN INSERT INTO users (name, age) VALUES ('shadow', 0); END IF; "
        "RETURN NEW; END $$ LANGUAGE plpgsql",
        "CREATE TRIGGER users_shadow AFTER INSERT ON users FOR EACH ROW "
        "EXECUTE FUNCTION users_shadow()"],
}


def test_trigger_inserting_into_the_same_table(eng: Any) -> None:
    """A trigger that inserts into the same table takes keys in the middle of a batch.
    PG (executemany, one RETURNING row per parameter set) still matches every key;
    SQLite's multi-row INSERT returns keys that are not one run, so docket refuses to
    guess: the flush fails cleanly and row-by-row inserts (the advice) work."""
    from docket import exc, text

    with eng.begin() as conn:
        for ddl in _SHADOW_TRIGGER[eng.dialect.name]:
            conn.execute(text(ddl))
    with Session(eng) as s:
        users = [User(name="a"), User(name="b")]
        s.add_all(users)
        if eng.dialect.name == "sqlite":
            with pytest.raises(exc.FlushError, match="use_insertmanyvalues=False"):
                s.flush()
            s.rollback()
            assert [u.id for u in users] == [None, None]
            assert s.scalar(select(func.count()).select_from(User)) == 0
            eng.dialect.use_insertmanyvalues = False
            s.add_all(users)
        s.commit()
        names = dict(s.execute(select(User.id, User.name)).tuples().all())
        assert [names[u.id] for u in users] == ["a", "b"]
        assert sorted(names.values()) == ["a", "b", "shadow"]


def test_single_new_object_is_a_plain_execute(rec: Any) -> None:
    """One row with a given key is execute(), not executemany()."""
    engine, recorder = rec
    with Session(engine) as s:
        s.add(User(id=5, name="solo"))
        with recorder.capture() as calls:
            s.flush()
        assert_sql(calls, [SQL(q(recorder, "INSERT INTO users (id, name, age) VALUES (?, ?, ?)"),
                               (5, "solo", 0), many=False)], ignore_transaction=True)


def test_updates_grouped_by_changed_columns_in_key_order(rec: Any) -> None:
    """UPDATEs group by changed-column set into executemany, rows in primary-key order."""
    engine, recorder = rec
    with Session(engine) as s:
        s.add_all([User(id=i, name=f"u{i}") for i in (1, 2, 3, 4)])
        s.commit()
        u1, u2, u3, u4 = (s.get(User, i) for i in (1, 2, 3, 4))
        u4.name = "d"
        u2.name = "b"
        u3.name = "c"
        u3.age = 30
        u1.age = 10
        with recorder.capture() as calls:
            s.flush()
        assert_sql(calls, [
            SQL(q(recorder, "UPDATE users SET age=? WHERE users.id = ?"), (10, 1), many=False),
            SQL(q(recorder, "UPDATE users SET name=? WHERE users.id = ?"), [("b", 2), ("d", 4)]),
            SQL(q(recorder, "UPDATE users SET name=?, age=? WHERE users.id = ?"), ("c", 30, 3)),
        ], ignore_transaction=True)
        s.commit()
    with engine.connect() as conn:
        rows = conn.execute(select(User.__table__).order_by(User.__table__.c.id)).all()
    assert [tuple(r) for r in rows] == [(1, "u1", 10), (2, "b", 0), (3, "c", 30), (4, "d", 0)]


def test_update_runs_bind_processors_on_values_and_keys(rec: Any) -> None:
    """A changed value and the row's key both go through the column type's bind
    processor, one changed column or several, in one batch per column set."""
    engine, recorder = rec
    with Session(engine) as s:
        s.add_all([Coded(code=c, label=f"l{c}") for c in ("a", "b", "c")])
        s.commit()
        a, b, c = (s.get(Coded, k) for k in ("a", "b", "c"))
        a.label = "x"
        b.label = "y"
        c.label = "z"
        c.n = 7
        with recorder.capture() as calls:
            s.flush()
        assert_sql(calls, [
            SQL(q(recorder, "UPDATE coded SET label=? WHERE coded.code = ?"),
                [("X", "A"), ("Y", "B")]),
            SQL(q(recorder, "UPDATE coded SET label=?, n=? WHERE coded.code = ?"),
                ("Z", 7, "C"), many=False),
        ], ignore_transaction=True)
        s.commit()
    with engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT code, label, n FROM coded ORDER BY code").all()
    assert [tuple(r) for r in rows] == [("A", "X", 0), ("B", "Y", 0), ("C", "Z", 7)]
    with Session(engine) as s:  # get() binds the key through the same processor
        b = s.get(Coded, "b")
        assert b is not None and (b.code, b.label) == ("b", "y")
        assert s.get(Coded, "b") is b and s.get(Coded, "q") is None
        s.delete(b)
        s.commit()  # the DELETE's key goes through the processor too
    with engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT code FROM coded ORDER BY code").all()
    assert [r[0] for r in rows] == ["A", "C"]


def test_no_update_for_no_net_change(rec: Any) -> None:
    """Setting an attribute to its current value (or back) sends no UPDATE."""
    engine, recorder = rec
    with Session(engine) as s:
        s.add(User(id=1, name="ann"))
        s.commit()
        u = s.get(User, 1)
        u.name = "ann"
        u.age = 5
        u.age = 0
        assert u in s.dirty
        assert not s.is_modified(u)
        with recorder.capture() as calls:
            s.flush()
        assert calls.without_transaction_control() == []
        assert u not in s.dirty


def test_deletes_batch_children_first(rec: Any) -> None:
    """DELETEs are one executemany per table, child table before parent."""
    engine, recorder = rec
    with Session(engine) as s:
        s.add_all([User(id=1, name="a"), User(id=2, name="b"),
                   Address(id=1, user_id=1, email="x"), Address(id=2, user_id=2, email="y")])
        s.commit()
        for obj in (s.get(User, 2), s.get(User, 1), s.get(Address, 2), s.get(Address, 1)):
            s.delete(obj)
        with recorder.capture() as calls:
            s.flush()
        assert_sql(calls, [
            SQL(q(recorder, "DELETE FROM addresses WHERE addresses.id = ?"), [(1,), (2,)]),
            SQL(q(recorder, "DELETE FROM users WHERE users.id = ?"), [(1,), (2,)]),
        ], ignore_transaction=True)
        s.commit()
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM users").scalar() == 0


def test_three_table_chain_order_for_inserts_and_deletes(rec: Any) -> None:
    """users -> addresses -> notes: INSERTs parent-first and DELETEs child-first."""
    engine, recorder = rec
    with Session(engine) as s:
        s.add_all([Note(id=1, address_id=1, body="n"), Address(id=1, user_id=1, email="e"),
                   User(id=1, name="u")])
        with recorder.capture() as calls:
            s.commit()
        assert [sql.split(" (")[0] for sql in _sql(calls)] == [
            "INSERT INTO users", "INSERT INTO addresses", "INSERT INTO notes"]
        for obj in (s.get(User, 1), s.get(Note, 1), s.get(Address, 1)):
            s.delete(obj)
        with recorder.capture() as calls:
            s.commit()
        assert [sql.split(" WHERE")[0] for sql in _sql(calls)] == [
            "DELETE FROM notes", "DELETE FROM addresses", "DELETE FROM users"]


def test_mixed_flush_inserts_updates_then_deletes(rec: Any) -> None:
    """One flush: per table INSERT then UPDATE in dependency order, then DELETEs reversed."""
    engine, recorder = rec
    with Session(engine) as s:
        s.add_all([User(id=1, name="a"), User(id=2, name="b"), Address(id=1, user_id=2, email="e")])
        s.commit()
        u1, a1 = s.get(User, 1), s.get(Address, 1)  # load before changing (autoflush)
        s.add(User(id=3, name="c"))
        s.add(Address(id=2, user_id=3, email="f"))
        u1.name = "a2"
        a1.email = "e2"
        s.delete(a1)
        with recorder.capture() as calls:
            s.flush()
        assert_sql(calls, [
            SQL(q(recorder, "INSERT INTO users (id, name, age) VALUES (?, ?, ?)"), (3, "c", 0)),
            SQL(q(recorder, "UPDATE users SET name=? WHERE users.id = ?"), ("a2", 1)),
            SQL(q(recorder, "INSERT INTO addresses (id, user_id, email) VALUES (?, ?, ?)"),
                (2, 3, "f")),
            SQL(q(recorder, "DELETE FROM addresses WHERE addresses.id = ?"), (1,)),
        ], ignore_transaction=True)


def test_flush_only_chosen_objects(rec: Any) -> None:
    """flush([obj]) writes only that object; the others stay pending / dirty."""
    engine, recorder = rec
    with Session(engine) as s:
        s.add(User(id=1, name="a"))
        s.commit()
        u1 = s.get(User, 1)
        u1.name = "changed"
        u2, u3 = User(id=2, name="b"), User(id=3, name="c")
        s.add_all([u2, u3])
        with recorder.capture() as calls:
            s.flush([u3])
        assert_sql(calls, [SQL(q(recorder, "INSERT INTO users (id, name, age) VALUES (?, ?, ?)"),
                               (3, "c", 0))], ignore_transaction=True)
        assert u2 in s.new and u3 not in s.new and u1 in s.dirty
        with recorder.capture() as calls:
            s.flush()
        assert len(calls.without_transaction_control()) == 2


def test_update_of_expired_object_uses_its_identity(rec: Any) -> None:
    """After commit expired everything, setting one attribute updates by the stored key."""
    engine, recorder = rec
    with Session(engine) as s:
        u = User(id=7, name="a")
        s.add(u)
        s.commit()
        u.name = "b"  # u is expired; its key is known from the identity
        with recorder.capture() as calls:
            s.commit()
        assert_sql(calls, [SQL(q(recorder, "UPDATE users SET name=? WHERE users.id = ?"),
                               ("b", 7))], ignore_transaction=True)


def test_primary_key_change_updates_by_old_key_and_rekeys(rec: Any) -> None:
    """Changing a primary key UPDATEs WHERE the old key; get() finds it by the new one."""
    engine, recorder = rec
    with Session(engine) as s:
        s.add(User(id=1, name="a"))
        s.commit()
        u = s.get(User, 1)
        u.id = 100
        with recorder.capture() as calls:
            s.flush()
        assert_sql(calls, [SQL(q(recorder, "UPDATE users SET id=? WHERE users.id = ?"),
                               (100, 1))], ignore_transaction=True)
        with recorder.capture() as calls:
            assert s.get(User, 100) is u
        assert calls.without_transaction_control() == []
        s.commit()


def test_composite_primary_key_insert_update_delete(rec: Any) -> None:
    """A two-column key: batched INSERT, UPDATE and DELETE WHERE both columns."""
    engine, recorder = rec
    with Session(engine) as s:
        s.add_all([Pair(a=1, b="x", v="1"), Pair(a=1, b="y", v="2")])
        with recorder.capture() as calls:
            s.flush()
        assert_sql(calls, [SQL(q(recorder, "INSERT INTO pairs (a, b, v) VALUES (?, ?, ?)"),
                               [(1, "x", "1"), (1, "y", "2")])], ignore_transaction=True)
        p, gone = s.get(Pair, (1, "y")), s.get(Pair, (1, "x"))
        assert p is not None and gone is not None
        p.v = "3"
        s.delete(gone)
        with recorder.capture() as calls:
            s.flush()
        assert_sql(calls, [
            SQL(q(recorder, "UPDATE pairs SET v=? WHERE pairs.a = ? AND pairs.b = ?"),
                ("3", 1, "y")),
            SQL(q(recorder, "DELETE FROM pairs WHERE pairs.a = ? AND pairs.b = ?"), (1, "x")),
        ], ignore_transaction=True)


def test_none_for_plain_column_is_sent_as_null_keeping_batches(rec: Any) -> None:
    """An unset nullable column is sent as NULL, so mixed rows still share one executemany."""
    engine, recorder = rec
    with Session(engine) as s:
        s.add_all([Pair(a=1, b="x"), Pair(a=2, b="y", v="v")])
        with recorder.capture() as calls:
            s.flush()
        assert_sql(calls, [SQL(q(recorder, "INSERT INTO pairs (a, b, v) VALUES (?, ?, ?)"),
                               [(1, "x", None), (2, "y", "v")])], ignore_transaction=True)


def test_delete_then_reinsert_different_rows_in_one_commit(rec: Any) -> None:
    """Deleting some rows and inserting others in one commit leaves exactly the new set."""
    engine, recorder = rec
    with Session(engine) as s:
        s.add_all([User(id=1, name="a"), User(id=2, name="b")])
        s.commit()
        s.delete(s.get(User, 1))
        s.add(User(id=3, name="c"))
        s.commit()
        assert sorted(s.scalars(select(User.id)).all()) == [2, 3]


def test_full_sql_sequence_including_transaction_control(rec: Any) -> None:
    """Committing one object sends BEGIN/INSERT/COMMIT (sqlite), INSERT/commit()/reset rollback (PG)."""
    engine, recorder = rec
    with Session(engine) as s:
        s.add(User(id=1, name="a"))
        with recorder.capture() as calls:
            s.commit()
    insert = SQL(q(recorder, "INSERT INTO users (id, name, age) VALUES (?, ?, ?)"), (1, "a", 0))
    expected = {
        "sqlite": ["BEGIN", insert, "COMMIT"],
        "postgresql": [insert, "COMMIT", "ROLLBACK"],
    }
    assert_sql(calls, expected, dialect=recorder.dialect_name)


def test_allof_matches_unordered_statements(rec: Any) -> None:
    """AllOf accepts the two table INSERTs in either order (sanity check of the helper)."""
    engine, recorder = rec
    with Session(engine) as s:
        s.add_all([User(id=1, name="a"), Pair(a=1, b="x")])
        with recorder.capture() as calls:
            s.flush()
    assert_sql(calls, [AllOf(
        SQL(q(recorder, "INSERT INTO pairs (a, b, v) VALUES (?, ?, ?)"), (1, "x", None)),
        SQL(q(recorder, "INSERT INTO users (id, name, age) VALUES (?, ?, ?)"), (1, "a", 0)),
    )], ignore_transaction=True)


def _sql(calls: Any) -> list[str]:
    return [c.sql for c in calls.without_transaction_control()]


def test_row_switch_delete_and_readd_same_key_is_an_update(rec: Any) -> None:
    """Deleting an object and adding a new one with its key in one flush UPDATEs the row."""
    engine, recorder = rec
    with Session(engine) as s:
        s.add(User(id=1, name="old", age=5))
        s.commit()
        old = s.get(User, 1)
        s.delete(old)
        new = User(id=1, name="new", age=5)
        s.add(new)
        with recorder.capture() as calls:
            s.flush()
        assert_sql(calls, [SQL(q(recorder, "UPDATE users SET name=? WHERE users.id = ?"),
                               ("new", 1))], ignore_transaction=True)
        assert s.get(User, 1) is new
        assert old not in s and new not in s.new
        s.commit()
        assert s.scalars(select(User.name)).all() == ["new"]


def test_new_object_conflicting_with_persistent_one_warns(rec: Any) -> None:
    """A new object with the key of a loaded (not deleted) one warns, then the INSERT fails."""
    engine, _recorder = rec
    from docket import exc as dexc

    with Session(engine) as s:
        s.add(User(id=1, name="a"))
        s.commit()
        loaded = s.get(User, 1)
        s.add(User(id=1, name="b"))
        with pytest.warns(UserWarning, match="conflicts with persistent instance <User at"):
            with pytest.raises(dexc.IntegrityError):
                s.flush()
        s.rollback()
        assert loaded.name == "a"


def test_named_paramstyle_flush() -> None:
    """With a named paramstyle the flush sends :p1-style SQL and dict parameters."""
    engine, recorder = recording_engine("sqlite://", paramstyle="named")
    try:
        Base.metadata.create_all(engine)
        with Session(engine) as s:
            s.add_all([User(id=1, name="a"), User(id=2, name="b"), User(name="c")])
            s.flush()
            u = s.get(User, 1)
            u.name = "z"
            with recorder.capture() as calls:
                s.flush()
            assert_sql(calls, [SQL("UPDATE users SET name=:p1 WHERE users.id = :p2",
                                   {"p1": "z", "p2": 1})], ignore_transaction=True)
            s.delete(u)
            s.commit()
            assert s.scalars(select(User.name).order_by(User.id)).all() == ["b", "c"]
    finally:
        engine.dispose()
