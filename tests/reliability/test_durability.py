"""Durability and atomicity across process death: a child process commits
through a docket Session and dies at once (``os._exit``) -- the rows are there
when the database is reopened; a child that dies (``os._exit`` or SIGKILL)
after its flush but before its commit leaves no trace and no lock behind.

Runs on a SQLite file (rollback journal and WAL) and on the PostgreSQL test
server.  The heavy variant kills a child at a random moment of a loop of
commits: every acknowledged transaction is there, every transaction is all or
nothing.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import docket

ROWS_PER_TXN = 5
SRC_DIR = str(Path(docket.__file__).resolve().parent.parent)

#: the child: ``python -c CHILD <url> <mode>``; prints progress lines on stdout
CHILD = r"""
import os, sys, time
from docket import String, create_engine, select
from docket.orm import DeclarativeBase, Mapped, Session, mapped_column

class Base(DeclarativeBase):
    pass

class Durable(Base):
    __tablename__ = "durable"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    txn: Mapped[int]
    payload: Mapped[str] = mapped_column(String(50))

url, mode = sys.argv[1], sys.argv[2]
engine = create_engine(url)
s = Session(engine)

def work(txn):
    s.add_all([Durable(id=txn * 100 + i, txn=txn, payload=f"t{txn}-{i}")
               for i in range(ROWS)])
    seed = s.get(Durable, 0)
    seed.payload = f"touched by {txn}"

def say(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()

if mode == "commit-exit":
    work(1)
    s.commit()
    os._exit(0)                      # no close(), no dispose(), no atexit
elif mode == "flush-exit":
    work(1)
    s.flush()
    os._exit(0)
elif mode == "flush-wait":           # the parent SIGKILLs us
    work(1)
    s.flush()
    say("flushed")
    time.sleep(60)
    os._exit(3)                      # the parent never killed us: fail visibly
elif mode == "loop":                 # commit until SIGKILLed at a random moment
    deadline = time.monotonic() + 60
    txn = 1
    while time.monotonic() < deadline:
        work(txn)
        s.commit()
        say(f"committed {txn}")
        txn += 1
    os._exit(3)
else:
    raise SystemExit(f"unknown mode {mode!r}")
"""


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (SRC_DIR, env.get("PYTHONPATH")) if p)
    return env


def spawn(url: str, mode: str) -> subprocess.Popen[str]:
    """Start the child process in ``mode`` against ``url``."""
    code = CHILD.replace("ROWS", str(ROWS_PER_TXN))
    return subprocess.Popen(
        [sys.executable, "-c", code, url, mode], stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, env=_child_env(),
    )


def finish(proc: subprocess.Popen[str], timeout: float = 60) -> tuple[int, str, str]:
    """Wait for the child; return (exit code, stdout, stderr)."""
    try:
        out, err = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, out, err


@pytest.fixture(params=["sqlite-file", "sqlite-wal",
                        pytest.param("postgresql", marks=pytest.mark.postgresql)])
def durable_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """``(backend name, url)`` of a database whose table ``durable`` holds the seed row 0."""
    if request.param == "postgresql":
        server = request.getfixturevalue("pg_server")
        server.reset_schema()
        url = server.url()
    else:
        url = f"sqlite:///{tmp_path / 'durable.db'}"
    engine = docket.create_engine(url)
    try:
        if request.param == "sqlite-wal":  # outside a transaction; persists in the file
            with engine.connect() as conn:
                conn = conn.execution_options(isolation_level="AUTOCOMMIT")
                assert conn.exec_driver_sql("PRAGMA journal_mode=WAL").scalar() == "wal"
        with engine.begin() as conn:
            conn.exec_driver_sql(
                "CREATE TABLE durable (id INTEGER PRIMARY KEY, txn INTEGER NOT NULL, "
                "payload VARCHAR(50) NOT NULL)"
            )
            conn.exec_driver_sql("INSERT INTO durable VALUES (0, 0, 'seed')")
    finally:
        engine.dispose()
    yield request.param, url


def reopen_rows(url: str) -> list[tuple[int, int, str]]:
    """Every row, read through a brand-new engine (a reopened database)."""
    engine = docket.create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.exec_driver_sql("SELECT id, txn, payload FROM durable ORDER BY id")
            return [tuple(r) for r in rows.all()]
    finally:
        engine.dispose()


def assert_writable(url: str) -> None:
    """The seed row can be updated at once: the dead child holds no lock."""
    engine = docket.create_engine(url)
    try:
        with engine.begin() as conn:
            if url.startswith("postgresql"):
                conn.exec_driver_sql("SET LOCAL lock_timeout = '10s'")
            conn.exec_driver_sql("UPDATE durable SET payload = 'parent' WHERE id = 0")
        with engine.begin() as conn:
            conn.exec_driver_sql("UPDATE durable SET payload = 'seed' WHERE id = 0")
    finally:
        engine.dispose()


def committed_rows(txn: int) -> list[tuple[int, int, str]]:
    return [(txn * 100 + i, txn, f"t{txn}-{i}") for i in range(ROWS_PER_TXN)]


def test_commit_then_exit_is_durable(durable_db: tuple[str, str],
                                     reliability_tally: Callable[[str], Counter[str]]) -> None:
    """A child that commits and calls os._exit(0) at once: every row is there on reopen."""
    name, durable_url = durable_db
    code, _out, err = finish(spawn(durable_url, "commit-exit"))
    assert code == 0, err
    assert reopen_rows(durable_url) == [(0, 0, "touched by 1"), *committed_rows(1)]
    assert_writable(durable_url)
    reliability_tally(name)["child processes died"] += 1


def test_exit_after_flush_leaves_no_trace(durable_db: tuple[str, str],
                                          reliability_tally: Callable[[str], Counter[str]]) -> None:
    """A child that flushes and calls os._exit(0) without committing leaves no row and no lock."""
    name, durable_url = durable_db
    code, _out, err = finish(spawn(durable_url, "flush-exit"))
    assert code == 0, err
    assert reopen_rows(durable_url) == [(0, 0, "seed")]
    assert_writable(durable_url)
    reliability_tally(name)["child processes died"] += 1


def test_sigkill_after_flush_leaves_no_trace(durable_db: tuple[str, str],
                                             reliability_tally: Callable[[str], Counter[str]]) -> None:
    """A child SIGKILLed while its flushed transaction is open leaves no row and no lock."""
    name, durable_url = durable_db
    proc = spawn(durable_url, "flush-wait")
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.strip() == "flushed", f"child said {line!r}"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        code, _out, err = finish(proc)
    assert code == -signal.SIGKILL, (code, err)
    assert reopen_rows(durable_url) == [(0, 0, "seed")]
    assert_writable(durable_url)
    reliability_tally(name)["child processes died"] += 1


@pytest.mark.heavy
def test_sigkill_at_random_moments_loses_no_acknowledged_commit(
    durable_db: tuple[str, str], reliability_scale: int,
    reliability_tally: Callable[[str], Counter[str]],
) -> None:
    """Children SIGKILLed at random moments of a commit loop: acknowledged commits survive, none is partial."""
    name, durable_url = durable_db
    rng = random.Random(7)
    tally: Counter[str] = Counter()
    for _round in range(2 * reliability_scale):
        proc = spawn(durable_url, "loop")
        acked = 0
        try:
            assert proc.stdout is not None
            first = proc.stdout.readline()  # the child is up and committing
            assert first.startswith("committed"), first
            acked = 1
            time.sleep(rng.uniform(0.0, 0.3))
            os.kill(proc.pid, signal.SIGKILL)
        finally:
            code, out, err = finish(proc)
        assert code == -signal.SIGKILL, (code, err)
        acked = max([acked] + [int(x.split()[1]) for x in out.splitlines() if x])
        rows = reopen_rows(durable_url)
        by_txn = Counter(txn for _id, txn, _p in rows if txn)
        present = sorted(by_txn)
        assert all(by_txn[t] == ROWS_PER_TXN for t in present), f"partial transaction: {by_txn}"
        assert present == list(range(1, len(present) + 1)), present
        # every acknowledged commit is there; at most one more (committed, not yet printed)
        assert acked <= len(present) <= acked + 1, (acked, present)
        assert rows[0] == (0, 0, f"touched by {present[-1]}")
        for _id, txn, payload in rows[1:]:
            assert payload.startswith(f"t{txn}-")
        tally["acknowledged"] += acked
        tally["killed mid-loop"] += 1
        assert_writable(durable_url)
        engine = docket.create_engine(durable_url)
        with engine.begin() as conn:  # the next round starts clean
            conn.exec_driver_sql("DELETE FROM durable WHERE id <> 0")
        engine.dispose()
    assert tally["killed mid-loop"] == 2 * reliability_scale
    reliability_tally(name)["child processes died"] += tally["killed mid-loop"]
    reliability_tally(name)["acknowledged commits checked"] += tally["acknowledged"]
