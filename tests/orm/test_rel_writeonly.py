"""Collections that never load into memory: ``WriteOnlyMapped`` / ``lazy="write_only"``
(add, add_all, remove, select() executed by the caller, flush persists, no SQL on
access) and ``DynamicMapped`` / ``lazy="dynamic"`` (the attribute is a query:
filter, all, count, append, remove, iteration)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from docket import Column, ForeignKey, String, Table, event, insert, select
from docket.exc import InvalidRequestError
from docket.orm import (
    DeclarativeBase,
    DynamicMapped,
    Mapped,
    Session,
    WriteOnlyMapped,
    mapped_column,
    relationship,
)
from docket.testing import Recorder


class Base(DeclarativeBase):
    pass


class File(Base):
    __tablename__ = "rw_files"
    id: Mapped[int] = mapped_column(primary_key=True)
    folder_id: Mapped[int | None] = mapped_column(ForeignKey("rw_folders.id"))
    name: Mapped[str] = mapped_column(String(20))
    folder: Mapped[Folder | None] = relationship(back_populates="files")


class Folder(Base):
    __tablename__ = "rw_folders"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(20))
    files: WriteOnlyMapped[File] = relationship(back_populates="folder", order_by=File.id)


class Thing(Base):
    __tablename__ = "rw_things"
    id: Mapped[int] = mapped_column(primary_key=True)
    box_id: Mapped[int | None] = mapped_column(ForeignKey("rw_boxes.id"))
    label: Mapped[str] = mapped_column(String(20))


class Box(Base):
    __tablename__ = "rw_boxes"
    id: Mapped[int] = mapped_column(primary_key=True)
    things = relationship(Thing, lazy="write_only", order_by=Thing.id)


class Song(Base):
    __tablename__ = "rw_songs"
    id: Mapped[int] = mapped_column(primary_key=True)
    playlist_id: Mapped[int | None] = mapped_column(ForeignKey("rw_playlists.id"))
    title: Mapped[str] = mapped_column(String(20))
    playlist: Mapped[Playlist | None] = relationship(back_populates="songs")


class Playlist(Base):
    __tablename__ = "rw_playlists"
    id: Mapped[int] = mapped_column(primary_key=True)
    songs: DynamicMapped[Song] = relationship(back_populates="playlist", order_by=Song.id)


class Book(Base):
    __tablename__ = "rw_books"
    id: Mapped[int] = mapped_column(primary_key=True)
    shelf_id: Mapped[int | None] = mapped_column(ForeignKey("rw_shelves.id"))
    title: Mapped[str] = mapped_column(String(20))


class Shelf(Base):
    __tablename__ = "rw_shelves"
    id: Mapped[int] = mapped_column(primary_key=True)
    books = relationship(Book, lazy="dynamic", order_by=Book.id)


member_group = Table(
    "rw_member_group", Base.metadata,
    Column("member_id", ForeignKey("rw_members.id"), primary_key=True),
    Column("group_id", ForeignKey("rw_groups.id"), primary_key=True))


class Member(Base):
    __tablename__ = "rw_members"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(20))


class Group(Base):
    """Many-to-many write-only and dynamic collections over one secondary table."""
    __tablename__ = "rw_groups"
    id: Mapped[int] = mapped_column(primary_key=True)
    members: WriteOnlyMapped[Member] = relationship(secondary=member_group, order_by=Member.id)
    members_dyn: DynamicMapped[Member] = relationship(
        secondary=member_group, order_by=Member.id, viewonly=True)


def _fk_on(dbapi_connection: Any, record: Any) -> None:
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def seed(engine: Any) -> None:
    with engine.begin() as conn:
        conn.execute(insert(Folder.__table__), [{"id": 1, "name": "docs"},
                                                {"id": 2, "name": "empty"}])
        conn.execute(insert(File.__table__), [{"id": 1, "folder_id": 1, "name": "a.txt"},
                                              {"id": 2, "folder_id": 1, "name": "b.txt"}])
        conn.execute(insert(Box.__table__), [{"id": 1}])
        conn.execute(insert(Thing.__table__), [{"id": 1, "box_id": 1, "label": "hat"}])
        conn.execute(insert(Playlist.__table__), [{"id": 1}, {"id": 2}])
        conn.execute(insert(Song.__table__), [
            {"id": 1, "playlist_id": 1, "title": "alpha"},
            {"id": 2, "playlist_id": 1, "title": "beta"},
            {"id": 3, "playlist_id": 1, "title": "gamma"}])
        conn.execute(insert(Member.__table__), [{"id": 1, "name": "m1"}, {"id": 2, "name": "m2"}])
        conn.execute(insert(Group.__table__), [{"id": 1}])
        conn.execute(insert(member_group), [{"member_id": 1, "group_id": 1}])
        conn.execute(insert(Shelf.__table__), [{"id": 1}])
        conn.execute(insert(Book.__table__), [{"id": 1, "shelf_id": 1, "title": "x"},
                                              {"id": 2, "shelf_id": 1, "title": "y"}])


@pytest.fixture
def db(recorded_engine: tuple[Any, Recorder], backend: Any) -> Iterator[tuple[Any, Recorder]]:
    """(engine, recorder) with foreign keys enforced on every backend and seed data."""
    engine, recorder = recorded_engine
    if backend.is_sqlite:
        event.listen(engine, "connect", _fk_on)
        engine.dispose()  # later connections run the pragma; memory DB starts over
        Base.metadata.create_all(engine)
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    seed(engine)
    recorder.clear()
    yield engine, recorder


@pytest.fixture
def s(db: tuple[Any, Recorder]) -> Iterator[Session]:
    """A Session on the seeded engine."""
    with Session(db[0]) as session:
        yield session


def sql(calls: Any) -> list[str]:
    """The statements in ``calls`` other than transaction control."""
    return [c.sql for c in calls.without_transaction_control()]


def kinds(calls: Any) -> list[str]:
    """The first keyword of every non-transaction statement in ``calls``."""
    return [st.lstrip().split(None, 1)[0].upper() for st in sql(calls)]


def file_rows(engine: Any) -> list[tuple[int, int | None, str]]:
    """(id, folder_id, name) of every file, read with Core on a fresh connection."""
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(
            select(File.id, File.folder_id, File.name).order_by(File.id)).all()]


# --- write-only -----------------------------------------------------------------------------------

def test_write_only_access_emits_no_sql(s: Session, db: Any) -> None:
    """Reading a write-only attribute returns a collection object and sends no SQL."""
    _, recorder = db
    folder = s.get(Folder, 1)
    with recorder.capture() as calls:
        coll = folder.files
        coll2 = folder.files
    assert sql(calls) == []
    assert not isinstance(coll, list)
    assert hasattr(coll, "select") and hasattr(coll, "add")
    assert coll2 is not None


def test_write_only_is_not_iterable(s: Session) -> None:
    """A write-only collection cannot be iterated in place (TypeError, as in SA)."""
    folder = s.get(Folder, 1)
    with pytest.raises(TypeError):
        iter(folder.files)


def test_write_only_select_returns_statement(s: Session, db: Any) -> None:
    """.select() builds a Select (no SQL) that the caller executes: ordered children."""
    _, recorder = db
    folder = s.get(Folder, 1)
    with recorder.capture() as calls:
        stmt = folder.files.select()
    assert sql(calls) == []
    with recorder.capture() as calls:
        files = s.scalars(stmt).all()
    assert len(sql(calls)) == 1
    assert [f.name for f in files] == ["a.txt", "b.txt"]
    assert files[0] is s.get(File, 1)


def test_write_only_select_can_be_refined(s: Session) -> None:
    """The Select from .select() takes further where()/order_by() clauses."""
    folder = s.get(Folder, 1)
    stmt = folder.files.select().where(File.name == "b.txt")
    assert [f.id for f in s.scalars(stmt)] == [2]


def test_write_only_select_of_empty_folder(s: Session) -> None:
    """.select() of a folder without files returns no rows, not another folder's files."""
    assert s.scalars(s.get(Folder, 2).files.select()).all() == []


def test_write_only_add_persists_on_flush(s: Session, db: Any) -> None:
    """.add(child) loads nothing; flush INSERTs the child with the parent's key."""
    engine, recorder = db
    folder = s.get(Folder, 2)
    with recorder.capture() as calls:
        folder.files.add(File(id=10, name="new.txt"))
    assert sql(calls) == []
    with recorder.capture() as calls:
        s.flush()
    assert kinds(calls) == ["INSERT"]
    s.commit()
    assert (10, 2, "new.txt") in file_rows(engine)


def test_write_only_add_all(s: Session, db: Any) -> None:
    """.add_all([...]) adds several children; all persist with the parent's key."""
    engine, _ = db
    folder = s.get(Folder, 2)
    folder.files.add_all([File(id=11, name="x"), File(id=12, name="y")])
    s.commit()
    assert [r for r in file_rows(engine) if r[1] == 2] == [(11, 2, "x"), (12, 2, "y")]


def test_write_only_add_sets_back_reference(s: Session) -> None:
    """.add(child) sets child.folder to the parent in memory."""
    folder = s.get(Folder, 2)
    f = File(id=13, name="z")
    folder.files.add(f)
    assert f.folder is folder


def test_write_only_pending_children_visible_via_select(s: Session) -> None:
    """Executing .select() autoflushes, so just-added children are in the result."""
    folder = s.get(Folder, 1)
    folder.files.add(File(id=14, name="c.txt"))
    assert [f.name for f in s.scalars(folder.files.select())] == ["a.txt", "b.txt", "c.txt"]


def test_write_only_remove_nulls_foreign_key(s: Session, db: Any) -> None:
    """.remove(child) + flush UPDATEs the child's key to NULL (no delete-orphan cascade)."""
    engine, recorder = db
    folder = s.get(Folder, 1)
    f = s.get(File, 1)
    with recorder.capture() as calls:
        folder.files.remove(f)
    assert sql(calls) == []
    with recorder.capture() as calls:
        s.flush()
    assert kinds(calls) == ["UPDATE"]
    s.commit()
    assert file_rows(engine)[0] == (1, None, "a.txt")


def test_write_only_transient_parent_with_initial_list(s: Session, db: Any) -> None:
    """A new parent may be constructed with a list of children; flush inserts all."""
    engine, _ = db
    s.add(Folder(id=3, name="new", files=[File(id=20, name="p"), File(id=21, name="q")]))
    s.commit()
    assert [r for r in file_rows(engine) if r[1] == 3] == [(20, 3, "p"), (21, 3, "q")]


def test_write_only_assignment_on_persistent_raises(s: Session) -> None:
    """Replacing a persistent object's write-only collection is refused."""
    folder = s.get(Folder, 1)
    with pytest.raises(InvalidRequestError, match="files"):
        folder.files = [File(id=22, name="r")]


def test_write_only_unannotated_lazy_write_only(s: Session, db: Any) -> None:
    """relationship(lazy="write_only") without an annotation: add + select() work."""
    _, recorder = db
    box = s.get(Box, 1)
    with recorder.capture() as calls:
        box.things.add(Thing(id=2, label="cap"))
    assert sql(calls) == []
    assert [t.label for t in s.scalars(box.things.select())] == ["hat", "cap"]


def test_write_only_survives_commit_without_loading(s: Session, db: Any) -> None:
    """After commit the write-only attribute still sends no SQL until a select() runs."""
    _, recorder = db
    folder = s.get(Folder, 1)
    s.commit()
    _ = folder.id  # refresh the expired parent
    with recorder.capture() as calls:
        _ = folder.files
    assert sql(calls) == []


# --- dynamic ----------------------------------------------------------------------------------------

def test_dynamic_access_emits_no_sql(s: Session, db: Any) -> None:
    """Reading a dynamic attribute returns a query object without sending SQL."""
    _, recorder = db
    p = s.get(Playlist, 1)
    with recorder.capture() as calls:
        q = p.songs
    assert sql(calls) == []
    assert hasattr(q, "filter") and hasattr(q, "append")


def test_dynamic_all(s: Session, db: Any) -> None:
    """.all() runs one SELECT and returns the children in order_by order."""
    _, recorder = db
    p = s.get(Playlist, 1)
    with recorder.capture() as calls:
        titles = [x.title for x in p.songs.all()]
    assert len(sql(calls)) == 1
    assert titles == ["alpha", "beta", "gamma"]


def test_dynamic_queries_every_time(s: Session, db: Any) -> None:
    """Nothing is cached: each .all() is another SELECT."""
    _, recorder = db
    p = s.get(Playlist, 1)
    with recorder.capture() as calls:
        p.songs.all()
        p.songs.all()
    assert len(sql(calls)) == 2


def test_dynamic_filter(s: Session) -> None:
    """.filter(...) narrows the children with SQL criteria."""
    p = s.get(Playlist, 1)
    assert [x.id for x in p.songs.filter(Song.title != "beta").all()] == [1, 3]


def test_dynamic_filter_by_first(s: Session) -> None:
    """.filter_by(...).first() returns the matching child."""
    p = s.get(Playlist, 1)
    assert p.songs.filter_by(title="gamma").first() is s.get(Song, 3)


def test_dynamic_count(s: Session, db: Any) -> None:
    """.count() is one SELECT returning the number of children."""
    _, recorder = db
    p1, p2 = s.get(Playlist, 1), s.get(Playlist, 2)
    with recorder.capture() as calls:
        assert p1.songs.count() == 3
    assert len(sql(calls)) == 1
    assert p2.songs.count() == 0


def test_dynamic_iteration_and_indexing(s: Session) -> None:
    """Iterating gives the children; [i] and slices work as on a query."""
    p = s.get(Playlist, 1)
    assert [x.id for x in p.songs] == [1, 2, 3]
    assert p.songs[1].title == "beta"
    assert [x.id for x in p.songs[1:3]] == [2, 3]


def test_dynamic_append_persists(s: Session, db: Any) -> None:
    """.append(child) sends no SQL; flush INSERTs it; later queries include it."""
    engine, recorder = db
    p = s.get(Playlist, 2)
    with recorder.capture() as calls:
        p.songs.append(Song(id=10, title="delta"))
    assert sql(calls) == []
    assert [x.title for x in p.songs.all()] == ["delta"]  # autoflushed
    s.commit()
    with engine.connect() as conn:
        assert conn.execute(select(Song.playlist_id).where(Song.id == 10)).scalar() == 2


def test_dynamic_append_sets_back_reference(s: Session) -> None:
    """.append(child) sets child.playlist in memory."""
    p = s.get(Playlist, 2)
    song = Song(id=11, title="eps")
    p.songs.append(song)
    assert song.playlist is p


def test_dynamic_remove_nulls_foreign_key(s: Session, db: Any) -> None:
    """.remove(child) + flush sets the child's key to NULL; the query no longer has it."""
    engine, _ = db
    p = s.get(Playlist, 1)
    beta = s.get(Song, 2)
    p.songs.remove(beta)
    assert [x.id for x in p.songs.all()] == [1, 3]
    s.commit()
    with engine.connect() as conn:
        assert conn.execute(select(Song.playlist_id).where(Song.id == 2)).scalar() is None


def test_dynamic_unannotated_lazy_dynamic(s: Session) -> None:
    """relationship(lazy="dynamic") without an annotation behaves as a query."""
    shelf = s.get(Shelf, 1)
    assert shelf.books.count() == 2
    assert [b.title for b in shelf.books.filter(Book.title == "y")] == ["y"]
    shelf.books.append(Book(id=3, title="z"))
    assert [b.id for b in shelf.books.all()] == [1, 2, 3]



def test_write_only_insert_statement(s: Session, db: Any) -> None:
    """.insert() is an INSERT with the parent's key preset; executed with row dicts."""
    engine, _ = db
    folder = s.get(Folder, 2)
    s.execute(folder.files.insert(), [{"id": 40, "name": "i1"}, {"id": 41, "name": "i2"}])
    s.commit()
    assert [r for r in file_rows(engine) if r[1] == 2] == [(40, 2, "i1"), (41, 2, "i2")]


def test_write_only_update_and_delete_statements(s: Session, db: Any) -> None:
    """.update() / .delete() are limited to the parent's children."""
    engine, _ = db
    folder = s.get(Folder, 1)
    s.execute(folder.files.update().where(File.id == 1).values(name="renamed"))
    s.execute(folder.files.delete().where(File.id == 2))
    s.commit()
    assert file_rows(engine) == [(1, 1, "renamed")]


def test_dynamic_transient_parent_with_initial_list(s: Session, db: Any) -> None:
    """A new parent built with a list for its dynamic collection inserts the children."""
    engine, _ = db
    s.add(Playlist(id=3, songs=[Song(id=30, title="s1"), Song(id=31, title="s2")]))
    s.commit()
    with engine.connect() as conn:
        rows = conn.execute(select(Song.id).where(Song.playlist_id == 3).order_by(Song.id))
        assert [r[0] for r in rows] == [30, 31]



def test_write_only_many_to_many_add_and_remove(s: Session, db: Any) -> None:
    """Write-only many-to-many: add() inserts and remove() deletes secondary rows."""
    engine, recorder = db
    g = s.get(Group, 1)
    m1, m2 = s.get(Member, 1), s.get(Member, 2)
    g.members.add(m2)
    g.members.remove(m1)
    with recorder.capture() as calls:
        s.flush()
    assert sorted(kinds(calls)) == ["DELETE", "INSERT"]
    assert [m.name for m in s.scalars(g.members.select())] == ["m2"]
    s.commit()
    with engine.connect() as conn:
        assert [tuple(r) for r in conn.execute(select(member_group))] == [(2, 1)]


def test_dynamic_many_to_many_query(s: Session) -> None:
    """A dynamic many-to-many collection queries through the secondary table."""
    g = s.get(Group, 1)
    assert [m.name for m in g.members_dyn] == ["m1"]
    assert g.members_dyn.filter(Member.name == "m2").count() == 0
