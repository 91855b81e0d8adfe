"""Generic SQL types: the names, constructors and semantics of SQLAlchemy 2.0.

A type object does three jobs:

* it names a DDL type (rendered by a type compiler, see ``type_compiler``);
* it converts Python values to driver values and back (``bind_processor`` and
  ``result_processor``), and renders values inline (``literal_processor``);
* it finds its *dialect implementation*: the class in ``dialect.colspecs`` that
  knows how one database stores the value (SQLite keeps dates as text, for example).

Invariants:

* A processor factory returns ``None`` when no conversion is needed; callers skip
  ``None`` entirely, so that is the fast path.  Processors pass ``None`` through.
* ``dialect_impl(dialect)`` and the ``_cached_*_processor`` methods memoise per
  dialect object in ``self._dialect_cache`` (dialects are few and long-lived and must
  be hashable by identity).  Copies never share that cache.
* Constructor arguments are stored under attributes of the same name, which is what
  ``adapt()`` and ``repr()`` rely on.
"""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import inspect
import json
import pickle
import uuid
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Protocol

from docket import exc
from docket.sql.type_compiler import DEFAULT_DIALECT

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

BindProcessor = Callable[[Any], Any]
ResultProcessor = Callable[[Any], Any]
LiteralProcessor = Callable[[Any], str]


class TypeDialect(Protocol):
    """What a type needs from a dialect (the engine's dialect classes satisfy it)."""

    @property
    def name(self) -> str: ...
    @property
    def colspecs(self) -> Mapping[Any, Any]: ...
    @property
    def type_compiler_instance(self) -> Any: ...
    @property
    def supports_native_boolean(self) -> bool: ...
    @property
    def supports_native_enum(self) -> bool: ...
    @property
    def supports_native_uuid(self) -> bool: ...
    @property
    def supports_native_decimal(self) -> bool: ...


_UNSET: Any = object()


class _Memo:
    """Per-(type, dialect) cache: the dialect implementation and its processors."""

    __slots__ = ("impl", "bind", "literal", "results")

    def __init__(self, impl: TypeEngine) -> None:
        self.impl = impl
        self.bind: Any = _UNSET
        self.literal: Any = _UNSET
        self.results: dict[Any, ResultProcessor | None] = {}


# class -> ordered constructor parameters (walks bases while __init__ takes **kw)
_PARAMS_CACHE: dict[type, list[inspect.Parameter]] = {}


def _init_params(cls: type) -> list[inspect.Parameter]:
    params = _PARAMS_CACHE.get(cls)
    if params is not None:
        return params
    params, seen = [], set()
    for klass in cls.__mro__:
        if "__init__" not in klass.__dict__ or klass is object:
            continue
        more = False
        for p in inspect.signature(klass.__dict__["__init__"]).parameters.values():
            if p.kind is p.VAR_KEYWORD:
                more = True
            elif p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name != "self":
                if p.name not in seen:
                    seen.add(p.name)
                    params.append(p)
        if not more:
            break
    _PARAMS_CACHE[cls] = params
    return params


def _generic_repr(obj: object, source: object) -> str:
    """``ClassName(arg, kw=value)`` showing only arguments that differ from defaults."""
    pos, kws = [], []
    for p in _init_params(type(source)):
        if p.name not in source.__dict__:
            continue
        value = source.__dict__[p.name]
        if p.default is p.empty:
            pos.append(repr(value))
        elif value is not p.default and value != p.default:
            kws.append(f"{p.name}={value!r}")
    return f"{type(obj).__name__}({', '.join(pos + kws)})"


def _string_literal_processor(dialect: Any) -> LiteralProcessor:
    """Quote text as a SQL literal, doubling quotes (and ``%`` for format paramstyles)."""
    double = getattr(dialect, "escape_percent", None)
    if double is None:
        double = getattr(dialect, "paramstyle", None) in ("format", "pyformat")

    def process(value: Any) -> str:
        text = str(value).replace("'", "''")
        if double:
            text = text.replace("%", "%%")
        return f"'{text}'"

    return process


class TypeEngine:
    """Base of every SQL type."""

    __visit_name__: ClassVar[str] = "type_engine"
    hashable: ClassVar[bool] = True
    should_evaluate_none: bool = False
    # dialect name -> type used instead on that dialect; never mutated in place
    _variant_mapping: Mapping[str, TypeEngine] = {}

    @property
    def python_type(self) -> type:
        """The Python type values of this type come back as."""
        raise NotImplementedError(f"{type(self).__name__} does not declare a python_type")

    @property
    def _type_affinity(self) -> type[TypeEngine]:
        """The generic type class this type belongs to (``Integer`` for ``BIGINT``)."""
        affinity: type[TypeEngine] = type(self)
        for klass in type(self).__mro__:
            if klass is TypeEngine:
                return affinity
            if issubclass(klass, TypeEngine):
                affinity = klass
        return affinity

    # -- processors (overridden by types that convert) ------------------------------
    def bind_processor(self, dialect: Any) -> BindProcessor | None:
        """Return a function converting a Python value for the driver, or None."""
        return None

    def result_processor(self, dialect: Any, coltype: Any) -> ResultProcessor | None:
        """Return a function converting a driver value to Python, or None.

        Args:
            dialect: the dialect the value came through.
            coltype: the DB-API ``type_code`` of the result column (may be None).
        """
        return None

    def literal_processor(self, dialect: Any) -> LiteralProcessor | None:
        """Return a function rendering a value inline as SQL, or None if unsupported."""
        return None

    # -- dialect implementation and memoised processors -----------------------------
    def _memo(self, dialect: Any) -> _Memo:
        cache: dict[Any, _Memo] | None = self.__dict__.get("_dialect_cache")
        if cache is None:
            cache = self.__dict__["_dialect_cache"] = {}
        memo = cache.get(dialect)
        if memo is None:
            memo = cache[dialect] = _Memo(self._gen_dialect_impl(dialect))
        return memo

    def _gen_dialect_impl(self, dialect: Any) -> TypeEngine:
        variant = self._variant_mapping.get(dialect.name)
        if variant is not None:
            return variant.dialect_impl(dialect)
        return adapt_type(self, dialect.colspecs)

    def dialect_impl(self, dialect: Any) -> TypeEngine:
        """The implementation of this type for ``dialect`` (memoised)."""
        return self._memo(dialect).impl

    def _cached_bind_processor(self, dialect: Any) -> BindProcessor | None:
        memo = self._memo(dialect)
        if memo.bind is _UNSET:
            memo.bind = memo.impl.bind_processor(dialect)
        proc: BindProcessor | None = memo.bind
        return proc

    def _cached_literal_processor(self, dialect: Any) -> LiteralProcessor | None:
        memo = self._memo(dialect)
        if memo.literal is _UNSET:
            memo.literal = memo.impl.literal_processor(dialect)
        proc: LiteralProcessor | None = memo.literal
        return proc

    def _cached_result_processor(self, dialect: Any, coltype: Any) -> ResultProcessor | None:
        memo = self._memo(dialect)
        try:
            return memo.results[coltype]
        except KeyError:
            proc = memo.results[coltype] = memo.impl.result_processor(dialect, coltype)
            return proc
        except TypeError:  # unhashable type code: compute without memoising
            return memo.impl.result_processor(dialect, coltype)

    # -- copying -------------------------------------------------------------------
    def adapt(self, cls: type[TypeEngine], **kw: Any) -> TypeEngine:
        """Build an instance of ``cls`` from this type's constructor arguments.

        Args:
            cls: the target type class (usually a dialect implementation).
            **kw: arguments overriding the copied ones.
        """
        args = {p.name: self.__dict__[p.name] for p in _init_params(cls) if p.name in self.__dict__}
        args.update(kw)
        return cls(**args)

    def copy(self, **kw: Any) -> TypeEngine:
        """A shallow copy (with a fresh dialect cache)."""
        new = self.__class__.__new__(self.__class__)
        new.__dict__.update(self.__dict__)
        new.__dict__.pop("_dialect_cache", None)
        new.__dict__.update(kw)
        return new

    def evaluates_none(self) -> TypeEngine:
        """A copy whose Python ``None`` is passed to the processors, not rendered as NULL."""
        return self.copy(should_evaluate_none=True)

    def with_variant(self, type_: TypeEngine | type[TypeEngine], *dialect_names: str) -> TypeEngine:
        """A copy that uses ``type_`` on the named dialects.

        Raises:
            ArgumentError: ``type_`` has variants itself, or a name is already mapped.
        """
        variant = to_instance(type_)
        if variant._variant_mapping:
            raise exc.ArgumentError(
                f"can't pass a type that already has variants ({variant!r}) as a dialect-level "
                "type to with_variant(); pass the plain type instead"
            )
        mapping = dict(self._variant_mapping)
        for name in dialect_names:
            if name in mapping:
                raise exc.ArgumentError(
                    f"Dialect '{name}' is already present in the mapping for {self!r}; "
                    "call with_variant() once per dialect name"
                )
            mapping[name] = variant
        return self.copy(_variant_mapping=mapping)

    def compile(self, dialect: Any = None) -> str:
        """Render the DDL name of this type (generic names when ``dialect`` is None)."""
        if dialect is None:
            dialect = DEFAULT_DIALECT
        result: str = dialect.type_compiler_instance.process(self)
        return result

    def coerce_compared_value(self, op: Any, value: Any) -> TypeEngine:
        """The type for a literal ``value`` used with this type in an expression.

        Keeps this type when the value's own type has the same affinity (or is
        unknown), else uses the value's type.
        """
        coerced = type_for_python_value(value)
        if coerced is NULLTYPE or coerced._type_affinity is self._type_affinity:
            return self
        return coerced

    def __getstate__(self) -> dict[str, Any]:
        # pickling/deepcopy must not drag the per-dialect cache (and dialects) along
        state = self.__dict__.copy()
        state.pop("_dialect_cache", None)
        return state

    def __repr__(self) -> str:
        return _generic_repr(self, self)

    def __str__(self) -> str:
        return self.compile()


def to_instance(typeobj: TypeEngine | type[TypeEngine] | None, *args: Any, **kw: Any) -> TypeEngine:
    """Turn a type class (or None) into an instance; instances are returned as given."""
    if typeobj is None:
        return NULLTYPE
    if isinstance(typeobj, type):
        return typeobj(*args, **kw)
    return typeobj


def adapt_type(typeobj: TypeEngine, colspecs: Mapping[Any, Any]) -> TypeEngine:
    """Find ``typeobj``'s implementation in ``colspecs`` by walking its class's MRO.

    Returns ``typeobj`` itself when nothing matches or when it is already an instance
    of the implementation class.
    """
    for klass in type(typeobj).__mro__[:-1]:
        impl = colspecs.get(klass)
        if impl is not None:
            break
    else:
        return typeobj
    if isinstance(typeobj, impl):
        return typeobj
    return typeobj.adapt(impl)


class NullType(TypeEngine):
    """The unknown type: values pass through unconverted; cannot be rendered in DDL."""

    __visit_name__ = "null"


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


class _JSONNullSentinel:
    """``JSON.NULL``: always stored as the JSON value ``null``, even with none_as_null."""

    def __repr__(self) -> str:
        return "JSON.NULL"


class JSON(TypeEngine):
    """A JSON document, serialised with ``json.dumps`` unless the driver does it.

    Python ``None`` is stored as JSON ``null`` unless ``none_as_null=True`` (then
    SQL NULL); ``JSON.NULL`` is always JSON ``null``.  A dialect may set
    ``_json_serializer`` / ``_json_deserializer`` to replace the json functions.
    """

    __visit_name__ = "JSON"
    hashable = False
    NULL: ClassVar[_JSONNullSentinel] = _JSONNullSentinel()

    def __init__(self, none_as_null: bool = False) -> None:
        self.none_as_null = none_as_null
        self.should_evaluate_none = not none_as_null

    @property
    def python_type(self) -> type:
        return dict

    def bind_processor(self, dialect: Any) -> BindProcessor | None:
        dumps = getattr(dialect, "_json_serializer", None) or json.dumps
        none_as_null = self.none_as_null
        null = JSON.NULL

        def process(value: Any) -> Any:
            if value is null:
                value = None
            elif value is None and none_as_null:
                return None
            return dumps(value)

        return process

    def result_processor(self, dialect: Any, coltype: Any) -> ResultProcessor | None:
        loads = getattr(dialect, "_json_deserializer", None) or json.loads

        def process(value: Any) -> Any:
            return None if value is None else loads(value)

        return process

    def literal_processor(self, dialect: Any) -> LiteralProcessor | None:
        bind = self.bind_processor(dialect)
        quote = _string_literal_processor(dialect)
        assert bind is not None

        def process(value: Any) -> str:
            text = bind(value)
            return "NULL" if text is None else quote(text)

        return process


def _uuid_hex(value: Any) -> Any:
    if value is None:
        return None
    try:
        return value.hex
    except AttributeError:
        return uuid.UUID(str(value)).hex


def _str_uuid_hex(value: Any) -> Any:
    return None if value is None else str(value).replace("-", "")


def _to_uuid(value: Any) -> Any:
    return None if value is None or isinstance(value, uuid.UUID) else uuid.UUID(value)


def _to_uuid_str(value: Any) -> Any:
    return None if value is None else str(value if isinstance(value, uuid.UUID) else uuid.UUID(value))


class Uuid(TypeEngine):
    """A UUID: ``uuid.UUID`` in Python (``str`` with ``as_uuid=False``).

    Native where the database has a UUID type and ``native_uuid``; elsewhere stored
    as 32 hex characters (``CHAR(32)``).
    """

    __visit_name__ = "uuid"

    def __init__(self, as_uuid: bool = True, native_uuid: bool = True) -> None:
        self.as_uuid = as_uuid
        self.native_uuid = native_uuid

    @property
    def python_type(self) -> type:
        return uuid.UUID if self.as_uuid else str

    def _is_native(self, dialect: Any) -> bool:
        return bool(self.native_uuid and dialect.supports_native_uuid)

    def bind_processor(self, dialect: Any) -> BindProcessor | None:
        if self._is_native(dialect):
            return None
        return _uuid_hex if self.as_uuid else _str_uuid_hex

    def result_processor(self, dialect: Any, coltype: Any) -> ResultProcessor | None:
        if self._is_native(dialect):
            return None if self.as_uuid else _to_uuid_str
        return _to_uuid if self.as_uuid else _to_uuid_str

    def literal_processor(self, dialect: Any) -> LiteralProcessor | None:
        native = self._is_native(dialect)

        def process(value: Any) -> str:
            if value is None:
                return "NULL"
            u = value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
            return f"'{u}'" if native else f"'{u.hex}'"

        return process


class Enum(String):
    """One of a fixed set of values: strings, or the members of a PEP 435 enum class.

    With a class, the database holds member *names* (or ``values_callable(cls)``) and
    results come back as members.  Binding an unknown non-string (or, with
    ``validate_strings=True``, an unknown string) raises ``LookupError``; so does
    reading a value that is not defined.
    """

    __visit_name__ = "enum"

    def __init__(
        self,
        *enums: Any,
        name: str | None = None,
        native_enum: bool = True,
        length: int | None = None,
        values_callable: Callable[[Any], list[str]] | None = None,
        validate_strings: bool = False,
        create_constraint: bool = False,
        metadata: Any = None,
        schema: str | None = None,
        inherit_schema: bool = False,
        quote: bool | None = None,
        omit_aliases: bool = True,
    ) -> None:
        self._enum_args = enums
        self.values_callable = values_callable
        self.omit_aliases = omit_aliases
        self.enum_class: type[enum.Enum] | None = None
        if len(enums) == 1 and isinstance(enums[0], type) and hasattr(enums[0], "__members__"):
            cls = self.enum_class = enums[0]
            members = {
                k: m for k, m in cls.__members__.items() if not omit_aliases or m.name == k
            }
            objects: list[Any] = list(members.values())
            values = list(values_callable(cls)) if values_callable else list(members)
            if name is None:
                name = cls.__name__.lower()
        else:
            values = objects = list(enums)
        self.enums: list[Any] = values
        # member or db value -> db value; db value -> member (or the string itself)
        self._valid_lookup: dict[Any, Any] = dict(zip(reversed(objects), reversed(values), strict=True))
        self._object_lookup: dict[Any, Any] = dict(zip(values, objects, strict=True))
        self._valid_lookup.update((v, self._valid_lookup[self._object_lookup[v]]) for v in values)
        self._valid_lookup[None] = self._object_lookup[None] = None
        longest = max((len(str(v)) for v in values), default=0)
        if length is not None and length < longest:
            raise ValueError(
                f"When provided, length must be larger or equal than the length of the longest "
                f"enum value. {length} < {longest}"
            )
        self._explicit_length = length
        super().__init__(length=length if length is not None else longest)
        self.name = name
        self.native_enum = native_enum
        self.validate_strings = validate_strings
        self.create_constraint = create_constraint
        self.metadata = metadata
        self.schema = schema
        self.inherit_schema = inherit_schema
        self.quote = quote

    @property
    def python_type(self) -> type:
        return self.enum_class if self.enum_class is not None else str

    def _lookup_error(self, value: Any, reading: bool) -> LookupError:
        shown = [str(v) for v in self.enums[:20]]
        if len(self.enums) > 20:
            shown.append(f"... ({len(self.enums)} in all)")
        hint = (
            "the database holds a value this Enum does not define; add it to the Enum"
            if reading
            else "bind one of these values" + (
                f" or a member of {self.enum_class.__name__}" if self.enum_class else ""
            )
        )
        return LookupError(
            f"'{value}' is not among the defined enum values. Enum name: {self.name}. "
            f"Possible values: {', '.join(shown)} ({hint})"
        )

    def bind_processor(self, dialect: Any) -> BindProcessor | None:
        lookup = self._valid_lookup
        validate = self.validate_strings

        def process(value: Any) -> Any:
            try:
                return lookup[value]
            except (KeyError, TypeError):
                if not validate and isinstance(value, str):
                    return value
                raise self._lookup_error(value, reading=False) from None

        return process

    def result_processor(self, dialect: Any, coltype: Any) -> ResultProcessor | None:
        lookup = self._object_lookup

        def process(value: Any) -> Any:
            try:
                return lookup[value]
            except (KeyError, TypeError):
                raise self._lookup_error(value, reading=True) from None

        return process

    def literal_processor(self, dialect: Any) -> LiteralProcessor | None:
        bind = self.bind_processor(dialect)
        quote = _string_literal_processor(dialect)
        assert bind is not None

        def process(value: Any) -> str:
            stored = bind(value)
            return "NULL" if stored is None else quote(stored)

        return process

    def adapt(self, cls: type[TypeEngine], **kw: Any) -> TypeEngine:
        if not issubclass(cls, Enum):  # a colspec for String must not lose the enum
            return self
        names = {p.name for p in _init_params(cls)}
        args = {n: self.__dict__[n] for n in names if n in self.__dict__}
        args["length"] = self._explicit_length
        args.update(kw)
        return cls(*self._enum_args, **args)

    def __repr__(self) -> str:
        parts = [repr(a) if self.enum_class is None else a.__name__ for a in self._enum_args]
        if self.name is not None and (self.enum_class is None or self.name != self.enum_class.__name__.lower()):
            parts.append(f"name={self.name!r}")
        if not self.native_enum:
            parts.append("native_enum=False")
        if self._explicit_length is not None:
            parts.append(f"length={self._explicit_length}")
        return f"{type(self).__name__}({', '.join(parts)})"


class TypeDecorator(TypeEngine):
    """Base for user types wrapping an existing type (class attribute ``impl``).

    Subclasses override ``process_bind_param`` / ``process_result_value`` (and
    optionally ``process_literal_param``, ``load_dialect_impl``,
    ``coerce_compared_value``).  Constructor arguments go to the ``impl`` class.
    The processors compose the user functions with the impl's dialect processors:
    bind = impl bind after ``process_bind_param``; result = ``process_result_value``
    after impl result.
    """

    __visit_name__ = "type_decorator"
    impl: TypeEngine | type[TypeEngine]
    cache_ok: ClassVar[bool | None] = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if not hasattr(self.__class__, "impl"):
            raise exc.ArgumentError(
                f"TypeDecorator subclass {self.__class__.__name__} has no class-level 'impl'; "
                "set impl = String (or another type class) on the class"
            )
        self.impl = to_instance(self.__class__.impl, *args, **kwargs)

    @property
    def impl_instance(self) -> TypeEngine:
        """The wrapped type instance."""
        impl = self.impl
        return impl if isinstance(impl, TypeEngine) else impl()

    def __getattr__(self, key: str) -> Any:
        # proxy unknown attributes (length, timezone ...) to the wrapped type
        if key == "impl" or key.startswith("__"):
            raise AttributeError(key)
        return getattr(self.impl_instance, key)

    @property
    def python_type(self) -> type:
        return self.impl_instance.python_type

    @property
    def _type_affinity(self) -> type[TypeEngine]:
        return self.impl_instance._type_affinity

    def process_bind_param(self, value: Any, dialect: Any) -> Any:
        """Convert a Python value before the impl's bind processing (override)."""
        return value

    def process_result_value(self, value: Any, dialect: Any) -> Any:
        """Convert a value after the impl's result processing (override)."""
        return value

    def process_literal_param(self, value: Any, dialect: Any) -> Any:
        """Convert a value before it is rendered inline (override)."""
        return value

    def load_dialect_impl(self, dialect: Any) -> TypeEngine:
        """The type to wrap on ``dialect`` (default: ``impl``)."""
        return self.impl_instance

    def coerce_compared_value(self, op: Any, value: Any) -> TypeEngine:
        """Literals compared with this type use this type (override to change)."""
        return self

    def type_engine(self, dialect: Any) -> TypeEngine:
        """The type whose DDL represents this decorator on ``dialect``."""
        adapted = adapt_type(self, dialect.colspecs)
        if not isinstance(adapted, type(self)):
            return adapted
        return self.load_dialect_impl(dialect)

    def _gen_dialect_impl(self, dialect: Any) -> TypeEngine:
        variant = self._variant_mapping.get(dialect.name)
        if variant is not None:
            return variant.dialect_impl(dialect)
        adapted = adapt_type(self, dialect.colspecs)
        if adapted is not self:
            return adapted
        bound = self.copy(_bound_to_dialect=True)
        assert isinstance(bound, TypeDecorator)
        bound.impl = self.load_dialect_impl(dialect).dialect_impl(dialect)
        return bound

    def _impl_for(self, dialect: Any) -> TypeEngine:
        if self.__dict__.get("_bound_to_dialect"):
            return self.impl_instance
        return self.load_dialect_impl(dialect)

    def _overrides(self, name: str) -> bool:
        return getattr(type(self), name) is not getattr(TypeDecorator, name)

    def bind_processor(self, dialect: Any) -> BindProcessor | None:
        impl_proc = self._impl_for(dialect)._cached_bind_processor(dialect)
        if not self._overrides("process_bind_param"):
            return impl_proc
        param = self.process_bind_param

        def process(value: Any) -> Any:
            value = param(value, dialect)
            return impl_proc(value) if impl_proc is not None else value

        return process

    def result_processor(self, dialect: Any, coltype: Any) -> ResultProcessor | None:
        impl_proc = self._impl_for(dialect)._cached_result_processor(dialect, coltype)
        if not self._overrides("process_result_value"):
            return impl_proc
        result = self.process_result_value

        def process(value: Any) -> Any:
            if impl_proc is not None:
                value = impl_proc(value)
            return result(value, dialect)

        return process

    def literal_processor(self, dialect: Any) -> LiteralProcessor | None:
        impl_proc = self._impl_for(dialect)._cached_literal_processor(dialect)
        if self._overrides("process_literal_param"):
            convert = self.process_literal_param
        elif self._overrides("process_bind_param"):
            convert = self.process_bind_param
        else:
            return impl_proc
        if impl_proc is None:
            return None

        def process(value: Any) -> str:
            return impl_proc(convert(value, dialect))

        return process

    def __repr__(self) -> str:
        return _generic_repr(self, self.impl_instance)


class PickleType(TypeDecorator):
    """Any picklable Python object, stored as binary."""

    impl: TypeEngine | type[TypeEngine] = LargeBinary
    cache_ok = True

    def __init__(
        self,
        protocol: int = pickle.HIGHEST_PROTOCOL,
        pickler: Any = None,
        comparator: Callable[[Any, Any], bool] | None = None,
        impl: TypeEngine | type[TypeEngine] | None = None,
    ) -> None:
        super().__init__()
        self.protocol = protocol
        self.pickler = pickler if pickler is not None else pickle
        self.comparator = comparator
        if impl is not None:
            self.impl = to_instance(impl)

    def process_bind_param(self, value: Any, dialect: Any) -> Any:
        return None if value is None else self.pickler.dumps(value, self.protocol)

    def process_result_value(self, value: Any, dialect: Any) -> Any:
        return None if value is None else self.pickler.loads(value)

    def compare_values(self, x: Any, y: Any) -> bool:
        """Compare two values with ``comparator`` (default ``==``)."""
        return bool(self.comparator(x, y)) if self.comparator else bool(x == y)

    def __repr__(self) -> str:
        return "PickleType()"


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


NULLTYPE = NullType()
INTEGERTYPE = Integer()
BOOLEANTYPE = Boolean()
STRINGTYPE = String()
_DATETIME = DateTime()  # Interval's storage type when emulated
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
