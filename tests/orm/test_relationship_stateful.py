"""Stateful property test: random parent/child programs against a plain-Python model.

A ``RuleBasedStateMachine`` drives a one-to-many ``Parent.children`` /
``Child.parent`` pair (``back_populates`` on both sides) through random
sequences of: add a parent; add a child to a parent (``parent.children.append``
or ``child.parent = parent`` + ``session.add``); move a child to another parent
(either side); remove a child from its parent (``children.remove`` or
``child.parent = None``); delete a parent; rename; flush; commit; rollback;
``expire_all``; close-and-reload; read a relationship (after a flush, or under
``no_autoflush`` so that unloaded collections merge their pending changes);
``select(Parent)``.  Each example draws the mapping -- ``cascade="all,
delete-orphan"`` with a NOT NULL foreign key, or the default ``"save-update,
merge"`` with a nullable one (removed children keep existing with a NULL key,
deleting a parent nulls its children's keys) -- and the loader of
``Parent.children`` (``"select"`` / ``"selectin"``), plus the Session's
``autoflush`` / ``expire_on_commit``.  SQLite runs with ``PRAGMA
foreign_keys=ON``, so a flush that writes rows in the wrong order fails.

The model (``M`` per Python object, ``db_*`` / ``committed_*`` per table)
follows SQLAlchemy 2.0, checked by running this same machine against it:

* a child's ``parent`` is a model object, ``None``, or ``EXPIRED`` (not
  loaded: it resolves through the foreign key in the transaction's rows);
  ``parent.children``, when loaded, holds exactly the children that resolve
  to it (a transient "ghost" too, see below);
* a pending child that leaves its parent under delete-orphan is expunged at
  once (SQLAlchemy does so also when it *moves* to another parent, as an
  effect of its event order: the "ghost" then sits, transient, in the new
  parent's collection until that expires, and is never inserted);
* after a flush that deletes a parent under the default cascade, the
  children's rows have a NULL key while ``child.parent`` still names the
  deleted object until it expires (SQLAlchemy leaves it so);
* moving or removing a child first reads ``child.parent`` (under
  ``no_autoflush``): with it unloaded SQLAlchemy does not look the old parent
  up, so the old collection is not updated and an orphan is not detected --
  behaviour this test does not try to pin down;
* a lazy load of an unloaded collection that a rule needs (``append``,
  ``remove``, the delete cascade) autoflushes first when ``autoflush`` is on.

Invariants after every step: each object's lifecycle state and membership;
loaded names; every loaded ``parent.children`` and ``child.parent`` equals the
model and the two sides agree (a child in ``p.children`` has ``child.parent is
p`` and vice versa, where both are loaded); the rows seen through the
Session's own connection equal the in-transaction model and the rows a second
connection sees equal the committed model (on sqlite-memory, whose pool shares
one connection, only while the Session holds no transaction).

Known docket bugs are stepped around while their ``SKIP_*`` / ``FLUSH_*`` flag
(below, each with a ``BUG:`` note) is True.  ``HYPOTHESIS_PROFILE`` (``dev`` /
``default`` / ``ci``) scales the run.
"""

from __future__ import annotations

import itertools
import os
import warnings
from dataclasses import dataclass
from enum import Enum
from typing import Any

import strategies as dst
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from docket import ForeignKey, String, delete, event, inspect, select
from docket.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship

# -- profiles ------------------------------------------------------------------------
_PROFILES: dict[str, dict[str, Any]] = {
    "dev": {"max_examples": 20, "stateful_step_count": 25},
    "default": {"max_examples": 60, "stateful_step_count": 30},
    "ci": {"max_examples": 300, "stateful_step_count": 50},
}
_profile = _PROFILES.get(os.environ.get("HYPOTHESIS_PROFILE", "default"), _PROFILES["default"])
SETTINGS = settings(
    deadline=None,
    # CI replays one fixed sequence of examples; local runs keep exploring (and
    # remember what they find in .hypothesis/)
    derandomize=bool(os.environ.get("CI")),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    **_profile,
)

# Known docket bugs the machine steps around while the flag is True (flip it to
# False once fixed; the out-of-tree run against SQLAlchemy 2.0 uses False for all):
#
# Deliberate difference (docs/cascades.md): a *pending* child moved with
# ``other.children.append(child)`` under delete-orphan stays pending in docket (it
# has a parent again); SQLAlchemy 2.0 expunges it and never inserts it -- the
# machine does not model that move.
SKIP_PENDING_APPEND_MOVE = True
# BUG: changes that a backref queues for an *unloaded* collection (``c.parent = p``
# appends to ``p.children``, ``c.parent = other`` removes from the old one) are
# dropped when that collection is loaded without a flush first (autoflush=False or
# ``no_autoflush``) -- the machine then flushes before every such load.
FLUSH_BEFORE_COLLECTION_LOAD = True
# BUG: under delete-orphan, a *pending* child that leaves a parent whose collection
# is not loaded (``c.parent = None`` or ``= other``) is not expunged as an orphan
# (SQLAlchemy: expunged, as when the collection is loaded); docket INSERTs it with a
# NULL key (IntegrityError) -- the machine then skips those operations.
SKIP_PENDING_ORPHAN_OF_UNLOADED = True
# BUG: under delete-orphan, rollback() does not reset what docket tracks about a
# child's parent: a child removed in the rolled-back transaction is DELETEd by the
# next flush that includes it (e.g. after ``child.name = ...``) although it is back
# with its parent; a child moved to another parent there and removed from its
# restored parent afterwards is not seen as an orphan (UPDATE to NULL,
# IntegrityError) -- the machine then does not roll back a transaction in which a
# child was moved or removed.
SKIP_ROLLBACK_AFTER_REPARENT = True
# BUG: under ``all, delete-orphan``, deleting a parent also DELETEs a child that was
# moved from it to another parent since the last flush -- the machine then flushes
# such a move before deleting the parent.
FLUSH_MOVES_BEFORE_PARENT_DELETE = True
# BUG: ``session.add(obj)`` cascades on through objects already in the session
# (SQLAlchemy halts there), so ``d.parent = p; session.add(d)`` also adds a transient
# child sitting in ``p.children`` (a ghost, or one set with ``c.parent = p`` and never
# added) -- the machine then adds no child to a parent whose collection holds a ghost.
SKIP_ADD_NEXT_TO_GHOST = True
# BUG: re-parenting a child whose ``parent`` still names a parent deleted by an
# earlier flush leaves that deleted parent in ``session.dirty`` forever: every flush
# re-flushes it and commit() raises FlushError "Over 100 subsequent flushes" --
# the machine then does not move such children.
SKIP_MOVE_FROM_DELETED_PARENT = True


# -- mapping: four variants (cascade x loader) ----------------------------------------
class Base(DeclarativeBase):
    pass


class OParent(Base):
    """delete-orphan, lazy="select"."""

    __tablename__ = "rsm_oparent"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(40))
    children: Mapped[list[OChild]] = relationship(
        back_populates="parent", cascade="all, delete-orphan")


class OChild(Base):
    __tablename__ = "rsm_ochild"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(40))
    parent_id: Mapped[int] = mapped_column(ForeignKey("rsm_oparent.id"))
    parent: Mapped[OParent] = relationship(back_populates="children")


class OSParent(Base):
    """delete-orphan, lazy="selectin"."""

    __tablename__ = "rsm_osparent"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(40))
    children: Mapped[list[OSChild]] = relationship(
        back_populates="parent", cascade="all, delete-orphan", lazy="selectin")


class OSChild(Base):
    __tablename__ = "rsm_oschild"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(40))
    parent_id: Mapped[int] = mapped_column(ForeignKey("rsm_osparent.id"))
    parent: Mapped[OSParent] = relationship(back_populates="children")


class NParent(Base):
    """default cascade, lazy="select"."""

    __tablename__ = "rsm_nparent"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(40))
    children: Mapped[list[NChild]] = relationship(back_populates="parent")


class NChild(Base):
    __tablename__ = "rsm_nchild"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(40))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("rsm_nparent.id"))
    parent: Mapped[NParent | None] = relationship(back_populates="children")


class NSParent(Base):
    """default cascade, lazy="selectin"."""

    __tablename__ = "rsm_nsparent"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(40))
    children: Mapped[list[NSChild]] = relationship(back_populates="parent", lazy="selectin")


class NSChild(Base):
    __tablename__ = "rsm_nschild"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(40))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("rsm_nsparent.id"))
    parent: Mapped[NSParent | None] = relationship(back_populates="children")


_VARIANTS: dict[tuple[bool, str], tuple[Any, Any]] = {
    (True, "select"): (OParent, OChild),
    (True, "selectin"): (OSParent, OSChild),
    (False, "select"): (NParent, NChild),
    (False, "selectin"): (NSParent, NSChild),
}


def _fk_on(dbapi_connection: Any, connection_record: Any) -> None:
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


# -- model ---------------------------------------------------------------------------
class _Marker:
    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


EXPIRED = _Marker("EXPIRED")


class St(Enum):
    PENDING = "pending"
    PERSISTENT = "persistent"
    DELETED = "deleted"  # its DELETE was flushed in the current transaction
    GHOST = "ghost"  # transient child still sitting in a parent's loaded collection
    GONE = "gone"  # transient / detached / replaced by a reload: no longer checked


@dataclass(eq=False)
class M:
    """What the model expects of one Python object."""

    label: str
    is_parent: bool
    obj: Any
    status: St
    name: str
    ident: int | None = None
    parent: Any = None  # children only: an M, None, or EXPIRED
    marked: bool = False  # session.delete()d (directly or by cascade), not flushed

    @property
    def in_session(self) -> bool:
        return self.status in (St.PENDING, St.PERSISTENT)

    @property
    def live(self) -> bool:
        return self.in_session and not self.marked

    def __repr__(self) -> str:
        return f"{self.label}(id={self.ident}, {self.status.value}{', marked' if self.marked else ''})"


def _identity(obj: Any) -> Any:
    ident = inspect(obj).identity
    return ident[0] if ident else None


class RelationshipMachine(RuleBasedStateMachine):
    """Random parent/child programs; the model lives in plain attributes."""

    def __init__(self, engine: Any, backend: str) -> None:
        super().__init__()
        self.engine = engine
        self.backend = backend
        with engine.begin() as conn:
            for parent_cls, child_cls in _VARIANTS.values():
                conn.execute(delete(child_cls.__table__))
                conn.execute(delete(parent_cls.__table__))
        self.session = Session(engine)
        self.orphans = True
        self.lazy = "select"
        self.P: Any = OParent
        self.C: Any = OChild
        self.autoflush = self.expire_on_commit = True
        self.tracked: list[M] = []
        self.db_p: dict[int, str] = {}  # parent rows as the transaction sees them
        self.db_c: dict[int, tuple[str, int | None]] = {}  # child rows: (name, parent_id)
        self.committed_p: dict[int, str] = {}
        self.committed_c: dict[int, tuple[str, int | None]] = {}
        self.txn_new: set[M] = set()  # inserted in the current transaction
        self.txn_reparented = False  # a child was moved or removed in this transaction
        self._labels = itertools.count()

    def teardown(self) -> None:
        self.session.close()

    # -- model helpers ---------------------------------------------------------------
    def _track(self, obj: Any, is_parent: bool, status: St, name: str, **kw: Any) -> M:
        kind = "P" if is_parent else "C"
        m = M(f"{kind}#{next(self._labels)}", is_parent, obj, status, name, **kw)
        self.tracked.append(m)
        return m

    def m_of(self, obj: Any) -> M:
        for m in self.tracked:
            if m.obj is obj and m.status is not St.GONE:
                return m
        raise AssertionError(f"{obj!r} is not an object the model tracks")

    def parents(self) -> list[M]:
        return [m for m in self.tracked if m.is_parent and m.status is not St.GONE]

    def children(self) -> list[M]:
        return [m for m in self.tracked if not m.is_parent and m.status is not St.GONE]

    def parent_by_ident(self, ident: int) -> M:
        for m in self.parents():
            if m.ident == ident and m.status is St.PERSISTENT:  # (the row exists)
                return m
        raise AssertionError(f"model: no parent object for id {ident}")

    def resolve(self, c: M) -> M | None:
        """The object ``c.parent`` gives (loading it from the foreign key if expired)."""
        if c.parent is EXPIRED:
            fk = self.db_c[c.ident][1]  # type: ignore[index]
            return None if fk is None else self.parent_by_ident(fk)
        return c.parent  # type: ignore[no-any-return]

    def expected_children(self, p: M) -> list[M]:
        return [c for c in self.children()
                if c.status in (St.PENDING, St.PERSISTENT, St.GHOST) and self.resolve(c) is p]

    def _pick(self, cands: list[M], pick: int) -> M | None:
        return cands[pick % len(cands)] if cands else None

    def _expire(self, m: M) -> None:
        if m.is_parent:
            m.name = self.db_p[m.ident]  # type: ignore[index]
            for g in self.children():  # its collection is unloaded: ghosts drop out
                if g.status is St.GHOST and g.parent is m:
                    g.status = St.GONE
        else:
            m.name = self.db_c[m.ident][0]  # type: ignore[index]
            m.parent = EXPIRED

    def model_autoflush(self) -> None:
        if self.autoflush:
            self.model_flush()

    def model_flush(self) -> None:
        """Apply a flush: orphans / cascaded children / parents deleted, new rows
        inserted (ids learned from the objects), every child's key written."""
        fks = {c: self.resolve(c) for c in self.children() if c.status in (
            St.PENDING, St.PERSISTENT)}
        for g in self.children():  # a ghost only queued for an unloaded collection
            if g.status is St.GHOST and "children" not in inspect(g.parent.obj).dict:
                g.status = St.GONE  # is dropped with the parent's flushed history
        for c in self.children():
            if c.status is St.PERSISTENT and (c.marked or (self.orphans and fks[c] is None)):
                del self.db_c[c.ident]  # type: ignore[arg-type]
                c.status, c.marked = St.DELETED, False
        for p in self.parents():
            if p.status is St.PERSISTENT and p.marked:
                del self.db_p[p.ident]  # type: ignore[arg-type]
                p.status, p.marked = St.DELETED, False
        for p in self.parents():
            if p.status is St.PENDING:
                ident = _identity(p.obj)
                assert isinstance(ident, int) and ident not in self.db_p, (
                    f"{p}: after flush the new parent has id {ident!r} (rows: {sorted(self.db_p)})")
                p.status, p.ident = St.PERSISTENT, ident
                self.txn_new.add(p)
            if p.status is St.PERSISTENT:
                self.db_p[p.ident] = p.name  # type: ignore[index]
        for c in self.children():
            if c.status not in (St.PENDING, St.PERSISTENT):
                continue
            rp = fks[c]
            fk = rp.ident if rp is not None and rp.status is St.PERSISTENT else None
            assert not (self.orphans and fk is None), f"model: {c} would be saved without parent"
            if c.status is St.PENDING:
                ident = _identity(c.obj)
                assert isinstance(ident, int) and ident not in self.db_c, (
                    f"{c}: after flush the new child has id {ident!r} (rows: {sorted(self.db_c)})")
                c.status, c.ident = St.PERSISTENT, ident
                self.txn_new.add(c)
            self.db_c[c.ident] = (c.name, fk)  # type: ignore[index]

    def model_commit(self) -> None:
        self.model_flush()
        self.committed_p, self.committed_c = dict(self.db_p), dict(self.db_c)
        self.txn_new.clear()
        self.txn_reparented = False
        for m in self.tracked:
            if m.status is St.DELETED:
                m.status = St.GONE
        if self.expire_on_commit:
            for m in self.tracked:
                if m.status is St.PERSISTENT:
                    self._expire(m)

    def model_rollback(self) -> None:
        self.db_p, self.db_c = dict(self.committed_p), dict(self.committed_c)
        for m in self.tracked:
            if m.status in (St.PENDING, St.GHOST) or m in self.txn_new:
                m.status = St.GONE
            elif m.status in (St.PERSISTENT, St.DELETED):
                m.status, m.marked = St.PERSISTENT, False
        self.txn_new.clear()
        self.txn_reparented = False
        for m in self.tracked:
            if m.status is St.PERSISTENT:
                self._expire(m)

    def model_close(self) -> None:
        for m in self.tracked:
            m.status = St.GONE
        self.txn_new.clear()
        self.txn_reparented = False
        self.db_p, self.db_c = dict(self.committed_p), dict(self.committed_c)

    # -- operations shared by rules --------------------------------------------------
    def _unloaded(self, p: M) -> bool:
        """Whether reading ``p.children`` loads it (with SQL)."""
        return p.status is St.PERSISTENT and "children" not in inspect(p.obj).dict

    def _bug_flush(self) -> None:
        """Flush explicitly (see FLUSH_BEFORE_COLLECTION_LOAD)."""
        self.session.flush()
        self.model_flush()

    def _collection(self, p: M) -> Any:
        """``p.children``, modelling the autoflush of its lazy load."""
        will_load = self._unloaded(p)
        if will_load and FLUSH_BEFORE_COLLECTION_LOAD and not self.autoflush:
            self._bug_flush()
        coll = p.obj.children
        if will_load:
            self.model_autoflush()
        return coll

    def _load_parent(self, c: M) -> None:
        """Read ``c.parent`` (no autoflush) so that the ORM knows the old parent
        when the child moves: SQLAlchemy does not look it up then, and leaves
        the old collection (and orphan detection) uninformed."""
        if "parent" in inspect(c.obj).dict:
            return
        if FLUSH_BEFORE_COLLECTION_LOAD:  # (the refresh of an expired parent may
            self._bug_flush()  # load its selectin collection)
        want = self.resolve(c)
        with self.session.no_autoflush:
            got = c.obj.parent
        assert got is (want.obj if want is not None else None), (
            f"{c}.parent loaded {got!r}, expected {want}")
        c.parent = want

    def _bug_orphan(self, c: M) -> bool:
        """Whether ``c`` is a pending child of an unloaded collection under
        delete-orphan (see SKIP_PENDING_ORPHAN_OF_UNLOADED)."""
        old = self.resolve(c)
        return (SKIP_PENDING_ORPHAN_OF_UNLOADED and self.orphans and c.status is St.PENDING
                and old is not None and self._unloaded(old))

    def _bug_stale(self, c: M) -> bool:
        """Whether ``c.parent`` names a deleted parent (see SKIP_MOVE_FROM_DELETED_PARENT)."""
        return SKIP_MOVE_FROM_DELETED_PARENT and isinstance(c.parent, M) and (
            c.parent.status in (St.DELETED, St.GONE))

    def _new_child(self, p: M, name: str, via_append: bool) -> None:
        child = self.C(name=name)
        if via_append:
            self._collection(p).append(child)
        else:
            child.parent = p.obj
            self.session.add(child)
        self._track(child, False, St.PENDING, name, parent=p)

    # -- rules ---------------------------------------------------------------------------
    @initialize(mapping=dst.rel_mappings, options=dst.session_options,
                families=dst.rel_families, then_commit=st.booleans())
    def start(self, mapping: dict[str, Any], options: dict[str, bool],
              families: list[tuple[str, list[str]]], then_commit: bool) -> None:
        """Choose the mapping and the Session's options; add a few families."""
        self.orphans, self.lazy = bool(mapping["orphans"]), str(mapping["lazy"])
        self.P, self.C = _VARIANTS[(self.orphans, self.lazy)]
        self.session.close()
        self.session = Session(self.engine, **options)
        self.autoflush, self.expire_on_commit = options["autoflush"], options["expire_on_commit"]
        for pname, cnames in families:
            kids = [self.C(name=n) for n in cnames]
            parent = self.P(name=pname, children=kids)
            self.session.add(parent)
            p = self._track(parent, True, St.PENDING, pname)
            for kid, n in zip(kids, cnames):
                self._track(kid, False, St.PENDING, n, parent=p)
        if then_commit:
            self.session.commit()
            self.model_commit()

    @rule(name=dst.item_names)
    def add_parent(self, name: str) -> None:
        parent = self.P(name=name)
        self.session.add(parent)
        self._track(parent, True, St.PENDING, name)

    @rule(pick=dst.rel_picks, name=dst.item_names, via_append=st.booleans())
    def add_child(self, pick: int, name: str, via_append: bool) -> None:
        """A new child: ``p.children.append(c)``, or ``c.parent = p`` and ``add(c)``."""
        p = self._pick([m for m in self.parents() if m.live], pick)
        if p is None:
            return
        if SKIP_ADD_NEXT_TO_GHOST and any(
                g.status is St.GHOST and g.parent is p for g in self.children()):
            return  # BUG: see SKIP_ADD_NEXT_TO_GHOST
        self._new_child(p, name, via_append)

    @rule(cpick=dst.rel_picks, ppick=dst.rel_picks, via_append=st.booleans())
    def move_child(self, cpick: int, ppick: int, via_append: bool) -> None:
        """Give a child another parent: ``new.children.append(c)`` or ``c.parent = new``."""
        c = self._pick([m for m in self.children() if m.live], cpick)
        if c is None:
            return
        target = self._pick([m for m in self.parents() if m.live and m is not self.resolve(c)],
                            ppick)
        if target is None:
            return
        if via_append and self.orphans and c.status is St.PENDING and SKIP_PENDING_APPEND_MOVE:
            return  # BUG: see SKIP_PENDING_APPEND_MOVE
        if self._bug_stale(c):
            return
        self._load_parent(c)
        if not c.live or self._bug_stale(c):  # (a BUG flush deleted it, or its parent)
            return
        if via_append:
            coll = self._collection(target)  # may autoflush: c may be saved, or deleted
            if not c.live:  # as an orphan: appending it now would raise
                return
            if self._bug_stale(c):  # (the autoflush deleted its parent)
                return
            coll.append(c.obj)
        else:
            if self._bug_orphan(c):
                return
            c.obj.parent = target.obj
        old = self.resolve(c)
        c.parent = target
        self.txn_reparented = True
        if self.orphans and c.status is St.PENDING and old is not None:
            # it left its parent while pending: expunged (SQLAlchemy's event order)
            c.status = St.GHOST

    @rule(pick=dst.rel_picks, via_collection=st.booleans())
    def remove_child(self, pick: int, via_collection: bool) -> None:
        """Take a child from its parent: ``p.children.remove(c)`` or ``c.parent = None``."""
        c = self._pick([m for m in self.children() if m.live and (
            (rp := self.resolve(m)) is not None and rp.live)], pick)
        if c is None:
            return
        p = self.resolve(c)
        assert p is not None
        self._load_parent(c)
        if via_collection:
            self._collection(p).remove(c.obj)
        else:
            if self._bug_orphan(c):
                return
            c.obj.parent = None
        c.parent = None
        self.txn_reparented = True
        if self.orphans and c.status is St.PENDING:
            c.status = St.GONE  # a pending orphan is expunged at once

    @rule(pick=dst.rel_picks)
    def delete_parent(self, pick: int) -> None:
        """``session.delete(p)``: with ``all`` its children are deleted too (the
        cascade loads the collection); otherwise the flush nulls their keys.
        Children given to ``p`` since the last flush are flushed first: SQLAlchemy
        would write their key (to ``p``) and then fail to delete ``p``."""
        p = self._pick([m for m in self.parents() if m.live and m.status is St.PERSISTENT], pick)
        if p is None:
            return
        if any(c.status is St.PENDING or (c.status is St.PERSISTENT and self.db_c[
                c.ident][1] != p.ident) for c in self.expected_children(p)):  # type: ignore[index]
            self.session.flush()
            self.model_flush()
            if not p.live:
                return
        if FLUSH_MOVES_BEFORE_PARENT_DELETE and self.orphans and any(
                c.status is St.PERSISTENT and self.db_c[c.ident][1] == p.ident  # type: ignore[index]
                and self.resolve(c) is not p for c in self.children()):
            self._bug_flush()
            if not p.live:
                return
        will_load = self.orphans and self._unloaded(p)
        if will_load and FLUSH_BEFORE_COLLECTION_LOAD and not self.autoflush:
            self._bug_flush()
        self.session.delete(p.obj)
        if will_load:
            self.model_autoflush()
        p.marked = True
        if self.orphans:
            for c in self.expected_children(p):
                if c.status is St.PERSISTENT:
                    c.marked = True

    @rule(pick=dst.rel_picks, name=dst.item_names)
    def rename(self, pick: int, name: str) -> None:
        m = self._pick([m for m in self.tracked if m.live], pick)
        if m is not None:
            m.obj.name = name
            m.name = name

    @rule()
    def flush(self) -> None:
        self.session.flush()
        self.model_flush()

    @rule()
    def commit(self) -> None:
        self.session.commit()
        self.model_commit()

    @rule()
    def rollback(self) -> None:
        if SKIP_ROLLBACK_AFTER_REPARENT and self.orphans and self.txn_reparented:
            return  # BUG: see SKIP_ROLLBACK_AFTER_REPARENT
        self.session.rollback()
        self.model_rollback()

    @rule()
    def flush_and_expire_all(self) -> None:
        """``flush()`` then ``expire_all()`` (every loaded attribute and collection)."""
        self.session.flush()
        self.model_flush()
        self.session.expire_all()
        for m in self.tracked:
            if m.status is St.PERSISTENT:
                self._expire(m)

    @rule()
    def close_and_reload(self) -> None:
        """``close()``, then load every parent and child into fresh objects."""
        self.session.close()
        self.model_close()
        self._select_parents(autoflush=True)
        children = self.session.scalars(select(self.C).order_by(self.C.id)).all()
        assert [c.id for c in children] == sorted(self.db_c), (
            f"select(Child) returned ids {[c.id for c in children]}, rows {sorted(self.db_c)}")
        for obj in children:
            if not any(m.obj is obj and m.status is St.PERSISTENT for m in self.tracked):
                self._adopt_child(obj)

    def _adopt_child(self, obj: Any) -> M:
        ident = _identity(obj)
        return self._track(obj, False, St.PERSISTENT, self.db_c[ident][0], ident=ident,
                           parent=EXPIRED)

    def _select_parents(self, autoflush: bool) -> None:
        unloaded = {id(m.obj) for m in self.parents() if m.status is St.PERSISTENT
                    and "children" not in inspect(m.obj).dict}
        stmt = select(self.P).order_by(self.P.id).execution_options(autoflush=autoflush)
        got = self.session.scalars(stmt).all()
        if autoflush:
            self.model_autoflush()
        assert [_identity(o) for o in got] == sorted(self.db_p), (
            f"select(Parent) returned ids {[_identity(o) for o in got]}, rows {sorted(self.db_p)}")
        for obj in got:
            ident = _identity(obj)
            known = [m for m in self.parents() if m.obj is obj]
            if known:
                assert known[0].status is St.PERSISTENT and known[0].ident == ident
            else:
                assert not any(m.status is St.PERSISTENT and m.ident == ident
                               for m in self.parents()), f"select(Parent) gave a 2nd object {ident}"
                self._track(obj, True, St.PERSISTENT, self.db_p[ident], ident=ident)
                unloaded.add(id(obj))
            if self.lazy == "selectin" and id(obj) in unloaded:
                assert "children" in inspect(obj).dict, (
                    f"lazy='selectin': parent {ident} came back without its children loaded")
        # selectin may have loaded children that are not yet tracked
        for obj in got:
            for kid in inspect(obj).dict.get("children", ()):
                if not any(m.obj is kid and m.status is not St.GONE for m in self.tracked):
                    self._adopt_child(kid)

    @rule(autoflush=st.booleans())
    def select_parents(self, autoflush: bool) -> None:
        """``session.scalars(select(Parent))`` with or without autoflush."""
        if FLUSH_BEFORE_COLLECTION_LOAD and (not autoflush or not self.autoflush):
            self._bug_flush()
        if not autoflush or not self.autoflush:
            with self.session.no_autoflush:
                self._select_parents(autoflush=False)
        else:
            self._select_parents(autoflush=True)

    @rule(pick=dst.rel_picks, flush_first=st.booleans())
    def read(self, pick: int, flush_first: bool) -> None:
        """Read ``p.children`` / ``c.parent`` (under ``no_autoflush``, after a flush
        if ``flush_first``) and compare with the model."""
        m = self._pick([m for m in self.tracked if m.live], pick)
        if m is None:
            return
        if flush_first or (FLUSH_BEFORE_COLLECTION_LOAD and (  # (a parent's refresh may
                self._unloaded(m) if m.is_parent else "parent" not in inspect(m.obj).dict)):
            self.session.flush()
            self.model_flush()
            if not m.live:
                return
        with self.session.no_autoflush:
            if m.is_parent:
                got = list(m.obj.children)
                for kid in got:
                    if not any(t.obj is kid and t.status is not St.GONE for t in self.tracked):
                        assert m.status is St.PERSISTENT
                        raise AssertionError(f"{m}.children holds {kid!r}, unknown to the model")
                want = self.expected_children(m)
                labels = sorted(self.m_of(k).label for k in got)
                assert labels == sorted(c.label for c in want), (
                    f"{m}.children read {labels}, expected {sorted(c.label for c in want)}")
                assert len(got) == len({id(k) for k in got}), f"{m}.children has duplicates"
            else:
                got = m.obj.parent
                want_p = self.resolve(m)
                assert got is (want_p.obj if want_p is not None else None), (
                    f"{m}.parent read {got!r}, expected {want_p}")
                if m.parent is EXPIRED:
                    m.parent = want_p
            assert m.obj.name == m.name, f"{m}.name read {m.obj.name!r}, expected {m.name!r}"

    # -- invariants ---------------------------------------------------------------------
    @invariant()
    def objects_match(self) -> None:
        s = self.session
        for m in self.tracked:
            if m.status is St.GONE:
                continue
            state = inspect(m.obj)
            want = {"pending": m.status is St.PENDING, "persistent": m.status is St.PERSISTENT,
                    "deleted": m.status is St.DELETED, "transient": m.status is St.GHOST}
            got = {k: getattr(state, k) for k in want}
            assert got == want, f"{m}: inspect() says {got}"
            assert (m.obj in s) == m.in_session, f"{m}: `obj in session` is {m.obj in s}"
            if m.status in (St.PERSISTENT, St.DELETED):
                assert state.identity == (m.ident,), f"{m}: identity is {state.identity}"
            assert (m.obj in s.deleted) == (m.marked and m.status is St.PERSISTENT), (
                f"{m}: `obj in session.deleted` is {m.obj in s.deleted}")
            loaded = state.dict
            if m.in_session and "name" in loaded:
                assert loaded["name"] == m.name, f"{m}: name is {loaded['name']!r}, want {m.name!r}"

    @invariant()
    def relationships_match(self) -> None:
        """Loaded collections and references equal the model."""
        for m in self.tracked:
            if not m.in_session:
                continue
            loaded = inspect(m.obj).dict
            if m.is_parent and not m.marked and "children" in loaded:
                got = list(loaded["children"])
                labels = sorted(self.m_of(k).label for k in got)
                want = sorted(c.label for c in self.expected_children(m))
                assert labels == want, f"{m}.children holds {labels}, model {want}"
                assert len(got) == len({id(k) for k in got}), f"{m}.children has duplicates"
            elif not m.is_parent and m.parent is not EXPIRED and "parent" in loaded:
                want_p = m.parent.obj if m.parent is not None else None
                assert loaded["parent"] is want_p, (
                    f"{m}.parent is {loaded['parent']!r}, model {m.parent}")

    @invariant()
    def backrefs_agree(self) -> None:
        """Model-free: where both sides are loaded, ``c in p.children`` iff ``c.parent is p``."""
        s = self.session
        for p in self.parents():
            if not p.live:
                continue
            coll = inspect(p.obj).dict.get("children")
            if coll is None:
                continue
            for kid in coll:
                ref = inspect(kid).dict.get("parent", p.obj)
                assert ref is p.obj, f"{kid!r} is in {p}.children but its parent is {ref!r}"
            for c in self.children():
                if c.live and c.obj in s and inspect(c.obj).dict.get("parent") is p.obj:
                    assert any(k is c.obj for k in coll), (
                        f"{c}.parent is {p} but {p}.children (loaded) lacks it")

    def _rows(self, conn: Any) -> tuple[dict[int, str], dict[int, tuple[str, int | None]]]:
        pt, ct = self.P.__table__, self.C.__table__
        ps = {r[0]: r[1] for r in conn.execute(select(pt.c.id, pt.c.name)).all()}
        cs = {r[0]: (r[1], r[2]) for r in conn.execute(
            select(ct.c.id, ct.c.name, ct.c.parent_id)).all()}
        return ps, cs

    @invariant()
    def database_matches(self) -> None:
        in_txn = self.session.in_transaction()
        if in_txn:  # the transaction's own view, through its connection
            got = self._rows(self.session.connection())
            assert got == (self.db_p, self.db_c), (
                f"inside the transaction the tables hold {got}, model {(self.db_p, self.db_c)}")
        else:
            assert (self.db_p, self.db_c) == (self.committed_p, self.committed_c), (
                "model: no transaction, yet uncommitted rows")
        if self.backend == "sqlite-memory" and in_txn:
            return  # one shared connection: a second one would see our transaction
        with self.engine.connect() as conn:
            got = self._rows(conn)
        assert got == (self.committed_p, self.committed_c), (
            f"a second connection sees {got}, committed model "
            f"{(self.committed_p, self.committed_c)}")


def run_machine(engine: Any, backend: str) -> None:
    """Create the tables and run the machine (also used by an out-of-tree cross-check)."""
    Base.metadata.create_all(engine)
    with warnings.catch_warnings():
        # the flush warns about a ghost child in a collection ("not in session")
        warnings.filterwarnings("ignore", "Object of type .* not in session")
        run_state_machine_as_test(lambda: RelationshipMachine(engine, backend),
                                  settings=SETTINGS)


def test_relationships_match_model(engine: Any, backend: Any) -> None:
    """Random add/move/remove-child, delete-parent, flush/commit/rollback/expire/reload
    programs keep both sides of the relationship and both tables in agreement with
    the SQLAlchemy-semantics model, on an FK-enforcing database."""
    if backend.is_sqlite:
        event.listen(engine, "connect", _fk_on)
        engine.dispose()
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    run_machine(engine, backend.name)



