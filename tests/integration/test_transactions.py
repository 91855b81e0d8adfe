"""Connection transactions on real databases: autobegin, commit-as-you-go,
``Engine.begin()``, SAVEPOINTs, two-phase commit and isolation levels."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from docket import (
    Column,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    create_engine,
    event,
    exc,
    insert,
    select,
    text,
)


def _make_items(engine: Any) -> Table:
    md = MetaData()
    table = Table("items", md, Column("id", Integer, primary_key=True),
                  Column("name", String(50)))
    md.create_all(engine)
    return table


@pytest.fixture
def items(engine: Any) -> Table:
    """A created table ``items(id, name)`` on the parametrized backend."""
    return _make_items(engine)


@pytest.fixture(params=["sqlite-memory", "sqlite-file"])
def sqlite_url(request: pytest.FixtureRequest, tmp_path: Any) -> str:
    """A SQLite URL, memory and file (for SQLite-only behaviour)."""
    return "sqlite://" if request.param == "sqlite-memory" else f"sqlite:///{tmp_path}/t.db"


@pytest.fixture
def pg_engines(pg_server: Any) -> Iterator[tuple[Any, Any]]:
    """Two engines on the (emptied) PostgreSQL test database."""
    pg_server.reset_schema()
    one, two = create_engine(pg_server.url()), create_engine(pg_server.url())
    try:
        yield one, two
    finally:
        one.dispose()
        two.dispose()


@pytest.fixture
def pg_items(pg_engines: tuple[Any, Any]) -> Table:
    """``items`` created on PostgreSQL."""
    return _make_items(pg_engines[0])


def _names(engine: Any, table: Table) -> list[str]:
    with engine.connect() as conn:
        return list(conn.scalars(select(table.c.name).order_by(table.c.id)))


def _add(conn: Any, table: Table, name: str) -> None:
    conn.execute(insert(table), {"name": name})


# --- autobegin, commit as you go ---------------------------------------------------


def test_autobegin_and_commit_as_you_go(engine: Any, items: Table) -> None:
    """The first statement begins a transaction; commit() makes it durable and the
    next statement begins a new one."""
    with engine.connect() as conn:
        assert not conn.in_transaction()
        _add(conn, items, "a")
        assert conn.in_transaction()
        root = conn.get_transaction()
        assert root is not None and root.is_active
        conn.commit()
        assert not conn.in_transaction() and not root.is_active
        _add(conn, items, "b")
        assert conn.get_transaction() is not root
        # closed with "b" uncommitted: rolled back
    assert _names(engine, items) == ["a"]


def test_rollback_discards_uncommitted_work(engine: Any, items: Table) -> None:
    """rollback() discards what the autobegun transaction did."""
    with engine.connect() as conn:
        _add(conn, items, "a")
        conn.commit()
        _add(conn, items, "b")
        conn.rollback()
        assert not conn.in_transaction()
        assert list(conn.scalars(select(items.c.name))) == ["a"]


def test_closing_a_connection_rolls_back(engine: Any, items: Table) -> None:
    """close() with a transaction in progress rolls it back."""
    conn = engine.connect()
    conn.begin()
    _add(conn, items, "lost")
    conn.close()
    assert conn.closed
    assert _names(engine, items) == []
    with pytest.raises(exc.ResourceClosedError, match="closed"):
        conn.execute(select(items))


def test_engine_begin_commits(engine: Any, items: Table) -> None:
    """Engine.begin() commits at the end of the block."""
    with engine.begin() as conn:
        _add(conn, items, "kept")
        assert conn.in_transaction()
    assert conn.closed
    assert _names(engine, items) == ["kept"]


def test_engine_begin_rolls_back_on_error(engine: Any, items: Table) -> None:
    """Engine.begin() rolls back and re-raises when the block raises."""
    with pytest.raises(RuntimeError, match="boom"):
        with engine.begin() as conn:
            _add(conn, items, "lost")
            raise RuntimeError("boom")
    assert _names(engine, items) == []


def test_begin_context_manager_on_connection(engine: Any, items: Table) -> None:
    """``with conn.begin():`` commits on success and rolls back on error."""
    with engine.connect() as conn:
        with conn.begin() as trans:
            _add(conn, items, "a")
        assert not trans.is_active
        with pytest.raises(ValueError):
            with conn.begin():
                _add(conn, items, "b")
                raise ValueError()
        assert not conn.in_transaction()
    assert _names(engine, items) == ["a"]


def test_begin_twice_is_an_error(engine: Any, items: Table) -> None:
    """begin() while a transaction (explicit or autobegun) is open raises."""
    with engine.connect() as conn:
        conn.begin()
        with pytest.raises(exc.InvalidRequestError, match="already begun"):
            conn.begin()
        conn.rollback()
        conn.execute(select(items))  # autobegin
        with pytest.raises(exc.InvalidRequestError, match="begin_nested"):
            conn.begin()


def test_commit_of_inactive_transaction_raises(engine: Any, items: Table) -> None:
    """A committed transaction can't be committed again; rollback() is then a no-op."""
    with engine.connect() as conn:
        trans = conn.begin()
        trans.commit()
        with pytest.raises(exc.InvalidRequestError, match="inactive"):
            trans.commit()
        trans.rollback()
        assert conn.get_transaction() is None


def test_commit_and_rollback_without_transaction_are_no_ops(engine: Any) -> None:
    """Connection.commit()/rollback() with nothing begun do nothing."""
    with engine.connect() as conn:
        conn.commit()
        conn.rollback()
        assert conn.get_transaction() is None and not conn.in_transaction()


# --- savepoints --------------------------------------------------------------------


def test_nested_three_deep_rollback_of_the_middle_one(engine: Any, items: Table) -> None:
    """Savepoints at depth 1-3: rolling back the middle one discards its work and the
    innermost's (already released into it); the outer savepoint and root keep theirs."""
    with engine.connect() as conn:
        root = conn.begin()
        _add(conn, items, "root")
        sp1 = conn.begin_nested()
        _add(conn, items, "sp1")
        sp2 = conn.begin_nested()
        _add(conn, items, "sp2")
        sp3 = conn.begin_nested()
        _add(conn, items, "sp3")
        assert conn.get_nested_transaction() is sp3
        assert conn.in_nested_transaction()
        sp3.commit()  # RELEASE
        assert conn.get_nested_transaction() is sp2
        sp2.rollback()
        assert not sp2.is_active and not sp3.is_active
        assert conn.get_nested_transaction() is sp1
        _add(conn, items, "after")
        sp1.commit()
        assert not conn.in_nested_transaction()
        assert conn.get_transaction() is root and root.is_active
        root.commit()
    assert _names(engine, items) == ["root", "sp1", "after"]


def test_rolling_back_outer_savepoint_deactivates_inner_ones(engine: Any, items: Table) -> None:
    """Rolling back sp1 while sp2 is open discards both; sp2 is then inactive."""
    with engine.connect() as conn:
        conn.begin()
        sp1 = conn.begin_nested()
        _add(conn, items, "sp1")
        sp2 = conn.begin_nested()
        _add(conn, items, "sp2")
        sp1.rollback()
        assert not sp2.is_active
        with pytest.raises(exc.InvalidRequestError, match="SAVEPOINT"):
            sp2.commit()
        _add(conn, items, "root")
        conn.commit()
    assert _names(engine, items) == ["root"]


def test_savepoint_context_manager_rolls_back_only_itself(engine: Any, items: Table) -> None:
    """An exception inside ``with conn.begin_nested()`` undoes just that block."""
    with engine.begin() as conn:
        _add(conn, items, "outer")
        with pytest.raises(KeyError):
            with conn.begin_nested():
                _add(conn, items, "inner")
                raise KeyError("x")
        with conn.begin_nested():
            _add(conn, items, "inner2")
    assert _names(engine, items) == ["outer", "inner2"]


def test_savepoint_recovers_from_a_database_error(engine: Any, items: Table) -> None:
    """A failed statement inside a savepoint is undone by rolling back to it, and
    the enclosing transaction goes on (on PostgreSQL too, where an error aborts
    the transaction)."""
    with engine.begin() as conn:
        conn.execute(insert(items), {"id": 1, "name": "one"})
        with pytest.raises(exc.IntegrityError):
            with conn.begin_nested():
                conn.execute(insert(items), {"id": 1, "name": "dup"})
        conn.execute(insert(items), {"id": 2, "name": "two"})
    assert _names(engine, items) == ["one", "two"]


def test_begin_nested_autobegins_the_root(engine: Any, items: Table) -> None:
    """begin_nested() with no transaction begins the root too; closing rolls both back."""
    with engine.connect() as conn:
        sp = conn.begin_nested()
        assert conn.in_transaction() and conn.get_nested_transaction() is sp
        _add(conn, items, "x")
        sp.commit()
        assert conn.in_transaction()
    assert _names(engine, items) == []


def test_savepoint_after_root_was_rolled_back(engine: Any, items: Table) -> None:
    """Rolling back the root deactivates its savepoints (their rollback is a no-op,
    commit raises); a new begin_nested() starts a fresh root."""
    with engine.connect() as conn:
        root = conn.begin()
        sp = conn.begin_nested()
        _add(conn, items, "gone")
        root.rollback()
        assert not sp.is_active and conn.get_nested_transaction() is None
        sp.rollback()  # no-op
        with pytest.raises(exc.InvalidRequestError):
            sp.commit()
        sp2 = conn.begin_nested()
        new_root = conn.get_transaction()
        assert new_root is not None and new_root is not root
        _add(conn, items, "kept")
        sp2.commit()
        conn.commit()
    assert _names(engine, items) == ["kept"]


def test_root_commit_releases_open_savepoints(engine: Any, items: Table) -> None:
    """Committing the root with savepoints open keeps their work and deactivates them."""
    with engine.connect() as conn:
        conn.begin()
        sp = conn.begin_nested()
        _add(conn, items, "a")
        conn.commit()
        assert not sp.is_active and not conn.in_nested_transaction()
    assert _names(engine, items) == ["a"]


def test_savepoint_events_and_names(engine: Any, items: Table) -> None:
    """savepoint / release_savepoint / rollback_savepoint fire with the SAVEPOINT names."""
    seen: list[tuple[str, str]] = []
    event.listen(engine, "savepoint", lambda c, name: seen.append(("sp", name)))
    event.listen(engine, "release_savepoint", lambda c, name, ctx: seen.append(("rel", name)))
    event.listen(engine, "rollback_savepoint", lambda c, name, ctx: seen.append(("rb", name)))
    with engine.begin() as conn:
        a = conn.begin_nested()
        b = conn.begin_nested()
        b.rollback()
        a.commit()
    assert [k for k, _ in seen] == ["sp", "sp", "rb", "rel"]
    assert seen[0][1] != seen[1][1]
    assert seen[2][1] == seen[1][1] and seen[3][1] == seen[0][1]


# --- SQLite specifics --------------------------------------------------------------


def _fk_tables(md: MetaData) -> tuple[Table, Table]:
    parent = Table("parent", md, Column("id", Integer, primary_key=True))
    child = Table("child", md, Column("id", Integer, primary_key=True),
                  Column("parent_id", Integer, ForeignKey("parent.id")))
    return parent, child


def test_sqlite_foreign_keys_pragma_via_connect_event(sqlite_url: str) -> None:
    """PRAGMA foreign_keys=ON in a 'connect' listener takes effect (docket opens the
    DB-API connection outside any transaction), so a dangling key is refused."""
    eng = create_engine(sqlite_url)
    try:
        @event.listens_for(eng, "connect")
        def fk_on(dbapi_connection: Any, record: Any) -> None:
            cur = dbapi_connection.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        md = MetaData()
        parent, child = _fk_tables(md)
        md.create_all(eng)
        with eng.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            with pytest.raises(exc.IntegrityError, match="FOREIGN KEY"):
                conn.execute(insert(child), {"id": 1, "parent_id": 99})
            conn.rollback()
            conn.execute(insert(parent), {"id": 1})
            conn.execute(insert(child), {"id": 1, "parent_id": 1})
            conn.commit()
    finally:
        eng.dispose()


def test_sqlite_without_pragma_does_not_enforce(sqlite_url: str) -> None:
    """Control for the test above: without the pragma SQLite accepts a dangling key."""
    eng = create_engine(sqlite_url)
    try:
        md = MetaData()
        _parent, child = _fk_tables(md)
        md.create_all(eng)
        with eng.begin() as conn:
            conn.execute(insert(child), {"id": 1, "parent_id": 99})
    finally:
        eng.dispose()


def test_deferred_fk_failure_at_commit_leaves_connection_usable(sqlite_url: str) -> None:
    """A COMMIT refused by a deferred foreign key raises IntegrityError, rolls the
    transaction back, and the connection can begin again (SQLite would otherwise
    keep the failed transaction open)."""
    eng = create_engine(sqlite_url)
    try:
        event.listen(eng, "connect",
                     lambda dbapi_conn, rec: dbapi_conn.execute("PRAGMA foreign_keys=ON"))
        with eng.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE p (id INTEGER PRIMARY KEY)")
            conn.exec_driver_sql(
                "CREATE TABLE c (id INTEGER PRIMARY KEY, pid INTEGER REFERENCES p(id) "
                "DEFERRABLE INITIALLY DEFERRED)")
        with eng.connect() as conn:
            conn.exec_driver_sql("INSERT INTO c VALUES (1, 42)")
            with pytest.raises(exc.IntegrityError, match="FOREIGN KEY"):
                conn.commit()
            assert not conn.in_transaction()
            assert conn.exec_driver_sql("SELECT count(*) FROM c").scalar() == 0
            conn.commit()
    finally:
        eng.dispose()


def test_ddl_inside_a_transaction_rolls_back(engine: Any, backend: Any) -> None:
    """CREATE TABLE in a transaction that is rolled back leaves no table (SQLite too:
    docket emits BEGIN itself instead of relying on sqlite3's implicit one)."""
    from docket import inspect

    md = MetaData()
    Table("ephemeral", md, Column("id", Integer, primary_key=True))
    with engine.connect() as conn:
        conn.begin()
        md.create_all(conn)
        assert inspect(conn).has_table("ephemeral")
        conn.rollback()
        assert not inspect(conn).has_table("ephemeral")
    assert not inspect(engine).has_table("ephemeral")


def test_memory_engine_connections_share_one_database() -> None:
    """sqlite:// hands every Connection the same DB-API connection: a table created
    and committed through one is seen by the next, even while the first is open."""
    eng = create_engine("sqlite://")
    try:
        c1 = eng.connect()
        c1.execute(text("CREATE TABLE shared (x INTEGER)"))
        c1.execute(text("INSERT INTO shared VALUES (5)"))
        c1.commit()
        with eng.connect() as c2:
            assert c2.connection.dbapi_connection is c1.connection.dbapi_connection
            assert c2.execute(text("SELECT x FROM shared")).scalar() == 5
        c1.close()
        with eng.connect() as c3:
            assert c3.execute(text("SELECT count(*) FROM shared")).scalar() == 1
    finally:
        eng.dispose()


def test_memory_engine_second_connection_joins_open_transaction() -> None:
    """With the shared connection, a second Connection's statements run in the
    transaction already open (no 'cannot start a transaction' error)."""
    eng = create_engine("sqlite://")
    try:
        with eng.connect() as c1:
            c1.execute(text("CREATE TABLE s (x INTEGER)"))
            c1.commit()
            c1.execute(text("INSERT INTO s VALUES (1)"))
            c2 = eng.connect()
            assert c2.execute(text("SELECT count(*) FROM s")).scalar() == 1
            c2.commit()  # commits the shared transaction
            c2.close()
            c1.rollback()
            assert c1.execute(text("SELECT count(*) FROM s")).scalar() == 1
    finally:
        eng.dispose()


# --- two-phase commit -------------------------------------------------------------


def _prepared_xids(engine: Any) -> list[str]:
    with engine.connect() as conn:
        return [str(x) for x in conn.recover_twophase()]


@pytest.mark.postgresql
def test_twophase_prepare_and_commit(pg_engines: tuple[Any, Any], pg_items: Table) -> None:
    """begin_twophase/prepare/commit: the work is visible only after the commit,
    and the prepared xid is listed by recover_twophase meanwhile."""
    engine, other = pg_engines
    with engine.connect() as conn:
        tx = conn.begin_twophase("docket-2pc-commit")
        assert tx.xid == "docket-2pc-commit" and conn.in_transaction()
        _add(conn, pg_items, "two-phase")
        tx.prepare()
        assert "docket-2pc-commit" in _prepared_xids(other)
        assert _names(other, pg_items) == []
        tx.commit()
        assert not conn.in_transaction()
    assert _names(other, pg_items) == ["two-phase"]
    assert "docket-2pc-commit" not in _prepared_xids(other)


@pytest.mark.postgresql
def test_twophase_rollback_of_prepared(pg_engines: tuple[Any, Any], pg_items: Table) -> None:
    """Rolling back a prepared two-phase transaction discards it for good."""
    engine, other = pg_engines
    with engine.connect() as conn:
        tx = conn.begin_twophase()
        assert str(tx.xid).startswith("docket_")
        _add(conn, pg_items, "gone")
        tx.prepare()
        tx.rollback()
        assert not tx.is_active
    assert _names(other, pg_items) == []
    assert _prepared_xids(other) == []


@pytest.mark.postgresql
def test_twophase_commit_prepared_from_another_connection(
        pg_engines: tuple[Any, Any], pg_items: Table) -> None:
    """A transaction prepared on one connection (then closed) is found with
    recover_twophase() and committed with commit_prepared(recover=True) elsewhere."""
    engine, other = pg_engines
    conn = engine.connect()
    tx = conn.begin_twophase("docket-2pc-recover")
    _add(conn, pg_items, "recovered")
    tx.prepare()
    conn.invalidate()  # the preparing session goes away; its prepared work stays
    conn.rollback()
    conn.close()
    with other.connect() as c2:
        xids = c2.recover_twophase()
        assert "docket-2pc-recover" in xids
        c2.commit_prepared("docket-2pc-recover", recover=True)
    assert _names(other, pg_items) == ["recovered"]
    assert _prepared_xids(other) == []


@pytest.mark.postgresql
def test_twophase_rollback_prepared_from_another_connection(
        pg_engines: tuple[Any, Any], pg_items: Table) -> None:
    """rollback_prepared(xid, recover=True) discards a recovered prepared transaction."""
    engine, other = pg_engines
    conn = engine.connect()
    tx = conn.begin_twophase("docket-2pc-rb")
    _add(conn, pg_items, "nope")
    tx.prepare()
    conn.invalidate()
    conn.rollback()
    conn.close()
    with other.connect() as c2:
        assert c2.recover_twophase() == ["docket-2pc-rb"]
        c2.rollback_prepared("docket-2pc-rb", recover=True)
    assert _prepared_xids(other) == []
    assert _names(other, pg_items) == []


@pytest.mark.postgresql
def test_twophase_events(pg_engines: tuple[Any, Any], pg_items: Table) -> None:
    """begin_twophase / prepare_twophase / commit_twophase fire with the xid."""
    engine, _ = pg_engines
    seen: list[tuple[Any, ...]] = []
    event.listen(engine, "begin_twophase", lambda c, xid: seen.append(("begin", xid)))
    event.listen(engine, "prepare_twophase", lambda c, xid: seen.append(("prepare", xid)))
    event.listen(engine, "commit_twophase",
                 lambda c, xid, is_prepared: seen.append(("commit", xid, is_prepared)))
    with engine.connect() as conn:
        tx = conn.begin_twophase("docket-2pc-ev")
        tx.prepare()
        tx.commit()
    assert seen == [("begin", "docket-2pc-ev"), ("prepare", "docket-2pc-ev"),
                    ("commit", "docket-2pc-ev", True)]


def test_twophase_with_transaction_open_is_refused(engine: Any, backend: Any) -> None:
    """begin_twophase() inside a transaction raises InvalidRequestError."""
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
        with pytest.raises(exc.InvalidRequestError, match="in progress"):
            conn.begin_twophase()


def test_twophase_on_sqlite_is_a_clear_error(sqlite_url: str) -> None:
    """SQLite has no two-phase commit: begin_twophase and recover_twophase say so and
    leave the connection without a transaction."""
    eng = create_engine(sqlite_url)
    with eng.connect() as conn:
        with pytest.raises(exc.InvalidRequestError, match="sqlite.*two-phase"):
            conn.begin_twophase()
        assert conn.get_transaction() is None
        with pytest.raises(exc.InvalidRequestError, match="two-phase"):
            conn.recover_twophase()
    eng.dispose()


# --- isolation levels ---------------------------------------------------------------


def test_default_isolation_level(engine: Any, backend: Any) -> None:
    """The database's default level is read at first connect and get_isolation_level
    reports the live level."""
    expected = "SERIALIZABLE" if backend.is_sqlite else "READ COMMITTED"
    with engine.connect() as conn:
        assert conn.default_isolation_level == expected
        assert conn.get_isolation_level() == expected
    assert engine.dialect.default_isolation_level == expected


def test_create_engine_isolation_level(backend: Any, engine: Any) -> None:
    """create_engine(isolation_level=...) applies to every connection."""
    level = "READ UNCOMMITTED" if backend.is_sqlite else "REPEATABLE READ"
    eng = create_engine(backend.url, isolation_level=level)
    try:
        with eng.connect() as c1, eng.connect() as c2:
            assert c1.get_isolation_level() == level
            assert c2.get_isolation_level() == level
        with eng.connect() as c3:
            assert c3.get_isolation_level() == level
    finally:
        eng.dispose()


def test_autocommit_execution_option_is_reset_on_return(engine: Any, items: Table) -> None:
    """execution_options(isolation_level="AUTOCOMMIT") makes every statement durable at
    once (rollback can't undo it) and the pooled connection is reset on return."""
    with engine.connect() as conn:
        assert conn.execution_options(isolation_level="AUTOCOMMIT") is conn
        assert conn.get_isolation_level() == "AUTOCOMMIT"
        dbapi_conn = conn.connection.dbapi_connection
        _add(conn, items, "durable")
        conn.rollback()
    assert _names(engine, items) == ["durable"]
    with engine.connect() as conn:
        assert conn.connection.dbapi_connection is dbapi_conn  # the same pooled connection
        assert conn.get_isolation_level() == engine.dialect.default_isolation_level
        _add(conn, items, "undone")
        conn.rollback()
    assert _names(engine, items) == ["durable"]


def test_isolation_level_change_in_transaction_refused(engine: Any) -> None:
    """Changing the isolation level with a transaction open raises."""
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
        with pytest.raises(exc.InvalidRequestError, match="isolation_level"):
            conn.execution_options(isolation_level="SERIALIZABLE")


def test_invalid_isolation_level(engine: Any, backend: Any) -> None:
    """An unknown level raises ArgumentError listing the valid ones."""
    with engine.connect() as conn:
        with pytest.raises(exc.ArgumentError, match="valid levels"):
            conn.execution_options(isolation_level="SOMETIMES")
    with pytest.raises(exc.ArgumentError, match="Invalid isolation level"):
        create_engine(backend.url, isolation_level="NOPE")


def test_engine_execution_options_isolation_level(engine: Any, items: Table) -> None:
    """engine.execution_options(isolation_level="AUTOCOMMIT") gives an engine whose
    connections autocommit; the original engine's do not."""
    auto = engine.execution_options(isolation_level="AUTOCOMMIT")
    assert auto.pool is engine.pool
    with auto.connect() as conn:
        assert conn.get_isolation_level() == "AUTOCOMMIT"
        _add(conn, items, "auto")
        conn.rollback()
    with engine.connect() as conn:
        assert conn.get_isolation_level() != "AUTOCOMMIT"
    assert _names(engine, items) == ["auto"]


def test_get_isolation_level_keeps_transaction(engine: Any, items: Table) -> None:
    """Asking for the isolation level mid-transaction doesn't end the transaction."""
    with engine.connect() as conn:
        _add(conn, items, "pending")
        conn.get_isolation_level()
        assert conn.in_transaction()
        conn.commit()
    assert _names(engine, items) == ["pending"]


@pytest.mark.postgresql
def test_serializable_on_postgresql(pg_engines: tuple[Any, Any]) -> None:
    """A SERIALIZABLE connection on PostgreSQL really runs at that level."""
    with pg_engines[0].connect() as conn:
        conn.execution_options(isolation_level="SERIALIZABLE")
        assert conn.exec_driver_sql("SHOW transaction_isolation").scalar() == "serializable"
