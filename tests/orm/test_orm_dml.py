"""ORM-enabled INSERT / UPDATE / DELETE through ``session.execute()``:
synchronize_session strategies, bulk INSERT / UPDATE by primary key,
RETURNING of ORM objects and upserts, on every backend."""

from __future__ import annotations

from typing import Any

import pytest

from docket import String, bindparam, delete, event, exc, func, insert, inspect, select, update
from docket.dialects import postgresql as pg
from docket.orm import DeclarativeBase, Mapped, Session, mapped_column


class Base(DeclarativeBase):
    pass


class Emp(Base):
    __tablename__ = "odml_emp"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
    age: Mapped[int | None]
    dept: Mapped[str | None] = mapped_column(String(20))




class Statements:
    """Records every statement sent to the database by ``engine``."""

    def __init__(self, engine: Any) -> None:
        self.sql: list[str] = []
        self.many: list[bool] = []
        event.listen(engine, "before_cursor_execute", self._on)

    def _on(self, conn: Any, cursor: Any, statement: str, parameters: Any, context: Any,
            executemany: bool) -> None:
        self.sql.append(" ".join(statement.split()).upper())
        self.many.append(executemany)

    def kinds(self) -> list[str]:
        return [s.split(" ", 1)[0] for s in self.sql]


@pytest.fixture
def eng(engine: Any) -> Any:
    Base.metadata.create_all(engine)
    with Session(engine) as s:
        s.add_all([
            Emp(id=1, name="ann", age=30, dept="a"),
            Emp(id=2, name="bob", age=40, dept="a"),
            Emp(id=3, name="cy", age=50, dept="b"),
            Emp(id=4, name="dee", age=None, dept="b"),
        ])
        s.commit()
    return engine


def db_rows(engine: Any) -> list[tuple[Any, ...]]:
    with engine.connect() as c:
        return [tuple(r) for r in c.execute(
            select(Emp.id, Emp.name, Emp.age, Emp.dept).order_by(Emp.id)).all()]


def load_all(s: Session) -> dict[int, Emp]:
    return {e.id: e for e in s.scalars(select(Emp))}


# --- UPDATE -----------------------------------------------------------------------------------

@pytest.mark.parametrize("sync", ["auto", "evaluate", "fetch"])
def test_update_syncs_matched_objects(session: Session, eng: Any, sync: str) -> None:
    """UPDATE ... WHERE sets the new value on exactly the matched loaded objects."""
    objs = load_all(session)
    result = session.execute(
        update(Emp).where(Emp.dept == "a").values(name="x"),
        execution_options={"synchronize_session": sync})
    assert result.rowcount == 2
    assert [objs[i].name for i in (1, 2, 3, 4)] == ["x", "x", "cy", "dee"]
    assert not inspect(objs[1]).modified and objs[1] not in session.dirty
    session.commit()
    assert [r[1] for r in db_rows(eng)] == ["x", "x", "cy", "dee"]


def test_update_sync_false_leaves_objects(session: Session, eng: Any) -> None:
    """synchronize_session=False changes the rows but not the loaded objects."""
    objs = load_all(session)
    result = session.execute(
        update(Emp).where(Emp.age > 35).values(dept="z").execution_options(
            synchronize_session=False))
    assert result.rowcount == 2
    assert objs[2].dept == "a"
    session.expire_all()
    assert objs[2].dept == "z"


def test_update_evaluates_sql_expression_values(session: Session) -> None:
    """A SET expression (age + 1) is evaluated in Python per matched object."""
    objs = load_all(session)
    session.execute(update(Emp).where(Emp.age >= 40).values(age=Emp.age + 1),
                    execution_options={"synchronize_session": "evaluate"})
    assert (objs[1].age, objs[2].age, objs[3].age) == (30, 41, 51)
    assert "age" in objs[2].__dict__  # set, not expired


def test_update_fetch_expires_sql_expression_values(session: Session, eng: Any) -> None:
    """With "fetch", SQL-expression SET values are expired and reload correctly."""
    objs = load_all(session)
    session.execute(update(Emp).where(Emp.name.in_(["bob", "cy"])).values(
        age=Emp.age * 2), execution_options={"synchronize_session": "fetch"})
    assert "age" not in objs[2].__dict__
    assert (objs[1].age, objs[2].age, objs[3].age) == (30, 80, 100)


@pytest.mark.parametrize("criteria, expected", [
    (lambda: Emp.age.is_(None), {4}),
    (lambda: Emp.age.is_not(None), {1, 2, 3}),
    (lambda: Emp.id.in_([1, 3]), {1, 3}),
    (lambda: Emp.id.not_in([1, 3]), {2, 4}),
    (lambda: (Emp.dept == "a") & (Emp.age < 35), {1}),
    (lambda: (Emp.dept == "b") | (Emp.age == 30), {1, 3, 4}),
    (lambda: ~(Emp.dept == "a"), {3, 4}),
    (lambda: Emp.age != 30, {2, 3}),
    (lambda: Emp.age + 10 > 45, {2, 3}),
])
def test_evaluate_matches_database(session: Session, criteria: Any, expected: set[int]) -> None:
    """The Python evaluator picks the same rows as the database for each operator."""
    objs = load_all(session)
    result = session.execute(update(Emp).where(criteria()).values(dept="hit"),
                             execution_options={"synchronize_session": "evaluate"})
    assert result.rowcount == len(expected)
    assert {i for i, o in objs.items() if o.dept == "hit"} == expected
    session.expire_all()
    assert {i for i, o in load_all(session).items() if o.dept == "hit"} == expected


def test_evaluate_unsupported_criteria_raises(session: Session) -> None:
    """"evaluate" with criteria it can't run in Python raises a clear error, no SQL runs."""
    load_all(session)
    with pytest.raises(exc.InvalidRequestError, match="synchronize_session='fetch'"):
        session.execute(update(Emp).where(func.lower(Emp.name) == "ann").values(age=1),
                        execution_options={"synchronize_session": "evaluate"})
    assert session.get(Emp, 1).age == 30  # type: ignore[union-attr]


def test_auto_falls_back_to_fetch(session: Session, eng: Any) -> None:
    """"auto" with unevaluable criteria fetches the matched keys instead."""
    objs = load_all(session)
    stats = Statements(eng)
    session.execute(update(Emp).where(func.lower(Emp.name) == "bob").values(age=99))
    assert objs[2].age == 99 and objs[1].age == 30
    if eng.dialect.update_returning:
        assert "RETURNING" in stats.sql[-1]
    else:
        assert stats.kinds()[-2:] == ["SELECT", "UPDATE"]


def test_bad_synchronize_session_value(session: Session) -> None:
    """An unknown synchronize_session value is rejected with the valid choices."""
    with pytest.raises(exc.ArgumentError, match="'auto', 'evaluate', 'fetch'"):
        session.execute(update(Emp).values(age=1),
                        execution_options={"synchronize_session": "bogus"})


def test_update_autoflushes_first(session: Session) -> None:
    """Pending changes are flushed before the UPDATE, so criteria see them."""
    e = session.get(Emp, 1)
    assert e is not None
    e.dept = "q"
    result = session.execute(update(Emp).where(Emp.dept == "q").values(age=7))
    assert result.rowcount == 1 and e.age == 7


def test_update_with_bound_parameter(session: Session) -> None:
    """Criteria with a bindparam are evaluated with the execute() parameters."""
    objs = load_all(session)
    session.execute(update(Emp).where(Emp.name == bindparam("n")).values(age=5), {"n": "cy"},
                    execution_options={"synchronize_session": "evaluate"})
    assert objs[3].age == 5 and objs[2].age == 40


def test_update_expired_object_is_expired_not_guessed(session: Session) -> None:
    """An object whose criteria attribute is unloaded gets the SET attributes expired."""
    objs = load_all(session)
    session.expire(objs[2], ["dept"])
    session.execute(update(Emp).where(Emp.dept == "a").values(age=1),
                    execution_options={"synchronize_session": "evaluate"})
    assert "age" not in objs[2].__dict__
    assert objs[2].age == 1 and objs[1].age == 1


def test_update_returning_objects(session: Session) -> None:
    """UPDATE ... RETURNING(Emp) returns the session's objects with fresh values."""
    if not session.get_bind().dialect.update_returning:
        pytest.skip("no UPDATE RETURNING on this SQLite build")
    e2 = session.get(Emp, 2)
    got = session.scalars(update(Emp).where(Emp.dept == "a").values(age=Emp.age + 100)
                          .returning(Emp)).all()
    assert sorted(o.id for o in got) == [1, 2]
    assert e2 in got and e2 is not None and e2.age == 140


# --- DELETE -----------------------------------------------------------------------------------

@pytest.mark.parametrize("sync", ["auto", "evaluate", "fetch"])
def test_delete_marks_objects_deleted(session: Session, eng: Any, sync: str) -> None:
    """DELETE ... WHERE marks matched objects deleted and removes them from the map."""
    objs = load_all(session)
    result = session.execute(delete(Emp).where(Emp.dept == "b"),
                             execution_options={"synchronize_session": sync})
    assert result.rowcount == 2
    assert inspect(objs[3]).deleted and inspect(objs[4]).deleted
    assert inspect(objs[1]).persistent
    assert session.get(Emp, 3) is None
    session.commit()
    assert inspect(objs[3]).detached and [r[0] for r in db_rows(eng)] == [1, 2]


def test_delete_rollback_restores(session: Session, eng: Any) -> None:
    """Rolling back a bulk DELETE makes the objects persistent again."""
    objs = load_all(session)
    session.execute(delete(Emp).where(Emp.id == 1))
    session.rollback()
    assert inspect(objs[1]).persistent
    assert len(db_rows(eng)) == 4


def test_delete_list_params_rejected(session: Session) -> None:
    """A DELETE with a list of parameter sets is refused with advice."""
    with pytest.raises(exc.InvalidRequestError, match="in_"):
        session.execute(delete(Emp), [{"id": 1}, {"id": 2}])


# --- bulk INSERT / UPDATE by primary key --------------------------------------------------------

def test_bulk_insert_batches_by_key_set(session: Session, eng: Any) -> None:
    """insert(Emp) with dicts runs one executemany per consecutive key set."""
    stats = Statements(eng)
    result = session.execute(insert(Emp), [
        {"id": 10, "name": "a", "age": 1}, {"id": 11, "name": "b", "age": 2},
        {"id": 12, "name": "c"}, {"id": 13, "name": "d"}, {"id": 14, "name": "e"},
    ])
    assert stats.kinds() == ["INSERT", "INSERT"]
    assert stats.many == [True, True]
    assert result.rowcount == 5
    assert session.get(Emp, 12).age is None  # type: ignore[union-attr]
    session.rollback()
    assert len(db_rows(eng)) == 4  # rolled back with the session's transaction
    session.execute(insert(Emp), [{"id": 10, "name": "a"}] + [
        {"id": i, "name": "n", "age": i} for i in range(11, 15)])
    session.commit()
    assert len(db_rows(eng)) == 9


def test_bulk_insert_unknown_key(session: Session) -> None:
    """A dict key that is not a mapped attribute is reported by name."""
    with pytest.raises(exc.InvalidRequestError, match="'nmae' is not a mapped"):
        session.execute(insert(Emp), [{"id": 20, "nmae": "x"}])


def test_bulk_insert_returning_objects(session: Session) -> None:
    """insert(Emp).returning(Emp) with dicts returns persistent objects in order."""
    got = session.scalars(insert(Emp).returning(Emp), [
        {"id": 52, "name": "p", "age": 1}, {"id": 51, "name": "q", "age": 2},
        {"id": 53, "name": "r", "age": 3},
    ]).all()
    assert [(o.id, o.name) for o in got] == [(52, "p"), (51, "q"), (53, "r")]
    assert all(inspect(o).persistent for o in got)
    assert session.get(Emp, got[1].id) is got[1]


def test_bulk_insert_returning_columns(session: Session) -> None:
    """RETURNING plain columns gives rows of values."""
    rows = session.execute(insert(Emp).returning(Emp.id, Emp.name),
                           [{"id": 30, "name": "m"}, {"id": 31, "name": "n"}]).all()
    assert [tuple(r) for r in rows] == [(30, "m"), (31, "n")]


def test_bulk_update_by_primary_key(session: Session, eng: Any) -> None:
    """update(Emp) with dicts holding primary keys updates each row and loaded objects."""
    objs = load_all(session)
    stats = Statements(eng)
    result = session.execute(update(Emp), [
        {"id": 1, "name": "A"}, {"id": 2, "name": "B"}, {"id": 3, "age": 0},
    ])
    assert result.rowcount == 3
    assert stats.kinds() == ["UPDATE", "UPDATE"]
    assert (objs[1].name, objs[2].name, objs[3].age) == ("A", "B", 0)
    session.commit()
    assert db_rows(eng)[:3] == [(1, "A", 30, "a"), (2, "B", 40, "a"), (3, "cy", 0, "b")]


def test_bulk_update_requires_primary_key(session: Session) -> None:
    """A bulk UPDATE row without its primary key is refused, naming the key."""
    with pytest.raises(exc.InvalidRequestError, match="primary key"):
        session.execute(update(Emp), [{"id": 1, "name": "A"}, {"name": "B"}])


# --- upsert --------------------------------------------------------------------------------------

def test_upsert_returning_populates_existing(session: Session, eng: Any) -> None:
    """on_conflict_do_update(...).returning(Emp) with populate_existing refreshes objects."""
    e1 = session.get(Emp, 1)
    stmt = pg.insert(Emp).values([
        {"id": 1, "name": "ann2", "age": 31, "dept": "a"},
        {"id": 9, "name": "new", "age": 9, "dept": "c"},
    ])
    stmt = stmt.on_conflict_do_update(index_elements=[Emp.id],
                                      set_={"name": stmt.excluded.name, "age": stmt.excluded.age})
    got = session.scalars(stmt.returning(Emp),
                          execution_options={"populate_existing": True}).all()
    assert {o.id for o in got} == {1, 9}
    assert e1 in got and e1 is not None and (e1.name, e1.age) == ("ann2", 31)
    session.commit()
    assert db_rows(eng)[0] == (1, "ann2", 31, "a") and db_rows(eng)[-1] == (9, "new", 9, "c")


def test_after_bulk_update_and_delete_events_fire(eng: Any) -> None:
    """after_bulk_update / after_bulk_delete receive the session, statement and result."""
    seen: list[tuple[str, Any, int]] = []
    with Session(eng) as s:
        event.listen(s, "after_bulk_update",
                     lambda ctx: seen.append(("update", ctx.session, ctx.result.rowcount)))
        event.listen(s, "after_bulk_delete",
                     lambda ctx: seen.append(("delete", ctx.session, ctx.result.rowcount)))
        s.execute(update(Emp).where(Emp.id > 0).values(age=1))
        s.execute(delete(Emp).where(Emp.id > 0))
        assert [(k, sess is s) for k, sess, _ in seen] == [("update", True), ("delete", True)]
        assert seen[0][2] == seen[1][2] > 0
