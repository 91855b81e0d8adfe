"""9. Scaling: a flush of one changed object while the session holds 100,000
clean objects, against the same flush with 10 held.

A unit of work that diffs snapshots pays for every held object at each flush;
one that records changes as they happen pays only for the changed one, so the
ratio should be ~1.  Timed: ``cfg.flushes`` rounds of (change one attribute of
one object, ``session.flush()``) in one transaction, in blocks of ``BLOCK``
rounds after one untimed warm-up block; the best block is reported, per flush
(a block lasts about a millisecond, so the best one is the flush's cost without
another process's interruptions).  The changed object rotates over the first
10 held in both sessions, so both do exactly the same UPDATEs (on PostgreSQL
each row gathers the same number of row versions; the table is filled afresh
before each size, so neither inherits the other's dead versions).  Floor: one
UPDATE per round (it has no session, so its ratio is ~1 by construction).
"""

from __future__ import annotations

from contextlib import nullcontext
from typing import Any

from benchmarks.harness import Config, Measure, Probe
from benchmarks.models import Plain
from benchmarks.workloads._sql import SELECT_USERS, check

TITLE = "flush of one change with 100,000 vs 10 clean objects held"
SMALL = 10
BLOCK = 20


def measures(cfg: Config) -> list[Measure]:
    return [
        Measure("small", f"9 flush 1 change, {SMALL} held", per=BLOCK, unit="us/flush"),
        Measure("big", f"9 flush 1 change, {cfg.held:,} held", per=BLOCK,
                unit="us/flush"),
        Measure("ratio", f"9 scaling: {cfg.held:,} / {SMALL} held", kind="ratio",
                of=("big", "small"), goal={"sqlite": ("self", 1.5)}),
    ]


def _blocks(cfg: Config) -> int:
    return max(1, cfg.flushes // BLOCK)


def raw(db: Any, cfg: Config, probe: Probe) -> None:
    sql = db.q("UPDATE users SET age = ? WHERE users.id = ?")
    for key, count in (("small", SMALL), ("big", cfg.held)):
        db.fill_users(cfg.held)
        users = [Plain(*r) for r in db.conn.execute(
            f"{SELECT_USERS} ORDER BY users.id LIMIT {count}").fetchall()]
        cur = db.conn.cursor()
        for block in range(_blocks(cfg) + 1):  # block 0: warm-up
            with probe.time(key, best_block=True) if block else nullcontext():
                for i in range(BLOCK):
                    target = users[i % SMALL]
                    target.age += 1
                    cur.execute(sql, (target.age, target.id))
        db.conn.commit()
        check(len(users) == count, f"{count} users held")


def orm(db: Any, cfg: Config, probe: Probe) -> None:
    select, User = db.lib.select, db.User
    for key, count in (("small", SMALL), ("big", cfg.held)):
        db.fill_users(cfg.held)
        with db.lib.Session(db.engine) as session:
            users = session.scalars(select(User).order_by(User.id).limit(count)).all()
            for block in range(_blocks(cfg) + 1):  # block 0: warm-up
                with probe.time(key, best_block=True) if block else nullcontext():
                    for i in range(BLOCK):
                        target = users[i % SMALL]
                        target.age += 1
                        session.flush()
            session.commit()
            check(len(users) == count and len(session.identity_map) == count,
                  f"{count} users held")
