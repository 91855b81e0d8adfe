"""Small ORM helpers: ``identity_key``, ``was_deleted``, ``object_state``."""

from __future__ import annotations

from typing import Any

from docket import exc
from docket.orm.mapper import class_mapper
from docket.orm.state import instance_state

__all__ = ["identity_key", "was_deleted"]


def identity_key(class_: Any = None, ident: Any = None, *, instance: Any = None,
                 row: Any = None, identity_token: Any = None) -> tuple[Any, ...]:
    """``(class, primary key tuple, identity_token)`` for a class and primary
    key, a mapped instance, or a row of the class's primary key columns.

    Raises:
        ArgumentError: neither a class with ``ident``/``row`` nor an instance.
    """
    if instance is not None:
        return instance_state(instance).mapper.identity_key_from_instance(instance)
    if class_ is None:
        raise exc.ArgumentError("identity_key() needs class_ and ident, or instance=...")
    mapper = class_mapper(class_)
    if row is not None:
        ident = tuple(row[c] if not isinstance(row, tuple) else row[i]
                      for i, c in enumerate(mapper.primary_key))
    return mapper.identity_key_from_primary_key(ident, identity_token)


def was_deleted(obj: Any) -> bool:
    """True if the object was deleted by a flush."""
    return instance_state(obj).was_deleted
