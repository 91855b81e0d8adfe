"""docket quickstart: map classes, then add, query, change and delete objects
through a Session, on an embedded SQLite database.

Run with:  python examples/quickstart.py
"""

from __future__ import annotations

from docket import ForeignKey, String, create_engine, func, select
from docket.orm import DeclarativeBase, Mapped, Session, mapped_column


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "user_account"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(30))
    fullname: Mapped[str | None]

    def __repr__(self) -> str:
        return f"User(id={self.id!r}, name={self.name!r}, fullname={self.fullname!r})"


class Address(Base):
    __tablename__ = "address"

    id: Mapped[int] = mapped_column(primary_key=True)
    email_address: Mapped[str]
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))

    def __repr__(self) -> str:
        return f"Address(id={self.id!r}, email_address={self.email_address!r})"


def main() -> None:
    engine = create_engine("sqlite://")        # in memory; try "sqlite:///quickstart.db"
    Base.metadata.create_all(engine)

    # add objects: one INSERT batch per table at commit
    with Session(engine) as session:
        spongebob = User(name="spongebob", fullname="Spongebob Squarepants")
        sandy = User(name="sandy", fullname="Sandy Cheeks")
        patrick = User(name="patrick")
        session.add_all([spongebob, sandy, patrick])
        session.flush()                         # primary keys are assigned now
        session.add_all([
            Address(email_address="spongebob@sqlalchemy.org", user_id=spongebob.id),
            Address(email_address="sandy@sqlalchemy.org", user_id=sandy.id),
            Address(email_address="sandy@squirrelpower.org", user_id=sandy.id),
        ])
        session.commit()

    with Session(engine) as session:
        # query objects
        stmt = select(User).where(User.name.in_(["spongebob", "sandy"])).order_by(User.id)
        for user in session.scalars(stmt):
            print(user)

        # join, aggregate
        counts = session.execute(
            select(User.name, func.count(Address.id))
            .join(Address, Address.user_id == User.id)
            .group_by(User.name)
            .order_by(User.name)
        ).all()
        print("addresses per user:", counts)

        # get() by primary key answers from the identity map without SQL
        sandy = session.get(User, 2)
        assert sandy is session.scalars(select(User).where(User.name == "sandy")).one()

        # change an object: the session tracks it and UPDATEs at commit
        sandy.fullname = "Sandy Squirrel"
        print("dirty:", session.dirty)

        # delete
        patrick = session.scalars(select(User).where(User.name == "patrick")).one()
        session.delete(patrick)
        session.commit()

        # a SAVEPOINT: roll back part of the work, keep the rest
        with session.begin_nested() as savepoint:
            session.add(User(name="squidward"))
            savepoint.rollback()
        session.commit()
        print("users now:", session.scalars(select(User.name).order_by(User.id)).all())


if __name__ == "__main__":
    main()
