"""Declarative mapping: ``DeclarativeBase``, ``registry``, ``Mapped[...]``.

A class body is read once, when the class is created: ``mapped_column()``
and ``Column`` attributes become table columns (type and nullability taken
from the ``Mapped[...]`` annotation where not given), relationships and
column properties become mapper properties, ``__tablename__`` /
``__table_args__`` / ``__table__`` / ``__mapper_args__`` configure the table
and mapper.  Columns declared on mixins are copied into each mapped subclass.
"""

from __future__ import annotations

import datetime as _dt
import decimal
import enum
import itertools
import re
import sys
import types
import typing
import uuid
from collections.abc import Callable
from typing import Any, ClassVar, Generic, TypeVar

from docket import exc
from docket.orm.mapper import Mapper
from docket.orm.properties import ColumnProperty, MappedColumn, MapperProperty
from docket.orm.state import STATE_KEY, InstanceState
from docket.sql import types as sqltypes
from docket.sql.schema import Column, MetaData, Table

__all__ = [
    "DeclarativeBase",
    "DeclarativeBaseNoMeta",
    "DynamicMapped",
    "Mapped",
    "WriteOnlyMapped",
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

_creation = itertools.count()


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

    @property
    def mappers(self) -> frozenset[Mapper]:
        return frozenset(self._mappers)

    def update_type_annotation_map(self, type_annotation_map: dict[Any, Any]) -> None:
        self.type_annotation_map.update(type_annotation_map)

    # -- mapping ---------------------------------------------------------------------
    def map_imperatively(self, class_: type, local_table: Any = None, **kw: Any) -> Mapper:
        """Map a plain class to an existing Table (classical mapping)."""
        mapper = Mapper(class_, local_table, registry=self, **kw)
        self._register(class_, mapper)
        return mapper

    def mapped(self, cls: type[_T]) -> type[_T]:
        """Class decorator: map ``cls`` declaratively without a base class."""
        if "__init__" not in cls.__dict__:
            cls.__init__ = self.constructor  # type: ignore[misc]
        _map_declaratively(self, cls)
        return cls

    def map_declaratively(self, cls: type) -> Mapper:
        return _map_declaratively(self, cls)

    def generate_base(self, mapper: Any = None, cls: type = object, name: str = "Base",
                      metaclass: type = type) -> Any:
        """A declarative base class bound to this registry."""
        return types.new_class(name, (DeclarativeBase,), {}, lambda ns: ns.update(
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
        for mapper in self._mappers:
            cls = mapper.class_
            for key in list(mapper._props):
                if key in cls.__dict__:
                    delattr(cls, key)
            for name in ("__mapper__",):
                if name in cls.__dict__:
                    delattr(cls, name)
        self._mappers.clear()
        self._class_registry.clear()


def _declarative_constructor(self: Any, **kwargs: Any) -> None:
    """Keyword constructor: sets each mapped attribute given.

    Raises:
        TypeError: a keyword is not an attribute of the class.
    """
    cls_ = type(self)
    d = self.__dict__
    if STATE_KEY not in d:
        d[STATE_KEY] = InstanceState(self, cls_.__mapper__)
    for k, v in kwargs.items():
        if not hasattr(cls_, k):
            raise TypeError(f"{k!r} is an invalid keyword argument for {cls_.__name__}")
        setattr(self, k, v)


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

    __init__ = _declarative_constructor  # type: ignore[assignment]
    _docket_base_class = True


class DeclarativeBaseNoMeta(DeclarativeBase):
    """Same as DeclarativeBase (docket uses no metaclass either way)."""

    _docket_base_class = True


def declarative_base(*, metadata: MetaData | None = None, cls: type = object,
                     name: str = "Base", type_annotation_map: dict[Any, Any] | None = None,
                     **kw: Any) -> Any:
    """Legacy-style factory for a declarative base class."""
    reg = registry(metadata=metadata, type_annotation_map=type_annotation_map)
    bases = (DeclarativeBase,) if cls is object else (cls, DeclarativeBase)
    return types.new_class(name, bases, {}, lambda ns: ns.update(
        {"registry": reg, "metadata": reg.metadata}))


def _setup_base(cls: type) -> None:
    reg = cls.__dict__.get("registry")
    if not isinstance(reg, registry):
        reg = registry(
            metadata=cls.__dict__.get("metadata"),
            type_annotation_map=cls.__dict__.get("type_annotation_map"),
        )
        cls.registry = reg  # type: ignore[attr-defined]
    cls.metadata = reg.metadata  # type: ignore[attr-defined]


# --- reading a class body ---------------------------------------------------------------


class _Annotation:
    """What a ``Mapped[...]`` annotation says about an attribute."""

    __slots__ = ("kind", "inner", "optional", "collection", "target")

    def __init__(self, kind: type, inner: Any, optional: bool) -> None:
        self.kind = kind
        self.inner = inner
        self.optional = optional
        self.collection: Any = None
        self.target: Any = inner


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


def _strip_quotes(text: str) -> str:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    return text


def _parse_annotation(anno: Any, cls: type) -> _Annotation | None:
    if isinstance(anno, str):
        module = sys.modules.get(cls.__module__)
        ns = dict(vars(module)) if module is not None else {}
        ns.setdefault("Mapped", Mapped)
        ns.setdefault("WriteOnlyMapped", WriteOnlyMapped)
        ns.setdefault("DynamicMapped", DynamicMapped)
        try:
            anno = eval(anno, ns, {cls.__name__: cls})  # noqa: S307 - class annotations
        except Exception:
            return _parse_string_annotation(anno)
    origin = typing.get_origin(anno)
    if origin is None or not (isinstance(origin, type) and issubclass(origin, Mapped)):
        return None
    args = typing.get_args(anno)
    inner: Any = args[0] if args else None
    optional = False
    if typing.get_origin(inner) in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(inner) if a is not type(None)]
        optional = len(members) < len(typing.get_args(inner))
        inner = members[0] if len(members) == 1 else inner
    info = _Annotation(origin, inner, optional)
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


def _sqltype_for(reg: registry, pytype: Any, where: str) -> Any:
    if isinstance(pytype, str):
        raise exc.ArgumentError(
            f"Could not resolve the annotation {pytype!r} of {where} to a Python type; "
            "import the type in the module or give mapped_column() an explicit type."
        )
    origin = typing.get_origin(pytype)
    if origin is typing.Annotated:
        pytype = typing.get_args(pytype)[0]
    for source in (reg.type_annotation_map, _DEFAULT_TYPE_MAP):
        found = source.get(pytype)
        if found is not None:
            return sqltypes.to_instance(found)
    if isinstance(pytype, type):
        if issubclass(pytype, enum.Enum):
            return sqltypes.Enum(pytype)
        for base in pytype.__mro__[1:]:
            for source in (reg.type_annotation_map, _DEFAULT_TYPE_MAP):
                found = source.get(base)
                if found is not None:
                    return sqltypes.to_instance(found)
    raise exc.ArgumentError(
        f"Could not locate a SQL type for the annotation {pytype!r} of {where}; add it to "
        "the base's type_annotation_map or pass a type to mapped_column()."
    )


def _merge_order(first: list[str], second: list[str]) -> list[str]:
    """Merge two subsequences of one source order (annotations, class dict)."""
    out: list[str] = []
    a_set, b_set = set(first), set(second)
    i = j = 0
    while i < len(first) or j < len(second):
        if i < len(first) and first[i] in out:
            i += 1
        elif j < len(second) and second[j] in out:
            j += 1
        elif i < len(first) and (first[i] not in b_set or j >= len(second)):
            out.append(first[i])
            i += 1
        elif j < len(second) and (second[j] not in a_set or i >= len(first)):
            out.append(second[j])
            j += 1
        else:
            out.append(first[i])
            i += 1
    return out


def _is_mapped_class(klass: type) -> bool:
    return "__mapper__" in klass.__dict__


def _collect(reg: registry, cls: type) -> tuple[dict[str, Any], dict[str, _Annotation]]:
    """Attribute name -> declaration (own class and mixins), in column order."""
    found: dict[str, Any] = {}
    annotations: dict[str, _Annotation] = {}
    for klass in reversed(cls.__mro__):
        if klass is object or klass in (DeclarativeBase, DeclarativeBaseNoMeta):
            continue
        if klass is not cls and (_is_mapped_class(klass) or "registry" in klass.__dict__):
            continue
        own_ann = klass.__dict__.get("__annotations__", {})
        names = _merge_order(list(own_ann), [
            n for n, v in klass.__dict__.items()
            if isinstance(v, (MappedColumn, Column, MapperProperty, declared_attr))
        ])
        for name in names:
            if name.startswith("__"):
                continue
            value = klass.__dict__.get(name, _MISSING)
            if isinstance(value, declared_attr):
                value = value.fget(cls)
            info = _parse_annotation(own_ann[name], klass) if name in own_ann else None
            if info is not None:
                annotations[name] = info
            elif name in own_ann and value is _MISSING:
                continue  # a plain annotation (ClassVar, etc.): not mapped
            if value is _MISSING:
                if info is None or info.kind is not Mapped or info.collection is not None:
                    if info is not None and name not in found:
                        found[name] = _NEEDS_RELATIONSHIP
                    continue
                value = MappedColumn()
            elif klass is not cls and isinstance(value, MappedColumn):
                value = value._copy()
            elif klass is not cls and isinstance(value, Column):
                value = value._copy()
            found[name] = value
    return found, annotations


_MISSING: Any = object()
_NEEDS_RELATIONSHIP: Any = object()


def _complete_column(reg: registry, cls: type, key: str, mc: MappedColumn,
                     info: _Annotation | None) -> Column:
    col = mc.column
    col._set_name(key)
    where = f"{cls.__name__}.{key}"
    if info is not None and not mc._has_type and isinstance(col.type, sqltypes.NullType) and (
        not col.foreign_keys
    ):
        col.type = _sqltype_for(reg, info.inner, where)
    elif info is not None and not mc._has_type and isinstance(col.type, sqltypes.NullType):
        try:
            col.type = _sqltype_for(reg, info.inner, where)
        except exc.ArgumentError:
            pass  # the referenced column's type is used
    if info is not None and not mc._has_nullable and not col.primary_key:
        col.nullable = info.optional
        col._user_defined_nullable = info.optional
    return col


def _map_declaratively(reg: registry, cls: type) -> Mapper | None:
    if cls.__dict__.get("__abstract__", False):
        return None
    tablename = getattr(cls, "__tablename__", None)
    table = cls.__dict__.get("__table__")
    found, annotations = _collect(reg, cls)
    properties: dict[str, Any] = {}
    columns: list[Column] = []
    for key, value in found.items():
        info = annotations.get(key)
        if value is _NEEDS_RELATIONSHIP:
            raise exc.ArgumentError(
                f"{cls.__name__}.{key} is annotated {info.kind.__name__}[...] with a "  # type: ignore[union-attr]
                "collection or class type but has no relationship() (or mapped_column()) "
                "value; assign one."
            )
        if isinstance(value, MappedColumn):
            col = _complete_column(reg, cls, key, value, info)
            columns.append(col)
            if value.deferred or value.deferred_group or value.deferred_raiseload:
                properties[key] = ColumnProperty(
                    col, deferred=True, group=value.deferred_group,
                    raiseload=value.deferred_raiseload,
                )
            else:
                properties[key] = ColumnProperty(col, active_history=value.active_history)
        elif isinstance(value, Column):
            value._set_name(key)
            if info is not None and isinstance(value.type, sqltypes.NullType) and (
                not value.foreign_keys
            ):
                value.type = _sqltype_for(reg, info.inner, f"{cls.__name__}.{key}")
            columns.append(value)
            properties[key] = ColumnProperty(value)
        elif isinstance(value, MapperProperty):
            if info is not None and hasattr(value, "_set_annotation"):
                value._set_annotation(info)
            properties[key] = value
    if table is None:
        if tablename is None:
            raise exc.InvalidRequestError(
                f"Class {cls.__name__!r} does not have a __table__ or __tablename__ specified "
                "and does not inherit from an existing table-mapped class; set "
                "__tablename__ or mark it __abstract__ = True."
            )
        args, kw = _table_args(cls)
        table = Table(tablename, reg.metadata, *columns, *args, **kw)
    else:
        # mapping an existing Table: class-body columns must already be in it
        for col in columns:
            if col.table is None:
                raise exc.ArgumentError(
                    f"Can't add column {col.name!r} to {cls.__name__}: the class maps an "
                    "existing __table__; declare the column in that Table."
                )
    mapper_args = dict(getattr(cls, "__mapper_args__", None) or {})
    for k, v in list(mapper_args.items()):
        if isinstance(v, MappedColumn):
            mapper_args[k] = v.column
    cls.__table__ = table  # type: ignore[attr-defined]
    mapper = Mapper(cls, table, properties=properties, registry=reg, **mapper_args)
    reg._register(cls, mapper)
    return mapper


def _table_args(cls: type) -> tuple[list[Any], dict[str, Any]]:
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
