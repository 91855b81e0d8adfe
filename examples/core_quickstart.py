"""docket Core quickstart: the engine and SQL layer on an embedded SQLite database.

Run with:  python examples/core_quickstart.py
"""

from docket import (
    Column,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    create_engine,
    func,
    insert,
    select,
    update,
)

metadata = MetaData()

users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(50), nullable=False),
    Column("email", String(100)),
)

addresses = Table(
    "addresses",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("user_id", ForeignKey("users.id"), nullable=False),
    Column("email", String(100), nullable=False),
)


def main() -> None:
    engine = create_engine("sqlite://")  # in-memory; try "sqlite:///quickstart.db"
    metadata.create_all(engine)

    # engine.begin(): one transaction, committed at the end of the block
    with engine.begin() as conn:
        result = conn.execute(insert(users), {"name": "spongebob", "email": "sb@example.com"})
        spongebob_id = result.inserted_primary_key[0]
        conn.execute(
            insert(users),
            [{"name": "sandy", "email": "sandy@example.com"}, {"name": "patrick", "email": None}],
        )
        conn.execute(
            insert(addresses),
            [
                {"user_id": spongebob_id, "email": "spongebob@bikini.bottom"},
                {"user_id": spongebob_id, "email": "sb@krusty.krab"},
            ],
        )

    with engine.connect() as conn:
        # joins infer their ON clause from the foreign key
        stmt = (
            select(users.c.name, func.count(addresses.c.id).label("n"))
            .select_from(users)
            .outerjoin(addresses)
            .group_by(users.c.name)
            .order_by(users.c.name)
        )
        for row in conn.execute(stmt):
            print(f"{row.name:10} {row.n} address(es)")

        # a SAVEPOINT inside the connection's transaction
        savepoint = conn.begin_nested()
        conn.execute(update(users).where(users.c.name == "patrick").values(name="PATRICK"))
        savepoint.rollback()
        name = conn.scalar(select(users.c.name).where(users.c.email.is_(None)))
        print("after rolling back the savepoint:", name)
        conn.commit()


if __name__ == "__main__":
    main()
