"""PostgreSQL types and implementations (psycopg 3 and psycopg2).

PostgreSQL stores almost everything natively and both drivers return native Python
objects, so most processors are ``None``.  The exceptions:

* ``JSON``/``JSONB`` bind as ``json.dumps`` text: psycopg 3 sends ``str`` parameters
  with the "unknown" type so the server casts them to json/jsonb (also in binary
  and prepared mode); psycopg2 interpolates text.  Both drivers decode json results.
* ``Numeric``/``Float`` results convert between ``Decimal`` and ``float`` only when
  the column's type code (the DB-API ``type_code``, a PostgreSQL oid) says the driver
  returns the other one; an unknown type code converts by checking each value.
* ``LargeBinary``: psycopg2 returns ``memoryview``; converted to ``bytes`` unless the
  dialect's ``driver`` is ``"psycopg"``.
* ``Uuid(as_uuid=True)`` on psycopg2 (which returns ``str``) converts to ``uuid.UUID``.

Drivers are never imported here.
"""

from __future__ import annotations

import decimal
from typing import Any

from docket import exc
from docket.sql import types as sqltypes
from docket.sql.type_compiler import GenericTypeCompiler
from docket.sql.types import BindProcessor, LiteralProcessor, ResultProcessor

__all__ = [
    "ARRAY", "BYTEA", "CIDR", "DOUBLE_PRECISION", "ENUM", "INET", "INTERVAL", "JSON", "JSONB",
    "MONEY", "REAL", "TIME", "TIMESTAMP", "UUID", "PGTypeCompiler", "colspecs",
]

DOUBLE_PRECISION = sqltypes.DOUBLE_PRECISION
REAL = sqltypes.REAL
UUID = sqltypes.UUID

# PostgreSQL type oids (DB-API type_code) that decide numeric conversions
_FLOAT_OIDS = frozenset({700, 701, 1021, 1022})
_DECIMAL_OIDS = frozenset({1700, 1231})
_INT_OIDS = frozenset({20, 21, 23, 26, 1005, 1007, 1016})


def _driver_is_psycopg3(dialect: Any) -> bool:
    return getattr(dialect, "driver", None) == "psycopg"


class TIMESTAMP(sqltypes.TIMESTAMP):
    """``TIMESTAMP [(precision)] WITH[OUT] TIME ZONE``."""

    def __init__(self, timezone: bool = False, precision: int | None = None) -> None:
        super().__init__(timezone=timezone)
        self.precision = precision


class TIME(sqltypes.TIME):
    """``TIME [(precision)] WITH[OUT] TIME ZONE``."""

    def __init__(self, timezone: bool = False, precision: int | None = None) -> None:
        super().__init__(timezone=timezone)
        self.precision = precision


class INTERVAL(sqltypes.Interval):
    """The native ``INTERVAL [fields] [(precision)]``; ``datetime.timedelta`` in Python."""

    __visit_name__ = "INTERVAL"

    def __init__(
        self, precision: int | None = None, fields: str | None = None, native: bool = True
    ) -> None:
        super().__init__(native=native, second_precision=precision)
        self.precision = precision
        self.fields = fields

    def bind_processor(self, dialect: Any) -> BindProcessor | None:
        return None if self.native else super().bind_processor(dialect)

    def result_processor(self, dialect: Any, coltype: Any) -> ResultProcessor | None:
        return None if self.native else super().result_processor(dialect, coltype)


class BYTEA(sqltypes.LargeBinary):
    """``BYTEA``; ``bytes`` in Python."""

    __visit_name__ = "BYTEA"

    def result_processor(self, dialect: Any, coltype: Any) -> ResultProcessor | None:
        if _driver_is_psycopg3(dialect):
            return None

        def process(value: Any) -> Any:  # psycopg2 returns memoryview
            return value if value is None or type(value) is bytes else bytes(value)

        return process

    def literal_processor(self, dialect: Any) -> LiteralProcessor | None:
        def process(value: Any) -> str:
            return "NULL" if value is None else f"'\\x{bytes(value).hex()}'::bytea"

        return process


class JSON(sqltypes.JSON):
    """``JSON``; the driver decodes results, so only binding converts."""

    def result_processor(self, dialect: Any, coltype: Any) -> ResultProcessor | None:
        return None


class JSONB(JSON):
    """``JSONB``."""

    __visit_name__ = "JSONB"


class INET(sqltypes.TypeEngine):
    """``INET``: a host address (psycopg 3 returns ``ipaddress`` objects)."""

    __visit_name__ = "INET"


class CIDR(sqltypes.TypeEngine):
    """``CIDR``: a network (psycopg 3 returns ``ipaddress`` objects)."""

    __visit_name__ = "CIDR"


class MONEY(sqltypes.TypeEngine):
    """``MONEY`` (returned as the driver gives it: text or ``Decimal``)."""

    __visit_name__ = "MONEY"


class ENUM(sqltypes.Enum):
    """A named ``CREATE TYPE ... AS ENUM``; ``create_type=False`` if it exists already."""

    __visit_name__ = "ENUM"

    def __init__(self, *enums: Any, create_type: bool = True, **kw: Any) -> None:
        super().__init__(*enums, **kw)
        self.create_type = create_type


def _map_nested(proc: Any, as_tuple: bool) -> ResultProcessor:
    seq = tuple if as_tuple else list

    def process(value: Any) -> Any:
        if value is None:
            return None
        return seq(process(v) if isinstance(v, (list, tuple)) else proc(v) for v in value)

    return process


def _identity(value: Any) -> Any:
    return value


class ARRAY(sqltypes.TypeEngine):
    """``item_type[]``: a (possibly multi-dimensional) array, a ``list`` in Python.

    Args:
        item_type: the element type (class or instance); not itself an ``ARRAY``.
        as_tuple: return tuples instead of lists.
        dimensions: number of dimensions rendered in DDL (``[]`` repeated).
        zero_indexes: index expressions are 0-based (kept for compatibility).

    Raises:
        ValueError: ``item_type`` is an ``ARRAY``.
    """

    __visit_name__ = "ARRAY"
    hashable = False

    def __init__(
        self,
        item_type: sqltypes.TypeEngine | type[sqltypes.TypeEngine],
        as_tuple: bool = False,
        dimensions: int | None = None,
        zero_indexes: bool = False,
    ) -> None:
        if isinstance(item_type, ARRAY) or item_type is ARRAY:
            raise ValueError(
                "Do not nest ARRAY types; ARRAY(basetype) handles multi-dimensional arrays "
                "of basetype (set dimensions=N for the DDL)"
            )
        self.item_type = sqltypes.to_instance(item_type)
        self.as_tuple = as_tuple
        self.dimensions = dimensions
        self.zero_indexes = zero_indexes

    @property
    def python_type(self) -> type:
        return list

    def bind_processor(self, dialect: Any) -> BindProcessor | None:
        item = self.item_type._cached_bind_processor(dialect)
        if item is None:
            return None
        return _map_nested(item, as_tuple=False)

    def result_processor(self, dialect: Any, coltype: Any) -> ResultProcessor | None:
        item = self.item_type._cached_result_processor(dialect, None)
        if item is None and not self.as_tuple:
            return None
        return _map_nested(item or _identity, self.as_tuple)


class _Numeric(sqltypes.Numeric):
    """Numeric results, converted by the column's oid (see the module docstring)."""

    def result_processor(self, dialect: Any, coltype: Any) -> ResultProcessor | None:
        if self.asdecimal:
            if coltype in _FLOAT_OIDS:
                return sqltypes._decimal_processor(self._effective_decimal_return_scale)
            if coltype in _DECIMAL_OIDS or coltype in _INT_OIDS:
                return None
            to_decimal = sqltypes._decimal_processor(self._effective_decimal_return_scale)

            def process(value: Any) -> Any:
                return to_decimal(value) if type(value) is float else value

            return process
        if coltype in _DECIMAL_OIDS:
            return sqltypes._to_float
        if coltype in _FLOAT_OIDS or coltype in _INT_OIDS:
            return None

        def process_float(value: Any) -> Any:
            return float(value) if isinstance(value, decimal.Decimal) else value

        return process_float


class _Float(_Numeric, sqltypes.Float):
    pass


class _Uuid(sqltypes.Uuid):
    """psycopg2 returns native UUID columns as ``str``; psycopg 3 as ``uuid.UUID``."""

    def result_processor(self, dialect: Any, coltype: Any) -> ResultProcessor | None:
        if self._is_native(dialect) and self.as_uuid and not _driver_is_psycopg3(dialect):
            return sqltypes._to_uuid
        return super().result_processor(dialect, coltype)


class PGTypeCompiler(GenericTypeCompiler):
    """PostgreSQL DDL type names."""

    def _zone(self, name: str, type_: Any) -> str:
        precision = getattr(type_, "precision", None)
        text = f"{name}({precision})" if precision is not None else name
        return text + (" WITH TIME ZONE" if type_.timezone else " WITHOUT TIME ZONE")

    def visit_TIMESTAMP(self, type_: Any, **kw: Any) -> str:
        return self._zone("TIMESTAMP", type_)

    def visit_DATETIME(self, type_: Any, **kw: Any) -> str:
        return self._zone("TIMESTAMP", type_)

    def visit_TIME(self, type_: Any, **kw: Any) -> str:
        return self._zone("TIME", type_)

    def visit_DOUBLE(self, type_: Any, **kw: Any) -> str:
        return "DOUBLE PRECISION"

    def visit_large_binary(self, type_: Any, **kw: Any) -> str:
        return "BYTEA"

    def visit_BLOB(self, type_: Any, **kw: Any) -> str:
        return "BYTEA"  # PostgreSQL has no BLOB

    def visit_BYTEA(self, type_: Any, **kw: Any) -> str:
        return "BYTEA"

    def visit_JSONB(self, type_: Any, **kw: Any) -> str:
        return "JSONB"

    def visit_INET(self, type_: Any, **kw: Any) -> str:
        return "INET"

    def visit_CIDR(self, type_: Any, **kw: Any) -> str:
        return "CIDR"

    def visit_MONEY(self, type_: Any, **kw: Any) -> str:
        return "MONEY"

    def visit_INTERVAL(self, type_: Any, **kw: Any) -> str:
        text = "INTERVAL"
        if type_.fields is not None:
            text += " " + type_.fields
        if type_.precision is not None:
            text += f" ({type_.precision})"
        return text

    def visit_interval(self, type_: Any, **kw: Any) -> str:
        if not type_.native:
            return self.visit_TIMESTAMP(sqltypes.TIMESTAMP())
        if type_.second_precision is not None:
            return f"INTERVAL ({type_.second_precision})"
        return "INTERVAL"

    def visit_uuid(self, type_: Any, **kw: Any) -> str:
        if type_.native_uuid:
            return "UUID"
        return super().visit_uuid(type_, **kw)

    def visit_enum(self, type_: Any, **kw: Any) -> str:
        if type_.native_enum and self.dialect.supports_native_enum:
            return self.visit_ENUM(type_, **kw)
        return super().visit_enum(type_, **kw)

    def visit_ENUM(self, type_: Any, **kw: Any) -> str:
        if not type_.name:
            raise exc.CompileError(
                f"PostgreSQL ENUM type requires a name; {type_!r} has none: pass name='...' "
                "(or native_enum=False to store it as VARCHAR)"
            )
        quote = getattr(self.dialect, "quote", None) or _quote
        name = quote(type_.name)
        return f"{quote(type_.schema)}.{name}" if type_.schema else name

    def visit_ARRAY(self, type_: Any, **kw: Any) -> str:
        inner = self.process(type_.item_type, **kw)
        return inner + "[]" * (type_.dimensions if type_.dimensions is not None else 1)


def _quote(ident: str) -> str:
    """Fallback identifier quoting when the dialect has no ``quote()``."""
    if ident.islower() and ident.replace("_", "a").isalnum() and not ident[0].isdigit():
        return ident
    return '"' + ident.replace('"', '""') + '"'


#: generic type class -> PostgreSQL implementation class
colspecs: dict[type, type] = {
    sqltypes.Interval: INTERVAL,
    sqltypes.LargeBinary: BYTEA,
    sqltypes.JSON: JSON,
    sqltypes.Enum: ENUM,
    sqltypes.Numeric: _Numeric,
    sqltypes.Float: _Float,
    sqltypes.Uuid: _Uuid,
}
