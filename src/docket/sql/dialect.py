"""The compile-time face of a dialect: name, paramstyle, identifier quoting,
capability flags and compiler classes.

``docket.engine.default.DefaultDialect`` extends it with driver behaviour;
the SQL layer only ever needs this part (so ``str(stmt)`` works without an
engine, using :func:`default_dialect`).
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from docket.sql.type_compiler import GenericTypeCompiler

__all__ = ["Dialect", "RESERVED_WORDS", "default_dialect"]

# Words quoted when used as identifiers (SQL:2016 reserved words that matter
# in practice, plus PostgreSQL's and SQLite's own).
RESERVED_WORDS = frozenset(
    """
    all analyse analyze and any array as asc asymmetric authorization between binary both
    case cast check collate column constraint create cross current_catalog current_date
    current_role current_schema current_time current_timestamp current_user default
    deferrable desc distinct do else end except false fetch for foreign freeze from full
    grant group having ilike in initially inner intersect into is isnull join lateral
    leading left like limit localtime localtimestamp natural not notnull null offset on
    only or order outer overlaps placing primary references returning right select
    session_user similar some symmetric table tablesample then to trailing true union
    unique user using variadic verbose when where window with abort action add after
    alter attach autoincrement before begin by cascade commit conflict database delete
    detach drop each escape exclusive exists explain fail glob if ignore immediate index
    indexed insert instead key match no nothing of plan pragma query raise recursive
    regexp reindex release rename replace restrict rollback row rows savepoint set
    temp temporary transaction trigger update vacuum values view virtual
    """.split()
)

_LEGAL = re.compile(r"^[a-z_][a-z0-9_$]*$")

_PARAM_PLACEHOLDER = {
    "qmark": "?",
    "format": "%s",
    "numeric": ":{pos}",
    "named": ":{name}",
    "pyformat": "%({name})s",
}


class Dialect:
    """Compile-time dialect settings; subclass per database.

    Capability flags are plain class attributes so the ORM can plan around
    them (``insert_returning``, ``supports_multivalues_insert`` ...).
    """

    name = "default"
    default_paramstyle = "named"
    statement_compiler: Any = None  # set below (compiler imports this module)
    ddl_compiler: Any = None
    type_compiler_cls: type[GenericTypeCompiler] = GenericTypeCompiler
    colspecs: dict[type, type] = {}
    reserved_words: frozenset[str] = RESERVED_WORDS
    max_identifier_length = 63

    insert_returning = False
    update_returning = False
    delete_returning = False
    insert_executemany_returning = False
    implicit_returning = True
    supports_multivalues_insert = True
    #: a flush batches INSERTs whose generated keys come back: one pipelined
    #: executemany with RETURNING (``insert_executemany_returning``), or a
    #: multi-row ``VALUES ... RETURNING`` where the key order is known (SQLite);
    #: ``create_engine(use_insertmanyvalues=False)`` goes back to one per row
    use_insertmanyvalues = True
    #: rows per multi-row INSERT, and the bound parameters one statement may hold
    insertmanyvalues_page_size = 1000
    insertmanyvalues_max_parameters = 32700
    supports_default_values = True
    supports_empty_insert = True
    supports_savepoints = True
    supports_sequences = False
    supports_identity_columns = False
    supports_native_boolean = False
    supports_native_enum = False
    supports_native_uuid = False
    supports_native_decimal = False
    supports_is_distinct_from = True
    supports_for_update = True
    supports_alter = True
    supports_two_phase = False
    supports_server_side_cursors = False
    supports_sane_rowcount = True
    supports_sane_multi_rowcount = True
    supports_on_conflict = False
    supports_distinct_on = False
    supports_ilike = False
    limit_required_for_offset = False
    #: a UNION member with its own ORDER BY / LIMIT may be written ``(SELECT
    #: ...)``; a dialect that refuses that (SQLite) sets False, and the compiler
    #: wraps the member as ``SELECT * FROM (SELECT ...)`` instead
    compound_member_parens = True

    def __init__(self, paramstyle: str | None = None, **kw: Any) -> None:
        self.paramstyle = paramstyle or self.default_paramstyle
        if self.paramstyle not in _PARAM_PLACEHOLDER:
            raise ValueError(f"unknown paramstyle {self.paramstyle!r}")
        self.positional = self.paramstyle in ("qmark", "format", "numeric")
        # format-style drivers read '%' as the start of a placeholder
        self.escape_percent = self.paramstyle in ("format", "pyformat")
        self.type_compiler_instance = self.type_compiler_cls(self)
        self._quoted: dict[str, str] = {}

    def placeholder(self, name: str, position: int) -> str:
        """The driver's placeholder for the ``position``-th (1-based) parameter."""
        return _PARAM_PLACEHOLDER[self.paramstyle].format(name=name, pos=position)

    # -- identifiers ----------------------------------------------------------
    def requires_quotes(self, ident: str) -> bool:
        return (
            ident.lower() in self.reserved_words
            or not _LEGAL.match(ident)
        )

    def quote(self, ident: str) -> str:
        """``ident`` quoted if it is reserved, mixed-case or has odd characters."""
        cached = self._quoted.get(ident)
        if cached is None:
            if self.requires_quotes(ident):
                cached = '"' + ident.replace('"', '""') + '"'
            else:
                cached = ident
            if self.escape_percent:
                cached = cached.replace("%", "%%")
            self._quoted[ident] = cached
        return cached

    def format_table(self, table: Any) -> str:
        name = self.quote(table.name)
        if getattr(table, "schema", None):
            return self.quote(table.schema) + "." + name
        return name

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} paramstyle={self.paramstyle}>"


@lru_cache(maxsize=1)
def default_dialect() -> Dialect:
    """The dialect ``str(statement)`` renders with: generic SQL, ``:name`` params."""
    from docket.sql.compiler import SQLCompiler

    d = Dialect()
    if d.statement_compiler is None:
        Dialect.statement_compiler = SQLCompiler
    d.supports_native_boolean = True
    return d
