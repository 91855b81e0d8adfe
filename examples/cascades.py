"""Cascades: what happens to related objects when you add, remove, delete,
expunge, expire or merge their parent.

* the default ``"save-update, merge"``: children follow the parent into the
  session; a removed child, or the children of a deleted parent, get their
  foreign key set to NULL;
* ``"all, delete-orphan"``: children are deleted with the parent and as soon
  as they leave its collection;
* ``"all, delete"``: deleted with the parent, but only nulled when removed;
* ``passive_deletes=True`` with ``ON DELETE CASCADE``: the database removes
  the children, the ORM doesn't load them;
* single_parent, expunge / refresh-expire / merge cascades.

Run with:  python examples/cascades.py
"""

from __future__ import annotations

from typing import Any

from docket import ForeignKey, create_engine, event, func, select
from docket.exc import InvalidRequestError
from docket.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship


class Base(DeclarativeBase):
    pass


class Project(Base):
    __tablename__ = "project"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str]
    # default cascade "save-update, merge"
    notes: Mapped[list[Note]] = relationship(back_populates="project")
    # owned children: deleted with the project, and when removed from it
    tasks: Mapped[list[Task]] = relationship(back_populates="project",
                                             cascade="all, delete-orphan")
    # deleted with the project, but only detached (nulled) when removed
    files: Mapped[list[File]] = relationship(cascade="all, delete")
    # left to the database's ON DELETE CASCADE
    events: Mapped[list[Event]] = relationship(passive_deletes=True)


class Note(Base):
    __tablename__ = "note"
    id: Mapped[int] = mapped_column(primary_key=True)
    text: Mapped[str]
    project_id: Mapped[int | None] = mapped_column(ForeignKey("project.id"))
    project: Mapped[Project | None] = relationship(back_populates="notes")


class Task(Base):
    __tablename__ = "task"
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str]
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id"))
    project: Mapped[Project] = relationship(back_populates="tasks")


class File(Base):
    __tablename__ = "file"
    id: Mapped[int] = mapped_column(primary_key=True)
    path: Mapped[str]
    project_id: Mapped[int | None] = mapped_column(ForeignKey("project.id"))


class Event(Base):
    __tablename__ = "event"
    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"))


class Settings(Base):
    """A many-to-one that owns its target: delete-orphan needs single_parent."""
    __tablename__ = "settings"
    id: Mapped[int] = mapped_column(primary_key=True)
    theme: Mapped[str]


class Workspace(Base):
    __tablename__ = "workspace"
    id: Mapped[int] = mapped_column(primary_key=True)
    settings_id: Mapped[int | None] = mapped_column(ForeignKey("settings.id"))
    settings: Mapped[Settings | None] = relationship(cascade="all, delete-orphan",
                                                        single_parent=True)


def main() -> None:
    engine = create_engine("sqlite://")

    @event.listens_for(engine, "connect")
    def fk_on(dbapi_connection: Any, connection_record: Any) -> None:
        dbapi_connection.execute("PRAGMA foreign_keys=ON")

    sql: list[str] = []

    @event.listens_for(engine, "before_cursor_execute")
    def log(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        sql.append(statement)

    Base.metadata.create_all(engine)

    def count(session: Session, cls: type) -> int:
        return session.scalar(select(func.count()).select_from(cls))

    with Session(engine) as session:
        # save-update: adding the parent adds everything reachable from it
        p = Project(name="apollo",
                    notes=[Note(text="n1"), Note(text="n2")],
                    tasks=[Task(title="t1"), Task(title="t2"), Task(title="t3")],
                    files=[File(path="a.txt"), File(path="b.txt")],
                    events=[Event(), Event()])
        session.add(p)
        assert len(session.new) == 10
        session.commit()

        # ... and so does attaching a new child to a parent already in the session
        later = Note(text="n3")
        p.notes.append(later)
        assert later in session.new

        # removing a child from a default-cascade collection nulls its foreign key
        note = p.notes[0]
        p.notes.remove(note)
        assert note.project is None                      # the backref follows
        session.flush()
        assert session.scalar(select(Note.project_id).where(Note.id == note.id)) is None

        # delete-orphan: a removed task is deleted at the next flush
        t1 = p.tasks[0]
        p.tasks.remove(t1)
        session.flush()
        assert t1 not in session and count(session, Task) == 2
        # ... moving a task to another project is not an orphaning
        other = Project(name="gemini")
        session.add(other)
        moved = p.tasks[0]
        other.tasks.append(moved)
        session.flush()
        assert moved.project_id == other.id and count(session, Task) == 2
        # ... a pending child removed again simply leaves the session
        draft = Task(title="draft")
        p.tasks.append(draft)
        p.tasks.remove(draft)
        assert draft not in session

        # "delete" without delete-orphan: a removed file is only detached
        f = p.files.pop()
        session.flush()
        assert f in session and f.project_id is None
        session.commit()
        print("before deleting the project: tasks", count(session, Task),
              "files", count(session, File), "events", count(session, Event),
              "notes", count(session, Note))

        # delete the parent: tasks and files are deleted, notes are nulled,
        # events go by ON DELETE CASCADE without being loaded
        sql.clear()
        session.delete(p)
        session.commit()
        assert not any("FROM event" in s for s in sql), "passive_deletes loaded the events"
        print("deleting the project ran:", [s.split(" WHERE")[0] for s in sql])
        assert count(session, Task) == 1                  # only gemini's task is left
        assert count(session, File) == 1                  # the file removed earlier
        assert count(session, Event) == 0                 # the database did it
        assert count(session, Note) == 3
        assert session.scalars(select(Note.project_id)).all() == [None, None, None]

        # single_parent: an owned many-to-one target can't be shared
        ws = Workspace(settings=Settings(theme="dark"))
        session.add(ws)
        try:
            Workspace(settings=ws.settings)
        except InvalidRequestError as e:
            print("single_parent refused a second parent:", type(e).__name__)
        else:
            raise AssertionError("a second parent was accepted")
        session.commit()
        ws.settings = Settings(theme="light")             # the old one is an orphan
        session.commit()
        assert session.scalars(select(Settings.theme)).all() == ["light"]

    # expunge, refresh-expire and merge cascade along "all"
    with Session(engine) as session:
        gemini = session.scalars(select(Project).where(Project.name == "gemini")).one()
        task = gemini.tasks[0]
        task.title = "edited"
        session.expire(gemini)                            # cascades to the loaded tasks
        assert "title" not in task.__dict__
        assert task.title == "t2"                         # reloaded, the edit is gone
        assert len(gemini.tasks) == 1                     # load the collection again
        session.expunge(gemini)
        assert task not in session                        # expunged along with it

        # merge: copy a detached graph back into a session
        gemini.tasks[0].title = "from outside"
        gemini.tasks.append(Task(title="new"))
        merged = session.merge(gemini)
        assert merged is not gemini and merged.tasks[0] is not task
        session.commit()
        titles = session.scalars(select(Task.title).order_by(Task.id)).all()
        print("after merge:", titles)
        assert titles == ["from outside", "new"]


if __name__ == "__main__":
    main()
