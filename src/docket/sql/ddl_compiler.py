"""The DDL compiler: renders DDL elements (``docket.sql.ddl``) as SQL.

* :class:`DDLCompiler` -- one per rendered element; dispatch is on the
  element's ``__visit_name__``; dialects subclass it and override the hooks
  where their SQL differs.
* :func:`constraint_name` -- a constraint's or index's DDL name (its own, or
  one made from the MetaData's ``naming_convention``).
* :func:`effective_type` / :func:`native_enum_types` -- the type a dialect
  really uses, and the named enum types a set of tables needs.

Invariant of every compiled DDL string: it is the SQL exactly as the database
takes it (no ``%%`` escaping for ``format``-paramstyle drivers); the engine
executes it without parameters.  ``docket.sql.ddl`` re-exports every public
name here.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from docket import exc
from docket.sql import types as sqltypes
from docket.sql.elements import ColumnClause, TextClause, UnaryExpression
from docket.sql.functions import Function
from docket.sql.schema import (
    CheckConstraint,
    Column,
    Computed,
    Constraint,
    DefaultClause,
    ForeignKeyConstraint,
    Identity,
    Index,
    PrimaryKeyConstraint,
    Table,
    UniqueConstraint,
)
from docket.sql.schema import Sequence as SchemaSequence

if TYPE_CHECKING:
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
    )

__all__ = ["DDLCompiler", "constraint_name", "effective_type", "native_enum_types"]


def _creation_key(item: Any, table: Any) -> tuple[Any, ...]:
    """Deterministic order for a table's constraints: creation order when the
    schema records it, else first column position, then name."""
    order = getattr(item, "_creation_order", None)
    if order is not None:
        return (0, order)
    positions = {c: i for i, c in enumerate(table.c)} if table is not None else {}
    cols = list(getattr(item, "columns", ()) or ())
    first = min((positions.get(c, len(positions)) for c in cols), default=len(positions))
    return (1, first, item.name or "")


def effective_type(type_: sqltypes.TypeEngine, dialect: Any) -> sqltypes.TypeEngine:
    """The type a dialect really uses: its variant, with TypeDecorators unwrapped."""
    name = getattr(dialect, "name", None)
    for _ in range(20):  # TypeDecorator chains are short; the bound guards a loop
        if type_._variant_mapping:
            type_ = type_._variant_mapping.get(name, type_)  # type: ignore[arg-type]
        if not isinstance(type_, sqltypes.TypeDecorator):
            break
        type_ = type_.type_engine(dialect)
    return type_


def native_enum_types(tables: Iterable[Table], dialect: Any) -> list[sqltypes.Enum]:
    """Enum types of these tables' columns that the dialect creates as named
    types (``CREATE TYPE ... AS ENUM``), first use first, one per name."""
    if not dialect.supports_native_enum:
        return []
    found: dict[tuple[str | None, str | None], sqltypes.Enum] = {}
    for table in tables:
        for column in table.c:
            t = effective_type(column.type, dialect)
            item = getattr(t, "item_type", None)  # ARRAY(Enum)
            for candidate in (t, item):
                if (
                    isinstance(candidate, sqltypes.Enum) and candidate.native_enum
                    and getattr(candidate, "create_type", True)
                ):
                    found.setdefault((candidate.schema, candidate.name), candidate)
    return list(found.values())


_TOKEN = re.compile(r"^(referred_)?column_(\d+)(N|_N)?_(name|key|label)$")
_CONVENTION_KEYS: tuple[tuple[type, str], ...] = (
    (PrimaryKeyConstraint, "pk"),
    (UniqueConstraint, "uq"),
    (CheckConstraint, "ck"),
    (ForeignKeyConstraint, "fk"),
    (Index, "ix"),
)


class _ConventionTokens(dict[str, str]):
    """``%(token)s`` values for a naming convention, computed on lookup."""

    def __init__(self, item: Any, table: Any) -> None:
        super().__init__()
        self.item = item
        self.table = table

    def __missing__(self, key: str) -> str:
        item, table = self.item, self.table
        if key == "table_name":
            return str(table.name)
        if key == "constraint_name":
            if item.name is None:
                raise exc.InvalidRequestError(
                    f"Naming convention including %(constraint_name)s token requires that "
                    f"constraint {item!r} on table '{table.name}' is explicitly named; "
                    "pass name=..."
                )
            return str(item.name)
        if key == "referred_table_name":
            return str(item.referred_table.name)
        m = _TOKEN.match(key)
        if m is None:
            raise KeyError(key)
        referred, index, multi, attr = m.groups()
        if referred:
            cols = [fk.column for fk in item.elements]
        else:
            cols = list(getattr(item, "columns", ()))
        if not multi:
            cols = cols[int(index):int(index) + 1]
            if not cols:
                raise KeyError(key)

        def one(c: Any) -> str:
            if attr == "label":
                return f"{c.table.name}_{c.name}"
            return str(c.key if attr == "key" else c.name)

        return ("_" if multi == "_N" else "").join(one(c) for c in cols)


def constraint_name(item: Any, table: Any, dialect: Any) -> str | None:
    """The DDL name of a constraint or index: its own, or one made from the
    MetaData's ``naming_convention`` (a ``%(constraint_name)s`` convention
    applies to named constraints too), truncated to the dialect's limit.

    Raises:
        InvalidRequestError: a convention needs a name the constraint lacks.
    """
    metadata = getattr(table, "metadata", None)
    convention = getattr(metadata, "naming_convention", None) or {}
    template = None
    for cls, key in _CONVENTION_KEYS:
        if isinstance(item, cls):
            template = convention.get(cls) or convention.get(key)
            break
    name: str | None = item.name
    if template is None or (name is not None and "%(constraint_name)s" not in template):
        return name
    try:
        generated = template % _ConventionTokens(item, table)
    except KeyError as err:
        raise exc.InvalidRequestError(
            f"Naming convention {template!r} uses unknown token {err.args[0]!r}; known tokens: "
            "table_name, referred_table_name, constraint_name, column_0_name, column_0N_name, "
            "column_0_N_name (also _key/_label and referred_column_... forms)"
        ) from None
    limit = getattr(dialect, "max_identifier_length", 63)
    if len(generated) > limit:
        digest = hashlib.md5(generated.encode("utf-8"), usedforsecurity=False).hexdigest()
        generated = generated[: limit - 8] + "_" + digest[-4:]
    return generated



class _TypeCheck:
    """A CHECK constraint a column's type asks for (non-native Boolean/Enum
    with ``create_constraint=True``); built per compile, never attached."""

    def __init__(self, name: str | None, sqltext: str, column: Column) -> None:
        self.name = name
        self.sqltext = sqltext
        self.column = column
        self.deferrable = None
        self.initially = None



# --- the compiler ---------------------------------------------------------------------

_FK_ACTION = re.compile(r"^(?:RESTRICT|CASCADE|SET NULL|NO ACTION|SET DEFAULT)$", re.I)
_INITIALLY = re.compile(r"^(?:DEFERRED|IMMEDIATE)$", re.I)
_MATCH = re.compile(r"^(?:FULL|PARTIAL|SIMPLE)$", re.I)


def _validated(value: str, pattern: re.Pattern[str], what: str, owner: Any) -> str:
    """``value`` if it is one of the SQL phrases ``pattern`` allows (it is
    rendered verbatim, so anything else could inject SQL)."""
    if not pattern.match(value):
        allowed = pattern.pattern.strip("^$").removeprefix("(?:").removesuffix(")")
        raise exc.CompileError(
            f"Unexpected SQL phrase {value!r} for {what} of {owner!r}; use one of: "
            f"{allowed.replace('|', ', ')}"
        )
    return value


_KIND_RANK: tuple[tuple[type, int], ...] = (
    (UniqueConstraint, 0), (CheckConstraint, 1), (_TypeCheck, 1), (ForeignKeyConstraint, 2),
)


def _kind_rank(item: Any) -> int:
    return next((rank for cls, rank in _KIND_RANK if isinstance(item, cls)), 3)


def _is_column_level(c: Constraint) -> bool:
    """Made from a Column argument (``unique=True``, ``ForeignKey``)."""
    if isinstance(c, UniqueConstraint):
        return bool(getattr(c, "_column_flag", False))
    if isinstance(c, ForeignKeyConstraint):
        specs = c._col_specs
        return len(specs) == 1 and isinstance(specs[0], Column)
    return False


class DDLCompiler:
    """Renders one DDL element as SQL for a dialect; the result is ``.string``.

    Dispatch is on the element's ``__visit_name__`` (``visit_create_table``
    ...). Dialects subclass and override the hooks where their SQL differs:
    ``get_column_specification``, ``post_create_table``, the
    ``visit_*_constraint`` methods, ``define_constraint_remote_table``,
    ``visit_create_index``, ``visit_computed_column``.

    Args:
        dialect: the dialect (quoting, capability flags, type compiler).
        statement: the DDL element.
    """

    #: create_all emits ``COMMENT ON`` statements for table/column comments
    supports_comments = False

    def __init__(self, dialect: Any, statement: Any, **kw: Any) -> None:
        self.dialect = dialect
        self.statement = statement
        self._sql: Any = None
        self.string: str = self.process(statement, **kw)

    def __str__(self) -> str:
        return self.string

    @property
    def params(self) -> dict[str, Any]:
        """DDL has no bound parameters."""
        return {}

    def process(self, element: Any, **kw: Any) -> str:
        """Render ``element`` with its ``visit_<name>`` method.

        Raises:
            UnsupportedCompilationError: no method renders this element.
        """
        name = getattr(element, "__visit_name__", None)
        meth = getattr(self, f"visit_{name}", None) if name else None
        if meth is None:
            raise exc.UnsupportedCompilationError(
                f"{type(self).__name__} for dialect '{self.dialect.name}' can't render "
                f"{type(element).__name__} ({element!r})"
            )
        text: str = meth(element, **kw)
        return text

    # -- rendering helpers ------------------------------------------------------
    @property
    def sql_compiler(self) -> Any:
        """A statement compiler (literal binds) for expressions inside DDL."""
        if self._sql is None:
            from docket.sql.compiler import SQLCompiler

            cls = getattr(self.dialect, "statement_compiler", None) or SQLCompiler
            self._sql = cls(self.dialect, TextClause(""), literal_binds=True)
        return self._sql

    def _unescape(self, text: str) -> str:
        # statement compilers double '%' for format-style drivers; DDL runs unparametrised
        return text.replace("%%", "%") if getattr(self.dialect, "escape_percent", False) else text

    def render_expression(self, expr: Any, **kw: Any) -> str:
        """A SQL expression inline: literal values, column names without table."""
        kw.setdefault("include_table", False)
        return self._unescape(self.sql_compiler.process(expr, literal_binds=True, **kw))

    def render_literal(self, value: Any, type_: sqltypes.TypeEngine = sqltypes.STRINGTYPE) -> str:
        """A Python value as a SQL literal of ``type_`` (strings: standard SQL quoting)."""
        if isinstance(value, str) and isinstance(type_, sqltypes.String):
            return "'" + value.replace("'", "''") + "'"
        return self._unescape(self.sql_compiler.render_literal_value(value, type_))

    def quote(self, ident: str, force: bool | None = None) -> str:
        """``ident`` quoted when needed (always with ``force=True``, never with False)."""
        if force is True:
            return '"' + ident.replace('"', '""') + '"'
        if force is False:
            return ident
        return self._unescape(self.dialect.quote(ident))

    def format_table(self, table: Any, use_schema: bool = True) -> str:
        name = self.quote(table.name, getattr(table, "quote", None))
        if use_schema and getattr(table, "schema", None):
            return self.quote(table.schema) + "." + name
        return name

    def format_column(self, column: Any) -> str:
        return self.quote(column.name, getattr(column, "quote", None))

    def format_sequence(self, seq: SchemaSequence, use_schema: bool = True) -> str:
        name = self.quote(seq.name)
        return self.quote(seq.schema) + "." + name if use_schema and seq.schema else name

    def format_index(self, index: Index, use_schema: bool) -> str:
        name = constraint_name(index, index.table, self.dialect)
        if name is None:
            raise exc.CompileError(f"Index on table '{index.table}' has no name; pass a name")
        text = self.quote(name)
        schema = index.table.schema if index.table is not None else None
        return self.quote(schema) + "." + text if use_schema and schema else text

    def format_type(self, type_: Any) -> str:
        if not type_.name:
            raise exc.CompileError(
                f"{type_!r} needs a name to be created as a database type; pass name='...' "
                "(or native_enum=False to store it as VARCHAR)"
            )
        name = self.quote(type_.name)
        return self.quote(type_.schema) + "." + name if type_.schema else name

    def column_type(self, column: Column) -> str:
        text: str = self.dialect.type_compiler_instance.process(column.type, type_expression=column)
        return text

    # -- CREATE / DROP TABLE ------------------------------------------------------
    def visit_create_table(self, create: CreateTable, **kw: Any) -> str:
        table = create.element
        lines: list[str] = []
        first_pk = True
        for column in table.c:
            if getattr(column, "system", False):
                continue
            try:
                spec = self.get_column_specification(column, first_pk=column.primary_key and first_pk)
                for c in column.constraints:
                    rendered = self.process_constraint(c, table)
                    if rendered:
                        spec += " " + rendered
            except exc.CompileError as err:
                raise type(err)(
                    f"(in table '{table.fullname}', column '{column.name}'): {err}"
                ) from err
            first_pk = first_pk and not column.primary_key
            lines.append(spec)
        lines.extend(self.create_table_constraints(table, create.include_foreign_key_constraints))
        text = "CREATE TABLE " + ("IF NOT EXISTS " if create.if_not_exists else "")
        text += self.format_table(table) + " (\n\t" + ",\n\t".join(lines) + "\n)"
        return text + self.post_create_table(table)

    def post_create_table(self, table: Table) -> str:
        """Text after the closing parenthesis (table options)."""
        return ""

    def visit_drop_table(self, drop: DropTable, **kw: Any) -> str:
        return "DROP TABLE " + ("IF EXISTS " if drop.if_exists else "") + self.format_table(
            drop.element
        )

    def get_column_specification(self, column: Column, first_pk: bool = False) -> str:
        """``name TYPE [DEFAULT x] [GENERATED ...] [NOT NULL]`` for one column."""
        text = self.format_column(column) + " " + self.column_type(column)
        default = self.get_column_default_string(column)
        if default is not None:
            text += " DEFAULT " + default
        if column.computed is not None:
            text += " " + self.visit_computed_column(column.computed)
        identity = self.column_identity(column)
        if identity is not None:
            text += " " + self.visit_identity_column(identity)
        if not column.nullable and identity is None:
            text += " NOT NULL"
        return text

    def column_identity(self, column: Column) -> Identity | None:
        """The column's Identity when the dialect renders identity columns."""
        if column.identity is not None and self.dialect.supports_identity_columns:
            return column.identity
        return None

    def get_column_default_string(self, column: Column) -> str | None:
        """The ``server_default`` as SQL: a string as a quoted literal, ``text()``
        verbatim, an expression compiled inline; None when there is none."""
        sd = column.server_default
        if not isinstance(sd, DefaultClause):
            return None  # none, a FetchedValue, Computed or Identity
        if isinstance(sd.arg, str):
            return self.render_literal(sd.arg)
        return self.render_expression(sd.arg)

    def visit_computed_column(self, computed: Computed, **kw: Any) -> str:
        text = "GENERATED ALWAYS AS (" + self.render_expression(computed.sqltext) + ")"
        if computed.persisted is True:
            text += " STORED"
        elif computed.persisted is False:
            text += " VIRTUAL"
        return text

    def visit_identity_column(self, identity: Identity, **kw: Any) -> str:
        text = "GENERATED " + ("ALWAYS" if identity.always else "BY DEFAULT") + " AS IDENTITY"
        options = self.get_identity_options(identity)
        return text + (" (" + options + ")" if options else "")

    def get_identity_options(self, opts: Any) -> str:
        """``INCREMENT BY .. START WITH .. MINVALUE .. MAXVALUE .. CACHE .. CYCLE``."""
        parts = []
        for attr, label in (("increment", "INCREMENT BY"), ("start", "START WITH"),
                            ("minvalue", "MINVALUE"), ("maxvalue", "MAXVALUE"),
                            ("cache", "CACHE")):
            value = getattr(opts, attr, None)
            if value is not None:
                parts.append(f"{label} {int(value)}")
        cycle = getattr(opts, "cycle", None)
        if cycle is not None:
            parts.append("CYCLE" if cycle else "NO CYCLE")
        return " ".join(parts)

    # -- constraints ---------------------------------------------------------------
    def type_constraints(self, table: Table) -> list[_TypeCheck]:
        """CHECKs for non-native Boolean/Enum columns with ``create_constraint=True``."""
        out = []
        for column in table.c:
            t = effective_type(column.type, self.dialect)
            if not getattr(t, "create_constraint", False):
                continue
            col = self.format_column(column)
            if isinstance(t, sqltypes.Enum):
                if t.native_enum and self.dialect.supports_native_enum:
                    continue
                values = ", ".join(self.render_literal(str(v)) for v in t.enums)
                out.append(_TypeCheck(t.name, f"{col} IN ({values})", column))
            elif isinstance(t, sqltypes.Boolean) and not self.dialect.supports_native_boolean:
                out.append(_TypeCheck(t.name, f"{col} IN (0, 1)", column))
        return out

    def table_constraints(self, table: Table) -> list[Any]:
        """The table's constraints other than the primary key, in rendering
        order: those made from column arguments (and type CHECKs) in column
        order, then table-level ones in creation order."""
        positions = {c: i for i, c in enumerate(table.c)}
        keyed: list[tuple[tuple[Any, ...], Any]] = []
        for c in table.constraints:
            if c is table.primary_key:
                continue
            if _is_column_level(c):
                col = next(iter(c.columns))  # type: ignore[attr-defined]
                keyed.append(((0, positions.get(col, 0), _kind_rank(c)), c))
            else:
                keyed.append(((1,) + _creation_key(c, table), c))
        for tc in self.type_constraints(table):
            keyed.append(((0, positions.get(tc.column, 0), 1), tc))
        keyed.sort(key=lambda kv: kv[0])
        return [c for _, c in keyed]

    def create_table_constraints(
        self, table: Table, include_foreign_key_constraints: Sequence[Any] | None = None
    ) -> list[str]:
        """Rendered table-level constraints for CREATE TABLE (primary key first)."""
        out = []
        pk = table.primary_key
        if pk is not None:
            text = self.visit_primary_key_constraint(pk, table)
            if text:
                out.append(text)
        include = include_foreign_key_constraints
        for c in self.table_constraints(table):
            if isinstance(c, ForeignKeyConstraint):
                if include is not None and not any(c is i for i in include):
                    continue
                if c.use_alter and self.dialect.supports_alter:
                    continue
            text = self.process_constraint(c, table)
            if text:
                out.append(text)
        return out

    def process_constraint(self, c: Any, table: Any) -> str | None:
        """Render any constraint (None when this dialect omits it)."""
        if isinstance(c, PrimaryKeyConstraint):
            return self.visit_primary_key_constraint(c, table)
        if isinstance(c, ForeignKeyConstraint):
            return self.visit_foreign_key_constraint(c, table)
        if isinstance(c, UniqueConstraint):
            return self.visit_unique_constraint(c, table)
        if isinstance(c, (CheckConstraint, _TypeCheck)):
            return self.visit_check_constraint(c, table)
        raise exc.UnsupportedCompilationError(
            f"{type(self).__name__} can't render constraint {c!r} on table '{table.name}'"
        )

    def constraint_prefix(self, c: Any, table: Any) -> str:
        """``CONSTRAINT name `` when the constraint has (or is given) a name."""
        name = c.name if isinstance(c, _TypeCheck) else constraint_name(c, table, self.dialect)
        return f"CONSTRAINT {self.quote(name)} " if name else ""

    def _column_list(self, columns: Iterable[Any]) -> str:
        return ", ".join(self.format_column(c) for c in columns)

    def visit_primary_key_constraint(self, c: PrimaryKeyConstraint, table: Any) -> str | None:
        if not len(c.columns):
            return None
        return (self.constraint_prefix(c, table) + "PRIMARY KEY (" + self._column_list(c.columns)
                + ")" + self.define_constraint_deferrability(c))

    def visit_unique_constraint(self, c: UniqueConstraint, table: Any) -> str | None:
        if not len(c.columns):
            return None
        return (self.constraint_prefix(c, table) + "UNIQUE (" + self._column_list(c.columns)
                + ")" + self.define_constraint_deferrability(c))

    def visit_check_constraint(self, c: Any, table: Any) -> str:
        body = c.sqltext if isinstance(c, _TypeCheck) else self.render_expression(c.sqltext)
        return (self.constraint_prefix(c, table) + "CHECK (" + body + ")"
                + self.define_constraint_deferrability(c))

    def visit_foreign_key_constraint(self, c: ForeignKeyConstraint, table: Any) -> str | None:
        remote = c.referred_table
        text = self.constraint_prefix(c, table)
        text += "FOREIGN KEY(" + self._column_list(fk.parent for fk in c.elements) + ")"
        text += " REFERENCES " + self.define_constraint_remote_table(c, remote)
        text += " (" + self._column_list(fk.column for fk in c.elements) + ")"
        return (text + self.define_constraint_match(c) + self.define_constraint_cascades(c)
                + self.define_constraint_deferrability(c))

    def define_constraint_remote_table(self, c: ForeignKeyConstraint, remote: Table) -> str:
        return self.format_table(remote)

    def define_constraint_match(self, c: ForeignKeyConstraint) -> str:
        match = getattr(c, "match", None)
        return " MATCH " + _validated(match, _MATCH, "match", c) if match is not None else ""

    def define_constraint_cascades(self, c: ForeignKeyConstraint) -> str:
        text = ""
        if c.ondelete is not None:
            text += " ON DELETE " + _validated(c.ondelete, _FK_ACTION, "ondelete", c)
        if c.onupdate is not None:
            text += " ON UPDATE " + _validated(c.onupdate, _FK_ACTION, "onupdate", c)
        return text

    def define_constraint_deferrability(self, c: Any) -> str:
        text = ""
        deferrable = getattr(c, "deferrable", None)
        if deferrable is not None:
            text += " DEFERRABLE" if deferrable else " NOT DEFERRABLE"
        initially = getattr(c, "initially", None)
        if initially is not None:
            text += " INITIALLY " + _validated(initially, _INITIALLY, "initially", c)
        return text

    def visit_add_constraint(self, add: AddConstraint, **kw: Any) -> str:
        c = add.element
        table = self._constraint_table(c)
        body = self.process_constraint(c, table)
        if not body:
            raise exc.CompileError(
                f"Dialect '{self.dialect.name}' can't add constraint {c!r} to table "
                f"'{table.fullname}' with ALTER TABLE; declare it in the table instead"
            )
        return "ALTER TABLE " + self.format_table(table) + " ADD " + body

    def visit_drop_constraint(self, drop: DropConstraint, **kw: Any) -> str:
        c = drop.element
        table = self._constraint_table(c)
        name = drop._name or constraint_name(c, table, self.dialect)
        if name is None:
            raise exc.CompileError(
                f"Can't emit DROP CONSTRAINT for constraint {c!r} on table '{table.fullname}'; "
                "it has no name. Give it name=... (or set a MetaData naming_convention)."
            )
        return ("ALTER TABLE " + self.format_table(table) + " DROP CONSTRAINT "
                + ("IF EXISTS " if drop.if_exists else "") + self.quote(name)
                + (" CASCADE" if drop.cascade else ""))

    @staticmethod
    def _constraint_table(c: Any) -> Table:
        table = getattr(c, "table", None)
        if table is None:
            raise exc.CompileError(
                f"Constraint {c!r} is not attached to a table; add it to a Table first"
            )
        return table

    # -- indexes, sequences, types, comments ---------------------------------------
    def _index(self, index: Index) -> Index:
        if index.table is None:
            raise exc.CompileError(
                f"Index {index.name!r} is not associated with any table; pass table columns "
                "to Index() or add it to a Table"
            )
        if not index.expressions:
            raise exc.CompileError(f"Index {index.name!r} has no columns or expressions")
        return index

    def index_expressions(self, index: Index) -> str:
        parts = []
        for e in index.expressions:
            if isinstance(e, Column):
                parts.append(self.format_column(e))
            elif isinstance(e, (ColumnClause, Function, UnaryExpression, TextClause)):
                parts.append(self.render_expression(e))
            else:  # an arbitrary expression must be parenthesised
                parts.append("(" + self.render_expression(e) + ")")
        return ", ".join(parts)

    def visit_create_index(self, create: CreateIndex, **kw: Any) -> str:
        index = self._index(create.element)
        text = "CREATE " + ("UNIQUE " if index.unique else "") + "INDEX "
        text += "IF NOT EXISTS " if create.if_not_exists else ""
        text += self.format_index(index, use_schema=False) + " ON "
        return text + self.format_table(index.table) + " (" + self.index_expressions(index) + ")"

    def visit_drop_index(self, drop: DropIndex, **kw: Any) -> str:
        index = self._index(drop.element)
        return ("DROP INDEX " + ("IF EXISTS " if drop.if_exists else "")
                + self.format_index(index, use_schema=True))

    def visit_create_sequence(self, create: CreateSequence, **kw: Any) -> str:
        text = "CREATE SEQUENCE " + ("IF NOT EXISTS " if create.if_not_exists else "")
        text += self.format_sequence(create.element)
        options = self.get_identity_options(create.element)
        return text + (" " + options if options else "")

    def visit_drop_sequence(self, drop: DropSequence, **kw: Any) -> str:
        return ("DROP SEQUENCE " + ("IF EXISTS " if drop.if_exists else "")
                + self.format_sequence(drop.element))

    def visit_create_enum_type(self, create: CreateEnumType, **kw: Any) -> str:
        type_ = create.element
        values = ", ".join(self.render_literal(str(v)) for v in type_.enums)
        return "CREATE TYPE " + self.format_type(type_) + " AS ENUM (" + values + ")"

    def visit_drop_enum_type(self, drop: DropEnumType, **kw: Any) -> str:
        return "DROP TYPE " + ("IF EXISTS " if drop.if_exists else "") + self.format_type(
            drop.element
        )

    def _comment(self, comment: str | None) -> str:
        return "NULL" if comment is None else self.render_literal(comment)

    def visit_set_table_comment(self, el: SetTableComment, **kw: Any) -> str:
        table = el.element
        return f"COMMENT ON TABLE {self.format_table(table)} IS {self._comment(table.comment)}"

    def visit_set_column_comment(self, el: SetColumnComment, **kw: Any) -> str:
        col = el.element
        return (f"COMMENT ON COLUMN {self.format_table(col.table)}.{self.format_column(col)} "
                f"IS {self._comment(col.comment)}")

    def visit_ddl(self, ddl: DDL, **kw: Any) -> str:
        context = dict(ddl.context)
        target = ddl.target
        if isinstance(target, Table):
            context.setdefault("table", self.format_table(target, use_schema=False))
            context.setdefault("schema", self.quote(target.schema) if target.schema else "")
            context.setdefault("fullname", self.format_table(target))
        try:
            return ddl.statement % context
        except (KeyError, ValueError, TypeError) as err:
            raise exc.CompileError(
                f"Can't fill in DDL statement {ddl.statement!r}: {err!r}. Only %(table)s, "
                "%(schema)s, %(fullname)s and context keys are substituted; write a literal "
                "percent sign as %%."
            ) from err
