"""Generic SQL types: the names, constructors and semantics of SQLAlchemy 2.0.

This is the public namespace of the type system (``from docket.sql import types as
sqltypes``).  The classes live in three modules and are re-exported here:

* ``type_api``: ``TypeEngine`` (processors, dialect adaptation, variants),
  ``TypeDecorator``, ``NullType``, ``to_instance``, ``adapt_type``;
* ``types_scalar``: numbers, text, booleans, dates and times, binary;
* ``types_structured``: ``JSON``, ``Uuid``, ``Enum``, ``PickleType``.

Defined here: the SQL-standard upper-case names (``INTEGER``, ``VARCHAR`` ...),
the shared type instances (``NULLTYPE``, ``INTEGERTYPE`` ...), the type picked for
a literal Python value (``type_for_python_value``) and the affinity predicates.
"""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import uuid
from typing import Any

# Re-exported, including the private helpers dialect modules reuse.
from docket.sql.type_api import (  # noqa: F401
    _PARAMS_CACHE,
    _UNSET,
    NULLTYPE,
    BindProcessor,
    LiteralProcessor,
    NullType,
    ResultProcessor,
    TypeDecorator,
    TypeDialect,
    TypeEngine,
    _generic_repr,
    _init_params,
    _Memo,
    _string_literal_processor,
    adapt_type,
    to_instance,
)
from docket.sql.types_scalar import (  # noqa: F401
    _BOOL_TO_BOOL,
    _BOOL_TO_INT,
    _DATETIME,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Double,
    Float,
    Integer,
    Interval,
    LargeBinary,
    Numeric,
    SmallInteger,
    String,
    Text,
    Time,
    Unicode,
    UnicodeText,
    _Binary,
    _decimal_processor,
    _int_to_bool,
    _iso_literal,
    _strict_bool,
    _to_float,
)
from docket.sql.types_structured import (  # noqa: F401
    JSON,
    Enum,
    PickleType,
    Uuid,
    _JSONNullSentinel,
    _str_uuid_hex,
    _to_uuid,
    _to_uuid_str,
    _uuid_hex,
)

__all__ = [
    "BIGINT", "BINARY", "BLOB", "BOOLEAN", "BOOLEANTYPE", "CHAR", "CLOB", "DATE", "DATETIME",
    "DECIMAL", "DOUBLE", "DOUBLE_PRECISION", "FLOAT", "INTEGER", "INTEGERTYPE", "JSON", "NCHAR",
    "NULLTYPE", "NUMERIC", "NVARCHAR", "REAL", "SMALLINT", "STRINGTYPE", "TEXT", "TIME",
    "TIMESTAMP", "UUID", "VARBINARY", "VARCHAR", "BigInteger", "Boolean", "Date", "DateTime",
    "Double", "Enum", "Float", "Integer", "Interval", "LargeBinary", "NullType", "Numeric",
    "PickleType", "SmallInteger", "String", "Text", "Time", "TypeDecorator", "TypeDialect",
    "TypeEngine", "Unicode", "UnicodeText", "Uuid", "adapt_type", "is_datetime_like",
    "is_numeric", "is_string_like", "to_instance", "type_for_python_value",
]


# -- SQL-standard upper-case names: render exactly that DDL name ---------------------
class INTEGER(Integer):
    __visit_name__ = "INTEGER"


class SMALLINT(SmallInteger):
    __visit_name__ = "SMALLINT"


class BIGINT(BigInteger):
    __visit_name__ = "BIGINT"


class FLOAT(Float):
    __visit_name__ = "FLOAT"


class REAL(Float):
    __visit_name__ = "REAL"


class DOUBLE(Double):
    __visit_name__ = "DOUBLE"


class DOUBLE_PRECISION(Double):
    __visit_name__ = "DOUBLE_PRECISION"


class NUMERIC(Numeric):
    __visit_name__ = "NUMERIC"


class DECIMAL(Numeric):
    __visit_name__ = "DECIMAL"


class VARCHAR(String):
    __visit_name__ = "VARCHAR"


class CHAR(String):
    __visit_name__ = "CHAR"


class NCHAR(Unicode):
    __visit_name__ = "NCHAR"


class NVARCHAR(Unicode):
    __visit_name__ = "NVARCHAR"


class TEXT(Text):
    __visit_name__ = "TEXT"


class CLOB(Text):
    __visit_name__ = "CLOB"


class BOOLEAN(Boolean):
    __visit_name__ = "BOOLEAN"


class DATE(Date):
    __visit_name__ = "DATE"


class DATETIME(DateTime):
    __visit_name__ = "DATETIME"


class TIMESTAMP(DateTime):
    __visit_name__ = "TIMESTAMP"


class TIME(Time):
    __visit_name__ = "TIME"


class BLOB(LargeBinary):
    __visit_name__ = "BLOB"


class BINARY(_Binary):
    __visit_name__ = "BINARY"


class VARBINARY(_Binary):
    __visit_name__ = "VARBINARY"


class UUID(Uuid):
    """The ``UUID`` DDL type; always native where the database has one."""

    __visit_name__ = "UUID"

    def __init__(self, as_uuid: bool = True) -> None:
        super().__init__(as_uuid=as_uuid, native_uuid=True)


INTEGERTYPE = Integer()
BOOLEANTYPE = Boolean()
STRINGTYPE = String()
_DATETIME_TZ = DateTime(timezone=True)
_TIME = Time()
_TIME_TZ = Time(timezone=True)

# exact Python class -> the type used for a literal of that class
_PY_TYPES: dict[type, TypeEngine] = {
    bool: BOOLEANTYPE, int: INTEGERTYPE, float: Float(), decimal.Decimal: Numeric(),
    str: STRINGTYPE, bytes: LargeBinary(), dt.datetime: _DATETIME, dt.date: Date(),
    dt.time: _TIME, dt.timedelta: Interval(), uuid.UUID: Uuid(), type(None): NULLTYPE,
}
_ENUM_TYPES: dict[type, Enum] = {}


def type_for_python_value(value: Any) -> TypeEngine:
    """The type docket uses for a literal Python value (``NullType`` when unknown)."""
    cls = type(value)
    found = _PY_TYPES.get(cls)
    if found is None:
        if isinstance(value, enum.Enum):
            found = _ENUM_TYPES.get(cls)
            if found is None:
                found = _ENUM_TYPES[cls] = Enum(cls)
            return found
        for base in cls.__mro__[1:-1]:  # subclasses of the known classes
            found = _PY_TYPES.get(base)
            if found is not None:
                break
        else:
            return NULLTYPE
    if found is _DATETIME and value.tzinfo is not None:
        return _DATETIME_TZ
    if found is _TIME and value.tzinfo is not None:
        return _TIME_TZ
    return found


def is_string_like(type_: TypeEngine) -> bool:
    """True for text types (``String``, ``Text``, ``Enum`` and decorators over them)."""
    return issubclass(type_._type_affinity, String)


def is_numeric(type_: TypeEngine) -> bool:
    """True for ``Integer`` and ``Numeric`` (including ``Float``) types."""
    return issubclass(type_._type_affinity, (Integer, Numeric))


def is_datetime_like(type_: TypeEngine) -> bool:
    """True for ``Date``, ``DateTime``, ``Time`` and ``Interval`` types."""
    return issubclass(type_._type_affinity, (Date, DateTime, Time, Interval))
