"""Rendering SQL types as DDL names.

``GenericTypeCompiler.process(type_)`` dispatches on ``type_.__visit_name__`` to a
``visit_<name>`` method.  Lower-case visit names belong to generic types
(``Integer`` -> ``visit_integer``) and delegate to the upper-case SQL name they render
(``visit_INTEGER``); dialect compilers subclass and override only what differs.

This module works on type objects by their attributes only and imports nothing from
``docket.sql.types`` at run time (``types`` imports it for ``TypeEngine.compile``).

Invariant: ``_dispatch`` maps a type class to the bound visit method for this
compiler instance; it is filled lazily and never invalidated (classes don't change
their ``__visit_name__``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from docket import exc

if TYPE_CHECKING:
    from collections.abc import Callable

    from docket.sql.types import TypeEngine

__all__ = ["DEFAULT_DIALECT", "GenericTypeCompiler", "StrTypeCompiler"]


class GenericTypeCompiler:
    """Renders types with SQL-standard names.

    Args:
        dialect: the dialect the DDL is for (reads ``name`` and the
            ``supports_native_*`` flags).
    """

    def __init__(self, dialect: Any) -> None:
        self.dialect = dialect
        self._dispatch: dict[type, Callable[..., str]] = {}

    def process(self, type_: TypeEngine, **kw: Any) -> str:
        """Render ``type_`` (or its variant for this dialect) as a DDL type name.

        Raises:
            UnsupportedCompilationError: this compiler has no rule for the type.
            CompileError: the type cannot be rendered (``NullType``).
        """
        variants = type_._variant_mapping
        if variants:
            type_ = variants.get(self.dialect.name, type_)
        cls = type(type_)
        meth = self._dispatch.get(cls)
        if meth is None:
            meth = self._lookup(cls)
            self._dispatch[cls] = meth
        return meth(type_, **kw)

    def _lookup(self, cls: type) -> Callable[..., str]:
        name = "visit_" + cls.__visit_name__  # type: ignore[attr-defined]
        meth: Callable[..., str] | None = getattr(self, name, None)
        if meth is None:
            raise exc.UnsupportedCompilationError(
                f"{type(self).__name__} for dialect '{self.dialect.name}' can't render type "
                f"{cls.__name__} (no {name}() method); use a type this dialect supports or "
                "a TypeDecorator over one"
            )
        return meth

    # -- helpers -------------------------------------------------------------------
    def _render_string_type(self, name: str, type_: Any, length: int | None = None) -> str:
        text = name
        length = length if length is not None else getattr(type_, "length", None)
        if length:
            text += f"({length})"
        collation = getattr(type_, "collation", None)
        if collation:
            text += f' COLLATE "{collation}"'
        return text

    def _render_numeric(self, name: str, type_: Any) -> str:
        precision, scale = type_.precision, getattr(type_, "scale", None)
        if precision is None:
            return name
        if scale is None:
            return f"{name}({precision})"
        return f"{name}({precision}, {scale})"

    # -- SQL-standard names --------------------------------------------------------
    def visit_INTEGER(self, type_: Any, **kw: Any) -> str:
        return "INTEGER"

    def visit_SMALLINT(self, type_: Any, **kw: Any) -> str:
        return "SMALLINT"

    def visit_BIGINT(self, type_: Any, **kw: Any) -> str:
        return "BIGINT"

    def visit_FLOAT(self, type_: Any, **kw: Any) -> str:
        return f"FLOAT({type_.precision})" if type_.precision is not None else "FLOAT"

    def visit_REAL(self, type_: Any, **kw: Any) -> str:
        return "REAL"

    def visit_DOUBLE(self, type_: Any, **kw: Any) -> str:
        return "DOUBLE"

    def visit_DOUBLE_PRECISION(self, type_: Any, **kw: Any) -> str:
        return "DOUBLE PRECISION"

    def visit_NUMERIC(self, type_: Any, **kw: Any) -> str:
        return self._render_numeric("NUMERIC", type_)

    def visit_DECIMAL(self, type_: Any, **kw: Any) -> str:
        return self._render_numeric("DECIMAL", type_)

    def visit_VARCHAR(self, type_: Any, **kw: Any) -> str:
        return self._render_string_type("VARCHAR", type_)

    def visit_CHAR(self, type_: Any, **kw: Any) -> str:
        return self._render_string_type("CHAR", type_)

    def visit_NCHAR(self, type_: Any, **kw: Any) -> str:
        return self._render_string_type("NCHAR", type_)

    def visit_NVARCHAR(self, type_: Any, **kw: Any) -> str:
        return self._render_string_type("NVARCHAR", type_)

    def visit_TEXT(self, type_: Any, **kw: Any) -> str:
        return self._render_string_type("TEXT", type_)

    def visit_CLOB(self, type_: Any, **kw: Any) -> str:
        return self._render_string_type("CLOB", type_)

    def visit_BOOLEAN(self, type_: Any, **kw: Any) -> str:
        return "BOOLEAN"

    def visit_DATE(self, type_: Any, **kw: Any) -> str:
        return "DATE"

    def visit_DATETIME(self, type_: Any, **kw: Any) -> str:
        return "DATETIME"

    def visit_TIMESTAMP(self, type_: Any, **kw: Any) -> str:
        return "TIMESTAMP"

    def visit_TIME(self, type_: Any, **kw: Any) -> str:
        return "TIME"

    def visit_BLOB(self, type_: Any, **kw: Any) -> str:
        return "BLOB"

    def visit_BINARY(self, type_: Any, **kw: Any) -> str:
        return self._render_string_type("BINARY", type_)

    def visit_VARBINARY(self, type_: Any, **kw: Any) -> str:
        return self._render_string_type("VARBINARY", type_)

    def visit_JSON(self, type_: Any, **kw: Any) -> str:
        return "JSON"

    def visit_UUID(self, type_: Any, **kw: Any) -> str:
        return "UUID"

    # -- generic types -------------------------------------------------------------
    def visit_integer(self, type_: Any, **kw: Any) -> str:
        return self.visit_INTEGER(type_, **kw)

    def visit_small_integer(self, type_: Any, **kw: Any) -> str:
        return self.visit_SMALLINT(type_, **kw)

    def visit_big_integer(self, type_: Any, **kw: Any) -> str:
        return self.visit_BIGINT(type_, **kw)

    def visit_float(self, type_: Any, **kw: Any) -> str:
        return self.visit_FLOAT(type_, **kw)

    def visit_double(self, type_: Any, **kw: Any) -> str:
        return self.visit_DOUBLE(type_, **kw)

    def visit_numeric(self, type_: Any, **kw: Any) -> str:
        return self.visit_NUMERIC(type_, **kw)

    def visit_string(self, type_: Any, **kw: Any) -> str:
        return self.visit_VARCHAR(type_, **kw)

    def visit_unicode(self, type_: Any, **kw: Any) -> str:
        return self.visit_VARCHAR(type_, **kw)

    def visit_text(self, type_: Any, **kw: Any) -> str:
        return self.visit_TEXT(type_, **kw)

    def visit_unicode_text(self, type_: Any, **kw: Any) -> str:
        return self.visit_TEXT(type_, **kw)

    def visit_boolean(self, type_: Any, **kw: Any) -> str:
        return self.visit_BOOLEAN(type_, **kw)

    def visit_date(self, type_: Any, **kw: Any) -> str:
        return self.visit_DATE(type_, **kw)

    def visit_datetime(self, type_: Any, **kw: Any) -> str:
        return self.visit_DATETIME(type_, **kw)

    def visit_time(self, type_: Any, **kw: Any) -> str:
        return self.visit_TIME(type_, **kw)

    def visit_interval(self, type_: Any, **kw: Any) -> str:
        # emulated: stored as a datetime offset from the epoch
        return self.visit_datetime(type_, **kw)

    def visit_large_binary(self, type_: Any, **kw: Any) -> str:
        return self.visit_BLOB(type_, **kw)

    def visit_uuid(self, type_: Any, **kw: Any) -> str:
        if not type_.native_uuid or not self.dialect.supports_native_uuid:
            return self._render_string_type("CHAR", type_, length=32)
        return self.visit_UUID(type_, **kw)

    def visit_enum(self, type_: Any, **kw: Any) -> str:
        # non-native: a VARCHAR as long as the longest value
        return self.visit_VARCHAR(type_, **kw)

    def visit_type_decorator(self, type_: Any, **kw: Any) -> str:
        return self.process(type_.type_engine(self.dialect), **kw)

    def visit_user_defined(self, type_: Any, **kw: Any) -> str:
        spec: str = type_.get_col_spec(**kw)
        return spec

    def visit_null(self, type_: Any, **kw: Any) -> str:
        column = kw.get("type_expression")
        name = getattr(column, "name", None)
        where = f"on column '{name}'" if name is not None else "on this Column"
        raise exc.CompileError(
            f"Can't generate DDL for NullType(); did you forget to specify a type {where}? "
            "Pass a type such as Integer() or String(50) to the Column."
        )


class StrTypeCompiler(GenericTypeCompiler):
    """Used by ``str(type)`` without a dialect: never fails, names unknown types."""

    def visit_null(self, type_: Any, **kw: Any) -> str:
        return "NULL"

    def _lookup(self, cls: type) -> Callable[..., str]:
        meth: Callable[..., str] | None = getattr(self, "visit_" + cls.__visit_name__, None)  # type: ignore[attr-defined]
        if meth is not None:
            return meth
        return lambda type_, **kw: cls.__name__


class _DefaultDialect:
    """The dialect-less context for ``TypeEngine.compile()`` with no dialect."""

    name = "default"
    colspecs: dict[type, type] = {}
    supports_native_boolean = True
    supports_native_enum = False
    supports_native_uuid = True
    supports_native_decimal = True
    paramstyle = "named"

    def __init__(self) -> None:
        self.type_compiler_instance = StrTypeCompiler(self)


DEFAULT_DIALECT = _DefaultDialect()
