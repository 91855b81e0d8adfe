# mypy: disable-error-code="valid-type"
"""The benchmark's data model, three times over.

* ``Plain`` / ``PlainParent`` / ``PlainChild``: what the raw DB-API floor builds
  from rows -- ordinary classes (no ``__slots__``), the "plain Python object
  holding the same four values" the memory workload compares against.
* :func:`build_orm_models`: the same mapping declared through an ORM namespace
  (docket's or SQLAlchemy's).  The class bodies are identical for both libraries
  -- only the names passed in differ -- which is the point of docket's API.

Tables: ``users(id, name, email, age)``, ``parents(id, name)`` and
``children(id, parent_id -> parents.id, name)``; ``Parent.children`` and
``Child.parent`` are one relationship seen from both ends (``back_populates``).
"""

from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

CHILDREN_PER_PARENT = 10


class Plain:
    """A user row as a plain object (the raw floor's ``User``)."""

    def __init__(self, id: Any, name: str, email: str, age: int) -> None:
        self.id = id
        self.name = name
        self.email = email
        self.age = age


class PlainParent:
    """A parent row with a list of its children."""

    def __init__(self, id: Any, name: str) -> None:
        self.id = id
        self.name = name
        self.children: list[PlainChild] = []


class PlainChild:
    """A child row; ``parent`` mirrors the ORM's ``back_populates`` side when known."""

    def __init__(self, id: Any, parent_id: Any, name: str, parent: PlainParent | None = None
                 ) -> None:
        self.id = id
        self.parent_id = parent_id
        self.name = name
        self.parent = parent


@dataclass
class OrmModels:
    """The mapped classes of one ORM library."""

    Base: Any
    User: Any
    Parent: Any
    Child: Any


def build_orm_models(lib: SimpleNamespace) -> OrmModels:
    """Declare User, Parent and Child with one ORM library's names.

    This module has no ``from __future__ import annotations`` on purpose: the
    ``Mapped[...]`` annotations must evaluate against the names bound here.

    Args:
        lib: a namespace with ``DeclarativeBase``, ``Mapped``, ``mapped_column``,
            ``relationship``, ``ForeignKey`` and ``String`` from docket or SQLAlchemy.
    """
    Mapped, mapped_column, relationship = lib.Mapped, lib.mapped_column, lib.relationship
    String, ForeignKey = lib.String, lib.ForeignKey
    DeclarativeBase: Any = lib.DeclarativeBase

    class Base(DeclarativeBase):
        pass

    class User(Base):
        __tablename__ = "users"
        id: Mapped[int] = mapped_column(primary_key=True)
        name: Mapped[str] = mapped_column(String(50))
        email: Mapped[str] = mapped_column(String(100))
        age: Mapped[int] = mapped_column()

    class Parent(Base):
        __tablename__ = "parents"
        id: Mapped[int] = mapped_column(primary_key=True)
        name: Mapped[str] = mapped_column(String(50))
        children: Mapped[list["Child"]] = relationship("Child", back_populates="parent")

    class Child(Base):
        __tablename__ = "children"
        id: Mapped[int] = mapped_column(primary_key=True)
        parent_id: Mapped[int] = mapped_column(ForeignKey("parents.id"), index=True)
        name: Mapped[str] = mapped_column(String(50))
        parent: Mapped[Parent] = relationship("Parent", back_populates="children")

    return OrmModels(Base, User, Parent, Child)
