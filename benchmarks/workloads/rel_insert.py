"""6. Insert 2,000 parents x 10 children through the relationship.

ORM: ``Parent(name=..., children=[Child(...), ...])`` (``back_populates`` sets
each child's ``parent``), ``add_all`` + ``commit``; the flush orders parents
before children and copies each parent's new key into its children.  Floor:
the same objects as plain classes, parents inserted first (keys back), the
keys copied by hand, then the children (keys back).  Per object = per row
(parents + children).
"""

from __future__ import annotations

from typing import Any

from benchmarks.harness import Config, Measure, Probe
from benchmarks.models import CHILDREN_PER_PARENT, PlainChild, PlainParent
from benchmarks.workloads._sql import check, insert_returning_ids

TITLE = "insert parents with 10 children each through the relationship"


def measures(cfg: Config) -> list[Measure]:
    rows = cfg.parents * (1 + CHILDREN_PER_PARENT)
    return [Measure("insert", f"6 insert {cfg.parents:,} parents x 10 children",
                    per=rows, goal={"sqlite": ("floor", 5.0)})]


def _names(cfg: Config) -> list[tuple[str, list[str]]]:
    return [(f"parent {i}", [f"child {i}-{j}" for j in range(CHILDREN_PER_PARENT)])
            for i in range(cfg.parents)]


def raw(db: Any, cfg: Config, probe: Probe) -> None:
    db.clear()
    names = _names(cfg)
    with probe.time("insert"):
        parents = []
        for parent_name, child_names in names:
            parent = PlainParent(None, parent_name)
            parent.children = [PlainChild(None, None, name, parent) for name in child_names]
            parents.append(parent)
        cur = db.conn.cursor()
        keys = insert_returning_ids(db, cur, "INSERT INTO parents (name) VALUES (?)",
                                    [(p.name,) for p in parents])
        for parent, key in zip(parents, keys):
            parent.id = key
        children = [c for p in parents for c in p.children]
        for child in children:
            child.parent_id = child.parent.id  # type: ignore[union-attr]
        keys = insert_returning_ids(db, cur, "INSERT INTO children (parent_id, name) VALUES (?, ?)",
                                    [(c.parent_id, c.name) for c in children])
        for child, key in zip(children, keys):
            child.id = key
        db.conn.commit()
    _verify(db, cfg)


def orm(db: Any, cfg: Config, probe: Probe) -> None:
    db.clear()
    names = _names(cfg)
    Parent, Child = db.Parent, db.Child
    with db.lib.Session(db.engine) as session:
        with probe.time("insert"):
            parents = [Parent(name=parent_name, children=[Child(name=n) for n in child_names])
                       for parent_name, child_names in names]
            session.add_all(parents)
            session.commit()
    _verify(db, cfg)


def _verify(db: Any, cfg: Config) -> None:
    check(db.scalar("SELECT count(*) FROM parents") == cfg.parents, "every parent inserted")
    check(db.scalar("SELECT count(*) FROM children") == cfg.parents * CHILDREN_PER_PARENT,
          "every child inserted")
    check(db.scalar(
        "SELECT count(*) FROM children JOIN parents ON parents.id = children.parent_id "
        "WHERE substr(children.name, 7, length(parents.name) - 6) = substr(parents.name, 8) || '-'"
    ) == cfg.parents * CHILDREN_PER_PARENT, "every child points at its own parent")
