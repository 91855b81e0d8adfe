"""``insert()`` with ``ON CONFLICT`` for postgresql."""

from __future__ import annotations

from typing import Any

from docket.sql.dml import OnConflictInsert

__all__ = ["Insert", "insert"]


class Insert(OnConflictInsert):
    """INSERT with ``on_conflict_do_nothing()`` / ``on_conflict_do_update()``."""



def insert(table: Any) -> Insert:
    """An INSERT into ``table`` (a Table or mapped class) supporting ON CONFLICT."""
    return Insert(table)
