"""``relationship()``: declaring and configuring links between mapped classes.

A :class:`RelationshipProperty` is declared with a target (a class, a
mapper, a name resolved later through the registry, or a callable) and is
*configured* once every mapper of the registry exists
(``registry.configure()``): the target and ``secondary`` are resolved, the
join condition is built from foreign keys (or taken from ``primaryjoin`` /
``secondaryjoin``), and its column pairs decide the direction:

* ``ONETOMANY`` -- the foreign key is on the target's table;
* ``MANYTOONE`` -- the foreign key is on this mapper's table;
* ``MANYTOMANY`` -- both ends are referenced from the ``secondary`` table.

Invariants after configuration: ``synchronize_pairs`` lists ``(source,
dest)`` column pairs where ``source`` is the referenced column and ``dest``
the foreign-key column that receives its value at flush time;
``secondary_synchronize_pairs`` does the same for the target side of a
many-to-many.  ``local_remote_pairs`` lists ``(this side, other side)``.

Instance behaviour (collections, backrefs, cascades on attribute events)
lives in :mod:`docket.orm.relationship_attrs`; loading in
:mod:`docket.orm.strategies`; flush dependencies in :mod:`docket.orm.dependency`.
"""

from __future__ import annotations

import enum
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from docket import exc
from docket.orm import relationship_attrs as _attrs
from docket.orm.properties import MapperProperty
from docket.sql import operators as ops
from docket.sql import visitors
from docket.sql.elements import BindParameter, ClauseElement, ColumnElement, and_, bindparam
from docket.sql.schema import Column, Table

if TYPE_CHECKING:
    from docket.orm.mapper import Mapper

__all__ = [
    "MANYTOMANY", "MANYTOONE", "ONETOMANY", "CascadeOptions", "RelationshipDirection",
    "RelationshipProperty", "backref", "relationship",
]


class RelationshipDirection(enum.Enum):
    """Which side holds the foreign key (``prop.direction``)."""

    ONETOMANY = 1
    MANYTOONE = 2
    MANYTOMANY = 3


ONETOMANY = RelationshipDirection.ONETOMANY
MANYTOONE = RelationshipDirection.MANYTOONE
MANYTOMANY = RelationshipDirection.MANYTOMANY

_CASCADES = ("save-update", "merge", "refresh-expire", "expunge", "delete", "delete-orphan")
_ALL = ("save-update", "merge", "refresh-expire", "expunge", "delete")

LAZY_STRATEGIES = ("select", "selectin", "joined", "subquery", "raise", "raise_on_sql",
                   "noload", "write_only", "dynamic", "immediate")
_LAZY_ALIASES: dict[Any, str] = {True: "select", False: "joined", None: "noload"}


class CascadeOptions(frozenset):
    """The parsed ``cascade=`` string: a frozenset of cascade names with a
    boolean attribute per name (``save_update``, ``delete_orphan`` ...)."""

    save_update: bool
    merge: bool
    refresh_expire: bool
    expunge: bool
    delete: bool
    delete_orphan: bool

    def __new__(cls, value: str | CascadeOptions) -> CascadeOptions:
        if isinstance(value, CascadeOptions):
            return value
        names = [n.strip() for n in str(value).replace(" ", ",").split(",") if n.strip()]
        found: set[str] = set()
        for name in names:
            if name == "all":
                found.update(_ALL)
            elif name == "none":
                continue
            elif name in _CASCADES:
                found.add(name)
            else:
                raise exc.ArgumentError(
                    f"Invalid cascade option {name!r} in {value!r}; valid options are "
                    f"{', '.join(('all', 'none', *_CASCADES))}."
                )
        self = super().__new__(cls, found)
        for name in _CASCADES:
            setattr(self, name.replace("-", "_"), name in found)
        return self

    def __repr__(self) -> str:
        return f"CascadeOptions({','.join(sorted(self))!r})"


def backref(name: str, **kwargs: Any) -> tuple[str, dict[str, Any]]:
    """``relationship(..., backref=backref("user", lazy="joined"))``: the
    reverse relationship to create on the target class, with its arguments."""
    return (name, kwargs)


def relationship(argument: Any = None, secondary: Any = None, *, uselist: bool | None = None,
                 collection_class: Any = None, primaryjoin: Any = None,
                 secondaryjoin: Any = None, back_populates: str | None = None,
                 backref: Any = None, order_by: Any = False,
                 cascade: str = "save-update, merge", viewonly: bool = False,
                 lazy: Any = "select", foreign_keys: Any = None, remote_side: Any = None,
                 post_update: bool = False, passive_deletes: bool | str = False,
                 passive_updates: bool = True, single_parent: bool = False,
                 innerjoin: bool = False, join_depth: int | None = None,
                 info: dict[str, Any] | None = None, doc: str | None = None,
                 active_history: bool = False, overlaps: str | None = None,
                 sync_backref: bool | None = None, enable_typechecks: bool = True,
                 load_on_pending: bool = False, distinct_target_key: bool | None = None,
                 omit_join: Any = None, query_class: Any = None,
                 cascade_backrefs: bool = False, **dataclass_kw: Any) -> Any:
    """Link two mapped classes (SQLAlchemy 2.0's signature).

    Args:
        argument: the target class, its name (resolved when mappers are
            configured), a Mapper, or a callable returning one of those;
            optional when the ``Mapped[...]`` annotation names the target.
        secondary: the association Table (or its name) of a many-to-many.
        uselist: a collection (True) or a scalar (False); by default a
            collection for one-to-many and many-to-many.
        collection_class: ``list`` (default), ``set``, or
            ``attribute_keyed_dict(...)``.
        primaryjoin, secondaryjoin: explicit join conditions (expressions,
            strings evaluated against the registry, or callables).
        back_populates: the name of the reverse relationship on the target.
        backref: create the reverse relationship: a name or ``backref(name, **kw)``.
        order_by: ordering of a loaded collection.
        cascade: which session operations propagate along the relationship.
        viewonly: only load; never written by a flush.
        lazy: default loader strategy: ``"select"``, ``"selectin"``,
            ``"joined"``, ``"subquery"``, ``"raise"``, ``"raise_on_sql"``,
            ``"noload"``, ``"write_only"`` or ``"dynamic"``.
        foreign_keys: the columns acting as foreign keys in the join.
        remote_side: for a self-referential relationship, the columns on the
            remote (parent) side: ``remote_side=[id]`` makes it many-to-one.
        post_update: write this link with a second UPDATE after the rows
            exist (for rows that reference each other).
        passive_deletes: don't load children to null/delete them when the
            parent is deleted (the database's ON DELETE does it).
        single_parent: a child may belong to one parent only.
        innerjoin: joined eager loading uses an INNER JOIN.
        join_depth: how deep joined/selectin loading recurses on a
            self-referential relationship.

    Raises:
        ArgumentError: an unknown cascade or lazy option, or conflicting arguments.
    """
    for key in dataclass_kw:
        if key not in ("init", "repr", "default", "default_factory", "compare", "kw_only",
                       "hash", "dataclass_metadata", "bake_queries"):
            raise exc.ArgumentError(f"relationship() got an unexpected argument {key!r}")
    return RelationshipProperty(
        argument, secondary, uselist=uselist, collection_class=collection_class,
        primaryjoin=primaryjoin, secondaryjoin=secondaryjoin, back_populates=back_populates,
        backref=backref, order_by=order_by, cascade=cascade, viewonly=viewonly, lazy=lazy,
        foreign_keys=foreign_keys, remote_side=remote_side, post_update=post_update,
        passive_deletes=passive_deletes, passive_updates=passive_updates,
        single_parent=single_parent, innerjoin=innerjoin, join_depth=join_depth, info=info,
        doc=doc, active_history=active_history, overlaps=overlaps, sync_backref=sync_backref,
        query_class=query_class,
    )


class RelationshipProperty(_attrs.RelationshipAttributeImpl, MapperProperty):
    """A relationship between two mapped classes (see :func:`relationship`)."""

    is_relationship = True

    def __init__(self, argument: Any = None, secondary: Any = None, *, uselist: bool | None = None,
                 collection_class: Any = None, primaryjoin: Any = None,
                 secondaryjoin: Any = None, back_populates: str | None = None,
                 backref: Any = None, order_by: Any = False, cascade: str = "save-update, merge",
                 viewonly: bool = False, lazy: Any = "select", foreign_keys: Any = None,
                 remote_side: Any = None, post_update: bool = False,
                 passive_deletes: bool | str = False, passive_updates: bool = True,
                 single_parent: bool = False, innerjoin: bool = False,
                 join_depth: int | None = None, info: dict[str, Any] | None = None,
                 doc: str | None = None, active_history: bool = False,
                 overlaps: str | None = None, sync_backref: bool | None = None,
                 query_class: Any = None) -> None:
        lazy = _LAZY_ALIASES.get(lazy, lazy) if not isinstance(lazy, str) else lazy
        if lazy not in LAZY_STRATEGIES:
            raise exc.ArgumentError(
                f"Invalid lazy={lazy!r} for relationship(); use one of "
                f"{', '.join(repr(s) for s in LAZY_STRATEGIES[:-1])}."
            )
        if backref is not None and back_populates is not None:
            raise exc.ArgumentError(
                "backref and back_populates keyword arguments are mutually exclusive; use "
                "back_populates on both sides, or backref on one side only."
            )
        self.argument = argument
        self.secondary = secondary
        self.uselist = uselist
        self._uselist_given = uselist is not None
        self.collection_class = collection_class
        self.primaryjoin = primaryjoin
        self.secondaryjoin = secondaryjoin
        self.back_populates = back_populates
        self.backref = backref
        self.order_by = order_by
        self.cascade = CascadeOptions(cascade if not viewonly else "merge")
        if viewonly and cascade != "save-update, merge" and set(
                CascadeOptions(cascade)) - {"merge", "refresh-expire", "expunge"}:
            raise exc.ArgumentError(
                f"Cascade settings {cascade!r} apply to persistence operations and can't be "
                "combined with viewonly=True; remove cascade= or viewonly=."
            )
        if self.cascade.delete_orphan and not self.cascade.delete:
            raise exc.ArgumentError(
                "The 'delete-orphan' cascade requires 'delete'; use cascade='all, "
                "delete-orphan' (or 'save-update, merge, delete, delete-orphan')."
            )
        self.viewonly = viewonly
        self.lazy = lazy
        #: write_only / dynamic: never loaded whole; changes queue in committed_state
        self._dynamic = lazy in ("write_only", "dynamic")
        self.foreign_keys = foreign_keys
        self.remote_side = remote_side
        self.post_update = post_update
        self.passive_deletes = passive_deletes
        self.passive_updates = passive_updates
        self.single_parent = single_parent
        self.innerjoin = innerjoin
        self.join_depth = join_depth
        self.info = info or {}
        self.doc = doc
        self.active_history = active_history
        self.overlaps = overlaps
        self.sync_backref = sync_backref
        self.query_class = query_class
        self.key = ""
        self._configured = False
        self._reverse: RelationshipProperty | None = None
        self._args = (argument, secondary)
        self._kw = dict(
            uselist=uselist, collection_class=collection_class, primaryjoin=primaryjoin,
            secondaryjoin=secondaryjoin, back_populates=back_populates, backref=backref,
            order_by=order_by, cascade=cascade, viewonly=viewonly, lazy=lazy,
            foreign_keys=foreign_keys, remote_side=remote_side, post_update=post_update,
            passive_deletes=passive_deletes, passive_updates=passive_updates,
            single_parent=single_parent, innerjoin=innerjoin, join_depth=join_depth, info=info,
            doc=doc, active_history=active_history, overlaps=overlaps,
            sync_backref=sync_backref, query_class=query_class)

    def _copy_for_class(self) -> RelationshipProperty:
        """A fresh, unconfigured copy of this declaration (a mixin's
        relationship() is mapped once per class using the mixin)."""
        return RelationshipProperty(*self._args, **self._kw)

    # -- declarative ----------------------------------------------------------------------
    def _set_annotation(self, info: Any) -> None:
        """Complete the declaration from its ``Mapped[...]`` annotation: the
        target, and whether it is a collection (and of which class)."""
        if self.argument is None:
            self.argument = info.target
        kind = getattr(info.kind, "__name__", "")
        if kind == "WriteOnlyMapped" and self.lazy == "select":
            self.lazy = "write_only"
        elif kind == "DynamicMapped" and self.lazy == "select":
            self.lazy = "dynamic"
        self._dynamic = self.lazy in ("write_only", "dynamic")
        if info.collection is not None:
            if not self._uselist_given:
                self.uselist = True
            if self.collection_class is None and info.collection is set:
                self.collection_class = set
        elif not self._uselist_given and kind == "Mapped" and info.target is not None:
            self.uselist = False

    # -- configuration --------------------------------------------------------------------
    @property
    def mapper(self) -> Mapper:
        """The target's Mapper (configures the registry if needed)."""
        if not self._configured:
            self.parent.registry and self.parent.registry.configure()  # type: ignore[func-returns-value]
        return self._target

    @property
    def entity(self) -> Mapper:
        return self.mapper

    @property
    def class_attribute(self) -> Any:
        return getattr(self.parent.class_, self.key)

    def _resolve(self, value: Any, what: str) -> Any:
        """A late argument: a string evaluated against the registry, or a callable."""
        if isinstance(value, str):
            return _evaluate(self, value, what)
        if callable(value) and not isinstance(value, (type, ClauseElement, Table)) and not (
                hasattr(value, "__clause_element__")):
            return value()
        return value

    def _post_configure(self) -> None:
        if self._configured:
            return
        from docket.orm.mapper import Mapper

        target = self._resolve(self.argument, "argument")
        if isinstance(target, type):
            mapper = target.__dict__.get("__mapper__")
            if not isinstance(mapper, Mapper):
                raise exc.ArgumentError(
                    f"relationship {self}: the target {target.__name__!r} is not a mapped "
                    "class; map it (DeclarativeBase / registry.mapped) first."
                )
            target = mapper
        if not isinstance(target, Mapper):
            raise exc.ArgumentError(
                f"relationship {self} expects a mapped class, a Mapper or a class name as "
                f"its target, got {self.argument!r}."
            )
        self._target = target
        secondary = self._resolve(self.secondary, "secondary")
        self.secondary = secondary
        self._configured = True
        try:
            self._setup_join()
            self._setup_order_by()
        except BaseException:
            self._configured = False
            raise
        if self.uselist is None:
            self.uselist = self.direction is not MANYTOONE
        if self.cascade.delete_orphan and self.direction is not ONETOMANY and (
                not self.single_parent):
            self._configured = False
            raise exc.ArgumentError(
                f"On {self}, delete-orphan cascade is not supported on a many-to-many or "
                "many-to-one relationship when single_parent is not set. Set "
                "single_parent=True on the relationship()."
            )
        self._setup_collection()
        self._setup_reverse()
        self._setup_strategy()
        self.parent._relationships_changed()
        self._warn_overlaps()

    def _warn_overlaps(self) -> None:
        """Warn (as SQLAlchemy does) when another writable relationship, not
        linked to this one, copies values into the same columns."""
        if self.viewonly or self.parent.registry is None:
            return
        mine = self._written_columns()
        names = {n.strip() for n in (self.overlaps or "").split(",") if n.strip()}
        for mapper in self.parent.registry._mappers:
            for other in mapper._rel_props:
                if other is self or not other._configured or other.viewonly:
                    continue
                if other._reverse is self or self._reverse is other:
                    continue
                theirs = {n.strip() for n in (other.overlaps or "").split(",") if n.strip()}
                if other.key in names or self.key in theirs:
                    continue
                shared = mine & other._written_columns()
                if not shared:
                    continue
                cols = ", ".join(sorted(f"{c.table.name}.{c.name}" for c in shared))
                warnings.warn(
                    f"relationship '{self}' will copy column(s) {cols}, which conflicts with "
                    f"relationship(s): '{other}'. If this is not the intention, consider if "
                    "these relationships should be linked with back_populates, or if "
                    "viewonly=True should be applied to one or more if they are read-only. To "
                    f"silence this warning, add the parameter 'overlaps=\"{other.key}\"' to "
                    f"the '{self}' relationship.", exc.SAWarning, stacklevel=4)

    def _written_columns(self) -> set[Any]:
        return {d for _s, d in self.synchronize_pairs} | {
            d for _s, d in self.secondary_synchronize_pairs}

    def _setup_join(self) -> None:
        parent_t = self.parent.local_table
        target_t = self._target.local_table
        fks = self._resolve(self.foreign_keys, "foreign_keys")
        fks = set(_as_columns(self, fks)) if fks is not None else None
        remote = self._resolve(self.remote_side, "remote_side")
        remote_cols = set(_as_columns(self, remote)) if remote is not None else None
        self._user_fks = fks
        if self.secondary is not None:
            sec = self.secondary
            pj = self._resolve(self.primaryjoin, "primaryjoin")
            sj = self._resolve(self.secondaryjoin, "secondaryjoin")
            self.primaryjoin = _expr(pj) if pj is not None else _fk_join(
                self, parent_t, sec, fks, "primaryjoin")
            self.secondaryjoin = _expr(sj) if sj is not None else _fk_join(
                self, target_t, sec, fks, "secondaryjoin")
            sec_cols = set(sec.c)
            self.direction = MANYTOMANY
            self.synchronize_pairs = _pairs(self, self.primaryjoin, lambda c: c in sec_cols)
            self.secondary_synchronize_pairs = _pairs(self, self.secondaryjoin,
                                                      lambda c: c in sec_cols)
            self.local_remote_pairs = list(self.synchronize_pairs)
            self.remote_side = {d for _s, d in self.synchronize_pairs}
            return
        pj = self._resolve(self.primaryjoin, "primaryjoin")
        if pj is not None:
            marked_fk, marked_remote = _take_marks(_expr(pj))
            if marked_fk:
                fks = (fks or set()) | marked_fk
            if marked_remote:
                remote_cols = (remote_cols or set()) | marked_remote
        self.primaryjoin = _expr(pj) if pj is not None else _fk_join(
            self, parent_t, target_t, fks, "primaryjoin")
        self.secondaryjoin = None
        self.secondary_synchronize_pairs = []
        self_ref = parent_t is target_t
        pairs = _column_pairs(self.primaryjoin)
        if fks is not None:
            foreign = {c for pair in pairs for c in pair if c in fks}
        else:
            foreign = {a for a, b in pairs if _references(a, b)} | {
                b for a, b in pairs if _references(b, a)}
        if not foreign:
            raise exc.ArgumentError(
                f"Could not determine the foreign key columns of relationship {self}'s join "
                f"condition {self.primaryjoin}; give foreign_keys=[...] naming the columns "
                "that hold the reference."
            )
        if self_ref:
            if remote_cols is None or remote_cols <= foreign:
                direction = ONETOMANY  # the remote (child) rows hold the foreign key
            else:
                direction = MANYTOONE
        else:
            in_target = {c for c in foreign if c.table is target_t}
            in_parent = {c for c in foreign if c.table is parent_t}
            if in_target and not in_parent:
                direction = ONETOMANY
            elif in_parent and not in_target:
                direction = MANYTOONE
            else:
                raise exc.ArgumentError(
                    f"relationship {self}: foreign key columns on both sides of the join "
                    f"{self.primaryjoin}; give foreign_keys=[...] to say which side holds "
                    "the reference."
                )
        self.direction = direction
        sync: list[tuple[Any, Any]] = []
        for a, b in pairs:
            if a in foreign and b not in foreign:
                sync.append((b, a))
            elif b in foreign and a not in foreign:
                sync.append((a, b))
            elif self_ref and a in foreign and b in foreign:
                continue
        if self_ref and remote_cols is not None and direction is MANYTOONE:
            sync = [(s, d) for s, d in sync if s in remote_cols]
        self.synchronize_pairs = sync
        if direction is ONETOMANY:
            self.local_remote_pairs = list(sync)
            self.remote_side = {d for _s, d in sync}
        else:
            self.local_remote_pairs = [(d, s) for s, d in sync]
            self.remote_side = {s for s, _d in sync}

    def _setup_order_by(self) -> None:
        ob = self.order_by
        if ob is False or ob is None:
            self.order_by = False
            return
        ob = self._resolve(ob, "order_by")
        if not isinstance(ob, (list, tuple)):
            ob = [ob]
        self.order_by = [self._resolve(o, "order_by") for o in ob]

    def _setup_collection(self) -> None:
        from docket.orm import collections

        self._collection_factory = collections.factory_for(self) if self.uselist else None

    def _setup_reverse(self) -> None:
        target = self._target
        if self.backref is not None:
            name, kw = (self.backref, {}) if isinstance(self.backref, str) else self.backref
            kw = dict(kw)
            if name in target._props:
                existing = target._props[name]
                raise exc.ArgumentError(
                    f"Error creating backref {name!r} on relationship {self}: property of "
                    f"that name already exists on mapper {target} ({existing!r}); rename the "
                    "backref or use back_populates on both sides."
                )
            if self.secondary is not None:
                kw.setdefault("primaryjoin", self.secondaryjoin)
                kw.setdefault("secondaryjoin", self.primaryjoin)
            else:
                kw.setdefault("primaryjoin", self.primaryjoin)
                if self._user_fks is not None:
                    kw.setdefault("foreign_keys", list(self._user_fks))
                if self.parent.local_table is target.local_table and "remote_side" not in kw:
                    # self-referential: the reverse points the other way
                    if self.direction is ONETOMANY:
                        kw["remote_side"] = [s for s, _d in self.synchronize_pairs]
                    else:
                        kw["remote_side"] = [d for _s, d in self.synchronize_pairs]
            kw.setdefault("viewonly", self.viewonly)
            kw.setdefault("post_update", self.post_update)
            reverse = RelationshipProperty(self.parent.class_, self.secondary,
                                           back_populates=self.key, **kw)
            self.back_populates = name
            target.add_property(name, reverse)
            self._reverse = reverse
            reverse._post_configure()
            return
        if self.back_populates is not None:
            other = target._props.get(self.back_populates)
            if other is None or not other.is_relationship:
                raise exc.InvalidRequestError(
                    f"Mapper {target} has no relationship {self.back_populates!r}, named by "
                    f"back_populates on {self}; declare it there with "
                    f"back_populates={self.key!r}."
                )
            assert isinstance(other, RelationshipProperty)
            self._reverse = other  # one-way unless the other side names this one too
            if other.back_populates not in (None, self.key):
                raise exc.ArgumentError(
                    f"back_populates on relationship {self} names {other}, whose own "
                    f"back_populates is {other.back_populates!r}; make them name each other."
                )
            if not other._configured:
                other._post_configure()
            if other._target is not self.parent and not issubclass(
                    self.parent.class_, other._target.class_):
                raise exc.ArgumentError(
                    f"back_populates on relationship {self} names {other}, which refers to "
                    f"{other._target.class_.__name__}, not {self.parent.class_.__name__}; "
                    "point back_populates at a relationship to this class."
                )

    def _setup_strategy(self) -> None:
        """Derived facts the instance and loading paths read on every use."""
        parent = self.parent
        self._track_parents = bool(self.cascade.delete_orphan or self.single_parent)
        if self.cascade.delete_orphan and self not in self._target._delete_orphan_props:
            self._target._delete_orphan_props.append(self)
        local = [lc for lc, _rc in self.local_remote_pairs]
        self._local_cols = local
        self._remote_cols = [rc for _lc, rc in self.local_remote_pairs]
        self._local_keys = tuple(parent._col_to_prop[c].key for c in local
                                 if c in parent._col_to_prop)
        target = self._target

        def key_of(mapper: Any, col: Any) -> str:
            prop = mapper._col_to_prop.get(col)
            if prop is None:
                raise exc.ArgumentError(
                    f"relationship {self}: column {col} is not mapped on {mapper.class_.__name__}"
                    "; the flush can't copy values through it. Map the column."
                )
            return prop.key

        if self.direction is MANYTOMANY:
            self._sync_keys: list[tuple[str, str]] = []
            self._secondary_owner_keys = [key_of(parent, s) for s, _d in self.synchronize_pairs]
            self._secondary_child_keys = [key_of(target, s)
                                          for s, _d in self.secondary_synchronize_pairs]
        elif self.viewonly:
            self._sync_keys = []
        elif self.direction is ONETOMANY:
            self._sync_keys = [(key_of(parent, s), key_of(target, d))
                               for s, d in self.synchronize_pairs]
        else:
            self._sync_keys = [(key_of(target, s), key_of(parent, d))
                               for s, d in self.synchronize_pairs]
        #: attribute keys a flush writes on the destination side (foreign keys)
        self._dest_keys = [dk for _sk, dk in self._sync_keys]
        self._m2o_keys: tuple[str, ...] | None = None
        if self.direction is MANYTOONE and _simple_join(self.primaryjoin, self.synchronize_pairs):
            dest_of = {s: d for s, d in self.synchronize_pairs}
            pk = self._target.primary_key
            if set(dest_of) == set(pk) and all(dest_of[c] in parent._col_to_prop for c in pk):
                self._m2o_keys = tuple(parent._col_to_prop[dest_of[c]].key for c in pk)

    # -- SQL -----------------------------------------------------------------------------
    def _clause_element(self, attr: Any) -> Any:
        self.mapper  # noqa: B018 - configures
        if self.secondary is not None:
            return and_(self.primaryjoin, self.secondaryjoin)
        return self.primaryjoin

    def _comparator_target(self, attr: Any) -> Any:
        from docket.orm.rel_sql import Comparator

        return Comparator(self, attr)

    def _compare(self, opname: str, attr: Any, other: Any) -> Any:
        from docket.orm.rel_sql import compare

        return compare(self, opname, other, getattr(attr, "_of_type", None))

    def _join_hook(self, attr: Any, left: Any, target: Any) -> tuple[Any, Any, Any]:
        from docket.orm.rel_sql import join_target

        return join_target(self, attr, left, target)

    # -- lazy clause ----------------------------------------------------------------------
    def _lazy_clause(self) -> tuple[Any, list[tuple[str, str]]]:
        """(criterion with bind parameters for this side's columns, [(bind
        name, attribute key of this side)]) -- built once."""
        cached = self.__dict__.get("_lazy_cache")
        if cached is not None:
            return cached
        parent = self.parent
        local = {lc for lc, _rc in self.local_remote_pairs}
        binds: dict[Any, BindParameter] = {}
        keys: list[tuple[str, str]] = []

        def swap(node: Any) -> Any:
            if isinstance(node, Column) and node in local and node in parent._col_to_prop:
                bp = binds.get(node)
                if bp is None:
                    name = f"lz_{self.key}_{len(binds)}"
                    bp = binds[node] = bindparam(name, type_=node.type)
                    keys.append((name, parent._col_to_prop[node].key))
                return bp
            return None

        crit = visitors.replace(self.primaryjoin, swap)
        if self.secondary is not None:
            crit = and_(crit, self.secondaryjoin)
        self.__dict__["_lazy_cache"] = result = (crit, keys)
        return result

    def __repr__(self) -> str:
        owner = getattr(getattr(self, "parent", None), "class_", None)
        return f"{owner.__name__ if owner else '?'}.{self.key or '?'}"

    __str__ = __repr__


# --- helpers ------------------------------------------------------------------------------


def _expr(value: Any) -> ColumnElement:
    ce = getattr(value, "__clause_element__", None)
    return ce() if ce is not None else value


def _as_columns(prop: RelationshipProperty, value: Any) -> list[Any]:
    values = value if isinstance(value, (list, tuple, set, frozenset)) else [value]
    out = []
    for v in values:
        v = prop._resolve(v, "columns")
        col = _expr(v)
        if not isinstance(col, Column):
            raise exc.ArgumentError(
                f"relationship {prop}: expected table columns in foreign_keys / remote_side, "
                f"got {v!r}."
            )
        out.append(col)
    return out


def _references(a: Any, b: Any) -> bool:
    return isinstance(a, Column) and any(fk.column is b for fk in a.foreign_keys
                                         if _resolved(fk))


def _resolved(fk: Any) -> bool:
    try:
        return fk.column is not None
    except exc.DocketError:
        return False


def _column_pairs(join: Any) -> list[tuple[Any, Any]]:
    """``(left, right)`` for every ``column = column`` comparison in ``join``."""
    out = []
    for node in visitors.iterate(join):
        if getattr(node, "operator", None) is ops.eq:
            left, right = _ungroup(node.left), _ungroup(node.right)
            if isinstance(left, Column) and isinstance(right, Column):
                out.append((left, right))
    return out


def _take_marks(join: Any) -> tuple[set[Any], set[Any]]:
    """Columns marked with foreign() / remote() in ``join`` (marks removed)."""
    fks: set[Any] = set()
    remote: set[Any] = set()
    for node in visitors.iterate(join):
        marks = node.__dict__.pop("_docket_marks", None) if isinstance(node, Column) else None
        if marks:
            if "_docket_foreign" in marks:
                fks.add(node)
            if "_docket_remote" in marks:
                remote.add(node)
    return fks, remote


def _simple_join(join: Any, pairs: list[tuple[Any, Any]]) -> bool:
    """True when ``join`` is nothing but the equalities of ``pairs``."""
    from docket.sql.expressions import BinaryExpression

    binaries = [n for n in visitors.iterate(join) if isinstance(n, BinaryExpression)]
    return len(binaries) == len(pairs) and len(_column_pairs(join)) == len(pairs)


def _ungroup(node: Any) -> Any:
    while hasattr(node, "element") and type(node).__name__ == "Grouping":
        node = node.element
    return node


def _pairs(prop: RelationshipProperty, join: Any, is_dest: Callable[[Any], bool]
           ) -> list[tuple[Any, Any]]:
    """(source, dest) pairs of a many-to-many join, dest being the secondary side."""
    out = []
    for a, b in _column_pairs(join):
        if is_dest(b) and not is_dest(a):
            out.append((a, b))
        elif is_dest(a) and not is_dest(b):
            out.append((b, a))
    if not out:
        raise exc.ArgumentError(
            f"relationship {prop}: could not find column pairs linking the secondary table "
            f"in {join}; check primaryjoin / secondaryjoin."
        )
    return out


def _fk_join(prop: RelationshipProperty, a: Any, b: Any, consider: set[Any] | None,
             which: str) -> ColumnElement:
    """The join condition between tables ``a`` and ``b`` from their foreign
    keys (only those whose column is in ``consider``, when given).

    Raises:
        NoForeignKeysError: no foreign key links the tables.
        AmbiguousForeignKeysError: more than one foreign key path does.
    """
    found: dict[Any, list[tuple[Any, Any]]] = {}
    for x, y in ((a, b), (b, a)):
        for col in y.c:
            for fk in col.foreign_keys:
                if not _resolved(fk) or fk.column.table is not x:
                    continue
                if consider is not None and col not in consider:
                    continue
                found.setdefault((id(y), fk.constraint or fk), []).append((fk.column, col))
        if x is y:
            break
    names = f"{_tname(a)} and {_tname(b)}"
    if not found:
        raise exc.NoForeignKeysError(
            f"Could not determine join condition between parent/child tables on relationship "
            f"{prop} - there are no foreign keys linking these tables ({names}). Ensure that "
            "referencing columns are associated with a ForeignKey or ForeignKeyConstraint, "
            f"or specify a '{which}' expression."
        )
    if len(found) > 1:
        raise exc.AmbiguousForeignKeysError(
            f"Could not determine join condition between parent/child tables on relationship "
            f"{prop} - there are multiple foreign key paths linking the tables ({names}). "
            "Specify the 'foreign_keys' argument, providing a list of those columns which "
            "should be counted as containing a foreign key reference to the parent table."
        )
    pairs = next(iter(found.values()))
    return and_(*[ref._binary(ops.eq, col) for ref, col in pairs])


def _tname(t: Any) -> str:
    return repr(getattr(t, "name", t))


def _evaluate(prop: RelationshipProperty, text: str, what: str) -> Any:
    """Evaluate a string argument (``"Address.id"``, ``"and_(A.x == B.y, ...)"``,
    a class or table name) against the registry's classes and tables.

    Raises:
        InvalidRequestError: a name can't be found.
    """
    reg = prop.parent.registry
    if reg is None:
        raise exc.ArgumentError(
            f"relationship {prop}: string argument {text!r} needs a registry to resolve "
            "names; pass the class or column itself."
        )
    if what in ("argument", "secondary") and text.replace(".", "").replace("_", "").isalnum():
        try:
            return reg._resolve_name(text)
        except exc.InvalidRequestError:
            if what == "secondary" or "." not in text:
                raise
    namespace = _eval_namespace(reg)
    try:
        return eval(text, {"__builtins__": {}}, namespace)  # noqa: S307 - the user's mapping
    except NameError as e:
        raise exc.InvalidRequestError(
            f"When initializing mapper {prop.parent}, expression {text!r} for {what} of "
            f"relationship {prop} failed to locate a name ({e}). If this is a class name, "
            "make sure the class is mapped in the same registry before mappers are "
            "configured."
        ) from None
    except AttributeError as e:
        raise exc.InvalidRequestError(
            f"Expression {text!r} for {what} of relationship {prop} refers to a missing "
            f"attribute ({e})."
        ) from None


class _Namespace(dict):
    """Names for string arguments: mapped classes, tables, SQL functions."""

    def __init__(self, reg: Any) -> None:
        super().__init__()
        self._reg = reg

    def __missing__(self, key: str) -> Any:
        found = self._reg._class_registry.get(key)
        if found is None:
            found = self._reg.metadata.tables.get(key)
        if found is None:
            raise NameError(f"name {key!r} is not defined")
        return found


def _eval_namespace(reg: Any) -> dict[str, Any]:
    import docket.sql as sql

    ns = _Namespace(reg)
    for name in ("and_", "or_", "not_", "func", "desc", "asc", "text", "literal",
                 "literal_column", "null", "true", "false", "cast", "select", "tuple_",
                 "case", "column", "between", "nulls_first", "nulls_last"):
        if hasattr(sql, name):
            ns[name] = getattr(sql, name)
    from docket.orm.rel_sql import foreign, remote

    ns["foreign"] = foreign
    ns["remote"] = remote
    return ns
