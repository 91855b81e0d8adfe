"""create_all / drop_all and single-object DDL on every real backend."""

from __future__ import annotations

import enum
import warnings
from typing import Any

import pytest

from docket import exc
from docket.sql import types as sqltypes
from docket.sql.ddl import CreateTable, DropTable
from docket.sql.elements import text
from docket.sql.schema import (
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    MetaData,
    Sequence,
    Table,
)

Integer, String = sqltypes.Integer, sqltypes.String


def has_table(engine: Any, name: str) -> bool:
    with engine.connect() as conn:
        return bool(engine.dialect.has_table(conn, name))


def family(metadata: MetaData) -> tuple[Table, Table]:
    """A child table declared before the parent it references."""
    child = Table("child", metadata, Column("id", Integer, primary_key=True),
                  Column("parent_id", Integer, ForeignKey("parent.id"), nullable=False),
                  Column("label", String(20), index=True))
    parent = Table("parent", metadata, Column("id", Integer, primary_key=True),
                   Column("name", String(30), server_default="anon"))
    return child, parent


def test_create_all_twice_then_drop_all(engine: Any, metadata: MetaData) -> None:
    """create_all with checkfirst is idempotent; drop_all removes everything, twice safely."""
    family(metadata)
    metadata.create_all(engine)
    metadata.create_all(engine)
    assert has_table(engine, "parent") and has_table(engine, "child")
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO parent (id) VALUES (1)"))
        conn.execute(text("INSERT INTO child (parent_id, label) VALUES (1, 'x')"))
        assert conn.execute(text("SELECT name FROM parent")).scalar() == "anon"
    with engine.connect() as conn:
        assert engine.dialect.get_table_names(conn) == ["child", "parent"]
    metadata.drop_all(engine)
    assert not has_table(engine, "parent") and not has_table(engine, "child")
    metadata.drop_all(engine)


def test_checkfirst_false_reports_existing_table(engine: Any, metadata: MetaData) -> None:
    """Without checkfirst, creating an existing table is the database's error."""
    Table("t", metadata, Column("id", Integer, primary_key=True))
    metadata.create_all(engine)
    with pytest.raises(exc.DBAPIError):
        metadata.create_all(engine, checkfirst=False)


def test_foreign_key_is_created_and_enforced(engine: Any, metadata: MetaData, backend: Any) -> None:
    """The child's FK exists (SQLite lists it; PostgreSQL refuses a row with no parent)."""
    family(metadata)
    metadata.create_all(engine)
    with engine.connect() as conn:
        if backend.is_sqlite:
            rows = conn.exec_driver_sql("PRAGMA foreign_key_list(child)").all()
            assert [(r[2], r[3], r[4]) for r in rows] == [("parent", "parent_id", "id")]
        else:
            with pytest.raises(exc.IntegrityError):
                conn.execute(text("INSERT INTO child (parent_id) VALUES (42)"))
        conn.rollback()


def test_partial_create_and_drop_with_tables(engine: Any, metadata: MetaData) -> None:
    """tables= limits create_all and drop_all to the tables given."""
    child, parent = family(metadata)
    metadata.create_all(engine, tables=[parent])
    assert has_table(engine, "parent") and not has_table(engine, "child")
    metadata.create_all(engine)
    metadata.drop_all(engine, tables=[child])
    assert has_table(engine, "parent") and not has_table(engine, "child")


def test_ddl_on_connection_is_transactional(engine: Any, metadata: MetaData) -> None:
    """create_all on a Connection joins its transaction: a rollback undoes it."""
    family(metadata)
    with engine.connect() as conn:
        metadata.create_all(conn)
        assert engine.dialect.has_table(conn, "parent")
        conn.rollback()
    assert not has_table(engine, "parent")


def test_single_table_and_index_actions(engine: Any, metadata: MetaData) -> None:
    """Table.create/drop and Index.create/drop, with and without checkfirst."""
    t = Table("solo", metadata, Column("id", Integer, primary_key=True), Column("v", Integer))
    t.create(engine)
    t.create(engine, checkfirst=True)
    with pytest.raises(exc.DBAPIError):
        t.create(engine)
    ix = Index("ix_solo_v", t.c.v)
    ix.create(engine)
    ix.create(engine, checkfirst=True)
    ix.drop(engine)
    ix.drop(engine, checkfirst=True)
    t.drop(engine)
    t.drop(engine, checkfirst=True)
    assert not has_table(engine, "solo")


def test_executing_ddl_elements(engine: Any, metadata: MetaData) -> None:
    """Connection.execute(CreateTable(...)) compiles for the engine's dialect and runs it."""
    t = Table("Mixed Case", metadata, Column("order", Integer, primary_key=True))
    with engine.begin() as conn:
        conn.execute(CreateTable(t))
        conn.execute(text('INSERT INTO "Mixed Case" ("order") VALUES (1)'))
    assert has_table(engine, "Mixed Case")
    with engine.begin() as conn:
        conn.execute(DropTable(t))
    assert not has_table(engine, "Mixed Case")


def test_percent_in_check_constraint(engine: Any, metadata: MetaData) -> None:
    """A CHECK with LIKE 'a%' reaches the database intact (DDL runs unparametrised)."""
    Table("codes", metadata, Column("code", String(10), CheckConstraint("code LIKE 'a%'")))
    metadata.create_all(engine)
    with engine.connect() as conn:
        conn.execute(text("INSERT INTO codes (code) VALUES ('abc')"))
        with pytest.raises(exc.IntegrityError):
            conn.execute(text("INSERT INTO codes (code) VALUES ('xyz')"))
        conn.rollback()


def _cycle(metadata: MetaData, use_alter: bool, named: bool = True) -> None:
    Table("a", metadata, Column("id", Integer, primary_key=True),
          Column("b_id", Integer, ForeignKey("b.id", use_alter=use_alter,
                                            name="fk_a_b" if named else None)))
    Table("b", metadata, Column("id", Integer, primary_key=True),
          Column("a_id", Integer, ForeignKey("a.id", name="fk_b_a" if named else None)))


def test_cycle_with_use_alter(engine: Any, metadata: MetaData, backend: Any) -> None:
    """Mutually dependent tables: created (FK via ALTER on PostgreSQL) and dropped cleanly."""
    _cycle(metadata, use_alter=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        metadata.create_all(engine)
        metadata.create_all(engine)
        if backend.is_postgresql:
            with engine.connect() as conn:
                fks = engine.dialect.get_foreign_keys(conn, "a")
            assert [fk["name"] for fk in fks] == ["fk_a_b"]
        metadata.drop_all(engine)
    assert not has_table(engine, "a") and not has_table(engine, "b")


def test_unnamed_cycle_without_use_alter(engine: Any, metadata: MetaData, backend: Any) -> None:
    """An unnamed cycle: created; dropped by looking up the database's FK names (PostgreSQL)
    or, on SQLite (no ALTER), unsorted with SQLAlchemy's warning."""
    _cycle(metadata, use_alter=False, named=False)
    metadata.create_all(engine)
    if backend.is_sqlite:
        with pytest.warns(RuntimeWarning, match="Can't sort tables for DROP"):
            metadata.drop_all(engine)
    else:
        metadata.drop_all(engine)
    assert not has_table(engine, "a") and not has_table(engine, "b")


def test_drop_all_skips_alter_constraint_never_created(engine: Any, metadata: MetaData) -> None:
    """Tables made one by one (use_alter FK left out) still drop_all cleanly with checkfirst."""
    _cycle(metadata, use_alter=True)
    for table in metadata.sorted_tables:
        table.create(engine)
    metadata.drop_all(engine)
    assert not has_table(engine, "a") and not has_table(engine, "b")


class Mood(enum.Enum):
    happy = 1
    sad = 2


only_postgresql = pytest.mark.parametrize(
    "backend", [pytest.param("postgresql", marks=pytest.mark.postgresql)], indirect=True
)


@only_postgresql
def test_postgresql_enum_types(engine: Any, metadata: MetaData) -> None:
    """Native enums: CREATE TYPE before the tables (once, checkfirst), DROP TYPE after."""
    Table("p1", metadata, Column("m", sqltypes.Enum(Mood)))
    Table("p2", metadata, Column("m", sqltypes.Enum(Mood)),
          Column("s", sqltypes.Enum("on", "off", name="switch")))
    metadata.create_all(engine)
    metadata.create_all(engine)
    with engine.connect() as conn:
        assert engine.dialect.has_type(conn, "mood")
        from docket.dialects.postgresql.ddl import get_enums

        enums = {e["name"]: e["labels"] for e in get_enums(conn)}
        assert enums == {"mood": ["happy", "sad"], "switch": ["on", "off"]}
        conn.execute(text("INSERT INTO p1 (m) VALUES ('happy')"))
        with pytest.raises(exc.DataError):
            conn.execute(text("INSERT INTO p1 (m) VALUES ('angry')"))
        conn.rollback()
    metadata.drop_all(engine)
    with engine.connect() as conn:
        assert not engine.dialect.has_type(conn, "mood")
        assert not engine.dialect.has_type(conn, "switch")
    metadata.drop_all(engine)


@only_postgresql
def test_postgresql_sequences_and_comments(engine: Any, metadata: MetaData) -> None:
    """A column Sequence is created before its table and dropped after; comments are set."""
    Table("numbered", metadata, Column("id", Integer, Sequence("numbered_id_seq", start=100),
                                       primary_key=True),
          Column("v", Integer, comment="the value"), comment="numbered rows")
    Sequence("free_seq", metadata=metadata)
    metadata.create_all(engine)
    metadata.create_all(engine)
    with engine.connect() as conn:
        assert engine.dialect.has_sequence(conn, "numbered_id_seq")
        assert engine.dialect.has_sequence(conn, "free_seq")
        value = conn.execute(text("SELECT nextval('numbered_id_seq')")).scalar()
        assert value == 100
        comment = conn.execute(
            text("SELECT obj_description('numbered'::regclass, 'pg_class')")
        ).scalar()
        assert comment == "numbered rows"
        conn.rollback()
    metadata.drop_all(engine)
    with engine.connect() as conn:
        assert not engine.dialect.has_sequence(conn, "numbered_id_seq")
        assert not engine.dialect.has_sequence(conn, "free_seq")


def test_has_table_ignores_other_names(engine: Any, metadata: MetaData, backend: Any) -> None:
    """has_table is true only for the exact table (case-insensitively on SQLite)."""
    Table("widgets", metadata, Column("id", Integer, primary_key=True))
    metadata.create_all(engine)
    assert has_table(engine, "widgets")
    assert not has_table(engine, "widget")
    assert has_table(engine, "WIDGETS") is backend.is_sqlite
