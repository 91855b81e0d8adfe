"""DDL without a database: table ordering and the exact DDL each dialect renders."""

from __future__ import annotations

import enum
import types
import warnings
from typing import Any

import pytest

from docket import exc
from docket.dialects.postgresql.base import PGDialect
from docket.dialects.sqlite.base import SQLiteDialect
from docket.sql import types as sqltypes
from docket.sql.ddl import (
    DDL,
    AddConstraint,
    CreateEnumType,
    CreateIndex,
    CreateSequence,
    CreateTable,
    DropConstraint,
    DropEnumType,
    DropIndex,
    DropSequence,
    DropTable,
    SetColumnComment,
    SetTableComment,
    sort_tables,
    sort_tables_and_constraints,
)
from docket.sql.elements import text
from docket.sql.functions import func
from docket.sql.schema import (
    CheckConstraint,
    Column,
    Computed,
    ForeignKey,
    ForeignKeyConstraint,
    Identity,
    Index,
    MetaData,
    PrimaryKeyConstraint,
    Sequence,
    Table,
    UniqueConstraint,
)

Integer, String, Boolean = sqltypes.Integer, sqltypes.String, sqltypes.Boolean


@pytest.fixture
def sqlite() -> SQLiteDialect:
    """The SQLite dialect (no driver needed to compile)."""
    return SQLiteDialect(dbapi=types.ModuleType("no_driver"))


@pytest.fixture
def pg() -> PGDialect:
    """The PostgreSQL dialect with psycopg's percent-escaping paramstyle."""
    return PGDialect(dbapi=types.ModuleType("no_driver"), paramstyle="pyformat")


def ddl(element: Any, dialect: Any) -> str:
    return element.compile(dialect=dialect).string


def names(tables: list[Table]) -> list[str]:
    return [t.name for t in tables]


# --- ordering -------------------------------------------------------------------------


def test_sort_tables_referenced_first_regardless_of_declaration() -> None:
    """A child declared before its parent (and grandparent) is sorted after them."""
    m = MetaData()
    Table("child", m, Column("id", Integer, primary_key=True),
          Column("p_id", Integer, ForeignKey("parent.id")))
    Table("parent", m, Column("id", Integer, primary_key=True),
          Column("g_id", Integer, ForeignKey("grand.id")))
    Table("grand", m, Column("id", Integer, primary_key=True))
    Table("alone", m, Column("id", Integer, primary_key=True))
    assert names(sort_tables(m.tables.values())) == ["grand", "alone", "parent", "child"]


def test_sort_tables_ignores_self_reference() -> None:
    """A self-referential foreign key does not count as a cycle (no warning)."""
    m = MetaData()
    Table("node", m, Column("id", Integer, primary_key=True),
          Column("parent_id", Integer, ForeignKey("node.id")))
    Table("leaf", m, Column("node_id", Integer, ForeignKey("node.id")))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert names(sort_tables(m.tables.values())) == ["node", "leaf"]


def _cycle(m: MetaData, **fk_kw: Any) -> tuple[Table, Table, Table]:
    a = Table("a", m, Column("id", Integer, primary_key=True),
              Column("b_id", Integer, ForeignKey("b.id", name="fk_a_b", **fk_kw)),
              Column("x_id", Integer, ForeignKey("x.id")))
    b = Table("b", m, Column("id", Integer, primary_key=True),
              Column("a_id", Integer, ForeignKey("a.id", name="fk_b_a")))
    x = Table("x", m, Column("id", Integer, primary_key=True))
    return a, b, x


def test_sort_tables_cycle_warns_and_names_tables() -> None:
    """Tables on a cycle keep input order (here: by name) and a warning names them."""
    m = MetaData()
    _cycle(m)
    with pytest.warns(RuntimeWarning, match='cycles between tables "a, b"'):
        out = sort_tables(sorted(m.tables.values(), key=lambda t: t.name))
    assert names(out) == ["a", "b", "x"]


def test_sort_tables_and_constraints_moves_cycle_fks_to_the_end() -> None:
    """Every FK of a table on a cycle is returned separately; others stay inline."""
    m = MetaData()
    a, b, x = _cycle(m)
    c = Table("c", m, Column("a_id", Integer, ForeignKey("a.id")))
    result = sort_tables_and_constraints([a, b, x, c])
    assert [t.name if t is not None else None for t, _ in result] == ["a", "b", "x", "c", None]
    inline = {t.name: [f.column_keys for f in fkcs] for t, fkcs in result if t is not None}
    assert inline == {"a": [], "b": [], "x": [], "c": [["a_id"]]}
    separate = result[-1][1]
    assert sorted(f.name or "" for f in separate) == ["", "fk_a_b", "fk_b_a"]


def test_use_alter_breaks_the_cycle_without_warning() -> None:
    """use_alter=True removes that FK from ordering: b sorts before a, no warning."""
    m = MetaData()
    a, b, x = _cycle(m, use_alter=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = sort_tables_and_constraints([a, b, x])
    assert [t.name for t, _ in result if t is not None] == ["x", "a", "b"]
    assert [f.name for f in result[-1][1]] == ["fk_a_b"]
    assert [f.column_keys for f in dict((t, f) for t, f in result)[a]] == [["x_id"]]


def test_filter_fn_false_keeps_cycle_and_raises() -> None:
    """When no constraint may be broken out, the cycle is an error naming it."""
    m = MetaData()
    a, b, x = _cycle(m)
    with pytest.raises(exc.CircularDependencyError) as info:
        sort_tables_and_constraints([a, b, x], filter_fn=lambda fkc: False)
    assert info.value.cycles == {a, b}
    assert "a, b" in str(info.value)


def test_skip_fn_and_extra_dependencies() -> None:
    """skip_fn drops a dependency; extra_dependencies adds one."""
    m = MetaData()
    p = Table("p", m, Column("id", Integer, primary_key=True))
    ch = Table("ch", m, Column("p_id", Integer, ForeignKey("p.id")))
    z = Table("z", m, Column("id", Integer, primary_key=True))
    assert names(sort_tables([ch, p, z])) == ["p", "z", "ch"]
    assert names(sort_tables([ch, p, z], skip_fn=lambda fk: True)) == ["ch", "p", "z"]
    assert names(sort_tables([ch, p, z], extra_dependencies=[(z, p)])) == ["z", "p", "ch"]


def test_metadata_sorted_tables_uses_sort_tables() -> None:
    """MetaData.sorted_tables puts referenced tables first."""
    m = MetaData()
    Table("kid", m, Column("mom_id", Integer, ForeignKey("mom.id")))
    Table("mom", m, Column("id", Integer, primary_key=True))
    assert names(m.sorted_tables) == ["mom", "kid"]


def test_metadata_sorted_tables_orders_independent_tables_by_name() -> None:
    """Tables with no dependency between them come out by name, not by declaration
    order; dependencies still win over names."""
    m = MetaData()
    for name in ("zeta", "alpha", "mid"):
        Table(name, m, Column("id", Integer, primary_key=True))
    Table("aardvark", m, Column("z_id", Integer, ForeignKey("zeta.id")))
    assert names(m.sorted_tables) == ["alpha", "mid", "zeta", "aardvark"]


def test_ddl_compiler_module_split_keeps_imports() -> None:
    """DDLCompiler and its helpers live in sql.ddl_compiler and stay importable from sql.ddl."""
    from docket.sql import ddl, ddl_compiler

    for name in ("DDLCompiler", "constraint_name", "effective_type", "native_enum_types"):
        assert getattr(ddl, name) is getattr(ddl_compiler, name), name
        assert name in ddl.__all__


# --- CREATE TABLE: representative schema -------------------------------------------


class Mood(enum.Enum):
    happy = 1
    sad = 2


def _schema() -> tuple[Table, Table]:
    m = MetaData()
    users = Table(
        "users", m,
        Column("id", Integer, primary_key=True),
        Column("name", String(50), nullable=False, unique=True),
        Column("active", Boolean(create_constraint=True), server_default=text("1")),
        Column("mood", sqltypes.Enum(Mood, create_constraint=True)),
        Column("note", String(20), server_default="it's"),
        Column("score", Integer, server_default=func.abs(-3)),
        CheckConstraint("length(name) > 2", name="name_len"),
    )
    addresses = Table(
        "addresses", m,
        Column("id", Integer, primary_key=True),
        Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        Column("email", String(100), index=True),
        UniqueConstraint("user_id", "email", name="uq_user_email"),
    )
    return users, addresses


def test_create_table_sqlite_exact(sqlite: SQLiteDialect) -> None:
    """SQLite: separate PRIMARY KEY, CHECKs for non-native Boolean/Enum, parenthesised expression default."""
    users, addresses = _schema()
    assert ddl(CreateTable(users), sqlite) == (
        "CREATE TABLE users (\n"
        "\tid INTEGER NOT NULL,\n"
        "\tname VARCHAR(50) NOT NULL,\n"
        "\tactive BOOLEAN DEFAULT 1,\n"
        "\tmood VARCHAR(5),\n"
        "\tnote VARCHAR(20) DEFAULT 'it''s',\n"
        "\tscore INTEGER DEFAULT (abs(-3)),\n"
        "\tPRIMARY KEY (id),\n"
        "\tUNIQUE (name),\n"
        "\tCHECK (active IN (0, 1)),\n"
        "\tCONSTRAINT mood CHECK (mood IN ('happy', 'sad')),\n"
        "\tCONSTRAINT name_len CHECK (length(name) > 2)\n"
        ")"
    )
    assert ddl(CreateTable(addresses), sqlite) == (
        "CREATE TABLE addresses (\n"
        "\tid INTEGER NOT NULL,\n"
        "\tuser_id INTEGER NOT NULL,\n"
        "\temail VARCHAR(100),\n"
        "\tPRIMARY KEY (id),\n"
        "\tFOREIGN KEY(user_id) REFERENCES users (id) ON DELETE CASCADE,\n"
        "\tCONSTRAINT uq_user_email UNIQUE (user_id, email)\n"
        ")"
    )
    (ix,) = addresses.indexes
    assert ddl(CreateIndex(ix), sqlite) == (
        "CREATE INDEX ix_addresses_email ON addresses (email)"
    )


def test_create_table_postgresql_exact(pg: PGDialect) -> None:
    """PostgreSQL: SERIAL key, native enum type name, no type CHECKs, unparenthesised default."""
    users, _ = _schema()
    assert ddl(CreateTable(users), pg) == (
        "CREATE TABLE users (\n"
        "\tid SERIAL NOT NULL,\n"
        "\tname VARCHAR(50) NOT NULL,\n"
        "\tactive BOOLEAN DEFAULT 1,\n"
        "\tmood mood,\n"
        "\tnote VARCHAR(20) DEFAULT 'it''s',\n"
        "\tscore INTEGER DEFAULT abs(-3),\n"
        "\tPRIMARY KEY (id),\n"
        "\tUNIQUE (name),\n"
        "\tCONSTRAINT name_len CHECK (length(name) > 2)\n"
        ")"
    )


def test_str_uses_generic_dialect() -> None:
    """str(CreateTable) renders without an engine."""
    users, _ = _schema()
    out = str(CreateTable(users))
    assert out.startswith("CREATE TABLE users (\n\tid INTEGER NOT NULL,")
    assert out.endswith("\tCONSTRAINT name_len CHECK (length(name) > 2)\n)")


def test_drop_table_and_if_exists(sqlite: SQLiteDialect, pg: PGDialect) -> None:
    """DROP TABLE, optionally IF EXISTS, schema-qualified."""
    t = Table("t", MetaData(), Column("id", Integer), schema="s")
    assert ddl(DropTable(t), sqlite) == "DROP TABLE s.t"
    assert ddl(DropTable(t, if_exists=True), pg) == "DROP TABLE IF EXISTS s.t"


# --- primary keys and autoincrement ----------------------------------------------------


def test_postgresql_serial_variants_identity_and_sequence(pg: PGDialect) -> None:
    """BIGSERIAL/SMALLSERIAL by type; Identity and Sequence columns keep their type."""
    m = MetaData()
    big = Table("big", m, Column("id", sqltypes.BigInteger, primary_key=True))
    small = Table("small", m, Column("id", sqltypes.SmallInteger, primary_key=True))
    ident = Table("ident", m, Column("id", Integer, Identity(start=10, increment=5),
                                     primary_key=True))
    always = Table("always", m, Column("id", Integer, Identity(always=True), primary_key=True))
    seq = Table("seq", m, Column("id", Integer, Sequence("seq_id"), primary_key=True))
    noauto = Table("noauto", m, Column("id", Integer, primary_key=True, autoincrement=False))
    assert "\tid BIGSERIAL NOT NULL,\n" in ddl(CreateTable(big), pg)
    assert "\tid SMALLSERIAL NOT NULL,\n" in ddl(CreateTable(small), pg)
    assert ("\tid INTEGER GENERATED BY DEFAULT AS IDENTITY (INCREMENT BY 5 START WITH 10),\n"
            in ddl(CreateTable(ident), pg))
    assert "\tid INTEGER GENERATED ALWAYS AS IDENTITY,\n" in ddl(CreateTable(always), pg)
    assert "\tid INTEGER NOT NULL,\n" in ddl(CreateTable(seq), pg)
    assert "\tid INTEGER NOT NULL,\n" in ddl(CreateTable(noauto), pg)


def test_sqlite_ignores_identity_and_autoincrement_kwarg(sqlite: SQLiteDialect) -> None:
    """SQLite: Identity is not rendered; sqlite_autoincrement puts the key inline."""
    m = MetaData()
    ident = Table("ident", m, Column("id", Integer, Identity(), primary_key=True))
    auto = Table("auto", m, Column("id", Integer, primary_key=True), Column("x", Integer),
                 sqlite_autoincrement=True)
    assert ddl(CreateTable(ident), sqlite) == (
        "CREATE TABLE ident (\n\tid INTEGER NOT NULL,\n\tPRIMARY KEY (id)\n)"
    )
    assert ddl(CreateTable(auto), sqlite) == (
        "CREATE TABLE auto (\n\tid INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,\n\tx INTEGER\n)"
    )


def test_sqlite_composite_autoincrement_refused(sqlite: SQLiteDialect) -> None:
    """autoincrement=True on a composite key is a CompileError naming table and column."""
    t = Table("t", MetaData(), Column("a", Integer, primary_key=True, autoincrement=True),
              Column("b", Integer, primary_key=True))
    with pytest.raises(exc.CompileError, match="in table 't', column 'a'.*composite"):
        ddl(CreateTable(t), sqlite)


def test_composite_and_named_primary_key(sqlite: SQLiteDialect) -> None:
    """An explicit PrimaryKeyConstraint renders its name and column order."""
    t = Table("t", MetaData(), Column("a", Integer), Column("b", Integer),
              PrimaryKeyConstraint("b", "a", name="pk_t"))
    assert "\tCONSTRAINT pk_t PRIMARY KEY (b, a)\n" in ddl(CreateTable(t), sqlite)


def test_sqlite_table_options(sqlite: SQLiteDialect) -> None:
    """sqlite_with_rowid=False and sqlite_strict=True follow the closing parenthesis."""
    t = Table("t", MetaData(), Column("id", Integer, primary_key=True),
              sqlite_with_rowid=False, sqlite_strict=True)
    assert ddl(CreateTable(t), sqlite).endswith("\n) WITHOUT ROWID, STRICT")


# --- columns: defaults, computed, types -----------------------------------------------


def test_computed_columns(sqlite: SQLiteDialect, pg: PGDialect) -> None:
    """Computed renders GENERATED ALWAYS AS; PostgreSQL always STORED, refuses VIRTUAL."""
    m = MetaData()
    t = Table("t", m, Column("a", Integer), Column("b", Integer, Computed("a * 2")),
              Column("c", Integer, Computed("a + 1", persisted=True)))
    v = Table("v", m, Column("a", Integer), Column("b", Integer, Computed("a", persisted=False)))
    out = ddl(CreateTable(t), sqlite)
    assert "\tb INTEGER GENERATED ALWAYS AS (a * 2),\n" in out
    assert "\tc INTEGER GENERATED ALWAYS AS (a + 1) STORED\n" in out
    assert "\tb INTEGER GENERATED ALWAYS AS (a * 2) STORED,\n" in ddl(CreateTable(t), pg)
    assert "GENERATED ALWAYS AS (a) VIRTUAL" in ddl(CreateTable(v), sqlite)
    with pytest.raises(exc.CompileError, match="virtual"):
        ddl(CreateTable(v), pg)


def test_null_type_error_names_table_and_column(sqlite: SQLiteDialect) -> None:
    """A column without a type fails with the table and column in the message."""
    t = Table("t", MetaData(), Column("mystery"))
    with pytest.raises(exc.CompileError, match="in table 't', column 'mystery'"):
        ddl(CreateTable(t), sqlite)


def test_percent_is_not_escaped_in_ddl(pg: PGDialect) -> None:
    """DDL runs without parameters, so '%' stays single even for psycopg's paramstyle."""
    t = Table("t", MetaData(), Column("code", String(10), CheckConstraint("code LIKE 'a%'")),
              Column("pct", String(5), server_default="5%"), Column("m", Integer),
              CheckConstraint(text("m % 2 = 0"), name="even"))
    out = ddl(CreateTable(t), pg)
    assert "\tcode VARCHAR(10) CHECK (code LIKE 'a%'),\n" in out
    assert "\tpct VARCHAR(5) DEFAULT '5%',\n" in out
    assert "\tCONSTRAINT even CHECK (m % 2 = 0)\n" in out
    assert "%%" not in out


# --- quoting --------------------------------------------------------------------------


def test_reserved_and_mixed_case_names_are_quoted(sqlite: SQLiteDialect, pg: PGDialect) -> None:
    """Reserved words, mixed case and odd characters are double-quoted everywhere."""
    m = MetaData()
    Table("user", m, Column("ID", Integer, primary_key=True))
    t = Table("Order", m, Column("select", Integer, primary_key=True),
              Column("user id", Integer, ForeignKey("user.ID")),
              Column("plain", Integer, quote=True), schema="MySchema")
    Index("Ix Weird", t.c["user id"])
    expected = (
        'CREATE TABLE "MySchema"."Order" (\n'
        '\t"select" INTEGER NOT NULL,\n'
        '\t"user id" INTEGER,\n'
        '\t"plain" INTEGER,\n'
        '\tPRIMARY KEY ("select"),\n'
        '\tFOREIGN KEY("user id") REFERENCES "user" ("ID")\n'
        ")"
    )
    assert ddl(CreateTable(t), pg) == expected.replace('"select" INTEGER NOT NULL',
                                                       '"select" SERIAL NOT NULL')
    (ix,) = t.indexes
    assert ddl(CreateIndex(ix), pg) == 'CREATE INDEX "Ix Weird" ON "MySchema"."Order" ("user id")'
    assert ddl(CreateIndex(ix), sqlite) == (
        'CREATE INDEX "MySchema"."Ix Weird" ON "Order" ("user id")'
    )
    assert ddl(DropIndex(ix), pg) == 'DROP INDEX "MySchema"."Ix Weird"'


def test_sqlite_omits_fk_to_other_schema(sqlite: SQLiteDialect, pg: PGDialect) -> None:
    """SQLite can't reference another attached database; PostgreSQL qualifies the table."""
    m = MetaData()
    Table("p", m, Column("id", Integer, primary_key=True), schema="other")
    t = Table("c", m, Column("p_id", Integer, ForeignKey("other.p.id")))
    assert "FOREIGN KEY" not in ddl(CreateTable(t), sqlite)
    assert "FOREIGN KEY(p_id) REFERENCES other.p (id)" in ddl(CreateTable(t), pg)


# --- constraints ------------------------------------------------------------------------


def test_foreign_key_options(pg: PGDialect) -> None:
    """Composite FK with name, ON DELETE/UPDATE, MATCH and deferrability, in that order."""
    m = MetaData()
    Table("p", m, Column("a", Integer), Column("b", Integer))
    t = Table("c", m, Column("x", Integer), Column("y", Integer),
              ForeignKeyConstraint(["x", "y"], ["p.a", "p.b"], name="fk_c_p", ondelete="SET NULL",
                                   onupdate="cascade", match="FULL", deferrable=True,
                                   initially="DEFERRED"))
    assert ("\tCONSTRAINT fk_c_p FOREIGN KEY(x, y) REFERENCES p (a, b) MATCH FULL "
            "ON DELETE SET NULL ON UPDATE cascade DEFERRABLE INITIALLY DEFERRED\n"
            in ddl(CreateTable(t), pg))


def test_foreign_key_action_injection_refused(pg: PGDialect) -> None:
    """An ondelete value that is not an SQL action is a CompileError, never rendered."""
    m = MetaData()
    Table("p", m, Column("id", Integer, primary_key=True))
    t = Table("c", m, Column("p_id", Integer, ForeignKey("p.id", ondelete="CASCADE; DROP x")))
    with pytest.raises(exc.CompileError, match="ondelete"):
        ddl(CreateTable(t), pg)


def test_use_alter_fk_omitted_where_alter_exists(sqlite: SQLiteDialect, pg: PGDialect) -> None:
    """use_alter FKs leave CREATE TABLE on PostgreSQL (added by ALTER) but stay inline on SQLite."""
    m = MetaData()
    Table("p", m, Column("id", Integer, primary_key=True))
    t = Table("c", m, Column("id", Integer, primary_key=True),
              Column("p_id", Integer, ForeignKey("p.id", use_alter=True, name="fk_c_p")))
    assert "FOREIGN KEY" not in ddl(CreateTable(t), pg)
    assert "CONSTRAINT fk_c_p FOREIGN KEY(p_id) REFERENCES p (id)" in ddl(CreateTable(t), sqlite)
    (fkc,) = t.foreign_key_constraints
    assert ddl(AddConstraint(fkc), pg) == (
        "ALTER TABLE c ADD CONSTRAINT fk_c_p FOREIGN KEY(p_id) REFERENCES p (id)"
    )
    assert ddl(DropConstraint(fkc, cascade=True), pg) == (
        "ALTER TABLE c DROP CONSTRAINT fk_c_p CASCADE"
    )


def test_include_foreign_key_constraints_filters(pg: PGDialect) -> None:
    """CreateTable(include_foreign_key_constraints=[]) renders no foreign keys."""
    m = MetaData()
    Table("p", m, Column("id", Integer, primary_key=True))
    t = Table("c", m, Column("p_id", Integer, ForeignKey("p.id")))
    assert "FOREIGN KEY" not in ddl(CreateTable(t, include_foreign_key_constraints=[]), pg)


def test_drop_unnamed_constraint_refused(pg: PGDialect) -> None:
    """DROP CONSTRAINT needs a name; the error says how to give one."""
    m = MetaData()
    Table("p", m, Column("id", Integer, primary_key=True))
    t = Table("c", m, Column("p_id", Integer, ForeignKey("p.id")))
    (fkc,) = t.foreign_key_constraints
    with pytest.raises(exc.CompileError, match="no name"):
        ddl(DropConstraint(fkc), pg)


def test_naming_convention(pg: PGDialect) -> None:
    """MetaData naming_convention names unnamed constraints (and named CHECKs via constraint_name)."""
    m = MetaData(naming_convention={
        "pk": "pk_%(table_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
    })
    Table("p", m, Column("id", Integer, primary_key=True))
    t = Table("c", m, Column("id", Integer, primary_key=True),
              Column("p_id", Integer, ForeignKey("p.id")), Column("a", Integer),
              UniqueConstraint("p_id", "a"), CheckConstraint("a > 0", name="positive"))
    out = ddl(CreateTable(t), pg)
    assert "\tCONSTRAINT pk_c PRIMARY KEY (id),\n" in out
    assert "\tCONSTRAINT fk_c_p_id_p FOREIGN KEY(p_id) REFERENCES p (id),\n" in out
    assert "\tCONSTRAINT uq_c_p_id_a UNIQUE (p_id, a),\n" in out
    assert "\tCONSTRAINT ck_c_positive CHECK (a > 0)\n" in out
    unnamed = Table("d", m, Column("a", Integer), CheckConstraint("a > 0"))
    with pytest.raises(exc.InvalidRequestError, match="explicitly named"):
        ddl(CreateTable(unnamed), pg)


def test_naming_convention_truncates_long_names(pg: PGDialect) -> None:
    """A generated name over the dialect's limit is cut and given a stable hash suffix."""
    m = MetaData(naming_convention={"uq": "uq_%(table_name)s_%(column_0N_name)s"})
    cols = [Column(f"column_number_{i}", Integer) for i in range(6)]
    t = Table("a_rather_long_table_name", m, *cols, UniqueConstraint(*[c.name for c in cols]))
    out = ddl(CreateTable(t), pg)
    name = out.split("CONSTRAINT ")[1].split(" ")[0]
    # SQLAlchemy's rule: first (limit - 8) characters, "_", last 4 hex digits of the md5
    assert len(name) == 60 and name.startswith("uq_a_rather_long_table_name_column_number_0")
    assert name[55] == "_" and int(name[56:], 16) >= 0
    assert out == ddl(CreateTable(t), pg)


# --- indexes, sequences, enum types, comments, DDL() ------------------------------------


def test_index_variants(sqlite: SQLiteDialect, pg: PGDialect) -> None:
    """Unique, expression, partial and PostgreSQL USING/INCLUDE indexes."""
    m = MetaData()
    t = Table("t", m, Column("a", Integer), Column("b", String(10)))
    u = Index("ix_u", t.c.a, t.c.b, unique=True)
    e = Index("ix_e", func.lower(t.c.b), t.c.a + 1)
    t.append_constraint(e)  # expression-only indexes don't find their table themselves
    p = Index("ix_p", t.c.a, sqlite_where=t.c.a > 5, postgresql_where=t.c.a > 5,
              postgresql_using="btree", postgresql_include=["b"])
    assert ddl(CreateIndex(u), sqlite) == "CREATE UNIQUE INDEX ix_u ON t (a, b)"
    assert ddl(CreateIndex(e, if_not_exists=True), pg) == (
        "CREATE INDEX IF NOT EXISTS ix_e ON t (lower(b), (a + 1))"
    )
    assert ddl(CreateIndex(p), sqlite) == "CREATE INDEX ix_p ON t (a) WHERE a > 5"
    assert ddl(CreateIndex(p), pg) == (
        "CREATE INDEX ix_p ON t USING btree (a) INCLUDE (b) WHERE a > 5"
    )
    assert ddl(DropIndex(u, if_exists=True), sqlite) == "DROP INDEX IF EXISTS ix_u"


def test_sequences(pg: PGDialect) -> None:
    """CREATE SEQUENCE renders only the options given, in SQLAlchemy's order."""
    assert ddl(CreateSequence(Sequence("s")), pg) == "CREATE SEQUENCE s"
    full = Sequence("s2", start=5, increment=2, minvalue=1, maxvalue=99, cycle=False, cache=4,
                    schema="Sch")
    assert ddl(CreateSequence(full), pg) == (
        'CREATE SEQUENCE "Sch".s2 INCREMENT BY 2 START WITH 5 MINVALUE 1 MAXVALUE 99 CACHE 4 '
        "NO CYCLE"
    )
    assert ddl(DropSequence(full, if_exists=True), pg) == 'DROP SEQUENCE IF EXISTS "Sch".s2'


def test_enum_type_ddl(pg: PGDialect) -> None:
    """CREATE TYPE ... AS ENUM lists the stored values; a nameless enum is refused."""
    mood = sqltypes.Enum(Mood)
    assert ddl(CreateEnumType(mood), pg) == "CREATE TYPE mood AS ENUM ('happy', 'sad')"
    odd = sqltypes.Enum("it's", "b", name="Odd", schema="s")
    assert ddl(CreateEnumType(odd), pg) == "CREATE TYPE s.\"Odd\" AS ENUM ('it''s', 'b')"
    assert ddl(DropEnumType(odd, if_exists=True), pg) == 'DROP TYPE IF EXISTS s."Odd"'
    with pytest.raises(exc.CompileError, match="needs a name"):
        ddl(CreateEnumType(sqltypes.Enum("a", "b")), pg)


def test_comments(pg: PGDialect) -> None:
    """COMMENT ON TABLE / COLUMN with quoted literals."""
    t = Table("t", MetaData(), Column("c", Integer, comment="the 'c'"), comment="a table")
    assert ddl(SetTableComment(t), pg) == "COMMENT ON TABLE t IS 'a table'"
    assert ddl(SetColumnComment(t.c.c), pg) == "COMMENT ON COLUMN t.c IS 'the ''c'''"


def test_literal_ddl_substitution(pg: PGDialect) -> None:
    """DDL() fills %(table)s/%(fullname)s from against(); a lone % is a clear error."""
    t = Table("Tab", MetaData(), Column("a", Integer), schema="s")
    stmt = DDL("ALTER TABLE %(fullname)s RENAME TO %(table)s_old -- 100%%").against(t)
    assert ddl(stmt, pg) == 'ALTER TABLE s."Tab" RENAME TO "Tab"_old -- 100%'
    assert str(DDL("VACUUM")) == "VACUUM"
    with pytest.raises(exc.CompileError, match="percent"):
        ddl(DDL("SELECT 'a%'"), pg)


def test_ddl_elements_are_executable_markers() -> None:
    """Every DDL element says is_ddl so Connection.execute compiles and runs it."""
    t = Table("t", MetaData(), Column("a", Integer))
    for el in (CreateTable(t), DropTable(t), DDL("x")):
        assert el.is_ddl is True


# --- constraint order, server_default=func.now() -----------------------------------------


def test_table_level_constraints_render_in_declaration_order(sqlite: SQLiteDialect) -> None:
    """Table-level constraints appear in CREATE TABLE in the order they were declared
    (not by column position or name), each with a creation-order number."""
    m = MetaData()
    uq_z = UniqueConstraint("b", name="uq_z")
    ck = CheckConstraint("a > 0", name="ck_a")
    uq_a = UniqueConstraint("a", name="uq_a")
    t = Table("t", m, Column("a", Integer), Column("b", Integer), uq_z, ck, uq_a)
    assert uq_z._creation_order < ck._creation_order < uq_a._creation_order
    assert ddl(CreateTable(t), sqlite) == (
        "CREATE TABLE t (\n\ta INTEGER,\n\tb INTEGER,\n"
        "\tCONSTRAINT uq_z UNIQUE (b),\n"
        "\tCONSTRAINT ck_a CHECK (a > 0),\n"
        "\tCONSTRAINT uq_a UNIQUE (a)\n)"
    )


def test_server_default_now_on_each_dialect(sqlite: SQLiteDialect, pg: PGDialect) -> None:
    """server_default=func.now() is DEFAULT (CURRENT_TIMESTAMP) on SQLite, DEFAULT now() on PG."""
    m = MetaData()
    t = Table("ev", m, Column("id", Integer, primary_key=True),
              Column("at", sqltypes.DateTime, server_default=func.now()))
    assert "at DATETIME DEFAULT (CURRENT_TIMESTAMP)" in ddl(CreateTable(t), sqlite)
    assert "at TIMESTAMP WITHOUT TIME ZONE DEFAULT now()" in ddl(CreateTable(t), pg)
