"""Bulk operations and ORM-enabled INSERT / UPDATE / DELETE.

Runs against an in-memory SQLite database:

* ``session.execute(insert(Customer), [dicts])`` -- a batched bulk INSERT;
* ``insert(...).returning(Customer)`` -- the new rows as ORM objects;
* ``update(...).where(...)`` with ``synchronize_session`` keeping loaded
  objects in step with the database;
* bulk UPDATE by primary key, ``delete(...)``, and an upsert;
* the legacy ``bulk_insert_mappings`` / ``bulk_update_mappings`` /
  ``bulk_save_objects``.
"""

from __future__ import annotations

from docket import String, create_engine, delete, func, insert, select, update
from docket.dialects.sqlite import insert as sqlite_insert
from docket.orm import DeclarativeBase, Mapped, Session, mapped_column


class Base(DeclarativeBase):
    pass


class Customer(Base):
    __tablename__ = "customer"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
    tier: Mapped[str] = mapped_column(String(10), default="basic")
    credit: Mapped[int] = mapped_column(default=0)


def main() -> None:
    engine = create_engine("sqlite://")
    Base.metadata.create_all(engine)

    with Session(engine) as session:
        # 1. bulk INSERT: one executemany for the 1,000 dicts
        session.execute(insert(Customer),
                        [{"name": f"customer {i}", "credit": i % 7} for i in range(1000)])
        print("inserted:", session.scalar(select(func.count()).select_from(Customer)))

        # 2. INSERT ... RETURNING the new rows as objects of the session
        vips = session.scalars(insert(Customer).returning(Customer),
                               [{"name": "ada", "tier": "vip"}, {"name": "bob", "tier": "vip"}])
        vips = vips.all()
        print("returned objects:", [(c.id, c.name, c.tier) for c in vips])

        # 3. UPDATE ... WHERE: loaded objects follow ("evaluate" runs the WHERE in Python)
        ada = vips[0]
        result = session.execute(
            update(Customer).where(Customer.tier == "vip").values(credit=Customer.credit + 100),
            execution_options={"synchronize_session": "evaluate"})
        print(f"vip credit raised on {result.rowcount} rows; ada.credit is now {ada.credit}")

        # 4. bulk UPDATE by primary key
        session.execute(update(Customer), [{"id": 1, "tier": "gold"}, {"id": 2, "tier": "gold"}])
        print("gold:", session.scalars(select(Customer.name).where(Customer.tier == "gold")).all())

        # 5. DELETE ... WHERE: matched objects are marked deleted
        result = session.execute(delete(Customer).where(Customer.credit == 0))
        print("deleted customers with no credit:", result.rowcount)

        # 6. upsert returning ORM objects, refreshing the loaded one
        stmt = sqlite_insert(Customer).values(id=ada.id, name="ada lovelace", tier="vip")
        stmt = stmt.on_conflict_do_update(index_elements=[Customer.id],
                                          set_={"name": stmt.excluded.name})
        upserted = session.scalars(stmt.returning(Customer),
                                   execution_options={"populate_existing": True}).one()
        print("upserted the same object:", upserted is ada, "->", ada.name)

        # 7. legacy bulk methods
        maps = [{"name": "carol"}, {"name": "dave"}]
        session.bulk_insert_mappings(Customer, maps, return_defaults=True)  # type: ignore[attr-defined]
        session.bulk_update_mappings(Customer, [{"id": maps[0]["id"], "tier": "gold"}])  # type: ignore[attr-defined]
        session.bulk_save_objects([Customer(name="erin"), Customer(name="frank")])  # type: ignore[attr-defined]
        session.commit()
        print("customers now:", session.scalar(select(func.count()).select_from(Customer)))


if __name__ == "__main__":
    main()
