"""What relationships add to a flush.

Before any SQL (:func:`preprocess`), every relationship of every mapper in
the flush looks at its changes:

* one-to-many: added children get their foreign key from the parent
  (a *sync* job run just before the child's INSERT/UPDATE); removed children
  are nulled (or deleted as orphans with ``delete-orphan``); the children of
  a deleted parent are nulled unless they are deleted too (loading the
  collection unless ``passive_deletes``);
* many-to-one: the object's foreign key follows the related object;
* many-to-many: association rows to INSERT (after both ends are saved) and
  DELETE (before either end is deleted);
* ``post_update``: the link is written by a separate UPDATE after the rows
  exist (and nulled before they are deleted), which breaks row cycles.

Each sync also records an ordering edge ``(parent state, child state)``:
the unit of work orders mappers by them, and rows within one mapper
(self-referential relationships) or across a mapper cycle.

Every value written into an object goes through ``uow.populate`` (undone if
the flush fails); bookkeeping added to ``committed_state`` is undone by
``uow.undo`` too.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

from docket import exc
from docket.orm.relationships import MANYTOONE, ONETOMANY
from docket.orm.state import DELETED, NO_VALUE, STATE_KEY, InstanceState
from docket.orm.table_plan import state_str

if TYPE_CHECKING:
    from docket.orm.relationships import RelationshipProperty
    from docket.orm.unitofwork import UOWTransaction, Work

__all__ = ["preprocess", "run_post_saves", "run_pre_deletes"]


def _st(obj: Any) -> InstanceState:
    return obj.__dict__[STATE_KEY]


def _history(prop: RelationshipProperty, state: InstanceState, obj: Any
             ) -> tuple[list[Any], list[Any]] | None:
    """(added, deleted) since load/flush, or None when unchanged.  Never loads."""
    committed = state.committed_state
    if not committed or prop.key not in committed:
        return None
    if committed[prop.key] is NO_VALUE and prop.uselist and not prop._dynamic:
        current = obj.__dict__.get(prop.key, NO_VALUE)
        if current is not NO_VALUE:  # never loaded before: every member is new
            return (current._docket_values() if hasattr(current, "_docket_values")
                    else list(current)), []
    h = prop._history(state, 0)
    return list(h.added), list(h.deleted)


def _members(prop: RelationshipProperty, state: InstanceState, obj: Any, load: bool) -> list[Any]:
    """Everything ``prop`` relates ``obj`` to, as of the database (loaded
    value plus items removed since), loading it if ``load``."""
    d = obj.__dict__
    current = d.get(prop.key, NO_VALUE)
    if current is NO_VALUE and load and state.session is not None and not prop._dynamic:
        current = getattr(obj, prop.key)
    out: list[Any] = []
    if current is not NO_VALUE and current is not None and not prop._dynamic:
        out = current._docket_values() if prop.uselist else [current]
    committed = state.committed_state
    if committed and prop.key in committed:
        old = committed[prop.key]
        if prop._dynamic:
            old = list(getattr(old, "removed", ()))
        elif not prop.uselist:
            old = [] if old is NO_VALUE or old is None else [old]
        elif old is NO_VALUE:
            old = []
        out += [x for x in old if not any(x is y for y in out)]
    if prop._dynamic and load and state.session is not None:
        from docket.orm.dynamic import load_all

        out += [x for x in load_all(prop, state, obj) if not any(x is y for y in out)]
    return out


def preprocess(uow: UOWTransaction) -> None:
    """Decide the relationship work of a flush (see the module docstring).

    Each relationship handles its objects as one batch; objects the work adds
    to the flush (cascaded deletes, children that must be UPDATEd) are handled
    in the next round, until a round finds nothing new.

    Raises:
        FlushError: a primary-key column would have to be set to NULL.
    """
    uow.index_states()
    # persistent objects removed from a delete-orphan parent (through either
    # side of the relationship, loaded or not) are deleted
    for mapper, items in list(uow.updates.items()):
        if mapper._delete_orphan_props:
            for state, obj in list(items):
                if mapper._is_orphan(state):
                    uow.cascade_delete(state, obj)
    # (prop, deleting) -> states handled; built only if a round adds objects
    done: dict[tuple[Any, bool], set[InstanceState]] | None = None
    while True:
        work: list[tuple[Any, Work, bool]] = []
        for mapper in list(dict.fromkeys([*uow.inserts, *uow.updates, *uow.deletes])):
            rels = mapper._flush_rels
            if not rels:
                continue
            # snapshots: the work below may add objects to these lists
            saves = uow.inserts.get(mapper, []) + uow.updates.get(mapper, [])
            deletes = list(uow.deletes.get(mapper, ()))
            for prop in rels:
                for deleting, items in ((False, saves), (True, deletes)):
                    if not items:
                        continue
                    if done is not None:
                        seen = done.setdefault((prop, deleting), set())
                        items = [it for it in items if it[0] not in seen]
                        if not items:
                            continue
                        seen.update(s for s, _o in items)
                    work.append((prop, items, deleting))
        if not work:
            break
        registered = uow.registered
        for prop, batch, deleting in work:
            if prop.direction is ONETOMANY:
                _one_to_many(uow, prop, batch, deleting)
            elif prop.direction is MANYTOONE:
                _many_to_one(uow, prop, batch, deleting)
            else:
                _many_to_many(uow, prop, batch, deleting)
        if uow.registered == registered:
            break  # nothing joined the flush: every object has been handled
        if done is None:
            done = {}
            for prop, batch, deleting in work:
                done.setdefault((prop, deleting), set()).update(s for s, _o in batch)
    # removed children nulled only if nothing gave them a new parent meanwhile
    for cstate, cobj, prop in uow.pending_nulls:
        jobs = uow.syncs.get(cstate, ())
        if any((p is prop or p is prop._reverse) and not uow.is_deleted(src)
               for p, src in jobs if src is not None):
            continue
        if uow.is_deleted(cstate):
            continue
        _null(uow, prop, cstate, cobj)
        # the object's many-to-one side may still name the old parent: reload it
        scalar = prop if prop.direction is MANYTOONE else prop._reverse
        if scalar is not None and not scalar.uselist:
            uow.expire_after(cstate, [scalar.key])


def _in_flush(uow: UOWTransaction, prop: RelationshipProperty, istate: InstanceState) -> bool:
    """Whether a related object takes part in this session's flush; warns
    (as SQLAlchemy does) when it is not in the session at all."""
    if istate.session_id == uow.session.hash_key:
        return True
    warnings.warn(
        f"Object of type {istate.mapper.class_.__name__} not in session, add operation along "
        f"'{prop}' will not proceed (add it to the session, or keep the save-update cascade "
        "on the relationship).", exc.SAWarning, stacklevel=6)
    return False


def _one_to_many(uow: UOWTransaction, prop: RelationshipProperty, items: Work,
                 deleting: bool) -> None:
    if deleting:
        if prop.passive_deletes == "all":
            return
        load = not prop.passive_deletes
        for state, obj in items:
            for child in _members(prop, state, obj, load):
                cstate = _st(child)
                if uow.is_deleted(cstate):
                    uow.add_delete_edge(state, cstate)
                    continue
                if prop.cascade.delete:
                    uow.cascade_delete(cstate, child)
                    uow.add_delete_edge(state, cstate)
                else:  # unless something gives it a new parent in this flush
                    uow.pending_nulls.append((cstate, child, prop))
        return
    key = prop.key
    uselist = prop.uselist
    sid = uow.session.hash_key
    deleted = uow._deleting
    for state, obj in items:
        hist = _history(prop, state, obj)
        if hist is None:
            if state.ident is None and key in obj.__dict__:
                value = obj.__dict__[key]
                added = value._docket_values() if uselist else (
                    [] if value is None else [value])
                removed: list[Any] = []
            else:
                continue
        else:
            added, removed = hist
        dests = []
        for child in added:
            if child is None:
                continue
            cstate = child.__dict__[STATE_KEY]
            if (cstate.session_id != sid and not _in_flush(uow, prop, cstate)) or (
                    cstate in deleted or cstate.flags & DELETED):
                continue
            dests.append((cstate, child))
        if dests:
            _sync(uow, prop, state, dests)
        for child in removed:
            if child is None:
                continue
            cstate = _st(child)
            if uow.is_deleted(cstate) or cstate.session_id != sid:
                continue
            if prop.cascade.delete_orphan and prop.mapper._is_orphan(cstate):
                if cstate.ident is not None:
                    uow.cascade_delete(cstate, child)
                continue
            uow.pending_nulls.append((cstate, child, prop))


def _many_to_one(uow: UOWTransaction, prop: RelationshipProperty, items: Work,
                 deleting: bool) -> None:
    key = prop.key
    if deleting:
        if prop.post_update:
            for state, obj in items:
                d = obj.__dict__
                if any((d[k] if k in d else getattr(obj, k)) is not None
                       for k in prop._dest_keys):
                    # the row still points somewhere: clear the link before any DELETE
                    uow.post_updates.append((state, obj, prop, None, True))
        return
    sid = uow.session.hash_key
    deleted = uow._deleting
    orphans = prop.cascade.delete_orphan
    # consecutive objects pointing at one target (siblings) share one _sync call
    source: InstanceState | None = None
    dests: Work = []
    for item in items:
        state, obj = item
        d = obj.__dict__
        committed = state.committed_state
        changed = bool(committed) and key in committed  # type: ignore[operator]
        if not changed and not (state.ident is None and key in d):
            continue
        target = d.get(key, NO_VALUE)
        if changed and orphans:
            old = committed[key]  # type: ignore[index]
            if old is not None and old is not NO_VALUE and old is not target:
                ostate = _st(old)
                if ostate.ident is not None and prop.mapper._is_orphan(ostate):
                    uow.cascade_delete(ostate, old)
        if target is NO_VALUE:
            continue
        if target is None:
            if changed and committed[key] is not None:  # type: ignore[index]
                uow.pending_nulls.append((state, obj, prop))  # unless deleted as an orphan
            continue
        tstate = target.__dict__[STATE_KEY]
        if tstate.session_id != sid and not _in_flush(uow, prop, tstate):
            continue
        if tstate in deleted or tstate.flags & DELETED:
            # pointing at a row this flush deletes: the link goes
            uow.pending_nulls.append((state, obj, prop))
            continue
        if tstate is not source:
            if dests:
                _sync(uow, prop, source, dests)  # type: ignore[arg-type]
            source, dests = tstate, []
        dests.append(item)
    if dests:
        _sync(uow, prop, source, dests)  # type: ignore[arg-type]


def _many_to_many(uow: UOWTransaction, prop: RelationshipProperty, items: Work,
                  deleting: bool) -> None:
    for state, obj in items:
        if deleting:
            if prop.passive_deletes == "all":
                return
            for child in _members(prop, state, obj, not prop.passive_deletes):
                uow.secondary_row(prop, state, _st(child), insert=False)
            continue
        hist = _history(prop, state, obj)
        if hist is None:
            if state.ident is None and prop.key in obj.__dict__ and not prop._dynamic:
                hist = (obj.__dict__[prop.key]._docket_values(), [])
            else:
                continue
        added, removed = hist
        for child in added:
            cstate = _st(child)
            if _in_flush(uow, prop, cstate):
                uow.secondary_row(prop, state, cstate, insert=True)
        for child in removed:
            cstate = _st(child)
            if cstate.ident is not None and state.ident is not None:
                uow.secondary_row(prop, state, cstate, insert=False)


def _sync(uow: UOWTransaction, prop: RelationshipProperty, source: InstanceState,
          dests: Work) -> None:
    """Each of ``dests``' foreign key takes ``source``'s referenced values
    before it is written (or after, for post_update)."""
    if prop.post_update:
        for dest, dobj in dests:
            uow.post_updates.append((dest, dobj, prop, source, False))
            if dest.ident is None:
                # the referenced row may not exist yet when this one is INSERTed:
                # the link is written by the UPDATE that follows
                d = dobj.__dict__
                for dk in prop._dest_keys:
                    uow.populate(d, dk, None)
        return
    for dest, dobj in uow.add_syncs(prop, source, dests):
        if dest.ident is not None:
            uow.ensure_saved(dest, dobj, prop._dest_keys)


def _null(uow: UOWTransaction, prop: RelationshipProperty, dest: InstanceState, dobj: Any) -> None:
    """Set ``dest``'s foreign key to NULL (a child removed from its parent).

    Raises:
        FlushError: the foreign key is part of the primary key.
    """
    keys = prop._dest_keys
    pk = set(dest.mapper._pk_keys)
    for k in keys:
        if k in pk:
            raise exc.FlushError(
                f"Dependency rule tried to blank-out primary key column {k!r} on instance "
                f"{state_str(dest)} (removed from {prop}); use cascade='all, delete-orphan' "
                "on the relationship so such children are deleted instead."
            )
    if prop.post_update:
        uow.post_updates.append((dest, dobj, prop, None, False))
        return
    uow.syncs.setdefault(dest, []).append((prop, None))
    uow.ensure_saved(dest, dobj, keys)


def apply_syncs(uow: UOWTransaction, items: Work) -> None:
    """Run the sync jobs targeting ``items`` (just before their INSERT/UPDATE):
    each destination key is written for all objects at once, one undo-log
    entry per key; an object's later job for the same key wins."""
    syncs = uow.syncs
    columns: dict[str, tuple[list[dict[str, Any]], list[Any]]] = {}
    for state, obj in items:
        jobs = syncs.get(state)
        if jobs is None:
            continue
        d = obj.__dict__
        for prop, source in jobs:
            sobj = sd = None  # (a None source: the job nulls the key)
            if source is not None:
                sobj = source()
                sd = sobj.__dict__ if sobj is not None else {}
            for sk, dk in prop._sync_keys:
                value = None
                if sd is not None:
                    value = sd.get(sk, NO_VALUE)
                    if value is NO_VALUE:  # expired: loads it
                        value = getattr(sobj, sk)
                column = columns.get(dk)
                if column is None:
                    columns[dk] = ([d], [value])
                else:
                    column[0].append(d)
                    column[1].append(value)
    for dk, (dicts, values) in columns.items():
        uow.populate_column(dicts, dk, values)


def _value(state: InstanceState, key: str) -> Any:
    """``key`` of ``state``'s object, loading it if expired."""
    obj = state()
    d = obj.__dict__ if obj is not None else {}
    v = d.get(key, NO_VALUE)
    return getattr(obj, key) if v is NO_VALUE and obj is not None else (
        None if v is NO_VALUE else v)


def _post_update_values(prop: RelationshipProperty, source: InstanceState | None
                        ) -> list[tuple[str, Any]]:
    if source is None:
        return [(dk, None) for _sk, dk in prop._sync_keys]
    return [(dk, _value(source, sk)) for sk, dk in prop._sync_keys]


def run_post_saves(uow: UOWTransaction) -> None:
    """post_update links and association rows, once every row is saved."""
    from docket.sql import dml
    from docket.sql.elements import and_, bindparam

    for state, obj, prop, source, before_delete in uow.post_updates:
        if before_delete:
            continue
        values = _post_update_values(prop, source)
        _post_update(uow, state, obj, values)
    for (prop, insert), rows in uow.secondary_rows.items():
        if insert or not rows:
            continue
        cols = [c for _s, c in prop.synchronize_pairs] + [
            c for _s, c in prop.secondary_synchronize_pairs]
        stmt = dml.delete(prop.secondary).where(and_(*[
            c == bindparam(f"s_{i}", type_=c.type) for i, c in enumerate(cols)]))
        params = [_secondary_params(prop, o, c, cols, named=True) for o, c in rows]
        conn = uow.session._connection_for_mapper(prop.parent)
        result = _run(conn, stmt, params, [o for o, _c in rows])
        matched = result.rowcount
        dialect = conn.dialect
        sane = dialect.supports_sane_multi_rowcount if len(params) > 1 else (
            dialect.supports_sane_rowcount)
        if sane and matched >= 0 and matched != len(params):
            raise exc.StaleDataError(
                f"DELETE statement on table {prop.secondary.name!r} expected to delete "
                f"{len(params)} row(s); only {matched} were matched (relationship {prop}). The "
                "association rows were changed by another transaction; roll back and retry."
            )
    for (prop, insert), rows in uow.secondary_rows.items():
        if not insert or not rows:
            continue
        cols = [c for _s, c in prop.synchronize_pairs] + [
            c for _s, c in prop.secondary_synchronize_pairs]
        params = [_secondary_params(prop, o, c, cols) for o, c in rows]
        conn = uow.session._connection_for_mapper(prop.parent)
        _run(conn, dml.insert(prop.secondary), params, [o for o, _c in rows])


def run_pre_deletes(uow: UOWTransaction) -> None:
    """post_update links nulled before the rows they point at are deleted."""
    for state, obj, prop, _source, before_delete in uow.post_updates:
        if before_delete:
            _post_update(uow, state, obj, _post_update_values(prop, None))


def _run(conn: Any, stmt: Any, params: list[dict[str, Any]], states: list[InstanceState]) -> Any:
    try:
        return conn.execute(stmt, params if len(params) > 1 else params[0])
    except exc.DocketError as e:
        shown = ", ".join(state_str(s) for s in states[:5])
        e.add_detail(f"[while flushing: {shown}]")
        raise


def _secondary_params(prop: RelationshipProperty, owner: InstanceState, child: InstanceState,
                      cols: list[Any], named: bool = False) -> dict[str, Any]:
    values = [_value(owner, k) for k in prop._secondary_owner_keys] + [
        _value(child, k) for k in prop._secondary_child_keys]
    if named:
        return {f"s_{i}": v for i, v in enumerate(values)}
    return {c.key: v for c, v in zip(cols, values)}


def _post_update(uow: UOWTransaction, state: InstanceState, obj: Any,
                 values: list[tuple[str, Any]]) -> None:
    from docket.sql import dml
    from docket.sql.elements import and_

    mapper = state.mapper
    d = obj.__dict__
    k2c = mapper._key_to_col
    crit = and_(*[k2c[k] == _value(state, k) for k in mapper._pk_keys])
    stmt = dml.update(mapper.local_table).where(crit).values(
        {k2c[k].key: v for k, v in values})
    conn = uow.session._connection_for_mapper(mapper)
    _run(conn, stmt, [{}], [state])
    for k, v in values:
        uow.populate(d, k, v)

