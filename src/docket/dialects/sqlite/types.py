"""SQLite type implementations (stdlib ``sqlite3``, no ``detect_types``).

SQLite has no date, decimal, boolean or UUID storage, so these implementations
convert (SQLAlchemy's storage formats, so databases are interchangeable):

* ``Date`` as ``'YYYY-MM-DD'``; ``DateTime`` as ``'YYYY-MM-DD HH:MM:SS.ffffff'``;
  ``Time`` as ``'HH:MM:SS.ffffff'``.  A time zone on a bound value is dropped (the
  wall-clock time is stored), as SQLAlchemy does.  Results are parsed with
  ``fromisoformat`` and, failing that, a lenient pattern (``T`` separator, 1-6
  fraction digits, missing seconds, ``Z`` or ``+HH:MM`` offsets).
* ``Numeric`` travels as float and returns ``Decimal`` formatted to its scale;
  ``Boolean`` as 0/1; ``Uuid`` as 32 hex characters; ``JSON`` as text.

These behave the same whatever capability flags the dialect sets, because the
``sqlite3`` driver's behaviour is fixed.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

from docket.sql import types as sqltypes
from docket.sql.type_compiler import GenericTypeCompiler
from docket.sql.types import BindProcessor, LiteralProcessor, ResultProcessor

__all__ = ["DATE", "DATETIME", "JSON", "TIME", "SQLiteTypeCompiler", "colspecs"]

_DATETIME_RE = re.compile(
    r"\s*(\d{4})-(\d{1,2})-(\d{1,2})"
    r"(?:[T ](\d{1,2}):(\d{1,2})(?::(\d{1,2})(?:[.,](\d{1,6})\d*)?)?)?"
    r"\s*(Z|[+-]\d{2}:?\d{2})?\s*$"
)
_TIME_RE = re.compile(
    r"\s*(\d{1,2}):(\d{1,2})(?::(\d{1,2})(?:[.,](\d{1,6})\d*)?)?\s*(Z|[+-]\d{2}:?\d{2})?\s*$"
)


def _tz(text: str | None) -> dt.tzinfo | None:
    if not text:
        return None
    if text == "Z":
        return dt.timezone.utc
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    return dt.timezone(sign * dt.timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))


def _micro(text: str | None) -> int:
    return int(text.ljust(6, "0")) if text else 0


def _unparseable(kind: str, value: Any) -> ValueError:
    what = "value is not a string" if not isinstance(value, str) else "unrecognised format"
    return ValueError(
        f"Couldn't parse {kind} string {value!r} - {what}; SQLite {kind} columns hold "
        "ISO-8601 text such as '2021-03-15 12:05:57.105542' (fix the stored value)"
    )


def _parse_datetime(value: Any) -> Any:
    if value is None or isinstance(value, dt.datetime):
        return value
    try:
        return dt.datetime.fromisoformat(value)
    except (ValueError, TypeError):
        pass
    m = _DATETIME_RE.match(value) if isinstance(value, str) else None
    if m is None:
        raise _unparseable("datetime", value)
    y, mo, d, h, mi, s, f, z = m.groups()
    return dt.datetime(
        int(y), int(mo), int(d), int(h or 0), int(mi or 0), int(s or 0), _micro(f), _tz(z)
    )


def _parse_date(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, dt.date):
        return value.date() if isinstance(value, dt.datetime) else value
    try:
        return dt.date.fromisoformat(value)
    except (ValueError, TypeError):
        pass
    m = _DATETIME_RE.match(value) if isinstance(value, str) else None
    if m is None:
        raise _unparseable("date", value)
    return dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3)))


def _parse_time(value: Any) -> Any:
    if value is None or isinstance(value, dt.time):
        return value
    try:
        return dt.time.fromisoformat(value)
    except (ValueError, TypeError):
        pass
    m = _TIME_RE.match(value) if isinstance(value, str) else None
    if m is None:
        raise _unparseable("time", value)
    h, mi, s, f, z = m.groups()
    return dt.time(int(h), int(mi), int(s or 0), _micro(f), _tz(z))


def _regexp_parser(regexp: re.Pattern[str], factory: Callable[..., Any], kind: str) -> ResultProcessor:
    """A parser for a user ``regexp`` (named groups -> keywords, else positional)."""
    named = bool(regexp.groupindex)

    def process(value: Any) -> Any:
        if value is None:
            return None
        m = regexp.match(value) if isinstance(value, str) else None
        if m is None:
            raise _unparseable(kind, value)
        if named:
            return factory(**{k: int(v) for k, v in m.groupdict(0).items()})
        return factory(*map(int, m.groups(0)))

    return process


class _StorageFormat(sqltypes.TypeEngine):
    """``storage_format`` / ``regexp`` options shared by the date and time types."""

    _storage_format: str = ""
    _reg: re.Pattern[str] | None = None

    def _init_format(self, storage_format: str | None, regexp: str | re.Pattern[str] | None) -> None:
        if storage_format is not None:
            self._storage_format = storage_format
        if regexp is not None:
            self._reg = re.compile(regexp) if isinstance(regexp, str) else regexp

    def _format_kw(self) -> dict[str, Any]:
        kw: dict[str, Any] = {}
        if "_storage_format" in self.__dict__:
            kw["storage_format"] = self._storage_format
        if self._reg is not None:
            kw["regexp"] = self._reg
        return kw

    def adapt(self, cls: type[sqltypes.TypeEngine], **kw: Any) -> sqltypes.TypeEngine:
        if issubclass(cls, _StorageFormat):
            kw = {**self._format_kw(), **kw}
        return super().adapt(cls, **kw)

    def literal_processor(self, dialect: Any) -> LiteralProcessor | None:
        bind = self.bind_processor(dialect)
        assert bind is not None

        def process(value: Any) -> str:
            return "NULL" if value is None else f"'{bind(value)}'"

        return process


class DATETIME(_StorageFormat, sqltypes.DateTime):
    """``DateTime`` stored as ``'YYYY-MM-DD HH:MM:SS.ffffff'`` text.

    Args:
        timezone: accepted for compatibility; SQLite stores the wall-clock time only.
        storage_format: ``%``-format over year, month, day, hour, minute, second,
            microsecond.
        regexp: pattern parsing stored values instead of ``fromisoformat``.
        truncate_microseconds: store ``'YYYY-MM-DD HH:MM:SS'``.
    """

    _storage_format = (
        "%(year)04d-%(month)02d-%(day)02d %(hour)02d:%(minute)02d:%(second)02d.%(microsecond)06d"
    )

    def __init__(
        self,
        timezone: bool = False,
        storage_format: str | None = None,
        regexp: str | re.Pattern[str] | None = None,
        truncate_microseconds: bool = False,
    ) -> None:
        super().__init__(timezone=timezone)
        if truncate_microseconds and storage_format is None:
            storage_format = "%(year)04d-%(month)02d-%(day)02d %(hour)02d:%(minute)02d:%(second)02d"
        self._init_format(storage_format, regexp)

    def bind_processor(self, dialect: Any) -> BindProcessor | None:
        fmt = self._storage_format
        default = "_storage_format" not in self.__dict__

        def process(value: Any) -> Any:
            if value is None:
                return None
            if isinstance(value, dt.datetime):
                if default and value.tzinfo is None:
                    # same text as the default format, and the fastest way to get it
                    return value.isoformat(" ", "microseconds")
                parts = (value.hour, value.minute, value.second, value.microsecond)
            elif isinstance(value, dt.date):
                parts = (0, 0, 0, 0)
            else:
                raise TypeError(
                    f"SQLite DateTime type only accepts Python datetime and date objects as "
                    f"input, got {value!r} ({type(value).__name__}); convert it first"
                )
            return fmt % {
                "year": value.year, "month": value.month, "day": value.day,
                "hour": parts[0], "minute": parts[1], "second": parts[2],
                "microsecond": parts[3],
            }

        return process

    def result_processor(self, dialect: Any, coltype: Any) -> ResultProcessor | None:
        if self._reg is not None:
            return _regexp_parser(self._reg, dt.datetime, "datetime")
        return _parse_datetime



class DATE(_StorageFormat, sqltypes.Date):
    """``Date`` stored as ``'YYYY-MM-DD'`` text (a datetime binds its date part)."""

    _storage_format = "%(year)04d-%(month)02d-%(day)02d"

    def __init__(
        self, storage_format: str | None = None, regexp: str | re.Pattern[str] | None = None
    ) -> None:
        self._init_format(storage_format, regexp)

    def bind_processor(self, dialect: Any) -> BindProcessor | None:
        fmt = self._storage_format
        default = "_storage_format" not in self.__dict__

        def process(value: Any) -> Any:
            if value is None:
                return None
            if default and type(value) is dt.date:
                return value.isoformat()
            if isinstance(value, dt.date):
                return fmt % {"year": value.year, "month": value.month, "day": value.day}
            raise TypeError(
                f"SQLite Date type only accepts Python date objects as input, got {value!r} "
                f"({type(value).__name__}); convert it first"
            )

        return process

    def result_processor(self, dialect: Any, coltype: Any) -> ResultProcessor | None:
        if self._reg is not None:
            return _regexp_parser(self._reg, dt.date, "date")
        return _parse_date


class TIME(_StorageFormat, sqltypes.Time):
    """``Time`` stored as ``'HH:MM:SS.ffffff'`` text (time zone dropped)."""

    _storage_format = "%(hour)02d:%(minute)02d:%(second)02d.%(microsecond)06d"

    def __init__(
        self,
        timezone: bool = False,
        storage_format: str | None = None,
        regexp: str | re.Pattern[str] | None = None,
        truncate_microseconds: bool = False,
    ) -> None:
        super().__init__(timezone=timezone)
        if truncate_microseconds and storage_format is None:
            storage_format = "%(hour)02d:%(minute)02d:%(second)02d"
        self._init_format(storage_format, regexp)

    def bind_processor(self, dialect: Any) -> BindProcessor | None:
        fmt = self._storage_format
        default = "_storage_format" not in self.__dict__

        def process(value: Any) -> Any:
            if value is None:
                return None
            if default and type(value) is dt.time and value.tzinfo is None:
                return value.isoformat("microseconds")
            if isinstance(value, dt.time):
                return fmt % {
                    "hour": value.hour, "minute": value.minute,
                    "second": value.second, "microsecond": value.microsecond,
                }
            raise TypeError(
                f"SQLite Time type only accepts Python time objects as input, got {value!r} "
                f"({type(value).__name__}); convert it first"
            )

        return process

    def result_processor(self, dialect: Any, coltype: Any) -> ResultProcessor | None:
        if self._reg is not None:
            return _regexp_parser(self._reg, dt.time, "time")
        return _parse_time


class JSON(sqltypes.JSON):
    """JSON as text; numbers returned by ``JSON_EXTRACT`` pass through unparsed."""

    def result_processor(self, dialect: Any, coltype: Any) -> ResultProcessor | None:
        loads = super().result_processor(dialect, coltype)
        assert loads is not None

        def process(value: Any) -> Any:
            if isinstance(value, (int, float)):
                return value
            return loads(value)

        return process


class _Numeric(sqltypes.Numeric):
    """Decimal values travel as float (``sqlite3`` cannot bind ``Decimal``)."""

    def bind_processor(self, dialect: Any) -> BindProcessor | None:
        return self._bind_for(False)

    def result_processor(self, dialect: Any, coltype: Any) -> ResultProcessor | None:
        return self._result_for(False)


class _Float(_Numeric, sqltypes.Float):
    pass


class _Boolean(sqltypes.Boolean):
    """Booleans stored as 0/1 and returned as ``bool``."""

    def bind_processor(self, dialect: Any) -> BindProcessor | None:
        return self._bind_for(False)

    def result_processor(self, dialect: Any, coltype: Any) -> ResultProcessor | None:
        return sqltypes._int_to_bool

    def literal_processor(self, dialect: Any) -> LiteralProcessor | None:
        def process(value: Any) -> str:
            return "NULL" if value is None else ("1" if value else "0")

        return process


class _Uuid(sqltypes.Uuid):
    """UUIDs stored as 32 hex characters."""

    def _is_native(self, dialect: Any) -> bool:
        return False


class SQLiteTypeCompiler(GenericTypeCompiler):
    """SQLite DDL type names."""

    def visit_uuid(self, type_: Any, **kw: Any) -> str:
        return self._render_string_type("CHAR", type_, length=32)

    def visit_UUID(self, type_: Any, **kw: Any) -> str:
        # a column declared UUID would get NUMERIC affinity and mangle all-digit hex
        return self._render_string_type("CHAR", type_, length=32)


#: generic type class -> SQLite implementation class
colspecs: dict[type, type] = {
    sqltypes.Date: DATE,
    sqltypes.DateTime: DATETIME,
    sqltypes.Time: TIME,
    sqltypes.JSON: JSON,
    sqltypes.Numeric: _Numeric,
    sqltypes.Float: _Float,
    sqltypes.Boolean: _Boolean,
    sqltypes.Uuid: _Uuid,
}
