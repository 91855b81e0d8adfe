"""The statement compiler: exact SQL per dialect (SQLAlchemy 2.0's rendering is
the reference), parameter naming and order, IN expansion, the INSERT/UPDATE
default plan, and the errors it raises on statements it cannot render."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from docket import exc
from docket.dialects.postgresql import insert as pg_insert
from docket.dialects.postgresql.psycopg import PGDialect_psycopg
from docket.dialects.sqlite import insert as sqlite_insert
from docket.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite
from docket.sql import (
    Column,
    ForeignKey,
    MetaData,
    Sequence,
    Table,
    bindparam,
    column,
    delete,
    desc,
    exists,
    func,
    insert,
    literal_column,
    select,
    table,
    text,
    tuple_,
    union,
    union_all,
    update,
)
from docket.sql import types as T
from docket.sql.compiler import Compiled
from docket.sql.dialect import Dialect

SQLITE = SQLiteDialect_pysqlite()
PG = PGDialect_psycopg()


def _meta() -> dict[str, Table]:
    md = MetaData()
    users = Table(
        "users", md,
        Column("id", T.Integer, primary_key=True),
        Column("name", T.String(50)),
        Column("order", T.Integer),
    )
    addresses = Table(
        "addresses", md,
        Column("id", T.Integer, primary_key=True),
        Column("user_id", None, ForeignKey("users.id")),
        Column("email", T.String(100)),
    )
    return {"users": users, "addresses": addresses}


_t = _meta()
users, addresses = _t["users"], _t["addresses"]


def sql(stmt: Any, dialect: Dialect | None = None, **kw: Any) -> str:
    return stmt.compile(dialect=dialect, **kw).string


# --- SELECT basics ----------------------------------------------------------------


def test_select_table_and_where() -> None:
    """select(table).where(...) renders every column and a named bind."""
    assert sql(select(users).where(users.c.name == "x")) == (
        'SELECT users.id, users.name, users."order" FROM users WHERE users.name = :name_1'
    )


def test_select_columns_from_two_tables() -> None:
    """Columns of two tables put both in FROM; a repeated name is labelled."""
    assert sql(select(users.c.name, addresses.c.email)) == (
        "SELECT users.name, addresses.email FROM users, addresses"
    )
    assert sql(select(users.c.id, addresses.c.id)) == (
        "SELECT users.id, addresses.id AS id_1 FROM users, addresses"
    )


def test_functions_and_expressions_get_anonymous_labels() -> None:
    """count(*) AS count_1, lower(:lower_2) AS lower_1, expr AS anon_1."""
    assert sql(select(func.count()).select_from(users)) == (
        "SELECT count(*) AS count_1 FROM users"
    )
    assert sql(select(func.lower("A"))) == "SELECT lower(:lower_2) AS lower_1"
    assert sql(select(users.c.name + "x")) == (
        "SELECT users.name || :name_1 AS anon_1 FROM users"
    )
    assert sql(select(func.upper("a") + " suffix")) == (
        "SELECT upper(:upper_1) || :upper_2 AS anon_1"
    )
    assert sql(select(func.row_number().over(partition_by=users.c.name))) == (
        "SELECT row_number() OVER (PARTITION BY users.name) AS anon_1 FROM users"
    )


def test_cast_of_a_column_is_labelled_with_its_name() -> None:
    """CAST(users.id AS VARCHAR) AS id, as SQLAlchemy renders it."""
    assert sql(select(func.count(users.c.id), users.c.id.cast(T.String))) == (
        "SELECT count(users.id) AS count_1, CAST(users.id AS VARCHAR) AS id FROM users"
    )


def test_distinct_forms() -> None:
    """select().distinct() and distinct(col) render DISTINCT without a label."""
    assert sql(select(users.c.name).distinct()) == "SELECT DISTINCT users.name FROM users"
    assert sql(select(users.c.name.distinct())) == "SELECT DISTINCT users.name FROM users"


def test_distinct_on_only_on_postgresql() -> None:
    """distinct(expr) is DISTINCT ON (...) on PostgreSQL, an error elsewhere."""
    stmt = select(users.c.name).distinct(users.c.name)
    assert sql(stmt, PG) == "SELECT DISTINCT ON (users.name) users.name FROM users"
    with pytest.raises(exc.CompileError, match="DISTINCT ON"):
        sql(stmt)


def test_label_names_in_order_by_and_group_by() -> None:
    """A selected label is referred to by name in ORDER BY / GROUP BY."""
    cnt = func.count(addresses.c.id).label("num")
    stmt = select(addresses.c.user_id, cnt).group_by(addresses.c.user_id).order_by(desc(cnt))
    assert sql(stmt) == (
        "SELECT addresses.user_id, count(addresses.id) AS num FROM addresses "
        "GROUP BY addresses.user_id ORDER BY num DESC"
    )


def test_unselected_label_in_order_by_renders_its_expression() -> None:
    """A label that is not in the columns clause renders as its expression."""
    stmt = select(users.c.id).order_by(users.c.name.label("n"))
    assert sql(stmt) == "SELECT users.id FROM users ORDER BY users.name"


def test_label_inside_an_order_by_expression_is_not_a_name() -> None:
    """ORDER BY n + 1 would be invalid SQL: the expression is rendered instead."""
    n = users.c.id.label("n")
    assert sql(select(n).order_by(n + 1)) == (
        "SELECT users.id AS n FROM users ORDER BY users.id + :param_1"
    )


def test_string_names_in_order_by_resolve_to_columns() -> None:
    """order_by("user_id", desc("num")) refers to the columns clause."""
    stmt = (
        select(addresses.c.user_id, func.count(addresses.c.id).label("num"))
        .group_by("user_id")
        .order_by("user_id", desc("num"))
    )
    assert sql(stmt) == (
        "SELECT addresses.user_id, count(addresses.id) AS num FROM addresses "
        "GROUP BY addresses.user_id ORDER BY addresses.user_id, num DESC"
    )


def test_unknown_string_in_order_by_is_an_error() -> None:
    """order_by("nope") names no selected column: CompileError suggesting text()."""
    with pytest.raises(exc.CompileError, match="text\\('nope'\\)"):
        sql(select(users.c.id).order_by("nope"))


def test_group_by_having() -> None:
    """GROUP BY and HAVING render in order, HAVING criteria ANDed."""
    stmt = (
        select(users.c.name, func.count(addresses.c.id).label("count"))
        .join(addresses)
        .group_by(users.c.name)
        .having(func.count(addresses.c.id) > 1)
    )
    assert sql(stmt) == (
        "SELECT users.name, count(addresses.id) AS count FROM users JOIN addresses "
        "ON users.id = addresses.user_id GROUP BY users.name "
        "HAVING count(addresses.id) > :count_1"
    )


def test_filter_by_targets_the_last_joined_table() -> None:
    """filter_by() filters the selected table, then the last joined one."""
    assert sql(select(users).filter_by(name="x")) == (
        'SELECT users.id, users.name, users."order" FROM users WHERE users.name = :name_1'
    )
    stmt = select(users.c.id).join(addresses).filter_by(email="e")
    assert sql(stmt).endswith("WHERE addresses.email = :email_1")
    with pytest.raises(exc.InvalidRequestError, match="no column 'nope'"):
        select(users).filter_by(nope=1)


# --- LIMIT / OFFSET / FOR UPDATE ----------------------------------------------------


def test_limit_offset_per_dialect() -> None:
    """LIMIT/OFFSET are bound; SQLite needs LIMIT -1 before a lone OFFSET."""
    assert sql(select(users.c.id).limit(5).offset(10)) == (
        "SELECT users.id FROM users LIMIT :param_1 OFFSET :param_2"
    )
    assert sql(select(users.c.id).offset(10), SQLITE) == (
        "SELECT users.id FROM users LIMIT -1 OFFSET ?"
    )
    assert sql(select(users.c.id).offset(10), PG) == "SELECT users.id FROM users OFFSET %s"


def test_limit_with_literal_binds() -> None:
    """literal_binds renders LIMIT 5 inline."""
    stmt = select(users.c.id).where(users.c.id > 3).limit(5)
    assert sql(stmt, compile_kwargs={"literal_binds": True}) == (
        "SELECT users.id FROM users WHERE users.id > 3 LIMIT 5"
    )


def test_limit_must_be_an_integer() -> None:
    """limit("x") is refused."""
    with pytest.raises(exc.ArgumentError, match="limit\\(\\) needs an integer"):
        select(users).limit("x")


def test_for_update_variants() -> None:
    """FOR UPDATE everywhere it exists; PostgreSQL adds SHARE / OF / NOWAIT / SKIP LOCKED."""
    base = select(users.c.id)
    assert sql(base.with_for_update()) == "SELECT users.id FROM users FOR UPDATE"
    assert sql(base.with_for_update(), SQLITE) == "SELECT users.id FROM users"
    assert sql(base.with_for_update(nowait=True), PG).endswith("FOR UPDATE NOWAIT")
    assert sql(base.with_for_update(read=True), PG).endswith("FOR SHARE")
    assert sql(base.with_for_update(skip_locked=True, of=users), PG).endswith(
        "FOR UPDATE OF users SKIP LOCKED"
    )
    assert sql(base.with_for_update(key_share=True), PG).endswith("FOR NO KEY UPDATE")
    assert sql(base.with_for_update(read=True, key_share=True), PG).endswith("FOR KEY SHARE")


# --- joins --------------------------------------------------------------------------


def test_join_infers_on_clause_from_foreign_key() -> None:
    """join(), outerjoin(), full=True and join_from() infer ON from the FK."""
    assert sql(select(users.c.name).join(addresses)) == (
        "SELECT users.name FROM users JOIN addresses ON users.id = addresses.user_id"
    )
    assert sql(select(users.c.name).outerjoin(addresses)) == (
        "SELECT users.name FROM users LEFT OUTER JOIN addresses ON users.id = addresses.user_id"
    )
    assert sql(select(users.c.name).join(addresses, full=True)) == (
        "SELECT users.name FROM users FULL OUTER JOIN addresses ON users.id = addresses.user_id"
    )
    assert sql(select(users.c.name, addresses.c.email).join_from(users, addresses)) == (
        "SELECT users.name, addresses.email FROM users JOIN addresses "
        "ON users.id = addresses.user_id"
    )


def test_select_from_then_join() -> None:
    """select_from() sets the left side of a later join()."""
    stmt = select(addresses.c.email).select_from(users).join(addresses)
    assert sql(stmt) == (
        "SELECT addresses.email FROM users JOIN addresses ON users.id = addresses.user_id"
    )


def test_select_from_remembers_the_objects_it_was_given() -> None:
    """select_from(MappedClass) keeps the class in _from_raw, parallel to _from_obj."""
    from docket.orm import DeclarativeBase, Mapped, mapped_column

    class Base(DeclarativeBase):
        pass

    class Account(Base):
        __tablename__ = "account"
        id: Mapped[int] = mapped_column(primary_key=True)

    stmt = select(func.count()).select_from(Account)
    assert stmt._from_raw == (Account,)
    assert stmt._from_obj == (Account.__table__,)
    assert sql(stmt) == "SELECT count(*) AS count_1 FROM account"
    # later select_from() calls append, in order; the original is not modified
    more = stmt.select_from(users)
    assert more._from_raw == (Account, users)
    assert more._from_obj == (Account.__table__, users)
    assert stmt._from_raw == (Account,)
    # every generative copy carries it
    assert more.where(users.c.id == 1).order_by(users.c.id).limit(2)._from_raw == (
        Account, users
    )
    assert select(users.c.id)._from_raw == ()


def test_from_raw_stays_parallel_to_from_obj() -> None:
    """with_only_columns(maintain_column_froms=True) extends both tuples alike."""
    stmt = select(users.c.id).select_from(addresses)
    kept = stmt.with_only_columns(func.count(), maintain_column_froms=True)
    assert kept._from_obj == (addresses, users)
    assert kept._from_raw == (addresses, users)
    assert len(kept._from_raw) == len(kept._from_obj)
    dropped = stmt.with_only_columns(func.count())
    assert dropped._from_raw == (addresses,) and dropped._from_obj == (addresses,)


def test_join_with_explicit_on_clause() -> None:
    """An explicit ON clause is used as given."""
    stmt = select(addresses.c.email).select_from(users).join(
        addresses, users.c.id == addresses.c.user_id
    )
    assert sql(stmt) == (
        "SELECT addresses.email FROM users JOIN addresses ON users.id = addresses.user_id"
    )


def test_join_without_foreign_key_is_an_error() -> None:
    """Two unrelated tables can't be joined without an ON clause."""
    other = table("other", column("x"))
    with pytest.raises(exc.InvalidRequestError, match="Don't know how to join"):
        sql(select(users.c.id).join(other))
    with pytest.raises(exc.NoForeignKeysError):
        users.join(other)


def test_ambiguous_foreign_keys_are_an_error() -> None:
    """Two FK paths between the tables need an explicit ON clause."""
    md = MetaData()
    Table("p", md, Column("id", T.Integer, primary_key=True))
    c = Table(
        "c", md, Column("id", T.Integer, primary_key=True),
        Column("a_id", None, ForeignKey("p.id")), Column("b_id", None, ForeignKey("p.id")),
    )
    with pytest.raises(exc.AmbiguousForeignKeysError, match="multiple foreign key paths"):
        md.tables["p"].join(c)


def test_self_join_through_alias() -> None:
    """A table joined to its alias: repeated names get _1 labels."""
    u2 = users.alias("u2")
    stmt = select(users.c.name, u2.c.name).join(u2, users.c.id == u2.c.order)
    assert sql(stmt) == (
        "SELECT users.name, u2.name AS name_1 FROM users JOIN users AS u2 "
        'ON users.id = u2."order"'
    )


def test_anonymous_aliases_are_numbered_per_statement() -> None:
    """alias() renders table_1, table_2 in order of use, the same every compile."""
    a1, a2 = users.alias(), users.alias()
    stmt = select(a1.c.name, a2.c.name).join_from(a1, a2, a1.c.id > a2.c.id)
    expected = (
        "SELECT users_1.name, users_2.name AS name_1 FROM users AS users_1 "
        "JOIN users AS users_2 ON users_1.id > users_2.id"
    )
    assert sql(stmt) == expected
    assert sql(stmt) == expected


def test_join_to_an_alias_infers_the_on_clause() -> None:
    """An alias keeps its table's foreign keys."""
    a = addresses.alias()
    assert sql(select(users.c.name).join(a)) == (
        "SELECT users.name FROM users JOIN addresses AS addresses_1 "
        "ON users.id = addresses_1.user_id"
    )


def test_chained_joins() -> None:
    """A second join finds its left side inside the first join."""
    md = MetaData()
    a = Table("a", md, Column("id", T.Integer, primary_key=True))
    b = Table("b", md, Column("id", T.Integer, primary_key=True),
              Column("a_id", None, ForeignKey("a.id")))
    c = Table("c", md, Column("id", T.Integer, primary_key=True),
              Column("b_id", None, ForeignKey("b.id")))
    assert sql(select(a.c.id).join(b).join(c)) == (
        "SELECT a.id FROM a JOIN b ON a.id = b.a_id JOIN c ON b.id = c.b_id"
    )


# --- subqueries, correlation, CTEs ------------------------------------------------------


def test_subquery_labels_every_column() -> None:
    """In a FROM subquery every column gets AS <name> (SQLAlchemy's rendering)."""
    subq = (
        select(func.count(addresses.c.id).label("count"), addresses.c.user_id)
        .group_by(addresses.c.user_id).subquery()
    )
    assert sql(select(subq.c.user_id, subq.c.count)) == (
        "SELECT anon_1.user_id, anon_1.count FROM (SELECT count(addresses.id) AS count, "
        "addresses.user_id AS user_id FROM addresses GROUP BY addresses.user_id) AS anon_1"
    )
    stmt = select(users.c.name, subq.c.count).join_from(users, subq)
    assert sql(stmt) == (
        "SELECT users.name, anon_1.count FROM users JOIN (SELECT count(addresses.id) AS "
        "count, addresses.user_id AS user_id FROM addresses GROUP BY addresses.user_id) "
        "AS anon_1 ON users.id = anon_1.user_id"
    )


def test_subquery_of_a_select_is_refused_as_a_from() -> None:
    """A select() in select_from() must be made a subquery first."""
    with pytest.raises(exc.ArgumentError, match="subquery"):
        select(users.c.id).select_from(select(users.c.id))


def test_scalar_subquery_alone_and_auto_correlated() -> None:
    """A scalar subquery correlates the enclosing SELECT's table."""
    subq = (
        select(func.count(addresses.c.id))
        .where(users.c.id == addresses.c.user_id)
        .scalar_subquery()
    )
    assert sql(subq) == (
        "(SELECT count(addresses.id) AS count_1 FROM addresses, users "
        "WHERE users.id = addresses.user_id)"
    )
    assert sql(select(users.c.name, subq.label("address_count"))) == (
        "SELECT users.name, (SELECT count(addresses.id) AS count_1 FROM addresses "
        "WHERE users.id = addresses.user_id) AS address_count FROM users"
    )


def test_auto_correlation_removing_every_from_is_an_error() -> None:
    """When correlation would leave a subquery with no FROM, say so."""
    subq = (
        select(func.count(addresses.c.id))
        .where(users.c.id == addresses.c.user_id)
        .scalar_subquery()
    )
    stmt = select(users.c.name, addresses.c.email, subq.label("n")).join_from(
        users, addresses
    )
    with pytest.raises(exc.InvalidRequestError, match="auto-correlation"):
        sql(stmt)
    ok = select(users.c.name, addresses.c.email, subq.correlate(users).label("n")).join_from(
        users, addresses
    )
    assert "(SELECT count(addresses.id) AS count_1 FROM addresses WHERE" in sql(ok)


def test_single_table_subquery_is_not_correlated() -> None:
    """A nested SELECT of one table keeps its FROM even if the outer has it."""
    inner = select(users.c.id).where(users.c.name == "x").scalar_subquery()
    assert sql(select(users.c.name).where(users.c.id == inner)) == (
        "SELECT users.name FROM users WHERE users.id = "
        "(SELECT users.id FROM users WHERE users.name = :name_1)"
    )


def test_exists_correlates_and_negates() -> None:
    """WHERE NOT (EXISTS (...)) with the outer table correlated."""
    subq = select(addresses.c.id).where(users.c.id == addresses.c.user_id).exists()
    assert sql(select(users.c.name).where(~subq)) == (
        "SELECT users.name FROM users WHERE NOT (EXISTS (SELECT addresses.id FROM addresses "
        "WHERE users.id = addresses.user_id))"
    )
    assert sql(select(users.c.name).where(exists().where(addresses.c.user_id == users.c.id))) \
        == (
        "SELECT users.name FROM users WHERE EXISTS (SELECT * FROM addresses "
        "WHERE addresses.user_id = users.id)"
    )


def test_explicit_correlate_none_disables_correlation() -> None:
    """correlate(None) keeps every FROM of the nested SELECT."""
    subq = (
        select(func.count(addresses.c.id)).where(users.c.id == addresses.c.user_id)
        .correlate(None).scalar_subquery()
    )
    assert "FROM addresses, users WHERE" in sql(select(users.c.name, subq))


def test_from_subquery_is_not_correlated() -> None:
    """A subquery in FROM never correlates to its enclosing SELECT."""
    inner = select(addresses.c.user_id).where(addresses.c.user_id == users.c.id).subquery("s")
    assert sql(select(users.c.name, inner.c.user_id)) == (
        "SELECT users.name, s.user_id FROM users, (SELECT addresses.user_id AS user_id "
        "FROM addresses, users WHERE addresses.user_id = users.id) AS s"
    )


def test_cte_rendered_first_and_anonymous_cte_named() -> None:
    """A CTE renders in WITH before the statement; an unnamed one is anon_1."""
    c = select(addresses.c.user_id).where(addresses.c.email == "e").cte()
    stmt = select(users.c.name).where(users.c.id.in_(select(c.c.user_id)))
    assert sql(stmt) == (
        "WITH anon_1 AS (SELECT addresses.user_id AS user_id FROM addresses "
        "WHERE addresses.email = :email_1) SELECT users.name FROM users "
        "WHERE users.id IN (SELECT anon_1.user_id FROM anon_1)"
    )


def test_cte_placeholders_come_first_for_positional_styles() -> None:
    """The WITH clause's parameters precede the main statement's in positiontup."""
    c = select(addresses.c.user_id).where(addresses.c.email == "e").cte("c")
    stmt = select(users.c.name, literal_column("1")).where(users.c.name == "n").join(
        c, c.c.user_id == users.c.id
    )
    compiled = stmt.compile(dialect=SQLITE)
    assert compiled.string.startswith("WITH c AS (SELECT addresses.user_id AS user_id FROM ")
    assert compiled.positiontup == ["email_1", "name_1"]


def test_cte_depending_on_another_cte_is_ordered_after_it() -> None:
    """A CTE that selects from another comes after it in WITH."""
    c1 = select(addresses.c.user_id).cte("c1")
    c2 = select(c1.c.user_id).cte("c2")
    assert sql(select(c2.c.user_id)) == (
        "WITH c1 AS (SELECT addresses.user_id AS user_id FROM addresses), "
        "c2 AS (SELECT c1.user_id AS user_id FROM c1) SELECT c2.user_id FROM c2"
    )


def test_recursive_cte() -> None:
    """A recursive CTE renders WITH RECURSIVE name(cols) AS (anchor UNION ALL step)."""
    md = MetaData()
    parts = Table("parts", md, Column("part", T.String), Column("sub_part", T.String))
    incl = select(parts.c.sub_part, parts.c.part).where(parts.c.part == "car").cte(
        "incl", recursive=True
    )
    p = parts.alias("p")
    incl = incl.union_all(select(p.c.sub_part, p.c.part).where(p.c.part == incl.c.sub_part))
    assert sql(select(incl.c.sub_part)) == (
        "WITH RECURSIVE incl(sub_part, part) AS (SELECT parts.sub_part AS sub_part, "
        "parts.part AS part FROM parts WHERE parts.part = :part_1 UNION ALL "
        "SELECT p.sub_part AS sub_part, p.part AS part FROM parts AS p, incl "
        "WHERE p.part = incl.sub_part) SELECT incl.sub_part FROM incl"
    )


def test_two_unrelated_ctes_with_one_name_are_an_error() -> None:
    """Two CTE objects may not share a name in one statement."""
    c1 = select(users.c.id).cte("c")
    c2 = select(addresses.c.id).cte("c")
    with pytest.raises(exc.CompileError, match="named 'c'"):
        sql(select(c1.c.id, c2.c.id))


# --- compound selects ------------------------------------------------------------


def test_union_and_order_by_output_names() -> None:
    """UNION members render plainly; the compound's ORDER BY is unqualified."""
    u = union_all(
        select(users.c.id, users.c.name).where(users.c.name == "a"),
        select(users.c.id, users.c.name).where(users.c.name == "b"),
    ).order_by(users.c.name)
    assert sql(u) == (
        "SELECT users.id, users.name FROM users WHERE users.name = :name_1 UNION ALL "
        "SELECT users.id, users.name FROM users WHERE users.name = :name_2 ORDER BY name"
    )
    assert sql(union(select(users.c.id), select(addresses.c.id)).order_by("id")) == (
        "SELECT users.id FROM users UNION SELECT addresses.id FROM addresses ORDER BY id"
    )


def test_union_member_with_limit_per_dialect() -> None:
    """A member with LIMIT is parenthesised; SQLite gets a subquery instead."""
    u = union(select(users.c.id).limit(1), select(addresses.c.id))
    assert sql(u, PG) == (
        "(SELECT users.id FROM users LIMIT %s) UNION SELECT addresses.id FROM addresses"
    )
    assert sql(u, SQLITE) == (
        "SELECT * FROM (SELECT users.id FROM users LIMIT ?) UNION "
        "SELECT addresses.id FROM addresses"
    )


def test_union_as_subquery_labels_members() -> None:
    """Inside a subquery each member labels its columns."""
    subq = union_all(select(users.c.id), select(addresses.c.id)).subquery()
    assert sql(select(subq.c.id)) == (
        "SELECT anon_1.id FROM (SELECT users.id AS id FROM users UNION ALL "
        "SELECT addresses.id AS id FROM addresses) AS anon_1"
    )


# --- INSERT -----------------------------------------------------------------------------


def test_insert_forms() -> None:
    """values(), multi-row values, from_select and returning, as SQLAlchemy renders."""
    assert sql(insert(users).values(name="x")) == "INSERT INTO users (name) VALUES (:name)"
    assert sql(insert(users).values([{"name": "a"}, {"name": "b"}])) == (
        "INSERT INTO users (name) VALUES (:name_m0), (:name_m1)"
    )
    assert sql(insert(users).from_select(["name"], select(addresses.c.email))) == (
        "INSERT INTO users (name) SELECT addresses.email FROM addresses"
    )
    assert sql(insert(users).values(name="x").returning(users.c.id, users.c.name)) == (
        "INSERT INTO users (name) VALUES (:name) RETURNING users.id, users.name"
    )


def test_insert_without_values_lists_all_columns_when_printed() -> None:
    """str(insert(t)) lists every column; compiled with no keys it is DEFAULT VALUES."""
    assert sql(insert(users)) == (
        'INSERT INTO users (id, name, "order") VALUES (:id, :name, :order)'
    )
    assert sql(insert(users), column_keys=frozenset()) == "INSERT INTO users DEFAULT VALUES"
    assert sql(insert(users), column_keys=None) == "INSERT INTO users DEFAULT VALUES"


def test_insert_with_column_keys_binds_those_columns() -> None:
    """Execution parameter keys become the VALUES of an INSERT."""
    compiled = insert(users).compile(dialect=SQLITE, column_keys=frozenset({"name", "id"}))
    assert compiled.string == "INSERT INTO users (id, name) VALUES (?, ?)"
    assert compiled.positiontup == ["id", "name"]
    assert compiled.construct_params({"id": 1, "name": "x"}) == {"id": 1, "name": "x"}


def test_insert_with_unknown_parameter_key_is_an_error() -> None:
    """A parameter key that names no column is reported (a typo, usually)."""
    with pytest.raises(exc.CompileError, match="Unconsumed column names: nmae"):
        insert(users).compile(column_keys=frozenset({"nmae"}))


def test_multi_row_insert_rows_must_match() -> None:
    """A later row missing a column the others give is refused."""
    with pytest.raises(exc.CompileError, match="Row 1 .* no value for column 'order'"):
        sql(insert(users).values([{"name": "a", "order": 1}, {"name": "b"}]))


def test_insert_values_with_sql_expression_and_none() -> None:
    """values() accept SQL expressions (inline) and None (a NULL bind, not 'required')."""
    stmt = insert(users).values(name=func.lower("X"), order=None)
    compiled = stmt.compile()
    assert compiled.string == 'INSERT INTO users (name, "order") VALUES (lower(:lower_1), :order)'
    assert compiled.construct_params() == {"lower_1": "X", "order": None}


def test_insert_values_refuses_unknown_columns() -> None:
    """values(nope=1) names the table's columns."""
    with pytest.raises(exc.ArgumentError, match="Unconsumed column name 'nope'"):
        insert(users).values(nope=1)


def test_implicit_returning_on_postgresql() -> None:
    """PostgreSQL fetches a missing primary key with RETURNING."""
    compiled = insert(users).values(name="x").compile(dialect=PG)
    assert compiled.string == "INSERT INTO users (name) VALUES (%s) RETURNING users.id"
    assert compiled.implicit_returning == [users.c.id]
    assert insert(users).values(id=1, name="x").compile(dialect=PG).implicit_returning == []


def _defaults_table() -> Table:
    md = MetaData()
    return Table(
        "d", md,
        Column("id", T.Integer, primary_key=True),
        Column("x", T.Integer, default=5),
        Column("y", T.DateTime, default=func.now(), onupdate=func.now()),
        Column("z", T.Integer, server_default=text("3")),
        Column("w", T.String, onupdate=lambda: "u"),
        Column("v", T.Integer, default=lambda ctx: 7),
    )


def test_insert_default_plan() -> None:
    """Python defaults are prefetched binds, SQL defaults inline and postfetched."""
    d = _defaults_table()
    compiled = insert(d).compile(column_keys=frozenset())
    assert compiled.string == "INSERT INTO d (x, y, v) VALUES (:x, now(), :v)"
    assert [(n, c.key, u) for n, c, u in compiled.prefetch] == [
        ("x", "x", False), ("v", "v", False)
    ]
    assert [c.key for c in compiled.postfetch] == ["id", "y", "z"]


def test_insert_given_value_overrides_default() -> None:
    """A column given a value is not defaulted."""
    d = _defaults_table()
    compiled = insert(d).values(x=1, y=None).compile()
    assert compiled.string == "INSERT INTO d (x, y, v) VALUES (:x, :y, :v)"
    assert [n for n, _c, _u in compiled.prefetch] == ["v"]


def test_multi_row_insert_defaults_per_row() -> None:
    """Each row of a multi-row INSERT gets its own default binds."""
    d = _defaults_table()
    compiled = insert(d).values([{"id": 1}, {"id": 2}]).compile()
    assert compiled.string == (
        "INSERT INTO d (id, x, y, v) VALUES (:id_m0, :x_m0, now(), :v_m0), "
        "(:id_m1, :x_m1, now(), :v_m1)"
    )
    assert [n for n, _c, _u in compiled.prefetch] == ["x_m0", "v_m0", "x_m1", "v_m1"]
    assert [c.key for c in compiled.postfetch] == ["y"]


def test_update_onupdate_plan() -> None:
    """onupdate: Python callables prefetched, SQL expressions inline."""
    d = _defaults_table()
    compiled = update(d).values(x=1).compile()
    assert compiled.string == "UPDATE d SET x=:x, y=now(), w=:w"
    assert [(n, u) for n, _c, u in compiled.prefetch] == [("w", True)]
    assert [c.key for c in compiled.postfetch] == ["y"]


def test_sequence_default_on_postgresql() -> None:
    """A Sequence default renders nextval() inline where sequences exist."""
    md = MetaData()
    t = Table("s", md, Column("id", T.Integer, Sequence("s_id_seq"), primary_key=True),
              Column("x", T.Integer))
    assert sql(insert(t).values(x=1), PG) == (
        "INSERT INTO s (id, x) VALUES (nextval('s_id_seq'), %s) RETURNING s.id"
    )
    assert sql(insert(t).values(x=1), SQLITE) == "INSERT INTO s (x) VALUES (?)"


# --- UPDATE / DELETE ---------------------------------------------------------------------


def test_update_forms() -> None:
    """SET from values (expressions grouped and qualified), WHERE, RETURNING."""
    assert sql(update(users).where(users.c.name == "p").values(name="q")) == (
        "UPDATE users SET name=:name WHERE users.name = :name_1"
    )
    assert sql(update(users).values(name="U: " + users.c.name)) == (
        "UPDATE users SET name=(:name_1 || users.name)"
    )
    stmt = update(users).where(users.c.id == 1).values(name="x").returning(users.c.id)
    assert sql(stmt) == "UPDATE users SET name=:name WHERE users.id = :id_1 RETURNING users.id"


def test_update_correlated_subquery() -> None:
    """A scalar subquery in SET correlates to the UPDATE's table."""
    subq = (
        select(addresses.c.email).where(addresses.c.user_id == users.c.id)
        .order_by(addresses.c.id).limit(1).scalar_subquery()
    )
    assert sql(update(users).values(name=subq)) == (
        "UPDATE users SET name=(SELECT addresses.email FROM addresses "
        "WHERE addresses.user_id = users.id ORDER BY addresses.id LIMIT :param_1)"
    )


def test_update_from_other_tables() -> None:
    """Criteria on another table render UPDATE ... FROM."""
    stmt = (
        update(users).where(users.c.id == addresses.c.user_id)
        .where(addresses.c.email == "e").values(name="Pat")
    )
    assert sql(stmt) == (
        "UPDATE users SET name=:name FROM addresses WHERE users.id = addresses.user_id "
        "AND addresses.email = :email_1"
    )


def test_update_set_from_execution_parameters_excludes_where_keys() -> None:
    """Parameter keys used by WHERE bindparams are criteria, not SET columns."""
    stmt = update(users).where(users.c.id == bindparam("id"))
    compiled = stmt.compile(dialect=SQLITE, column_keys=frozenset({"id", "name"}))
    assert compiled.string == "UPDATE users SET name=? WHERE users.id = ?"
    assert compiled.positiontup == ["name", "id"]
    stmt2 = update(users).where(users.c.name == bindparam("oldname")).values(
        name=bindparam("newname")
    )
    compiled2 = stmt2.compile(column_keys=frozenset({"oldname", "newname"}))
    assert compiled2.string == "UPDATE users SET name=:newname WHERE users.name = :oldname"


def test_update_where_bindparam_named_like_a_set_column_is_an_error() -> None:
    """bindparam("name") in WHERE and values(name=...) would be one parameter."""
    stmt = update(users).where(users.c.name == bindparam("name")).values(name="x")
    with pytest.raises(exc.CompileError, match="other than the column name"):
        sql(stmt)


def test_update_without_values_is_an_error() -> None:
    """An UPDATE with nothing to SET says how to give values."""
    with pytest.raises(exc.CompileError, match="no SET values"):
        sql(update(users).where(users.c.id == 1))


def test_delete_forms() -> None:
    """DELETE with WHERE and RETURNING; other tables in WHERE are refused."""
    assert sql(delete(users).where(users.c.id == 5).returning(users.c.id)) == (
        "DELETE FROM users WHERE users.id = :id_1 RETURNING users.id"
    )
    with pytest.raises(exc.CompileError, match="use a subquery"):
        sql(delete(users).where(users.c.id == addresses.c.user_id))


def test_delete_correlated_exists() -> None:
    """A subquery in DELETE's WHERE correlates to the deleted table."""
    stmt = delete(users).where(~exists().where(addresses.c.user_id == users.c.id))
    assert sql(stmt) == (
        "DELETE FROM users WHERE NOT (EXISTS (SELECT * FROM addresses "
        "WHERE addresses.user_id = users.id))"
    )


def test_dml_filter_by() -> None:
    """update()/delete() filter_by() use the target table."""
    assert sql(delete(users).filter_by(name="x")) == (
        "DELETE FROM users WHERE users.name = :name_1"
    )


# --- ON CONFLICT -----------------------------------------------------------------------


@pytest.mark.parametrize(("make", "dialect", "ph"), [
    (pg_insert, PG, "%s"), (sqlite_insert, SQLITE, "?"),
])
def test_on_conflict(make: Any, dialect: Dialect, ph: str) -> None:
    """DO NOTHING and DO UPDATE SET with excluded, on both dialects."""
    stmt = make(users).values(id=1, name="x")
    assert sql(stmt.on_conflict_do_nothing(), dialect) == (
        f"INSERT INTO users (id, name) VALUES ({ph}, {ph}) ON CONFLICT DO NOTHING"
    )
    assert sql(stmt.on_conflict_do_nothing(index_elements=["id"]), dialect).endswith(
        "ON CONFLICT (id) DO NOTHING"
    )
    upsert = stmt.on_conflict_do_update(
        index_elements=[users.c.id],
        set_={"name": stmt.excluded.name, "order": 5},
        where=users.c.name != stmt.excluded.name,
    )
    assert sql(upsert, dialect) == (
        f"INSERT INTO users (id, name) VALUES ({ph}, {ph}) ON CONFLICT (id) DO UPDATE SET "
        f'name = excluded.name, "order" = {ph} WHERE users.name != excluded.name'
    )


def test_on_conflict_named_constraint_and_index_where() -> None:
    """ON CONSTRAINT name; partial-index WHERE on the conflict target."""
    stmt = pg_insert(users).values(id=1)
    assert sql(stmt.on_conflict_do_nothing(constraint="users_pkey"), PG).endswith(
        "ON CONFLICT ON CONSTRAINT users_pkey DO NOTHING"
    )
    assert sql(stmt.on_conflict_do_nothing(index_elements=["name"],
                                           index_where=users.c.id > 5), PG).endswith(
        "ON CONFLICT (name) WHERE id > %s DO NOTHING"
    )


def test_on_conflict_do_update_needs_a_target_and_values() -> None:
    """do_update without a conflict target or set_ is refused."""
    with pytest.raises(exc.ArgumentError, match="index_elements"):
        pg_insert(users).on_conflict_do_update(set_={"name": "x"})
    with pytest.raises(exc.ArgumentError, match="set_"):
        pg_insert(users).on_conflict_do_update(index_elements=["id"])


def test_on_conflict_on_the_generic_dialect_is_an_error() -> None:
    """The generic dialect has no ON CONFLICT."""
    with pytest.raises(exc.CompileError, match="ON CONFLICT is not supported"):
        sql(pg_insert(users).values(id=1).on_conflict_do_nothing())


# --- identifiers and percent signs ---------------------------------------------------------


def test_identifier_quoting() -> None:
    """Reserved words, mixed case, quotes and odd characters are quoted; schemas too."""
    md = MetaData()
    t = Table(
        "User Table", md,
        Column("select", T.Integer), Column("MixedCase", T.Integer),
        Column('quo"te', T.Integer), Column("plain_1", T.Integer), Column("1st", T.Integer),
        schema="Sales",
    )
    assert sql(select(t)) == (
        'SELECT "Sales"."User Table"."select", "Sales"."User Table"."MixedCase", '
        '"Sales"."User Table"."quo""te", "Sales"."User Table".plain_1, '
        '"Sales"."User Table"."1st" FROM "Sales"."User Table"'
    )
    s2 = Table("accounts", md, Column("id", T.Integer), schema="billing")
    assert sql(select(s2.c.id)) == "SELECT billing.accounts.id FROM billing.accounts"


def test_percent_is_escaped_for_format_paramstyle() -> None:
    """Every literal % doubles for %s drivers: text, LIKE wildcards, modulo, identifiers."""
    md = MetaData()
    t = Table("t", md, Column("pct%", T.Integer), Column("s", T.String))
    stmt = select(t.c["pct%"] % 3, text("'100%'")).where(t.c.s.contains("x"))
    assert sql(stmt, PG) == (
        'SELECT t."pct%%" %% %s AS anon_1, \'100%%\' FROM t WHERE t.s LIKE \'%%\' || %s '
        "|| '%%'"
    )
    assert sql(stmt, SQLITE) == (
        'SELECT t."pct%" % ? AS anon_1, \'100%\' FROM t WHERE t.s LIKE \'%\' || ? || \'%\''
    )
    assert sql(text("SELECT 'a%' || :x"), PG) == "SELECT 'a%%' || %s"
    lit = select(t.c.s).where(t.c.s == "50%").compile(
        dialect=PG, compile_kwargs={"literal_binds": True})
    assert lit.string == "SELECT t.s FROM t WHERE t.s = '50%%'"


def test_custom_operator_with_percent_is_escaped() -> None:
    """A custom operator containing % is escaped for format-style drivers."""
    assert sql(users.c.name.op("%")("x"), PG) == "users.name %% %s"


# --- parameter styles and naming ---------------------------------------------------


@pytest.mark.parametrize(("style", "expected"), [
    ("qmark", "select ?, ?, ? from t"),
    ("named", "select :foo, :bar, :foo from t"),
    ("format", "select %s, %s, %s from t"),
    ("numeric", "select :1, :2, :3 from t"),
    ("pyformat", "select %(foo)s, %(bar)s, %(foo)s from t"),
])
def test_paramstyles(style: str, expected: str) -> None:
    """text() renders in every DB-API paramstyle; positional ones list each use."""
    compiled = text("select :foo, :bar, :foo from t").compile(dialect=Dialect(paramstyle=style))
    assert compiled.string == expected
    if compiled.positional:
        assert compiled.positiontup == ["foo", "bar", "foo"]


def test_unique_binds_get_numbered_names() -> None:
    """Literals against one column are :name_1, :name_2; a bindparam keeps its key."""
    stmt = select(users.c.id).where(
        users.c.name == "a", users.c.name == "b", users.c.id == bindparam("name")
    )
    compiled = stmt.compile()
    assert compiled.string == (
        "SELECT users.id FROM users WHERE users.name = :name_1 AND users.name = :name_2 "
        "AND users.id = :name"
    )
    assert compiled.construct_params({"name": 7}) == {"name_1": "a", "name_2": "b", "name": 7}


def test_bindparam_key_colliding_with_an_anonymous_name() -> None:
    """bindparam("name_1") and a literal against `name` stay two parameters."""
    stmt = select(users.c.id).where(users.c.name == bindparam("name_1"), users.c.name == "x")
    compiled = stmt.compile()
    assert compiled.string == (
        "SELECT users.id FROM users WHERE users.name = :name_1 AND users.name = :name_2"
    )
    assert compiled.construct_params({"name_1": "p"}) == {"name_1": "p", "name_2": "x"}


def test_same_bindparam_key_twice_is_one_parameter() -> None:
    """Two bindparam("x") objects share one parameter."""
    stmt = select(users.c.id).where(users.c.id > bindparam("x"), users.c.order < bindparam("x"))
    compiled = stmt.compile(dialect=SQLITE)
    assert compiled.string == 'SELECT users.id FROM users WHERE users.id > ? AND users."order" < ?'
    assert compiled.positiontup == ["x", "x"]
    assert list(compiled.binds) == ["x"]


def test_required_bindparam_missing_is_a_statement_error() -> None:
    """A bindparam without a value and no execution value raises StatementError."""
    compiled = select(users.c.id).where(users.c.id == bindparam("x")).compile()
    with pytest.raises(exc.StatementError, match="bind parameter 'x'"):
        compiled.construct_params({})
    assert compiled.construct_params({"x": 3}) == {"x": 3}


def test_execution_params_do_not_override_unique_literals_by_key() -> None:
    """A literal's bind is set only by its compiled name, not the column key."""
    compiled = select(users.c.id).where(users.c.name == "a").compile()
    assert compiled.construct_params({"name": "zzz"}) == {"name_1": "a"}
    assert compiled.construct_params({"name_1": "b"}) == {"name_1": "b"}


def test_callable_bind_values_are_computed_each_time() -> None:
    """bindparam(callable_=...) is called at construct_params time."""
    counter = iter(range(10))
    compiled = select(users.c.id).where(
        users.c.id == bindparam("x", callable_=lambda: next(counter))).compile()
    assert compiled.construct_params() == {"x": 0}
    assert compiled.construct_params() == {"x": 1}


# --- IN expansion ---------------------------------------------------------------------


def test_expand_renders_in_lists_per_execution() -> None:
    """expand() renders one placeholder per element, in positional order."""
    stmt = select(users.c.id).where(users.c.name == "n", users.c.id.in_([1, 2, 3]),
                                    users.c.order > 0)
    compiled = stmt.compile(dialect=SQLITE)
    assert compiled.string == (
        'SELECT users.id FROM users WHERE users.name = ? AND users.id IN __[EXPAND_id_1]__ '
        'AND users."order" > ?'
    )
    text_, order, values = compiled.expand(compiled.construct_params())
    assert text_ == (
        'SELECT users.id FROM users WHERE users.name = ? AND users.id IN (?, ?, ?) '
        'AND users."order" > ?'
    )
    assert order == ["name_1", "id_1_1", "id_1_2", "id_1_3", "order_1"]
    assert [values[n] for n in order] == ["n", 1, 2, 3, 0]


def test_expand_empty_list_renders_an_empty_subquery() -> None:
    """IN () is invalid SQL: an empty list becomes a typed empty SELECT."""
    compiled = select(users.c.id).where(users.c.id.in_([])).compile(dialect=PG)
    text_, order, _values = compiled.expand(compiled.construct_params())
    assert text_ == (
        "SELECT users.id FROM users WHERE users.id IN (SELECT CAST(NULL AS INTEGER) WHERE 1!=1)"
    )
    assert order == []


def test_expand_numeric_paramstyle_renumbers() -> None:
    """numeric placeholders are renumbered after expansion."""
    compiled = select(users.c.id).where(users.c.id.in_([5, 6]), users.c.name == "x").compile(
        dialect=Dialect(paramstyle="numeric"))
    text_, order, _ = compiled.expand(compiled.construct_params())
    assert text_ == "SELECT users.id FROM users WHERE users.id IN (:1, :2) AND users.name = :3"
    assert order == ["id_1_1", "id_1_2", "name_1"]


def test_expand_tuple_rows_and_processes_each_position() -> None:
    """tuple_ IN expands to row placeholders; each value goes through its type."""
    md = MetaData()
    t = Table("t", md, Column("d", T.Date), Column("n", T.Integer))
    compiled = select(t.c.n).where(
        tuple_(t.c.d, t.c.n).in_([(dt.date(2020, 1, 2), 1)])).compile(dialect=SQLITE)
    text_, order, values = compiled.expand(compiled.construct_params())
    assert text_ == "SELECT t.n FROM t WHERE (t.d, t.n) IN ((?, ?))"
    assert [values[n] for n in order] == ["2020-01-02", 1]


def test_expand_empty_tuple_in() -> None:
    """An empty tuple IN renders a typed, empty two-column SELECT."""
    compiled = select(users.c.id).where(tuple_(users.c.id, users.c.name).in_([])).compile(
        dialect=PG)
    text_, _order, _values = compiled.expand(compiled.construct_params())
    assert text_.endswith(
        "(users.id, users.name) IN (SELECT CAST(NULL AS INTEGER), CAST(NULL AS VARCHAR(50)) "
        "WHERE 1!=1)"
    )


def test_in_with_literal_binds() -> None:
    """literal_binds renders IN lists (and empty ones) inline."""
    kw = {"compile_kwargs": {"literal_binds": True}}
    assert sql(select(users.c.id).where(users.c.id.in_([1, 2])), **kw) == (
        "SELECT users.id FROM users WHERE users.id IN (1, 2)"
    )
    assert sql(select(users.c.id).where(users.c.name.in_([])), **kw).endswith(
        "IN (SELECT CAST(NULL AS VARCHAR(50)) WHERE 1!=1)"
    )


def test_literal_binds_refuses_unrenderable_values() -> None:
    """An object with no literal form gives a CompileError."""
    with pytest.raises(exc.CompileError, match="No literal value renderer"):
        sql(select(users.c.id).where(users.c.id == object()),
            compile_kwargs={"literal_binds": True})


# --- result column plan -----------------------------------------------------------------


def test_result_columns_and_keys() -> None:
    """Result keys: labels' names, column keys, de-duplicated names."""
    compiled = select(users.c.id, addresses.c.id, users.c.name.label("n"),
                      func.count(users.c.id)).compile()
    assert [k for k, _t in compiled.result_columns] == ["id", "id_1", "n", "count"]
    assert compiled.result_column_objects[0] is users.c.id
    assert compiled.isselect


def test_returning_result_columns() -> None:
    """RETURNING columns are the result columns of a DML statement."""
    compiled = delete(users).returning(users.c.id, users.c.name.label("nm")).compile()
    assert compiled.string == "DELETE FROM users RETURNING users.id, users.name AS nm"
    assert [k for k, _t in compiled.result_columns] == ["id", "nm"]


def test_text_columns_give_result_types() -> None:
    """text().columns() declares result columns and types."""
    compiled = text("SELECT 1 AS a").columns(a=T.Integer).compile()
    assert compiled.isselect and [k for k, _t in compiled.result_columns] == ["a"]


def test_unknown_element_is_unsupported() -> None:
    """An object the compiler has no visit method for is reported by type."""
    class Weird:
        __visit_name__ = "weird"

    with pytest.raises(exc.UnsupportedCompilationError, match="Weird"):
        Compiled(Dialect(), Weird())


def test_expanding_bindparam_takes_its_list_at_execution() -> None:
    """in_(bindparam("ids", expanding=True)) is filled from the parameters."""
    stmt = select(users.c.id).where(users.c.id.in_(bindparam("ids", expanding=True)))
    compiled = stmt.compile(dialect=SQLITE)
    assert compiled.string == "SELECT users.id FROM users WHERE users.id IN __[EXPAND_ids]__"
    text_, order, values = compiled.expand(compiled.construct_params({"ids": [7, 8]}))
    assert text_ == "SELECT users.id FROM users WHERE users.id IN (?, ?)"
    assert [values[n] for n in order] == [7, 8]
    with pytest.raises(exc.StatementError, match="'ids'"):
        compiled.construct_params({})


def test_is_true_renders_the_keyword_not_a_parameter() -> None:
    """is_(True) must be IS true (IS takes no parameter); 1/0 without native booleans."""
    flag = column("flag", T.Boolean)
    assert sql(flag.is_(True), PG) == "flag IS true"
    assert sql(flag.is_not(False), SQLITE) == "flag IS NOT 0"


def test_str_of_a_subquery_is_its_select() -> None:
    """Printing a subquery shows its SELECT without parentheses."""
    subq = select(users.c.id).where(users.c.id > 1).subquery()
    assert sql(subq) == "SELECT users.id FROM users WHERE users.id > :id_1"


def test_dialect_function_hooks() -> None:
    """A compiler's visit_<name>_func method renders that function."""
    class NowCompiler(Compiled):
        def visit_now_func(self, fn: Any, **kw: Any) -> str:
            return "CURRENT_TIMESTAMP"

    assert NowCompiler(Dialect(), select(func.now())).string == (
        "SELECT CURRENT_TIMESTAMP AS now_1"
    )


def test_join_from_an_alias_infers_the_on_clause() -> None:
    """An alias on the left side still finds the foreign key pointing at its table."""
    u = users.alias("u")
    assert sql(select(u.c.name).join(addresses)) == (
        "SELECT u.name FROM users AS u JOIN addresses ON u.id = addresses.user_id"
    )


def test_compiler_split_keeps_import_paths_and_dialect_overrides() -> None:
    """Compiled/SQLCompiler stay in sql.compiler, built from the SELECT and DML parts,
    and the dialect compilers' overrides still win over the generic methods."""
    from docket.dialects.postgresql.base import PGCompiler
    from docket.dialects.sqlite.base import SQLiteCompiler
    from docket.sql import compiler
    from docket.sql.compiler_base import CompilerBase
    from docket.sql.compiler_dml import DMLCompiler
    from docket.sql.compiler_select import SelectCompiler

    assert compiler.SQLCompiler is Compiled
    assert Dialect.statement_compiler is Compiled
    assert issubclass(Compiled, SelectCompiler) and issubclass(Compiled, DMLCompiler)
    assert issubclass(SelectCompiler, CompilerBase) and issubclass(DMLCompiler, CompilerBase)
    assert issubclass(PGCompiler, Compiled) and issubclass(SQLiteCompiler, Compiled)
    assert PGCompiler.render_distinct is not SelectCompiler.render_distinct
    assert PGCompiler.delete_extra_from_clause is not DMLCompiler.delete_extra_from_clause
    assert SQLiteCompiler.render_for_update is not SelectCompiler.render_for_update
    assert sql(select(users.c.id).with_for_update(), SQLITE) == "SELECT users.id FROM users"
