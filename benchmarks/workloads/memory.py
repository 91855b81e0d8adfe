"""8. Memory: bytes retained per loaded user (``tracemalloc``).

Measured: everything allocated while loading N users and still alive while
the result is held -- objects, their strings, the list and, for the ORMs,
instance states and the identity map.  Floor: ``Plain`` objects (ordinary
class, no ``__slots__``) holding the same four values.
"""

from __future__ import annotations

from typing import Any

from benchmarks.harness import Config, Measure, Probe
from benchmarks.models import Plain
from benchmarks.workloads._sql import SELECT_USERS, check

TITLE = "bytes retained per loaded object"


def measures(cfg: Config) -> list[Measure]:
    return [Measure("bytes", "8 memory per loaded object", per=cfg.n, kind="bytes",
                    goal={"sqlite": ("floor", 2.0)})]


def raw(db: Any, cfg: Config, probe: Probe) -> None:
    db.fill_users(cfg.n)
    with probe.retained("bytes"):
        users = [Plain(*row) for row in db.conn.execute(SELECT_USERS).fetchall()]
    db.conn.commit()
    check(len(users) == cfg.n, "N users loaded")


def orm(db: Any, cfg: Config, probe: Probe) -> None:
    db.fill_users(cfg.n)
    with db.lib.Session(db.engine) as session:
        with probe.retained("bytes"):
            users = session.scalars(db.lib.select(db.User)).all()
        check(len(users) == cfg.n, "N users loaded")
