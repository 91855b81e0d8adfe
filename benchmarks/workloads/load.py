"""2. Load N users with ``select(User)``.

Timed: the SELECT and building N objects (docket/SQLAlchemy: in a fresh
session, identity map included).  Floor: ``fetchall()`` and ``Plain(*row)``.
"""

from __future__ import annotations

from typing import Any

from benchmarks.harness import Config, Measure, Probe
from benchmarks.models import Plain
from benchmarks.workloads._sql import SELECT_USERS, check

TITLE = "load N users with select(User)"


def measures(cfg: Config) -> list[Measure]:
    return [Measure("load", "2 load N, select(User)", per=cfg.n, goal={"sqlite": ("floor", 3.0)})]


def raw(db: Any, cfg: Config, probe: Probe) -> None:
    db.fill_users(cfg.n)
    with probe.time("load"):
        cur = db.conn.cursor()
        cur.execute(SELECT_USERS)
        users = [Plain(*row) for row in cur.fetchall()]
    db.conn.commit()
    check(len(users) == cfg.n and bool(users[-1].email), "N users loaded")


def orm(db: Any, cfg: Config, probe: Probe) -> None:
    db.fill_users(cfg.n)
    select, User = db.lib.select, db.User
    with db.lib.Session(db.engine) as session:
        with probe.time("load"):
            users = session.scalars(select(User)).all()
        check(len(users) == cfg.n and bool(users[-1].email), "N users loaded")
