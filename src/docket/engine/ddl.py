"""Running DDL on a Connection: ``create_all`` / ``drop_all`` and the single
object actions behind ``Table.create``, ``Index.drop``, ``Sequence.create``...

Order of ``create_all``: native enum types (PostgreSQL), free-standing
sequences, then per table in foreign-key order its column sequences, the
``CREATE TABLE``, its indexes and comments; finally the foreign keys that must
be added with ``ALTER TABLE`` (``use_alter=True`` or on a cycle) where the
dialect can ALTER. ``drop_all`` is the reverse: those foreign keys first,
tables in reverse order (each followed by its column sequences), then
free-standing sequences and enum types.

``checkfirst`` skips what already exists (create) or is missing (drop), using
the dialect's ``has_table`` / ``has_sequence`` / ``has_type`` / ``has_index``.
Statements run with ``connection.exec_driver_sql``; nothing here commits
(``Engine`` wraps the run in ``begin()``).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from typing import Any

from docket import exc
from docket.sql.ddl import (
    AddConstraint,
    CreateEnumType,
    CreateIndex,
    CreateSequence,
    CreateTable,
    DDLCompiler,
    DropConstraint,
    DropEnumType,
    DropIndex,
    DropSequence,
    DropTable,
    ExecutableDDLElement,
    SetColumnComment,
    SetTableComment,
    _warning_class,
    constraint_name,
    native_enum_types,
    sort_tables_and_constraints,
)
from docket.sql.schema import ForeignKeyConstraint, Index, MetaData, Sequence, Table

__all__ = ["ACTIONS", "run_ddl"]

ACTIONS = frozenset({
    "create_all", "drop_all", "create_table", "drop_table", "create_index", "drop_index",
    "create_sequence", "drop_sequence",
})


def run_ddl(connection: Any, action: str, target: Any, checkfirst: bool,
            tables: Iterable[Table] | None = None) -> None:
    """Run one DDL action on ``connection``.

    Args:
        connection: a docket Connection (its ``dialect`` answers existence checks).
        action: one of :data:`ACTIONS`.
        target: a MetaData (``*_all``), Table, Index or Sequence.
        checkfirst: skip objects that exist (create) / don't exist (drop).
        tables: for ``create_all`` / ``drop_all``, only these tables.

    Raises:
        ArgumentError: unknown action, or a target of the wrong kind.
        CircularDependencyError: ``drop_all`` meets a foreign-key cycle whose
            constraints have no names to drop them by.
    """
    expected = {"create_all": MetaData, "drop_all": MetaData, "create_table": Table,
                "drop_table": Table, "create_index": Index, "drop_index": Index,
                "create_sequence": Sequence, "drop_sequence": Sequence}.get(action)
    if expected is None:
        raise exc.ArgumentError(
            f"Unknown DDL action {action!r}; expected one of {', '.join(sorted(ACTIONS))}"
        )
    if not isinstance(target, expected):
        raise exc.ArgumentError(
            f"DDL action {action!r} needs a {expected.__name__}, got {target!r}"
        )
    runner = _Runner(connection, checkfirst)
    if action in ("create_all", "drop_all"):
        getattr(runner, action)(target, tables)
    else:
        getattr(runner, action)(target)


def _implements(dialect: Any, name: str) -> bool:
    """True if the dialect provides catalog method ``name`` (not DefaultDialect's stub)."""
    from docket.engine.default import DefaultDialect

    meth = getattr(type(dialect), name, None)
    return meth is not None and meth is not getattr(DefaultDialect, name, None)


def _column_sequences(table: Table) -> list[Sequence]:
    return [c.default for c in table.c if isinstance(c.default, Sequence)]


class _Runner:
    """One DDL run. Invariant: ``_done_sequences`` holds the ids of sequences
    already created/dropped in this run (a sequence may serve several columns)."""

    def __init__(self, connection: Any, checkfirst: bool) -> None:
        self.connection = connection
        self.dialect = connection.dialect
        self.checkfirst = checkfirst
        self._done_sequences: set[int] = set()

    def execute(self, element: ExecutableDDLElement) -> None:
        self.connection.exec_driver_sql(element.compile(dialect=self.dialect).string)

    # -- existence --------------------------------------------------------------------
    def _has_table(self, table: Table) -> bool:
        return bool(self.dialect.has_table(self.connection, table.name, schema=table.schema))

    def _has_index(self, index: Index) -> bool:
        if not _implements(self.dialect, "has_index") or index.table is None:
            raise exc.InvalidRequestError(
                f"Dialect '{self.dialect.name}' can't check whether index {index.name!r} exists; "
                "call create()/drop() with checkfirst=False"
            )
        table = index.table
        return bool(
            self.dialect.has_index(self.connection, table.name, index.name, schema=table.schema)
        )

    def _sequence_applies(self, seq: Sequence) -> bool:
        if not self.dialect.supports_sequences or id(seq) in self._done_sequences:
            return False
        # an optional sequence is only for databases that have no other way (SERIAL here)
        return not (seq.optional and getattr(self.dialect, "sequences_optional", True))

    def _has_sequence(self, seq: Sequence) -> bool:
        return bool(self.dialect.has_sequence(self.connection, seq.name, schema=seq.schema))

    def _has_type(self, type_: Any) -> bool:
        return bool(self.dialect.has_type(self.connection, type_.name, schema=type_.schema))

    # -- building blocks ------------------------------------------------------------
    def _create_sequence(self, seq: Sequence) -> None:
        if self._sequence_applies(seq) and not (self.checkfirst and self._has_sequence(seq)):
            self.execute(CreateSequence(seq))
            self._done_sequences.add(id(seq))

    def _drop_sequence(self, seq: Sequence) -> None:
        if self._sequence_applies(seq) and (not self.checkfirst or self._has_sequence(seq)):
            self.execute(DropSequence(seq))
            self._done_sequences.add(id(seq))

    def _create_enum_types(self, tables: list[Table]) -> None:
        for type_ in native_enum_types(tables, self.dialect):
            if not (self.checkfirst and self._has_type(type_)):
                self.execute(CreateEnumType(type_))

    def _drop_enum_types(self, tables: list[Table]) -> None:
        for type_ in native_enum_types(tables, self.dialect):
            if not self.checkfirst or self._has_type(type_):
                self.execute(DropEnumType(type_))

    def _create_table(self, table: Table,
                      include_fkcs: list[ForeignKeyConstraint] | None = None) -> None:
        for seq in _column_sequences(table):
            self._create_sequence(seq)
        self.execute(CreateTable(table, include_foreign_key_constraints=include_fkcs))
        for index in sorted(table.indexes, key=lambda i: i.name or ""):
            self.execute(CreateIndex(index))
        compiler = getattr(self.dialect, "ddl_compiler", None) or DDLCompiler
        if compiler.supports_comments:
            if table.comment is not None:
                self.execute(SetTableComment(table))
            for column in table.c:
                if column.comment is not None:
                    self.execute(SetColumnComment(column))

    def _drop_table(self, table: Table, later: set[int]) -> None:
        self.execute(DropTable(table))
        for seq in _column_sequences(table):
            if id(seq) not in later:
                self._drop_sequence(seq)

    def _drop_constraint(self, fkc: ForeignKeyConstraint) -> None:
        table = fkc.table
        assert table is not None
        name = constraint_name(fkc, table, self.dialect)
        if _implements(self.dialect, "get_foreign_keys") and (name is None or self.checkfirst):
            actual = self.dialect.get_foreign_keys(self.connection, table.name,
                                                   schema=table.schema)
            if name is None:  # created unnamed: find the name the database gave it
                cols = [c.name for c in fkc.columns]
                referred = fkc.referred_table.name
                found = [fk["name"] for fk in actual if fk["name"] and (
                    list(fk["constrained_columns"]) == cols and fk["referred_table"] == referred)]
                if not found:
                    return
                name = found[0]
            elif name not in {fk["name"] for fk in actual}:
                return
        self.execute(DropConstraint(fkc, _name=name))

    # -- actions ----------------------------------------------------------------------
    def create_all(self, metadata: MetaData, tables: Iterable[Table] | None) -> None:
        candidates = list(metadata.tables.values()) if tables is None else list(tables)
        to_create = [t for t in candidates if not (self.checkfirst and self._has_table(t))]
        collection = sort_tables_and_constraints(to_create)
        alter = self.dialect.supports_alter
        self._create_enum_types(to_create)
        for seq in metadata._sequences.values():
            if seq.column is None:
                self._create_sequence(seq)
        for table, fkcs in collection:
            if table is not None:
                self._create_table(table, fkcs if alter else None)
            elif alter:
                for fkc in fkcs:
                    self.execute(AddConstraint(fkc))

    def drop_all(self, metadata: MetaData, tables: Iterable[Table] | None) -> None:
        candidates = list(metadata.tables.values()) if tables is None else list(tables)
        existing = [t for t in candidates if not self.checkfirst or self._has_table(t)]
        alter = self.dialect.supports_alter
        can_find_names = _implements(self.dialect, "get_foreign_keys")

        def keep_inline(fkc: ForeignKeyConstraint) -> bool | None:
            if not alter:
                return False
            if not can_find_names and constraint_name(fkc, fkc.table, self.dialect) is None:
                return False  # could not DROP CONSTRAINT it
            return None

        try:
            collection = list(reversed(sort_tables_and_constraints(existing, keep_inline)))
        except exc.CircularDependencyError as err:
            names = ", ".join(sorted(t.fullname for t in err.cycles))
            if alter:
                raise exc.CircularDependencyError(
                    f"Can't sort tables for DROP; an unresolvable foreign key dependency exists "
                    f"between tables: {names}. Please ensure that the ForeignKey and "
                    "ForeignKeyConstraint objects involved in the cycle have names so that "
                    "they can be dropped using DROP CONSTRAINT.",
                    err.cycles, err.edges,
                ) from err
            warnings.warn(
                f"Can't sort tables for DROP; an unresolvable foreign key dependency exists "
                f"between tables: {names}; and backend does not support ALTER. To restore at "
                "least a partial sort, apply use_alter=True to ForeignKey and "
                "ForeignKeyConstraint objects involved in the cycle to mark these as known "
                "cycles that will be ignored.",
                _warning_class(),
                stacklevel=4,
            )
            collection = [(t, []) for t in existing]
        later = {id(s) for s in metadata._sequences.values()}
        for table, fkcs in collection:
            if table is None:
                if alter:
                    for fkc in fkcs:
                        self._drop_constraint(fkc)
            else:
                self._drop_table(table, later)
        for seq in metadata._sequences.values():
            self._drop_sequence(seq)
        self._drop_enum_types(existing)

    def create_table(self, table: Table) -> None:
        if self.checkfirst and self._has_table(table):
            return
        self._create_enum_types([table])
        self._create_table(table)

    def drop_table(self, table: Table) -> None:
        if self.checkfirst and not self._has_table(table):
            return
        self._drop_table(table, set())
        self._drop_enum_types([table])

    def create_index(self, index: Index) -> None:
        if not (self.checkfirst and self._has_index(index)):
            self.execute(CreateIndex(index))

    def drop_index(self, index: Index) -> None:
        if not self.checkfirst or self._has_index(index):
            self.execute(DropIndex(index))

    def create_sequence(self, seq: Sequence) -> None:
        self._create_sequence(seq)

    def drop_sequence(self, seq: Sequence) -> None:
        self._drop_sequence(seq)
