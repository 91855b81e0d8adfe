"""Small ORM helpers: ``identity_key`` and ``was_deleted``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from docket import exc
from docket.orm.mapper import Mapper, class_mapper
from docket.orm.state import instance_state

__all__ = ["identity_key", "was_deleted"]


def identity_key(class_: Any = None, ident: Any = None, *, instance: Any = None,
                 row: Any = None, identity_token: Any = None) -> tuple[Any, ...]:
    """``(class, primary key tuple, identity_token)`` -- the key of
    ``session.identity_map`` -- for a class and primary key (a scalar or a
    tuple in column order), a mapped instance, or a result row holding the
    class's primary-key columns.

    Raises:
        ArgumentError: neither a class with ``ident``/``row`` nor an instance
            was given, or the row lacks a primary-key column.
        UnmappedClassError / UnmappedInstanceError: not mapped.
    """
    if instance is not None:
        return instance_state(instance).mapper.identity_key_from_instance(instance)
    if class_ is None:
        raise exc.ArgumentError(
            "identity_key() needs a mapped class with ident= or row=, or instance=obj."
        )
    mapper = class_mapper(class_)
    if row is not None:
        ident = _pk_from_row(mapper, row)
    elif ident is None:
        raise exc.ArgumentError(
            f"identity_key({mapper.class_.__name__}) needs the primary key: pass ident= "
            "(a value, or a tuple in primary-key column order) or row=."
        )
    return mapper.identity_key_from_primary_key(ident, identity_token)


def _pk_from_row(mapper: Mapper, row: Any) -> tuple[Any, ...]:
    mapping = getattr(row, "_mapping", row)
    if not isinstance(mapping, Mapping):
        return tuple(row[i] for i in range(len(mapper.primary_key)))
    out = []
    for col in mapper.primary_key:
        for key in (col, col.key, col.name):
            try:
                out.append(mapping[key])
                break
            except (KeyError, TypeError):
                continue
        else:
            raise exc.ArgumentError(
                f"identity_key(row=...) needs primary key column "
                f"'{col.table.name}.{col.name}' in the row; select it too."
            )
    return tuple(out)


def was_deleted(obj: Any) -> bool:
    """True if the object was deleted by a flush (and not restored by a rollback)."""
    return instance_state(obj).was_deleted
