"""Errors on real databases: DB-API errors wrapped in docket.exc with statement and
parameters, hide_parameters, passwords kept out of every message, and lost
connections (invalidation, PendingRollbackError, pre-ping, server restart)."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

import pytest

from docket import (
    Column,
    Date,
    Integer,
    MetaData,
    String,
    Table,
    bindparam,
    create_engine,
    event,
    exc,
    insert,
    select,
    text,
)

SECRET = "s3cr3t-pa55word"


@pytest.fixture
def users(engine: Any) -> Table:
    """A created table ``users(id, name unique not null, born)``."""
    md = MetaData()
    table = Table("users", md, Column("id", Integer, primary_key=True),
                  Column("name", String(30), nullable=False, unique=True),
                  Column("born", Date))
    md.create_all(engine)
    return table


# --- wrapping ---------------------------------------------------------------------------


def test_integrity_error_carries_statement_params_and_orig(engine: Any, users: Table) -> None:
    """A unique violation raises docket IntegrityError with the SQL, the parameters
    and the driver's exception; the message shows SQL and parameters."""
    with engine.connect() as conn:
        conn.execute(insert(users), {"name": "ann"})
        with pytest.raises(exc.IntegrityError) as info:
            conn.execute(insert(users), {"name": "ann"})
    err = info.value
    assert isinstance(err, exc.DBAPIError) and isinstance(err, exc.DatabaseError)
    assert isinstance(err.orig, engine.dialect.dbapi.IntegrityError)
    assert err.statement is not None and err.statement.startswith("INSERT INTO users")
    assert "ann" in repr(err.params)
    text_ = str(err)
    assert "[SQL: INSERT INTO users" in text_ and "ann" in text_
    assert type(err.orig).__name__ in text_
    assert err.connection_invalidated is False


def test_not_null_violation_is_integrity_error(engine: Any, users: Table) -> None:
    """Inserting NULL into a NOT NULL column raises IntegrityError."""
    with engine.connect() as conn:
        with pytest.raises(exc.IntegrityError, match="users"):
            conn.execute(insert(users), {"name": None})


def test_syntax_and_missing_table_errors(engine: Any, backend: Any) -> None:
    """Bad SQL and a missing table raise ProgrammingError (PostgreSQL) or
    OperationalError (SQLite), with .orig and the SQL in the message."""
    expected = exc.OperationalError if backend.is_sqlite else exc.ProgrammingError
    with engine.connect() as conn:
        with pytest.raises(expected) as info:
            conn.execute(text("SELEC 1"))
        assert "[SQL: SELEC 1]" in str(info.value) and info.value.orig is not None
        conn.rollback()
        with pytest.raises(expected, match="no_such_table") as info2:
            conn.execute(text("SELECT * FROM no_such_table WHERE x = :x"), {"x": 5})
        assert info2.value.statement is not None and "no_such_table" in info2.value.statement
        assert info2.value.params in ((5,), {"x": 5}, [5])


def test_exec_driver_sql_errors_are_wrapped(engine: Any) -> None:
    """exec_driver_sql errors are docket DBAPIErrors too."""
    with engine.connect() as conn:
        with pytest.raises(exc.DBAPIError) as info:
            conn.exec_driver_sql("SELECT * FROM missing_table")
    assert info.value.statement == "SELECT * FROM missing_table"


@pytest.mark.postgresql
def test_postgresql_error_aborts_transaction_until_rollback(pg_engine_factory: Any) -> None:
    """On PostgreSQL a failed statement aborts the transaction (InternalError on the
    next one); rollback() makes the connection usable again."""
    with pg_engine_factory().connect() as conn:
        with pytest.raises(exc.ProgrammingError):
            conn.execute(text("SELECT nope"))
        with pytest.raises(exc.InternalError, match="aborted"):
            conn.execute(text("SELECT 1"))
        conn.rollback()
        assert conn.scalar(text("SELECT 1")) == 1


def test_missing_parameter_is_statement_error(engine: Any, users: Table) -> None:
    """A bindparam without a value raises StatementError naming it, with the SQL."""
    with engine.connect() as conn:
        with pytest.raises(exc.StatementError, match="'wanted'") as info:
            conn.execute(select(users).where(users.c.name == bindparam("wanted")))
    assert info.value.statement is not None and "users" in info.value.statement


def test_unconvertible_value_is_statement_error(engine: Any, users: Table) -> None:
    """A value its column type can't convert raises StatementError with the SQL and the
    original exception, before anything reaches the database."""
    with engine.connect() as conn:
        with pytest.raises(exc.StatementError) as info:
            conn.execute(insert(users), {"name": "x", "born": object()})
        assert info.value.orig is not None
        assert "INSERT INTO users" in str(info.value)
        conn.rollback()
        assert conn.scalar(select(users.c.id)) is None


def test_hide_parameters(backend: Any, engine: Any, caplog: pytest.LogCaptureFixture) -> None:
    """hide_parameters=True keeps values out of the parameter part of error messages
    and out of echo logs, while .params still has them for programs.  (A database's
    own message may quote a value, e.g. PostgreSQL's unique-violation detail; that
    is the driver's text, shown as is.)"""
    eng = create_engine(backend.url, hide_parameters=True, echo=True)
    try:
        with eng.begin() as conn:
            conn.execute(text("CREATE TABLE h (v VARCHAR(20))"))
        with caplog.at_level(logging.INFO, logger="docket.engine"):
            with eng.connect() as conn:
                with pytest.raises(exc.DBAPIError) as info:
                    conn.execute(text("INSERT INTO no_such_h VALUES (:v)"), {"v": "topsecret"})
                conn.rollback()
                with pytest.raises(exc.StatementError) as info2:
                    conn.execute(text("SELECT * FROM h WHERE v = :v"))
    finally:
        eng.dispose()
    message = str(info.value)
    assert "topsecret" not in message and "hidden" in message
    assert "topsecret" in repr(info.value.params)
    assert "[SQL parameters hidden" in str(info2.value)
    assert "topsecret" not in caplog.text
    assert "SQL parameters hidden" in caplog.text


# --- passwords ------------------------------------------------------------------------------


@pytest.mark.postgresql
def test_password_not_in_repr_str_or_logs(pg_server: Any, caplog: pytest.LogCaptureFixture
                                         ) -> None:
    """A PostgreSQL URL's password never shows in repr(engine), str(url), echo logs or
    pool logs (the test server trusts any password)."""
    pg_server.reset_schema()
    url = pg_server.url().replace("://" + pg_server.user + "@",
                                  f"://{pg_server.user}:{SECRET}@")
    eng = create_engine(url, echo=True, echo_pool="debug")
    try:
        assert SECRET not in repr(eng) and SECRET not in str(eng.url)
        assert "***" in repr(eng)
        with caplog.at_level(logging.DEBUG):
            with eng.connect() as conn:
                assert conn.scalar(text("SELECT 1")) == 1
                with pytest.raises(exc.ProgrammingError) as info:
                    conn.execute(text("SELECT no_such_column"))
            eng.dispose()
        assert caplog.records, "echo=True produced no log records"
        assert SECRET not in caplog.text
        assert SECRET not in str(info.value)
    finally:
        eng.dispose()


@pytest.mark.postgresql
def test_password_not_in_connect_error(pg_server: Any) -> None:
    """A failed connect (nothing listens on the port) raises OperationalError that
    shows neither the password nor is it in the wrapped driver message."""
    eng = create_engine(f"postgresql+psycopg://someone:{SECRET}@127.0.0.1:1/nodb",
                        connect_args={"connect_timeout": 2})
    try:
        with pytest.raises(exc.OperationalError) as info:
            eng.connect()
    finally:
        eng.dispose()
    assert SECRET not in str(info.value)
    assert info.value.statement is None


def test_bad_database_path_is_operational_error(tmp_path: Any) -> None:
    """A SQLite file in a directory that doesn't exist raises OperationalError at connect."""
    eng = create_engine(f"sqlite:///{tmp_path}/missing/dir/x.db")
    with pytest.raises(exc.OperationalError, match="unable to open"):
        eng.connect()
    eng.dispose()


# --- lost connections -----------------------------------------------------------------------


@pytest.fixture
def pg_url(pg_server: Any) -> str:
    """The PostgreSQL test database URL (database emptied)."""
    pg_server.reset_schema()
    return str(pg_server.url())


def _kill_backend(pg_server: Any, pid: int) -> None:
    with pg_server.admin_connection() as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        for _ in range(200):  # wait until the backend is really gone
            gone = admin.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s",
                                 (pid,)).fetchone()[0] == 0
            if gone:
                return
            time.sleep(0.01)


@pytest.fixture
def pg_engine_factory(pg_url: str) -> Iterator[Any]:
    """Makes PostgreSQL engines that are disposed after the test."""
    made: list[Any] = []

    def make(**kw: Any) -> Any:
        eng = create_engine(pg_url, **kw)
        made.append(eng)
        return eng

    yield make
    for eng in made:
        eng.dispose()


@pytest.mark.postgresql
def test_pre_ping_recovers_from_killed_backend(pg_server: Any, pg_engine_factory: Any) -> None:
    """With pool_pre_ping=True, a pooled connection whose server process was killed is
    replaced at checkout: the next statement just works."""
    eng = pg_engine_factory(pool_pre_ping=True)
    with eng.connect() as conn:
        pid = conn.scalar(text("SELECT pg_backend_pid()"))
    _kill_backend(pg_server, pid)
    with eng.connect() as conn:
        assert conn.scalar(text("SELECT pg_backend_pid()")) != pid


@pytest.mark.postgresql
def test_killed_backend_without_pre_ping(pg_server: Any, pg_engine_factory: Any) -> None:
    """Without pre-ping: the first use raises an error with connection_invalidated=True;
    the transaction must be rolled back (PendingRollbackError until then); the next use
    reconnects."""
    eng = pg_engine_factory()
    invalidated: list[Any] = []
    event.listen(eng, "invalidate", lambda dbapi_conn, rec, e: invalidated.append(e))
    with eng.connect() as conn:
        pid = conn.scalar(text("SELECT pg_backend_pid()"))
        conn.commit()
        _kill_backend(pg_server, pid)
        with pytest.raises(exc.OperationalError) as info:
            conn.execute(text("SELECT 1"))
        assert info.value.connection_invalidated is True
        assert "invalidated" in str(info.value)
        assert conn.invalidated and invalidated
        with pytest.raises(exc.PendingRollbackError, match="rollback"):
            conn.execute(text("SELECT 1"))
        with pytest.raises(exc.PendingRollbackError):
            conn.commit()
        conn.rollback()
        new_pid = conn.scalar(text("SELECT pg_backend_pid()"))
        assert new_pid != pid and not conn.invalidated
    with eng.connect() as conn:
        assert conn.scalar(text("SELECT 1")) == 1


@pytest.mark.postgresql
def test_server_restart_invalidates_whole_pool(pg_server: Any, pg_engine_factory: Any) -> None:
    """After a restart every pooled connection is dead: one error, then every
    connection (even ones idle in the pool at the time) is fresh."""
    if not pg_server.managed:
        pytest.skip("needs a server the tests started")
    eng = pg_engine_factory(pool_size=3)
    conns = [eng.connect() for _ in range(3)]
    pids = {c.scalar(text("SELECT pg_backend_pid()")) for c in conns}
    for c in conns:
        c.close()
    pg_server.restart()
    with eng.connect() as conn:
        with pytest.raises(exc.OperationalError) as info:
            conn.execute(text("SELECT 1"))
        assert info.value.connection_invalidated
    with eng.connect() as a, eng.connect() as b:
        new = {a.scalar(text("SELECT pg_backend_pid()")), b.scalar(text("SELECT pg_backend_pid()"))}
    assert not (new & pids)


@pytest.mark.postgresql
def test_pre_ping_survives_server_restart(pg_server: Any, pg_engine_factory: Any) -> None:
    """With pre-ping, a server restart costs no error at all."""
    if not pg_server.managed:
        pytest.skip("needs a server the tests started")
    eng = pg_engine_factory(pool_pre_ping=True)
    with eng.connect() as conn:
        conn.scalar(text("SELECT 1"))
    pg_server.restart()
    with eng.connect() as conn:
        assert conn.scalar(text("SELECT 1")) == 1


def test_explicit_invalidate(engine: Any) -> None:
    """invalidate() outside a transaction: the next statement reconnects."""
    with engine.connect() as conn:
        conn.scalar(text("SELECT 1"))
        conn.commit()
        raw = conn.connection.dbapi_connection
        conn.invalidate()
        assert conn.invalidated
        assert conn.scalar(text("SELECT 1")) == 1
        assert conn.connection.dbapi_connection is not raw
        assert not conn.invalidated


def test_invalidate_inside_transaction_needs_rollback(engine: Any) -> None:
    """invalidate() inside a transaction: PendingRollbackError until rollback()."""
    with engine.connect() as conn:
        conn.scalar(text("SELECT 1"))
        conn.invalidate()
        with pytest.raises(exc.PendingRollbackError):
            conn.scalar(text("SELECT 1"))
        conn.rollback()
        assert conn.scalar(text("SELECT 1")) == 1


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///{tmp}/c.db"])
def test_sqlite_closed_database_is_a_disconnect(url: str, tmp_path: Any) -> None:
    """On SQLite a DB-API connection closed behind docket's back is detected as a
    disconnect and replaced after rollback."""
    engine = create_engine(url.format(tmp=tmp_path))
    with engine.connect() as conn:
        conn.scalar(text("SELECT 1"))
        conn.connection.dbapi_connection.close()
        with pytest.raises(exc.DBAPIError) as info:
            conn.scalar(text("SELECT 1"))
        assert info.value.connection_invalidated
        conn.rollback()
        assert conn.scalar(text("SELECT 2")) == 2
    engine.dispose()


def test_handle_error_can_replace_exception(engine: Any, users: Table) -> None:
    """A handle_error listener sees the original and wrapped errors and may return
    another exception to raise instead."""
    seen: list[Any] = []

    class Custom(Exception):
        pass

    @event.listens_for(engine, "handle_error")
    def on_error(ctx: Any) -> Any:
        seen.append((type(ctx.original_exception), type(ctx.docket_exception), ctx.statement,
                     ctx.is_disconnect, ctx.connection is not None))
        if "users" in (ctx.statement or ""):
            return Custom("replaced")
        return None

    with engine.connect() as conn:
        conn.execute(insert(users), {"name": "a"})
        with pytest.raises(Custom, match="replaced") as info:
            conn.execute(insert(users), {"name": "a"})
        assert isinstance(info.value.__cause__, engine.dialect.dbapi.IntegrityError)
        conn.rollback()
        with pytest.raises(exc.DBAPIError):
            conn.execute(text("SELECT * FROM nothing_here"))
    assert seen[0][0] is not None and seen[0][1] is exc.IntegrityError
    assert seen[0][3] is False and seen[0][4] is True
    assert "nothing_here" in seen[1][2]


def test_handle_error_can_declare_disconnect(engine: Any) -> None:
    """Setting ctx.is_disconnect=True invalidates the connection."""
    event.listen(engine, "handle_error",
                 lambda ctx: setattr(ctx, "is_disconnect", True))
    with engine.connect() as conn:
        conn.scalar(text("SELECT 1"))
        conn.commit()
        with pytest.raises(exc.DBAPIError) as info:
            conn.execute(text("SELECT * FROM nothing_here"))
        assert info.value.connection_invalidated and conn.invalidated
        conn.rollback()
        assert conn.scalar(text("SELECT 1")) == 1


def test_date_type_error_message(engine: Any, backend: Any, users: Table) -> None:
    """A string for a Date column: SQLite's converter refuses it (StatementError naming
    the TypeError); PostgreSQL refuses the value (DataError)."""
    with engine.connect() as conn:
        with pytest.raises(exc.StatementError) as info:
            conn.execute(insert(users), {"name": "d", "born": "not-a-date"})
    if backend.is_sqlite:
        assert isinstance(info.value.orig, TypeError)
        assert "(builtins.TypeError)" in str(info.value)
    else:
        assert isinstance(info.value, exc.DataError)
