"""3. Update: change one attribute on N loaded users, ``commit``.

Timed: the N attribute changes, the UPDATEs and COMMIT (the load before is
not timed).  Floor: ``executemany`` of one UPDATE per row -- it knows every
row changed, so it tracks nothing.
"""

from __future__ import annotations

from typing import Any

from benchmarks.harness import Config, Measure, Probe
from benchmarks.models import Plain
from benchmarks.workloads._sql import SELECT_USERS, check

TITLE = "change one attribute on N loaded users, commit"


def measures(cfg: Config) -> list[Measure]:
    return [Measure("update", "3 update N (1 attribute, commit)", per=cfg.n,
                    goal={"sqlite": ("floor", 4.0), "postgresql": ("floor", 1.5)})]


def raw(db: Any, cfg: Config, probe: Probe) -> None:
    db.fill_users(cfg.n)
    users = [Plain(*row) for row in db.conn.execute(SELECT_USERS).fetchall()]
    db.conn.commit()
    with probe.time("update"):
        for user in users:
            user.age += 1
        cur = db.conn.cursor()
        cur.executemany(db.q("UPDATE users SET age = ? WHERE users.id = ?"),
                        [(u.age, u.id) for u in users])
        db.conn.commit()
    _verify(db, sum(u.age for u in users))


def orm(db: Any, cfg: Config, probe: Probe) -> None:
    db.fill_users(cfg.n)
    with db.lib.Session(db.engine) as session:
        users = session.scalars(db.lib.select(db.User)).all()
        expected = sum(u.age for u in users) + len(users)
        with probe.time("update"):
            for user in users:
                user.age += 1
            session.commit()
    _verify(db, expected)


def _verify(db: Any, expected: int) -> None:
    check(db.scalar("SELECT sum(age) FROM users") == expected, "every row's age went up by 1")
