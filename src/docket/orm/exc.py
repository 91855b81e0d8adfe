"""ORM errors, where SQLAlchemy keeps them (``sqlalchemy.orm.exc``).

The classes live in ``docket.exc``; this module re-exports the ORM ones and
adds the two names SQLAlchemy defines only here.
"""

from docket.exc import (
    ArgumentError,
    ConcurrentModificationError,
    DetachedInstanceError,
    FlushError,
    LoaderStrategyException,
    MultipleResultsFound,
    NoResultFound,
    ObjectDeletedError,
    ObjectDereferencedError,
    StaleDataError,
    UnmappedClassError,
    UnmappedColumnError,
    UnmappedError,
    UnmappedInstanceError,
)

#: exception types a failed state lookup on a non-instrumented object raises
NO_STATE = (AttributeError, KeyError)


class MappedAnnotationError(ArgumentError):
    """A ``Mapped[...]`` annotation could not be turned into a column type or
    relationship target (an unresolvable name, or a Python type with no SQL
    type in ``type_annotation_map``)."""


__all__ = [
    "ConcurrentModificationError", "DetachedInstanceError", "FlushError",
    "LoaderStrategyException", "MappedAnnotationError", "MultipleResultsFound", "NO_STATE",
    "NoResultFound", "ObjectDeletedError", "ObjectDereferencedError", "StaleDataError",
    "UnmappedClassError", "UnmappedColumnError", "UnmappedError", "UnmappedInstanceError",
]
