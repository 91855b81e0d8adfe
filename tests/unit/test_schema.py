"""Schema objects: MetaData registration, Table redefinition rules, columns,
keys, constraints and indexes made from column flags, defaults, and copies."""

from __future__ import annotations

import pytest

from docket import exc
from docket.sql import (
    CheckConstraint,
    Column,
    ColumnDefault,
    Computed,
    DefaultClause,
    ForeignKey,
    ForeignKeyConstraint,
    Identity,
    Index,
    MetaData,
    PrimaryKeyConstraint,
    Sequence,
    Table,
    UniqueConstraint,
    func,
    select,
    text,
)
from docket.sql import types as T


def _users(md: MetaData) -> Table:
    return Table(
        "users", md,
        Column("id", T.Integer, primary_key=True),
        Column("name", T.String(50), index=True, unique=True),
        Column("email", T.String(100), unique=True),
        Column("nick", T.String, key="nickname", nullable=False),
    )


def test_table_registers_in_metadata() -> None:
    """A Table is in its MetaData under its name (schema-qualified with a schema)."""
    md = MetaData()
    users = _users(md)
    other = Table("accounts", md, Column("id", T.Integer), schema="billing")
    assert md.tables == {"users": users, "billing.accounts": other}
    assert "users" in md and users in md and "accounts" not in md
    assert other.fullname == "billing.accounts"


def test_metadata_schema_applies_to_its_tables() -> None:
    """MetaData(schema=...) is the default schema of its tables."""
    md = MetaData(schema="s")
    t = Table("t", md, Column("id", T.Integer))
    assert t.schema == "s" and "s.t" in md.tables


def test_columns_in_order_with_keys() -> None:
    """table.c lists columns in order, by key; key= renames the attribute only."""
    users = _users(MetaData())
    assert users.c.keys() == ["id", "name", "email", "nickname"]
    assert users.c.nickname.name == "nick"
    assert users.c[0] is users.c.id and users.c["name"] is users.c.name
    with pytest.raises(AttributeError, match="No column named 'nope'"):
        _ = users.c.nope


def test_nullable_defaults() -> None:
    """Columns are nullable unless primary key or nullable=False."""
    users = _users(MetaData())
    assert users.c.id.nullable is False
    assert users.c.name.nullable is True
    assert users.c.nickname.nullable is False


def test_primary_key_constraint_from_column_flags() -> None:
    """primary_key=True columns form the table's PrimaryKeyConstraint in order."""
    md = MetaData()
    t = Table("t", md, Column("b", T.Integer, primary_key=True),
              Column("a", T.Integer, primary_key=True), Column("c", T.Integer))
    assert isinstance(t.primary_key, PrimaryKeyConstraint)
    assert list(t.primary_key) == [t.c.b, t.c.a]
    assert t.c.b in t.primary_key and t.c.c not in t.primary_key
    assert t.primary_key in t.constraints


def test_table_level_primary_key_constraint_replaces_flags() -> None:
    """A named PrimaryKeyConstraint marks its columns primary and NOT NULL."""
    md = MetaData()
    t = Table("t", md, Column("a", T.Integer), Column("b", T.Integer),
              PrimaryKeyConstraint("a", "b", name="pk_t"))
    assert t.primary_key.name == "pk_t"
    assert [c.key for c in t.primary_key] == ["a", "b"]
    assert t.c.a.primary_key and t.c.a.nullable is False
    assert sum(isinstance(c, PrimaryKeyConstraint) for c in t.constraints) == 1


def test_index_and_unique_from_column_flags() -> None:
    """index=True makes ix_<table>_<col> (unique with unique=True); unique=True alone a UNIQUE."""
    users = _users(MetaData())
    [ix] = users.indexes
    assert ix.name == "ix_users_name" and ix.unique is True and ix.columns == [users.c.name]
    uniques = [c for c in users.constraints if isinstance(c, UniqueConstraint)]
    assert [list(u.columns.keys()) for u in uniques] == [["email"]]


def test_table_level_index_and_constraints() -> None:
    """Index, UniqueConstraint and CheckConstraint given to the Table attach to it."""
    md = MetaData()
    t = Table("t", md, Column("a", T.Integer), Column("b", T.Integer),
              UniqueConstraint("a", "b", name="uq_ab"), CheckConstraint("a > 0", name="ck_a"),
              Index("ix_b", "b"))
    [ix] = t.indexes
    assert ix.name == "ix_b" and ix.table is t and ix.columns == [t.c.b]
    names = {c.name for c in t.constraints}
    assert {"uq_ab", "ck_a"} <= names


def test_index_created_after_the_table_attaches_itself() -> None:
    """Index("ix", t.c.x) or a functional index attaches to the column's table."""
    md = MetaData()
    t = Table("t", md, Column("a", T.String))
    ix = Index("ix_a", t.c.a)
    fx = Index("ix_lower_a", func.lower(t.c.a))
    assert ix.table is t and fx.table is t and {ix, fx} <= t.indexes


def test_redefining_a_table_is_an_error() -> None:
    """Table("users", md, <columns>) twice is refused, naming extend_existing."""
    md = MetaData()
    _users(md)
    with pytest.raises(exc.InvalidRequestError, match="extend_existing=True"):
        Table("users", md, Column("x", T.Integer))


def test_table_without_columns_returns_the_existing_one() -> None:
    """Table("users", md) looks up the existing table."""
    md = MetaData()
    users = _users(md)
    assert Table("users", md) is users


def test_extend_existing_adds_and_replaces_columns() -> None:
    """extend_existing=True adds new columns and replaces same-named ones."""
    md = MetaData()
    users = _users(md)
    same = Table("users", md, Column("age", T.Integer), Column("email", T.Text),
                 extend_existing=True)
    assert same is users
    assert users.c.keys() == ["id", "name", "email", "nickname", "age"]
    assert isinstance(users.c.email.type, T.Text)


def test_keep_existing_ignores_the_new_definition() -> None:
    """keep_existing=True returns the table unchanged."""
    md = MetaData()
    users = _users(md)
    same = Table("users", md, Column("age", T.Integer), keep_existing=True)
    assert same is users and "age" not in users.c


def test_table_argument_errors() -> None:
    """A non-MetaData second argument or unknown keywords are refused clearly."""
    with pytest.raises(exc.ArgumentError, match="must be a MetaData"):
        Table("t", "not metadata")
    with pytest.raises(exc.ArgumentError, match="Unknown arguments passed to Table"):
        Table("t", MetaData(), Column("a", T.Integer), bogus=1)
    with pytest.raises(exc.ArgumentError, match="is not a Column"):
        Table("t2", MetaData(), "oops")


def test_column_argument_errors() -> None:
    """Unknown keywords and stray positional arguments name the column."""
    with pytest.raises(exc.ArgumentError, match="Unknown arguments passed to Column 'a'"):
        Column("a", T.Integer, bogus=True)
    with pytest.raises(exc.ArgumentError, match="positional argument 5"):
        Column("a", T.Integer, 5)


def test_column_belongs_to_one_table() -> None:
    """Adding a column to a second table is refused; _copy() makes a reusable copy."""
    md = MetaData()
    col = Column("a", T.Integer)
    Table("t1", md, col)
    with pytest.raises(exc.ArgumentError, match="already belongs to table 't1'"):
        Table("t2", md, col)
    t3 = Table("t3", md, col._copy())
    assert t3.c.a is not col and t3.c.a.table is t3


def test_foreign_key_type_is_inferred_from_the_referenced_column() -> None:
    """Column("x", ForeignKey(...)) takes the target's type, even if declared later."""
    md = MetaData()
    child = Table("child", md, Column("id", T.Integer, primary_key=True),
                  Column("parent_id", None, ForeignKey("parent.id")),
                  Column("other_id", ForeignKey("parent.id")))
    assert isinstance(child.c.parent_id.type, T.NullType)
    parent = Table("parent", md, Column("id", T.BigInteger, primary_key=True))
    assert child.c.parent_id.type is parent.c.id.type
    assert child.c.other_id.type is parent.c.id.type
    [fk, _] = child.foreign_keys
    assert fk.column is parent.c.id and fk.parent is child.c.parent_id
    assert fk.references(parent) and child.c.parent_id.references(parent.c.id)


def test_foreign_key_errors_name_what_is_missing() -> None:
    """A FK to a missing table or column raises a specific error."""
    md = MetaData()
    t = Table("t", md, Column("a", T.Integer, ForeignKey("nope.id")))
    with pytest.raises(exc.NoReferencedTableError, match="could not find table 'nope'"):
        _ = t.foreign_keys[0].column
    Table("p", md, Column("id", T.Integer))
    t2 = Table("t2", md, Column("a", T.Integer, ForeignKey("p.missing")))
    with pytest.raises(exc.NoReferencedColumnError, match="no column named 'missing'"):
        _ = t2.foreign_keys[0].column
    with pytest.raises(exc.ArgumentError, match="table.column"):
        _ = Table("t3", md, Column("a", T.Integer, ForeignKey("justaname"))).foreign_keys[0].column


def test_column_level_foreign_key_makes_a_constraint() -> None:
    """Each column ForeignKey gets its ForeignKeyConstraint; ondelete carries over."""
    md = MetaData()
    Table("p", md, Column("id", T.Integer, primary_key=True))
    c = Table("c", md, Column("pid", T.Integer, ForeignKey("p.id", ondelete="CASCADE")))
    [fkc] = c.foreign_key_constraints
    assert fkc.ondelete == "CASCADE" and fkc.columns == [c.c.pid]
    assert fkc.referred_table is md.tables["p"]


def test_composite_foreign_key_constraint() -> None:
    """ForeignKeyConstraint pairs columns with referenced columns."""
    md = MetaData()
    p = Table("p", md, Column("a", T.Integer, primary_key=True),
              Column("b", T.Integer, primary_key=True))
    c = Table("c", md, Column("x", T.Integer), Column("y", T.Integer),
              ForeignKeyConstraint(["x", "y"], ["p.a", "p.b"], name="fk_c"))
    [fkc] = c.foreign_key_constraints
    assert fkc.name == "fk_c" and fkc.column_keys == ["x", "y"]
    assert [fk.column for fk in fkc.elements] == [p.c.a, p.c.b]
    with pytest.raises(exc.ArgumentError, match="must pair up"):
        ForeignKeyConstraint(["x"], ["p.a", "p.b"])


def test_join_condition_from_composite_foreign_key() -> None:
    """A composite FK yields an ON clause ANDing every pair."""
    md = MetaData()
    p = Table("p", md, Column("a", T.Integer, primary_key=True),
              Column("b", T.Integer, primary_key=True))
    c = Table("c", md, Column("x", T.Integer), Column("y", T.Integer),
              ForeignKeyConstraint(["x", "y"], ["p.a", "p.b"]))
    assert str(select(p.c.a).join(c)) == (
        "SELECT p.a FROM p JOIN c ON p.a = c.x AND p.b = c.y"
    )


def test_autoincrement_column_rules() -> None:
    """A lone integer PK without FK or default autoincrements; others don't."""
    md = MetaData()
    assert Table("a", md, Column("id", T.Integer, primary_key=True)).autoincrement_column \
        is md.tables["a"].c.id
    assert Table("b", md, Column("id", T.BigInteger, primary_key=True)).autoincrement_column \
        is md.tables["b"].c.id
    assert Table("c", md, Column("id", T.String, primary_key=True)).autoincrement_column is None
    assert Table("d", md, Column("x", T.Integer, primary_key=True),
                 Column("y", T.Integer, primary_key=True)).autoincrement_column is None
    assert Table("e", md, Column("x", T.Integer, ForeignKey("a.id"), primary_key=True)
                 ).autoincrement_column is None
    assert Table("f", md, Column("x", T.Integer, primary_key=True, autoincrement=False)
                 ).autoincrement_column is None
    assert Table("g", md, Column("x", T.Integer, primary_key=True, default=5)
                 ).autoincrement_column is None
    g2 = Table("g2", md, Column("x", T.Integer, primary_key=True),
               Column("y", T.Integer, primary_key=True, autoincrement=True))
    assert g2.autoincrement_column is g2.c.y
    h = Table("h", md, Column("x", T.Integer, Sequence("h_seq"), primary_key=True))
    assert h.autoincrement_column is h.c.x
    i = Table("i", md, Column("x", T.Integer, Identity(), primary_key=True))
    assert i.autoincrement_column is i.c.x


def test_defaults_are_described() -> None:
    """default/onupdate/server_default become ColumnDefault / DefaultClause objects."""
    md = MetaData()
    t = Table(
        "t", md,
        Column("a", T.Integer, default=5),
        Column("b", T.Integer, default=lambda: 7),
        Column("c", T.Integer, default=lambda ctx: 8),
        Column("d", T.DateTime, default=func.now(), onupdate=func.now()),
        Column("e", T.String, server_default="x", server_onupdate=text("y")),
    )
    a, b, c, d, e = (t.c[k] for k in "abcde")
    assert isinstance(a.default, ColumnDefault) and a.default.is_scalar and a.default.arg == 5
    assert b.default.is_callable and b.default.arg(None) == 7
    assert c.default.is_callable and c.default.arg("ctx") == 8
    assert d.default.is_clause_element and d.onupdate.for_update
    assert isinstance(e.server_default, DefaultClause) and e.server_default.arg == "x"
    assert e.server_onupdate.for_update
    with pytest.raises(exc.ArgumentError, match="server_default must be"):
        Column("f", T.Integer, server_default=5)


def test_computed_and_identity() -> None:
    """Computed and Identity attach to their column."""
    md = MetaData()
    t = Table("t", md, Column("id", T.Integer, Identity(always=True, start=10)),
              Column("twice", T.Integer, Computed("id * 2", persisted=True)))
    assert t.c.id.identity is not None and t.c.id.identity.always and t.c.id.identity.start == 10
    assert t.c.twice.computed is not None and t.c.twice.server_default is t.c.twice.computed


def test_copy_keeps_the_definition_but_not_the_table() -> None:
    """_copy() copies type, flags, keys, FKs and defaults; the copy is detached."""
    md = MetaData()
    Table("p", md, Column("id", T.Integer, primary_key=True))
    t = Table("t", md, Column("x", T.Integer, ForeignKey("p.id", ondelete="CASCADE"),
                              key="ex", default=3, nullable=False, index=True,
                              server_default=text("1")))
    col = t.c.ex
    dup = col._copy()
    assert dup.table is None and dup.name == "x" and dup.key == "ex"
    assert dup.type is col.type and dup.nullable is False and dup.index is True
    assert dup.default.arg == 3 and dup.default is not col.default and dup.default.column is dup
    assert col.default.column is col
    assert dup.server_default.column is dup and col.server_default.column is col
    [fk] = dup.foreign_keys
    assert fk.ondelete == "CASCADE" and fk.target_fullname == "p.id" and fk is not col.foreign_keys[0]


def test_to_metadata_copies_a_table() -> None:
    """to_metadata() rebuilds the table with its constraints in another MetaData."""
    md, md2 = MetaData(), MetaData()
    users = Table("users", md, Column("id", T.Integer, primary_key=True),
                  Column("a", T.Integer), UniqueConstraint("a", name="uq_a"),
                  CheckConstraint("a > 0", name="ck"))
    copy = users.to_metadata(md2)
    assert copy is not users and md2.tables["users"] is copy
    assert copy.c.keys() == ["id", "a"] and list(copy.primary_key) == [copy.c.id]
    assert {c.name for c in copy.constraints} >= {"uq_a", "ck"}


def test_metadata_remove_and_clear() -> None:
    """remove() and clear() forget tables."""
    md = MetaData()
    users = _users(md)
    md.remove(users)
    assert "users" not in md
    _users(md)
    md.clear()
    assert md.tables == {}


def test_column_named_later_for_declarative() -> None:
    """A Column without a name gets one before joining a table; without one it is refused."""
    col = Column(T.Integer)
    with pytest.raises(exc.ArgumentError, match="must have a name"):
        Table("t", MetaData(), col)
    col2 = Column(T.Integer)
    col2._set_name("x")
    assert col2.name == "x" and col2.key == "x"
