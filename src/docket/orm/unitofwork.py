"""The unit of work: what a flush writes, in what order, and the
bookkeeping after it succeeds or fails.

Order: mappers are sorted topologically by the foreign keys between their
tables (``docket._util.topological``); INSERTs and UPDATEs run parents
first, DELETEs children first.  Relationship dependencies (one-to-many,
many-to-one, many-to-many, self-referential rows) add edges to the same
sort through :meth:`UOWTransaction.add_dependency`.

Atomicity: nothing about the session's bookkeeping changes until every
statement succeeded.  Values written into objects during execution
(generated keys, defaults, fetched server values) are logged in
``populated``; on failure they are removed again and the innermost session
transaction is rolled back, leaving the objects as they were before the
flush.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from docket import exc
from docket._util import topological
from docket.orm import persistence
from docket.orm.state import DELETED, NO_VALUE, WAS_DELETED, InstanceState

if TYPE_CHECKING:
    from docket.orm.mapper import Mapper
    from docket.orm.session import Session
    from docket.orm.transaction import SessionTransaction

__all__ = ["UOWTransaction", "flush"]

_INSERTED = 8  # state flag; see session._INSERTED


class UOWTransaction:
    """One flush: the objects it writes and the undo log of what it populated."""

    def __init__(self, session: Session, txn: SessionTransaction) -> None:
        self.session = session
        self.txn = txn
        self.inserts: dict[Mapper, list[tuple[InstanceState, Any]]] = {}
        self.updates: dict[Mapper, list[tuple[InstanceState, Any]]] = {}
        self.deletes: dict[Mapper, list[tuple[InstanceState, Any]]] = {}
        self.clean: list[InstanceState] = []
        # (dict, key, previous value or NO_VALUE) for every value the flush wrote
        self.populated: list[tuple[dict[str, Any], str, Any]] = []
        self.expire: list[tuple[InstanceState, list[str]]] = []
        self.rekeyed: list[InstanceState] = []
        self.dependencies: set[tuple[Mapper, Mapper]] = set()

    # -- registration ---------------------------------------------------------------
    def register_insert(self, state: InstanceState, obj: Any) -> None:
        self.inserts.setdefault(state.mapper, []).append((state, obj))

    def register_update(self, state: InstanceState, obj: Any) -> None:
        self.updates.setdefault(state.mapper, []).append((state, obj))

    def register_delete(self, state: InstanceState, obj: Any) -> None:
        self.deletes.setdefault(state.mapper, []).append((state, obj))

    def add_dependency(self, parent: Mapper, child: Mapper) -> None:
        """``parent``'s rows must be written before ``child``'s (and deleted after)."""
        if parent is not child:
            self.dependencies.add((parent, child))

    # -- logs used by persistence ---------------------------------------------------------
    def populate(self, d: dict[str, Any], key: str, value: Any) -> None:
        self.populated.append((d, key, d.get(key, NO_VALUE)))
        d[key] = value

    def expire_after(self, state: InstanceState, keys: Sequence[str]) -> None:
        if keys:
            self.expire.append((state, list(keys)))

    def pk_changed(self, state: InstanceState) -> None:
        self.rekeyed.append(state)

    # -- execution --------------------------------------------------------------------
    def mapper_order(self) -> list[Mapper]:
        mappers = list(dict.fromkeys([*self.inserts, *self.updates, *self.deletes]))
        edges = set(self.dependencies)
        tables = {m.local_table: m for m in mappers}
        for m in mappers:
            for fk in getattr(m.local_table, "foreign_keys", ()):
                try:
                    target = fk.column.table
                except exc.DocketError:
                    continue
                parent = tables.get(target)
                if parent is not None and parent is not m:
                    edges.add((parent, m))
        try:
            return topological.sort(mappers, edges)
        except exc.CircularDependencyError:
            # tables referencing each other: the relationship layer breaks such
            # cycles per row; at table level keep the declared order
            return mappers

    def execute(self) -> None:
        session = self.session
        order = self.mapper_order()
        for mapper in order:
            ins = self.inserts.get(mapper, [])
            upd = self.updates.get(mapper, [])
            if ins or upd:
                persistence.save_obj(self, mapper, ins, upd,
                                     session._connection_for_mapper(mapper))
        for mapper in reversed(order):
            dels = self.deletes.get(mapper)
            if dels:
                persistence.delete_obj(self, mapper, dels, session._connection_for_mapper(mapper))

    def undo(self) -> None:
        """Put back every value the failed flush wrote into an object."""
        for d, key, previous in reversed(self.populated):
            if previous is NO_VALUE:
                d.pop(key, None)
            else:
                d[key] = previous
        self.populated.clear()

    def finalize(self) -> None:
        """Every statement succeeded: move objects to their new states."""
        session = self.session
        txn = self.txn
        idmap = session._identity_map
        modified = session._modified
        sid = session.hash_key
        for mapper, items in self.inserts.items():
            pk_keys = mapper._pk_keys
            single = len(pk_keys) == 1
            pk0 = pk_keys[0]
            for state, obj in items:
                d = obj.__dict__
                state.ident = d[pk0] if single else tuple(d[k] for k in pk_keys)
                state.session_id = sid
                state.committed_state = None
                state.modified = False
                state.flags |= _INSERTED
                idmap._add(state)
                session._new.pop(state, None)
                modified.pop(state, None)
                txn._new[state] = obj
        for state in self.rekeyed:
            idmap._discard(state)
            d = state.dict
            keys = state.mapper._pk_keys
            state.ident = d[keys[0]] if len(keys) == 1 else tuple(d[k] for k in keys)
            idmap._replace(state)
        for items in self.updates.values():
            for state, _obj in items:
                state.committed_state = None
                state.modified = False
                modified.pop(state, None)
                txn._dirty.add(state)
        for state in self.clean:
            state.committed_state = None
            state.modified = False
            modified.pop(state, None)
        for items in self.deletes.values():
            for state, obj in items:
                idmap._discard(state)
                session._deleted.pop(state, None)
                modified.pop(state, None)
                state.flags |= DELETED | WAS_DELETED
                txn._deleted[state] = obj
        for state, keys in self.expire:
            session._expire_state(state, keys)


def _selected(states: Any, only: set[InstanceState] | None) -> list[tuple[InstanceState, Any]]:
    if only is None:
        return list(states.items())
    return [(s, o) for s, o in states.items() if s in only]


def flush(session: Session, objects: Sequence[Any] | None = None) -> None:
    """Flush the session's changes (see the module docstring)."""
    txn = session._autobegin_t()
    txn._check_usable()
    only: set[InstanceState] | None = None
    if objects is not None:
        from docket.orm.state import instance_state

        only = {instance_state(o) for o in objects}
    uow = UOWTransaction(session, txn)
    sid = session.hash_key
    for state, obj in _selected(session._new, only):
        uow.register_insert(state, obj)
    deleted = session._deleted
    for state, obj in _selected(session._deleted, only):
        uow.register_delete(state, obj)
    for state, obj in _selected(session._modified, only):
        if state.ident is None or state in deleted or state.session_id != sid:
            continue
        if state.flags & DELETED:
            continue
        if state.committed_state:
            uow.register_update(state, obj)
        else:
            uow.clean.append(state)
    if not (uow.inserts or uow.updates or uow.deletes):
        uow.finalize()
        return
    try:
        uow.execute()
    except BaseException as e:
        uow.undo()
        current = session._transaction
        if current is not None and current._state.value == "active":
            current.rollback(_capture_exception=e)
        raise
    uow.finalize()
