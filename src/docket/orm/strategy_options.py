"""Loader options: ``select(User).options(selectinload(User.addresses)...)``.

Each option is a :class:`Load` holding *rules*: a path of relationships from
a root mapper, and what to do at its end (a loader strategy for one
relationship, a wildcard strategy, or column options).  Chaining
(``selectinload(A.bs).joinedload(B.c)``) extends the path.

At execution the rules of a statement are folded into a tree of
:class:`LoadNode` (one per entity and per relationship path).  A loaded
object keeps the node for its path in ``state.load_ctx`` (only when options
apply to it), so a later lazy load on it honours the same options and
passes the sub-tree on to the objects it loads.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

from docket import exc

if TYPE_CHECKING:
    from docket.orm.mapper import Mapper

__all__ = [
    "Load", "LoadNode", "contains_eager", "defaultload", "defer", "immediateload",
    "joinedload", "lazyload", "load_only", "noload", "raiseload", "selectin_polymorphic",
    "selectinload", "subqueryload", "undefer", "undefer_group",
]

_WILDCARD = "*"


class _Rule(NamedTuple):
    root: Any                       # Mapper the path starts at (None: any entity)
    path: tuple[Any, ...]           # relationships from the root
    prop: Any                       # relationship the strategy is for (None: wildcard/columns)
    strategy: str | None            # loader strategy name; None for defaultload / columns
    opts: dict[str, Any]            # innerjoin, alias, recursion_depth, raiseload ...
    columns: tuple[str, tuple[str, ...]] | None  # ("load_only"|"defer"|"undefer"|"group", keys)


def _mapper_of(entity: Any) -> Mapper:
    from docket.orm.mapper import Mapper

    if isinstance(entity, Mapper):
        return entity
    insp = getattr(entity, "_aliased_insp", None)
    if insp is not None:
        return insp.mapper
    mapper = getattr(entity, "__mapper__", None)
    if isinstance(mapper, Mapper):
        return mapper
    raise exc.ArgumentError(f"Load() needs a mapped class or mapper, got {entity!r}")


def _attr_parts(attr: Any) -> tuple[Mapper, Any]:
    """(owning mapper, property) of a class-bound attribute such as ``User.addresses``."""
    prop = getattr(attr, "property", None)
    mapper = getattr(attr, "parent", None)
    if prop is None or mapper is None:
        raise exc.ArgumentError(
            f"Loader options take class-bound attributes such as User.addresses, got "
            f"{attr!r}; string names are not supported (SQLAlchemy 2.0 removed them)."
        )
    return getattr(mapper, "mapper", mapper), prop


class Load:
    """A loader option rooted at one entity: ``Load(User).selectinload(User.addresses)``."""

    def __init__(self, entity: Any = None) -> None:
        self._root = _mapper_of(entity) if entity is not None else None
        self._cur = self._root
        self._path: tuple[Any, ...] = ()
        self.rules: tuple[_Rule, ...] = ()

    def _copy(self) -> Load:
        new = Load.__new__(Load)
        new.__dict__.update(self.__dict__)
        return new

    # -- relationships ----------------------------------------------------------------
    def _rel(self, attr: Any, strategy: str | None, **opts: Any) -> Load:
        new = self._copy()
        if isinstance(attr, str) and attr == _WILDCARD:
            new.rules = self.rules + (_Rule(self._root, self._path, None, strategy, opts, None),)
            return new
        mapper, prop = _attr_parts(attr)
        if not getattr(prop, "is_relationship", False):
            raise exc.InvalidRequestError(
                f"{attr} is not a relationship; {strategy or 'default'}load() applies to "
                "relationships (use defer()/undefer()/load_only() for columns)."
            )
        cur = new._cur
        if new._root is None or cur is None:
            new._root = new._cur = mapper
        elif not (mapper is cur or mapper.class_ in cur.class_.__mro__
                  or cur.class_ in mapper.class_.__mro__):
            raise exc.ArgumentError(
                f"Attribute {attr} does not link from element {cur.class_.__name__} in "
                "the option's path; each chained option must name a relationship of the "
                "class loaded by the previous one."
            )
        of_type = getattr(attr, "_of_type", None)
        if of_type is not None and opts.get("alias") is None:
            opts["alias"] = of_type
        new.rules = self.rules + (_Rule(new._root, self._path, prop, strategy, opts, None),)
        new._path = self._path + (prop,)
        new._cur = prop.mapper
        return new

    def selectinload(self, attr: Any, recursion_depth: int | None = None) -> Load:
        return self._rel(attr, "selectin", recursion_depth=recursion_depth)

    def joinedload(self, attr: Any, innerjoin: bool | None = None) -> Load:
        return self._rel(attr, "joined", innerjoin=innerjoin)

    def subqueryload(self, attr: Any) -> Load:
        return self._rel(attr, "subquery")

    def lazyload(self, attr: Any) -> Load:
        return self._rel(attr, "select")

    def immediateload(self, attr: Any) -> Load:
        return self._rel(attr, "immediate")

    def noload(self, attr: Any) -> Load:
        return self._rel(attr, "noload")

    def raiseload(self, attr: Any, sql_only: bool = False) -> Load:
        return self._rel(attr, "raise_on_sql" if sql_only else "raise")

    def defaultload(self, attr: Any) -> Load:
        return self._rel(attr, None)

    def contains_eager(self, attr: Any, alias: Any = None) -> Load:
        return self._rel(attr, "contains_eager", alias=alias)

    # -- columns ------------------------------------------------------------------------
    def _cols(self, kind: str, attrs: tuple[Any, ...], raiseload: bool = False) -> Load:
        new = self._copy()
        keys = []
        for attr in attrs:
            if kind == "group":
                keys.append(attr)
                continue
            mapper, prop = _attr_parts(attr)
            if not getattr(prop, "is_column", False):
                raise exc.InvalidRequestError(
                    f"{kind}() applies to column attributes; {attr} is a relationship (use "
                    "noload()/raiseload()/lazyload() to control how it loads)."
                )
            if new._root is None:
                new._root = new._cur = mapper
            keys.append(prop.key)
        new.rules = self.rules + (_Rule(new._root, self._path, None, None,
                                        {"raiseload": raiseload}, (kind, tuple(keys))),)
        return new

    def load_only(self, *attrs: Any, raiseload: bool = False) -> Load:
        return self._cols("load_only", attrs, raiseload)

    def defer(self, attr: Any, raiseload: bool = False) -> Load:
        return self._cols("defer", (attr,), raiseload)

    def undefer(self, attr: Any) -> Load:
        return self._cols("undefer", (attr,))

    def undefer_group(self, name: str) -> Load:
        return self._cols("group", (name,))

    def options(self, *opts: Load) -> Load:
        """Sub-options relative to this option's path."""
        new = self._copy()
        for opt in opts:
            for rule in opt.rules:
                new.rules = new.rules + (rule._replace(root=self._root,
                                                       path=self._path + rule.path),)
        return new

    def __repr__(self) -> str:
        return f"<Load {len(self.rules)} rule(s)>"


def selectinload(attr: Any, recursion_depth: int | None = None) -> Load:
    """Load the relationship with one extra SELECT ... WHERE fk IN (...) per level."""
    return Load().selectinload(attr, recursion_depth)


def joinedload(attr: Any, innerjoin: bool | None = None) -> Load:
    """Load the relationship in the same SELECT through a LEFT OUTER JOIN."""
    return Load().joinedload(attr, innerjoin)


def subqueryload(attr: Any) -> Load:
    """Load the relationship with one extra SELECT embedding the original query."""
    return Load().subqueryload(attr)


def lazyload(attr: Any) -> Load:
    """Load the relationship on first access (one SELECT per object)."""
    return Load().lazyload(attr)


def immediateload(attr: Any) -> Load:
    """Load the relationship right after each object loads (one SELECT each)."""
    return Load().immediateload(attr)


def noload(attr: Any) -> Load:
    """Never load the relationship: empty collection / None."""
    return Load().noload(attr)


def raiseload(attr: Any, sql_only: bool = False) -> Load:
    """Raise on access instead of loading (``"*"`` for every relationship)."""
    return Load().raiseload(attr, sql_only)


def defaultload(attr: Any) -> Load:
    """Keep the relationship's default strategy; used to chain options below it."""
    return Load().defaultload(attr)


def contains_eager(attr: Any, alias: Any = None) -> Load:
    """The statement already joins the relationship's target: populate it from
    those columns."""
    return Load().contains_eager(attr, alias)


def load_only(*attrs: Any, raiseload: bool = False) -> Load:
    """Load only these column attributes (and the primary key) of the entity."""
    return Load().load_only(*attrs, raiseload=raiseload)


def defer(attr: Any, raiseload: bool = False) -> Load:
    """Don't load this column attribute with the object; load it on access."""
    return Load().defer(attr, raiseload)


def undefer(attr: Any) -> Load:
    """Load a deferred column attribute with the object."""
    return Load().undefer(attr)


def undefer_group(name: str) -> Load:
    """Load every deferred column of the group with the object."""
    return Load().undefer_group(name)


def selectin_polymorphic(*args: Any, **kw: Any) -> Load:
    raise exc.InvalidRequestError(
        "selectin_polymorphic() needs inheritance mapping, which docket doesn't support yet."
    )


# --- resolved form -------------------------------------------------------------------


class LoadNode:
    """The options in force for the objects at one path: relationship
    strategies by property, a wildcard strategy, column options, and the
    nodes of the paths below."""

    __slots__ = ("strategies", "children", "wildcard", "columns", "raise_cols", "depths")

    def __init__(self) -> None:
        #: self-referential relationship -> levels already loaded above (join_depth)
        self.depths: dict[Any, int] = {}
        self.strategies: dict[Any, tuple[str | None, dict[str, Any]]] = {}
        self.children: dict[Any, LoadNode] = {}
        self.wildcard: str | None = None
        self.columns: list[tuple[str, tuple[str, ...], bool]] = []
        self.raise_cols: frozenset[str] = frozenset()

    def strategy_for(self, prop: Any) -> tuple[str | None, dict[str, Any]]:
        found = self.strategies.get(prop)
        if found is not None and found[0] is not None:
            return found
        if self.wildcard is not None:
            return self.wildcard, {}
        return None, found[1] if found is not None else {}

    def child(self, prop: Any) -> LoadNode | None:
        """The node below ``prop``; a wildcard strategy carries down to it."""
        found = self.children.get(prop)
        if self.wildcard is None:
            return found
        if found is None:
            found = self.children[prop] = LoadNode()
        if found.wildcard is None:
            found.wildcard = self.wildcard
        return found

    def column_keys(self, mapper: Mapper) -> tuple[str, ...]:
        """The column attribute keys to load for ``mapper``'s objects here."""
        keys = list(mapper._eager_column_keys)
        raise_cols: set[str] = set()
        for kind, names, raising in self.columns:
            if kind == "load_only":
                keep = set(names) | set(mapper._pk_keys)
                if mapper._version_key:
                    keep.add(mapper._version_key)
                dropped = [k for k in mapper._column_attr_keys if k not in keep]
                keys = [k for k in mapper._column_attr_keys if k in keep]
                if raising:
                    raise_cols.update(dropped)
            elif kind == "defer":
                keys = [k for k in keys if k not in names]
                if raising:
                    raise_cols.update(names)
            elif kind == "undefer":
                keys += [k for k in names if k not in keys]
            elif kind == "group":
                keys += [p.key for p in mapper._props.values()
                         if getattr(p, "group", None) in names and p.key not in keys]
        self.raise_cols = frozenset(raise_cols)
        return tuple(keys)

    @property
    def affects_objects(self) -> bool:
        """Whether objects loaded here must remember this node (lazy loads
        or raising columns depend on it)."""
        return bool(self.strategies or self.children or self.wildcard or self.raise_cols
                    or self.depths)

    def deeper(self, prop: Any, levels: int, stop: bool) -> LoadNode:
        """A copy one level further down self-referential ``prop``; with
        ``stop`` the relationship loads lazily from there on."""
        out = LoadNode()
        out.strategies = dict(self.strategies)
        out.children = dict(self.children)
        out.wildcard = self.wildcard
        out.columns = list(self.columns)
        out.depths = {**self.depths, prop: levels}
        if stop:
            out.strategies[prop] = ("select", {})
        return out


def check_roots(options: tuple[Any, ...], mappers: list[Mapper]) -> None:
    """Every option must start at an entity of the statement.

    Raises:
        ArgumentError: an option's path starts at a class not selected.
    """
    for opt in options:
        for rule in getattr(opt, "rules", ()):
            root = rule.root
            if root is None or any(m is root or issubclass(m.class_, root.class_)
                                   for m in mappers):
                continue
            shown = ", ".join(m.class_.__name__ for m in mappers) or "(none)"
            raise exc.ArgumentError(
                f"Mapped class {root.class_.__name__} does not apply to any of the root "
                f"entities in this query ({shown}); start the option's path at one of them, "
                "e.g. selectinload(Parent.children).selectinload(Child.toys)."
            )


def build_tree(options: tuple[Any, ...], mapper: Mapper) -> LoadNode | None:
    """The LoadNode for entity ``mapper`` from a statement's options (None
    when no option applies to it)."""
    root: LoadNode | None = None
    for opt in options:
        if isinstance(opt, _NodeOption):
            if opt.mapper is mapper:
                root = opt.node if root is None else _merge(root, opt.node)
            continue
        for rule in getattr(opt, "rules", ()):
            if rule.root is not None and not (rule.root is mapper or issubclass(
                    mapper.class_, rule.root.class_)):
                continue
            if root is None:
                root = LoadNode()
            node = root
            for prop in rule.path:
                nxt = node.children.get(prop)
                if nxt is None:
                    nxt = node.children[prop] = LoadNode()
                    node.strategies.setdefault(prop, (None, {}))
                node = nxt
            if rule.columns is not None:
                node.columns.append((rule.columns[0], rule.columns[1],
                                     bool(rule.opts.get("raiseload"))))
            elif rule.prop is None:
                node.wildcard = rule.strategy
            else:
                node.strategies[rule.prop] = (rule.strategy, rule.opts)
                node.children.setdefault(rule.prop, LoadNode())
    return root


def _merge(a: LoadNode, b: LoadNode) -> LoadNode:
    out = LoadNode()
    out.strategies = {**a.strategies, **b.strategies}
    out.wildcard = b.wildcard or a.wildcard
    out.columns = a.columns + b.columns
    out.children = dict(a.children)
    for k, v in b.children.items():
        out.children[k] = _merge(out.children[k], v) if k in out.children else v
    return out


class _NodeOption:
    """Internal option carrying an already-resolved LoadNode (for the
    statements eager and lazy loaders emit)."""

    rules = ()

    def __init__(self, mapper: Mapper, node: LoadNode) -> None:
        self.mapper = mapper
        self.node = node
