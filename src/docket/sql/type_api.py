"""The type system's base: ``TypeEngine``, ``TypeDecorator`` and dialect adaptation.

The concrete generic types live in ``types_scalar`` and ``types_structured``;
``docket.sql.types`` is the public namespace re-exporting all of them.

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

import inspect
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Protocol

from docket import exc
from docket.sql.type_compiler import DEFAULT_DIALECT

__all__ = [
    "NULLTYPE", "BindProcessor", "LiteralProcessor", "NullType", "ResultProcessor",
    "TypeDecorator", "TypeDialect", "TypeEngine", "adapt_type", "to_instance",
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

#: ``docket.sql.types.type_for_python_value``, bound on first use: that table needs
#: every concrete type, so it lives in the module on top of this one.
_literal_type: Callable[[Any], TypeEngine] | None = None


def _load_literal_type() -> Callable[[Any], TypeEngine]:
    # A call-time import: ``docket.sql.types`` imports this module, never the reverse
    # at import time, so there is no import cycle; caching keeps the hot path cheap.
    global _literal_type
    from docket.sql.types import type_for_python_value

    _literal_type = type_for_python_value
    return type_for_python_value


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


# type class -> its affinity (a pure function of the class; a race at worst
# computes an entry twice)
_AFFINITIES: dict[type, type[Any]] = {}


def _affinity_of(cls: type[Any]) -> type[Any]:
    """The most generic class of ``cls``'s MRO below ``TypeEngine``."""
    affinity = cls
    for klass in cls.__mro__:
        if klass is TypeEngine:
            return affinity
        if issubclass(klass, TypeEngine):
            affinity = klass
    return affinity


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
        """The generic type class this type belongs to (``Integer`` for ``BIGINT``);
        worked out once per class (it is read on every comparison's coercion)."""
        cls = type(self)
        affinity = _AFFINITIES.get(cls)
        if affinity is None:
            affinity = _AFFINITIES[cls] = _affinity_of(cls)
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
        literal_type = _literal_type or _load_literal_type()
        coerced = literal_type(value)
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


NULLTYPE = NullType()


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
