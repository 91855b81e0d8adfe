"""Declarative mapping: ``DeclarativeBase``, ``registry``, ``Mapped[...]``.

A class body is read once, when the class is created: ``mapped_column()``
and ``Column`` attributes become table columns (type and nullability taken
from the ``Mapped[...]`` annotation where not given), relationships and
column properties become mapper properties, ``__tablename__`` /
``__table_args__`` / ``__table__`` / ``__mapper_args__`` configure the table
and mapper.  Columns declared on mixins (and ``declared_attr`` results) are
made afresh for each mapped subclass.

Column order follows SQLAlchemy: the class's own columns, then those of its
mixins / bases in MRO order, stably re-sorted by ``mapped_column(sort_order=)``.
Annotation types resolve through the registry's ``type_annotation_map`` (also
keyed by ``Annotated[...]`` forms), then the defaults; ``Annotated[T,
mapped_column(...)]`` contributes column arguments; string annotations
(``from __future__ import annotations``) are evaluated in the class's module.
Deliberate leniency: non-``Mapped`` annotations are ignored rather than
rejected (SQLAlchemy requires ``__allow_unmapped__`` for them).
"""

from __future__ import annotations

import datetime as _dt
import decimal
import enum
import re
import sys
import types
import typing
import uuid
import weakref
from collections.abc import Callable
from typing import Any, ClassVar, Generic, TypeVar

from docket import exc
from docket.orm.exc import MappedAnnotationError
from docket.orm.mapper import Mapper
from docket.orm.properties import ColumnProperty, MappedColumn, MapperProperty
from docket.orm.state import NO_VALUE, STATE_KEY, new_state
from docket.sql import types as sqltypes
from docket.sql.schema import Column, MetaData, Table

__all__ = [
    "DeclarativeBase",
    "DeclarativeBaseNoMeta",
    "DynamicMapped",
    "Mapped",
    "WriteOnlyMapped",
    "clear_mappers",
    "configure_mappers",
    "declarative_base",
    "declared_attr",
    "registry",
]

_T = TypeVar("_T")


class Mapped(Generic[_T]):
    """Annotation marker for a mapped attribute: ``name: Mapped[str]``.

    At runtime the class attribute is replaced by the instrumented attribute;
    ``Mapped`` only informs the mapping (type, nullability, relationship
    collection) and type checkers.
    """

    if typing.TYPE_CHECKING:

        @typing.overload
        def __get__(self, instance: None, owner: Any) -> Any: ...

        @typing.overload
        def __get__(self, instance: object, owner: Any) -> _T: ...

        def __get__(self, instance: Any, owner: Any) -> Any: ...

        def __set__(self, instance: Any, value: _T) -> None: ...


class WriteOnlyMapped(Mapped[_T]):
    """Annotation for ``relationship(lazy="write_only")`` collections."""


class DynamicMapped(Mapped[_T]):
    """Annotation for ``relationship(lazy="dynamic")`` collections."""


class declared_attr(Generic[_T]):
    """A class-body attribute computed per mapped class, e.g. on a mixin::

        class HasTable:
            @declared_attr.directive
            def __tablename__(cls) -> str:
                return cls.__name__.lower()
    """

    def __init__(self, fn: Callable[[Any], _T], cascading: bool = False) -> None:
        self.fget = fn
        self.cascading = cascading
        self.__doc__ = fn.__doc__

    def __get__(self, instance: Any, owner: type) -> Any:
        return self.fget(owner)

    @classmethod
    def directive(cls, fn: Callable[[Any], _T]) -> declared_attr[_T]:
        return cls(fn)

    @classmethod
    def cascading_(cls, fn: Callable[[Any], _T]) -> declared_attr[_T]:
        return cls(fn, cascading=True)


_DEFAULT_TYPE_MAP: dict[Any, Any] = {
    int: sqltypes.Integer,
    str: sqltypes.String,
    float: sqltypes.Float,
    bool: sqltypes.Boolean,
    decimal.Decimal: sqltypes.Numeric,
    _dt.datetime: sqltypes.DateTime,
    _dt.date: sqltypes.Date,
    _dt.time: sqltypes.Time,
    _dt.timedelta: sqltypes.Interval,
    bytes: sqltypes.LargeBinary,
    uuid.UUID: sqltypes.Uuid,
}


class registry:
    """A collection of mapped classes sharing a MetaData and a name registry
    (for late-resolved relationship targets such as ``"Child"``).

    Args:
        metadata: the MetaData tables are created in (default: a new one).
        type_annotation_map: Python type -> column type, consulted before the
            defaults (``int`` -> Integer, ``str`` -> String, ...).
    """

    def __init__(self, *, metadata: MetaData | None = None,
                 class_registry: dict[str, Any] | None = None,
                 type_annotation_map: dict[Any, Any] | None = None,
                 constructor: Callable[..., None] | None = None) -> None:
        self.metadata = metadata if metadata is not None else MetaData()
        self._class_registry: dict[str, Any] = class_registry if class_registry is not None else {}
        self.type_annotation_map: dict[Any, Any] = dict(type_annotation_map or {})
        self.constructor = constructor if constructor is not None else _declarative_constructor
        self._mappers: list[Mapper] = []
        self._configured = True
        _registries.add(self)

    @property
    def mappers(self) -> frozenset[Mapper]:
        return frozenset(self._mappers)

    def update_type_annotation_map(self, type_annotation_map: dict[Any, Any]) -> None:
        self.type_annotation_map.update(type_annotation_map)

    # -- mapping ---------------------------------------------------------------------
    def map_imperatively(self, class_: type, local_table: Any = None, **kw: Any) -> Mapper:
        """Map a plain class to an existing Table (imperative / classical
        mapping).  The class keeps its own ``__init__``.

        Args:
            class_: the class to map.
            local_table: the Table.
            **kw: Mapper arguments: ``properties={"attr": column or
                column_property(...)}``, ``primary_key``, ``version_id_col``,
                ``eager_defaults``, ``include_properties``, ``exclude_properties``,
                ``column_prefix``.

        Raises:
            ArgumentError: the class is already mapped, the table has no
                primary key, or an argument is unknown.
        """
        mapper = Mapper(class_, local_table, registry=self, **kw)
        self._register(class_, mapper)
        return mapper

    def mapped(self, cls: type[_T]) -> type[_T]:
        """Class decorator: map ``cls`` declaratively without a base class.
        A class without its own ``__init__`` gets the keyword constructor.

        Raises:
            ArgumentError: the class is already mapped or can't be mapped.
        """
        if "__mapper__" in cls.__dict__:
            raise exc.ArgumentError(
                f"Class {cls.__name__!r} already has a primary mapper defined; a class can "
                "be mapped only once."
            )
        if "__init__" not in cls.__dict__:
            cls.__init__ = self.constructor  # type: ignore[method-assign]
        _map_declaratively(self, cls)
        return cls

    def map_declaratively(self, cls: type) -> Mapper:
        """Map ``cls`` declaratively (like ``mapped``) and return its Mapper."""
        mapper = _map_declaratively(self, cls)
        if mapper is None:
            raise exc.ArgumentError(f"Class {cls.__name__!r} is __abstract__; nothing to map.")
        return mapper

    def generate_base(self, mapper: Any = None, cls: type = object, name: str = "Base",
                      metaclass: type = type) -> Any:
        """A declarative base class bound to this registry."""
        bases = (DeclarativeBase,) if cls is object else (cls, DeclarativeBase)
        return types.new_class(name, bases, {}, lambda ns: ns.update(
            {"registry": self, "metadata": self.metadata}))

    def _register(self, cls: type, mapper: Mapper) -> None:
        self._mappers.append(mapper)
        self._class_registry[cls.__name__] = cls
        self._class_registry[f"{cls.__module__}.{cls.__qualname__}"] = cls
        self._configured = False

    def _resolve_name(self, name: str) -> Any:
        """A mapped class (or its table) by name, for late-resolved references."""
        found = self._class_registry.get(name)
        if found is not None:
            return found
        table = self.metadata.tables.get(name)
        if table is not None:
            return table
        raise exc.InvalidRequestError(
            f"When initializing mapper relationships, expression {name!r} failed to locate a "
            f"name; no mapped class or table of that name is in this registry (known: "
            f"{sorted(k for k in self._class_registry if '.' not in k)})."
        )

    def configure(self, cascade: bool = False) -> None:
        """Resolve late references (relationship targets) of every mapper."""
        if self._configured:
            return
        self._configured = True
        try:
            for mapper in list(self._mappers):
                mapper._post_configure()
        except BaseException:
            self._configured = False
            raise

    def dispose(self, cascade: bool = False) -> None:
        """Un-map every class of this registry: instrumented attributes, the
        installed ``__setattr__``/``__delattr__`` and ``__mapper__`` go away
        (``__table__`` and the MetaData stay)."""
        for mapper in self._mappers:
            cls = mapper.class_
            for key in list(mapper._props):
                if key in cls.__dict__:
                    delattr(cls, key)
            for name in ("__setattr__", "__delattr__"):
                if getattr(cls.__dict__.get(name), "_docket_setattr", False):
                    delattr(cls, name)
            for name in ("__mapper__", "__clause_element__"):
                if name in cls.__dict__:
                    delattr(cls, name)
        self._mappers.clear()
        self._class_registry.clear()


#: every live registry, for configure_mappers() / clear_mappers()
_registries: weakref.WeakSet[registry] = weakref.WeakSet()


def configure_mappers() -> None:
    """Resolve the late references (relationship targets by name) of every
    mapper of every registry now, instead of at first use.

    Raises:
        InvalidRequestError: a reference can't be resolved.
    """
    for reg in list(_registries):
        reg.configure()


def clear_mappers() -> None:
    """Un-map every mapped class of every registry (mainly for tests)."""
    for reg in list(_registries):
        reg.dispose()


def _declarative_constructor(self: Any, **kwargs: Any) -> None:
    """Keyword constructor: sets each mapped attribute given.

    Raises:
        TypeError: a keyword is not an attribute of the class.
    """
    cls_ = type(self)
    d = self.__dict__
    state = d.get(STATE_KEY)
    if state is None:
        mapper = cls_.__mapper__
        state = d[STATE_KEY] = new_state(self, mapper)
        if kwargs and not mapper._user_setattr:
            # a brand-new object: plain column values go straight into __dict__ and
            # history records "no value before" for each, as the setter would
            fast = mapper._plain_keys
            state.modified = True  # (not in a session yet: nothing else to tell)
            if len(d) == 1 and fast.issuperset(kwargs):  # only the state so far
                d.update(kwargs)
                state.committed_state = dict.fromkeys(kwargs, NO_VALUE)
                return
            committed: dict[str, Any] = {}
            state.committed_state = committed
            for k, v in kwargs.items():
                if k in fast and k not in d:
                    d[k] = v
                    committed[k] = NO_VALUE
                else:
                    _init_set(self, cls_, k, v)
            return
    for k, v in kwargs.items():
        _init_set(self, cls_, k, v)


def _init_set(obj: Any, cls_: type, key: str, value: Any) -> None:
    if not hasattr(cls_, key):
        raise TypeError(f"{key!r} is an invalid keyword argument for {cls_.__name__}")
    setattr(obj, key, value)


_declarative_constructor.__name__ = "__init__"


class DeclarativeBase:
    """Base class for declarative mappings::

        class Base(DeclarativeBase):
            pass

        class User(Base):
            __tablename__ = "users"
            id: Mapped[int] = mapped_column(primary_key=True)
            name: Mapped[str]

    The base gets ``registry`` and ``metadata``; optional class attributes on
    the base: ``metadata``, ``type_annotation_map``, ``registry``.
    """

    registry: ClassVar[registry]
    metadata: ClassVar[MetaData]
    __mapper__: ClassVar[Mapper]
    __table__: ClassVar[Any]
    __name__: ClassVar[str]

    def __init_subclass__(cls, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        if cls.__dict__.get("_docket_base_class"):
            return
        if any(b.__dict__.get("_docket_base_class") for b in cls.__bases__):
            _setup_base(cls)
        else:
            _map_declaratively(cls.registry, cls)

    __init__ = _declarative_constructor
    _docket_base_class = True


class DeclarativeBaseNoMeta(DeclarativeBase):
    """Same as DeclarativeBase (docket uses no metaclass either way)."""

    _docket_base_class = True


def declarative_base(*, metadata: MetaData | None = None, mapper: Any = None,
                     cls: type = object, name: str = "Base",
                     class_registry: dict[str, Any] | None = None,
                     type_annotation_map: dict[Any, Any] | None = None,
                     constructor: Callable[..., None] | None = None,
                     metaclass: type = type) -> Any:
    """Legacy-style factory for a declarative base class (prefer subclassing
    :class:`DeclarativeBase`).

    Args:
        metadata: the MetaData for the tables (default: a new one).
        cls: a class to use as the base's first base class (for shared methods).
        name: the base class's name.
        class_registry: name -> class dict used to resolve string references.
        type_annotation_map: Python type -> column type overrides.
        constructor: the ``__init__`` given to mapped classes.
    """
    reg = registry(metadata=metadata, class_registry=class_registry,
                   type_annotation_map=type_annotation_map, constructor=constructor)
    namespace: dict[str, Any] = {"registry": reg, "metadata": reg.metadata}
    if constructor is not None:
        namespace["__init__"] = constructor
    bases = (DeclarativeBase,) if cls is object else (cls, DeclarativeBase)
    return types.new_class(name, bases, {}, lambda ns: ns.update(namespace))


def _setup_base(cls: type) -> None:
    """Give a new declarative base its registry (the one named by a
    ``registry`` class attribute, else a new one built from ``metadata`` and
    ``type_annotation_map``) and its ``metadata``."""
    reg = cls.__dict__.get("registry")
    type_map = cls.__dict__.get("type_annotation_map")
    if not isinstance(reg, registry):
        reg = registry(metadata=cls.__dict__.get("metadata"), type_annotation_map=type_map)
        cls.registry = reg  # type: ignore[attr-defined]
    elif type_map:
        reg.update_type_annotation_map(type_map)
    cls.metadata = reg.metadata  # type: ignore[attr-defined]


# --- reading a class body ---------------------------------------------------------------


class _Annotation:
    """What a ``Mapped[...]`` annotation says about an attribute.

    ``inner`` is the type inside ``Mapped[...]`` with ``Optional`` removed
    (possibly ``Annotated[...]``); ``target`` the related class (name) for
    relationships; ``column`` a ``mapped_column()`` found in ``Annotated``.
    """

    __slots__ = ("kind", "inner", "optional", "collection", "target", "column")

    def __init__(self, kind: type, inner: Any, optional: bool) -> None:
        self.kind = kind
        self.inner = inner
        self.optional = optional
        self.collection: Any = None
        self.target: Any = inner
        self.column: MappedColumn | None = None


_MAPPED_KINDS = {"Mapped": Mapped, "WriteOnlyMapped": WriteOnlyMapped,
                 "DynamicMapped": DynamicMapped}
_STR_MAPPED = re.compile(r"^\s*(?:\w+\.)*(Mapped|WriteOnlyMapped|DynamicMapped)\[(.*)\]\s*$", re.S)
_STR_OPTIONAL = re.compile(r"^\s*(?:typing\.)?Optional\[(.*)\]\s*$", re.S)
_STR_COLLECTION = re.compile(
    r"^\s*(?:typing\.)?(List|list|Set|set|Dict|dict|FrozenSet|frozenset|Sequence)\[(.*)\]\s*$",
    re.S,
)
_COLLECTIONS = {"List": list, "list": list, "Set": set, "set": set, "Dict": dict,
                "dict": dict, "FrozenSet": set, "frozenset": set, "Sequence": list}
_UNION_TYPES: tuple[Any, ...] = (typing.Union, getattr(types, "UnionType", typing.Union))


def _strip_quotes(text: str) -> str:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    return text


def _namespace(cls: type) -> dict[str, Any]:
    module = sys.modules.get(cls.__module__)
    ns = dict(vars(module)) if module is not None else {}
    ns.setdefault("Mapped", Mapped)
    ns.setdefault("WriteOnlyMapped", WriteOnlyMapped)
    ns.setdefault("DynamicMapped", DynamicMapped)
    ns[cls.__name__] = cls
    return ns


def _resolve_forward(value: Any, cls: type) -> Any:
    """A string / ForwardRef inside an annotation, evaluated in the class's
    module if possible (else the name, for late-resolved relationships)."""
    if isinstance(value, typing.ForwardRef):
        value = value.__forward_arg__
    if not isinstance(value, str):
        return value
    try:
        return eval(value, _namespace(cls))  # noqa: S307 - class annotations
    except Exception:
        return _strip_quotes(value)


def _parse_annotation(anno: Any, cls: type) -> _Annotation | None:
    """Read ``Mapped[...]`` (evaluating string annotations in the class's
    module); None for annotations that are not ``Mapped`` forms."""
    if isinstance(anno, str):
        try:
            anno = eval(anno, _namespace(cls))  # noqa: S307 - class annotations
        except Exception:
            return _parse_string_annotation(anno)
    origin = typing.get_origin(anno)
    if origin is None or not (isinstance(origin, type) and issubclass(origin, Mapped)):
        return None
    args = typing.get_args(anno)
    inner: Any = _resolve_forward(args[0], cls) if args else None
    optional = False
    if typing.get_origin(inner) in _UNION_TYPES:
        members = [a for a in typing.get_args(inner) if a is not type(None)]
        optional = len(members) < len(typing.get_args(inner))
        inner = members[0] if len(members) == 1 else inner
        inner = _resolve_forward(inner, cls)
    info = _Annotation(origin, inner, optional)
    if typing.get_origin(inner) is typing.Annotated:
        for extra in typing.get_args(inner)[1:]:
            if isinstance(extra, MappedColumn):
                info.column = extra
        info.target = typing.get_args(inner)[0]
    coll_origin = typing.get_origin(inner)
    if coll_origin in (list, set, dict, frozenset) or (
        isinstance(coll_origin, type) and coll_origin.__module__ == "collections.abc"
    ):
        info.collection = {frozenset: set}.get(coll_origin, coll_origin)
        cargs = typing.get_args(inner)
        info.target = cargs[-1] if cargs else None
    if isinstance(info.target, typing.ForwardRef):
        info.target = info.target.__forward_arg__
    if isinstance(info.target, str):
        info.target = _strip_quotes(info.target)
    return info


def _parse_string_annotation(text: str) -> _Annotation | None:
    """A string annotation naming types not importable yet (relationship
    targets defined later): parsed by its text."""
    m = _STR_MAPPED.match(text)
    if m is None:
        return None
    kind = _MAPPED_KINDS[m.group(1)]
    inner = m.group(2).strip()
    optional = False
    om = _STR_OPTIONAL.match(inner)
    if om is not None:
        inner, optional = om.group(1).strip(), True
    elif inner.endswith("| None") or inner.startswith("None |"):
        inner = inner.replace("| None", "").replace("None |", "").strip()
        optional = True
    info = _Annotation(kind, inner, optional)
    cm = _STR_COLLECTION.match(inner)
    if cm is not None:
        info.collection = _COLLECTIONS[cm.group(1)]
        info.target = _strip_quotes(cm.group(2).split(",")[-1])
    else:
        info.target = _strip_quotes(inner)
    return info


def _lookup_type_map(reg: registry, pytype: Any) -> Any:
    for source in (reg.type_annotation_map, _DEFAULT_TYPE_MAP):
        try:
            found = source.get(pytype)
        except TypeError:  # unhashable annotation argument
            found = None
        if found is not None:
            return found
    return None


def _sqltype_for(reg: registry, pytype: Any, where: str) -> Any:
    """The column type for a Python annotation: the registry's
    ``type_annotation_map`` first (the full ``Annotated[...]`` form, then its
    base type), then the defaults, then the type's bases; enum classes and
    ``Literal[...]`` become ``Enum``.

    Raises:
        MappedAnnotationError: no SQL type is known for the annotation.
    """
    if isinstance(pytype, str):
        raise MappedAnnotationError(
            f"Could not resolve the annotation {pytype!r} of {where} to a Python type; "
            "import the type at module level or give mapped_column() an explicit type."
        )
    found = _lookup_type_map(reg, pytype)
    if found is None and typing.get_origin(pytype) is typing.Annotated:
        pytype = typing.get_args(pytype)[0]
        found = _lookup_type_map(reg, pytype)
    if found is not None:
        return sqltypes.to_instance(found)
    if typing.get_origin(pytype) is typing.Literal:
        generic = _lookup_type_map(reg, typing.Literal)
        return _enum_type(generic, *typing.get_args(pytype))
    if isinstance(pytype, type):
        if issubclass(pytype, enum.Enum):
            return _enum_type(_lookup_type_map(reg, enum.Enum), pytype)
        for base in pytype.__mro__[1:]:
            found = _lookup_type_map(reg, base)
            if found is not None:
                return sqltypes.to_instance(found)
    raise MappedAnnotationError(
        f"Could not locate a SQL type for the annotation {pytype!r} of {where}; add it to "
        "the base's type_annotation_map or pass a type to mapped_column()."
    )


def _enum_type(generic: Any, *values: Any) -> Any:
    """``Enum(values)`` configured like a generic ``Enum`` entry of the type
    map (``{enum.Enum: Enum(native_enum=False, length=...)}``)."""
    kw: dict[str, Any] = {}
    if isinstance(generic, sqltypes.Enum):
        kw["native_enum"] = generic.native_enum
        if generic._explicit_length is not None:
            kw["length"] = generic._explicit_length
    return sqltypes.Enum(*values, **kw)


_DIRECTIVES = frozenset({"registry", "metadata", "type_annotation_map"})
_MAPPABLE = (MappedColumn, Column, MapperProperty, declared_attr)


def _is_mapped_class(klass: type) -> bool:
    return "__mapper__" in klass.__dict__


class _Declaration:
    """One attribute found in a class body or mixin, before mapping."""

    __slots__ = ("value", "info", "origin", "sort_order")

    def __init__(self, value: Any, info: _Annotation | None, origin: Any) -> None:
        self.value = value
        self.info = info
        self.origin = origin  # the object declared on the class/mixin (for __mapper_args__)
        self.sort_order = value.sort_order if isinstance(value, MappedColumn) else 0


def _collect(reg: registry, cls: type, imperative_table: bool) -> dict[str, _Declaration]:
    """Attribute name -> declaration, from the class and then its bases in
    MRO order (SQLAlchemy's column order: the class's own columns first, then
    those of mixins / superclasses; ``mapped_column(sort_order=...)``
    reorders).  A name defined by a class shadows the same name further
    down the MRO.

    With ``imperative_table`` (``__table__`` given), annotations without a
    value only describe types: they create no columns.
    """
    found: dict[str, _Declaration] = {}
    seen: set[str] = set()
    for klass in cls.__mro__:
        if klass is object or klass in (DeclarativeBase, DeclarativeBaseNoMeta):
            continue
        if klass is not cls and _is_mapped_class(klass):
            raise exc.ArgumentError(
                f"Class {cls.__name__!r} inherits from mapped class {klass.__name__!r}; "
                "mapped class inheritance is not supported yet. Move the shared columns "
                "to a mixin or an __abstract__ base."
            )
        own = klass.__dict__
        own_ann = own.get("__annotations__", {})
        names = _merge_order(list(own_ann), list(own))
        for name in names:
            if name in seen or name.startswith("__") or name in _DIRECTIVES:
                seen.add(name)
                continue
            seen.add(name)
            value = own.get(name, _MISSING)
            if value is not _MISSING and not isinstance(value, _MAPPABLE):
                continue  # a plain class attribute or method: shadows, isn't mapped
            anno: Any = own_ann.get(name)
            if isinstance(value, declared_attr):
                if anno is None:
                    anno = getattr(value.fget, "__annotations__", {}).get("return")
                value = value.fget(cls)
                if value is None or not isinstance(value, _MAPPABLE):
                    continue
            info = _parse_annotation(anno, klass) if anno is not None else None
            origin = value
            if value is _MISSING:
                if info is None or imperative_table:
                    continue  # ClassVar / plain annotation, or typing for __table__
                if info.kind is not Mapped or info.collection is not None or (
                    info.column is None and _looks_like_class(info.target)
                ):
                    value = _NEEDS_RELATIONSHIP
                else:
                    value = MappedColumn()
            elif klass is not cls and isinstance(value, MappedColumn):
                value = value._copy()
            elif klass is not cls and isinstance(value, Column) and value.table is None:
                value._set_name(name)
                value = value._copy()
            elif klass is not cls and hasattr(value, "_copy_for_class"):
                value = value._copy_for_class()  # a mixin's relationship(): one per class
            if isinstance(value, MappedColumn) and info is not None and info.column is not None:
                value = value._merged_with(info.column)
            found[name] = _Declaration(value, info, origin)
    ordered = sorted(found.items(), key=lambda item: item[1].sort_order)
    return dict(ordered)


def _merge_order(annotated: list[str], assigned: list[str]) -> list[str]:
    """Source order of a class body from its ``__annotations__`` and
    ``__dict__`` orders.  Names in both are anchors; between two anchors the
    assigned-only names come first, then the annotation-only ones (the same
    reconciliation SQLAlchemy applies)."""
    common = set(annotated) & set(assigned)
    out: list[str] = []
    done: set[str] = set()

    def emit(name: str) -> None:
        if name not in done:
            done.add(name)
            out.append(name)

    i = j = 0
    while i < len(annotated) or j < len(assigned):
        while j < len(assigned) and assigned[j] not in common:
            emit(assigned[j])
            j += 1
        while i < len(annotated) and annotated[i] not in common:
            emit(annotated[i])
            i += 1
        if j < len(assigned):
            emit(assigned[j])
            j += 1
        elif i < len(annotated):
            emit(annotated[i])
            i += 1
        while i < len(annotated) and annotated[i] in done:
            i += 1
    return out


def _looks_like_class(target: Any) -> bool:
    """An annotation target that can only be a relationship (a mapped class,
    or an unresolved name)."""
    if isinstance(target, str):
        return True
    return isinstance(target, type) and "__mapper__" in getattr(target, "__dict__", {})


_MISSING: Any = object()
_NEEDS_RELATIONSHIP: Any = object()


def _complete_column(reg: registry, cls: type, key: str, mc: MappedColumn,
                     info: _Annotation | None) -> Column:
    """Name the column after the attribute (unless named) and fill in type
    and nullability from the annotation.

    Raises:
        MappedAnnotationError: no type can be found for the column.
    """
    col = mc.column
    col._set_name(key)
    where = f"{cls.__name__}.{key}"
    if not mc._has_type and isinstance(col.type, sqltypes.NullType):
        if info is not None and info.inner is not None:
            try:
                col.type = _sqltype_for(reg, info.inner, where)
            except MappedAnnotationError:
                if not col.foreign_keys:
                    raise  # a foreign key supplies the referenced column's type
        elif not col.foreign_keys:
            raise MappedAnnotationError(
                f"Can't determine the type of column {where}: annotate it as "
                f"Mapped[<python type>] or pass a type, e.g. mapped_column(Integer)."
            )
    if info is not None and not mc._has_nullable and not col.primary_key:
        col.nullable = info.optional
        col._user_defined_nullable = info.optional
    return col


def _map_declaratively(reg: registry, cls: type) -> Mapper | None:
    if cls.__dict__.get("__abstract__", False):
        return None
    if "__mapper__" in cls.__dict__:
        raise exc.ArgumentError(
            f"Class {cls.__name__!r} already has a primary mapper defined; a class can be "
            "mapped only once."
        )
    table = cls.__dict__.get("__table__")
    found = _collect(reg, cls, table is not None)
    properties: dict[str, Any] = {}
    columns: list[Column] = []
    by_origin: dict[int, Any] = {}  # id(declared object) -> final Column (for __mapper_args__)
    for key, decl in found.items():
        value, info = decl.value, decl.info
        if value is _NEEDS_RELATIONSHIP:
            kind = info.kind.__name__ if info is not None else "Mapped"
            target = info.target if info is not None else None
            if isinstance(target, str) and info is not None and info.collection is None:
                raise MappedAnnotationError(
                    f"{cls.__name__}.{key} is annotated {kind}[{target!r}] and {target!r} "
                    f"could not be resolved in module {cls.__module__!r}. Import the type at "
                    "module level (or pass a type to mapped_column()); if it names a related "
                    "class, assign relationship()."
                )
            raise exc.ArgumentError(
                f"{cls.__name__}.{key} is annotated {kind}[...] with a collection or class "
                "type but has no relationship() (or mapped_column()) value; assign one."
            )
        if isinstance(value, MappedColumn):
            col = _complete_column(reg, cls, key, value, info)
            if isinstance(decl.origin, MappedColumn):
                by_origin[id(decl.origin)] = col
                by_origin[id(decl.origin.column)] = col
            columns.append(col)
            properties[key] = value._property(col)
        elif isinstance(value, Column):
            value._set_name(key)
            if info is not None and isinstance(value.type, sqltypes.NullType) and (
                not value.foreign_keys
            ):
                value.type = _sqltype_for(reg, info.inner, f"{cls.__name__}.{key}")
            by_origin[id(decl.origin)] = value
            if value.table is None:
                columns.append(value)
            properties[key] = ColumnProperty(value)
        elif isinstance(value, MapperProperty):
            if info is not None and hasattr(value, "_set_annotation"):
                value._set_annotation(info)
            if isinstance(value, ColumnProperty):
                # deferred(Column(...)) / column_property(Column(...)) in a class body:
                # the column belongs to this class's table
                for expr in value.columns:
                    if isinstance(expr, Column) and expr.table is None:
                        expr._set_name(key)
                        columns.append(expr)
            properties[key] = value
    if table is None:
        tablename = getattr(cls, "__tablename__", None)
        if tablename is None:
            raise exc.InvalidRequestError(
                f"Class {cls.__name__!r} does not have a __table__ or __tablename__ specified "
                "and does not inherit from an existing table-mapped class; set "
                "__tablename__ or mark it __abstract__ = True."
            )
        args, kw = _table_args(cls)
        table = Table(tablename, reg.metadata, *columns, *args, **kw)
    else:
        for col in columns:
            raise exc.ArgumentError(
                f"Can't add column {col.name!r} to {cls.__name__}: the class maps an "
                "existing __table__; declare the column in that Table."
            )
    mapper_args = {k: _mapper_arg(v, by_origin)
                   for k, v in (getattr(cls, "__mapper_args__", None) or {}).items()}
    cls.__table__ = table  # type: ignore[attr-defined]
    mapper = Mapper(cls, table, properties=properties, registry=reg, **mapper_args)
    reg._register(cls, mapper)
    return mapper


def _mapper_arg(value: Any, by_origin: dict[int, Any]) -> Any:
    """A ``__mapper_args__`` value with class-body column declarations
    (mapped_column objects, possibly a mixin's) replaced by table columns."""
    if isinstance(value, (list, tuple)):
        return [_mapper_arg(v, by_origin) for v in value]
    if isinstance(value, (MappedColumn, Column)):
        found = by_origin.get(id(value))
        if found is not None:
            return found
        return value.column if isinstance(value, MappedColumn) else value
    return value


def _table_args(cls: type) -> tuple[list[Any], dict[str, Any]]:
    """``__table_args__``: a tuple of constraints, a dict of Table keyword
    arguments, or a tuple ending in such a dict.

    Raises:
        ArgumentError: any other form.
    """
    args = getattr(cls, "__table_args__", None)
    if args is None:
        return [], {}
    if isinstance(args, dict):
        return [], dict(args)
    if isinstance(args, tuple):
        if args and isinstance(args[-1], dict):
            return list(args[:-1]), dict(args[-1])
        return list(args), {}
    raise exc.ArgumentError(
        f"{cls.__name__}.__table_args__ must be a tuple (optionally ending in a dict) or a "
        f"dict, got {type(args).__name__}"
    )
