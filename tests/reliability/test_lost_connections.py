"""Lost connections: a PostgreSQL backend terminated mid-transaction
(``pg_terminate_backend``), at every call of a mixed commit, and a server
restarted between transactions; on SQLite, the driver connection closed under
the session at every call.

The contract: the error is a docket.exc error whose message says the
connection was lost (``connection_invalidated`` is True); the pool invalidates
that connection; ``rollback()`` works and leaves the objects as after any
rollback; the same session (or the next one) works on a fresh connection; no
committed row is lost and no uncommitted one appears.  ``pool_pre_ping=True``
hides a server restart completely; without it the first use fails cleanly
and the next one works.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
import test_fault_injection as fi  # the mixed unit of work and its checks

from docket import event, inspect, select
from docket import exc as dexc
from docket.orm import DeclarativeBase, Mapped, Session, mapped_column
from docket.testing import FailurePlan, Fault

LOST = "connection to the database was lost"


class Base(DeclarativeBase):
    pass


class Account(Base):
    __tablename__ = "lost_account"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    owner: Mapped[str]
    balance: Mapped[int]


def terminate(server: Any, pid: int) -> None:
    """Terminate backend ``pid`` from another connection and wait until it is gone."""
    with server.admin_connection() as admin:
        assert admin.execute("SELECT pg_terminate_backend(%s, 10000)", (pid,)).fetchone() == (True,)


def backend_pid(session: Session) -> int:
    """The PostgreSQL backend serving the session's current transaction."""
    return int(session.connection().exec_driver_sql("SELECT pg_backend_pid()").scalar())


def check_lost(err: BaseException) -> None:
    """``err`` is docket's report of a lost connection."""
    assert isinstance(err, dexc.DBAPIError), f"{type(err).__name__}: {err}"
    assert err.connection_invalidated is True, f"connection_invalidated is False: {err}"
    assert LOST in str(err), str(err)


@pytest.fixture
def pg_engine(pg_server: Any, plain_engine: Callable[..., Any]) -> Callable[..., Any]:
    """``pg_engine(**kw)``: an engine on the emptied test database, with two
    committed accounts; every ``invalidate`` pool event is appended to
    ``engine.invalidations`` (a list attribute set here)."""
    pg_server.reset_schema()

    def make(**kw: Any) -> Any:
        engine = plain_engine(pg_server.url(), **kw)
        engine.invalidations = []
        event.listen(engine, "invalidate",
                     lambda dbapi_conn, record, e: engine.invalidations.append(e))
        return engine

    setup = make()
    Base.metadata.create_all(setup)
    with Session(setup) as s:
        s.add_all([Account(id=1, owner="ann", balance=100), Account(id=2, owner="bob", balance=50)])
        s.commit()
    setup.dispose()
    return make


def accounts(engine: Any) -> list[tuple[int, str, int]]:
    """Every committed account row, read on a new connection."""
    with engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT id, owner, balance FROM lost_account ORDER BY id")
        return [tuple(r) for r in rows.all()]


@pytest.mark.postgresql
def test_backend_terminated_mid_transaction(
        pg_server: Any, pg_engine: Callable[..., Any],
        reliability_tally: Callable[[str], Counter[str]]) -> None:
    """pg_terminate_backend mid-transaction: lost-connection error, invalidated, rollback() restores, redo commits."""
    engine = pg_engine()
    s = Session(engine)
    ann = s.get(Account, 1)
    assert ann is not None
    ann.balance = 0
    carl = Account(id=3, owner="carl", balance=1)
    s.add(carl)
    s.flush()
    pid = backend_pid(s)
    terminate(pg_server, pid)
    s.add(Account(id=4, owner="dora", balance=2))
    with pytest.raises(dexc.OperationalError) as info:
        s.flush()
    check_lost(info.value)
    assert "INSERT INTO lost_account" in str(info.value)
    assert len(engine.invalidations) == 1, engine.invalidations
    with pytest.raises(dexc.PendingRollbackError):
        s.execute(select(Account))
    s.rollback()  # the dead connection is not asked to roll back
    assert inspect(carl).transient and inspect(ann).persistent
    assert ann.balance == 100  # expired, reloaded on a new connection
    assert backend_pid(s) != pid
    assert accounts(engine) == [(1, "ann", 100), (2, "bob", 50)]
    ann.balance = 0
    s.add(carl)
    s.commit()
    s.close()
    with Session(engine) as other:  # the next session works too
        assert other.scalars(select(Account.owner).order_by(Account.id)).all() == [
            "ann", "bob", "carl"]
    assert accounts(engine) == [(1, "ann", 0), (2, "bob", 50), (3, "carl", 1)]
    with pg_server.admin_connection() as admin:
        alive = admin.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", (pid,))
        assert alive.fetchone() == (0,)
    reliability_tally("postgresql")["lost connections"] += 1


@pytest.mark.postgresql
def test_backend_terminated_while_idle_between_transactions(
        pg_server: Any, pg_engine: Callable[..., Any],
        reliability_tally: Callable[[str], Counter[str]]) -> None:
    """A pooled connection whose backend was terminated fails on next use, then the pool recovers."""
    engine = pg_engine()
    with Session(engine) as s:
        pid = backend_pid(s)
        s.commit()
    terminate(pg_server, pid)  # the connection sits idle in the pool
    with Session(engine) as s:
        with pytest.raises(dexc.OperationalError) as info:
            s.get(Account, 1)
        check_lost(info.value)
        s.rollback()
        assert s.get(Account, 1) is not None  # the same session, on a new connection
    assert accounts(engine) == [(1, "ann", 100), (2, "bob", 50)]
    reliability_tally("postgresql")["lost connections"] += 1


# -- lost connection at every call of the mixed commit -------------------------------------

@contextmanager
def pg_kill_at(w: fi.World, server: Any, pid: int, k: int) -> Iterator[list[int]]:
    """Terminate backend ``pid`` just before call ``k`` (statements and COMMIT,
    counted as :func:`fi.fault_points` does) runs."""
    seen = [0]
    fired: list[int] = []

    def tick(*_args: Any) -> None:
        if seen[0] == k:
            terminate(server, pid)
            fired.append(k)
        seen[0] += 1

    event.listen(w.engine, "before_cursor_execute", tick)
    event.listen(w.engine, "commit", tick)
    try:
        yield fired
    finally:
        event.remove(w.engine, "before_cursor_execute", tick)
        event.remove(w.engine, "commit", tick)


@pytest.fixture(params=["sqlite-file", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def lost_world(request: pytest.FixtureRequest, tmp_path: Any,
               plain_engine: Callable[..., Any]) -> fi.World:
    """The fault-injection world on a SQLite file or PostgreSQL (a lost
    connection to ``sqlite://`` would lose the whole database)."""
    if request.param == "postgresql":
        backend = _Backend("postgresql", request.getfixturevalue("pg_server").url())
    else:
        backend = _Backend("sqlite-file", f"sqlite:///{tmp_path / 'lost.db'}")
    return fi.open_world(backend, request, plain_engine)


@dataclass(frozen=True)
class _Backend:
    """What :func:`fi.open_world` needs to know about a backend."""

    name: str
    url: str

    @property
    def is_sqlite(self) -> bool:
        return self.name.startswith("sqlite")

    @property
    def is_postgresql(self) -> bool:
        return self.name == "postgresql"


def test_connection_lost_at_every_call_of_a_mixed_commit(
        lost_world: fi.World, request: pytest.FixtureRequest,
        reliability_tally: Callable[[str], Counter[str]]) -> None:
    """The connection dies before each call of a mixed commit: clear error, nothing written, redo commits."""
    w = lost_world
    name = "postgresql" if "postgresql" in request.node.callspec.id else "sqlite-file"
    fi.seed(w.engine, 1)
    s, _fams = fi._start(w, 1)
    with w.recorder.capture() as calls:
        s.commit()
    s.close()
    points = fi.fault_points(list(calls))
    server = request.getfixturevalue("pg_server") if name == "postgresql" else None
    killed = 0
    for k, (call, fault) in enumerate(points):
        fi.seed(w.engine, 1)
        before = w.read(fi.raw_rows)
        s, fams = fi._start(w, 1)
        inject: AbstractContextManager[Any]
        if server is not None:
            inject = pg_kill_at(w, server, backend_pid(s), k)
        else:
            inject = w.recorder.failing(FailurePlan(Fault(fault.on, fault.index, disconnect=True)))
        with inject as fired:
            with pytest.raises(dexc.DBAPIError) as info:
                s.commit()
        assert (fired.fired if isinstance(fired, FailurePlan) else fired), f"no kill at call {k}"
        killed += 1
        check_lost(info.value)
        assert info.value.statement == call.sql, (info.value.statement, call.sql)
        s.rollback()
        assert w.read(fi.raw_rows) == before, f"rows changed by lost connection at call {k}"
        for f in fams:
            f.check_rolled_back(s, flush_failed=call.sql != "COMMIT")
        if call.sql != "COMMIT":  # see test_readd_after_failed_commit for the COMMIT case
            fi._redo(s, fams)
            s.commit()
            assert w.read(fi.logical_view) == fi.final_view(1), f"redo after call {k}"
        s.close()
    assert killed == len(points) >= 13
    reliability_tally(name)["lost connections"] += killed


# -- server restart between transactions ----------------------------------------------------

def bounce(server: Any) -> None:
    """Restart the server; an external one (DOCKET_TEST_PG_URL) cannot be
    restarted, so every other backend of the test database is terminated."""
    if server.managed:
        server.restart()
        return
    with server.admin_connection() as admin:
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                      "WHERE datname = current_database() AND pid <> pg_backend_pid()")


def fill_pool(engine: Any, n: int) -> None:
    """Leave ``n`` idle connections in the pool (all used in one moment)."""
    conns = [engine.connect() for _ in range(n)]
    for c in conns:
        c.exec_driver_sql("SELECT 1").all()
    for c in conns:
        c.close()


@pytest.mark.postgresql
def test_server_restart_with_pre_ping_is_transparent(
        pg_server: Any, pg_engine: Callable[..., Any],
        reliability_tally: Callable[[str], Counter[str]]) -> None:
    """pool_pre_ping=True: after a server restart every session just works, nothing is lost."""
    engine = pg_engine(pool_pre_ping=True)
    fill_pool(engine, 3)
    bounce(pg_server)
    for owner_id in (1, 2):  # each checkout pings a stale connection and replaces it
        with Session(engine) as s:
            acct = s.get(Account, owner_id)
            assert acct is not None
            acct.balance += 1
            s.commit()
    with Session(engine) as s:
        s.add(Account(id=3, owner="carl", balance=7))
        s.commit()
    assert accounts(engine) == [(1, "ann", 101), (2, "bob", 51), (3, "carl", 7)]
    reliability_tally("postgresql")["server restarts"] += 1


@pytest.mark.postgresql
def test_server_restart_without_pre_ping_fails_once(
        pg_server: Any, pg_engine: Callable[..., Any],
        reliability_tally: Callable[[str], Counter[str]]) -> None:
    """Without pre-ping the first use after a restart fails cleanly; the next works, nothing is lost."""
    engine = pg_engine()
    fill_pool(engine, 3)
    bounce(pg_server)
    with Session(engine) as s:
        with pytest.raises(dexc.OperationalError) as info:
            s.get(Account, 1)
        check_lost(info.value)
    assert engine.invalidations, "the pool did not invalidate the dead connection"
    with Session(engine) as s:  # the pool dropped its other stale connections too
        acct = s.get(Account, 1)
        assert acct is not None
        acct.balance += 1
        s.commit()
    assert accounts(engine) == [(1, "ann", 101), (2, "bob", 50)]
    reliability_tally("postgresql")["server restarts"] += 1
