"""Concurrency: many threads, one ``scoped_session`` registry, shared rows.

* Read-modify-write increments of a few shared counters with a
  ``version_id_col``: every conflict surfaces as a ``docket.exc`` error
  (``StaleDataError``; on SQLite also ``OperationalError`` "database is
  locked"), the retry loop (rollback + retry) completes, and each final
  counter equals the increments the threads counted as committed -- no lost
  update.  PostgreSQL also runs at REPEATABLE READ, where conflicts arrive as
  serialization failures (``docket.exc.OperationalError``).
* One Session used from two threads at once: the second caller is refused
  with a clear ``InvalidRequestError``; the session stays usable and nothing
  it accepted is lost.

Size: ``THREADS`` x ``TXNS`` transactions (CI size); ``@pytest.mark.heavy``
variants multiply ``TXNS`` by ``DOCKET_RELIABILITY_SCALE`` (fixture
``reliability_scale``).  Each run prints its figures (``pytest -s``) and adds
them to the reliability tally printed at the end of the run.
"""

from __future__ import annotations

import random
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from docket import String, event, func, select
from docket import exc as dexc
from docket.orm import DeclarativeBase, Mapped, Session, mapped_column, scoped_session, sessionmaker
from docket.orm.exc import StaleDataError

THREADS = 8
TXNS = 100  # per thread, CI size
ROWS = 3
MAX_ATTEMPTS = 2000  # per increment: a retry loop that never completes fails the test

_CONCURRENT = "being used concurrently"


class Base(DeclarativeBase):
    pass


class Counted(Base):
    __tablename__ = "rel_counted"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    value: Mapped[int] = mapped_column(default=0)
    version_id: Mapped[int] = mapped_column(nullable=False)
    __mapper_args__ = {"version_id_col": version_id}


class Note(Base):
    __tablename__ = "rel_notes"
    id: Mapped[int] = mapped_column(primary_key=True)
    text: Mapped[str] = mapped_column(String(40))


_PG = pytest.param("postgresql", marks=pytest.mark.postgresql)
on_shared_databases = pytest.mark.parametrize("backend", ["sqlite-file", _PG], indirect=True)


@pytest.fixture
def db(engine: Any) -> Any:
    """The backend's engine with this module's tables and ``ROWS`` zeroed counters."""
    Base.metadata.create_all(engine)
    with Session(engine) as s, s.begin():
        s.add_all([Counted(id=i, value=0) for i in range(1, ROWS + 1)])
    return engine


# -- read-modify-write under contention -----------------------------------------------------
@dataclass
class Load:
    """What the worker threads did, merged after they finish."""

    committed: Counter[int] = field(default_factory=Counter)  # row id -> increments
    conflicts: Counter[str] = field(default_factory=Counter)  # error class -> count
    messages: dict[str, str] = field(default_factory=dict)  # error class -> one message
    sessions: set[int] = field(default_factory=set)
    failures: list[BaseException] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def retries(self) -> int:
        return sum(self.conflicts.values())


def _increment_once(registry: scoped_session, row: int, load: Load) -> None:
    """Increment ``row`` in its own transaction, retrying on conflicts."""
    for _attempt in range(MAX_ATTEMPTS):
        session = registry()
        try:
            counted = session.get(Counted, row)
            assert counted is not None
            counted.value += 1
            session.commit()
        except (StaleDataError, dexc.OperationalError) as err:
            # a conflict: the version moved (StaleDataError), or the database
            # refused (serialization failure / SQLite busy) -- both docket errors
            session.rollback()
            name = type(err).__name__
            with load.lock:
                load.conflicts[name] += 1
                load.messages.setdefault(name, str(err).splitlines()[0][:160])
            continue
        with load.lock:
            load.committed[row] += 1
        return
    raise AssertionError(f"increment of row {row} did not commit in {MAX_ATTEMPTS} attempts")


def _run_load(engine: Any, threads: int, txns: int, seed: int) -> tuple[Load, float]:
    """``threads`` workers x ``txns`` increments through one scoped_session
    registry; returns the merged load and the wall time in seconds."""
    registry = scoped_session(sessionmaker(engine))
    load = Load()
    start = threading.Barrier(threads)

    def worker(n: int) -> None:
        rng = random.Random(seed * 1000 + n)
        try:
            start.wait()
            with load.lock:
                load.sessions.add(id(registry()))
            for _ in range(txns):
                _increment_once(registry, rng.randint(1, ROWS), load)
        except BaseException as err:  # surfaced by the main thread
            with load.lock:
                load.failures.append(err)
        finally:
            registry.remove()

    workers = [threading.Thread(target=worker, args=(n,), name=f"rmw-{n}")
               for n in range(threads)]
    began = time.perf_counter()
    for t in workers:
        t.start()
    for t in workers:
        t.join(timeout=600)
    wall = time.perf_counter() - began
    assert not any(t.is_alive() for t in workers), "a worker thread hung"
    return load, wall


def _check_no_lost_update(engine: Any, load: Load, threads: int, txns: int) -> None:
    """Every counted increment is in the database, and nothing else is."""
    assert not load.failures, f"worker errors: {load.failures[:3]!r}"
    assert len(load.sessions) == threads, "scoped_session must give each thread its own Session"
    assert sum(load.committed.values()) == threads * txns
    with Session(engine) as s:
        rows = {c.id: (c.value, c.version_id) for c in s.scalars(select(Counted))}
    assert sorted(rows) == list(range(1, ROWS + 1))
    for row, (value, version) in rows.items():
        assert value == load.committed[row], f"row {row}: lost or phantom update"
        assert version == value + 1, f"row {row}: one version step per committed update"


def _report(label: str, load: Load, threads: int, txns: int, wall: float,
            tally: Counter[str]) -> None:
    tally["concurrency transactions"] += threads * txns
    tally["concurrency conflicts retried"] += load.retries
    print(f"\n[concurrency {label}] {threads} threads x {txns} txns = {threads * txns} "
          f"increments on {ROWS} rows; conflicts retried {load.retries} "
          f"{dict(load.conflicts)}; wall {wall:.2f}s; first messages {load.messages}")


def _assert_conflicts_are_docket_errors(load: Load, allowed: set[str],
                                        expect_some: bool = True) -> None:
    assert set(load.conflicts) <= allowed, f"unexpected conflict kinds {dict(load.conflicts)}"
    if expect_some:
        assert load.retries > 0, "no conflict happened: the retry path was not exercised"


@on_shared_databases
def test_read_modify_write_no_lost_update(db: Any, backend: Any, fault_tally: Any) -> None:
    """8 threads x 100 versioned increments: conflicts are docket errors, none is lost."""
    threads, txns = (THREADS, TXNS) if backend.is_postgresql else (4, 40)
    load, wall = _run_load(db, threads, txns, seed=1)
    _report(backend.name, load, threads, txns, wall, fault_tally)
    _check_no_lost_update(db, load, threads, txns)
    if backend.is_postgresql:  # READ COMMITTED: the version check catches every conflict
        _assert_conflicts_are_docket_errors(load, {"StaleDataError"})
    else:  # SQLite serializes writers: a conflict is "database is locked" (or stale data)
        _assert_conflicts_are_docket_errors(load, {"StaleDataError", "OperationalError"},
                                            expect_some=False)


@pytest.mark.parametrize("backend", [_PG], indirect=True)
def test_repeatable_read_conflicts_are_docket_errors(backend: Any, plain_engine: Any,
                                                     fault_tally: Any,
                                                     request: pytest.FixtureRequest) -> None:
    """REPEATABLE READ: serialization failures are docket OperationalErrors; nothing lost."""
    request.getfixturevalue("pg_server").reset_schema()
    engine = plain_engine(backend.url, isolation_level="REPEATABLE READ")
    Base.metadata.create_all(engine)
    with Session(engine) as s, s.begin():
        s.add_all([Counted(id=i, value=0) for i in range(1, ROWS + 1)])
    load, wall = _run_load(engine, THREADS, TXNS // 2, seed=2)
    _report("postgresql REPEATABLE READ", load, THREADS, TXNS // 2, wall, fault_tally)
    _check_no_lost_update(engine, load, THREADS, TXNS // 2)
    _assert_conflicts_are_docket_errors(load, {"StaleDataError", "OperationalError"})
    assert "could not serialize" in load.messages.get("OperationalError", ""), load.messages


@pytest.mark.heavy
@on_shared_databases
def test_read_modify_write_heavy(db: Any, backend: Any, reliability_scale: int,
                                 fault_tally: Any) -> None:
    """Heavy: 8 threads x (250 on PostgreSQL, 60 on SQLite) x SCALE increments."""
    txns = 250 * reliability_scale if backend.is_postgresql else 60 * reliability_scale
    load, wall = _run_load(db, THREADS, txns, seed=3)
    _report(f"{backend.name} heavy", load, THREADS, txns, wall, fault_tally)
    _check_no_lost_update(db, load, THREADS, txns)


# -- one Session, two threads -----------------------------------------------------------------
@pytest.fixture
def notes_engine(engine: Any) -> Any:
    """The backend's engine with this module's tables (no counters needed)."""
    Base.metadata.create_all(engine)
    return engine


class _InsideFlush:
    """Runs ``session.flush()`` on a thread that stops inside it (in a
    ``before_flush`` listener) until ``release()``."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.entered = threading.Event()
        self.go_on = threading.Event()
        self.error: BaseException | None = None
        self.ident = 0
        self._listener = self._hold  # one bound-method object, to remove it again
        event.listen(session, "before_flush", self._listener)
        self.thread = threading.Thread(target=self._run, name="flusher")

    def _hold(self, session: Session, flush_context: Any, instances: Any) -> None:
        self.entered.set()
        assert self.go_on.wait(30), "the test never released the flushing thread"

    def _run(self) -> None:
        self.ident = threading.get_ident()
        try:
            self.session.flush()
        except BaseException as err:
            self.error = err

    def __enter__(self) -> _InsideFlush:
        self.thread.start()
        assert self.entered.wait(30), "the flushing thread never entered flush()"
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.go_on.set()
        self.thread.join(30)
        event.remove(self.session, "before_flush", self._listener)
        assert self.error is None, f"the flushing thread failed: {self.error!r}"


def _refused_calls(session: Session, persistent: Note, stranger: Note) -> dict[
        str, Callable[[], Any]]:
    """Every state-changing entry point, as a thunk to call from a second thread."""
    return {
        "add": lambda: session.add(stranger),
        "add_all": lambda: session.add_all([stranger]),
        "delete": lambda: session.delete(persistent),
        "merge": lambda: session.merge(Note(id=persistent.id, text="merged")),
        "expunge": lambda: session.expunge(persistent),
        "expunge_all": session.expunge_all,
        "expire": lambda: session.expire(persistent),
        "expire_all": session.expire_all,
        "refresh": lambda: session.refresh(persistent),
        "flush": session.flush,
        "commit": session.commit,
        "rollback": session.rollback,
        "close": session.close,
        "execute": lambda: session.execute(select(Note)),
        "scalars": lambda: session.scalars(select(Note)),
        "get": lambda: session.get(Note, 10_000),
        "begin_nested": session.begin_nested,
        "connection": session.connection,
        "bulk_insert_mappings": lambda: session.bulk_insert_mappings(Note, [{"text": "b"}]),
    }


def test_second_thread_is_refused_while_one_flushes(notes_engine: Any) -> None:
    """While A is in flush(), B's state-changing calls are refused and change nothing."""
    with Session(notes_engine) as session:
        persistent = Note(text="kept")
        session.add(persistent)
        session.commit()
        persistent_id = persistent.id
        session.add(Note(text="flushed by A"))
        stranger = Note(text="refused")
        with _InsideFlush(session) as flusher:
            refused: dict[str, str] = {}
            for name, call in _refused_calls(session, persistent, stranger).items():
                with pytest.raises(dexc.InvalidRequestError, match=_CONCURRENT) as info:
                    call()
                refused[name] = str(info.value)
            me = threading.get_ident()
        for name, message in refused.items():
            assert f"thread {me} called" in message, (name, message)
            assert f"thread {flusher.ident} is inside flush()" in message, (name, message)
            assert "scoped_session" in message and "not thread-safe" in message
        assert "add()" in refused["add"] and "commit()" in refused["commit"]
        # nothing the refused calls asked for happened
        assert stranger not in session and persistent in session
        assert session.in_transaction() and session.is_active
        session.commit()
        texts = sorted(session.scalars(select(Note.text)).all())
        assert texts == ["flushed by A", "kept"]
        assert session.get(Note, persistent_id) is persistent


def test_same_thread_nested_calls_still_work(notes_engine: Any) -> None:
    """Flush/commit listeners calling back into their own session are not refused."""
    seen: list[Any] = []
    with Session(notes_engine) as session:

        @event.listens_for(session, "before_flush")
        def before_flush(s: Session, ctx: Any, instances: Any) -> None:
            seen.append(s.scalar(select(func.count()).select_from(Note)))
            seen.append(s.get(Note, 10_000))
            s.add(Note(text="added in before_flush"))

        @event.listens_for(session, "before_commit")
        def before_commit(s: Session) -> None:
            seen.append(len(s.scalars(select(Note)).all()))

        session.add(Note(text="first"))
        session.commit()
        assert seen == [0, None, 2]
        assert session.scalar(select(func.count()).select_from(Note)) == 2


def test_sequential_handoff_between_threads_is_allowed(notes_engine: Any) -> None:
    """A Session handed from thread to thread (never shared at once) keeps working."""
    session = Session(notes_engine)
    errors: list[BaseException] = []

    def step(text: str, commit: bool) -> None:
        try:
            session.add(Note(text=text))
            session.flush()
            if commit:
                session.commit()
        except BaseException as err:
            errors.append(err)

    for n in range(4):
        t = threading.Thread(target=step, args=(f"note {n}", n == 3))
        t.start()
        t.join()
    try:
        assert not errors
        assert session.scalar(select(func.count()).select_from(Note)) == 4
    finally:
        session.close()


def test_two_threads_hammering_one_session(notes_engine: Any, backend: Any) -> None:
    """Two threads on one Session get only the clear error; every accepted add commits."""
    batches, batch = 20, 400
    session = Session(notes_engine)
    accepted = Counter[str]()
    refused = Counter[str]()
    unexpected: list[BaseException] = []
    done = threading.Event()
    lock = threading.Lock()

    def guarded(kind: str, call: Callable[[], Any]) -> bool:
        try:
            call()
        except dexc.InvalidRequestError as err:
            if _CONCURRENT not in str(err):
                unexpected.append(err)
                done.set()  # fail fast instead of retrying forever
                return True
            with lock:
                refused[kind] += 1
            return False
        except BaseException as err:
            unexpected.append(err)
            done.set()
            return True
        return True

    def flusher() -> None:
        try:
            for n in range(batches):
                if unexpected:
                    return
                objs = [Note(text=f"a{n}-{i}") for i in range(batch)]
                while not guarded("A add_all", lambda objs=objs: session.add_all(objs)):
                    time.sleep(0.001)
                accepted["A"] += len(objs)
                while not guarded("A flush", session.flush):
                    time.sleep(0.001)
                time.sleep(0.002)  # let B in between batches too
        finally:
            done.set()

    def adder() -> None:
        n = 0
        while not done.is_set():
            n += 1
            if guarded("B add", lambda n=n: session.add(Note(text=f"b{n}"))):
                accepted["B"] += 1
            guarded("B get", lambda n=n: session.get(Note, 10_000_000 + n))
            guarded("B select", lambda: session.execute(
                select(Note.id).where(Note.text == "b1")).all())
            time.sleep(0.0002)

    threads = [threading.Thread(target=flusher), threading.Thread(target=adder)]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # switch threads often: overlap inside the guard itself
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(300)
    finally:
        sys.setswitchinterval(interval)
    try:
        assert not unexpected, f"not the clear error: {unexpected[:3]!r}"
        assert sum(refused.values()) > 0, "the threads never overlapped"
        # the state is defined: everything accepted is pending or flushed, and commits
        session.commit()
        rows = session.scalar(select(func.count()).select_from(Note))
        assert rows == accepted["A"] + accepted["B"], (rows, accepted, refused)
        # and the session is usable again after a rollback
        session.add(Note(text="after"))
        session.rollback()
        session.add(Note(text="after"))
        session.commit()
        assert session.scalar(select(func.count()).select_from(Note)) == rows + 1
    finally:
        session.close()
    print(f"\n[one session, two threads {backend.name}] accepted {dict(accepted)}, "
          f"refused {dict(refused)}")
