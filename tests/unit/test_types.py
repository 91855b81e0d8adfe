"""The SQL type system: DDL names, processors, dialect implementations."""

from __future__ import annotations

import copy
import datetime as dt
import decimal
import enum
import sqlite3
import uuid
from typing import Any

import pytest

from docket import exc
from docket.dialects.postgresql import types as pgt
from docket.dialects.sqlite import types as slt
from docket.sql import types as t
from docket.sql.type_compiler import GenericTypeCompiler

UTC = dt.timezone.utc


class StubDialect:
    """The few attributes a dialect gives the type system."""

    def __init__(
        self,
        name: str,
        colspecs: dict[type, type],
        compiler: type[GenericTypeCompiler],
        native: bool,
        driver: str | None = None,
        paramstyle: str = "qmark",
    ) -> None:
        self.name = name
        self.colspecs = colspecs
        self.supports_native_boolean = native
        self.supports_native_enum = native
        self.supports_native_uuid = native
        self.supports_native_decimal = native
        self.driver = driver
        self.paramstyle = paramstyle
        self.type_compiler_instance = compiler(self)


SQLITE = StubDialect("sqlite", slt.colspecs, slt.SQLiteTypeCompiler, native=False)
PG = StubDialect("postgresql", pgt.colspecs, pgt.PGTypeCompiler, native=True, driver="psycopg")
PG2 = StubDialect("postgresql", pgt.colspecs, pgt.PGTypeCompiler, native=True, driver="psycopg2")


class Color(enum.Enum):
    red = "R"
    green = "G"
    blue = "B"


def bind(type_: t.TypeEngine, value: Any, dialect: Any = SQLITE) -> Any:
    proc = type_._cached_bind_processor(dialect)
    return value if proc is None else proc(value)


def result(type_: t.TypeEngine, value: Any, dialect: Any = SQLITE, coltype: Any = None) -> Any:
    proc = type_._cached_result_processor(dialect, coltype)
    return value if proc is None else proc(value)


def roundtrip(type_: t.TypeEngine, value: Any, dialect: Any = SQLITE) -> Any:
    return result(type_, bind(type_, value, dialect), dialect)


# -- DDL ---------------------------------------------------------------------------
COMPILE_CASES = [
    # type, generic, sqlite, postgresql
    (t.Integer(), "INTEGER", "INTEGER", "INTEGER"),
    (t.SmallInteger(), "SMALLINT", "SMALLINT", "SMALLINT"),
    (t.BigInteger(), "BIGINT", "BIGINT", "BIGINT"),
    (t.Float(), "FLOAT", "FLOAT", "FLOAT"),
    (t.Float(precision=53), "FLOAT(53)", "FLOAT(53)", "FLOAT(53)"),
    (t.Double(), "DOUBLE", "DOUBLE", "DOUBLE PRECISION"),
    (t.Numeric(), "NUMERIC", "NUMERIC", "NUMERIC"),
    (t.Numeric(10), "NUMERIC(10)", "NUMERIC(10)", "NUMERIC(10)"),
    (t.Numeric(10, 2), "NUMERIC(10, 2)", "NUMERIC(10, 2)", "NUMERIC(10, 2)"),
    (t.String(), "VARCHAR", "VARCHAR", "VARCHAR"),
    (t.String(50), "VARCHAR(50)", "VARCHAR(50)", "VARCHAR(50)"),
    (t.String(20, collation="C"), 'VARCHAR(20) COLLATE "C"', 'VARCHAR(20) COLLATE "C"',
     'VARCHAR(20) COLLATE "C"'),
    (t.Text(), "TEXT", "TEXT", "TEXT"),
    (t.Unicode(10), "VARCHAR(10)", "VARCHAR(10)", "VARCHAR(10)"),
    (t.UnicodeText(), "TEXT", "TEXT", "TEXT"),
    (t.Boolean(), "BOOLEAN", "BOOLEAN", "BOOLEAN"),
    (t.Date(), "DATE", "DATE", "DATE"),
    (t.DateTime(), "DATETIME", "DATETIME", "TIMESTAMP WITHOUT TIME ZONE"),
    (t.DateTime(timezone=True), "DATETIME", "DATETIME", "TIMESTAMP WITH TIME ZONE"),
    (t.Time(), "TIME", "TIME", "TIME WITHOUT TIME ZONE"),
    (t.Interval(), "DATETIME", "DATETIME", "INTERVAL"),
    (t.Interval(native=False), "DATETIME", "DATETIME", "TIMESTAMP WITHOUT TIME ZONE"),
    (t.LargeBinary(), "BLOB", "BLOB", "BYTEA"),
    (t.JSON(), "JSON", "JSON", "JSON"),
    (t.Uuid(), "UUID", "CHAR(32)", "UUID"),
    (t.Uuid(native_uuid=False), "CHAR(32)", "CHAR(32)", "CHAR(32)"),
    (t.Enum(Color), "VARCHAR(5)", "VARCHAR(5)", "color"),
    (t.Enum("a", "bbbb", name="MyKind"), "VARCHAR(4)", "VARCHAR(4)", '"MyKind"'),
    (t.Enum("a", "bb", name="k", native_enum=False), "VARCHAR(2)", "VARCHAR(2)", "VARCHAR(2)"),
    (t.PickleType(), "BLOB", "BLOB", "BYTEA"),
    (t.INTEGER(), "INTEGER", "INTEGER", "INTEGER"),
    (t.SMALLINT(), "SMALLINT", "SMALLINT", "SMALLINT"),
    (t.BIGINT(), "BIGINT", "BIGINT", "BIGINT"),
    (t.FLOAT(), "FLOAT", "FLOAT", "FLOAT"),
    (t.REAL(), "REAL", "REAL", "REAL"),
    (t.DOUBLE(), "DOUBLE", "DOUBLE", "DOUBLE PRECISION"),
    (t.DOUBLE_PRECISION(), "DOUBLE PRECISION", "DOUBLE PRECISION", "DOUBLE PRECISION"),
    (t.NUMERIC(8, 3), "NUMERIC(8, 3)", "NUMERIC(8, 3)", "NUMERIC(8, 3)"),
    (t.DECIMAL(8, 3), "DECIMAL(8, 3)", "DECIMAL(8, 3)", "DECIMAL(8, 3)"),
    (t.VARCHAR(5), "VARCHAR(5)", "VARCHAR(5)", "VARCHAR(5)"),
    (t.CHAR(2), "CHAR(2)", "CHAR(2)", "CHAR(2)"),
    (t.NCHAR(2), "NCHAR(2)", "NCHAR(2)", "NCHAR(2)"),
    (t.NVARCHAR(9), "NVARCHAR(9)", "NVARCHAR(9)", "NVARCHAR(9)"),
    (t.TEXT(), "TEXT", "TEXT", "TEXT"),
    (t.CLOB(), "CLOB", "CLOB", "CLOB"),
    (t.BOOLEAN(), "BOOLEAN", "BOOLEAN", "BOOLEAN"),
    (t.DATE(), "DATE", "DATE", "DATE"),
    (t.DATETIME(), "DATETIME", "DATETIME", "TIMESTAMP WITHOUT TIME ZONE"),
    (t.TIMESTAMP(), "TIMESTAMP", "TIMESTAMP", "TIMESTAMP WITHOUT TIME ZONE"),
    (t.TIMESTAMP(timezone=True), "TIMESTAMP", "TIMESTAMP", "TIMESTAMP WITH TIME ZONE"),
    (t.TIME(), "TIME", "TIME", "TIME WITHOUT TIME ZONE"),
    (t.BLOB(), "BLOB", "BLOB", "BYTEA"),
    (t.BINARY(16), "BINARY(16)", "BINARY(16)", "BINARY(16)"),
    (t.VARBINARY(16), "VARBINARY(16)", "VARBINARY(16)", "VARBINARY(16)"),
    (t.UUID(), "UUID", "CHAR(32)", "UUID"),
]


@pytest.mark.parametrize(("type_", "generic", "sqlite", "pg"), COMPILE_CASES, ids=repr)
def test_compile_each_type_on_each_compiler(
    type_: t.TypeEngine, generic: str, sqlite: str, pg: str
) -> None:
    """Every generic and upper-case type renders its DDL name on all three compilers."""
    assert type_.compile() == generic
    assert type_.compile(SQLITE) == sqlite
    assert type_.compile(PG) == pg


@pytest.mark.parametrize(
    ("type_", "expected"),
    [
        (pgt.ARRAY(t.Integer), "INTEGER[]"),
        (pgt.ARRAY(t.String(5), dimensions=2), "VARCHAR(5)[][]"),
        (pgt.JSONB(), "JSONB"),
        (pgt.BYTEA(), "BYTEA"),
        (pgt.INET(), "INET"),
        (pgt.CIDR(), "CIDR"),
        (pgt.MONEY(), "MONEY"),
        (pgt.INTERVAL(), "INTERVAL"),
        (pgt.INTERVAL(precision=3, fields="DAY TO SECOND"), "INTERVAL DAY TO SECOND (3)"),
        (pgt.TIMESTAMP(timezone=True, precision=3), "TIMESTAMP(3) WITH TIME ZONE"),
        (pgt.TIME(precision=0), "TIME(0) WITHOUT TIME ZONE"),
        (pgt.ENUM("x", "y", name="mood", schema="app"), "app.mood"),
        (pgt.UUID(), "UUID"),
    ],
    ids=repr,
)
def test_compile_postgresql_only_types(type_: t.TypeEngine, expected: str) -> None:
    """The PostgreSQL-only types render their PostgreSQL DDL."""
    assert type_.compile(PG) == expected


def test_compile_null_type_names_the_column() -> None:
    """DDL for NullType is a CompileError naming the column; str() of it is 'NULL'."""

    class Col:
        name = "price"

    with pytest.raises(exc.CompileError, match="did you forget to specify a type on column 'price'"):
        SQLITE.type_compiler_instance.process(t.NullType(), type_expression=Col())
    with pytest.raises(exc.CompileError, match="Can't generate DDL for NullType()"):
        t.NullType().compile(PG)
    assert str(t.NullType()) == "NULL"


def test_compile_unknown_type_is_unsupported() -> None:
    """A type with no visit method on a dialect raises UnsupportedCompilationError."""
    with pytest.raises(exc.UnsupportedCompilationError, match="visit_ARRAY"):
        pgt.ARRAY(t.Integer).compile(SQLITE)


def test_compile_pg_enum_requires_a_name() -> None:
    """A native PostgreSQL enum without a name cannot be rendered."""
    with pytest.raises(exc.CompileError, match="requires a name"):
        t.Enum("a", "b").compile(PG)


def test_type_decorator_compiles_as_its_impl() -> None:
    """A TypeDecorator renders the DDL of its (dialect-chosen) impl."""

    class Tagged(t.TypeDecorator):
        impl = t.String
        cache_ok = True

        def load_dialect_impl(self, dialect: Any) -> t.TypeEngine:
            return pgt.JSONB() if dialect.name == "postgresql" else t.String(40)

    assert Tagged(10).compile(SQLITE) == "VARCHAR(40)"
    assert Tagged(10).compile(PG) == "JSONB"


# -- SQLite processors ---------------------------------------------------------------
SQLITE_ROUNDTRIPS = [
    # type, python value, value stored by sqlite3, value read back
    (t.Integer(), 5, 5, 5),
    (t.String(10), "it's", "it's", "it's"),
    (t.Boolean(), True, 1, True),
    (t.Boolean(), False, 0, False),
    (t.Date(), dt.date(2021, 3, 15), "2021-03-15", dt.date(2021, 3, 15)),
    (t.DateTime(), dt.datetime(2021, 3, 15, 12, 5, 57, 105542), "2021-03-15 12:05:57.105542",
     dt.datetime(2021, 3, 15, 12, 5, 57, 105542)),
    (t.DateTime(), dt.datetime(2021, 3, 15, 12, 5), "2021-03-15 12:05:00.000000",
     dt.datetime(2021, 3, 15, 12, 5)),
    (t.DateTime(), dt.date(2021, 3, 15), "2021-03-15 00:00:00.000000", dt.datetime(2021, 3, 15)),
    (t.Time(), dt.time(1, 2, 3, 4), "01:02:03.000004", dt.time(1, 2, 3, 4)),
    (t.Interval(), dt.timedelta(days=2, seconds=5, microseconds=7),
     "1970-01-03 00:00:05.000007", dt.timedelta(days=2, seconds=5, microseconds=7)),
    (t.Interval(), dt.timedelta(days=-1, hours=1), "1969-12-31 01:00:00.000000",
     dt.timedelta(days=-1, hours=1)),
    (t.Numeric(10, 2), decimal.Decimal("1.5"), 1.5, decimal.Decimal("1.50")),
    (t.Numeric(), decimal.Decimal("2.25"), 2.25, decimal.Decimal("2.2500000000")),
    (t.Float(), 1.25, 1.25, 1.25),
    (t.Float(asdecimal=True, decimal_return_scale=3), 1.25, 1.25, decimal.Decimal("1.250")),
    (t.LargeBinary(), b"\x00\xff", b"\x00\xff", b"\x00\xff"),
    (t.JSON(), {"a": [1, None]}, '{"a": [1, null]}', {"a": [1, None]}),
    (t.Uuid(), uuid.UUID(int=255), "000000000000000000000000000000ff", uuid.UUID(int=255)),
    (t.Uuid(as_uuid=False), "00000000-0000-0000-0000-0000000000ff",
     "000000000000000000000000000000ff", "00000000-0000-0000-0000-0000000000ff"),
    (t.Enum(Color), Color.green, "green", Color.green),
    (t.Enum(Color, values_callable=lambda e: [m.value for m in e]), Color.green, "G", Color.green),
    (t.Enum("small", "large"), "large", "large", "large"),
    (t.PickleType(), {"k": (1, 2)}, None, {"k": (1, 2)}),
]


@pytest.mark.parametrize(("type_", "value", "stored", "back"), SQLITE_ROUNDTRIPS, ids=repr)
def test_sqlite_bind_and_result_processors(type_: t.TypeEngine, value: Any, stored: Any, back: Any) -> None:
    """Each type binds to SQLAlchemy's SQLite storage form and reads back the Python value."""
    sent = bind(type_, value)
    if stored is not None:
        assert sent == stored
        assert type(sent) is type(stored)
    got = result(type_, sent)
    assert got == back
    assert type(got) is type(back)
    assert bind(type_, None) == ("null" if type_.should_evaluate_none else None)
    assert result(type_, None) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2021-03-15 12:05:57", dt.datetime(2021, 3, 15, 12, 5, 57)),
        ("2021-03-15T12:05:57.5", dt.datetime(2021, 3, 15, 12, 5, 57, 500000)),
        ("2021-03-15T12:05", dt.datetime(2021, 3, 15, 12, 5)),
        ("2021-03-15", dt.datetime(2021, 3, 15)),
        ("2021-03-15 12:05:57.105542", dt.datetime(2021, 3, 15, 12, 5, 57, 105542)),
        ("2021-03-15T12:05:57Z", dt.datetime(2021, 3, 15, 12, 5, 57, tzinfo=UTC)),
        ("2021-03-15 12:05:57+02:00",
         dt.datetime(2021, 3, 15, 12, 5, 57, tzinfo=dt.timezone(dt.timedelta(hours=2)))),
    ],
)
def test_sqlite_datetime_parses_variants(text: str, expected: dt.datetime) -> None:
    """Stored datetimes parse with and without microseconds, with 'T', and with offsets."""
    got = result(t.DateTime(), text)
    assert got == expected
    assert got.tzinfo == expected.tzinfo


def test_sqlite_datetime_drops_time_zone_like_sqlalchemy() -> None:
    """An aware datetime stores its wall-clock time; it reads back naive."""
    aware = dt.datetime(2021, 3, 15, 12, 0, 0, 1, tzinfo=dt.timezone(dt.timedelta(hours=5)))
    assert bind(t.DateTime(timezone=True), aware) == "2021-03-15 12:00:00.000001"
    assert roundtrip(t.DateTime(timezone=True), aware) == aware.replace(tzinfo=None)


def test_sqlite_date_and_time_parse_variants() -> None:
    """Dates parse from datetime text; times parse without seconds or with short fractions."""
    assert result(t.Date(), "2021-03-15 00:00:00.000000") == dt.date(2021, 3, 15)
    assert result(t.Time(), "01:02") == dt.time(1, 2)
    assert result(t.Time(), "01:02:03.25") == dt.time(1, 2, 3, 250000)


@pytest.mark.parametrize(
    ("type_", "bad", "message"),
    [
        (t.DateTime(), "2021-03-15", "SQLite DateTime type only accepts Python datetime"),
        (t.Date(), "2021-03-15", "SQLite Date type only accepts Python date"),
        (t.Time(), 5, "SQLite Time type only accepts Python time"),
        (t.Boolean(), "yes", "Not a boolean value: 'yes'"),
    ],
)
def test_sqlite_bind_rejects_wrong_python_types(type_: t.TypeEngine, bad: Any, message: str) -> None:
    """Binding a value of the wrong Python type is a TypeError saying what was expected."""
    with pytest.raises(TypeError, match=message):
        bind(type_, bad)


def test_sqlite_unparseable_datetime_says_what_was_stored() -> None:
    """A stored value that is not a datetime string raises ValueError quoting it."""
    with pytest.raises(ValueError, match="Couldn't parse datetime string 'garbage'"):
        result(t.DateTime(), "garbage")
    with pytest.raises(ValueError, match="not a string"):
        result(t.Date(), 12)


def test_sqlite_custom_storage_format() -> None:
    """The SQLite DATETIME storage_format/regexp/truncate options control the stored text."""
    ty = slt.DATETIME(
        storage_format="%(year)04d/%(month)02d/%(day)02d %(hour)02d:%(minute)02d:%(second)02d",
        regexp=r"(\d+)/(\d+)/(\d+) (\d+):(\d+):(\d+)",
    )
    value = dt.datetime(2020, 1, 2, 3, 4, 5)
    assert bind(ty, value) == "2020/01/02 03:04:05"
    assert roundtrip(ty, value) == value
    assert bind(slt.DATETIME(truncate_microseconds=True), value.replace(microsecond=9)) == (
        "2020-01-02 03:04:05"
    )
    named = slt.DATE(storage_format="%(day)02d.%(month)02d.%(year)04d",
                     regexp=r"(?P<day>\d+)\.(?P<month>\d+)\.(?P<year>\d+)")
    assert roundtrip(named, dt.date(2020, 12, 31)) == dt.date(2020, 12, 31)


def test_boolean_accepts_only_boolean_like_values() -> None:
    """Boolean binds True/False/1/0 and rejects other values (SQLAlchemy's strict check)."""
    assert bind(t.Boolean(), 1) == 1
    assert bind(t.Boolean(), 0, PG) is False
    with pytest.raises(TypeError, match="Not a boolean value: 2"):
        bind(t.Boolean(), 2, PG)


# -- Enum ----------------------------------------------------------------------------
def test_enum_pep435_stores_names_and_returns_members() -> None:
    """An Enum over a class stores member names, accepts the names, and returns members."""
    ty = t.Enum(Color)
    assert ty.enums == ["red", "green", "blue"]
    assert ty.name == "color"
    assert ty.length == 5
    assert ty.python_type is Color
    assert bind(ty, "blue") == "blue"
    assert result(ty, "red") is Color.red


def test_enum_invalid_bind_value_names_the_valid_values() -> None:
    """Binding a non-member raises LookupError listing the enum name and its values."""
    with pytest.raises(LookupError) as info:
        bind(t.Enum(Color), 42)
    assert str(info.value).startswith(
        "'42' is not among the defined enum values. Enum name: color. "
        "Possible values: red, green, blue"
    )


def test_enum_strings_are_only_checked_with_validate_strings() -> None:
    """Unknown strings pass through unless validate_strings=True (SQLAlchemy semantics)."""
    assert bind(t.Enum("a", "b"), "zzz") == "zzz"
    with pytest.raises(LookupError, match="'zzz' is not among the defined enum values"):
        bind(t.Enum("a", "b", validate_strings=True), "zzz")


def test_enum_unknown_stored_value_raises() -> None:
    """Reading a value the Enum does not define raises LookupError naming it."""
    with pytest.raises(LookupError, match="'purple' is not among the defined enum values"):
        result(t.Enum(Color), "purple")


def test_enum_length_must_fit_longest_value() -> None:
    """An explicit length shorter than the longest value is a ValueError."""
    with pytest.raises(ValueError, match="length must be larger or equal"):
        t.Enum("short", "longest", length=3)
    assert t.Enum("ab", length=10).compile() == "VARCHAR(10)"


def test_enum_adapts_to_pg_enum_keeping_its_values() -> None:
    """The PostgreSQL implementation of an Enum keeps class, name and lookups."""
    impl = t.Enum(Color, values_callable=lambda e: [m.value for m in e]).dialect_impl(PG)
    assert isinstance(impl, pgt.ENUM)
    assert impl.create_type is True
    assert impl.enums == ["R", "G", "B"]
    assert bind(impl, Color.blue, PG) == "B"
    assert result(impl, "B", PG) is Color.blue


# -- JSON ----------------------------------------------------------------------------
def test_json_none_handling() -> None:
    """None is JSON null unless none_as_null; JSON.NULL is always JSON null."""
    assert bind(t.JSON(), None) == "null"
    assert bind(t.JSON(none_as_null=True), None) is None
    assert bind(t.JSON(none_as_null=True), t.JSON.NULL) == "null"
    assert t.JSON().should_evaluate_none is True
    assert t.JSON(none_as_null=True).should_evaluate_none is False
    assert result(t.JSON(), "null") is None


def test_sqlite_json_passes_numbers_through() -> None:
    """SQLite JSON_EXTRACT numbers are returned as they are."""
    assert result(t.JSON(), 5) == 5
    assert result(t.JSON(), 2.5) == 2.5


def test_uuid_bind_accepts_strings_for_as_uuid() -> None:
    """A str bound to Uuid(as_uuid=True) on SQLite is stored as hex too."""
    u = uuid.uuid4()
    assert bind(t.Uuid(), str(u)) == u.hex


# -- PostgreSQL processors ------------------------------------------------------------
def test_postgresql_native_types_need_no_processors() -> None:
    """Types PostgreSQL stores natively have no bind or result processor."""
    for ty in [t.Integer(), t.String(), t.Date(), t.DateTime(), t.Time(), t.Interval(),
               t.Uuid(), t.LargeBinary()]:
        assert ty._cached_bind_processor(PG) is None, ty
        assert ty._cached_result_processor(PG, None) is None, ty
    assert t.Boolean()._cached_result_processor(PG, 16) is None
    assert t.Numeric()._cached_bind_processor(PG) is None


def test_postgresql_json_binds_text_and_trusts_driver_decoding() -> None:
    """JSON/JSONB bind as json.dumps text; results are already decoded by the driver."""
    assert bind(pgt.JSONB(), {"a": 1}, PG) == '{"a": 1}'
    assert bind(t.JSON(), [1], PG) == "[1]"
    assert t.JSON()._cached_result_processor(PG, 114) is None


def test_postgresql_numeric_converts_by_type_code() -> None:
    """Numeric/Float convert between Decimal and float only when the oid says so."""
    assert t.Numeric()._cached_result_processor(PG, 1700) is None
    assert result(t.Numeric(10, 2), 1.5, PG, coltype=701) == decimal.Decimal("1.50")
    assert result(t.Numeric(asdecimal=False), decimal.Decimal("1.5"), PG, coltype=1700) == 1.5
    assert t.Float()._cached_result_processor(PG, 701) is None
    assert result(t.Float(), decimal.Decimal("2.5"), PG, coltype=None) == 2.5
    assert result(t.Numeric(), 7, PG, coltype=None) == 7


def test_postgresql_psycopg2_conversions() -> None:
    """With psycopg2, memoryview bytea becomes bytes and str UUIDs become uuid.UUID."""
    assert result(t.LargeBinary(), memoryview(b"ab"), PG2) == b"ab"
    u = uuid.uuid4()
    assert result(t.Uuid(), str(u), PG2) == u
    assert result(t.Uuid(as_uuid=False), u, PG) == str(u)


def test_postgresql_array_applies_item_processors() -> None:
    """ARRAY maps its item type's processors over nested lists, and as_tuple returns tuples."""
    arr = pgt.ARRAY(t.Enum(Color))
    assert bind(arr, [[Color.red], [Color.blue]], PG) == [["red"], ["blue"]]
    assert result(arr, ["green"], PG) == [Color.green]
    assert pgt.ARRAY(t.Integer)._cached_bind_processor(PG) is None
    assert result(pgt.ARRAY(t.Integer, as_tuple=True), [[1], [2]], PG) == ((1,), (2,))
    with pytest.raises(ValueError, match="Do not nest ARRAY"):
        pgt.ARRAY(pgt.ARRAY(t.Integer))


# -- TypeDecorator --------------------------------------------------------------------
class EpochSeconds(t.TypeDecorator):
    """Python int seconds <-> a DateTime column."""

    impl = t.DateTime
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> Any:
        return None if value is None else dt.datetime(1970, 1, 1) + dt.timedelta(seconds=value)

    def process_result_value(self, value: Any, dialect: Any) -> Any:
        return None if value is None else int((value - dt.datetime(1970, 1, 1)).total_seconds())


def test_type_decorator_composes_with_impl_processors() -> None:
    """User processing runs before the impl's bind and after the impl's result processor."""
    ty = EpochSeconds()
    assert bind(ty, 90) == "1970-01-01 00:01:30.000000"
    assert roundtrip(ty, 90) == 90
    assert bind(ty, 90, PG) == dt.datetime(1970, 1, 1, 0, 1, 30)
    impl = ty.dialect_impl(SQLITE)
    assert isinstance(impl, EpochSeconds)
    assert isinstance(impl.impl, slt.DATETIME)
    assert isinstance(ty.impl, t.DateTime) and not isinstance(ty.impl, slt.DATETIME)


def test_type_decorator_without_overrides_uses_impl_processors() -> None:
    """A decorator overriding nothing hands out its impl's processors unchanged."""

    class Plain(t.TypeDecorator):
        impl = t.Boolean
        cache_ok = True

    assert roundtrip(Plain(), True) is True
    assert Plain()._cached_result_processor(PG, 16) is None
    assert repr(Plain()) == "Plain()"


def test_type_decorator_args_go_to_impl_and_attributes_proxy() -> None:
    """Constructor arguments build the impl; unknown attributes are read from it."""

    class Short(t.TypeDecorator):
        impl = t.String
        cache_ok = True

    ty = Short(12)
    assert ty.length == 12
    assert repr(ty) == "Short(length=12)"
    assert ty.python_type is str
    assert ty._type_affinity is t.String
    assert ty.coerce_compared_value(None, 5) is ty


def test_type_decorator_requires_impl() -> None:
    """A TypeDecorator subclass without impl is an ArgumentError naming the class."""

    class NoImpl(t.TypeDecorator):
        pass

    with pytest.raises(exc.ArgumentError, match="NoImpl has no class-level 'impl'"):
        NoImpl()


def test_type_decorator_literal_uses_bind_param_then_impl_literal() -> None:
    """Inline rendering applies process_bind_param then the impl's literal processor."""

    class Upper(t.TypeDecorator):
        impl = t.String
        cache_ok = True

        def process_bind_param(self, value: Any, dialect: Any) -> Any:
            return value.upper()

    proc = Upper()._cached_literal_processor(SQLITE)
    assert proc is not None
    assert proc("o'k") == "'O''K'"


# -- literals ------------------------------------------------------------------------
def test_literal_processors() -> None:
    """Values render inline as SQL literals per type and dialect."""

    def lit(ty: t.TypeEngine, value: Any, dialect: Any = SQLITE) -> str:
        proc = ty._cached_literal_processor(dialect)
        assert proc is not None
        return proc(value)

    assert lit(t.String(), "it's") == "'it''s'"
    assert lit(t.String(), "50%", StubDialect("pg", {}, GenericTypeCompiler, True,
                                              paramstyle="pyformat")) == "'50%%'"
    assert lit(t.Integer(), 7) == "7"
    assert lit(t.Boolean(), True) == "1"
    assert lit(t.Boolean(), False, PG) == "false"
    assert lit(t.DateTime(), dt.datetime(2020, 1, 2, 3, 4, 5)) == "'2020-01-02 03:04:05.000000'"
    assert lit(t.DateTime(), dt.datetime(2020, 1, 2, 3, 4, 5), PG) == "'2020-01-02 03:04:05'"
    assert lit(t.JSON(), {"a": "b'c"}) == """'{"a": "b''c"}'"""
    assert lit(t.Enum(Color), Color.red) == "'red'"
    assert lit(t.LargeBinary(), b"\x01\xab") == "X'01AB'"
    assert lit(t.LargeBinary(), b"\x01\xab", PG) == "'\\x01ab'::bytea"
    assert lit(t.Uuid(), uuid.UUID(int=1)) == "'00000000000000000000000000000001'"
    assert lit(t.Numeric(), decimal.Decimal("1.10")) == "1.10"
    assert lit(t.String(), None) == "NULL"
    assert t.NullType()._cached_literal_processor(SQLITE) is None


# -- helpers -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1, t.Integer), (True, t.Boolean), (1.5, t.Float), (decimal.Decimal("1"), t.Numeric),
        ("x", t.String), (b"x", t.LargeBinary), (dt.datetime(2020, 1, 1), t.DateTime),
        (dt.date(2020, 1, 1), t.Date), (dt.time(1), t.Time), (dt.timedelta(1), t.Interval),
        (uuid.uuid4(), t.Uuid), (Color.red, t.Enum), (None, t.NullType), ({"a": 1}, t.NullType),
        ([1], t.NullType), (object(), t.NullType),
    ],
    ids=repr,
)
def test_type_for_python_value(value: Any, expected: type) -> None:
    """Literal Python values map to the generic type SQLAlchemy would pick."""
    assert type(t.type_for_python_value(value)) is expected


def test_type_for_python_value_details() -> None:
    """Aware datetimes get timezone=True, enum members their class, subclasses their base."""
    assert t.type_for_python_value(dt.datetime(2020, 1, 1, tzinfo=UTC)).timezone is True  # type: ignore[attr-defined]
    assert t.type_for_python_value(dt.datetime(2020, 1, 1)).timezone is False  # type: ignore[attr-defined]
    ty = t.type_for_python_value(Color.red)
    assert isinstance(ty, t.Enum) and ty.enum_class is Color
    assert t.type_for_python_value(Color.blue) is ty

    class MyInt(int):
        pass

    assert type(t.type_for_python_value(MyInt(3))) is t.Integer
    assert t.type_for_python_value(None) is t.NULLTYPE


def test_to_instance_and_singletons() -> None:
    """to_instance builds classes, keeps instances and maps None to NullType."""
    assert t.to_instance(None) is t.NULLTYPE
    assert isinstance(t.to_instance(t.String, 5), t.String)
    s = t.String(3)
    assert t.to_instance(s) is s
    assert isinstance(t.INTEGERTYPE, t.Integer) and isinstance(t.BOOLEANTYPE, t.Boolean)
    assert isinstance(t.STRINGTYPE, t.String)


def test_type_affinity_and_predicates() -> None:
    """Affinity is the generic base class; the predicates classify types by it."""
    assert t.BIGINT()._type_affinity is t.Integer
    assert t.INTEGER()._type_affinity is t.Integer
    assert t.Double()._type_affinity is t.Numeric
    assert t.Enum("a")._type_affinity is t.String
    assert t.DATETIME().dialect_impl(SQLITE)._type_affinity is t.DateTime
    assert t.is_string_like(t.Text()) and t.is_string_like(t.Enum("a"))
    assert not t.is_string_like(t.Integer())
    assert t.is_numeric(t.Float()) and t.is_numeric(t.SmallInteger())
    assert not t.is_numeric(t.Boolean())
    assert t.is_datetime_like(t.Interval()) and t.is_datetime_like(t.Date())
    assert not t.is_datetime_like(t.String())


def test_type_affinity_is_computed_once_per_class() -> None:
    """The affinity is cached per type class: a new subclass is worked out on first
    use (its own generic base), then served from the cache for every instance."""
    from docket.sql import type_api

    class Money(t.Numeric):
        pass

    assert Money not in type_api._AFFINITIES
    assert Money(10, 2)._type_affinity is t.Numeric
    assert type_api._AFFINITIES[Money] is t.Numeric
    type_api._AFFINITIES[Money] = t.Integer  # proves later reads come from the cache
    try:
        assert Money()._type_affinity is t.Integer
    finally:
        type_api._AFFINITIES[Money] = t.Numeric


def test_coerce_compared_value() -> None:
    """A literal keeps the column type when affinities match, else takes its own type."""
    col = t.BigInteger()
    assert col.coerce_compared_value(None, 5) is col
    assert col.coerce_compared_value(None, None) is col
    assert isinstance(col.coerce_compared_value(None, "5"), t.String)
    e = t.Enum(Color)
    assert e.coerce_compared_value(None, Color.red) is e
    assert e.coerce_compared_value(None, "red") is e


def test_with_variant() -> None:
    """A variant replaces the type on its dialect only, for DDL and processors."""
    base = t.String(30)
    ty = base.with_variant(pgt.JSONB(), "postgresql")
    assert ty is not base and not base._variant_mapping
    assert ty.compile(SQLITE) == "VARCHAR(30)"
    assert ty.compile(PG) == "JSONB"
    assert isinstance(ty.dialect_impl(PG), pgt.JSONB)
    assert bind(ty, {"a": 1}, PG) == '{"a": 1}'
    assert ty._cached_bind_processor(SQLITE) is None
    with pytest.raises(exc.ArgumentError, match="already present"):
        ty.with_variant(t.Text(), "postgresql")
    with pytest.raises(exc.ArgumentError, match="already has variants"):
        t.Text().with_variant(ty, "sqlite")


def test_dialect_impl_and_processors_are_memoised() -> None:
    """dialect_impl and the cached processors return the same objects on later calls."""
    ty = t.DateTime()
    impl = ty.dialect_impl(SQLITE)
    assert isinstance(impl, slt.DATETIME)
    assert ty.dialect_impl(SQLITE) is impl
    assert ty._cached_bind_processor(SQLITE) is ty._cached_bind_processor(SQLITE)
    assert ty._cached_result_processor(SQLITE, None) is ty._cached_result_processor(SQLITE, None)
    assert ty.dialect_impl(PG) is ty  # no PostgreSQL colspec: the generic type is the impl
    dup = ty.copy()
    assert dup.dialect_impl(SQLITE) is not impl
    assert "_dialect_cache" not in copy.deepcopy(ty).__dict__


def test_adapt_copy_and_repr() -> None:
    """adapt copies constructor arguments; repr shows non-default ones."""
    n = t.Numeric(12, 4, asdecimal=False)
    assert repr(n) == "Numeric(precision=12, scale=4, asdecimal=False)"
    d = n.adapt(t.DECIMAL)
    assert isinstance(d, t.DECIMAL) and (d.precision, d.scale, d.asdecimal) == (12, 4, False)
    assert repr(t.String(50)) == "String(length=50)"
    assert repr(t.Integer()) == "Integer()"
    assert repr(t.Enum(Color)) == "Enum(Color)"
    assert repr(t.Enum("a", "b", name="k")) == "Enum('a', 'b', name='k')"
    assert repr(pgt.ARRAY(t.Integer)) == "ARRAY(Integer())"
    assert t.JSON().evaluates_none().should_evaluate_none is True
    assert t.Integer().evaluates_none().should_evaluate_none is True
    with pytest.raises(NotImplementedError):
        _ = t.NullType().python_type


def test_python_types() -> None:
    """python_type reports the Python class values come back as."""
    assert t.Numeric().python_type is decimal.Decimal
    assert t.Numeric(asdecimal=False).python_type is float
    assert t.Float().python_type is float
    assert t.Uuid(as_uuid=False).python_type is str
    assert t.JSON().python_type is dict
    assert t.Interval().python_type is dt.timedelta
    assert t.JSON.hashable is False and t.Integer.hashable is True


# -- real databases ------------------------------------------------------------------
ROW_TYPES: list[tuple[str, t.TypeEngine, Any]] = [
    ("i", t.Integer(), 7),
    ("big", t.BigInteger(), 2**40),
    ("f", t.Float(), 1.5),
    ("n", t.Numeric(10, 2), decimal.Decimal("12.34")),
    ("s", t.String(20), "o'hara"),
    ("tx", t.Text(), "long text"),
    ("b", t.Boolean(), True),
    ("d", t.Date(), dt.date(2021, 3, 15)),
    ("dtm", t.DateTime(), dt.datetime(2021, 3, 15, 12, 5, 57, 105542)),
    ("tm", t.Time(), dt.time(23, 59, 59, 1)),
    ("iv", t.Interval(), dt.timedelta(days=3, seconds=1, microseconds=5)),
    ("bin", t.LargeBinary(), b"\x00\x01\xff"),
    ("js", t.JSON(), {"k": [1, 2, None], "s": "x"}),
    ("jsn", t.JSON(), None),
    ("u", t.Uuid(), uuid.UUID("12345678-1234-5678-1234-567812345678")),
    ("us", t.Uuid(as_uuid=False), "12345678-1234-5678-1234-567812345679"),
    ("e", t.Enum(Color, name="color_e"), Color.blue),
    ("es", t.Enum("small", "large", name="size_e"), "small"),
    ("p", t.PickleType(), {"nested": {1, 2}}),
    ("nul", t.String(5), None),
]


def _roundtrip_rows(conn: Any, dialect: Any, placeholder: str) -> tuple[list[Any], list[Any]]:
    cols = ", ".join(f"{name} {ty.compile(dialect)}" for name, ty, _ in ROW_TYPES)
    cur = conn.cursor()
    cur.execute(f"CREATE TABLE docket_types ({cols})")
    params = [bind(ty, value, dialect) for _, ty, value in ROW_TYPES]
    marks = ", ".join([placeholder] * len(ROW_TYPES))
    cur.execute(f"INSERT INTO docket_types VALUES ({marks})", params)
    cur.execute("SELECT * FROM docket_types")
    row = cur.fetchone()
    codes = [d[1] for d in cur.description]
    got = [
        result(ty, raw, dialect, coltype=code)
        for (_, ty, _), raw, code in zip(ROW_TYPES, row, codes, strict=True)
    ]
    return got, [value for _, _, value in ROW_TYPES]


def test_sqlite3_real_roundtrip() -> None:
    """Every type survives INSERT and SELECT through a real sqlite3 connection."""
    conn = sqlite3.connect(":memory:")
    try:
        got, expected = _roundtrip_rows(conn, SQLITE, "?")
    finally:
        conn.close()
    assert got == expected
    assert [type(v) for v in got] == [type(v) for v in expected]


def test_sqlite3_stored_text_matches_sqlalchemy_format() -> None:
    """The text SQLite holds for date types is SQLAlchemy's, readable by SQL functions."""
    conn = sqlite3.connect(":memory:")
    try:
        conn.execute("CREATE TABLE x (d DATETIME, u CHAR(32))")
        value = dt.datetime(2021, 3, 15, 12, 5, 57, 105542)
        u = uuid.UUID(int=12345)
        conn.execute("INSERT INTO x VALUES (?, ?)", (bind(t.DateTime(), value), bind(t.Uuid(), u)))
        row = conn.execute("SELECT d, strftime('%Y', d), typeof(u), u FROM x").fetchone()
    finally:
        conn.close()
    assert row == ("2021-03-15 12:05:57.105542", "2021", "text", u.hex)


@pytest.mark.postgresql
def test_postgresql_real_roundtrip(pg_server: Any) -> None:
    """Every type survives INSERT and SELECT through psycopg on a real PostgreSQL."""
    psycopg = pytest.importorskip("psycopg")
    with psycopg.connect(**pg_server.connect_kwargs()) as conn:
        try:
            conn.execute("CREATE TYPE color_e AS ENUM ('red', 'green', 'blue')")
            conn.execute("CREATE TYPE size_e AS ENUM ('small', 'large')")
            got, expected = _roundtrip_rows(conn, PG, "%s")
            # json.dumps text binds to jsonb without a cast, also in a comparison
            conn.execute("CREATE TABLE docket_jb (j JSONB)")
            param = bind(pgt.JSONB(), [1, "a"], PG)
            conn.execute("INSERT INTO docket_jb VALUES (%s)", (param,))
            rows = conn.execute("SELECT j FROM docket_jb WHERE j = %s", (param,)).fetchall()
        finally:
            conn.rollback()  # leaves nothing behind
    assert got == expected
    assert [type(v) for v in got] == [type(v) for v in expected]
    assert rows == [([1, "a"],)]
