"""Engine logging (``echo``) and connection / pool events on real databases."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from docket import (
    Column,
    Connection,
    Engine,
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


@pytest.fixture
def notes(engine: Any) -> Table:
    """A created table ``notes(id, body)``."""
    md = MetaData()
    table = Table("notes", md, Column("id", Integer, primary_key=True), Column("body", String(40)))
    md.create_all(engine)
    return table


# --- logging -------------------------------------------------------------------------------


def test_echo_logs_sql_params_and_transactions(backend: Any, engine: Any,
                                               caplog: pytest.LogCaptureFixture) -> None:
    """echo=True logs BEGIN, each statement with its parameters, and COMMIT to the
    'docket.engine' logger at INFO -- even when that logger's level is WARNING."""
    logging.getLogger("docket.engine").setLevel(logging.WARNING)
    eng = create_engine(backend.url, echo=True)
    try:
        caplog.set_level(logging.DEBUG, logger="some.other.logger")  # root handler in place
        with eng.begin() as conn:
            conn.execute(text("SELECT :x"), {"x": "hello-param"})
    finally:
        eng.dispose()
        logging.getLogger("docket.engine").setLevel(logging.NOTSET)
    records = [r for r in caplog.records if r.name == "docket.engine"]
    messages = [r.getMessage() for r in records]
    assert all(r.levelno == logging.INFO for r in records)
    assert messages[0] == "BEGIN (implicit)"
    assert any(m.startswith("SELECT ") for m in messages)
    assert any("hello-param" in m for m in messages)
    assert messages[-1] == "COMMIT"


def test_no_echo_means_no_logging(backend: Any, caplog: pytest.LogCaptureFixture) -> None:
    """With echo=False and the logger at its default level nothing is logged."""
    eng = create_engine(backend.url)
    try:
        with caplog.at_level(logging.WARNING):
            with eng.connect() as conn:
                conn.execute(text("SELECT 1"))
    finally:
        eng.dispose()
    assert [r for r in caplog.records if r.name == "docket.engine"] == []


def test_logger_level_enables_logging_without_echo(backend: Any,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    """Setting the 'docket.engine' logger to INFO logs SQL even with echo=False
    (SQLAlchemy's rule), for connections opened after the change."""
    eng = create_engine(backend.url)
    try:
        with caplog.at_level(logging.INFO, logger="docket.engine"):
            with eng.connect() as conn:
                conn.execute(text("SELECT 42"))
    finally:
        eng.dispose()
    assert any("SELECT 42" in r.getMessage() for r in caplog.records)


def test_echo_executemany_and_rollback(backend: Any, caplog: pytest.LogCaptureFixture) -> None:
    """An executemany is logged as such, and ROLLBACK is logged."""
    eng = create_engine(backend.url, echo=True)
    try:
        with caplog.at_level(logging.INFO, logger="docket.engine"):
            with eng.connect() as conn:
                conn.execute(text("CREATE TABLE e (x INTEGER)"))
                conn.execute(text("INSERT INTO e VALUES (:x)"), [{"x": 1}, {"x": 2}])
                conn.rollback()
    finally:
        eng.dispose()
    text_ = caplog.text
    assert "[executemany]" in text_ and "ROLLBACK" in text_


# --- cursor execution events -------------------------------------------------------------------


def test_before_and_after_cursor_execute(engine: Any, notes: Table) -> None:
    """before/after_cursor_execute receive the connection, a cursor, the driver SQL,
    the driver parameters, the execution context and the executemany flag."""
    calls: list[tuple[Any, ...]] = []

    @event.listens_for(engine, "before_cursor_execute")
    def before(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any,
               executemany: bool) -> None:
        calls.append(("before", conn, statement, parameters, executemany, context))

    @event.listens_for(engine, "after_cursor_execute")
    def after(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any,
              executemany: bool) -> None:
        calls.append(("after", conn, statement, cursor.rowcount, executemany))

    with engine.begin() as conn:
        conn.execute(insert(notes), {"body": "one"})
        conn.execute(insert(notes), [{"body": "two"}, {"body": "three"}])
    befores = [c for c in calls if c[0] == "before" and "INSERT" in c[2]]
    afters = [c for c in calls if c[0] == "after" and "INSERT" in c[2]]
    assert len(befores) == 2 and len(afters) == 2
    assert befores[0][1] is conn and befores[0][4] is False
    assert "one" in befores[0][3] or "one" in list(befores[0][3])
    assert befores[1][4] is True and len(befores[1][3]) == 2
    assert befores[0][5].statement == befores[0][2] and befores[0][5].connection is conn
    assert afters[1][3] == 2


def test_before_cursor_execute_retval_rewrites_statement(engine: Any, notes: Table) -> None:
    """A retval=True listener's (statement, parameters) is what the driver runs."""

    @event.listens_for(engine, "before_cursor_execute", retval=True)
    def add_comment(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any,
                    executemany: bool) -> tuple[str, Any]:
        return statement + " -- tagged", parameters

    seen: list[str] = []
    event.listen(engine, "after_cursor_execute",
                 lambda conn, cur, stmt, params, ctx, many: seen.append(stmt))
    with engine.begin() as conn:
        conn.execute(insert(notes), {"body": "x"})
        assert conn.scalar(select(notes.c.body)) == "x"
    assert seen and all(s.endswith(" -- tagged") for s in seen)


def test_retval_listener_can_change_parameters(engine: Any, notes: Table) -> None:
    """A retval=True listener may replace the parameters, too."""

    @event.listens_for(engine, "before_cursor_execute", retval=True)
    def swap(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any,
             executemany: bool) -> tuple[str, Any]:
        if statement.startswith("INSERT") and not executemany:
            parameters = tuple("changed" if p == "orig" else p for p in parameters)
        return statement, parameters

    with engine.begin() as conn:
        conn.execute(insert(notes), {"body": "orig"})
        assert conn.scalar(select(notes.c.body)) == "changed"


def test_execute_events(engine: Any, notes: Table) -> None:
    """before_execute/after_execute see the statement object and the result."""
    seen: list[Any] = []
    event.listen(engine, "before_execute",
                 lambda conn, elem, multiparams, params, opts: seen.append(("before", elem)))
    event.listen(engine, "after_execute",
                 lambda conn, elem, mp, p, opts, result: seen.append(("after", result)))
    stmt = select(notes)
    with engine.connect() as conn:
        result = conn.execute(stmt)
    assert seen == [("before", stmt), ("after", result)]


# --- connection lifecycle events -----------------------------------------------------------------


def test_connect_event_on_engine(backend: Any) -> None:
    """'connect' on an engine fires once per new DB-API connection, with the raw
    driver connection (so PRAGMA / SET statements can run there)."""
    eng = create_engine(backend.url)
    raws: list[Any] = []
    try:
        event.listen(eng, "connect", lambda dbapi_conn, record: raws.append(dbapi_conn))
        with eng.connect() as c1:
            first = c1.connection.dbapi_connection
        with eng.connect():
            pass
        assert raws == [first]
        assert isinstance(raws[0], eng.dialect.dbapi.Connection)
    finally:
        eng.dispose()


def test_connect_event_on_engine_class(backend: Any) -> None:
    """'connect' registered on the Engine class fires for every engine's new
    connections until removed."""
    raws: list[Any] = []

    def on_connect(dbapi_conn: Any, record: Any) -> None:
        raws.append(dbapi_conn)

    event.listen(Engine, "connect", on_connect)
    try:
        eng = create_engine(backend.url)
        with eng.connect():
            pass
        eng.dispose()
        assert len(raws) == 1
    finally:
        event.remove(Engine, "connect", on_connect)
    eng2 = create_engine(backend.url)
    with eng2.connect():
        pass
    eng2.dispose()
    assert len(raws) == 1


def test_connect_listener_survives_dispose(backend: Any) -> None:
    """Listeners on the engine's pool carry over to the new pool after dispose()."""
    eng = create_engine(backend.url)
    count = [0]
    event.listen(eng, "connect", lambda c, r: count.__setitem__(0, count[0] + 1))
    try:
        with eng.connect():
            pass
        eng.dispose()
        with eng.connect():
            pass
    finally:
        eng.dispose()
    assert count[0] == 2


def test_engine_connect_and_transaction_events(engine: Any, notes: Table) -> None:
    """engine_connect fires per Connection; begin/commit/rollback per transaction,
    including autobegun ones."""
    log: list[str] = []
    event.listen(engine, "engine_connect", lambda conn: log.append("connect"))
    for name in ("begin", "commit", "rollback"):
        event.listen(engine, name, lambda conn, _n=name: log.append(_n))
    with engine.connect() as conn:
        conn.execute(insert(notes), {"body": "a"})
        conn.commit()
        conn.execute(select(notes))
        conn.rollback()
    with engine.begin() as conn:
        pass
    assert log == ["connect", "begin", "commit", "begin", "rollback",
                   "connect", "begin", "commit"]


def test_failing_engine_connect_listener_returns_connection(backend: Any) -> None:
    """If an engine_connect listener raises, connect() raises and the pooled
    connection goes back to the pool."""
    eng = create_engine(backend.url, pool_size=1, max_overflow=0, pool_timeout=0.2)

    def refuse(conn: Any) -> None:
        raise RuntimeError("not today")

    event.listen(eng, "engine_connect", refuse)
    try:
        with pytest.raises(RuntimeError, match="not today"):
            eng.connect()
        event.remove(eng, "engine_connect", refuse)
        with eng.connect() as conn:  # would time out if the first checkout leaked
            assert conn.scalar(text("SELECT 1")) == 1
    finally:
        eng.dispose()


def test_close_with_transaction_fires_rollback(engine: Any) -> None:
    """Closing a connection mid-transaction fires 'rollback'."""
    log: list[str] = []
    event.listen(engine, "rollback", lambda conn: log.append("rollback"))
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    assert log == ["rollback"]


def test_listener_on_connection_instance_is_local(engine: Any) -> None:
    """A listener added to one Connection fires for it only; an engine listener fires
    for every connection."""
    local: list[str] = []
    everywhere: list[str] = []
    event.listen(engine, "before_cursor_execute",
                 lambda c, cur, s, p, ctx, m: everywhere.append(s))
    with engine.connect() as c1, engine.connect() as c2:
        event.listen(c1, "before_cursor_execute",
                     lambda c, cur, s, p, ctx, m: local.append(s))
        c1.execute(text("SELECT 1"))
        c2.execute(text("SELECT 2"))
    assert local == ["SELECT 1"]
    assert everywhere == ["SELECT 1", "SELECT 2"]


def test_listener_on_connection_class(engine: Any) -> None:
    """A listener on the Connection class fires for every connection of every engine."""
    seen: list[str] = []

    def listener(conn: Any, cur: Any, stmt: str, params: Any, ctx: Any, many: bool) -> None:
        seen.append(stmt)

    event.listen(Connection, "before_cursor_execute", listener)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 7"))
    finally:
        event.remove(Connection, "before_cursor_execute", listener)
    with engine.connect() as conn:
        conn.execute(text("SELECT 8"))
    assert seen == ["SELECT 7"]


def test_option_engine_shares_parent_listeners(engine: Any) -> None:
    """Listeners on an engine fire for connections of its execution_options() copies,
    but not the other way round."""
    parent_seen: list[str] = []
    child_seen: list[str] = []
    child = engine.execution_options(foo="bar")
    event.listen(engine, "before_cursor_execute",
                 lambda c, cur, s, p, ctx, m: parent_seen.append(s))
    event.listen(child, "before_cursor_execute",
                 lambda c, cur, s, p, ctx, m: child_seen.append(s))
    with child.connect() as conn:
        assert conn.get_execution_options()["foo"] == "bar"
        conn.execute(text("SELECT 1"))
    with engine.connect() as conn:
        conn.execute(text("SELECT 2"))
    assert parent_seen == ["SELECT 1", "SELECT 2"]
    assert child_seen == ["SELECT 1"]


def test_pool_checkout_checkin_events(engine: Any) -> None:
    """Pool events registered through the engine fire on connect() and close()."""
    log: list[str] = []
    event.listen(engine, "checkout", lambda dbapi, rec, proxy: log.append("out"))
    event.listen(engine, "checkin", lambda dbapi, rec: log.append("in"))
    with engine.connect():
        assert log == ["out"]
    assert log == ["out", "in"]


def test_unknown_event_name(engine: Any) -> None:
    """Listening for an event that doesn't exist raises InvalidRequestError."""
    with pytest.raises(exc.InvalidRequestError, match="No such event"):
        event.listen(engine, "before_frobnicate", lambda: None)
