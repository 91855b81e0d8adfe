"""Types whose Python values are objects: ``JSON``, ``Uuid``, ``Enum``, ``PickleType``.

Each converts between a Python object (a document, a ``uuid.UUID``, an enum
member, any picklable value) and what the driver stores.  Part of the type system
re-exported by ``docket.sql.types``; see ``docket.sql.type_api`` for the invariants.
"""

from __future__ import annotations

import enum
import json
import pickle
import uuid
from collections.abc import Callable
from typing import Any, ClassVar

from docket.sql.type_api import (
    BindProcessor,
    LiteralProcessor,
    ResultProcessor,
    TypeDecorator,
    TypeEngine,
    _init_params,
    _string_literal_processor,
    to_instance,
)
from docket.sql.types_scalar import LargeBinary, String

__all__ = ["JSON", "Enum", "PickleType", "Uuid"]


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
