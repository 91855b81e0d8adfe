"""The unit of work: what a flush writes, in what order, and the
bookkeeping after it succeeds or fails.

Order: mappers are sorted topologically by the foreign keys between their
tables (``docket._util.topological``); per mapper, INSERTs then UPDATEs run
parents first, and DELETEs children first after all saves.  Relationship
dependencies (one-to-many, many-to-one, self-referential rows) add edges to
the same sort: :meth:`UOWTransaction.add_syncs` records the mappers of every
foreign-key copy as it is decided, and the rows' own order is derived from
those copies only where it matters (self-referential tables, mapper cycles).

Row switch (as SQLAlchemy): a new object whose primary key equals that of an
object deleted in the same flush becomes an UPDATE of that row instead of a
DELETE plus an INSERT.

Atomicity: nothing about the session's bookkeeping changes until every
statement succeeded.  Values written into objects during execution
(generated keys, defaults, fetched server values) are logged in
``populated``; on failure they are put back, then the innermost session
transaction is rolled back (``rollback(_capture_exception=e)``), which
restores the session's in-memory state and leaves it raising
PendingRollbackError until ``Session.rollback()``.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from docket import exc
from docket._util import topological
from docket.orm import persistence
from docket.orm.state import DELETED, NO_VALUE, WAS_DELETED, InstanceState, instance_state
from docket.orm.table_plan import state_str
from docket.sql.elements import ClauseElement

if TYPE_CHECKING:
    from docket.orm.mapper import Mapper
    from docket.orm.session import Session
    from docket.orm.transaction import SessionTransaction

__all__ = ["UOWTransaction", "flush"]

_INSERTED = 8  # state flag; see session._INSERTED
_PLAIN = frozenset({int, str, float, bool, bytes})  # key types that are never SQL

Work = list[tuple[InstanceState, Any]]


def _append(work: dict[Mapper, Work], state: InstanceState, obj: Any) -> None:
    """Add ``(state, obj)`` to its mapper's list (no list allocated per call)."""
    items = work.get(state.mapper)
    if items is None:
        work[state.mapper] = [(state, obj)]
    else:
        items.append((state, obj))


class UOWTransaction:
    """One flush: the objects it writes and the undo log of what it populated.

    Invariants: a state is in at most one of ``inserts``/``updates``/
    ``deletes``/``clean``; ``row_switches`` maps a new state (listed in
    ``updates``) to the deleted state whose row it takes over.
    """

    def __init__(self, session: Session, txn: SessionTransaction) -> None:
        self.session = session
        self.txn = txn
        self.inserts: dict[Mapper, Work] = {}
        self.updates: dict[Mapper, Work] = {}
        self.deletes: dict[Mapper, Work] = {}
        self.clean: list[InstanceState] = []
        self.registered = 0  # objects registered one by one (the relationship work's rounds)
        self.row_switches: dict[InstanceState, InstanceState] = {}
        # (dict, key, previous value or NO_VALUE) for every value the flush wrote,
        # or (dicts, key, previous values) from populate_column()
        self.populated: list[tuple[Any, str, Any]] = []
        self.expire: list[tuple[InstanceState, list[str]]] = []
        self.rekeyed: list[InstanceState] = []
        self.dependencies: set[tuple[Mapper, Mapper]] = set()
        # relationship work (docket.orm.dependency): sync jobs per destination
        # state, ordering edges between rows, nulls decided after all syncs,
        # post_update links, association rows keyed (prop, insert)
        self.syncs: dict[InstanceState, list[tuple[Any, InstanceState | None]]] = {}
        self.row_mappers: set[Mapper] = set()  # mappers with rows ordered among themselves
        self._save_edges: list[tuple[InstanceState, InstanceState]] | None = None
        self.delete_edges: list[tuple[InstanceState, InstanceState]] = []
        self.pending_nulls: list[tuple[InstanceState, Any, Any]] = []
        self.post_updates: list[tuple[InstanceState, Any, Any, Any, bool]] = []
        self.secondary_rows: dict[tuple[Any, bool], list[tuple[InstanceState, InstanceState]]] = {}
        self._secondary_seen: set[tuple[Any, InstanceState, InstanceState, bool]] = set()
        self._saving: set[InstanceState] = set()
        self._deleting: set[InstanceState] = set()
        # (state, committed_state before this flush touched it) for undo()
        self._committed_log: list[tuple[InstanceState, dict[str, Any] | None]] = []

    # -- registration ---------------------------------------------------------------
    def register_insert(self, state: InstanceState, obj: Any) -> None:
        _append(self.inserts, state, obj)
        self.registered += 1

    def register_update(self, state: InstanceState, obj: Any) -> None:
        _append(self.updates, state, obj)
        self.registered += 1

    def register_delete(self, state: InstanceState, obj: Any) -> None:
        _append(self.deletes, state, obj)
        self.registered += 1

    # -- relationship work (called by docket.orm.dependency) ---------------------------
    def index_states(self) -> None:
        """Build the membership sets the relationship work consults (kept up
        to date by :meth:`ensure_saved` / :meth:`cascade_delete` from then on;
        plain registration doesn't pay for them).  ``_saving`` holds only
        persistent objects: those are the only ones either method looks up."""
        self._saving = {s for items in self.updates.values() for s, _o in items}
        self._deleting = {s for items in self.deletes.values() for s, _o in items}

    def is_deleted(self, state: InstanceState) -> bool:
        return state in self._deleting or bool(state.flags & DELETED)

    def add_delete_edge(self, parent: InstanceState, child: InstanceState) -> None:
        """``parent``'s row is deleted after ``child``'s."""
        if parent is not child:
            self.delete_edges.append((parent, child))

    def add_syncs(self, prop: Any, source: InstanceState, dests: Work) -> Work:
        """Each of ``dests`` takes ``source``'s referenced values through
        ``prop`` before it is written, and ``source``'s row is written first.
        Returns the ``dests`` that got a new job (not those a job for the same
        link already covers: the two sides of a bidirectional relationship)."""
        syncs = self.syncs
        rev = prop._reverse
        job = (prop, source)
        smapper = source.mapper
        seen_mapper = smapper
        out = []
        for item in dests:
            dest = item[0]
            jobs = syncs.get(dest)
            if jobs is None:
                syncs[dest] = [job]
            else:
                for p, src in jobs:
                    if src is source and (p is rev or p is prop):
                        break
                else:
                    jobs.append(job)
                    jobs = None
                if jobs is not None:
                    continue
            out.append(item)
            # the mappers' order is recorded now; row order is derived from the
            # jobs only where it matters (save_edges)
            dmapper = dest.mapper
            if dmapper is smapper:
                if dest is not source:
                    self.row_mappers.add(smapper)
            elif dmapper is not seen_mapper:
                self.dependencies.add((smapper, dmapper))
                seen_mapper = dmapper
        return out

    def save_edges(self) -> list[tuple[InstanceState, InstanceState]]:
        """(parent, child) row pairs: the parent's row is written first."""
        edges = self._save_edges
        if edges is None:
            edges = self._save_edges = [
                (src, dest) for dest, jobs in self.syncs.items() for _p, src in jobs
                if src is not None and src is not dest]
        return edges

    def ensure_saved(self, state: InstanceState, obj: Any, keys: Sequence[str]) -> None:
        """``state`` gets an INSERT or an UPDATE of ``keys`` in this flush."""
        if state.ident is None:
            return  # pending: inserted anyway
        committed = state.committed_state
        self._committed_log.append((state, None if committed is None else dict(committed)))
        if committed is None:
            committed = state.committed_state = {}
        d = obj.__dict__
        for k in keys:
            if k not in committed:
                committed[k] = d.get(k, NO_VALUE)
        if state not in self._saving and not self.is_deleted(state):
            if state in self.clean:
                self.clean.remove(state)
            self.register_update(state, obj)
            self._saving.add(state)

    def cascade_delete(self, state: InstanceState, obj: Any) -> None:
        """Delete ``state`` in this flush (an orphan, or a delete cascade)."""
        if state.ident is None or self.is_deleted(state):
            return
        self.register_delete(state, obj)
        self._deleting.add(state)
        for mapper_items in (self.updates.get(state.mapper),):
            if mapper_items is not None and state in self._saving:
                mapper_items[:] = [(s, o) for s, o in mapper_items if s is not state]
                self._saving.discard(state)

    def secondary_row(self, prop: Any, owner: InstanceState, child: InstanceState,
                      insert: bool) -> None:
        """An association row of many-to-many ``prop`` to INSERT or DELETE;
        the two sides of a bidirectional relationship share one row."""
        rev = prop._reverse
        if rev is not None and _secondary_rank(rev) < _secondary_rank(prop):
            prop, owner, child = rev, child, owner
        key = (prop, owner, child, insert)
        if key in self._secondary_seen:
            return
        self._secondary_seen.add(key)
        self.secondary_rows.setdefault((prop, insert), []).append((owner, child))

    # -- logs used by persistence -----------------------------------------------------
    def populate(self, d: dict[str, Any], key: str, value: Any) -> None:
        """Write ``d[key] = value``, remembering the old value for :meth:`undo`."""
        self.populated.append((d, key, d.get(key, NO_VALUE)))
        d[key] = value

    def populate_column(self, dicts: list[dict[str, Any]], key: str, values: Sequence[Any]
                        ) -> None:
        """:meth:`populate` for many objects at once (one log entry, not one each)."""
        self.populated.append((dicts, key, [d.get(key, NO_VALUE) for d in dicts]))
        for d, v in zip(dicts, values):
            d[key] = v

    def expire_after(self, state: InstanceState, keys: Sequence[str]) -> None:
        """Expire ``keys`` of ``state`` once the flush succeeded."""
        if keys:
            self.expire.append((state, list(keys)))

    def pk_changed(self, state: InstanceState) -> None:
        self.rekeyed.append(state)

    def update_source(self, state: InstanceState) -> tuple[dict[str, Any] | None,
                                                          tuple[Any, ...] | None]:
        """(committed values, row identity) an UPDATE of ``state`` compares against:
        its own history, or for a row switch the deleted object's loaded values."""
        old = self.row_switches.get(state)
        if old is None:
            return state.committed_state, state.identity
        old_d = old.dict
        d = state.dict
        mapper = state.mapper
        committed = {k: old_d.get(k, NO_VALUE) for k in mapper._column_attr_keys if k in d}
        vkey = mapper._version_key
        if vkey is not None:  # the row's current version, loading it if expired
            committed[vkey] = old_d[vkey] if vkey in old_d else getattr(old(), vkey)
        return committed, old.identity

    # -- row switch --------------------------------------------------------------------
    def find_row_switches(self) -> None:
        """Pair new objects with deleted objects of the same identity; warn about
        new objects colliding with loaded ones (their INSERT will fail)."""
        idmap = self.session._identity_map
        deleted = {s for items in self.deletes.values() for s, _ in items}
        for mapper, items in list(self.inserts.items()):
            pk_keys = mapper._pk_keys
            single = len(pk_keys) == 1
            pk0 = pk_keys[0]
            switched = False
            for state, obj in items:
                d = obj.__dict__
                if single:
                    ident = d.get(pk0)
                    if ident is None or (ident.__class__ not in _PLAIN
                                         and isinstance(ident, ClauseElement)):
                        continue  # generated key: can't collide
                else:
                    ident = tuple(d.get(k) for k in pk_keys)
                    if any(v is None or isinstance(v, ClauseElement) for v in ident):
                        continue
                existing = idmap._get_state(mapper, ident, state.identity_token)
                if existing is None or existing is state:
                    continue
                if existing in deleted:
                    self.row_switches[state] = existing
                    self._unregister_delete(existing)
                    self.register_update(state, obj)
                    switched = True
                else:
                    warnings.warn(
                        f"New instance {state_str(state)} with identity key "
                        f"{(mapper.class_, ident if not single else (ident,), None)} conflicts "
                        f"with persistent instance {state_str(existing)}; the "
                        "INSERT will likely fail. Use session.merge() to copy state onto the "
                        "loaded object instead.", stacklevel=4)
            if switched:
                keep = [(s, o) for s, o in items if s not in self.row_switches]
                if keep:
                    self.inserts[mapper] = keep
                else:
                    del self.inserts[mapper]

    def _unregister_delete(self, state: InstanceState) -> None:
        items = self.deletes[state.mapper]
        self._deleting.discard(state)
        items[:] = [(s, o) for s, o in items if s is not state]
        if not items:
            del self.deletes[state.mapper]

    # -- execution --------------------------------------------------------------------
    def mapper_order(self) -> list[Mapper] | None:
        """The flush's mappers, parents before children (by foreign key and by
        the rows' relationships); None when the mappers form a cycle (rows
        are then ordered one by one)."""
        mappers = list(dict.fromkeys([*self.inserts, *self.updates, *self.deletes]))
        if len(mappers) == 1:
            return mappers
        edges = set(self.dependencies)  # includes the mappers of every sync job
        for p, c in self.delete_edges:
            if p.mapper is not c.mapper:
                edges.add((p.mapper, c.mapper))
        rel_edges = set(edges)
        tables = {m.local_table: m for m in mappers}
        post_cols = {c for m in mappers for p in m._flush_rels if p.post_update
                     for pair in p.synchronize_pairs for c in pair}
        for m in mappers:
            for fk in getattr(m.local_table, "foreign_keys", ()):
                if fk.parent in post_cols:
                    continue
                try:
                    target = fk.column.table
                except exc.DocketError:  # unresolvable reference: no ordering from it
                    continue
                parent = tables.get(target)
                if parent is not None and parent is not m:
                    edges.add((parent, m))
        try:
            return topological.sort(mappers, edges)
        except exc.CircularDependencyError:
            pass
        try:
            return topological.sort(mappers, rel_edges)
        except exc.CircularDependencyError:
            return None

    def execute(self) -> None:
        """Send every statement: saves parents first, then post-updates and
        association rows, then deletes children first."""
        from docket.orm import dependency

        session = self.session
        order = self.mapper_order()
        if order is None:
            self._execute_rows()
            return
        row_mappers = self.row_mappers
        for mapper in order:
            ins = self.inserts.get(mapper) or []
            upd = self.updates.get(mapper) or []
            if not (ins or upd):
                continue
            if mapper in row_mappers:
                for layer in self._layers(ins + upd, self.save_edges()):
                    self._save(mapper, layer)
            else:
                self._save(mapper, ins + upd)
        if self.post_updates or self.secondary_rows:
            dependency.run_post_saves(self)
            dependency.run_pre_deletes(self)
        del_mappers = {p.mapper for p, c in self.delete_edges if p.mapper is c.mapper}
        for mapper in reversed(order):
            dels = self.deletes.get(mapper)
            if not dels:
                continue
            if mapper in del_mappers or mapper in row_mappers:
                edges = self.delete_edges + self._delete_edges_from_values(dels)
                for layer in reversed(list(self._layers(dels, edges))):
                    persistence.delete_obj(self, mapper, layer,
                                           session._connection_for_mapper(mapper))
            else:
                persistence.delete_obj(self, mapper, dels, session._connection_for_mapper(mapper))

    def _save(self, mapper: Mapper, items: Work) -> None:
        from docket.orm.dependency import apply_syncs

        if self.syncs:
            apply_syncs(self, items)
        switches = self.row_switches  # (the item tuples are reused, not rebuilt)
        saving_new = [it for it in items if it[0].ident is None and it[0] not in switches]
        updating = ([it for it in items if it[0].ident is not None or it[0] in switches]
                    if len(saving_new) != len(items) else [])
        persistence.save_obj(self, mapper, saving_new, updating,
                             self.session._connection_for_mapper(mapper))

    def _layers(self, items: Work, edges: list[tuple[InstanceState, InstanceState]]
                ) -> list[Work]:
        """``items`` in dependency layers (parents' layer first).

        Raises:
            CircularDependencyError: the rows depend on each other in a cycle.
        """
        objs = {s: o for s, o in items}
        mine = [(p, c) for p, c in edges if p in objs and c in objs]
        try:
            layers = list(topological.sort_as_subsets(list(objs), mine))
        except exc.CircularDependencyError:
            raise self._cycle_error(list(objs), mine) from None
        return [[(s, objs[s]) for s in layer] for layer in layers]

    def _delete_edges_from_values(self, items: Work) -> list[tuple[InstanceState, InstanceState]]:
        """Rows deleted together that reference each other through a
        self-referential relationship: referenced rows go last."""
        edges = []
        deleting = {s for s, _o in items}
        for state, obj in items:
            d = obj.__dict__
            committed = state.committed_state or {}
            for prop in state.mapper._flush_rels:
                if prop.mapper is not state.mapper or prop.post_update:
                    continue
                values: list[Any] = []
                for source in (d.get(prop.key, NO_VALUE), committed.get(prop.key, NO_VALUE)):
                    if source is NO_VALUE or source is None:
                        continue
                    values += source._docket_values() if prop.uselist else [source]
                for other in values:
                    ostate = other.__dict__.get("_docket_state")
                    if ostate is None or ostate not in deleting:
                        continue
                    if prop.direction.name == "ONETOMANY":
                        edges.append((state, ostate))
                    elif prop.direction.name == "MANYTOONE":
                        edges.append((ostate, state))
        return edges

    def _execute_rows(self) -> None:
        """Mappers depend on each other in a cycle: order every row."""
        from docket.orm import dependency

        session = self.session
        saves = [(s, o) for items in (*self.inserts.values(), *self.updates.values())
                 for s, o in items]
        for layer in self._layers(saves, self.save_edges()):
            by_mapper: dict[Mapper, Work] = {}
            for s, o in layer:
                by_mapper.setdefault(s.mapper, []).append((s, o))
            for mapper, items in by_mapper.items():
                self._save(mapper, items)
        if self.post_updates or self.secondary_rows:
            dependency.run_post_saves(self)
            dependency.run_pre_deletes(self)
        dels = [(s, o) for items in self.deletes.values() for s, o in items]
        edges = self.delete_edges + self._delete_edges_from_values(dels)
        for layer in reversed(self._layers(dels, edges)):
            by_mapper = {}
            for s, o in layer:
                by_mapper.setdefault(s.mapper, []).append((s, o))
            for mapper, items in by_mapper.items():
                persistence.delete_obj(self, mapper, items, session._connection_for_mapper(mapper))

    def _cycle_error(self, states: list[InstanceState],
                     edges: list[tuple[InstanceState, InstanceState]]
                     ) -> exc.CircularDependencyError:
        cyclic = topological.find_cycles(states, edges)
        rels = sorted({str(p) for s in cyclic for p, src in self.syncs.get(s, ())
                       if src is not None and src in cyclic})
        shown = ", ".join(state_str(s) for s in list(cyclic)[:6])
        err = exc.CircularDependencyError(
            f"Circular dependency detected between rows: {shown} reference each other "
            f"through {', '.join(rels) or 'their relationships'}, so none can be written "
            "first. Set post_update=True on one of these relationships to write that link "
            "with a separate UPDATE."
        )
        err.cycles = cyclic
        return err

    def undo(self) -> None:
        """Put back every value the failed flush wrote into an object."""
        for state, committed in reversed(self._committed_log):
            state.committed_state = committed
        self._committed_log.clear()
        for d, key, previous in reversed(self.populated):
            if d.__class__ is list:  # a populate_column() entry
                for di, prev in zip(d, previous):
                    if prev is NO_VALUE:
                        di.pop(key, None)
                    else:
                        di[key] = prev
            elif previous is NO_VALUE:
                d.pop(key, None)
            else:
                d[key] = previous
        self.populated.clear()

    def finalize(self) -> None:
        """Every statement succeeded: move objects to their new states."""
        session = self.session
        session._pending_mutations.clear()  # the database has those links now
        txn = self.txn
        idmap = session._identity_map
        modified = session._modified
        new = session._new
        sid = session.hash_key
        txn_new = txn._new
        switches = self.row_switches
        for mapper, items in self.inserts.items():
            pk_keys = mapper._pk_keys
            single = len(pk_keys) == 1
            pk0 = pk_keys[0]
            states = []
            for state, obj in items:
                d = obj.__dict__
                state.ident = d[pk0] if single else tuple(d[k] for k in pk_keys)
                state.session_id = sid
                state.committed_state = None
                state.modified = False
                state.flags |= _INSERTED
                new.pop(state, None)
                modified.pop(state, None)
                states.append(state)
            idmap._add_all(states)
            txn_new.add_all(states)
        key_switches = getattr(txn, "_key_switches", None)
        for state in self.rekeyed:
            if key_switches is not None and state not in key_switches:
                key_switches[state] = state.ident
            idmap._discard(state)
            d = state.dict
            keys = state.mapper._pk_keys
            state.ident = d[keys[0]] if len(keys) == 1 else tuple(d[k] for k in keys)
            idmap._replace(state)
        # a root transaction's rollback expires everything: only a SAVEPOINT needs
        # to know which rows its flushes UPDATEd
        dirty = txn._dirty if txn.nested else None
        for items in self.updates.values():
            if switches or dirty is not None:
                for state, obj in items:
                    old = switches.get(state) if switches else None
                    if old is None:
                        if dirty is not None:
                            dirty.add(state)
                    else:  # row switch: old leaves as deleted, new takes the row
                        self._finish_delete(old, old(), idmap)
                        state.ident = old.ident
                        state.session_id = sid
                        state.flags |= _INSERTED
                        idmap._replace(state)
                        new.pop(state, None)
                        txn_new[state] = obj
            session._commit_flushed(items)
        session._commit_flushed([(state, None) for state in self.clean])
        for items in self.deletes.values():
            for state, obj in items:
                self._finish_delete(state, obj, idmap)
        for state, _obj, _prop, _source, before_delete in self.post_updates:
            if before_delete and dirty is not None:  # UPDATEd (link nulled) before its
                dirty.add(state)  # DELETE: a rolled back SAVEPOINT expires what was written
        for state, expired_keys in self.expire:
            session._expire_state(state, expired_keys)

    def _finish_delete(self, state: InstanceState, obj: Any, idmap: Any) -> None:
        session = self.session
        idmap._discard(state)
        session._deleted.pop(state, None)
        session._modified.pop(state, None)
        state.flags |= DELETED | WAS_DELETED
        self.txn._deleted[state] = obj


def _secondary_rank(prop: Any) -> int:
    """Which side of a bidirectional many-to-many writes the association
    rows: the one whose key comes first in the secondary table."""
    cols = list(prop.secondary.c)
    return cols.index(prop.synchronize_pairs[0][1])


def _selected(states: dict[InstanceState, Any], only: set[InstanceState] | None) -> Work:
    if only is None:
        return list(states.items())
    return [(s, o) for s, o in states.items() if s in only]


def flush(session: Session, objects: Sequence[Any] | None = None) -> None:
    """Flush the session's changes, or only those of ``objects`` (see the
    module docstring).

    Raises:
        PendingRollbackError: an earlier flush failed; call rollback().
        DBAPIError: a statement failed; the message names the objects.
        StaleDataError: an UPDATE/DELETE matched an unexpected number of rows.
        FlushError: an object can't be written (e.g. no primary key).
    """
    txn = session._autobegin_t()
    txn._check_usable()
    dispatch = session.dispatch
    if dispatch.before_flush:
        dispatch.before_flush(session, UOWTransaction(session, txn), objects)
        if not session._has_changes():
            return
        txn = session._autobegin_t()
    only: set[InstanceState] | None = None
    if objects is not None:
        only = {instance_state(o) for o in objects}
    uow = UOWTransaction(session, txn)
    sid = session.hash_key
    inserts = uow.inserts
    for item in session._new.items() if only is None else _selected(session._new, only):
        items = inserts.get(item[0].mapper)  # register_insert, keeping the item tuple
        if items is None:
            inserts[item[0].mapper] = [item]
        else:
            items.append(item)
    deleted = session._deleted
    for state, obj in _selected(deleted, only):
        uow.register_delete(state, obj)
    updates = uow.updates
    for item in session._modified.items() if only is None else _selected(session._modified,
                                                                         only):
        state = item[0]
        if state.ident is None or state in deleted or state.session_id != sid:
            continue
        if state.flags & DELETED:
            uow.clean.append(state)  # its row is gone: nothing to write, forget the change
            continue
        if state.committed_state:
            items = updates.get(state.mapper)  # register_update, keeping the item tuple
            if items is None:
                updates[state.mapper] = [item]
            else:
                items.append(item)
        else:
            uow.clean.append(state)
    if not (uow.inserts or uow.updates or uow.deletes):
        uow.finalize()
        return
    try:
        if uow.inserts:
            uow.find_row_switches()
        mappers = (*uow.inserts, *uow.updates, *uow.deletes)
        for m in mappers:
            if not m._configured and m.registry is not None:
                m.registry.configure()
        if any(m._flush_rels or m._delete_orphan_props for m in mappers):
            from docket.orm.dependency import preprocess

            preprocess(uow)
        uow.execute()
        if dispatch.after_flush:
            dispatch.after_flush(session, uow)
    except BaseException as e:
        uow.undo()
        current = session._transaction
        if current is not None and current.is_active:
            current.rollback(_capture_exception=e)
        raise
    uow.finalize()
    if dispatch.pending_to_persistent:
        for items in uow.inserts.values():
            for _state, obj in items:
                dispatch.pending_to_persistent(session, obj)
    if dispatch.persistent_to_deleted:
        for items in uow.deletes.values():
            for _state, obj in items:
                dispatch.persistent_to_deleted(session, obj)
    if dispatch.after_flush_postexec:
        dispatch.after_flush_postexec(session, uow)
