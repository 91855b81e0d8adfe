"""Session, mapper and attribute events: audit columns filled in before_flush,
a log of INSERTs from a mapper event, and a validating attribute listener.

Run with:  python examples/events.py
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from docket import String, create_engine, event, select
from docket.orm import DeclarativeBase, Mapped, Session, mapped_column


class Base(DeclarativeBase):
    pass


class Document(Base):
    __tablename__ = "document"
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(100))
    updated: Mapped[dt.datetime | None]


@event.listens_for(Session, "before_flush")
def stamp(session: Session, flush_context: Any, instances: Any) -> None:
    """Every new or changed Document gets an 'updated' timestamp."""
    for obj in list(session.new) + list(session.dirty):
        if isinstance(obj, Document):
            obj.updated = dt.datetime(2026, 1, 1, 12, 0)


inserted: list[str] = []


@event.listens_for(Document, "after_insert")
def log_insert(mapper: Any, connection: Any, target: Document) -> None:
    inserted.append(target.title)


@event.listens_for(Document.title, "set", retval=True)
def clean_title(target: Document, value: str, oldvalue: Any, initiator: Any) -> str:
    """Titles are stored stripped."""
    return value.strip()


def main() -> None:
    engine = create_engine("sqlite://")
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        session.add_all([Document(title="  Minutes  "), Document(title="Plan")])
        session.commit()
        docs = session.scalars(select(Document).order_by(Document.id)).all()
        print([(d.title, d.updated.isoformat()) for d in docs])
        print("inserted:", inserted)


if __name__ == "__main__":
    main()
