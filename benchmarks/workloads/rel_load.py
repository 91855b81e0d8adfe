"""7. Load the parents with ``selectinload`` of their children.

ORM: ``select(Parent).options(selectinload(Parent.children))`` in a fresh
session: one SELECT of parents, then SELECTs of children ``WHERE parent_id IN
(...)`` in chunks of 500 keys.  Floor: the same statements by hand, children
appended to their parent's list.  Per object = per row (parents + children).
"""

from __future__ import annotations

from typing import Any

from benchmarks.harness import Config, Measure, Probe
from benchmarks.models import CHILDREN_PER_PARENT, PlainChild, PlainParent
from benchmarks.workloads._sql import check

TITLE = "load parents with selectinload(Parent.children)"
CHUNK = 500


def measures(cfg: Config) -> list[Measure]:
    rows = cfg.parents * (1 + CHILDREN_PER_PARENT)
    return [Measure("load", f"7 load {cfg.parents:,} parents + selectinload",
                    per=rows, goal={"sqlite": ("floor", 4.0)})]


def raw(db: Any, cfg: Config, probe: Probe) -> None:
    db.fill_family(cfg.parents)
    mark = db.q("?")
    with probe.time("load"):
        cur = db.conn.cursor()
        cur.execute("SELECT parents.id, parents.name FROM parents")
        parents = [PlainParent(*row) for row in cur.fetchall()]
        by_id = {p.id: p for p in parents}
        keys = list(by_id)
        for i in range(0, len(keys), CHUNK):
            chunk = keys[i:i + CHUNK]
            cur.execute("SELECT children.id, children.parent_id, children.name FROM children "
                        f"WHERE children.parent_id IN ({', '.join([mark] * len(chunk))})", chunk)
            for row in cur.fetchall():
                by_id[row[1]].children.append(PlainChild(*row))
        db.conn.commit()
    _verify(cfg, parents)


def orm(db: Any, cfg: Config, probe: Probe) -> None:
    db.fill_family(cfg.parents)
    select, selectinload, Parent = db.lib.select, db.lib.selectinload, db.Parent
    with db.lib.Session(db.engine) as session:
        with probe.time("load"):
            parents = session.scalars(select(Parent).options(selectinload(Parent.children))).all()
        _verify(cfg, parents)


def _verify(cfg: Config, parents: Any) -> None:
    check(len(parents) == cfg.parents, "every parent loaded")
    check(all(len(p.__dict__["children"]) == CHILDREN_PER_PARENT for p in parents),
          "every parent's children loaded eagerly")
