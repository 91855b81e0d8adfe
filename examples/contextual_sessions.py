"""sessionmaker at module scope, and scoped_session giving each thread its own
Session.

Run with:  python examples/contextual_sessions.py
"""

from __future__ import annotations

import os
import tempfile
import threading

from docket import String, create_engine, func, select
from docket.orm import DeclarativeBase, Mapped, mapped_column, scoped_session, sessionmaker


class Base(DeclarativeBase):
    pass


class Hit(Base):
    __tablename__ = "hit"
    id: Mapped[int] = mapped_column(primary_key=True)
    worker: Mapped[str] = mapped_column(String(20))


def main() -> None:
    path = os.path.join(tempfile.mkdtemp(), "contextual.db")
    engine = create_engine(f"sqlite:///{path}", connect_args={"timeout": 30})
    Base.metadata.create_all(engine)

    # a configured factory, created once
    SessionLocal = sessionmaker(engine, expire_on_commit=False)
    with SessionLocal.begin() as session:       # commits at the end of the block
        session.add(Hit(worker="main"))

    # one Session per thread
    Session = scoped_session(SessionLocal)
    seen: dict[str, int] = {}

    def work(name: str) -> None:
        for _ in range(5):
            Session.add(Hit(worker=name))        # proxies to this thread's session
            Session.commit()
        seen[name] = id(Session())
        Session.remove()                          # close this thread's session

    threads = [threading.Thread(target=work, args=(f"t{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    with SessionLocal() as session:
        total = session.scalar(select(func.count()).select_from(Hit))
    print("distinct sessions used by 4 threads:", len(set(seen.values())))
    print("rows:", total)


if __name__ == "__main__":
    main()
