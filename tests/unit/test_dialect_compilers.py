"""What the SQLite and PostgreSQL compilers render differently from the
generic one: ``now()``, UNION members with their own LIMIT, DELETE reading
other tables, ``IS true`` / ``IS 1``, and the executemany parameter checks
and IN-list expansion every compiler shares."""

from __future__ import annotations

import pytest

from docket import exc
from docket.dialects.postgresql.psycopg import PGDialect_psycopg
from docket.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite
from docket.sql import (
    Column,
    MetaData,
    Table,
    bindparam,
    column,
    delete,
    func,
    insert,
    select,
    union_all,
    update,
)
from docket.sql import types as T
from docket.sql.compiler import Compiled
from docket.sql.dialect import Dialect

SQLITE = SQLiteDialect_pysqlite()
PG = PGDialect_psycopg()

md = MetaData()
orders = Table(
    "orders", md,
    Column("id", T.Integer, primary_key=True),
    Column("customer_id", T.Integer),
    Column("note", T.String(20)),
    Column("stamp", T.Integer, default=lambda ctx: 7),
)
customers = Table(
    "customers", md,
    Column("id", T.Integer, primary_key=True),
    Column("name", T.String(20)),
)


# --- now() ------------------------------------------------------------------------


def test_now_is_current_timestamp_on_sqlite_only() -> None:
    """func.now() renders CURRENT_TIMESTAMP on SQLite (which has no now()), now() on PG."""
    stmt = select(func.now())
    assert stmt.compile(dialect=SQLITE).string == "SELECT CURRENT_TIMESTAMP AS now_1"
    assert stmt.compile(dialect=PG).string == "SELECT now() AS now_1"


def test_now_with_a_package_name_is_left_alone() -> None:
    """The hook applies to the bare function only: func.pkg.now() keeps its name."""
    assert select(func.pkg.now()).compile(dialect=SQLITE).string.startswith(
        "SELECT pkg.now()"
    )


# --- UNION members with their own LIMIT ------------------------------------------------


def test_compound_member_parens_is_a_dialect_attribute() -> None:
    """SQLite sets compound_member_parens = False; the base Dialect and PG keep True."""
    assert SQLITE.compound_member_parens is False
    assert PG.compound_member_parens is True
    assert Dialect.compound_member_parens is True


def test_compound_member_rendering_follows_the_attribute_not_the_name() -> None:
    """A dialect named "sqlite" without the flag parenthesises; one with the flag
    off wraps the member as a subquery, whatever its name."""
    member = select(orders.c.id).order_by(orders.c.id).limit(1)
    stmt = union_all(member, select(orders.c.id))

    class NamedSqlite(Dialect):
        name = "sqlite"

    class NoParens(Dialect):
        name = "other"
        compound_member_parens = False

    assert Compiled(NamedSqlite(), stmt).string.startswith("(SELECT orders.id FROM orders")
    assert Compiled(NoParens(), stmt).string.startswith(
        "SELECT * FROM (SELECT orders.id FROM orders")
    assert stmt.compile(dialect=SQLITE).string.startswith("SELECT * FROM (SELECT")


# --- DELETE reading other tables -------------------------------------------------------


def test_postgresql_delete_using_other_tables() -> None:
    """A DELETE whose WHERE reads another table renders DELETE ... USING on PG."""
    stmt = delete(orders).where(orders.c.customer_id == customers.c.id,
                                customers.c.name == "x")
    assert stmt.compile(dialect=PG).string == (
        "DELETE FROM orders USING customers WHERE orders.customer_id = customers.id "
        "AND customers.name = %s"
    )


def test_postgresql_delete_using_an_alias_with_returning() -> None:
    """USING names an aliased table with AS; RETURNING may read it."""
    c = customers.alias("c")
    stmt = delete(orders).where(orders.c.customer_id == c.c.id).returning(orders.c.id, c.c.name)
    assert stmt.compile(dialect=PG).string == (
        "DELETE FROM orders USING customers AS c WHERE orders.customer_id = c.id "
        "RETURNING orders.id, c.name"
    )


def test_sqlite_delete_reading_other_tables_still_refused() -> None:
    """SQLite has no DELETE ... USING: the compiler says to use a subquery."""
    stmt = delete(orders).where(orders.c.customer_id == customers.c.id)
    with pytest.raises(exc.CompileError, match="subquery"):
        stmt.compile(dialect=SQLITE)


# --- IS true / IS false ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dialect", "true_sql", "false_sql"),
    [(PG, "flag IS true", "flag IS NOT false"), (SQLITE, "flag IS 1", "flag IS NOT 0")],
)
def test_is_true_and_false_are_keywords_not_parameters(
    dialect: Dialect, true_sql: str, false_sql: str
) -> None:
    """is_(True) / is_not(False) render the boolean literal, never a bound parameter."""
    flag = column("flag", T.Boolean)
    for expr, expected in ((flag.is_(True), true_sql), (flag.is_not(False), false_sql)):
        compiled = Compiled(dialect, expr)
        assert compiled.string == expected
        assert compiled.binds == {}
    assert Compiled(PG, flag.is_(False)).string == "flag IS false"
    assert Compiled(SQLITE, flag.is_(False)).string == "flag IS 0"


# --- executemany parameter groups -------------------------------------------------------


def _many(stmt: object, first: dict[str, object]) -> Compiled:
    return Compiled(SQLITE, stmt, column_keys=frozenset(first), for_executemany=True)


def test_executemany_group_missing_a_key_is_an_error() -> None:
    """A later dict without a key the first dict gives raises, naming key and group."""
    compiled = _many(insert(orders), {"id": 1, "note": "a"})
    values = compiled.construct_params({"id": 1, "note": "a"}, _group=0)
    assert (values["id"], values["note"]) == (1, "a")
    with pytest.raises(exc.StatementError,
                       match="A value is required for bind parameter 'note', in parameter "
                             "group 2"):
        compiled.construct_params({"id": 3}, _group=2)


def test_executemany_may_omit_a_column_with_a_python_default() -> None:
    """A column with a Python default given by the first dict becomes a prefetch
    bind: a later dict may leave it out (the engine computes the default)."""
    compiled = _many(insert(orders), {"id": 1, "note": "a", "stamp": 3})
    assert [(n, c.key) for n, c, _u in compiled.prefetch] == [("stamp", "stamp")]
    assert compiled.construct_params({"id": 2, "note": "b"}, _group=1) == {
        "id": 2, "note": "b"}


def test_executemany_update_group_missing_a_set_column() -> None:
    """UPDATE executemany: a dict without a SET column raises too."""
    stmt = update(orders).where(orders.c.id == bindparam("oid"))
    compiled = _many(stmt, {"oid": 1, "note": "a"})
    with pytest.raises(exc.StatementError, match="'note', in parameter group 1"):
        compiled.construct_params({"oid": 2}, _group=1)


def test_single_execution_keeps_its_message() -> None:
    """Without a group the message asks for the parameter in execute()."""
    compiled = Compiled(SQLITE, select(orders.c.id).where(orders.c.id == bindparam("x")),
                        column_keys=None)
    with pytest.raises(exc.StatementError, match="'x'; pass it in the execute"):
        compiled.construct_params({})


# --- IN-list expansion ------------------------------------------------------------------


def test_expand_splits_the_sql_once_per_compiled() -> None:
    """expand() caches the SQL split at IN-list markers; later calls reuse it."""
    stmt = select(orders.c.id).where(orders.c.id.in_(bindparam("ids", expanding=True)),
                                     orders.c.note.in_(bindparam("notes", expanding=True)))
    compiled = Compiled(SQLITE, stmt, column_keys=None)
    assert compiled._expand_pieces is None
    sql1, order1, values1 = compiled.expand(
        compiled.construct_params({"ids": [1, 2], "notes": ["a"]}))
    pieces = compiled._expand_pieces
    assert pieces is not None and pieces[1::2] == ("ids", "notes")
    sql2, order2, values2 = compiled.expand(
        compiled.construct_params({"ids": [5], "notes": []}))
    assert compiled._expand_pieces is pieces
    assert sql1 == ("SELECT orders.id FROM orders WHERE orders.id IN (?, ?) AND "
                    "orders.note IN (?)")
    assert [values1[n] for n in order1 or ()] == [1, 2, "a"]
    assert sql2.startswith("SELECT orders.id FROM orders WHERE orders.id IN (?) AND "
                           "orders.note IN (SELECT")
    assert [values2[n] for n in order2 or ()] == [5]
