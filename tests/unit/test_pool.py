"""Tests for docket.engine.pool: checkout/checkin, limits, events, invalidation."""

from __future__ import annotations

import gc
import itertools
import sqlite3
import threading
import time
from typing import Any

import pytest

from docket import event, exc
from docket.engine.pool import (
    NullPool,
    Pool,
    PoolProxiedConnection,
    QueuePool,
    SingletonThreadPool,
    StaticPool,
)


class FakeCursor:
    def __init__(self, conn: FakeConnection) -> None:
        self.conn = conn

    def execute(self, sql: str, params: Any = ()) -> None:
        if not self.conn.alive:
            raise sqlite3.OperationalError("server closed the connection unexpectedly")
        self.conn.executed.append(sql)

    def close(self) -> None:
        pass


class FakeConnection:
    """A DB-API connection that records what the pool does to it."""

    ids = itertools.count(1)

    def __init__(self) -> None:
        self.id = next(FakeConnection.ids)
        self.alive = True
        self.closed = 0
        self.rollbacks = 0
        self.commits = 0
        self.executed: list[str] = []

    def cursor(self) -> FakeCursor:
        return FakeCursor(self)

    def rollback(self) -> None:
        if not self.alive:
            raise sqlite3.OperationalError("connection lost")
        self.rollbacks += 1

    def commit(self) -> None:
        self.commits += 1

    def close(self) -> None:
        self.closed += 1


class Factory:
    """A creator that remembers every connection it made."""

    def __init__(self) -> None:
        self.made: list[FakeConnection] = []
        self.lock = threading.Lock()
        self.fail = False

    def __call__(self) -> FakeConnection:
        if self.fail:
            raise sqlite3.OperationalError("could not connect to server")
        conn = FakeConnection()
        with self.lock:
            self.made.append(conn)
        return conn


def sqlite_creator() -> sqlite3.Connection:
    return sqlite3.connect(":memory:", check_same_thread=False)


# --- QueuePool -------------------------------------------------------------------


def test_checkout_returns_usable_sqlite_connection() -> None:
    """A checked-out proxy runs SQL on a real sqlite3 connection."""
    pool = QueuePool(sqlite_creator)
    conn = pool.connect()
    assert isinstance(conn, PoolProxiedConnection)
    cur = conn.cursor()
    cur.execute("select 1 + 1")
    assert cur.fetchone() == (2,)
    assert isinstance(conn.dbapi_connection, sqlite3.Connection)
    assert conn.driver_connection is conn.dbapi_connection
    conn.close()
    assert pool.checkedin() == 1


def test_connection_is_reused_and_rolled_back_on_return() -> None:
    """close() rolls back and returns the DB-API connection; the next checkout reuses it."""
    factory = Factory()
    pool = QueuePool(factory, pool_size=2)
    c1 = pool.connect()
    raw = c1.dbapi_connection
    c1.close()
    assert raw.rollbacks == 1
    c1.close()  # idempotent
    assert raw.rollbacks == 1
    c2 = pool.connect()
    assert c2.dbapi_connection is raw
    assert len(factory.made) == 1
    c2.close()


def test_use_after_close_raises() -> None:
    """A proxy that was returned refuses further use with a clear error."""
    pool = QueuePool(Factory())
    conn = pool.connect()
    conn.close()
    with pytest.raises(exc.ResourceClosedError, match="already returned to the pool"):
        conn.cursor()
    assert not conn.is_valid
    assert conn.info == {} and not conn.is_detached


def test_reset_on_return_modes() -> None:
    """reset_on_return chooses rollback, commit or nothing at checkin."""
    for mode, rollbacks, commits in [(True, 1, 0), ("commit", 0, 1), (None, 0, 0)]:
        factory = Factory()
        pool = QueuePool(factory, reset_on_return=mode)
        pool.connect().close()
        assert (factory.made[0].rollbacks, factory.made[0].commits) == (rollbacks, commits)
    with pytest.raises(exc.ArgumentError, match="reset_on_return"):
        QueuePool(Factory(), reset_on_return="bogus")


def test_counts_and_status() -> None:
    """size/checkedin/checkedout/overflow/status agree with what was checked out."""
    pool = QueuePool(Factory(), pool_size=2, max_overflow=1)
    conns = [pool.connect() for _ in range(3)]
    assert (pool.size(), pool.checkedin(), pool.checkedout(), pool.overflow()) == (2, 0, 3, 1)
    assert pool.status() == (
        "Pool size: 2  Connections in pool: 0 Current Overflow: 1 "
        "Current Checked out connections: 3"
    )
    for c in conns:
        c.close()
    assert (pool.checkedin(), pool.checkedout(), pool.overflow()) == (2, 0, 0)


def test_overflow_connections_closed_on_checkin() -> None:
    """Connections beyond pool_size are closed when returned to a full pool."""
    factory = Factory()
    pool = QueuePool(factory, pool_size=2, max_overflow=2)
    conns = [pool.connect() for _ in range(4)]
    for c in conns:
        c.close()
    closed = [c.closed for c in factory.made]
    assert sorted(closed) == [0, 0, 1, 1]
    assert pool.checkedin() == 2


def test_timeout_raises_timeout_error() -> None:
    """An exhausted pool raises TimeoutError after waiting about `timeout` seconds."""
    pool = QueuePool(Factory(), pool_size=1, max_overflow=1, timeout=0.2)
    held = [pool.connect(), pool.connect()]
    start = time.monotonic()
    with pytest.raises(exc.TimeoutError) as info:
        pool.connect()
    assert time.monotonic() - start >= 0.15
    message = str(info.value)
    assert "QueuePool limit of size 1 overflow 1 reached" in message
    assert "timeout 0.20" in message
    assert "pool_size/max_overflow" in message
    for c in held:
        c.close()


def test_waiter_gets_connection_returned_by_another_thread() -> None:
    """A blocked connect() succeeds when another thread returns a connection."""
    pool = QueuePool(Factory(), pool_size=1, max_overflow=0, timeout=5)
    held = pool.connect()
    timer = threading.Timer(0.1, held.close)
    timer.start()
    got = pool.connect()
    assert got.is_valid
    got.close()
    timer.join()


def test_unlimited_overflow() -> None:
    """max_overflow=-1 lets any number of connections be checked out."""
    pool = QueuePool(Factory(), pool_size=1, max_overflow=-1, timeout=0)
    conns = [pool.connect() for _ in range(20)]
    assert pool.checkedout() == 20
    for c in conns:
        c.close()
    assert pool.checkedin() == 1


def test_failed_creator_does_not_leak_a_slot() -> None:
    """A creator that raises gives its reserved slot back to the pool."""
    factory = Factory()
    pool = QueuePool(factory, pool_size=1, max_overflow=0, timeout=0)
    factory.fail = True
    for _ in range(3):
        with pytest.raises(sqlite3.OperationalError):
            pool.connect()
    assert pool.checkedout() == 0
    factory.fail = False
    conn = pool.connect()  # would time out if a slot had leaked
    assert conn.is_valid
    conn.close()


def test_many_threads_never_exceed_limit() -> None:
    """20 threads hammering connect/close never exceed pool_size + max_overflow."""
    factory = Factory()
    pool = QueuePool(factory, pool_size=3, max_overflow=2, timeout=10)
    limit = 5
    lock = threading.Lock()
    current = 0
    peak = 0
    errors: list[BaseException] = []

    def worker() -> None:
        nonlocal current, peak
        try:
            for _ in range(50):
                conn = pool.connect()
                with lock:
                    current += 1
                    peak = max(peak, current)
                conn.cursor().execute("select 1")
                time.sleep(0.0005)
                with lock:
                    current -= 1
                conn.close()
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert 1 < peak <= limit
    assert pool.checkedout() == 0
    assert pool.checkedin() == 3
    assert pool.overflow() == 0  # 3 idle connections, pool_size 3
    # Exactly the idle connections are open; every other one was closed once.
    assert sum(1 for c in factory.made if c.closed == 0) == 3
    assert all(c.closed in (0, 1) for c in factory.made)
    assert len(factory.made) <= 3 + 20 * 50


def test_lifo_reuses_most_recent() -> None:
    """use_lifo=True hands out the most recently returned connection first."""
    pool = QueuePool(Factory(), pool_size=3, use_lifo=True)
    a, b = pool.connect(), pool.connect()
    raw_a, raw_b = a.dbapi_connection, b.dbapi_connection
    a.close()
    b.close()
    c = pool.connect()
    assert c.dbapi_connection is raw_b
    c.close()
    fifo = QueuePool(Factory(), pool_size=3)
    a, b = fifo.connect(), fifo.connect()
    raw_a = a.dbapi_connection
    a.close()
    b.close()
    c = fifo.connect()
    assert c.dbapi_connection is raw_a
    c.close()


def test_dispose_closes_idle_and_later_returned() -> None:
    """dispose() closes idle connections now and checked-out ones on checkin."""
    factory = Factory()
    pool = QueuePool(factory, pool_size=2)
    a, b = pool.connect(), pool.connect()
    raw_a, raw_b = a.dbapi_connection, b.dbapi_connection
    a.close()
    pool.dispose()
    assert raw_a.closed == 1
    assert raw_b.closed == 0
    assert pool.checkedin() == 0
    b.close()
    assert raw_b.closed == 1
    assert pool.checkedin() == 0
    c = pool.connect()
    assert c.dbapi_connection not in (raw_a, raw_b)
    c.close()


def test_recreate_keeps_settings_and_listeners() -> None:
    """recreate() gives an empty pool with the same settings and instance listeners."""
    factory = Factory()
    pool = QueuePool(factory, pool_size=4, max_overflow=3, timeout=7, pre_ping=True)
    seen: list[Any] = []
    event.listen(pool, "connect", lambda conn, rec: seen.append(conn))
    pool.connect().close()
    new = pool.recreate()
    assert isinstance(new, QueuePool)
    assert (new.size(), new._max_overflow, new.timeout(), new._pre_ping) == (4, 3, 7, True)
    assert new.checkedin() == 0
    new.connect().close()
    assert len(seen) == 2


# --- events ----------------------------------------------------------------------


def test_connect_event_fires_once_per_new_dbapi_connection() -> None:
    """'connect' fires for each new DB-API connection, 'first_connect' once per pool."""
    factory = Factory()
    pool = QueuePool(factory, pool_size=2, max_overflow=0)
    connects: list[Any] = []
    firsts: list[Any] = []
    event.listen(pool, "connect", lambda conn, rec: connects.append(conn))
    event.listen(pool, "first_connect", lambda conn, rec: firsts.append(conn))
    for _ in range(5):
        a, b = pool.connect(), pool.connect()
        a.close()
        b.close()
    assert connects == factory.made
    assert len(connects) == 2
    assert firsts == [factory.made[0]]


def test_connect_listener_on_pool_class_applies_to_instances() -> None:
    """A listener on the QueuePool class runs a PRAGMA on every new sqlite connection."""

    def on_connect(dbapi_conn: Any, record: Any) -> None:
        dbapi_conn.execute("PRAGMA foreign_keys=ON")

    event.listen(QueuePool, "connect", on_connect)
    try:
        pool = QueuePool(sqlite_creator)
        conn = pool.connect()
        assert conn.cursor().execute("PRAGMA foreign_keys").fetchone() == (1,)
        conn.close()
        other = NullPool(sqlite_creator).connect()
        assert other.cursor().execute("PRAGMA foreign_keys").fetchone() == (0,)
        other.close()
    finally:
        event.remove(QueuePool, "connect", on_connect)


def test_checkout_checkin_reset_events() -> None:
    """checkout, reset and checkin fire with the DB-API connection and record."""
    pool = QueuePool(Factory())
    log: list[tuple[str, Any]] = []
    event.listen(pool, "checkout", lambda c, r, proxy: log.append(("checkout", proxy)))
    event.listen(pool, "reset", lambda c, r, state: log.append(("reset", c)))
    event.listen(pool, "checkin", lambda c, r: log.append(("checkin", c)))
    conn = pool.connect()
    raw = conn.dbapi_connection
    conn.close()
    assert log == [("checkout", conn), ("reset", raw), ("checkin", raw)]


def test_checkout_listener_disconnection_error_gets_new_connection() -> None:
    """A checkout listener raising DisconnectionError makes the pool reconnect."""
    factory = Factory()
    pool = QueuePool(factory)
    pool.connect().close()
    calls = []

    def on_checkout(conn: Any, rec: Any, proxy: Any) -> None:
        calls.append(conn)
        if len(calls) == 1:
            raise exc.DisconnectionError("stale")

    event.listen(pool, "checkout", on_checkout)
    conn = pool.connect()
    assert conn.dbapi_connection is factory.made[1]
    assert factory.made[0].closed == 1
    conn.close()


# --- invalidation and pre-ping ---------------------------------------------------


def test_invalidate_gives_new_connection_and_fires_event() -> None:
    """invalidate() closes the DB-API connection, fires 'invalidate'; next checkout reconnects."""
    factory = Factory()
    pool = QueuePool(factory, pool_size=1, max_overflow=0)
    invalidated: list[tuple[Any, Any]] = []
    event.listen(pool, "invalidate", lambda c, r, e: invalidated.append((c, e)))
    conn = pool.connect()
    raw = conn.dbapi_connection
    error = RuntimeError("boom")
    conn.invalidate(error)
    assert invalidated == [(raw, error)]
    assert raw.closed == 1
    assert conn.invalidated and not conn.is_valid
    with pytest.raises(exc.InvalidRequestError, match="invalidated"):
        conn.cursor()
    conn.close()  # harmless after invalidation
    again = pool.connect()  # pool_size=1: slot was returned by invalidate
    assert again.dbapi_connection is not raw
    assert len(factory.made) == 2
    again.close()


def test_soft_invalidate_replaces_at_checkin() -> None:
    """A soft-invalidated connection keeps working, then is replaced when returned."""
    factory = Factory()
    pool = QueuePool(factory)
    conn = pool.connect()
    raw = conn.dbapi_connection
    conn.invalidate(soft=True)
    conn.cursor().execute("select 1")
    assert raw.closed == 0
    conn.close()
    assert raw.closed == 1
    nxt = pool.connect()
    assert nxt.dbapi_connection is not raw
    nxt.close()


def test_pre_ping_replaces_dead_connection() -> None:
    """With pre_ping, a dead idle connection is invalidated and replaced silently."""
    factory = Factory()
    pool = QueuePool(factory, pre_ping=True)
    invalidated: list[Any] = []
    event.listen(pool, "invalidate", lambda c, r, e: invalidated.append(c))
    conn = pool.connect()
    raw = conn.dbapi_connection
    conn.close()
    assert raw.executed == []  # a fresh connection is not pinged
    again = pool.connect()
    assert raw.executed == ["SELECT 1"]  # a pooled one is
    again.close()
    raw.alive = False  # the server went away while idle
    replaced = pool.connect()
    assert replaced.dbapi_connection is not raw
    assert invalidated == [raw]
    assert raw.closed == 1
    replaced.cursor().execute("select 1")
    replaced.close()


def test_pre_ping_reconnect_failure_propagates() -> None:
    """If the replacement connection cannot be made, the creator's error propagates."""
    factory = Factory()
    pool = QueuePool(factory, pool_size=1, max_overflow=0, timeout=0, pre_ping=True)
    pool.connect().close()
    factory.made[0].alive = False
    factory.fail = True
    with pytest.raises(sqlite3.OperationalError, match="could not connect"):
        pool.connect()
    factory.fail = False
    conn = pool.connect()  # the slot went back to the pool
    assert conn.dbapi_connection is factory.made[1]
    conn.close()


def test_pre_ping_uses_dialect() -> None:
    """A dialect's do_ping, do_rollback and do_close replace the DB-API calls."""

    class Dialect:
        def __init__(self) -> None:
            self.calls: list[str] = []

        def do_ping(self, conn: Any) -> bool:
            self.calls.append("ping")
            return False

        def do_rollback(self, conn: Any) -> None:
            self.calls.append("rollback")

        def do_close(self, conn: Any) -> None:
            self.calls.append("close")

    dialect = Dialect()
    factory = Factory()
    pool = QueuePool(factory, pre_ping=True, dialect=dialect)
    pool.connect().close()
    conn = pool.connect()
    assert dialect.calls == ["rollback", "ping", "close"]
    assert conn.dbapi_connection is factory.made[1]
    assert factory.made[0].closed == 0  # dialect's do_close was used instead
    conn.close()


def test_failed_reset_invalidates_connection() -> None:
    """A connection whose rollback fails on return is discarded, not reused."""
    factory = Factory()
    pool = QueuePool(factory)
    conn = pool.connect()
    raw = conn.dbapi_connection
    raw.alive = False
    conn.close()
    assert raw.closed == 1
    nxt = pool.connect()
    assert nxt.dbapi_connection is not raw
    nxt.close()


def test_recycle_replaces_old_connection() -> None:
    """A connection older than `recycle` seconds is replaced at checkout."""
    factory = Factory()
    pool = QueuePool(factory, recycle=0.05)
    pool.connect().close()
    time.sleep(0.1)
    conn = pool.connect()
    assert conn.dbapi_connection is factory.made[1]
    assert factory.made[0].closed == 1
    conn.close()


# --- info, detach, garbage collection ---------------------------------------------


def test_info_persists_across_checkins() -> None:
    """proxy.info lives with the DB-API connection; record_info with the record."""
    pool = QueuePool(Factory(), pool_size=1, max_overflow=0)
    conn = pool.connect()
    conn.info["key"] = "value"
    assert conn.record_info is not None
    conn.record_info["r"] = 1
    conn.close()
    conn = pool.connect()
    assert conn.info == {"key": "value"}
    conn.invalidate()
    conn = pool.connect()
    assert conn.info == {}  # a new DB-API connection starts empty
    assert conn.record_info == {"r": 1}
    conn.close()


def test_detach_frees_slot_and_close_closes() -> None:
    """detach() frees the pool slot; closing the detached proxy closes the connection."""
    factory = Factory()
    pool = QueuePool(factory, pool_size=1, max_overflow=0, timeout=0)
    conn = pool.connect()
    conn.info["x"] = 1
    conn.detach()
    assert conn.is_detached and conn.info == {"x": 1} and conn.record_info is None
    other = pool.connect()
    assert other.dbapi_connection is not conn.dbapi_connection
    raw = conn.dbapi_connection
    conn.close()
    assert raw.closed == 1 and raw.rollbacks == 0
    other.close()


def test_garbage_collected_proxy_is_returned() -> None:
    """A proxy dropped without close() goes back to the pool at the next connect()."""
    factory = Factory()
    pool = QueuePool(factory, pool_size=1, max_overflow=0, timeout=0)
    conn = pool.connect()
    raw = conn.dbapi_connection
    del conn
    gc.collect()
    again = pool.connect()
    assert again.dbapi_connection is raw
    assert raw.rollbacks == 1
    again.close()


def test_delegates_unknown_attributes() -> None:
    """Attributes the proxy does not define are read from the DB-API connection."""
    pool = QueuePool(sqlite_creator)
    with pool.connect() as conn:
        assert conn.in_transaction is False
        assert conn.execute("select 3").fetchone() == (3,)
    assert pool.checkedin() == 1


def test_echo_logs_checkout_and_checkin(caplog: pytest.LogCaptureFixture) -> None:
    """echo=True logs checkouts and checkins on the docket.pool logger at DEBUG."""
    pool = QueuePool(Factory(), echo=True, logging_name="mypool")
    with caplog.at_level("DEBUG", logger="docket.pool"):
        pool.connect().close()
    text = caplog.text
    assert "[mypool] Connection" in text
    assert "checked out from pool" in text
    assert "being returned to pool" in text
    quiet = QueuePool(Factory())
    caplog.clear()
    with caplog.at_level("DEBUG", logger="docket.pool"):
        quiet.connect().close()
    assert caplog.text == ""


# --- other pools -----------------------------------------------------------------


def test_static_pool_shares_one_connection() -> None:
    """StaticPool gives every checkout the same DB-API connection, so memory data is shared."""
    pool = StaticPool(sqlite_creator)
    a, b = pool.connect(), pool.connect()
    assert a.dbapi_connection is b.dbapi_connection
    a.cursor().execute("create table t (x)")
    a.cursor().execute("insert into t values (1)")
    a.commit()
    assert b.cursor().execute("select x from t").fetchall() == [(1,)]
    a.close()
    b.close()
    c = pool.connect()
    assert c.cursor().execute("select count(*) from t").fetchone() == (1,)
    c.close()


def test_static_pool_dispose_closes_connection() -> None:
    """StaticPool.dispose() closes the shared connection; the next checkout makes a new one."""
    factory = Factory()
    pool = StaticPool(factory)
    pool.connect().close()
    pool.dispose()
    assert factory.made[0].closed == 1
    conn = pool.connect()
    assert conn.dbapi_connection is factory.made[1]
    conn.close()
    assert factory.made[1].closed == 0


def test_null_pool_opens_and_closes_each_time() -> None:
    """NullPool makes a new DB-API connection per checkout and closes it on checkin."""
    factory = Factory()
    pool = NullPool(factory)
    for _ in range(3):
        pool.connect().close()
    assert len(factory.made) == 3
    assert [c.closed for c in factory.made] == [1, 1, 1]
    assert pool.status() == "NullPool"


def test_singleton_thread_pool_one_connection_per_thread() -> None:
    """SingletonThreadPool reuses a thread's connection and gives other threads their own."""
    factory = Factory()
    pool = SingletonThreadPool(factory)
    a = pool.connect()
    b = pool.connect()
    assert a is b  # nested checkout in one thread shares the proxy
    b.close()
    assert a.is_valid  # still held by the outer checkout
    a.close()
    seen: list[Any] = []

    def worker() -> None:
        c = pool.connect()
        seen.append(c.dbapi_connection)
        c.close()

    t = threading.Thread(target=worker)
    t.start()
    t.join()
    again = pool.connect()
    assert again.dbapi_connection is factory.made[0]
    assert seen == [factory.made[1]]
    again.close()
    pool.dispose()
    assert [c.closed for c in factory.made] == [1, 1]


def test_base_pool_class_listener_reaches_all_pools() -> None:
    """A listener on the Pool base class fires for every kind of pool."""
    seen: list[str] = []

    def on_connect(conn: Any, rec: Any) -> None:
        seen.append("x")

    event.listen(Pool, "connect", on_connect)
    try:
        for cls in (QueuePool, NullPool, StaticPool, SingletonThreadPool):
            cls(Factory()).connect().close()
    finally:
        event.remove(Pool, "connect", on_connect)
    assert seen == ["x"] * 4
