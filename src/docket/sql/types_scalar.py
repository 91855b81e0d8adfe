"""Generic scalar types: numbers, text, booleans, dates and times, binary.

Part of the type system re-exported by ``docket.sql.types``; the base classes and
invariants are described in ``docket.sql.type_api``.
"""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Mapping
from typing import Any

from docket.sql.type_api import (
    BindProcessor,
    LiteralProcessor,
    ResultProcessor,
    TypeEngine,
    _init_params,
    _string_literal_processor,
)

__all__ = [
    "BigInteger", "Boolean", "Date", "DateTime", "Double", "Float", "Integer", "Interval",
    "LargeBinary", "Numeric", "SmallInteger", "String", "Text", "Time", "Unicode",
    "UnicodeText",
]


class Integer(TypeEngine):
    """A Python ``int``."""

    __visit_name__ = "integer"

    @property
    def python_type(self) -> type:
        return int

    def literal_processor(self, dialect: Any) -> LiteralProcessor | None:
        def process(value: Any) -> str:
            return "NULL" if value is None else str(int(value))

        return process


class SmallInteger(Integer):
    """A small ``int`` (``SMALLINT``)."""

    __visit_name__ = "small_integer"


class BigInteger(Integer):
    """A large ``int`` (``BIGINT``)."""

    __visit_name__ = "big_integer"


def _to_float(value: Any) -> Any:
    return None if value is None else float(value)


def _decimal_processor(scale: int) -> ResultProcessor:
    fmt = f"%.{scale}f"
    Decimal = decimal.Decimal

    def process(value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, str):  # a text value SQLite kept as text
            return Decimal(value)
        return Decimal(fmt % value)

    return process


class Numeric(TypeEngine):
    """A fixed-precision number, ``decimal.Decimal`` in Python unless ``asdecimal=False``.

    On a driver without native decimals the value travels as a float and comes back
    formatted to ``scale`` digits (``decimal_return_scale``, else ``scale``, else 10).
    """

    __visit_name__ = "numeric"
    _default_decimal_return_scale = 10

    def __init__(
        self,
        precision: int | None = None,
        scale: int | None = None,
        decimal_return_scale: int | None = None,
        asdecimal: bool = True,
    ) -> None:
        self.precision = precision
        self.scale = scale
        self.decimal_return_scale = decimal_return_scale
        self.asdecimal = asdecimal

    @property
    def python_type(self) -> type:
        return decimal.Decimal if self.asdecimal else float

    @property
    def _effective_decimal_return_scale(self) -> int:
        if self.decimal_return_scale is not None:
            return self.decimal_return_scale
        scale = getattr(self, "scale", None)
        if scale is not None:
            return int(scale)
        return self._default_decimal_return_scale

    def _bind_for(self, native_decimal: bool) -> BindProcessor | None:
        return None if native_decimal else _to_float

    def _result_for(self, native_decimal: bool) -> ResultProcessor | None:
        if self.asdecimal:
            return None if native_decimal else _decimal_processor(self._effective_decimal_return_scale)
        return _to_float if native_decimal else None

    def bind_processor(self, dialect: Any) -> BindProcessor | None:
        return self._bind_for(dialect.supports_native_decimal)

    def result_processor(self, dialect: Any, coltype: Any) -> ResultProcessor | None:
        return self._result_for(dialect.supports_native_decimal)

    def literal_processor(self, dialect: Any) -> LiteralProcessor | None:
        def process(value: Any) -> str:
            return "NULL" if value is None else str(value)

        return process


class Float(Numeric):
    """A floating point number, ``float`` in Python unless ``asdecimal=True``."""

    __visit_name__ = "float"
    scale = None

    def __init__(
        self,
        precision: int | None = None,
        asdecimal: bool = False,
        decimal_return_scale: int | None = None,
    ) -> None:
        self.precision = precision
        self.asdecimal = asdecimal
        self.decimal_return_scale = decimal_return_scale

    def _result_for(self, native_decimal: bool) -> ResultProcessor | None:
        if self.asdecimal:
            return _decimal_processor(self._effective_decimal_return_scale)
        return None


class Double(Float):
    """A double-precision float."""

    __visit_name__ = "double"


class String(TypeEngine):
    """Text, optionally length-limited (``VARCHAR(n)``)."""

    __visit_name__ = "string"

    def __init__(self, length: int | None = None, collation: str | None = None) -> None:
        self.length = length
        self.collation = collation

    @property
    def python_type(self) -> type:
        return str

    def literal_processor(self, dialect: Any) -> LiteralProcessor | None:
        quote = _string_literal_processor(dialect)

        def process(value: Any) -> str:
            return "NULL" if value is None else quote(value)

        return process


class Text(String):
    """Unbounded text (``TEXT``)."""

    __visit_name__ = "text"


class Unicode(String):
    """Text; the same as ``String`` on every supported driver."""

    __visit_name__ = "unicode"


class UnicodeText(Text):
    """Unbounded text; the same as ``Text`` on every supported driver."""

    __visit_name__ = "unicode_text"


# value -> stored integer; keyed by equality, so 1/0 and 1.0/0.0 are accepted like bools
_BOOL_TO_INT: dict[Any, int | None] = {True: 1, False: 0, None: None}
_BOOL_TO_BOOL: dict[Any, bool | None] = {True: True, False: False, None: None}


def _strict_bool(table: Mapping[Any, Any]) -> BindProcessor:
    def process(value: Any) -> Any:
        try:
            return table[value]
        except (KeyError, TypeError):
            raise TypeError(
                f"Not a boolean value: {value!r}; a Boolean column takes True, False or None "
                "(1 and 0 are accepted too): convert the value before binding it"
            ) from None

    return process


def _int_to_bool(value: Any) -> Any:
    return None if value is None else bool(value)


class Boolean(TypeEngine):
    """``bool``; stored as 0/1 where the database has no boolean type."""

    __visit_name__ = "boolean"

    def __init__(self, create_constraint: bool = False, name: str | None = None) -> None:
        self.create_constraint = create_constraint
        self.name = name

    @property
    def python_type(self) -> type:
        return bool

    def _bind_for(self, native: bool) -> BindProcessor:
        return _strict_bool(_BOOL_TO_BOOL if native else _BOOL_TO_INT)

    def bind_processor(self, dialect: Any) -> BindProcessor | None:
        return self._bind_for(dialect.supports_native_boolean)

    def result_processor(self, dialect: Any, coltype: Any) -> ResultProcessor | None:
        return None if dialect.supports_native_boolean else _int_to_bool

    def literal_processor(self, dialect: Any) -> LiteralProcessor | None:
        true, false = ("true", "false") if dialect.supports_native_boolean else ("1", "0")

        def process(value: Any) -> str:
            return "NULL" if value is None else (true if value else false)

        return process


def _iso_literal(dialect: Any, sep: str | None = None) -> LiteralProcessor:
    quote = _string_literal_processor(dialect)

    def process(value: Any) -> str:
        if value is None:
            return "NULL"
        if sep is not None and isinstance(value, dt.datetime):
            return quote(value.isoformat(sep=sep))
        return quote(value.isoformat())

    return process


class Date(TypeEngine):
    """A ``datetime.date``."""

    __visit_name__ = "date"

    @property
    def python_type(self) -> type:
        return dt.date

    def literal_processor(self, dialect: Any) -> LiteralProcessor | None:
        return _iso_literal(dialect)


class DateTime(TypeEngine):
    """A ``datetime.datetime``; ``timezone=True`` asks for a zone-aware column type."""

    __visit_name__ = "datetime"

    def __init__(self, timezone: bool = False) -> None:
        self.timezone = timezone

    @property
    def python_type(self) -> type:
        return dt.datetime

    def literal_processor(self, dialect: Any) -> LiteralProcessor | None:
        return _iso_literal(dialect, sep=" ")


class Time(TypeEngine):
    """A ``datetime.time``."""

    __visit_name__ = "time"

    def __init__(self, timezone: bool = False) -> None:
        self.timezone = timezone

    @property
    def python_type(self) -> type:
        return dt.time

    def literal_processor(self, dialect: Any) -> LiteralProcessor | None:
        return _iso_literal(dialect)


class Interval(TypeEngine):
    """A ``datetime.timedelta``.

    Native where the dialect maps it to an interval type; elsewhere stored as the
    ``DateTime`` ``1970-01-01 + value`` and read back as ``stored - 1970-01-01``.
    """

    __visit_name__ = "interval"
    epoch = dt.datetime(1970, 1, 1)

    def __init__(
        self,
        native: bool = True,
        second_precision: int | None = None,
        day_precision: int | None = None,
    ) -> None:
        self.native = native
        self.second_precision = second_precision
        self.day_precision = day_precision

    @property
    def python_type(self) -> type:
        return dt.timedelta

    def adapt(self, cls: type[TypeEngine], **kw: Any) -> TypeEngine:
        # native interval implementations (PostgreSQL INTERVAL) call it "precision"
        if any(p.name == "precision" for p in _init_params(cls)):
            kw.setdefault("precision", self.second_precision)
        return super().adapt(cls, **kw)

    def bind_processor(self, dialect: Any) -> BindProcessor | None:
        impl = _DATETIME._cached_bind_processor(dialect)
        epoch = self.epoch

        def process(value: Any) -> Any:
            if value is None:
                return None
            stored = epoch + value
            return impl(stored) if impl is not None else stored

        return process

    def result_processor(self, dialect: Any, coltype: Any) -> ResultProcessor | None:
        impl = _DATETIME._cached_result_processor(dialect, coltype)
        epoch = self.epoch

        def process(value: Any) -> Any:
            if value is None:
                return None
            if isinstance(value, dt.timedelta):
                return value
            return (impl(value) if impl is not None else value) - epoch

        return process


class _Binary(TypeEngine):
    """Base of the binary types: ``bytes`` in Python."""

    __visit_name__ = "_binary"

    def __init__(self, length: int | None = None) -> None:
        self.length = length

    @property
    def python_type(self) -> type:
        return bytes

    def literal_processor(self, dialect: Any) -> LiteralProcessor | None:
        def process(value: Any) -> str:
            return "NULL" if value is None else f"X'{bytes(value).hex().upper()}'"

        return process


class LargeBinary(_Binary):
    """A large binary value (``BLOB`` / ``BYTEA``)."""

    __visit_name__ = "large_binary"



_DATETIME = DateTime()  # Interval's storage type when emulated
