"""4. Get by primary key: 10,000 distinct keys in a fresh session (identity-map
miss: one SELECT each), then the same keys again (hit: no SQL; the best of
``HIT_PASSES`` passes, as one pass takes only milliseconds).

Floor: one parameterised SELECT per key building a ``Plain``, kept in a dict;
the "hit" floor is that dict's lookup.
"""

from __future__ import annotations

import random
from typing import Any

from benchmarks.harness import Config, Measure, Probe
from benchmarks.models import Plain
from benchmarks.workloads._sql import SELECT_USERS, check

TITLE = "session.get() of distinct keys: miss, then identity-map hit"
HIT_PASSES = 5


def measures(cfg: Config) -> list[Measure]:
    return [
        Measure("miss", f"4 get by pk, miss ({cfg.gets:,} keys)", per=cfg.gets,
                goal={"sqlite": ("floor", 3.0)}),
        Measure("hit", "4 get by pk, identity-map hit", per=cfg.gets,
                goal={"sqlite": ("abs", 1.0)}),
    ]


def _keys(cfg: Config) -> list[int]:
    keys = list(range(1, cfg.gets + 1))
    random.Random(6).shuffle(keys)  # the same order for every implementation
    return keys


def raw(db: Any, cfg: Config, probe: Probe) -> None:
    db.fill_users(cfg.n)
    keys = _keys(cfg)
    sql = db.q(f"{SELECT_USERS} WHERE users.id = ?")
    found: dict[int, Plain] = {}
    cur = db.conn.cursor()
    with probe.time("miss"):
        for key in keys:
            cur.execute(sql, (key,))
            found[key] = Plain(*cur.fetchone())
    for _ in range(HIT_PASSES):
        with probe.time("hit", best_block=True):
            got = [found.get(key) for key in keys]
    db.conn.commit()
    check(all(u is not None and u.id == k for u, k in zip(got, keys)), "every key found")


def orm(db: Any, cfg: Config, probe: Probe) -> None:
    db.fill_users(cfg.n)
    keys = _keys(cfg)
    User = db.User
    with db.lib.Session(db.engine) as session:
        with probe.time("miss"):
            held = [session.get(User, key) for key in keys]  # held: the map is weak
        for _ in range(HIT_PASSES):
            with probe.time("hit", best_block=True):
                got = [session.get(User, key) for key in keys]
        check(all(a is b and a.id == k for a, b, k in zip(held, got, keys)),
              "every key found, the same object both times")
