"""Read replica routing with a custom ``Session.get_bind()``.

Writes (flushes, UPDATE/DELETE statements) go to the *leader*; plain SELECTs
go to a *follower*.  Both are SQLite files here; ``replicate()`` copies the
leader into the follower (the stdlib ``sqlite3`` backup API) to stand in for
real replication.

Run with:  python examples/partitioning_read_replica.py
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
from typing import Any

from docket import String, create_engine, event, select, update
from docket.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker


class Base(DeclarativeBase):
    pass


class Product(Base):
    __tablename__ = "products"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
    price: Mapped[int] = mapped_column()


workdir = tempfile.mkdtemp(prefix="docket_replica_")
paths = {name: os.path.join(workdir, f"{name}.db") for name in ("leader", "follower")}
engines = {name: create_engine(f"sqlite:///{path}") for name, path in paths.items()}
served: list[str] = []  # which database ran each statement, in order

for _name, _engine in engines.items():
    def _record(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any,
                executemany: bool, _name: str = _name) -> None:
        served.append(f"{_name}: {statement.split()[0]}")

    event.listen(_engine, "before_cursor_execute", _record)


class RoutingSession(Session):
    """Send writes to the leader and reads to the follower."""

    def get_bind(self, mapper: Any = None, *, clause: Any = None, **kw: Any) -> Any:
        writing = self._flushing or (clause is not None
                                     and not getattr(clause, "is_select", False))
        return engines["leader"] if writing else engines["follower"]


def replicate() -> None:
    """Copy the leader's committed data over the follower."""
    engines["follower"].dispose()  # no open connection may hold the old file
    with sqlite3.connect(paths["leader"]) as src, sqlite3.connect(paths["follower"]) as dst:
        src.backup(dst)
    src.close()
    dst.close()


for eng in engines.values():
    Base.metadata.create_all(eng)

served.clear()
Session_ = sessionmaker(class_=RoutingSession)

with Session_.begin() as session:
    session.add_all([Product(name="tea", price=4), Product(name="cake", price=7)])
print("after the write:", served)

with Session_() as session:
    print("follower before replication:", session.scalars(select(Product.name)).all())

replicate()
served.clear()
with Session_() as session:
    names = session.scalars(select(Product.name).order_by(Product.name)).all()
    print("follower after replication:", names)
    session.execute(update(Product).where(Product.name == "tea").values(price=5))
    session.commit()
print("statements:", served)

with engines["leader"].connect() as conn:
    print("leader prices:", conn.execute(
        select(Product.__table__.c.name, Product.__table__.c.price)
        .order_by(Product.__table__.c.name)).all())

for eng in engines.values():
    eng.dispose()
