"""Schema objects: MetaData, Table, Column, keys and constraints, indexes,
sequences, defaults.

Invariants:

* a Table belongs to exactly one MetaData, registered under its ``fullname``;
* ``table.c`` lists columns in declaration order; ``table.primary_key`` is
  the table's one PrimaryKeyConstraint (columns flagged ``primary_key=True``
  are added to it in order);
* a ForeignKey resolves its target column lazily through the MetaData, so
  tables may be declared in any order.
"""

from __future__ import annotations

import copy as _copy_module
import inspect as _inspect
import itertools
from collections.abc import Callable, Iterator
from collections.abc import Sequence as _Seq
from typing import TYPE_CHECKING, Any

from docket import exc
from docket.sql import types as sqltypes
from docket.sql.base import ColumnCollection
from docket.sql.elements import (
    BindParameter,
    ClauseElement,
    ColumnClause,
    ColumnElement,
    TextClause,
    coerce_expression,
)
from docket.sql.functions import Function
from docket.sql.selectable import TableClause

if TYPE_CHECKING:
    pass

__all__ = [
    "CheckConstraint",
    "Column",
    "ColumnDefault",
    "Computed",
    "Constraint",
    "DefaultClause",
    "FetchedValue",
    "ForeignKey",
    "ForeignKeyConstraint",
    "Identity",
    "Index",
    "MetaData",
    "PrimaryKeyConstraint",
    "Sequence",
    "Table",
    "UniqueConstraint",
]


class SchemaItem:
    """Base of schema constructs that attach to a parent (a Table or Column)."""

    info: dict[str, Any]

    def _set_parent(self, parent: Any) -> None:
        raise NotImplementedError


# --- defaults -------------------------------------------------------------------


class ColumnDefault(SchemaItem):
    """A client-side default (``Column(default=...)``) or ``onupdate``.

    ``arg`` is a scalar, a callable taking no arguments or one (the execution
    context), or a SQL expression rendered inline.
    """

    is_sequence = False
    is_server_default = False

    def __init__(self, arg: Any, for_update: bool = False) -> None:
        if isinstance(arg, FetchedValue):
            raise exc.ArgumentError("Use server_default/server_onupdate for FetchedValue")
        self.for_update = for_update
        self.is_clause_element = isinstance(arg, ClauseElement) or hasattr(
            arg, "__clause_element__"
        )
        self.is_callable = callable(arg) and not self.is_clause_element
        self.is_scalar = not self.is_callable and not self.is_clause_element
        # a scalar, a callable taking the execution context, or a SQL expression
        self.arg: Any
        if self.is_callable:
            self.arg = _wrap_callable(arg)
        elif self.is_clause_element:
            self.arg = coerce_expression(arg)
        else:
            self.arg = arg
        self.column: Column | None = None

    def _set_parent(self, column: Any) -> None:
        self.column = column
        if self.for_update:
            column.onupdate = self
        else:
            column.default = self

    def __repr__(self) -> str:
        return f"ColumnDefault({self.arg!r})"


def _wrap_callable(fn: Callable[..., Any]) -> Callable[[Any], Any]:
    """Normalise a default callable to take the execution context."""
    try:
        sig = _inspect.signature(fn)
    except (TypeError, ValueError):
        return lambda ctx: fn(ctx)
    positional = [
        p for p in sig.parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty
    ]
    if positional:
        return fn
    return lambda ctx: fn()


class FetchedValue(SchemaItem):
    """Marks a column whose value the server generates (trigger, default)."""

    is_server_default = True
    is_sequence = False
    reflected = False

    def __init__(self, for_update: bool = False) -> None:
        self.for_update = for_update
        self.column: Column | None = None

    def _set_parent(self, column: Any) -> None:
        self.column = column
        if self.for_update:
            column.server_onupdate = self
        else:
            column.server_default = self


class DefaultClause(FetchedValue):
    """``server_default``: DDL ``DEFAULT <arg>`` (a string literal, ``text()``
    or a SQL expression such as ``func.now()``)."""

    def __init__(self, arg: Any, for_update: bool = False) -> None:
        super().__init__(for_update)
        if not isinstance(arg, (str, ClauseElement)):
            raise exc.ArgumentError(
                f"server_default must be a string, text() or SQL expression, got {arg!r}"
            )
        self.arg = arg

    def __repr__(self) -> str:
        return f"DefaultClause({self.arg!r})"


class Sequence(SchemaItem):
    """A database sequence (PostgreSQL); as a column argument it generates
    the column's values."""

    is_sequence = True
    is_server_default = False

    def __init__(
        self, name: str, start: int | None = None, increment: int | None = None,
        minvalue: int | None = None, maxvalue: int | None = None, cycle: bool | None = None,
        schema: str | None = None, optional: bool = False, metadata: MetaData | None = None,
        cache: int | None = None, order: bool | None = None,
    ) -> None:
        self.name = name
        self.start = start
        self.increment = increment
        self.minvalue = minvalue
        self.maxvalue = maxvalue
        self.cycle = cycle
        self.cache = cache
        self.schema = schema
        self.optional = optional
        self.metadata = metadata
        self.column: Column | None = None
        if metadata is not None:
            metadata._sequences[name] = self

    def _set_parent(self, column: Any) -> None:
        self.column = column
        column.default = self

    def next_value(self) -> Function:
        """``nextval('name')`` as an expression."""
        return Function("nextval", _SequenceName(self), type_=sqltypes.Integer)

    def create(self, bind: Any, checkfirst: bool = True) -> None:
        bind_run_ddl(bind, "create_sequence", self, checkfirst)

    def drop(self, bind: Any, checkfirst: bool = True) -> None:
        bind_run_ddl(bind, "drop_sequence", self, checkfirst)

    def __repr__(self) -> str:
        return f"Sequence({self.name!r})"


class _SequenceName(ColumnElement):
    __visit_name__ = "sequence_name"

    def __init__(self, seq: Sequence) -> None:
        self.sequence = seq

    def _ck(self, binds: list[BindParameter]) -> tuple[Any, ...]:
        return ("seqname", self.sequence.name, self.sequence.schema)


class Identity(SchemaItem):
    """``GENERATED { ALWAYS | BY DEFAULT } AS IDENTITY`` (PostgreSQL ≥ 10);
    on SQLite an integer primary key autoincrements anyway."""

    is_sequence = False
    is_server_default = True

    def __init__(
        self, always: bool = False, on_null: bool | None = None, start: int | None = None,
        increment: int | None = None, minvalue: int | None = None, maxvalue: int | None = None,
        cycle: bool | None = None, cache: int | None = None, order: bool | None = None,
    ) -> None:
        self.always = always
        self.start = start
        self.increment = increment
        self.minvalue = minvalue
        self.maxvalue = maxvalue
        self.cycle = cycle
        self.cache = cache
        self.column: Column | None = None

    def _set_parent(self, column: Any) -> None:
        self.column = column
        column.identity = self


class Computed(SchemaItem):
    """``GENERATED ALWAYS AS (expr) [STORED]``."""

    is_server_default = True
    is_sequence = False

    def __init__(self, sqltext: Any, persisted: bool | None = None) -> None:
        self.sqltext = sqltext if isinstance(sqltext, ClauseElement) else TextClause(sqltext)
        self.persisted = persisted
        self.column: Column | None = None

    def _set_parent(self, column: Any) -> None:
        self.column = column
        column.computed = self
        column.server_default = self


# --- Column ------------------------------------------------------------------------


class Column(ColumnClause, SchemaItem):
    """A table column.

    Args:
        name: the column name (optional in declarative mappings, where the
            attribute name is used).
        type_: a TypeEngine class or instance; omitted with a ForeignKey,
            the referenced column's type is used.
        *args: ForeignKey, Sequence, Identity, Computed, constraints.
        primary_key, nullable, default, server_default, onupdate,
        server_onupdate, index, unique, autoincrement, key, doc, comment, info:
            as in SQLAlchemy.
    """

    __visit_name__ = "column"

    def __init__(self, *args: Any, **kw: Any) -> None:
        args_l = list(args)
        name = None
        type_ = None
        if args_l and isinstance(args_l[0], str):
            name = args_l.pop(0)
        if args_l and (
            args_l[0] is None
            or isinstance(args_l[0], sqltypes.TypeEngine)
            or (isinstance(args_l[0], type) and issubclass(args_l[0], sqltypes.TypeEngine))
        ):
            type_ = args_l.pop(0)
        type_ = kw.pop("type_", type_)
        super().__init__(name or "", type_)
        self.name = name  # type: ignore[assignment]
        self.key = kw.pop("key", name)
        self.primary_key = kw.pop("primary_key", False)
        nullable = kw.pop("nullable", _NOT_SET)
        self._user_defined_nullable = nullable
        self.nullable = (not self.primary_key) if nullable is _NOT_SET else bool(nullable)
        self.index = kw.pop("index", None)
        self.unique = kw.pop("unique", None)
        self.autoincrement = kw.pop("autoincrement", "auto")
        self.doc = kw.pop("doc", None)
        self.comment = kw.pop("comment", None)
        self.info = kw.pop("info", None) or {}
        self.system = kw.pop("system", False)
        self.quote = kw.pop("quote", None)
        self.default: Any = None
        self.server_default: Any = None
        self.onupdate: Any = None
        self.server_onupdate: Any = None
        self.identity: Identity | None = None
        self.computed: Computed | None = None
        self.foreign_keys: list[ForeignKey] = []
        self.constraints: list[Constraint] = []
        self.table = None
        if "insert_default" in kw:
            kw.setdefault("default", kw.pop("insert_default"))
        default = kw.pop("default", None)
        if default is not None:
            ColumnDefault(default)._set_parent(self)
        onupdate = kw.pop("onupdate", None)
        if onupdate is not None:
            ColumnDefault(onupdate, for_update=True)._set_parent(self)
        sd = kw.pop("server_default", None)
        if sd is not None:
            (sd if isinstance(sd, FetchedValue) else DefaultClause(sd))._set_parent(self)
        sou = kw.pop("server_onupdate", None)
        if sou is not None:
            if isinstance(sou, FetchedValue):
                sou.for_update = True  # given as server_onupdate: it describes UPDATEs
            else:
                sou = DefaultClause(sou, for_update=True)
            sou._set_parent(self)
        kw.pop("sort_order", None)
        if kw:
            raise exc.ArgumentError(
                f"Unknown arguments passed to Column {name!r}: {sorted(kw)}"
            )
        for a in args_l:
            if isinstance(a, SchemaItem):
                a._set_parent(self)
            else:
                raise exc.ArgumentError(
                    f"Column {name!r}: positional argument {a!r} is not a type, ForeignKey, "
                    "Sequence, Identity, Computed or constraint."
                )

    def _set_name(self, name: str) -> None:
        """Name a column declared without one (declarative)."""
        if self.name is None:
            self.name = name
        if self.key is None:
            self.key = name

    def _set_parent(self, table: Any) -> None:
        if self.name is None:
            raise exc.ArgumentError(
                f"Column must have a name before it is added to table {table.name!r}"
            )
        if self.table is not None and self.table is not table:
            raise exc.ArgumentError(
                f"Column {self.name!r} already belongs to table {self.table.name!r}; "
                "use column._copy() to reuse its definition."
            )
        if self.key is None:
            self.key = self.name
        self.table = table
        table._columns._add(self.key, self)
        if self.primary_key:
            table.primary_key._add_column(self)
        if self.index:
            Index(None, self, unique=bool(self.unique), _column_flag=True)._set_parent(table)
        elif self.unique:
            UniqueConstraint(self, _column_flag=True)._set_parent(table)
        for fk in self.foreign_keys:
            fk._attach_table(table)

    def _copy(self, **kw: Any) -> Column:
        """A detached copy of this column's definition."""
        args: list[Any] = [fk._copy() for fk in self.foreign_keys]
        if self.identity is not None:
            args.append(_copy_module.copy(self.identity))
        if self.computed is not None:
            args.append(_copy_module.copy(self.computed))
        new = Column(
            self.name, self.type, *args, key=self.key if self.key != self.name else None,
            primary_key=self.primary_key,
            nullable=self._user_defined_nullable if self._user_defined_nullable is not _NOT_SET
            else (not self.primary_key),
            default=None, index=self.index, unique=self.unique,
            autoincrement=self.autoincrement, doc=self.doc, comment=self.comment,
            info=dict(self.info), quote=self.quote,
        )
        # default descriptions are copied so each points back at its own column
        for attr in ("default", "onupdate", "server_default", "server_onupdate"):
            item = getattr(self, attr)
            if item is not None and getattr(new, attr) is None:
                item = _copy_module.copy(item)
                item.column = new
                setattr(new, attr, item)
        for k, v in kw.items():
            setattr(new, k, v)
        return new

    copy = _copy

    @property
    def type_resolved(self) -> sqltypes.TypeEngine:
        return self.type

    def _ck(self, binds: list[BindParameter]) -> tuple[Any, ...]:
        return ("col", self)

    def references(self, column: Column) -> bool:
        """True if this column has a foreign key to ``column``."""
        return any(fk.column is column for fk in self.foreign_keys)

    def __repr__(self) -> str:
        owner = self.table.name if self.table is not None else "(no table)"
        return f"Column({self.name!r}, {self.type!r}, table=<{owner}>)"


_NOT_SET: Any = object()


# --- constraints -------------------------------------------------------------------


# numbers constraints in creation order (``Constraint._creation_order``): a
# table keeps its constraints in a set, and CREATE TABLE renders table-level
# ones in the order they were declared
_constraint_counter = itertools.count()


class Constraint(SchemaItem):
    """A table-level constraint."""

    def __init__(self, *, name: str | None = None, info: dict[str, Any] | None = None,
                 deferrable: bool | None = None, initially: str | None = None) -> None:
        self._creation_order = next(_constraint_counter)
        self.name = name
        self.info = info or {}
        self.deferrable = deferrable
        self.initially = initially
        self.table: Table | None = None

    def _set_parent(self, table: Any) -> None:
        self.table = table
        table.constraints.add(self)


class ColumnCollectionConstraint(Constraint):
    """A constraint over columns given as Column objects or names."""

    def __init__(self, *columns: Any, name: str | None = None, _column_flag: bool = False,
                 **kw: Any) -> None:
        super().__init__(name=name, **kw)
        self._pending = list(columns)
        self._column_flag = _column_flag
        self.columns: ColumnCollection[Column] = ColumnCollection()

    def _set_parent(self, table: Any) -> None:
        super()._set_parent(table)
        for c in self._pending:
            col = table.c[c] if isinstance(c, str) else c
            self.columns._add(col.key, col)

    def _add_column(self, col: Column) -> None:
        self.columns._add(col.key or col.name, col)

    def __iter__(self) -> Iterator[Column]:
        return iter(self.columns)

    def __len__(self) -> int:
        return len(self.columns)

    def __contains__(self, col: object) -> bool:
        return col in self.columns


class PrimaryKeyConstraint(ColumnCollectionConstraint):
    """The table's primary key; ``table.primary_key``."""

    def _set_parent(self, table: Any) -> None:
        old = table.primary_key
        if old is not self:
            table.constraints.discard(old)
            table.primary_key = self
        super()._set_parent(table)
        for c in self.columns:
            c.primary_key = True
            if c._user_defined_nullable is _NOT_SET:
                c.nullable = False

    def __repr__(self) -> str:
        return f"PrimaryKeyConstraint({', '.join(self.columns.keys())})"


class UniqueConstraint(ColumnCollectionConstraint):
    """``UNIQUE (cols)``."""

    def __repr__(self) -> str:
        return f"UniqueConstraint({', '.join(self.columns.keys())}, name={self.name!r})"


class CheckConstraint(Constraint):
    """``CHECK (sqltext)``."""

    def __init__(self, sqltext: Any, name: str | None = None, **kw: Any) -> None:
        super().__init__(name=name, **kw)
        self.sqltext = sqltext if isinstance(sqltext, ClauseElement) else TextClause(sqltext)

    def _set_parent(self, parent: Any) -> None:
        if isinstance(parent, Column):
            parent.constraints.append(self)
            return
        super()._set_parent(parent)


class ForeignKeyConstraint(Constraint):
    """``FOREIGN KEY (cols) REFERENCES other (refcols)``; one per foreign key,
    also created implicitly for each column-level ForeignKey."""

    def __init__(
        self, columns: _Seq[Any], refcolumns: _Seq[Any], name: str | None = None,
        onupdate: str | None = None, ondelete: str | None = None,
        deferrable: bool | None = None, initially: str | None = None,
        use_alter: bool = False, link_to_name: bool = False, match: str | None = None,
        info: dict[str, Any] | None = None, _elements: list[ForeignKey] | None = None,
    ) -> None:
        super().__init__(name=name, info=info, deferrable=deferrable, initially=initially)
        if len(columns) != len(refcolumns):
            raise exc.ArgumentError(
                f"ForeignKeyConstraint {name or ''}: {len(columns)} columns but "
                f"{len(refcolumns)} referenced columns; they must pair up."
            )
        self.onupdate = onupdate
        self.ondelete = ondelete
        self.use_alter = use_alter
        self.match = match
        self._col_specs = list(columns)
        self.elements: list[ForeignKey] = _elements or [
            ForeignKey(ref, name=name, onupdate=onupdate, ondelete=ondelete,
                       deferrable=deferrable, initially=initially, use_alter=use_alter,
                       _constraint=self)
            for ref in refcolumns
        ]

    def _set_parent(self, table: Any) -> None:
        super()._set_parent(table)
        if self.elements and self.elements[0].parent is not None:
            return  # built from column-level ForeignKeys
        for spec, fk in zip(self._col_specs, self.elements):
            col = table.c[spec] if isinstance(spec, str) else spec
            fk.parent = col
            col.foreign_keys.append(fk)
        table.foreign_keys_set.update(self.elements)

    @property
    def columns(self) -> list[Column]:
        return [fk.parent for fk in self.elements]  # type: ignore[misc]

    @property
    def column_keys(self) -> list[str]:
        return [c.key or c.name for c in self.columns]

    @property
    def referred_table(self) -> Table:
        return self.elements[0].column.table

    def __repr__(self) -> str:
        return f"ForeignKeyConstraint({self.column_keys} -> {[fk.target_fullname for fk in self.elements]})"


class ForeignKey(SchemaItem):
    """A column-level foreign key: ``ForeignKey("users.id", ondelete="CASCADE")``.

    ``column`` (the referenced Column) is resolved on first access through
    the parent table's MetaData.
    """

    def __init__(
        self, column: str | Column | Any, _constraint: ForeignKeyConstraint | None = None,
        use_alter: bool = False, name: str | None = None, onupdate: str | None = None,
        ondelete: str | None = None, deferrable: bool | None = None,
        initially: str | None = None, link_to_name: bool = False, match: str | None = None,
        info: dict[str, Any] | None = None, **kw: Any,
    ) -> None:
        ce = getattr(column, "__clause_element__", None)
        if ce is not None and not isinstance(column, ColumnElement):
            column = ce()
        self._colspec = column
        self.constraint = _constraint
        self.use_alter = use_alter
        self.name = name
        self.onupdate = onupdate
        self.ondelete = ondelete
        self.deferrable = deferrable
        self.initially = initially
        self.link_to_name = link_to_name
        self.match = match
        self.info = info or {}
        self.parent: Column | None = None
        self._resolved: Column | None = column if isinstance(column, Column) else None

    def _copy(self) -> ForeignKey:
        return ForeignKey(
            self._colspec, use_alter=self.use_alter, name=self.name, onupdate=self.onupdate,
            ondelete=self.ondelete, deferrable=self.deferrable, initially=self.initially,
            link_to_name=self.link_to_name, match=self.match, info=dict(self.info),
        )

    def _set_parent(self, column: Any) -> None:
        self.parent = column
        column.foreign_keys.append(self)

    def _attach_table(self, table: Table) -> None:
        if self.constraint is None:
            self.constraint = ForeignKeyConstraint(
                [self.parent], [self._colspec], name=self.name, onupdate=self.onupdate,
                ondelete=self.ondelete, deferrable=self.deferrable, initially=self.initially,
                use_alter=self.use_alter, _elements=[self],
            )
            self.constraint._set_parent(table)
        table.foreign_keys_set.add(self)
        self._try_resolve()

    def _try_resolve(self) -> None:
        """Resolve the target now if its table exists (fills in an omitted type)."""
        try:
            _ = self.column
        except (exc.NoReferencedTableError, exc.NoReferencedColumnError):
            pass

    @property
    def target_fullname(self) -> str:
        spec = self._colspec
        if isinstance(spec, str):
            return spec
        return f"{spec.table.fullname}.{spec.name}"

    def _table_and_column_names(self) -> tuple[str | None, str, str]:
        spec = self._colspec
        assert isinstance(spec, str)
        parts = spec.split(".")
        if len(parts) == 2:
            return None, parts[0], parts[1]
        if len(parts) == 3:
            return parts[0], parts[1], parts[2]
        raise exc.ArgumentError(
            f"Invalid foreign key column specification {spec!r}: expected 'table.column' "
            "or 'schema.table.column'."
        )

    @property
    def column(self) -> Column:
        if self._resolved is not None:
            return self._resolved
        if self.parent is None or self.parent.table is None:
            raise exc.InvalidRequestError(
                f"ForeignKey({self._colspec!r}) is not attached to a table yet."
            )
        schema, tname, cname = self._table_and_column_names()
        parent_table = self.parent.table
        metadata = parent_table.metadata
        if schema is None and parent_table.schema is not None:
            key = f"{parent_table.schema}.{tname}"
            if key not in metadata.tables:
                key = tname
        else:
            key = f"{schema}.{tname}" if schema else tname
        target = metadata.tables.get(key)
        if target is None:
            raise exc.NoReferencedTableError(
                f"Foreign key associated with column '{parent_table.name}.{self.parent.name}' "
                f"could not find table '{key}' with which to generate a foreign key to target "
                f"column '{cname}'. Define that table in the same MetaData.",
                key,
            )
        col = target.c.get(cname)
        if col is None:
            col = next((c for c in target.c if c.name == cname), None)
        if col is None:
            raise exc.NoReferencedColumnError(
                f"Could not initialize target column for ForeignKey '{self._colspec}' on table "
                f"'{parent_table.name}': table '{target.name}' has no column named '{cname}'.",
                key, cname,
            )
        self._resolved = col
        if isinstance(self.parent.type, sqltypes.NullType):
            self.parent.type = col.type
        return col

    def references(self, table: Any) -> bool:
        return self.column.table is table

    def get_referent(self, table: Any) -> Column | None:
        return table.corresponding_column(self.column)

    def __repr__(self) -> str:
        return f"ForeignKey({self.target_fullname!r})"


class Index(SchemaItem):
    """``CREATE [UNIQUE] INDEX name ON table (expressions)``."""

    def __init__(self, name: str | None, *expressions: Any, unique: bool = False,
                 _column_flag: bool = False, info: dict[str, Any] | None = None,
                 **dialect_kw: Any) -> None:
        self.name = name
        self.unique = unique
        self._pending = list(expressions)
        self._column_flag = _column_flag
        self.info = info or {}
        self.dialect_kwargs = dialect_kw
        self.table: Table | None = None
        self.expressions: list[Any] = []
        # attach at once when an expression already belongs to a table
        owner = next(
            (f for e in expressions if isinstance(e, ColumnElement)
             for f in e._from_objects if isinstance(f, Table)),
            None,
        )
        if owner is not None and not _column_flag:
            self._set_parent(owner)

    def _set_parent(self, table: Any) -> None:
        self.table = table
        self.expressions = [
            table.c[e] if isinstance(e, str) else coerce_expression(e) for e in self._pending
        ]
        if self.name is None:
            cols = "_".join(getattr(e, "name", "expr") for e in self.expressions)
            self.name = f"ix_{table.name}_{cols}"
        table.indexes.add(self)

    @property
    def columns(self) -> list[Any]:
        return [e for e in self.expressions if isinstance(e, Column)]

    def create(self, bind: Any, checkfirst: bool = False) -> None:
        bind_run_ddl(bind, "create_index", self, checkfirst)

    def drop(self, bind: Any, checkfirst: bool = False) -> None:
        bind_run_ddl(bind, "drop_index", self, checkfirst)

    def __repr__(self) -> str:
        return f"Index({self.name!r})"


# --- Table and MetaData ---------------------------------------------------------


class Table(TableClause, SchemaItem):
    """A table in a MetaData: ``Table("users", metadata, Column(...), ...)``."""

    __visit_name__ = "table"
    # a plain attribute here (the table's PrimaryKeyConstraint), shadowing
    # FromClause's computed property
    primary_key: PrimaryKeyConstraint = None  # type: ignore[assignment]
    # set on an existing Table that Table(...) returns again, so __init__ skips it
    _reused = False

    def __new__(cls, *args: Any, **kw: Any) -> Table:
        if len(args) >= 2 and isinstance(args[1], MetaData):
            name, metadata = args[0], args[1]
            schema = kw.get("schema", metadata.schema)
            key = f"{schema}.{name}" if schema else name
            existing = metadata.tables.get(key)
            if existing is not None:
                if kw.get("keep_existing"):
                    existing._reused = True
                    return existing
                if kw.get("extend_existing"):
                    existing._reused = True
                    existing._extend(*args[2:])
                    return existing
                if len(args) > 2:
                    raise exc.InvalidRequestError(
                        f"Table '{key}' is already defined for this MetaData instance. "
                        "Specify 'extend_existing=True' to redefine options and columns on "
                        "an existing Table object."
                    )
                existing._reused = True
                return existing
        return super().__new__(cls)

    def __init__(self, name: str, metadata: MetaData, *args: Any, **kw: Any) -> None:
        if getattr(self, "_reused", False):
            del self._reused
            return
        if not isinstance(metadata, MetaData):
            raise exc.ArgumentError(
                f"Table({name!r}, ...): the second argument must be a MetaData, "
                f"got {metadata!r}"
            )
        schema = kw.pop("schema", metadata.schema)
        kw.pop("extend_existing", None)
        kw.pop("keep_existing", None)
        self.info = kw.pop("info", None) or {}
        self.comment = kw.pop("comment", None)
        self.quote = kw.pop("quote", None)
        self.implicit_returning = kw.pop("implicit_returning", True)
        self.dialect_kwargs = {k: kw.pop(k) for k in list(kw) if "_" in k}
        if kw:
            raise exc.ArgumentError(f"Unknown arguments passed to Table {name!r}: {sorted(kw)}")
        TableClause.__init__(self, name, schema=schema)
        self.metadata = metadata
        self.constraints: set[Constraint] = set()
        self.indexes: set[Index] = set()
        self.foreign_keys_set: set[ForeignKey] = set()
        self.primary_key = PrimaryKeyConstraint()
        self.primary_key._set_parent(self)
        metadata._add_table(self)
        self._extend(*args)
        metadata._resolve_pending()

    def _extend(self, *args: Any) -> None:
        for item in args:
            if isinstance(item, SchemaItem):
                item._set_parent(self)
            else:
                raise exc.ArgumentError(
                    f"Table {self.name!r}: {item!r} is not a Column, constraint or Index."
                )

    def append_column(self, column: Column, replace_existing: bool = False) -> None:  # type: ignore[override]
        column._set_parent(self)

    def append_constraint(self, constraint: Constraint | Index) -> None:
        constraint._set_parent(self)

    @property
    def foreign_keys(self) -> list[ForeignKey]:
        return [fk for c in self.c for fk in c.foreign_keys]

    @property
    def foreign_key_constraints(self) -> set[ForeignKeyConstraint]:
        return {c for c in self.constraints if isinstance(c, ForeignKeyConstraint)}

    @property
    def autoincrement_column(self) -> Column | None:
        """The column the database numbers automatically, if any."""
        pk = list(self.primary_key.columns)
        for col in pk:
            if col.autoincrement is True:
                return col
        if len(pk) == 1:
            col = pk[0]
            if col.autoincrement == "auto" and isinstance(col.type, sqltypes.Integer) and not (
                col.foreign_keys
            ) and (col.default is None or isinstance(col.default, Sequence)) and (
                col.server_default is None or isinstance(col.server_default, Identity)
            ):
                return col
            if col.identity is not None:
                return col
        return None

    def create(self, bind: Any, checkfirst: bool = False) -> None:
        bind_run_ddl(bind, "create_table", self, checkfirst)

    def drop(self, bind: Any, checkfirst: bool = False) -> None:
        bind_run_ddl(bind, "drop_table", self, checkfirst)

    def tometadata(self, metadata: MetaData) -> Table:
        return self.to_metadata(metadata)

    def to_metadata(self, metadata: MetaData, schema: str | None = None) -> Table:
        """A copy of this table in another MetaData."""
        args: list[Any] = [c._copy() for c in self.c]
        for con in self.constraints:
            if isinstance(con, CheckConstraint):
                args.append(CheckConstraint(con.sqltext, name=con.name))
            elif isinstance(con, UniqueConstraint) and not con._column_flag:
                args.append(UniqueConstraint(*con.columns.keys(), name=con.name))
        return Table(str(self.name), metadata, *args, schema=schema or self.schema)

    def __repr__(self) -> str:
        return f"Table({self.name!r}, {', '.join(self.c.keys())})"


class MetaData:
    """A collection of Tables (and sequences) and their DDL."""

    def __init__(self, schema: str | None = None, naming_convention: dict[str, str] | None = None,
                 info: dict[str, Any] | None = None) -> None:
        self.schema = schema
        self.naming_convention = naming_convention or {}
        self.info = info or {}
        self.tables: dict[str, Table] = {}
        self._sequences: dict[str, Sequence] = {}

    def _add_table(self, table: Table) -> None:
        self.tables[table.fullname] = table

    def _resolve_pending(self) -> None:
        """Resolve foreign keys declared before their target table existed."""
        for t in self.tables.values():
            for fk in t.foreign_keys_set:
                if fk._resolved is None:
                    fk._try_resolve()

    def remove(self, table: Table) -> None:
        self.tables.pop(table.fullname, None)

    def clear(self) -> None:
        self.tables.clear()
        self._sequences.clear()

    @property
    def sorted_tables(self) -> list[Table]:
        """Tables in foreign-key dependency order: referenced tables first;
        tables with no dependency between them by name (as SQLAlchemy)."""
        from docket.sql.ddl import sort_tables

        return sort_tables(sorted(self.tables.values(), key=lambda t: t.fullname))

    def create_all(self, bind: Any, tables: _Seq[Table] | None = None,
                   checkfirst: bool = True) -> None:
        """CREATE every table (and sequence, index, enum type) in dependency order.

        Args:
            bind: an Engine or Connection.
            tables: only these tables.
            checkfirst: skip objects that already exist.
        """
        bind_run_ddl(bind, "create_all", self, checkfirst, tables=tables)

    def drop_all(self, bind: Any, tables: _Seq[Table] | None = None,
                 checkfirst: bool = True) -> None:
        """DROP every table in reverse dependency order."""
        bind_run_ddl(bind, "drop_all", self, checkfirst, tables=tables)

    def __contains__(self, key: object) -> bool:
        if isinstance(key, Table):
            return key in self.tables.values()
        return key in self.tables

    def __repr__(self) -> str:
        return f"MetaData({sorted(self.tables)})"


def bind_run_ddl(bind: Any, action: str, target: Any, checkfirst: bool, **kw: Any) -> None:
    """Run a DDL action on an Engine or Connection (duck-typed: ``bind``
    provides ``_run_ddl(action, target, checkfirst, **kw)``)."""
    runner = getattr(bind, "_run_ddl", None)
    if runner is None:
        raise exc.ArgumentError(
            f"{action} needs an Engine or Connection to run on, got {bind!r}"
        )
    runner(action, target, checkfirst, **kw)
