"""Quick hot-path figures on SQLite in memory: docket's ORM against raw sqlite3
building plain objects from the same rows.  A seed for the full suite of the
benchmarks issue (not a test: nothing here asserts a speed).

Run:  PYTHONPATH=src python benchmarks/quick.py [N]
"""

from __future__ import annotations

import gc
import sqlite3
import sys
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

from docket import String, create_engine, select
from docket.orm import DeclarativeBase, Mapped, Session, mapped_column

N = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
GETS = 10000


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
    email: Mapped[str] = mapped_column(String(100))
    age: Mapped[int]


class Plain:
    """What the raw floor builds from a row."""

    def __init__(self, id: Any, name: str, email: str, age: int) -> None:
        self.id, self.name, self.email, self.age = id, name, email, age


def best(fn: Callable[[], Any], reps: int = 3) -> float:
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def raw_floor() -> tuple[float, float]:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    conn.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name VARCHAR(50), "
                 "email VARCHAR(100), age INTEGER)")

    def insert() -> None:
        conn.execute("BEGIN")
        cur = conn.cursor()
        for obj in [Plain(None, f"u{i}", f"u{i}@x", i) for i in range(N)]:
            cur.execute("INSERT INTO users (name, email, age) VALUES (?, ?, ?)",
                        (obj.name, obj.email, obj.age))
            obj.id = cur.lastrowid
        conn.execute("COMMIT")

    t_insert = best(insert, 1)
    t_load = best(lambda: [Plain(*r) for r in conn.execute(
        "SELECT id, name, email, age FROM users").fetchall()])
    return t_insert, t_load


def docket_figures() -> dict[str, float]:
    engine = create_engine("sqlite://")
    Base.metadata.create_all(engine)

    def insert() -> None:
        with Session(engine) as s:
            s.add_all([User(name=f"u{i}", email=f"u{i}@x", age=i) for i in range(N)])
            s.commit()

    out = {"insert": best(insert, 1)}
    session = Session(engine)

    def load() -> list[User]:
        session.expunge_all()
        return list(session.scalars(select(User)).all())

    out["load"] = best(load)
    objs = load()

    def update() -> None:
        for o in objs:
            o.age += 1
        session.commit()

    out["update"] = best(update, 1)
    session.close()
    session = Session(engine)
    keep: list[Any] = []
    out["get_miss"] = best(lambda: keep.extend(session.get(User, i) for i in range(1, GETS + 1)),
                           1)
    out["get_hit"] = best(lambda: [session.get(User, i) for i in range(1, GETS + 1)])
    session.close()
    session = Session(engine)
    gc.collect()
    tracemalloc.start()
    loaded = session.scalars(select(User)).all()
    current, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    out["bytes_per_object"] = current / len(loaded)
    return out


def main() -> None:
    raw_insert, raw_load = raw_floor()
    d = docket_figures()

    def us(t: float, n: int = N) -> str:
        return f"{t / n * 1e6:.2f} us/obj"

    print(f"N={N} (SQLite in memory)")
    print(f"insert   raw {us(raw_insert)}  docket {us(d['insert'])}  "
          f"({d['insert'] / raw_insert:.1f}x)")
    print(f"load     raw {us(raw_load)}  docket {us(d['load'])}  ({d['load'] / raw_load:.1f}x)")
    print(f"update   docket {us(d['update'])} (change one attribute, commit)")
    print(f"get      miss {us(d['get_miss'], GETS)}  hit {us(d['get_hit'], GETS)}")
    print(f"memory   {d['bytes_per_object']:.0f} bytes per loaded object (tracemalloc)")


if __name__ == "__main__":
    main()
