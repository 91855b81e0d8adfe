"""Relationship loader strategies.

* on access (``load_on_access``): ``select`` (lazy: one SELECT, but a
  many-to-one whose target is already in the identity map needs none),
  ``raise`` / ``raise_on_sql``, ``noload``; new objects get an empty
  collection or None without SQL; a detached object raises
  DetachedInstanceError.
* after a query (``post_load``): ``selectin`` (one ``SELECT ... WHERE key IN
  (...)`` per relationship and level, in chunks of 500 keys), ``subquery``
  (the same, keyed by a subquery of the original statement) and
  ``immediate`` (a lazy load per object, right away).
* ``joined`` and ``contains_eager`` are part of the main statement (see
  :class:`JoinedEager`, set up by ``docket.orm.loading``).

Which strategy applies to an object's relationship: the statement's loader
options (``state.load_ctx``, a LoadNode), else the relationship's ``lazy``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from docket import exc
from docket.orm.state import NO_VALUE, InstanceState
from docket.orm.strategy_options import LoadNode, _NodeOption

if TYPE_CHECKING:
    from docket.orm.relationships import RelationshipProperty
    from docket.orm.session import Session

__all__ = ["JoinedEager", "NOT_FOUND", "identity_lookup", "load_on_access", "post_load"]

NOT_FOUND: Any = object()
_CHUNK = 500
_EAGER_AFTER = ("selectin", "subquery", "immediate")


def _desc(obj: Any) -> str:
    return f"<{type(obj).__name__} at 0x{id(obj):x}>"


def effective(prop: RelationshipProperty, node: LoadNode | None) -> tuple[str, LoadNode | None]:
    """(strategy, options below) for ``prop`` under ``node``."""
    if node is None or prop._dynamic:
        return prop.lazy, None  # (write-only collections are never loaded whole)
    strategy, _opts = node.strategy_for(prop)
    return strategy or prop.lazy, node.child(prop)


def load_on_access(prop: RelationshipProperty, state: InstanceState, obj: Any) -> Any:
    """The value of an unloaded relationship attribute, loading it if the
    strategy allows.

    Raises:
        DetachedInstanceError: the object is detached and the value unloaded.
        InvalidRequestError: the strategy is ``raise`` (or ``raise_on_sql``
            and SQL would be needed).
    """
    prop.mapper  # noqa: B018 - configure
    if prop._dynamic:
        from docket.orm.dynamic import facade

        return facade(prop, state, obj)
    strategy, sub = effective(prop, state.load_ctx)
    if state.ident is None:
        if prop.uselist:
            return prop._init_collection(state)
        return None
    name = f"{prop.parent.class_.__name__}.{prop.key}"
    if strategy == "noload":
        prop._set_committed(state, [] if prop.uselist else None)
        return obj.__dict__[prop.key]
    if strategy == "raise":
        raise exc.InvalidRequestError(
            f"'{name}' is not available due to lazy='raise'; load it in the query (e.g. "
            f"selectinload({name})) or change the loader option."
        )
    session = state.session
    if session is None:
        raise exc.DetachedInstanceError(
            f"Parent instance {_desc(obj)} is not bound to a Session; lazy load operation of "
            f"attribute '{prop.key}' cannot proceed. Load the relationship before the session "
            "closes (e.g. selectinload), or add the object to a Session."
        )
    if prop._m2o_keys is not None:
        found = identity_lookup(prop, state, obj, allow_sql=True)
        if found is not NOT_FOUND:
            prop._set_committed(state, found)
            return found
    if strategy == "raise_on_sql":
        raise exc.InvalidRequestError(
            f"'{name}' is not available due to lazy='raise_on_sql': loading it needs SQL. "
            f"Load it in the query (e.g. selectinload({name}))."
        )
    value = lazy_load(prop, state, obj, session, sub)
    prop._set_committed(state, value)
    return obj.__dict__[prop.key]


def identity_lookup(prop: RelationshipProperty, state: InstanceState, obj: Any,
                    allow_sql: bool = False) -> Any:
    """A many-to-one target found without SQL: the object in the identity
    map, None when the foreign key is NULL, or NOT_FOUND."""
    keys = prop._m2o_keys
    if keys is None:
        return NOT_FOUND
    d = obj.__dict__
    values = []
    for k in keys:
        v = d.get(k, NO_VALUE)
        if v is NO_VALUE:
            if not allow_sql:
                return NOT_FOUND
            v = getattr(obj, k)
        if v is None:
            return None
        values.append(v)
    session = state.session
    if session is None:
        return NOT_FOUND
    target = prop.mapper
    ident = values[0] if len(values) == 1 else tuple(values)
    found = session._identity_map._get_state(target, ident, state.identity_token)
    if found is None or found.flags & 5:  # DELETED | EXPIRED
        return NOT_FOUND
    found_obj = found()
    return NOT_FOUND if found_obj is None else found_obj


def _lazy_stmt(prop: RelationshipProperty) -> Any:
    stmt = prop.__dict__.get("_lazy_stmt")
    if stmt is None:
        from docket.sql.selectable import Select

        crit, _binds = prop._lazy_clause()
        stmt = Select(prop.mapper.class_).where(crit)
        if prop.order_by:
            stmt = stmt.order_by(*prop.order_by)
        prop.__dict__["_lazy_stmt"] = stmt
    return stmt


def lazy_load(prop: RelationshipProperty, state: InstanceState, obj: Any, session: Session,
              sub: LoadNode | None) -> Any:
    """One SELECT for the related object(s) of ``obj``."""
    _crit, binds = prop._lazy_clause()
    params = {}
    d = obj.__dict__
    for name, key in binds:
        v = d.get(key, NO_VALUE)
        if v is NO_VALUE:
            v = getattr(obj, key)
        if v is None:
            return [] if prop.uselist else None
        params[name] = v
    stmt = _lazy_stmt(prop)
    if sub is not None:
        stmt = stmt.options(_NodeOption(prop.mapper, sub))
    objs = _scalars(session, stmt, params)
    if prop.uselist:
        return objs
    return objs[0] if objs else None


def _scalars(session: Session, stmt: Any, params: Any) -> list[Any]:
    """The objects of an internal ORM SELECT, each once (joined eager loads
    below may repeat them)."""
    result = session.execute(stmt, params)
    result._require_unique = None
    seen: set[int] = set()
    out = []
    for obj in result.scalars():
        if id(obj) not in seen:
            seen.add(id(obj))
            out.append(obj)
    return out


# --- after a query ---------------------------------------------------------------------------


def post_load(session: Session, mapper: Any, node: LoadNode | None, objs: Sequence[Any],
              populate_existing: bool, origin: Any, overrides: dict[Any, str] | None = None,
              skip: frozenset[Any] = frozenset()) -> None:
    """Run the after-query loaders (selectin / subquery / immediate) of
    ``mapper``'s relationships for the objects a query returned, and remember
    options on the objects for later lazy loads."""
    if not objs:
        return
    if node is not None and node.affects_objects:
        from docket.orm.state import STATE_KEY

        for o in objs:
            o.__dict__[STATE_KEY].load_ctx = node
    rels = mapper._eager_candidates if node is None else mapper._rel_props
    for prop in rels:
        if prop in skip:
            continue
        strategy, sub = effective(prop, node)
        if overrides and prop in overrides:
            strategy = overrides[prop]
        if strategy not in _EAGER_AFTER:
            continue
        todo = _unloaded(prop, objs, populate_existing)
        if not todo:
            continue
        if prop.join_depth is not None and prop.mapper is mapper:
            level = (node.depths.get(prop, 0) if node is not None else 0) + 1
            sub = (sub or LoadNode()).deeper(prop, level, level >= prop.join_depth)
        if strategy == "immediate":
            for state, o in todo:
                if prop.key not in o.__dict__:
                    prop._set_committed(state, lazy_load(prop, state, o, session, sub))
            continue
        _in_load(session, prop, todo, sub, origin if strategy == "subquery" else None)


def _unloaded(prop: RelationshipProperty, objs: Sequence[Any], populate_existing: bool
              ) -> list[tuple[InstanceState, Any]]:
    from docket.orm.state import STATE_KEY

    key = prop.key
    seen: set[int] = set()
    out = []
    for o in objs:
        if o is None or id(o) in seen:
            continue
        seen.add(id(o))
        d = o.__dict__
        if populate_existing or key not in d:
            out.append((d[STATE_KEY], o))
    return out


def _in_load(session: Session, prop: RelationshipProperty,
             todo: list[tuple[InstanceState, Any]], sub: LoadNode | None,
             subquery_of: Any) -> None:
    """selectin / subquery loading of ``prop`` for ``todo``."""
    from docket.sql.elements import tuple_
    from docket.sql.selectable import Select

    target = prop.mapper
    options = (_NodeOption(target, sub),) if sub is not None else ()
    if prop._m2o_keys is not None and subquery_of is None:
        keys = prop._m2o_keys
        waiting: dict[Any, list[InstanceState]] = {}
        for state, o in todo:
            found = identity_lookup(prop, state, o)
            if found is not NOT_FOUND:
                prop._set_committed(state, found)
                continue
            d = o.__dict__
            vals = tuple(d.get(k) for k in keys)
            waiting.setdefault(vals[0] if len(vals) == 1 else vals, []).append(state)
        if not waiting:
            return
        pk = list(target.primary_key)
        idents = list(waiting)
        loaded: dict[Any, Any] = {}
        for i in range(0, len(idents), _CHUNK):
            chunk = idents[i:i + _CHUNK]
            crit = pk[0].in_(chunk) if len(pk) == 1 else tuple_(*pk).in_(chunk)
            stmt = Select(target.class_).where(crit).options(*options)
            for obj in _scalars(session, stmt, None):
                state = obj.__dict__["_docket_state"]
                loaded[state.ident] = obj
        for ident, states in waiting.items():
            value = loaded.get(ident)
            for state in states:
                prop._set_committed(state, value)
        return
    # keyed by this side's columns: one-to-many, many-to-many, or a many-to-one
    # loaded through a subquery / a non-primary-key reference
    local_keys = prop._local_keys
    remote_cols = prop._remote_cols
    groups: dict[Any, list[InstanceState]] = {}
    for state, o in todo:
        d = o.__dict__
        vals = tuple(d[k] if k in d else getattr(o, k) for k in local_keys)
        if None in vals:
            prop._set_committed(state, [] if prop.uselist else None)
            continue
        groups.setdefault(vals if len(vals) > 1 else vals[0], []).append(state)
    if not groups:
        return
    results: dict[Any, list[Any]] = {}
    base = Select(target.class_, *remote_cols)
    if prop.secondary is not None:
        base = base.select_from(target.local_table).join(prop.secondary, prop.secondaryjoin)
    if prop.order_by:
        base = base.order_by(*prop.order_by)
    if options:
        base = base.options(*options)
    n = len(remote_cols)
    chunks: list[Any]
    if subquery_of is not None:
        chunks = [None]
    else:
        idents = list(groups)
        chunks = [idents[i:i + _CHUNK] for i in range(0, len(idents), _CHUNK)]
    for chunk in chunks:
        if chunk is None:
            inner = _subquery_keys(subquery_of[0], prop)
            crit = remote_cols[0].in_(inner) if n == 1 else tuple_(*remote_cols).in_(inner)
        else:
            crit = remote_cols[0].in_(chunk) if n == 1 else tuple_(*remote_cols).in_(chunk)
        result = session.execute(base.where(crit),
                                 subquery_of[1] if chunk is None else None)
        # rows repeat only under joined collection loads below (or repeated
        # association rows): only then is each bucket checked for the object
        repeats = result._require_unique is not None or prop.secondary is not None
        result._require_unique = None  # (filtered here)
        # the rows as indexable tuples: the raw ones when a Row would add nothing
        rows = result._raw_all() if result._meta._plain and result._unique is None else (
            result.all())
        for row in rows:
            key = row[1] if n == 1 else tuple(row[1:])
            bucket = results.get(key)
            if bucket is None:
                results[key] = [row[0]]
            elif not repeats or not any(x is row[0] for x in bucket):
                bucket.append(row[0])
    for key, states in groups.items():
        found = results.get(key, [])
        value = found if prop.uselist else (found[0] if found else None)
        for state in states:
            prop._set_committed(state, value)


def _subquery_keys(stmt: Any, prop: RelationshipProperty) -> Any:
    """The original statement reduced to this side's key columns."""
    from docket.orm.loading import compile_orm_select, is_orm_statement

    core = compile_orm_select(stmt).statement if is_orm_statement(stmt) else stmt
    inner = core._generate()
    cols = tuple(prop._local_cols)
    inner._raw_columns = cols
    inner._raw_entities = cols
    if inner._limit is None and inner._offset is None:
        inner._order_by = ()
    return inner


# --- joined eager loading (rows of the main statement) -----------------------------------


class JoinedEager:
    """A relationship loaded from extra columns of the main statement
    (``joined`` / ``contains_eager``): which columns, the target's row loader,
    and the eager loads nested below it.  Built per compiled plan; the
    per-execution bookkeeping lives in :meth:`runner`."""

    __slots__ = ("prop", "keys", "start", "node", "children", "post_node")

    def __init__(self, prop: RelationshipProperty, keys: tuple[str, ...], start: int,
                 node: LoadNode | None) -> None:
        self.prop = prop
        self.keys = keys
        self.start = start
        self.node = node
        self.children: list[JoinedEager] = []

    def runner(self, session: Session, populate_existing: bool) -> _JoinedRun:
        from docket.orm.loading import _make_loader

        loader = _make_loader(session, self.prop.mapper, self.keys, self.start,
                              populate_existing)
        return _JoinedRun(self, loader, [c.runner(session, populate_existing)
                                         for c in self.children], populate_existing)


class _JoinedRun:
    """One execution's state for a JoinedEager: the collections being
    filled, by parent state (None: the parent's value was already loaded)."""

    __slots__ = ("eager", "loader", "children", "populate_existing", "filling", "loaded")

    def __init__(self, eager: JoinedEager, loader: Any, children: list[_JoinedRun],
                 populate_existing: bool) -> None:
        self.eager = eager
        self.loader = loader
        self.children = children
        self.populate_existing = populate_existing
        self.filling: dict[InstanceState, list[Any] | None] = {}
        self.loaded: list[Any] = []

    def process(self, row: Sequence[Any], parent: Any) -> None:
        prop = self.eager.prop
        state = parent.__dict__["_docket_state"]
        filling = self.filling
        if state in filling:
            bucket = filling[state]
        else:
            if prop.key in parent.__dict__ and not self.populate_existing:
                bucket = filling[state] = None
            else:
                bucket = filling[state] = []
        child = self.loader(row)
        if child is None:
            return
        if bucket is not None and not any(x is child for x in bucket):
            bucket.append(child)
            self.loaded.append(child)
        for run in self.children:
            run.process(row, child)

    def reset(self) -> None:
        """Start afresh (the next chunk of a yield_per result)."""
        self.filling = {}
        self.loaded = []
        for run in self.children:
            run.reset()

    def finish(self, session: Session, origin: Any) -> None:
        prop = self.eager.prop
        for state, bucket in self.filling.items():
            if bucket is None:
                continue
            prop._set_committed(state, bucket if prop.uselist else (bucket[0] if bucket else None))
        for run in self.children:
            run.finish(session, origin)
        post_load(session, prop.mapper, self.eager.node, self.loaded, self.populate_existing,
                  origin, skip=frozenset(c.eager.prop for c in self.children))
