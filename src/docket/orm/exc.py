"""ORM errors (also importable from ``docket.exc``)."""

from docket.exc import (
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

__all__ = [
    "ConcurrentModificationError", "DetachedInstanceError", "FlushError",
    "LoaderStrategyException", "MultipleResultsFound", "NoResultFound", "ObjectDeletedError",
    "ObjectDereferencedError", "StaleDataError", "UnmappedClassError", "UnmappedColumnError",
    "UnmappedError", "UnmappedInstanceError",
]
