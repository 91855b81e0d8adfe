"""10. Streaming: ``yield_per(1000)`` over all rows of users, at two table sizes.

Measured: peak traced memory (``tracemalloc``) while iterating, at each size
-- it should not grow with the row count -- and the time per row at the larger
size (untraced).  ORM: ``select(User).execution_options(yield_per=1000)``
(server-side cursor on PostgreSQL).  Floor: ``fetchmany(1000)`` (a named,
server-side cursor on PostgreSQL), one ``Plain`` per row, dropped at once.
"""

from __future__ import annotations

from typing import Any

from benchmarks.harness import Config, Measure, Probe
from benchmarks.models import Plain
from benchmarks.workloads._sql import SELECT_USERS, check

TITLE = "stream users with yield_per(1000): peak memory at two sizes"
MAX_REPEAT = 1  # millions of rows per implementation; peak memory barely varies
BATCH = 1000


def measures(cfg: Config) -> list[Measure]:
    small, large = cfg.stream_sizes
    return [
        Measure("peak_small", f"10 stream peak, {small:,} rows", kind="peak"),
        Measure("peak_large", f"10 stream peak, {large:,} rows", kind="peak"),
        Measure("growth", f"10 stream peak growth, {large:,} / {small:,}", kind="ratio",
                of=("peak_large", "peak_small"),
                goal={"sqlite": ("self", 1.2), "postgresql": ("self", 1.2)}),
        Measure("time", f"10 stream, {large:,} rows", per=large, unit="us/row"),
    ]


def _raw_stream(db: Any) -> int:
    cur = db.conn.cursor() if db.backend == "sqlite" else db.conn.cursor(name="bench_stream")
    cur.execute(SELECT_USERS)
    n = 0
    while rows := cur.fetchmany(BATCH):
        for row in rows:
            Plain(*row)
            n += 1
    cur.close()
    db.conn.commit()
    return n


def _orm_stream(db: Any) -> int:
    stmt = db.lib.select(db.User).execution_options(yield_per=BATCH)
    n = 0
    with db.lib.Session(db.engine) as session:
        for _user in session.scalars(stmt):
            n += 1
    return n


def _run(db: Any, cfg: Config, probe: Probe, stream: Any) -> None:
    small, large = cfg.stream_sizes
    for key, size in (("peak_small", small), ("peak_large", large)):
        db.fill_users(size)
        with probe.peak(key):
            n = stream(db)
        check(n == size, f"{size} rows streamed")
    with probe.time("time"):
        n = stream(db)
    check(n == large, f"{large} rows streamed")


def raw(db: Any, cfg: Config, probe: Probe) -> None:
    _run(db, cfg, probe, _raw_stream)


def orm(db: Any, cfg: Config, probe: Probe) -> None:
    _run(db, cfg, probe, _orm_stream)
