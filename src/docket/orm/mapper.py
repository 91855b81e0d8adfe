"""Mapper: the link between a class and a table.

A Mapper owns the class's mapped properties and everything derived from
them once, at mapping time, for the hot paths: attribute keys in column
order, the column <-> attribute-key maps, the primary-key attribute keys,
the setter table behind the class's ``__setattr__``, and (lazily, per
dialect) the compiled flush statements and row loaders that
``docket.orm.persistence`` and ``docket.orm.loading`` cache on it.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from docket import exc
from docket.inspection import _register
from docket.orm import events as _events
from docket.orm.attributes import (
    InstrumentedAttribute,
    _DataInstrumentedAttribute,
    has_user_setattr,
    install_setattr,
    plain_setter_keys,
)
from docket.orm.properties import ColumnProperty, MapperProperty
from docket.orm.state import STATE_KEY, InstanceState, instance_state, new_state
from docket.sql.base import ColumnCollection
from docket.sql.schema import Column
from docket.sql.selectable import FromClause

if TYPE_CHECKING:
    from docket.orm.decl import registry as Registry

__all__ = ["Mapper", "class_mapper", "object_mapper"]


class _ClassClauseElement:
    """``select(User)``: on the class, ``__clause_element__()`` is the mapped
    table; on instances the attribute does not exist (so an object is never
    mistaken for a SQL expression)."""

    def __get__(self, obj: Any, cls: type) -> Any:
        if obj is not None:
            raise AttributeError("__clause_element__")
        mapper = cls.__dict__.get("__mapper__") or getattr(cls, "__mapper__")  # noqa: B009
        return lambda: mapper.persist_selectable


class Properties:
    """``mapper.attrs``: mapped properties by key, also as attributes."""

    __slots__ = ("_data",)

    def __init__(self, data: dict[str, MapperProperty]) -> None:
        self._data = data

    def __getattr__(self, key: str) -> MapperProperty:
        try:
            return self._data[key]
        except KeyError:
            raise AttributeError(key) from None

    def __getitem__(self, key: str) -> MapperProperty:
        return self._data[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self._data.get(key, default)

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def __iter__(self) -> Iterator[MapperProperty]:
        return iter(list(self._data.values()))

    def __len__(self) -> int:
        return len(self._data)

    def keys(self) -> list[str]:
        return list(self._data)

    def values(self) -> list[MapperProperty]:
        return list(self._data.values())

    def items(self) -> list[tuple[str, MapperProperty]]:
        return list(self._data.items())


class Mapper:
    """Maps ``class_`` to ``local_table``; ``inspect(cls)`` returns it.

    Args:
        class_: the class to map.
        local_table: its Table.
        properties: attribute key -> ColumnProperty / Column / relationship().
        primary_key: override the table's primary key columns.
        version_id_col: an integer column incremented on every UPDATE and
            checked by UPDATE/DELETE (optimistic concurrency).
        eager_defaults: fetch server-generated values right after INSERT/UPDATE
            (``"auto"``: when RETURNING makes it free).
        include_properties, exclude_properties: restrict the mapped columns.
    """

    is_mapper = True

    def __init__(
        self, class_: type, local_table: FromClause | None = None, *,
        properties: dict[str, Any] | None = None, primary_key: Sequence[Any] | None = None,
        version_id_col: Any = None, version_id_generator: Any = None,
        eager_defaults: bool | str = "auto", include_properties: Sequence[str] | None = None,
        exclude_properties: Sequence[str] | None = None, confirm_deleted_rows: bool = True,
        registry: Registry | None = None, column_prefix: str | None = None,
        passive_deletes: bool = False, passive_updates: bool = True, **kw: Any,
    ) -> None:
        if kw:
            raise exc.ArgumentError(
                f"Unsupported mapper arguments for {class_.__name__}: {sorted(kw)}"
            )
        if "__mapper__" in class_.__dict__:
            raise exc.ArgumentError(
                f"Class {class_.__name__!r} already has a primary mapper defined."
            )
        if not isinstance(local_table, FromClause):
            raise exc.ArgumentError(
                f"Mapper for {class_.__name__} needs a Table to map to, got {local_table!r}"
            )
        self.class_ = class_
        self.local_table = self.persist_selectable = local_table
        self.tables = [local_table]
        self.registry = registry
        self.base_mapper = self
        self.inherits = None
        self.single = False
        self.polymorphic_on = None
        self.polymorphic_identity = None
        self.eager_defaults = eager_defaults
        self.confirm_deleted_rows = confirm_deleted_rows
        self.passive_deletes = passive_deletes
        self.passive_updates = passive_updates
        self.version_id_generator = version_id_generator
        self._props: dict[str, MapperProperty] = {}
        self._col_to_prop: dict[Any, ColumnProperty] = {}
        # per-dialect caches owned by persistence / loading
        # dialect -> flush plan; weak so a disposed engine's dialect can go
        self._persistence_cache: weakref.WeakKeyDictionary[Any, Any] = (
            weakref.WeakKeyDictionary())
        self._loader_cache: dict[Any, Any] = {}
        self._configured = False
        #: delete-orphan relationships (of any mapper) whose target is this one
        self._delete_orphan_props: list[Any] = []
        #: the class has its own __setattr__/__delattr__: use data descriptors
        self._user_setattr = has_user_setattr(class_)

        explicit = dict(properties or {})
        include = set(include_properties) if include_properties is not None else None
        exclude = set(exclude_properties or ())
        explicit_cols: set[Any] = set()
        for value in explicit.values():
            if isinstance(value, ColumnProperty):
                explicit_cols.update(value.columns)
            elif isinstance(value, Column):
                explicit_cols.add(value)
            elif isinstance(value, (list, tuple)) and value and isinstance(value[0], Column):
                explicit_cols.update(value)
        for col in local_table.c:
            if col in explicit_cols:
                continue
            key = (column_prefix or "") + col.key
            if (include is not None and key not in include) or key in exclude:
                continue
            self._add_property(key, ColumnProperty(col))
        for key, value in explicit.items():
            if isinstance(value, Column):
                value = ColumnProperty(value)
            elif isinstance(value, (list, tuple)) and value and isinstance(value[0], Column):
                value = ColumnProperty(*value)
            if not isinstance(value, MapperProperty):
                raise exc.ArgumentError(
                    f"Property {key!r} of {class_.__name__}: expected a Column, "
                    f"column_property() or relationship(), got {value!r}"
                )
            self._add_property(key, value)

        if primary_key is not None:
            pk_cols = [self._resolve_column(c) for c in primary_key]
        else:
            pk_cols = list(getattr(local_table, "primary_key", None) or [])
        if not pk_cols:
            raise exc.ArgumentError(
                f"Mapper for {class_.__name__} could not assemble any primary key columns "
                f"for mapped table {getattr(local_table, 'name', local_table)!r}; give the "
                "table a primary key or pass primary_key=[...] to the mapper."
            )
        self.primary_key: tuple[Any, ...] = tuple(pk_cols)
        for c in pk_cols:
            if c not in self._col_to_prop:
                raise exc.ArgumentError(
                    f"Primary key column {c!r} of {class_.__name__} is not mapped "
                    "(check include_properties / exclude_properties)."
                )
        self._pk_keys: tuple[str, ...] = tuple(self._col_to_prop[c].key for c in pk_cols)
        self.version_id_col = (
            self._resolve_column(version_id_col) if version_id_col is not None else None
        )
        self._version_key = (
            self._col_to_prop[self.version_id_col].key if self.version_id_col is not None
            else None
        )
        from docket.event import Dispatch

        #: MapperEvents listeners (on the class, its bases, or the Mapper class)
        self.dispatch = Dispatch(_events.MapperEvents, class_)
        self.dispatch._classes += (Mapper,)
        #: InstanceEvents listeners (on the class or its bases)
        self.instance_dispatch = Dispatch(_events.InstanceEvents, class_)
        self._instrument()
        class_.__mapper__ = self  # type: ignore[attr-defined]
        _events.resync_mapper(self)
        if "__clause_element__" not in class_.__dict__:
            class_.__clause_element__ = _ClassClauseElement()  # type: ignore[attr-defined]

    # -- construction -----------------------------------------------------------------
    def _resolve_column(self, c: Any) -> Any:
        if isinstance(c, str):
            prop = self._props.get(c)
            if isinstance(prop, ColumnProperty):
                return prop.columns[0]
            return self.local_table.c[c]
        column = getattr(c, "column", c)
        if isinstance(column, Column) and column in self._col_to_prop:
            return column
        ce = getattr(c, "__clause_element__", None)
        return ce() if ce is not None else c

    def _add_property(self, key: str, prop: MapperProperty) -> None:
        prop.key = key
        prop.parent = self
        self._props[key] = prop
        if isinstance(prop, ColumnProperty):
            for col in prop.columns:
                self._col_to_prop.setdefault(col, prop)

    def _instrument(self) -> None:
        """Install descriptors and the setattr table; compute the derived maps.

        A class with its own ``__setattr__``/``__delattr__`` keeps them and
        gets data descriptors instead (see ``docket.orm.attributes``).
        """
        cls = self.class_
        setters: dict[str, Any] = {}
        deleters: dict[str, Any] = {}
        for key, prop in self._props.items():
            setter = prop._setter()
            if setter is not None:
                setters[key] = setter
            deleter = prop._deleter()
            if deleter is not None:
                deleters[key] = deleter
        self._setters = setters
        self._plain_keys = plain_setter_keys(setters)
        if self._user_setattr:
            for key, prop in self._props.items():
                setattr(cls, key, _DataInstrumentedAttribute(
                    cls, key, prop, self, setters.get(key), deleters.get(key)))
        else:
            for key, prop in self._props.items():
                setattr(cls, key, InstrumentedAttribute(cls, key, prop, self))
            install_setattr(cls, setters, deleters, self._plain_keys)
        self._plain_setters: dict[str, Any] = {}
        self._refresh_derived()
        if "__mapper__" in cls.__dict__:  # add_property(): re-apply attribute listeners
            _events.resync_mapper(self)

    def _refresh_derived(self) -> None:
        cols = [p for p in self._props.values() if isinstance(p, ColumnProperty)]
        #: keys of column attributes, in mapping order
        self._column_attr_keys: tuple[str, ...] = tuple(p.key for p in cols)
        #: keys of table columns loaded with the object (not deferred)
        self._eager_column_keys: tuple[str, ...] = tuple(
            p.key for p in cols if not p.deferred
        )
        self._key_to_col: dict[str, Any] = {p.key: p.columns[0] for p in cols}
        self._relationships_changed()

    def _relationships_changed(self) -> None:
        rels: tuple[Any, ...] = tuple(p for p in self._props.values() if p.is_relationship)
        #: relationship properties, in mapping order
        self._rel_props: tuple[Any, ...] = rels
        #: relationships loaded right after a query by default (selectin, subquery ...)
        self._eager_candidates: tuple[Any, ...] = tuple(
            p for p in rels if p.lazy in ("selectin", "subquery", "immediate"))
        #: relationships joined into every query by default
        self._joined_rels: tuple[Any, ...] = tuple(p for p in rels if p.lazy == "joined")
        #: relationships taking part in a flush (not viewonly)
        self._flush_rels: tuple[Any, ...] = tuple(p for p in rels if not p.viewonly)
        #: whether session.add()/delete()/... must walk relationships
        self._save_cascades: tuple[Any, ...] = tuple(p for p in rels if p.cascade.save_update)
        self._delete_cascades = any(p.cascade.delete for p in rels)
        self._other_cascades = bool(rels)
        #: what expiring a whole object removes from its __dict__
        self._expire_keys: tuple[str, ...] = self._column_attr_keys + tuple(p.key for p in rels)

    def _is_orphan(self, state: InstanceState) -> bool:
        """True when ``state`` lacks a parent through one of the delete-orphan
        relationships pointing at this mapper (SQLAlchemy's non-legacy rule).
        Nothing known about a persistent object means it still has its parent."""
        props = self._delete_orphan_props
        if not props:
            return False
        parents = state.parents or {}
        for prop in props:
            parent = parents.get(prop)
            if parent is None:
                has_parent = state.ident is not None  # unknown: persistent ones keep theirs
            else:
                has_parent = parent is not False and parent() is not None
            if not has_parent:
                return True  # de-associated from any one of its parents
        return False

    def add_property(self, key: str, prop: Any) -> None:
        """Map one more property after construction."""
        if isinstance(prop, Column):
            prop = ColumnProperty(prop)
        self._add_property(key, prop)
        self._instrument()
        self._persistence_cache.clear()
        self._loader_cache.clear()

    def _post_configure(self) -> None:
        if self._configured:
            return
        self._configured = True
        for prop in list(self._props.values()):
            prop._post_configure()

    # -- introspection -----------------------------------------------------------------
    @property
    def attrs(self) -> Properties:
        return Properties(self._props)

    @property
    def column_attrs(self) -> Properties:
        return Properties({k: p for k, p in self._props.items() if isinstance(p, ColumnProperty)})

    @property
    def relationships(self) -> Properties:
        return Properties({k: p for k, p in self._props.items() if p.is_relationship})

    @property
    def columns(self) -> ColumnCollection[Any]:
        return ColumnCollection(
            [(k, p.columns[0]) for k, p in self._props.items() if isinstance(p, ColumnProperty)]
        )

    c = columns

    @property
    def entity(self) -> type:
        return self.class_

    @property
    def mapper(self) -> Mapper:
        return self

    @property
    def iterate_properties(self) -> Iterator[MapperProperty]:
        return iter(list(self._props.values()))

    @property
    def self_and_descendants(self) -> list[Mapper]:
        return [self]

    def get_property(self, key: str) -> MapperProperty:
        try:
            return self._props[key]
        except KeyError:
            raise exc.InvalidRequestError(
                f"Mapper for {self.class_.__name__} has no property {key!r}"
            ) from None

    def get_property_by_column(self, column: Any) -> ColumnProperty:
        return self._col_to_prop[column]

    def has_property(self, key: str) -> bool:
        return key in self._props

    def __clause_element__(self) -> Any:
        return self.persist_selectable

    # -- identity ----------------------------------------------------------------------
    def _ident_from_pk(self, pk: Sequence[Any]) -> Any:
        """The identity-map key for a primary key tuple."""
        return pk[0] if len(self._pk_keys) == 1 else tuple(pk)

    def identity_key_from_primary_key(self, primary_key: Any,
                                      identity_token: Any = None) -> tuple[Any, ...]:
        pk = primary_key if isinstance(primary_key, tuple) else tuple(primary_key) if isinstance(
            primary_key, list) else (primary_key,)
        return (self.base_mapper.class_, pk, identity_token)

    def primary_key_from_instance(self, instance: Any) -> tuple[Any, ...]:
        d = instance.__dict__
        return tuple(d.get(k) for k in self._pk_keys)

    def identity_key_from_instance(self, instance: Any) -> tuple[Any, ...]:
        state = instance_state(instance)
        if state.ident is not None:
            return state.key  # type: ignore[return-value]
        return self.identity_key_from_primary_key(self.primary_key_from_instance(instance))

    def _new_state(self, obj: Any) -> InstanceState:
        state = new_state(obj, self)
        obj.__dict__[STATE_KEY] = state
        return state

    def __repr__(self) -> str:
        return f"<Mapper {self.class_.__name__}>"


def class_mapper(class_: type, configure: bool = True) -> Mapper:
    """The Mapper of a mapped class.

    Raises:
        UnmappedClassError: the class is not mapped.
    """
    mapper = class_.__dict__.get("__mapper__") if isinstance(class_, type) else None
    if mapper is None and isinstance(class_, type):
        mapper = getattr(class_, "__mapper__", None)
    if not isinstance(mapper, Mapper):
        raise exc.UnmappedClassError(class_)
    if configure and mapper.registry is not None:
        mapper.registry.configure()
    return mapper


def object_mapper(instance: Any) -> Mapper:
    """The Mapper of a mapped object.

    Raises:
        UnmappedInstanceError: the object's class is not mapped.
    """
    mapper = getattr(type(instance), "__mapper__", None)
    if not isinstance(mapper, Mapper):
        raise exc.UnmappedInstanceError(instance)
    return mapper


def _inspect_type(subject: type) -> Any:
    mapper = getattr(subject, "__mapper__", None)
    if isinstance(mapper, Mapper):
        if mapper.registry is not None:
            mapper.registry.configure()
        return mapper
    return None


def _inspect_object(subject: Any) -> Any:
    if isinstance(getattr(type(subject), "__mapper__", None), Mapper):
        return instance_state(subject)
    return None


_register(type, _inspect_type)
_register(object, _inspect_object)
_register(Mapper, lambda m: m)
_register(InstanceState, lambda s: s)
