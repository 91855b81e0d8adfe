"""Rows -> objects: ORM SELECT compilation and instance loading.

``compile_orm_select`` turns a ``select()`` naming mapped classes into a
Core SELECT of their columns plus a plan of *entities*; the plan is cached
per statement object.  ``instances`` runs the plan over raw DB-API rows.

The per-entity loader (:func:`_make_loader`) is the load hot path: for each
row it looks the primary key up in the session's identity map and either
returns the object already there (never overwriting pending changes, unless
``populate_existing``) or creates one with ``cls.__new__``, writes the
column values straight into its ``__dict__`` and attaches a new
InstanceState -- no descriptor, no per-attribute Python call.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from docket import exc
from docket.engine.result import (
    ChunkedIteratorResult,
    IteratorResult,
    ResultMetaData,
)
from docket.orm.state import EXPIRED, STATE_KEY, InstanceState
from docket.sql.selectable import Select

if TYPE_CHECKING:
    from docket.engine.base import Connection
    from docket.orm.mapper import Mapper
    from docket.orm.session import Session

__all__ = ["ORMCompileState", "compile_orm_select", "instances", "is_orm_statement"]


def _mapper_of(entity: Any) -> Mapper | None:
    mapper = getattr(entity, "__mapper__", None)
    if mapper is not None and isinstance(entity, type):
        return mapper  # type: ignore[no-any-return]
    if getattr(entity, "is_mapper", False):
        return entity  # type: ignore[no-any-return]
    return None


def is_orm_statement(statement: Any) -> bool:
    """True when a statement names mapped classes or attributes."""
    for e in getattr(statement, "_raw_entities", ()):
        if _mapper_of(e) is not None or getattr(e, "is_attribute", False):
            return True
    raw_table = getattr(statement, "_raw_table", None)
    return raw_table is not None and _mapper_of(raw_table) is not None


class _MapperEntity:
    """A mapped class in the SELECT list: its loaded columns and loader."""

    __slots__ = ("mapper", "keys", "columns", "start", "name")

    def __init__(self, mapper: Mapper, keys: Sequence[str], start: int) -> None:
        self.mapper = mapper
        self.keys = tuple(keys)
        self.columns = [mapper._key_to_col[k] for k in keys]
        self.start = start
        self.name = mapper.class_.__name__


class _ColumnEntity:
    """A column expression (or mapped attribute) in the SELECT list."""

    __slots__ = ("column", "start", "name")

    def __init__(self, column: Any, start: int, name: str) -> None:
        self.column = column
        self.start = start
        self.name = name


class ORMCompileState:
    """The Core statement an ORM select runs, and how to turn its rows into
    entities."""

    __slots__ = ("statement", "entities", "single_entity", "__weakref__")

    def __init__(self, statement: Any, entities: list[Any]) -> None:
        self.statement = statement
        self.entities = entities
        self.single_entity = len(entities) == 1


_compiled_plans: weakref.WeakKeyDictionary[Any, ORMCompileState] = weakref.WeakKeyDictionary()


def compile_orm_select(stmt: Select) -> ORMCompileState:
    """The Core SELECT for an ORM select, with its entity plan (cached per
    statement object; statements are immutable)."""
    plan = _compiled_plans.get(stmt)
    if plan is not None:
        return plan
    columns: list[Any] = []
    entities: list[Any] = []
    for raw, core in zip(stmt._raw_entities, stmt._raw_columns):
        mapper = _mapper_of(raw)
        if mapper is not None:
            if mapper.registry is not None:
                mapper.registry.configure()
            keys = mapper._eager_column_keys
            entities.append(_MapperEntity(mapper, keys, len(columns)))
            columns.extend(mapper._key_to_col[k] for k in keys)
        else:
            name = getattr(raw, "key", None) or getattr(core, "key", None) or f"col_{len(columns)}"
            entities.append(_ColumnEntity(core, len(columns), name))
            columns.append(core)
    core_stmt = stmt._generate()
    core_stmt._raw_columns = tuple(columns)
    core_stmt._raw_entities = tuple(columns)
    plan = ORMCompileState(core_stmt, entities)
    _compiled_plans[stmt] = plan
    return plan


def _make_loader(session: Session, mapper: Mapper, keys: Sequence[str], start: int,
                 populate_existing: bool) -> Callable[[Sequence[Any]], Any]:
    """The function turning one row into one object of ``mapper``."""
    cls = mapper.class_
    new = cls.__new__
    idmap = session._identity_map._map_for(mapper)
    sid = session.hash_key
    make_state = InstanceState
    pk_keys = mapper._pk_keys
    positions = [start + keys.index(k) for k in pk_keys]
    single = len(positions) == 1
    pk_pos = positions[0]
    width = len(keys)
    end = start + width
    whole_row = start == 0
    keys_t = tuple(keys)
    refresh = _make_refresher(mapper, keys_t, start, populate_existing)

    def load(row: Sequence[Any]) -> Any:
        if single:
            ident = row[pk_pos]
            if ident is None:
                return None
        else:
            ident = tuple([row[p] for p in positions])
            if None in ident:
                return None
        state = idmap.get(ident)
        if state is not None:
            obj = state()
            if obj is not None:
                if populate_existing or state.flags & EXPIRED or state.expired_attributes:
                    refresh(state, obj, row)
                return obj
        obj = new(cls)
        d = obj.__dict__
        if whole_row and len(row) == width:
            d.update(zip(keys_t, row))
        else:
            d.update(zip(keys_t, row[start:end]))
        state = make_state(obj, mapper)
        state.ident = ident
        state.session_id = sid
        d[STATE_KEY] = state
        idmap[ident] = state
        return obj

    return load


def _make_refresher(mapper: Mapper, keys: tuple[str, ...], start: int,
                    populate_existing: bool) -> Callable[[InstanceState, Any, Sequence[Any]], None]:
    def refresh(state: InstanceState, obj: Any, row: Sequence[Any]) -> None:
        d = obj.__dict__
        committed = state.committed_state or {}
        for i, k in enumerate(keys, start):
            if populate_existing:
                if k in committed:
                    del committed[k]
                d[k] = row[i]
            elif k not in d:
                d[k] = row[i]
        if populate_existing and state.committed_state is not None and not committed:
            state.committed_state = None
            state.modified = False
        state.flags &= ~EXPIRED
        state.expired_attributes = None

    return refresh


def _row_converter(compiled: Any) -> Callable[[Sequence[Any]], Sequence[Any]] | None:
    procs = compiled._result_processors
    if not any(procs):
        return None
    pairs = [(i, p) for i, p in enumerate(procs) if p is not None]

    def convert(row: Sequence[Any]) -> Sequence[Any]:
        out = list(row)
        for i, p in pairs:
            v = out[i]
            if v is not None:
                out[i] = p(v)
        return out

    return convert


def _row_builder(session: Session, plan: ORMCompileState,
                 populate_existing: bool) -> Callable[[Sequence[Any]], tuple[Any, ...]]:
    getters: list[Callable[[Sequence[Any]], Any]] = []
    for ent in plan.entities:
        if isinstance(ent, _MapperEntity):
            getters.append(_make_loader(session, ent.mapper, ent.keys, ent.start,
                                        populate_existing))
        else:
            pos = ent.start
            getters.append(lambda row, pos=pos: row[pos])
    if len(getters) == 1:
        g = getters[0]
        return lambda row: (g(row),)
    return lambda row: tuple([g(row) for g in getters])


def instances(session: Session, conn: Connection, stmt: Select, params: Any,
              options: dict[str, Any]) -> Any:
    """Execute an ORM select and return a Result of entity rows."""
    plan = compile_orm_select(stmt)
    core = plan.statement
    plist = [params] if isinstance(params, dict) else list(params or [])
    compiled, extracted = conn._compile(core, None, False)
    cursor_result = conn._execute_compiled(compiled, plist, extracted, options, core)
    cursor = cursor_result.cursor
    convert = _row_converter(compiled)
    build = _row_builder(session, plan, bool(options.get("populate_existing")))
    meta = ResultMetaData([e.name for e in plan.entities])
    yield_per = options.get("yield_per")
    if yield_per:
        def chunks(size: int | None) -> Iterator[list[Any]]:
            n = size or yield_per
            try:
                while True:
                    raw = cursor.fetchmany(n)
                    if not raw:
                        break
                    if convert is not None:
                        raw = [convert(r) for r in raw]
                    yield [build(r) for r in raw]
            finally:
                cursor.close()

        result: Any = ChunkedIteratorResult(meta, chunks)
        return result.yield_per(yield_per)
    raw = cursor.fetchall()
    cursor.close()
    if convert is not None:
        raw = [convert(r) for r in raw]
    return IteratorResult(meta, [build(r) for r in raw])


# --- loading by primary key / refreshing --------------------------------------------


def _pk_select(mapper: Mapper, keys: Sequence[str]) -> Select:
    cache_key = ("pk_select", tuple(keys))
    stmt = mapper._loader_cache.get(cache_key)
    if stmt is None:
        from docket.sql.elements import and_, bindparam

        table = mapper.local_table
        crit = and_(*[
            col == bindparam(f"pk_{i}", type_=col.type)
            for i, col in enumerate(mapper.primary_key)
        ])
        stmt = Select(*[mapper._key_to_col[k] for k in keys]).select_from(table).where(crit)
        mapper._loader_cache[cache_key] = stmt
    return stmt


def load_by_pk(session: Session, mapper: Mapper, pk: Sequence[Any], *,
               keys: Sequence[str] | None = None, populate_existing: bool = False,
               with_for_update: Any = None) -> Any:
    """SELECT one object by primary key into the session; None if no row."""
    keys = keys or mapper._eager_column_keys
    stmt = _pk_select(mapper, keys)
    if with_for_update:
        opts = with_for_update if isinstance(with_for_update, dict) else {}
        stmt = stmt.with_for_update(**opts)
    conn = session._connection_for_mapper(mapper)
    params = {f"pk_{i}": v for i, v in enumerate(pk)}
    compiled, extracted = conn._compile(stmt, None, False)
    result = conn._execute_compiled(compiled, [params], extracted, {}, stmt)
    cursor = result.cursor
    row = cursor.fetchone()
    cursor.close()
    if row is None:
        return None
    convert = _row_converter(compiled)
    if convert is not None:
        row = convert(row)
    return _make_loader(session, mapper, keys, 0, populate_existing)(row)


def load_attributes(session: Session, state: InstanceState, keys: Sequence[str]) -> None:
    """Refresh ``keys`` of a persistent object from its row.

    Raises:
        ObjectDeletedError: the row no longer exists.
    """
    mapper = state.mapper
    obj = state()
    if obj is None:
        return
    pk = state.identity
    assert pk is not None
    stmt = _pk_select(mapper, keys)
    conn = session._connection_for_mapper(mapper)
    params = {f"pk_{i}": v for i, v in enumerate(pk)}
    compiled, extracted = conn._compile(stmt, None, False)
    result = conn._execute_compiled(compiled, [params], extracted, {}, stmt)
    cursor = result.cursor
    row = cursor.fetchone()
    cursor.close()
    if row is None:
        raise exc.ObjectDeletedError(
            f"Instance <{mapper.class_.__name__} at 0x{id(obj):x}> has been deleted, or its "
            "row is otherwise not present."
        )
    convert = _row_converter(compiled)
    if convert is not None:
        row = convert(row)
    d = obj.__dict__
    committed = state.committed_state
    for k, v in zip(keys, row):
        if committed is not None and k in committed:
            continue  # never overwrite a pending change
        d[k] = v
