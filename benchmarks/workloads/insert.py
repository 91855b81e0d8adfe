"""1. Insert N new users: ``add_all`` + ``commit``, primary keys fetched back.

Timed: building the N objects from prepared values, the INSERTs, fetching every
new key onto its object, COMMIT.  Floor: one INSERT per row with
``lastrowid`` (SQLite) or one pipelined ``executemany(..., returning=True)``
(psycopg), keys matched to objects in order.
"""

from __future__ import annotations

from typing import Any

from benchmarks.harness import Config, Measure, Probe
from benchmarks.models import Plain
from benchmarks.workloads._sql import check, insert_returning_ids, user_values

TITLE = "insert N users (add_all + commit, keys fetched back)"


def measures(cfg: Config) -> list[Measure]:
    return [Measure("insert", "1 insert N (add_all + commit)", per=cfg.n,
                    goal={"sqlite": ("floor", 4.0), "postgresql": ("floor", 1.5)})]


def raw(db: Any, cfg: Config, probe: Probe) -> None:
    db.clear()
    values = user_values(cfg.n)
    with probe.time("insert"):
        users = [Plain(None, name, email, age) for name, email, age in values]
        cur = db.conn.cursor()
        ids = insert_returning_ids(db, cur, "INSERT INTO users (name, email, age) VALUES (?, ?, ?)",
                                   [(u.name, u.email, u.age) for u in users])
        for user, key in zip(users, ids):
            user.id = key
        db.conn.commit()
    _verify(db, cfg, {u.id for u in users})


def orm(db: Any, cfg: Config, probe: Probe) -> None:
    db.clear()
    values = user_values(cfg.n)
    User = db.User
    with db.lib.Session(db.engine) as session:
        with probe.time("insert"):
            users = [User(name=name, email=email, age=age) for name, email, age in values]
            session.add_all(users)
            session.commit()
        # the keys are on the (now expired) objects' identities: reading them loads nothing
        _verify(db, cfg, {db.lib.inspect(u).identity[0] for u in users})


def _verify(db: Any, cfg: Config, ids: set[Any]) -> None:
    check(len(ids) == cfg.n and None not in ids, "every new object got its own key")
    check(db.scalar("SELECT count(*) FROM users") == cfg.n, "N rows in users")
