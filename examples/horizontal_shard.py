"""Horizontal sharding: one table split across several databases.

Weather reports are stored in the database of their continent.  A Session
subclass picks the shard in ``get_bind()``: from an explicit
``bind_arguments={"shard_id": ...}`` for queries, or from the ``shard`` context
for flushes.  Primary keys are unique across shards (the shard number is the
last digit), so one Session's identity map can hold objects of every shard and
``get()`` knows where to look.  One commit commits every shard together.

Run with:  python examples/horizontal_shard.py
"""

from __future__ import annotations

import contextvars
import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from docket import String, create_engine, func, select
from docket.orm import DeclarativeBase, Mapped, Session, mapped_column

SHARDS = ("north_america", "europe", "asia")
engines = {name: create_engine("sqlite://") for name in SHARDS}  # one database per shard
_current: contextvars.ContextVar[str | None] = contextvars.ContextVar("shard", default=None)
_ids = itertools.count(1)


class Base(DeclarativeBase):
    pass


class Report(Base):
    __tablename__ = "weather_reports"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    continent: Mapped[str] = mapped_column(String(20))
    city: Mapped[str] = mapped_column(String(40))
    temperature: Mapped[float] = mapped_column()


def new_report(continent: str, city: str, temperature: float) -> Report:
    """A Report with a globally unique id ending in its shard's number."""
    return Report(id=next(_ids) * 10 + SHARDS.index(continent), continent=continent,
                  city=city, temperature=temperature)


def shard_of_id(ident: int) -> str:
    return SHARDS[ident % 10]


@contextmanager
def shard(name: str) -> Iterator[None]:
    """Route this block's flushes and gets to one shard."""
    token = _current.set(name)
    try:
        yield
    finally:
        _current.reset(token)


class ShardedSession(Session):
    """Chooses a shard per statement."""

    def get_bind(self, mapper: Any = None, *, clause: Any = None,
                 shard_id: str | None = None, **kw: Any) -> Any:
        name = shard_id or _current.get()
        if name is None:
            raise RuntimeError("no shard selected: pass bind_arguments={'shard_id': ...} "
                               "or use `with shard(name):`")
        return engines[name]

    def add_to_shard(self, report: Report) -> None:
        """Add and flush ``report`` into its continent's shard."""
        with shard(report.continent):
            self.add(report)
            self.flush([report])

    def get_report(self, ident: int) -> Report | None:
        with shard(shard_of_id(ident)):
            return self.get(Report, ident)

    def query_all_shards(self, stmt: Any) -> list[Any]:
        """Run ``stmt`` on every shard and concatenate the results."""
        out: list[Any] = []
        for name in SHARDS:
            out.extend(self.execute(stmt, bind_arguments={"shard_id": name}).all())
        return out


for eng in engines.values():
    Base.metadata.create_all(eng)

data = [("north_america", "Toronto", -3.5), ("north_america", "Mexico City", 21.0),
        ("europe", "London", 9.0), ("europe", "Oslo", -1.0), ("asia", "Tokyo", 12.5)]

with ShardedSession() as session:
    reports = [new_report(*row) for row in data]
    for r in reports:
        session.add_to_shard(r)
    tokyo_id = reports[-1].id  # read before commit() expires it: a refresh needs a shard
    session.commit()  # one commit over all three shard connections

with ShardedSession() as session:
    for name in SHARDS:
        cities = session.scalars(select(Report.city).order_by(Report.city),
                                 bind_arguments={"shard_id": name}).all()
        print(f"{name}: {cities}")
    cold = session.query_all_shards(
        select(Report.city, Report.temperature).where(Report.temperature < 0))
    print("below zero everywhere:", sorted(tuple(r) for r in cold))
    counts = {name: session.scalar(select(func.count()).select_from(Report),
                                   bind_arguments={"shard_id": name}) for name in SHARDS}
    print("rows per shard:", counts)
    tokyo = session.get_report(tokyo_id)
    assert tokyo is not None
    print(f"get({tokyo_id}) -> {tokyo.city} on shard {shard_of_id(tokyo_id)}")

for eng in engines.values():
    eng.dispose()
