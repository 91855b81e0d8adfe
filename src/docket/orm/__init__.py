"""The ORM: mapping, Session, relationships, loading."""

from docket.orm import exc
from docket.orm.attributes import InstrumentedAttribute, QueryableAttribute
from docket.orm.decl import (
    DeclarativeBase,
    DeclarativeBaseNoMeta,
    DynamicMapped,
    Mapped,
    WriteOnlyMapped,
    declarative_base,
    declared_attr,
    registry,
)
from docket.orm.mapper import Mapper, class_mapper, object_mapper
from docket.orm.properties import ColumnProperty, column_property, deferred, mapped_column
from docket.orm.session import (
    Session,
    close_all_sessions,
    make_transient,
    make_transient_to_detached,
    object_session,
)
from docket.orm.state import InstanceState, ObjectState
from docket.orm.transaction import SessionTransaction, SessionTransactionOrigin
from docket.orm.util import identity_key, was_deleted

__all__ = [
    "ColumnProperty", "DeclarativeBase", "DeclarativeBaseNoMeta", "DynamicMapped",
    "InstanceState", "InstrumentedAttribute", "Mapped", "Mapper", "ObjectState",
    "QueryableAttribute", "Session", "SessionTransaction", "SessionTransactionOrigin",
    "WriteOnlyMapped", "class_mapper", "close_all_sessions", "column_property",
    "declarative_base", "declared_attr", "deferred", "exc", "identity_key", "make_transient",
    "make_transient_to_detached", "mapped_column", "object_mapper", "object_session",
    "registry", "was_deleted",
]
