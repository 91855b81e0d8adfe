"""DDL without connections: table dependency order and DDL statement elements.

* :func:`sort_tables` / :func:`sort_tables_and_constraints` order tables so
  that referenced tables come first (SQLAlchemy's rules: self-references are
  ignored; tables on a foreign-key cycle lose their foreign-key dependencies
  for ordering, with a warning from ``sort_tables``, and those constraints are
  returned separately for ``ALTER TABLE ... ADD CONSTRAINT``).
* Elements (:class:`CreateTable`, :class:`DropTable`, :class:`CreateIndex`,
  ...) are plain descriptions; ``str(element)`` or ``element.compile(dialect=...)``
  renders them through the dialect's ``ddl_compiler`` (:class:`DDLCompiler` or a
  dialect subclass); ``Connection.execute(element)`` runs them.
* The compiler and its naming/type helpers live in ``docket.sql.ddl_compiler``
  and are re-exported here (``from docket.sql.ddl import DDLCompiler``).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from docket import exc
from docket._util import topological
from docket.sql.ddl_compiler import (
    DDLCompiler,
    _creation_key,
    constraint_name,
    effective_type,
    native_enum_types,
)
from docket.sql.dialect import Dialect, default_dialect
from docket.sql.schema import (
    Constraint,
    ForeignKeyConstraint,
    Table,
)

__all__ = [
    "DDL",
    "AddConstraint",
    "CreateEnumType",
    "CreateIndex",
    "CreateSequence",
    "CreateTable",
    "DDLCompiler",
    "DropConstraint",
    "DropEnumType",
    "DropIndex",
    "DropSequence",
    "DropTable",
    "ExecutableDDLElement",
    "SetColumnComment",
    "SetTableComment",
    "constraint_name",
    "effective_type",
    "native_enum_types",
    "sort_tables",
    "sort_tables_and_constraints",
]


def _warning_class() -> type[Warning]:
    cls: type[Warning] = getattr(exc, "SAWarning", None) or RuntimeWarning
    return cls


# --- table ordering -----------------------------------------------------------------


def _fk_constraints(table: Table) -> list[ForeignKeyConstraint]:
    fkcs = [c for c in table.constraints if isinstance(c, ForeignKeyConstraint)]
    fkcs.sort(key=lambda c: _creation_key(c, table))
    return fkcs


def sort_tables_and_constraints(
    tables: Iterable[Table],
    filter_fn: Callable[[ForeignKeyConstraint], bool | None] | None = None,
    extra_dependencies: Iterable[tuple[Table, Table]] | None = None,
    _warn_for_cycles: bool = False,
) -> list[tuple[Table | None, list[ForeignKeyConstraint]]]:
    """Tables in dependency order, each with the foreign-key constraints to
    create inline; the final ``(None, [...])`` entry holds the constraints to
    add separately (``use_alter=True``, or on a cycle).

    Args:
        tables: the tables; ties keep this order.
        filter_fn: called per ForeignKeyConstraint: True = always separate,
            False = always inline (never broken out of a cycle), None = inline
            unless on a cycle.
        extra_dependencies: extra ``(parent, child)`` table pairs.

    Raises:
        CircularDependencyError: a cycle remains that no constraint may break.
        NoReferencedTableError: a foreign key names a table not in its MetaData.
    """
    tables = list(tables)
    fixed: set[tuple[Table, Table]] = set(extra_dependencies or ())
    mutable: set[tuple[Table, Table]] = set()
    remaining: dict[ForeignKeyConstraint, None] = {}  # insertion-ordered set
    for table in tables:
        for fkc in _fk_constraints(table):
            if fkc.use_alter is True or (filter_fn is not None and filter_fn(fkc) is True):
                remaining[fkc] = None
                continue
            parent = fkc.referred_table
            if parent is not table:
                mutable.add((parent, table))
        fixed.update((parent, table) for parent in getattr(table, "_extra_dependencies", ()))
    try:
        ordered = topological.sort(tables, fixed | mutable)
    except exc.CircularDependencyError as err:
        cycles = err.cycles
        if _warn_for_cycles:
            names = ", ".join(sorted(t.fullname for t in cycles))
            warnings.warn(
                f'Cannot correctly sort tables; there are unresolvable cycles between tables '
                f'"{names}", which is usually caused by mutually dependent foreign key '
                "constraints. Foreign key constraints involving these tables will not be "
                "considered; mark one of them use_alter=True to make the order explicit.",
                _warning_class(),
                stacklevel=3,
            )
        for parent, child in sorted(err.edges, key=lambda e: (e[1].fullname, e[0].fullname)):
            if (parent, child) not in mutable or child not in cycles:
                continue
            for fkc in _fk_constraints(child):
                if filter_fn is not None and filter_fn(fkc) is False:
                    continue
                remaining[fkc] = None
                referred = fkc.referred_table
                if referred is not child:
                    mutable.discard((referred, child))
        ordered = topological.sort(tables, fixed | mutable)
    result: list[tuple[Table | None, list[ForeignKeyConstraint]]] = [
        (t, [c for c in _fk_constraints(t) if c not in remaining]) for t in ordered
    ]
    result.append((None, list(remaining)))
    return result


def sort_tables(
    tables: Iterable[Table],
    skip_fn: Callable[[Any], bool] | None = None,
    extra_dependencies: Iterable[tuple[Table, Table]] | None = None,
) -> list[Table]:
    """Tables with referenced tables first (``MetaData.sorted_tables``).

    Args:
        tables: the tables; ties keep this order.
        skip_fn: called per ForeignKey; True ignores its constraint for ordering.
        extra_dependencies: extra ``(parent, child)`` table pairs.

    Tables on a foreign-key cycle are ordered as if those keys did not exist,
    with a warning naming them.
    """
    filter_fn: Callable[[ForeignKeyConstraint], bool | None] | None = None
    if skip_fn is not None:
        fk_skip = skip_fn

        def filter_fn(fkc: ForeignKeyConstraint) -> bool | None:
            return True if any(fk_skip(fk) for fk in fkc.elements) else None

    return [
        t for t, _ in sort_tables_and_constraints(
            tables, filter_fn, extra_dependencies, _warn_for_cycles=True
        ) if t is not None
    ]


# --- helpers shared with the engine ------------------------------------------------

# --- DDL elements ---------------------------------------------------------------------


class ExecutableDDLElement:
    """Base of DDL statements: compile with ``compile()`` / ``str()``; run with
    ``Connection.execute()``."""

    __visit_name__ = "ddl_element"
    is_ddl = True
    is_selectable = False
    is_dml = False
    element: Any = None

    def compile(self, bind: Any = None, dialect: Dialect | None = None, **kw: Any) -> DDLCompiler:
        """Compile for ``dialect`` (or ``bind``'s dialect; generic SQL without either)."""
        if dialect is None:
            dialect = bind.dialect if bind is not None else default_dialect()
        compiler_cls = getattr(dialect, "ddl_compiler", None) or DDLCompiler
        compiled: DDLCompiler = compiler_cls(dialect, self, **kw)
        return compiled

    def __str__(self) -> str:
        return self.compile().string

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.element!r}>"


class _CreateBase(ExecutableDDLElement):
    def __init__(self, element: Any, if_not_exists: bool = False) -> None:
        self.element = element
        self.if_not_exists = if_not_exists


class _DropBase(ExecutableDDLElement):
    def __init__(self, element: Any, if_exists: bool = False) -> None:
        self.element = element
        self.if_exists = if_exists


class CreateTable(_CreateBase):
    """``CREATE TABLE``.

    Args:
        element: the Table.
        include_foreign_key_constraints: only these foreign keys inline
            (None: all but ``use_alter`` ones where the dialect can ALTER).
        if_not_exists: render ``IF NOT EXISTS``.
    """

    __visit_name__ = "create_table"

    def __init__(self, element: Table,
                 include_foreign_key_constraints: Sequence[ForeignKeyConstraint] | None = None,
                 if_not_exists: bool = False) -> None:
        super().__init__(element, if_not_exists=if_not_exists)
        self.include_foreign_key_constraints = include_foreign_key_constraints


class DropTable(_DropBase):
    """``DROP TABLE [IF EXISTS]``."""

    __visit_name__ = "drop_table"


class CreateIndex(_CreateBase):
    """``CREATE [UNIQUE] INDEX [IF NOT EXISTS]``."""

    __visit_name__ = "create_index"


class DropIndex(_DropBase):
    """``DROP INDEX [IF EXISTS]``."""

    __visit_name__ = "drop_index"


class CreateSequence(_CreateBase):
    """``CREATE SEQUENCE [IF NOT EXISTS]``."""

    __visit_name__ = "create_sequence"


class DropSequence(_DropBase):
    """``DROP SEQUENCE [IF EXISTS]``."""

    __visit_name__ = "drop_sequence"


class CreateEnumType(_CreateBase):
    """``CREATE TYPE name AS ENUM (...)`` for a native Enum (PostgreSQL)."""

    __visit_name__ = "create_enum_type"


class DropEnumType(_DropBase):
    """``DROP TYPE [IF EXISTS] name``."""

    __visit_name__ = "drop_enum_type"


class AddConstraint(_CreateBase):
    """``ALTER TABLE t ADD <constraint>``."""

    __visit_name__ = "add_constraint"


class DropConstraint(_DropBase):
    """``ALTER TABLE t DROP CONSTRAINT [IF EXISTS] name [CASCADE]``.

    Args:
        element: the constraint (it needs a name, its own or by convention).
        cascade: render ``CASCADE``.
        if_exists: render ``IF EXISTS``.
    """

    __visit_name__ = "drop_constraint"

    def __init__(self, element: Constraint, cascade: bool = False, if_exists: bool = False,
                 _name: str | None = None) -> None:
        super().__init__(element, if_exists=if_exists)
        self.cascade = cascade
        self._name = _name  # the name found in the database for an unnamed constraint


class SetTableComment(_CreateBase):
    """``COMMENT ON TABLE t IS '...'``."""

    __visit_name__ = "set_table_comment"


class SetColumnComment(_CreateBase):
    """``COMMENT ON COLUMN t.c IS '...'``."""

    __visit_name__ = "set_column_comment"


class DDL(ExecutableDDLElement):
    """A literal DDL statement.

    ``%(table)s``, ``%(schema)s`` and ``%(fullname)s`` are filled from the
    target given to :meth:`against` (and ``context``); a literal percent sign
    is written ``%%``.

    Args:
        statement: the SQL text.
        context: extra ``%(name)s`` values.
    """

    __visit_name__ = "ddl"

    def __init__(self, statement: str, context: dict[str, Any] | None = None) -> None:
        if not isinstance(statement, str):
            raise exc.ArgumentError(
                f"DDL() needs a SQL string, got {type(statement).__name__}: {statement!r}"
            )
        self.statement = statement
        self.context = dict(context or {})
        self.target: Any = None

    def against(self, target: Any) -> DDL:
        """A copy whose ``%(table)s`` tokens name ``target``."""
        new = DDL(self.statement, self.context)
        new.target = target
        return new

    def __repr__(self) -> str:
        return f"<DDL {self.statement!r}>"

