"""5. Delete N users: load them, ``session.delete`` each, ``commit``.

Timed: the SELECT, building N objects, the DELETEs and COMMIT.  Floor:
``fetchall()`` into ``Plain`` objects, then ``executemany`` of one DELETE per
row.
"""

from __future__ import annotations

from typing import Any

from benchmarks.harness import Config, Measure, Probe
from benchmarks.models import Plain
from benchmarks.workloads._sql import SELECT_USERS, check

TITLE = "load N users, delete each, commit"


def measures(cfg: Config) -> list[Measure]:
    return [Measure("delete", "5 delete N (load, delete, commit)", per=cfg.n,
                    goal={"sqlite": ("floor", 4.0), "postgresql": ("floor", 1.5)})]


def raw(db: Any, cfg: Config, probe: Probe) -> None:
    db.fill_users(cfg.n)
    with probe.time("delete"):
        cur = db.conn.cursor()
        cur.execute(SELECT_USERS)
        users = [Plain(*row) for row in cur.fetchall()]
        cur.executemany(db.q("DELETE FROM users WHERE users.id = ?"), [(u.id,) for u in users])
        db.conn.commit()
    check(db.scalar("SELECT count(*) FROM users") == 0, "every row deleted")


def orm(db: Any, cfg: Config, probe: Probe) -> None:
    db.fill_users(cfg.n)
    with db.lib.Session(db.engine) as session:
        with probe.time("delete"):
            users = session.scalars(db.lib.select(db.User)).all()
            for user in users:
                session.delete(user)
            session.commit()
    check(db.scalar("SELECT count(*) FROM users") == 0, "every row deleted")
