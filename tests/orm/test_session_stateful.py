"""Stateful property test: random Session programs against a plain-Python model.

A ``RuleBasedStateMachine`` drives one mapped class (``Item`` or, per
example, the version-counted ``VersionedItem``) on a Session with drawn
``autoflush`` / ``expire_on_commit`` through random sequences of add /
modify / set-same-value / delete / flush / a failing flush / commit /
rollback / close / begin_nested / release / rollback-to-savepoint / expire
(object or attributes) / expire_all / refresh / read (with and without
autoflush) / get / expunge / re-add / select, and after every step checks the Session
and the database against a plain-Python model of SQLAlchemy 2.0's Session
semantics: the committed table, the table as the transaction sees it (a
stack of snapshots for SAVEPOINTs), and each object's lifecycle state, loaded
values and pending changes (``Tracked``); ``model_*`` apply flush, commit,
rollback (to a savepoint) and close to it.

Model of an attribute value (``Tracked.values``):

* a plain value -- loaded in ``obj.__dict__`` with exactly that value;
* ``ABSENT`` -- never set (a pending object's ``id``): not loaded, reads None;
* ``EXPIRED`` -- not loaded; a read loads the row's current value;
* ``Loose(v)`` -- loaded-or-not is implementation-defined (SQLAlchemy loads
  expired columns while fetching the primary key inside a flush; docket need
  not); either way the value is ``v``, which is also the row's value;
* ``UNSPEC`` -- implementation-defined, not checked (the generated id of an
  object whose INSERT a failed flush rolled back).

Invariants checked after every step: transaction flags; each tracked
object's lifecycle state, identity, membership and loaded values; the
Session's ``new`` / ``dirty`` / ``deleted`` / iteration; the rows seen
through the Session's own connection (the in-transaction view); and the rows
a *second* connection sees (only committed data) -- on sqlite-memory, whose
pool shares one connection, that check runs only while the Session holds no
transaction.

``HYPOTHESIS_PROFILE`` (``dev`` / ``default`` / ``ci``) scales the run.
"""

from __future__ import annotations

import itertools
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import pytest
import strategies as dst
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    rule,
    run_state_machine_as_test,
)

from docket import String, delete, event, inspect, select
from docket import exc as dexc
from docket.orm import DeclarativeBase, Mapped, Session, mapped_column
from docket.orm import exc as orm_exc

# -- profiles ------------------------------------------------------------------------
_PROFILES: dict[str, dict[str, Any]] = {
    "dev": {"max_examples": 20, "stateful_step_count": 25},
    "default": {"max_examples": 200, "stateful_step_count": 40},
    "ci": {"max_examples": 400, "stateful_step_count": 50},
}
_profile = _PROFILES.get(os.environ.get("HYPOTHESIS_PROFILE", "default"), _PROFILES["default"])
SETTINGS = settings(
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    **_profile,
)


# -- mapping -------------------------------------------------------------------------
class Base(DeclarativeBase):
    pass


class Item(Base):
    __tablename__ = "stateful_item"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(40))
    qty: Mapped[int | None]


class VersionedItem(Base):
    __tablename__ = "stateful_vitem"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(40))
    qty: Mapped[int | None]
    version_id: Mapped[int] = mapped_column(nullable=False)
    __mapper_args__ = {"version_id_col": version_id}


# -- model ---------------------------------------------------------------------------
class _Marker:
    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


EXPIRED = _Marker("EXPIRED")
ABSENT = _Marker("ABSENT")
UNSPEC = _Marker("UNSPEC")  # implementation-defined; never checked


@dataclass(frozen=True)
class Loose:
    value: Any


class St(Enum):
    TRANSIENT = "transient"
    PENDING = "pending"
    PERSISTENT = "persistent"
    DELETED = "deleted"
    DETACHED = "detached"
    UNKNOWN = "unknown"  # SQLAlchemy leaves it in an odd corner; not checked


@dataclass(eq=False)
class Tracked:
    """What the model expects of one Python object."""

    label: str
    obj: Any
    status: St
    values: dict[str, Any]
    ident: int | None = None
    row_uid: int | None = None  # which logical row the identity refers to
    committed: dict[str, Any] = field(default_factory=dict)  # first-change old values
    modified: bool = False  # SQLAlchemy's InstanceState.modified
    expired_flag: bool = False  # SQLAlchemy's InstanceState.expired (fully expired)
    marked: bool = False  # in session.deleted, not yet flushed
    was_deleted: bool | None = False  # None: unspecified, not checked

    def net_changed(self) -> dict[str, Any]:
        return {k: self.values[k] for k, old in self.committed.items()
                if old is EXPIRED or old != self.values[k]}

    def __repr__(self) -> str:
        return f"{self.label}(id={self.ident}, {self.status.value})"


@dataclass
class Row:
    uid: int
    vals: dict[str, Any]


@dataclass(eq=False)
class Frame:
    """One model transaction level: the root or a SAVEPOINT."""

    snapshot: dict[int, Row]  # database contents when it began
    handle: Any = None  # the SessionTransaction of a SAVEPOINT
    new: set[Tracked] = field(default_factory=set)  # INSERTed in it
    dirty: set[Tracked] = field(default_factory=set)  # flushed as updates in it
    deleted: set[Tracked] = field(default_factory=set)  # DELETEd in it


def _copy_rows(rows: dict[int, Row]) -> dict[int, Row]:
    return {k: Row(r.uid, dict(r.vals)) for k, r in rows.items()}


def _identity(obj: Any) -> Any:
    """The primary key the object's identity records (survives expiry)."""
    ident = inspect(obj).identity
    return ident[0] if ident else None


class SessionMachine(RuleBasedStateMachine):
    """Random Session programs; the model lives in plain attributes."""

    objects = Bundle("objects")

    def __init__(self, engine: Any, backend: str, sql_log: list[str]) -> None:
        super().__init__()
        self.engine = engine
        self.backend = backend
        self.sql_log = sql_log  # every statement the engine runs (a listener appends)
        with engine.begin() as conn:
            for table in (Item.__table__, VersionedItem.__table__):
                conn.execute(delete(table))
            if backend == "postgresql":
                conn.exec_driver_sql(
                    "ALTER SEQUENCE stateful_item_id_seq RESTART; "
                    "ALTER SEQUENCE stateful_vitem_id_seq RESTART")
        self.session = Session(engine)
        self.autoflush = self.expire_on_commit = True
        self.cls: Any = Item
        self.keys: tuple[str, ...] = ("id", "name", "qty")
        self.committed: dict[int, Row] = {}
        self.db: dict[int, Row] = {}  # as seen inside the current transaction
        self.frames: list[Frame] = []  # [root, savepoint, savepoint, ...]
        self.tracked: list[Tracked] = []
        self.by_obj: dict[int, Tracked] = {}
        self.pending_order: list[Tracked] = []
        self._uids = itertools.count(1)
        self._labels = itertools.count(0)

    def teardown(self) -> None:
        self.session.close()

    @contextmanager
    def no_sql(self, unless: bool = False) -> Iterator[None]:
        """Assert the block runs no SQL (documented: identity-map get, attribute
        set, expire, add/delete/expunge bookkeeping, rollback with no transaction)."""
        before = len(self.sql_log)
        yield
        ran = self.sql_log[before:]
        assert unless or not ran, f"expected no SQL here, but the Session ran {ran}"

    # -- model helpers ---------------------------------------------------------------
    @property
    def versioned(self) -> bool:
        return self.cls is VersionedItem

    @property
    def in_txn(self) -> bool:
        return bool(self.frames)

    def t(self, obj: Any) -> Tracked:
        return self.by_obj[id(obj)]

    def _track(self, obj: Any, status: St, values: dict[str, Any], **kw: Any) -> Tracked:
        t = Tracked(f"{self.cls.__name__}#{next(self._labels)}", obj, status, values, **kw)
        self.tracked.append(t)
        self.by_obj[id(obj)] = t
        return t

    def idmap(self) -> dict[int, Tracked]:
        out: dict[int, Tracked] = {}
        for t in self.tracked:
            if t.status is St.PERSISTENT:
                assert t.ident not in out, f"model: two persistent objects for id {t.ident}"
                out[t.ident] = t  # type: ignore[index]
        return out

    def _autobegin(self) -> None:
        if not self.frames:
            self.frames.append(Frame(_copy_rows(self.committed)))

    def _expire(self, t: Tracked) -> None:
        for k in self.keys:
            t.values[k] = EXPIRED
        t.committed = {}
        t.modified = False
        t.expired_flag = True

    def _loosen(self, t: Tracked, row: Row) -> None:
        """The flush needed the primary key of an object whose id was
        expired: SQLAlchemy loads every expired column then, docket may not."""
        for k in self.keys:
            if t.values[k] is EXPIRED:
                t.values[k] = Loose(t.ident if k == "id" else row.vals[k])

    def _load_expired(self, t: Tracked) -> None:
        row = self.db[t.ident]  # type: ignore[index]
        for k in self.keys:
            if t.values[k] is EXPIRED or isinstance(t.values[k], Loose):
                t.values[k] = t.ident if k == "id" else row.vals[k]
        t.expired_flag = False

    def model_autoflush(self) -> None:
        if self.autoflush:
            self.model_flush()

    def _has_work(self) -> bool:
        return bool(self.pending_order) or any(
            t.status is St.PERSISTENT and (t.marked or t.modified) for t in self.tracked)

    def model_flush(self) -> None:
        """Apply a flush to the model; learns generated ids from the objects."""
        if not self._has_work():
            return
        self._autobegin()
        frame = self.frames[-1]
        persistent = [t for t in self.tracked if t.status is St.PERSISTENT]
        # deletes (applied first here only so that an id SQLite reuses for a
        # new row in the same flush can't be confused with the deleted one)
        for t in persistent:
            if not t.marked:
                continue
            row = self.db.pop(t.ident)  # type: ignore[arg-type]
            if t.values["id"] is EXPIRED or (self.versioned and t.values["version_id"] is EXPIRED):
                self._loosen(t, row)
            t.status, t.marked, t.was_deleted = St.DELETED, False, True
            frame.deleted.add(t)
        # inserts, in add() order
        new_ids = [_identity(t.obj) for t in self.pending_order]
        for t, nid in zip(self.pending_order, new_ids):
            assert isinstance(nid, int), (
                f"{t.label}: after flush the new object has no integer id ({nid!r})")
        assert new_ids == sorted(set(new_ids)), (
            f"flush gave new rows ids {new_ids}: expected strictly increasing in add() order")
        clash = [i for i in new_ids if i in self.db]
        assert not clash, f"flush gave new rows ids {clash} that existing rows already have"
        for t, nid in zip(self.pending_order, new_ids):
            vals = {k: t.values[k] for k in ("name", "qty")}
            if self.versioned:
                vals["version_id"] = 1
                t.values["version_id"] = 1
            row = Row(next(self._uids), vals)
            self.db[nid] = row
            t.status, t.ident, t.row_uid = St.PERSISTENT, nid, row.uid
            t.values["id"] = nid
            t.committed, t.modified, t.expired_flag = {}, False, False
            frame.new.add(t)
        self.pending_order.clear()
        # updates: every modified object is part of the flush, changed or not
        for t in persistent:
            if t.status is not St.PERSISTENT or not t.modified:
                continue
            row = self.db[t.ident]  # type: ignore[index]
            pk_unloaded = t.values["id"] is EXPIRED or (
                self.versioned and t.values["version_id"] is EXPIRED)
            changed = t.net_changed()
            if changed:
                row.vals.update(changed)
                if self.versioned:
                    row.vals["version_id"] += 1
                    t.values["version_id"] = row.vals["version_id"]
            if pk_unloaded:
                self._loosen(t, row)
            t.committed, t.modified, t.expired_flag = {}, False, False
            frame.dirty.add(t)

    def model_rollback_frame(self) -> None:
        """Roll back the innermost frame (SQLAlchemy's _restore_snapshot)."""
        frame = self.frames.pop()
        nested = bool(self.frames)
        self.db = _copy_rows(frame.snapshot)
        to_transient = set(frame.new) | set(self.pending_order)
        for t in to_transient:
            # was_deleted: SQLAlchemy keeps its private _deleted flag here, so
            # the transient object may still report True; unspecified
            t.status, t.ident, t.row_uid, t.marked = St.TRANSIENT, None, None, False
            t.was_deleted = None
        self.pending_order.clear()
        for t in (frame.deleted | {t for t in self.tracked if t.marked}) - to_transient:
            if t.status in (St.DELETED, St.PERSISTENT):
                t.status, t.marked, t.was_deleted = St.PERSISTENT, False, False
        for t in self.idmap().values():
            if not nested or t.modified or t in frame.dirty:
                self._expire(t)
        if not nested:
            self.db = _copy_rows(self.committed)

    def model_commit(self) -> None:
        self.model_flush()
        self.committed = _copy_rows(self.db)
        for t in self.idmap().values():
            if self.expire_on_commit:
                self._expire(t)
        for t in self.tracked:
            if t.status is St.DELETED:
                t.status = St.DETACHED
        self.frames.clear()

    def model_close(self) -> None:
        """close(): expunge everything (no expiry), then end the transaction."""
        for t in self.tracked:
            if t.status is St.PENDING:
                t.status = St.TRANSIENT
            elif t.status is St.PERSISTENT:
                t.status, t.marked = St.DETACHED, False
            elif t.status is St.DELETED:
                t.status = St.UNKNOWN  # SQLAlchemy: still reports "deleted"
        self.pending_order.clear()
        self.frames.clear()
        self.db = _copy_rows(self.committed)

    # -- rules: object lifecycle -------------------------------------------------------
    @initialize(target=objects, versioned=st.booleans(), options=dst.session_options,
                rows=st.lists(st.tuples(dst.item_names, dst.item_qtys), max_size=4),
                then_commit=st.booleans())
    def start(self, versioned: bool, options: dict[str, Any],
              rows: list[tuple[str, int | None]], then_commit: bool) -> Any:
        """Choose the mapping and the Session's options; add a few objects (and
        maybe commit them)."""
        if versioned:
            self.cls = VersionedItem
            self.keys = ("id", "name", "qty", "version_id")
        self.session.close()
        self.session = Session(self.engine, **options)
        self.autoflush = options["autoflush"]
        self.expire_on_commit = options["expire_on_commit"]
        objs = [self._add_new(name, qty) for name, qty in rows]
        if then_commit:
            self.session.commit()
            self.model_commit()
        return multiple(*objs)

    @rule(target=objects, name=dst.item_names, qty=dst.item_qtys)
    def add_new(self, name: str, qty: int | None) -> Any:
        return self._add_new(name, qty)

    def _add_new(self, name: str, qty: int | None) -> Any:
        obj = self.cls(name=name, qty=qty)
        with self.no_sql():
            self.session.add(obj)
        self._autobegin()
        values: dict[str, Any] = {k: ABSENT for k in self.keys}
        values.update(name=name, qty=qty)
        t = self._track(obj, St.PENDING, values, modified=True)
        self.pending_order.append(t)
        return obj

    def _set(self, obj: Any, key: str, value: Any) -> None:
        t = self.t(obj)
        if t.status not in (St.PENDING, St.PERSISTENT):
            return
        if isinstance(t.values[key], Loose):
            self._read_loose(t)
        with self.no_sql():
            setattr(obj, key, value)
        self._autobegin()  # SQLAlchemy: the first change to an attached object autobegins
        if t.status is St.PERSISTENT and key not in t.committed:
            t.committed[key] = EXPIRED if t.values[key] is EXPIRED else t.values[key]
        t.values[key] = value
        t.modified = True

    @rule(obj=objects, change=dst.item_changes)
    def set_attribute(self, obj: Any, change: tuple[str, Any]) -> None:
        """``obj.<key> = value`` on a pending or persistent object."""
        self._set(obj, *change)

    @rule(obj=objects, key=dst.item_attr)
    def set_same_value(self, obj: Any, key: str) -> None:
        """``obj.key = obj.key`` (reading first, without autoflush, if unloaded)."""
        t = self.t(obj)
        if t.status not in (St.PENDING, St.PERSISTENT):
            return
        if t.values[key] is EXPIRED or isinstance(t.values[key], Loose):
            self._read_all(t)
        self._set(obj, key, t.values[key])

    @rule(obj=objects)
    def delete_obj(self, obj: Any) -> None:
        t = self.t(obj)
        if t.status in (St.TRANSIENT, St.PENDING):
            with pytest.raises(dexc.InvalidRequestError):
                self.session.delete(obj)
        elif t.status is St.PERSISTENT:
            with self.no_sql():
                self.session.delete(obj)
            self._autobegin()
            t.marked = True

    @rule(obj=objects)
    def expunge_obj(self, obj: Any) -> None:
        t = self.t(obj)
        if t.status in (St.TRANSIENT, St.DETACHED):
            with pytest.raises(dexc.InvalidRequestError):
                self.session.expunge(obj)
            return
        if t.status is St.UNKNOWN or any(t in f.new for f in self.frames):
            return  # its row would vanish on rollback behind a stale copy: out of scope
        with self.no_sql():
            self.session.expunge(obj)
        if t.status is St.PENDING:
            t.status = St.TRANSIENT
            self.pending_order.remove(t)
        else:
            t.status, t.marked = St.DETACHED, False
            for f in self.frames:
                f.deleted.discard(t)

    @rule(obj=objects)
    def add_again(self, obj: Any) -> None:
        """``session.add()`` of an object that is not transient."""
        t = self.t(obj)
        if t.status in (St.PENDING, St.PERSISTENT):
            with self.no_sql():
                self.session.add(obj)
            self._autobegin()
            t.marked = False  # add() reverts a delete() that was not flushed yet
        elif t.status is St.DELETED or (t.status is St.DETACHED and t.was_deleted):
            with pytest.raises(dexc.InvalidRequestError), self.no_sql():
                self.session.add(obj)  # raises before autobegin, as SQLAlchemy
        elif t.status is St.DETACHED:
            other = self.idmap().get(t.ident)  # type: ignore[arg-type]
            if other is not None:
                with pytest.raises(dexc.InvalidRequestError):
                    self.session.add(obj)
                self._autobegin()
                return
            row = self.db.get(t.ident)  # type: ignore[arg-type]
            if row is None or row.uid != t.row_uid or any(
                    isinstance(v, Loose) for v in t.values.values()) or (
                    self.versioned and t.values["version_id"] not in (
                        EXPIRED, row.vals["version_id"])):
                return  # a stale copy of a row that changed or vanished: out of scope
            with self.no_sql():
                self.session.add(obj)
            self._autobegin()
            t.status = St.PERSISTENT

    # -- rules: flush and transactions ------------------------------------------------
    @rule()
    def flush(self) -> None:
        with self.no_sql(unless=self._has_work()):
            self.session.flush()
        self.model_flush()

    @rule(how=st.sampled_from(["commit", "rollback", "close"]))
    def end_transaction(self, how: str) -> None:
        """``session.commit()`` / ``rollback()`` / ``close()``."""
        if how == "commit":
            self.session.commit()
            self.model_commit()
        elif how == "rollback":
            with self.no_sql(unless=self.in_txn):
                self.session.rollback()
            while self.frames:
                self.model_rollback_frame()
        else:
            self.session.close()
            self.model_close()

    @rule(target=objects, recover_savepoint=st.booleans())
    def failed_flush(self, recover_savepoint: bool) -> Any:
        """Flush a new object whose explicit id collides with an existing row:
        the flush fails as a whole and rolls back its transaction (or
        SAVEPOINT); the Session refuses SQL with PendingRollbackError until
        that SAVEPOINT (if ``recover_savepoint``) or everything is rolled back."""
        idmap = self.idmap()
        taken = [i for i in sorted(self.db) if not (i in idmap and idmap[i].marked)]
        if not taken:
            return multiple()
        obj = self.cls(id=taken[0], name="dup", qty=None)
        self.session.add(obj)
        self._autobegin()
        values: dict[str, Any] = {k: ABSENT for k in self.keys}
        values.update(id=taken[0], name="dup", qty=None)
        self.pending_order.append(self._track(obj, St.PENDING, values, modified=True))
        with warnings.catch_warnings(), pytest.raises((dexc.IntegrityError, orm_exc.FlushError)):
            # (a loaded object with that key draws SQLAlchemy's "conflicts with
            # persistent instance" warning before the INSERT fails)
            warnings.filterwarnings("ignore", "New instance .* conflicts with persistent")
            self.session.flush()
        failed_pending = list(self.pending_order)
        frame = self.frames[-1]
        self.model_rollback_frame()  # the failed flush rolled its boundary back at once
        for t in failed_pending:
            for k in ("id", "version_id"):
                if k in self.keys and t.values[k] is ABSENT:
                    t.values[k] = UNSPEC  # SQLAlchemy leaves ids it fetched; docket undoes
        with pytest.raises(dexc.PendingRollbackError):
            self.session.execute(select(self.cls))
        with pytest.raises(dexc.PendingRollbackError):
            self.session.commit()
        if recover_savepoint and frame.handle is not None:
            frame.handle.rollback()
        else:
            self.session.rollback()
            while self.frames:
                self.model_rollback_frame()
        return multiple(obj)

    @rule(action=st.sampled_from(["begin", "release", "rollback"]))
    def savepoint(self, action: str) -> None:
        """``begin_nested()``, or commit (RELEASE) / roll back the innermost
        SAVEPOINT (a no-op when there is none)."""
        if action == "begin":
            handle = self.session.begin_nested()
            self._autobegin()
            self.model_flush()  # begin_nested() flushes first
            self.frames.append(Frame(_copy_rows(self.db), handle))
            return
        if len(self.frames) < 2:
            return
        frame = self.frames[-1]
        if action == "release":
            frame.handle.commit()
            self.model_flush()
            self.frames.pop()
            parent = self.frames[-1]
            parent.new |= frame.new
            parent.dirty |= frame.dirty
            parent.deleted |= frame.deleted
        else:
            frame.handle.rollback()
            self.model_rollback_frame()

    # -- rules: expiry and loading ------------------------------------------------------
    @rule(obj=objects, keys=st.none() | dst.item_attrs)
    def expire(self, obj: Any, keys: list[str] | None) -> None:
        """``session.expire(obj)`` or ``session.expire(obj, [attribute names])``."""
        t = self.t(obj)
        if t.status is not St.PERSISTENT:
            if t.status is not St.UNKNOWN:
                with pytest.raises(dexc.InvalidRequestError):
                    self.session.expire(obj, keys)
            return
        with self.no_sql():
            self.session.expire(obj, keys)
        if keys is None:
            self._expire(t)
            return
        for k in keys:
            t.values[k] = EXPIRED
            t.committed.pop(k, None)
        if not t.committed:
            # SQLAlchemy keeps InstanceState.modified set here (an undocumented
            # artifact: the object stays in session.dirty with nothing to
            # write); docket drops it from dirty.  Both are accepted; the model
            # follows docket so later savepoint expiry stays predictable.
            t.modified = False

    @rule()
    def expire_all(self) -> None:
        with self.no_sql():
            self.session.expire_all()
        for t in self.idmap().values():
            self._expire(t)

    @rule(obj=objects)
    def refresh(self, obj: Any) -> None:
        t = self.t(obj)
        if t.status is not St.PERSISTENT:
            if t.status is not St.UNKNOWN:
                with pytest.raises(dexc.InvalidRequestError):
                    self.session.refresh(obj)
            return
        if t.marked and self.autoflush:  # refresh expires, autoflushes (DELETE), finds no row
            with pytest.raises(dexc.InvalidRequestError):
                self.session.refresh(obj)
        else:
            self.session.refresh(obj)
        self._expire(t)
        self.model_autoflush()
        self._autobegin()
        if t.status is St.PERSISTENT:
            self._load_expired(t)

    def _read_loose(self, t: Tracked) -> None:
        """Read the Loose attributes (no autoflush) so they are loaded for sure.
        Loading one may load the object's expired ones with it (SQLAlchemy
        would have had the Loose ones loaded already and so load nothing)."""
        with self.session.no_autoflush:
            for k in self.keys:
                v = t.values[k]
                if isinstance(v, Loose):
                    got = getattr(t.obj, k)
                    assert got == v.value, f"{t.label}.{k}: read {got!r}, expected {v.value!r}"
                    t.values[k] = v.value
        self._loose_load_began()
        loaded = inspect(t.obj).dict
        row = self.db[t.ident]  # type: ignore[index]
        for k in self.keys:
            if t.values[k] is EXPIRED and k in loaded:
                want = t.ident if k == "id" else row.vals[k]
                assert loaded[k] == want, f"{t.label}.{k}: loaded {loaded[k]!r}, row has {want!r}"
                t.values[k] = want

    def _loose_load_began(self) -> None:
        """Loading a Loose value may have begun a transaction (docket had it
        unloaded); SQLAlchemy would have run no SQL.  Either is accepted."""
        if not self.in_txn and self.session.in_transaction():
            self._autobegin()

    def _read_all(self, t: Tracked) -> None:
        """Read every attribute (without autoflush) and compare with the model."""
        obj = t.obj
        expired = [k for k in self.keys if t.values[k] is EXPIRED]
        loose = any(isinstance(v, Loose) for v in t.values.values())
        with self.session.no_autoflush, self.no_sql(unless=bool(expired or loose)):
            if t.status is St.PERSISTENT:
                if expired:
                    self._autobegin()
                self._load_expired(t)
                for k in self.keys:
                    want = None if t.values[k] is ABSENT else t.values[k]
                    got = getattr(obj, k)
                    assert got == want, f"{t.label}.{k}: read {got!r}, expected {want!r}"
                self._loose_load_began()
                return
            err: type[BaseException] | None = {
                St.DETACHED: orm_exc.DetachedInstanceError,
                St.DELETED: orm_exc.ObjectDeletedError,
            }.get(t.status)
            for k in self.keys:
                v = t.values[k]
                if isinstance(v, Loose) or v is UNSPEC or t.status is St.UNKNOWN:
                    continue
                if v is EXPIRED:
                    if err is not None:
                        with pytest.raises(err):
                            getattr(obj, k)
                    continue  # transient with expired attributes: SQLAlchemy raises
                want = None if v is ABSENT else v
                got = getattr(obj, k)
                assert got == want, f"{t.label}.{k}: read {got!r}, expected {want!r}"

    @rule(obj=objects, autoflush=st.booleans())
    def read_attributes(self, obj: Any, autoflush: bool) -> None:
        """Read every attribute; an expired one loads from the row, after an
        autoflush unless ``autoflush`` is False (``session.no_autoflush``)."""
        t = self.t(obj)
        if not (autoflush and self.autoflush) or t.status is not St.PERSISTENT:
            self._read_all(t)
            return
        self._read_loose(t)  # (settle what is implementation-defined first)
        expired = [k for k in self.keys if t.values[k] is EXPIRED]
        if t.marked and expired:  # the autoflush DELETEs its row; the load finds none
            with pytest.raises(orm_exc.ObjectDeletedError):
                getattr(obj, expired[0])
            self.model_flush()
            return
        if expired:
            got = getattr(obj, expired[0])
            self.model_flush()
            self._autobegin()
            self._load_expired(t)
            assert got == t.values[expired[0]], (
                f"{t.label}.{expired[0]}: read {got!r}, expected {t.values[expired[0]]!r}")
        self._read_all(t)

    @rule(target=objects, ident=dst.item_ids)
    def get_by_key(self, ident: int) -> Any:
        t = self.idmap().get(ident)
        if t is not None and not t.expired_flag:
            with self.no_sql():  # documented: present and not expired -> no SQL
                got = self.session.get(self.cls, ident)
            assert got is t.obj, f"get({ident}) returned {got!r}, expected {t} with no SQL"
            return multiple()
        got = self.session.get(self.cls, ident)
        self.model_autoflush()
        self._autobegin()
        row = self.db.get(ident)
        t = self.idmap().get(ident)
        if row is None:
            if t is not None:  # expired and its row is gone: it is now deleted
                t.status, t.marked, t.was_deleted = St.DELETED, False, True
                self.frames[-1].deleted.add(t)
            assert got is None, f"get({ident}) returned {got!r}; the row does not exist"
            return multiple()
        if t is not None:
            assert got is t.obj, f"get({ident}) returned {got!r}, expected {t}"
            self._load_expired(t)
            return multiple()
        assert got is not None and id(got) not in self.by_obj, (
            f"get({ident}) returned {got!r}; expected a newly loaded object")
        self._adopt(got, ident, row)
        return multiple(got)

    def _adopt(self, obj: Any, ident: int, row: Row) -> Tracked:
        values = {"id": ident, **row.vals}
        return self._track(obj, St.PERSISTENT, values, ident=ident, row_uid=row.uid)

    @rule(target=objects, autoflush=st.booleans(), populate_existing=st.booleans())
    def select_all(self, autoflush: bool, populate_existing: bool) -> Any:
        """``session.scalars(select(cls).order_by(cls.id)`` with those
        execution options; rows never overwrite loaded (or changed) values
        unless ``populate_existing``."""
        stmt = select(self.cls).order_by(self.cls.id).execution_options(
            autoflush=autoflush, populate_existing=populate_existing)
        got = self.session.scalars(stmt).all()
        if autoflush:
            self.model_autoflush()
        self._autobegin()
        cols = select(*(getattr(self.cls, k) for k in self.keys)).order_by(self.cls.id)
        rows = self.session.execute(cols.execution_options(autoflush=autoflush)).all()
        assert {r[0]: tuple(r[1:]) for r in rows} == self._expected(self.db), (
            f"a column select returned {rows}, model {self._expected(self.db)}")
        idmap = self.idmap()
        assert [inspect(o).dict.get("id") for o in got] == sorted(self.db), (
            f"select returned ids {[inspect(o).dict.get('id') for o in got]}, "
            f"expected {sorted(self.db)}")
        new = []
        for obj, ident in zip(got, sorted(self.db)):
            row = self.db[ident]
            t = idmap.get(ident)
            if t is None:
                assert id(obj) not in self.by_obj, (
                    f"select returned tracked {self.by_obj[id(obj)]} for row {ident}, "
                    "which has no object in the identity map")
                self._adopt(obj, ident, row)
                new.append(obj)
            else:
                assert obj is t.obj, f"select returned {obj!r} for row {ident}, expected {t}"
                for k in self.keys:  # unloaded attributes are populated from the row
                    if populate_existing or t.values[k] is EXPIRED or isinstance(
                            t.values[k], Loose):
                        t.values[k] = ident if k == "id" else row.vals[k]
                t.expired_flag = False
                if populate_existing:  # pending changes are overwritten and forgotten
                    t.committed, t.modified = {}, False
        return multiple(*new)

    # -- invariants ---------------------------------------------------------------------
    @invariant()
    def transaction_flags_match(self) -> None:
        s = self.session
        assert s.in_transaction() == self.in_txn, (
            f"in_transaction() is {s.in_transaction()}, model says {self.in_txn}")
        nested = len(self.frames) > 1
        assert s.in_nested_transaction() == nested
        if nested:
            assert s.get_nested_transaction() is self.frames[-1].handle
        else:
            assert s.get_nested_transaction() is None

    @invariant()
    def objects_match(self) -> None:
        s = self.session
        for t in self.tracked:
            obj = t.obj
            state = inspect(obj)
            if t.status is not St.UNKNOWN:
                flags = {st_.value: getattr(state, st_.value) for st_ in St
                         if st_ is not St.UNKNOWN}
                want = {k: k == t.status.value for k in flags}
                assert flags == want, f"{t}: inspect() says {flags}"
                in_session = t.status in (St.PENDING, St.PERSISTENT)
                assert (obj in s) == in_session, f"{t}: `obj in session` is {obj in s}"
                if t.status in (St.PERSISTENT, St.DELETED, St.DETACHED):
                    assert state.identity == (t.ident,), (
                        f"{t}: identity is {state.identity}")
                else:
                    assert state.identity is None, f"{t}: identity is {state.identity}"
                assert t.was_deleted is None or state.was_deleted == t.was_deleted, (
                    f"{t}: was_deleted is {state.was_deleted}")
            loaded = state.dict
            for k in self.keys:
                v = t.values[k]
                if v is UNSPEC:
                    continue
                if v is EXPIRED or v is ABSENT:
                    assert k not in loaded, (
                        f"{t}: {k!r} should be unloaded ({v}) but holds {loaded[k]!r}")
                elif isinstance(v, Loose):
                    assert loaded.get(k, v.value) == v.value, (
                        f"{t}: {k!r} holds {loaded[k]!r}, expected {v.value!r} or unloaded")
                else:
                    assert k in loaded and loaded[k] == v, (
                        f"{t}: {k!r} holds {loaded.get(k, 'nothing')!r}, expected {v!r}")
            if t.status is St.PERSISTENT:
                assert s.is_modified(obj) == bool(t.net_changed()), (
                    f"{t}: is_modified() is {s.is_modified(obj)}, model changes "
                    f"{t.net_changed()}")

    @invariant()
    def session_collections_match(self) -> None:
        s = self.session
        idmap = self.idmap()

        def labels(objs: Any) -> list[str]:
            return sorted(self.by_obj[id(o)].label if id(o) in self.by_obj else repr(o)
                          for o in objs)

        assert labels(s.new) == sorted(t.label for t in self.pending_order), "session.new"
        assert labels(s.deleted) == sorted(t.label for t in idmap.values() if t.marked), (
            "session.deleted")
        assert labels(s.dirty) == sorted(
            t.label for t in idmap.values() if t.modified and not t.marked), "session.dirty"
        assert labels(s) == sorted(
            [t.label for t in self.pending_order] + [t.label for t in idmap.values()]), (
            "iter(session)")

    def _rows(self, conn: Any) -> dict[int, tuple[Any, ...]]:
        table = self.cls.__table__
        cols = [table.c[k] for k in self.keys]
        return {r[0]: tuple(r[1:]) for r in conn.execute(select(*cols)).all()}

    def _expected(self, rows: dict[int, Row]) -> dict[int, tuple[Any, ...]]:
        return {i: tuple(r.vals[k] for k in self.keys[1:]) for i, r in rows.items()}

    @invariant()
    def database_matches(self) -> None:
        if self.in_txn:  # the transaction's own view, through its connection
            got = self._rows(self.session.connection())
            assert got == self._expected(self.db), (
                f"inside the transaction the table holds {got}, model {self._expected(self.db)}")
        if self.backend == "sqlite-memory" and self.in_txn:
            return  # one shared connection: a second one would see our transaction
        with self.engine.connect() as conn:
            got = self._rows(conn)
        assert got == self._expected(self.committed), (
            f"a second connection sees {got}, committed model {self._expected(self.committed)}")


def test_session_matches_model(engine: Any, backend: Any) -> None:
    """Random add/modify/delete/flush/commit/rollback/savepoint/expire programs keep
    the Session and the database in agreement with the SQLAlchemy-semantics model."""
    Base.metadata.create_all(engine)
    sql_log: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        sql_log.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    run_state_machine_as_test(lambda: SessionMachine(engine, backend.name, sql_log),
                              settings=SETTINGS)
