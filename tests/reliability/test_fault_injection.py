"""A DB-API error injected at every call of a realistic commit, and at every
call inside a SAVEPOINT, on each backend.

The unit of work (``apply_changes``) mixes what applications do in one
transaction: an UPDATE of a plain column, a new parent with new children and a
new tag (INSERTs with generated keys), a child moved to another parent, a child
removed from its collection (delete-orphan DELETE), a many-to-many link removed
and one added, two ``post_update`` links set, and a parent deleted with its
children (cascade, after its ``post_update`` link is nulled).

A reference run records the calls (execute / executemany / commit) of the
``commit()``; then, for every call ``k`` and for both ``IntegrityError`` and
``OperationalError``, a fresh database runs the same work with call ``k``
failing, and the test checks the failure contract (docs/reliability.md):
the error names the statement, ``rollback()`` leaves the database exactly as
before and the objects in their SPEC §5 states, and redoing the same changes
with the same objects commits the expected rows.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from docket import Column, ForeignKey, String, Table, event, inspect, select
from docket import exc as dexc
from docket.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship
from docket.testing import Call, FailurePlan, Fault, Recorder, recording_engine

ERRORS = ("IntegrityError", "OperationalError")
TABLES = ("rel_parent", "rel_child", "rel_tag", "rel_parent_tag")


class Base(DeclarativeBase):
    pass


parent_tag = Table(
    "rel_parent_tag",
    Base.metadata,
    Column("parent_id", ForeignKey("rel_parent.id"), primary_key=True),
    Column("tag_id", ForeignKey("rel_tag.id"), primary_key=True),
)


class Parent(Base):
    __tablename__ = "rel_parent"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(40), unique=True)
    favorite_id: Mapped[int | None] = mapped_column(ForeignKey("rel_child.id", use_alter=True))
    children: Mapped[list[Child]] = relationship(
        back_populates="parent", cascade="all, delete-orphan",
        foreign_keys="Child.parent_id", order_by="Child.id",
    )
    favorite: Mapped[Child | None] = relationship(foreign_keys=[favorite_id], post_update=True)
    tags: Mapped[list[Tag]] = relationship(
        secondary=parent_tag, back_populates="parents", order_by="Tag.id"
    )


class Child(Base):
    __tablename__ = "rel_child"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(40))
    parent_id: Mapped[int] = mapped_column(ForeignKey("rel_parent.id"))
    parent: Mapped[Parent] = relationship(back_populates="children", foreign_keys=[parent_id])


class Tag(Base):
    __tablename__ = "rel_tag"
    id: Mapped[int] = mapped_column(primary_key=True)
    label: Mapped[str] = mapped_column(String(40))
    parents: Mapped[list[Parent]] = relationship(secondary=parent_tag, back_populates="tags")


# -- the scenario -----------------------------------------------------------------------

View = dict[str, Any]
#: parent name -> (favorite child's name, child names, tag labels)
ParentView = dict[str, tuple[str | None, tuple[str, ...], tuple[str, ...]]]


def seed(engine: Any, width: int) -> None:
    """Empty the tables, then commit ``width`` families in their initial state."""
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE rel_parent SET favorite_id = NULL")
        for table in ("rel_parent_tag", "rel_child", "rel_tag", "rel_parent"):
            conn.exec_driver_sql(f"DELETE FROM {table}")
    with Session(engine) as s:
        for i in range(width):
            p4 = Parent(name=f"p4_{i}", children=[Child(name=f"c7_{i}")])
            s.add_all([
                Parent(name=f"p1_{i}", children=[Child(name=f"c{n}_{i}") for n in (1, 2, 3)],
                       tags=[Tag(label=f"t1_{i}")]),
                Parent(name=f"p2_{i}", children=[Child(name=f"c4_{i}")]),
                p4, Tag(label=f"t2_{i}"),
            ])
            s.flush()
            p4.favorite = p4.children[0]
        s.commit()


def initial_view(width: int) -> View:
    """The logical content right after :func:`seed`."""
    parents: ParentView = {}
    tags: list[str] = []
    for i in range(width):
        parents[f"p1_{i}"] = (None, (f"c1_{i}", f"c2_{i}", f"c3_{i}"), (f"t1_{i}",))
        parents[f"p2_{i}"] = (None, (f"c4_{i}",), ())
        parents[f"p4_{i}"] = (f"c7_{i}", (f"c7_{i}",), ())
        tags += [f"t1_{i}", f"t2_{i}"]
    return {"parents": parents, "tags": sorted(tags)}


def final_view(width: int, *, outer: bool = False) -> View:
    """The logical content after :func:`apply_changes` committed (plus the
    SAVEPOINT test's outer work when ``outer``)."""
    parents: ParentView = {}
    tags: list[str] = []
    for i in range(width):
        p2_name = f"p2_{i}-outer" if outer else f"p2_{i}"
        parents[f"p1_{i}-renamed"] = (f"c1_{i}", (f"c1_{i}",), (f"t2_{i}",))
        parents[p2_name] = (None, (f"c2_{i}", f"c4_{i}"), ())
        parents[f"p3_{i}"] = (f"c5_{i}", (f"c5_{i}", f"c6_{i}"), (f"t3_{i}",))
        tags += [f"t1_{i}", f"t2_{i}", f"t3_{i}"]
    if outer:
        parents["outer"] = (None, ("oc",), ())
    return {"parents": parents, "tags": sorted(tags)}


def logical_view(conn: Any) -> View:
    """Parents (favorite, children, tags) by name and tag labels, read with raw SQL."""
    q = conn.exec_driver_sql
    child_name = dict(q("SELECT id, name FROM rel_child").all())
    label = dict(q("SELECT id, label FROM rel_tag").all())
    parents: View = {}
    for pid, name, fav in q("SELECT id, name, favorite_id FROM rel_parent").all():
        kids = q(f"SELECT name FROM rel_child WHERE parent_id = {int(pid)}").scalars().all()
        tag_ids = q(f"SELECT tag_id FROM rel_parent_tag WHERE parent_id = {int(pid)}")
        parents[name] = (
            child_name[fav] if fav is not None else None,
            tuple(sorted(kids)),
            tuple(sorted(label[t] for t in tag_ids.scalars().all())),
        )
    return {"parents": parents, "tags": sorted(label.values())}


def raw_rows(conn: Any) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, exactly, in primary-key order."""
    return {
        t: [tuple(r) for r in conn.exec_driver_sql(f"SELECT * FROM {t} ORDER BY 1, 2").all()]
        for t in TABLES
    }


@dataclass
class Family:
    """One family's objects: loaded ones, and the new ones (created once, reused)."""

    i: int
    loaded: dict[str, Any] = field(default_factory=dict)
    new: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        i = self.i
        self.new = {"p3": Parent(name=f"p3_{i}"), "c5": Child(name=f"c5_{i}"),
                    "c6": Child(name=f"c6_{i}"), "t3": Tag(label=f"t3_{i}")}

    def load(self, s: Session) -> None:
        """Load this family's rows and every collection the changes touch."""
        i = self.i
        by_name = {p.name: p for p in s.scalars(
            select(Parent).where(Parent.name.in_([f"p1_{i}", f"p2_{i}", f"p4_{i}"])))}
        p1, p2, p4 = by_name[f"p1_{i}"], by_name[f"p2_{i}"], by_name[f"p4_{i}"]
        t1, t2 = s.scalars(
            select(Tag).where(Tag.label.in_([f"t1_{i}", f"t2_{i}"])).order_by(Tag.id)).all()
        c1, c2, c3 = p1.children
        (c4,) = p2.children
        (c7,) = p4.children
        assert p1.tags == [t1] and p4.favorite is c7 and p1.favorite is None
        self.loaded = dict(p1=p1, p2=p2, p4=p4, c1=c1, c2=c2, c3=c3, c4=c4, c7=c7, t1=t1, t2=t2)

    def apply_changes(self, s: Session) -> None:
        """The mixed unit of work (idempotent for the new objects, so it can be redone)."""
        o, n = self.loaded, self.new
        o["p1"].name = f"p1_{self.i}-renamed"            # UPDATE
        o["p2"].children.append(o["c2"])                  # move: UPDATE child.parent_id
        o["p1"].children.remove(o["c3"])                  # delete-orphan: DELETE
        o["p1"].tags.remove(o["t1"])                      # m2m: DELETE link
        o["p1"].tags.append(o["t2"])                      # m2m: INSERT link
        n["p3"].children = [n["c5"], n["c6"]]             # INSERT parent + children
        n["p3"].tags = [n["t3"]]                          # INSERT tag + link
        n["p3"].favorite = n["c5"]                        # post_update on new rows
        o["p1"].favorite = o["c1"]                        # post_update on old rows
        s.add(n["p3"])
        s.delete(o["p4"])                                 # cascade: c7 too, link nulled

    def check_rolled_back(self, s: Session, flush_failed: bool) -> None:
        """Objects are in SPEC §5's post-rollback states and reload the old values."""
        o, n, i = self.loaded, self.new, self.i
        for key, obj in n.items():
            st = inspect(obj)
            assert st.transient and obj not in s, f"new {key} is not transient: {st.status}"
            assert st.identity is None, f"new {key} kept identity {st.identity}"
            if flush_failed:  # the failed flush's undo put the generated keys back
                assert obj.id is None, f"new {key} kept generated id {obj.id}"
            else:  # the flush had succeeded: its values stay, as in SQLAlchemy
                assert obj.id is not None, f"new {key} lost the key its flush gave it"
        for key, obj in o.items():
            st = inspect(obj)
            assert st.persistent, f"{key} is {st.status} after rollback, expected persistent"
            assert st.expired_attributes, f"{key} was not expired by rollback"
        assert o["p1"].name == f"p1_{i}"
        assert o["p1"].children == [o["c1"], o["c2"], o["c3"]]
        assert o["p1"].tags == [o["t1"]] and o["p1"].favorite is None
        assert o["p2"].children == [o["c4"]] and o["c2"].parent is o["p1"]
        assert o["c3"].parent is o["p1"]                  # orphan-deleted: restored
        assert o["p4"].favorite is o["c7"] and o["p4"].children == [o["c7"]]  # deleted: restored
        assert not s.new and not s.dirty and not s.deleted


# -- fixtures and helpers ------------------------------------------------------------------

@dataclass
class World:
    """A recording engine on one backend plus a reader that bypasses the recorder."""

    engine: Any
    recorder: Recorder
    read: Callable[[Callable[[Any], Any]], Any]
    independent_reader: bool


def _fk_on(dbapi_connection: Any, connection_record: Any) -> None:
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def open_world(backend: Any, request: pytest.FixtureRequest,
               plain_engine: Callable[..., Any]) -> World:
    """The schema on ``backend`` (PostgreSQL emptied first), a recording engine
    disposed at teardown, and an independent reader."""
    if backend.is_postgresql:
        request.getfixturevalue("pg_server").reset_schema()
    engine, recorder = recording_engine(backend.url)
    request.addfinalizer(engine.dispose)
    if backend.is_sqlite:  # enforce foreign keys, as PostgreSQL does
        event.listen(engine, "connect", _fk_on)
    Base.metadata.create_all(engine)
    # sqlite:// is one connection's private database: read it through the same
    # engine (no transaction is open when the tests read); others get their own.
    reader = engine if backend.name == "sqlite-memory" else plain_engine(backend.url)

    def read(fn: Callable[[Any], Any]) -> Any:
        with reader.connect() as conn:
            return fn(conn)

    return World(engine, recorder, read, reader is not engine)


@pytest.fixture
def world(backend: Any, request: pytest.FixtureRequest,
          plain_engine: Callable[..., Any]) -> World:
    """See :func:`open_world`."""
    return open_world(backend, request, plain_engine)


def fault_points(calls: list[Call]) -> list[tuple[Call, Fault]]:
    """For each execute/executemany/commit call, the Fault that fails exactly it."""
    points, seen = [], Counter[str]()
    for call in calls:
        if call.kind == "rollback":
            continue  # a pool reset after the work; not part of it
        on = "statement" if call.is_statement else call.kind
        points.append((call, Fault(on, seen[on])))
        seen[on] += 1
    return points


def armed(fault: Fault, error: str) -> FailurePlan:
    """A one-fault plan failing ``fault``'s call with the driver's ``error`` class."""
    return FailurePlan(Fault(fault.on, fault.index, error,
                             f"docket.testing: injected {error} at call #{fault.index}"))


def check_error(err: BaseException, call: Call, error: str) -> None:
    """The session's error is docket's wrapper of the injected one, naming the statement."""
    assert isinstance(err, dexc.DBAPIError), f"{type(err).__name__} is not a docket DBAPIError"
    assert type(err).__name__ == error, f"expected {error}, got {type(err).__name__}"
    assert err.statement == call.sql, f"error names {err.statement!r}, failing call {call.sql!r}"
    text = str(err)
    assert f"injected {error}" in text
    assert call.sql.split()[0] in text and call.sql[:60] in text, text


# -- the drivers ---------------------------------------------------------------------------

#: docket bug (reported): flush reads the key of an *expired* related object from
#: ``__dict__`` without loading it -- many-to-many rows and post_update links get
#: NULL (see test_links_to_expired_objects_are_written).  Until it is fixed the
#: redo step refreshes the rolled-back (expired) objects first; drop this then.
REFRESH_BEFORE_REDO = False


def _start(w: World, width: int) -> tuple[Session, list[Family]]:
    """A session with every family loaded and its changes applied (not flushed)."""
    s = Session(w.engine)
    fams = [Family(i) for i in range(width)]
    for f in fams:
        f.load(s)
    for f in fams:
        f.apply_changes(s)
    return s, fams


def _redo(s: Session, fams: list[Family]) -> None:
    """Re-add the same new objects and redo the same changes on the same objects."""
    for f in fams:
        if REFRESH_BEFORE_REDO:
            for obj in f.loaded.values():
                s.refresh(obj)
        s.add_all(f.new.values())
        f.apply_changes(s)


def run_commit_faults(w: World, width: int, tally: Counter[str], *,
                      only_commit: bool = False, alternate: bool = False) -> int:
    """Drive the commit scenario with a fault at each of its calls (or only at the
    COMMIT); return how many calls the commit makes.  Each call fails once per
    error class in ``ERRORS`` (``alternate``: one class per call, in turn).
    After a fault inside the flush the same objects are re-added and committed;
    after a fault at COMMIT only when ``only_commit`` (see
    test_readd_after_failed_commit)."""
    seed(w.engine, width)
    s, _fams = _start(w, width)
    with w.recorder.capture() as calls:
        s.commit()
    s.close()
    assert w.read(logical_view) == final_view(width)
    points = fault_points(list(calls))
    assert points[-1][0].sql == "COMMIT", points[-1]
    driven = points[-1:] if only_commit else points
    for k, (call, fault) in enumerate(driven):
        for error in (ERRORS[k % len(ERRORS)],) if alternate else ERRORS:
            seed(w.engine, width)
            before = w.read(raw_rows)
            assert w.read(logical_view) == initial_view(width)
            s, fams = _start(w, width)
            with w.recorder.failing(armed(fault, error)) as plan:
                with pytest.raises(dexc.DocketError) as info:
                    s.commit()
            assert plan.fired, f"fault at call {k} ({call.sql[:40]}) did not fire"
            tally["faults"] += 1
            check_error(info.value, call, error)
            at_commit = call.sql == "COMMIT"
            if not at_commit:  # a failed flush: the session refuses work until rollback()
                with pytest.raises(dexc.PendingRollbackError):
                    s.execute(select(Parent))
            s.rollback()
            assert w.read(raw_rows) == before, f"rows changed by failed call {k} ({error})"
            for f in fams:
                f.check_rolled_back(s, flush_failed=not at_commit)
            if at_commit and not only_commit:
                s.close()
                tally["cases"] += 1
                continue
            _redo(s, fams)
            s.commit()
            s.close()
            assert w.read(logical_view) == final_view(width), f"redo after call {k} ({error})"
            tally["cases"] += 1
    return len(points)


def run_savepoint_faults(w: World, width: int, tally: Counter[str], *,
                         release: bool = False) -> int:
    """Fault at each call from ``begin_nested()`` up to (``release``: only at) the
    RELEASE SAVEPOINT; only the SAVEPOINT's work is undone, and redoing it in a
    new SAVEPOINT commits.  Returns how many calls the SAVEPOINT block makes."""

    def start(s: Session) -> tuple[list[Family], Any]:
        fams = [Family(i) for i in range(width)]
        for f in fams:
            f.load(s)
        s.add(Parent(name="outer", children=[Child(name="oc")]))
        for f in fams:
            f.loaded["p2"].name = f"p2_{f.i}-outer"
        s.flush()
        return fams, raw_rows(s.connection())

    seed(w.engine, width)
    with Session(w.engine) as s:
        fams, _ = start(s)
        with w.recorder.capture() as calls:
            nested = s.begin_nested()
            for f in fams:
                f.apply_changes(s)
            nested.commit()
        s.commit()
    assert w.read(logical_view) == final_view(width, outer=True)
    points = fault_points(list(calls))
    assert points[0][0].sql.upper().startswith("SAVEPOINT"), points[0]
    assert points[-1][0].sql.upper().startswith("RELEASE"), points[-1]
    for k, (call, fault) in enumerate(points[-1:] if release else points[:-1]):
        for error in ERRORS:
            seed(w.engine, width)
            before = w.read(raw_rows)
            s = Session(w.engine)
            fams, outer_rows = start(s)
            failed_to_begin = False
            with w.recorder.failing(armed(fault, error)) as plan:
                try:
                    nested = s.begin_nested()
                except dexc.DocketError as err:
                    failed_to_begin = True
                    caught: BaseException = err
                else:
                    for f in fams:
                        f.apply_changes(s)
                    with pytest.raises(dexc.DocketError) as info:
                        nested.commit()
                    caught = info.value
            assert plan.fired, f"fault at call {k} ({call.sql[:40]}) did not fire"
            tally["faults"] += 1
            check_error(caught, call, error)
            if not failed_to_begin:
                nested.rollback()
            assert s.is_active and not s.in_nested_transaction(), f"after call {k}"
            assert raw_rows(s.connection()) == outer_rows, f"SAVEPOINT undo at call {k}"
            for f in fams:
                p1, p2 = f.loaded["p1"], f.loaded["p2"]
                for key, obj in f.new.items():
                    assert inspect(obj).transient, f"{key} not transient after SAVEPOINT rollback"
                    if not release:  # the failed flush's undo put the generated keys back
                        assert obj.id is None, f"{key} kept generated id {obj.id}"
                assert p1.name == f"p1_{f.i}" and p1.tags == [f.loaded["t1"]]
                assert p1.favorite is None and p2.children == [f.loaded["c4"]]
                assert f.loaded["c3"].parent is p1 and inspect(f.loaded["p4"]).persistent
                assert p2.name == f"p2_{f.i}-outer"  # the outer transaction's change is kept
            if w.independent_reader:
                assert w.read(raw_rows) == before  # nothing committed yet
            with s.begin_nested():  # redo inside a new SAVEPOINT
                if failed_to_begin:  # nothing was changed yet: make the changes now
                    for f in fams:
                        f.apply_changes(s)
                else:
                    _redo(s, fams)
            s.commit()
            s.close()
            assert w.read(logical_view) == final_view(width, outer=True), f"redo after {k}"
            tally["cases"] += 1
    return len(points)


# -- the tests -------------------------------------------------------------------------------

def test_fault_at_every_call_of_a_mixed_commit(world: World, fault_tally: Counter[str]) -> None:
    """An injected DB-API error at any call of a mixed commit is named, fully undone, and redoable."""
    n = run_commit_faults(world, 1, fault_tally)
    assert n >= 13  # the work above needs at least this many calls on every backend


def test_fault_at_every_call_inside_a_savepoint(world: World, fault_tally: Counter[str]) -> None:
    """An injected error at any call inside a SAVEPOINT undoes only the SAVEPOINT's work."""
    n = run_savepoint_faults(world, 1, fault_tally)
    assert n >= 14


def test_fault_at_release_savepoint(world: World, fault_tally: Counter[str]) -> None:
    """A failing RELEASE SAVEPOINT, then rollback(), undoes the SAVEPOINT's work too."""
    run_savepoint_faults(world, 1, fault_tally, release=True)


def test_readd_after_failed_commit(world: World, fault_tally: Counter[str]) -> None:
    """After a failed COMMIT and rollback(), re-adding the same objects commits."""
    run_commit_faults(world, 1, fault_tally, only_commit=True)


@pytest.mark.heavy
def test_fault_at_every_call_of_a_wide_commit(world: World, fault_tally: Counter[str],
                                              reliability_scale: int) -> None:
    """The same contract for 1 + 2 x DOCKET_RELIABILITY_SCALE families in one commit (batched calls)."""
    n = run_commit_faults(world, 1 + 2 * reliability_scale, fault_tally, alternate=True)
    assert n >= 13


# -- minimal repro of the expired-key bug (see REFRESH_BEFORE_REDO) --------------------------

class ReproBase(DeclarativeBase):
    pass


repro_link = Table(
    "repro_link",
    ReproBase.metadata,
    Column("album_id", ForeignKey("repro_album.id"), primary_key=True),
    Column("photo_id", ForeignKey("repro_photo.id"), primary_key=True),
)


class Album(ReproBase):
    __tablename__ = "repro_album"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    cover_id: Mapped[int | None] = mapped_column(ForeignKey("repro_photo.id", use_alter=True))
    cover: Mapped[Photo | None] = relationship(foreign_keys=[cover_id], post_update=True)
    tagged: Mapped[list[Photo]] = relationship(secondary=repro_link)


class Photo(ReproBase):
    __tablename__ = "repro_photo"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)


_EXPIRED_KEY_BUG = (
    "docket bug: orm/dependency.py reads the keys of an expired related object with "
    "dict.get() instead of loading them -- _secondary_params() (many-to-many row gets "
    "NULL), _post_update_values() (link written as NULL) and _post_update() (UPDATE ... "
    "WHERE id IS NULL matches nothing, silently); when fixed, set REFRESH_BEFORE_REDO = False"
)


@pytest.fixture
def album_db(engine: Any) -> Iterator[Any]:
    """Album 1 and photo 2 committed on each backend."""
    ReproBase.metadata.create_all(engine)
    with Session(engine) as s:
        s.add_all([Album(id=1), Photo(id=2)])
        s.commit()
    yield engine


def test_many_to_many_link_to_expired_object(album_db: Any) -> None:
    """Appending an expired object to a many-to-many collection writes its key."""
    with Session(album_db) as s:
        album, photo = s.get_one(Album, 1), s.get_one(Photo, 2)
        assert album.tagged == []
        s.expire(photo)
        album.tagged.append(photo)
        s.commit()
    with album_db.connect() as conn:
        assert conn.exec_driver_sql("SELECT album_id, photo_id FROM repro_link").all() == [(1, 2)]


def test_post_update_link_to_expired_object(album_db: Any) -> None:
    """A post_update link to an expired object writes the object's key, not NULL."""
    with Session(album_db) as s:
        album, photo = s.get_one(Album, 1), s.get_one(Photo, 2)
        s.expire(photo)
        album.cover = photo
        s.commit()
    with album_db.connect() as conn:
        assert conn.exec_driver_sql("SELECT cover_id FROM repro_album").scalar() == 2


def test_post_update_of_expired_object(album_db: Any) -> None:
    """A post_update on an expired object's row targets its key, not WHERE id IS NULL."""
    with album_db.begin() as conn:
        conn.exec_driver_sql("UPDATE repro_album SET cover_id = 2")
    with Session(album_db) as s:
        album = s.get_one(Album, 1)
        assert album.cover is not None
        s.expire(album)
        album.cover = None
        s.commit()
    with album_db.connect() as conn:
        assert conn.exec_driver_sql("SELECT cover_id FROM repro_album").scalar() is None
