"""The ORM: mapping, Session, relationships, loading.

Public names follow SQLAlchemy 2.0's ``sqlalchemy.orm``; ``ObjectState`` (an
enum of the lifecycle states, ``inspect(obj).status``) is docket's own.
"""

from docket.orm import attributes, exc
from docket.orm.attributes import InstrumentedAttribute, QueryableAttribute
from docket.orm.decl import (
    DeclarativeBase,
    DeclarativeBaseNoMeta,
    DynamicMapped,
    Mapped,
    WriteOnlyMapped,
    clear_mappers,
    configure_mappers,
    declarative_base,
    declared_attr,
    registry,
)
from docket.orm.events import ORMExecuteState
from docket.orm.maker import sessionmaker
from docket.orm.mapper import Mapper, class_mapper, object_mapper
from docket.orm.properties import (
    ColumnProperty,
    MappedColumn,
    MapperProperty,
    column_property,
    deferred,
    mapped_column,
)
from docket.orm.query import Query
from docket.orm.scoping import scoped_session
from docket.orm.session import (
    Session,
    close_all_sessions,
    make_transient,
    make_transient_to_detached,
    object_session,
)
from docket.orm.state import AttributeState, InstanceState, ObjectState
from docket.orm.transaction import SessionTransaction, SessionTransactionOrigin
from docket.orm.util import identity_key, was_deleted

__all__ = [
    "AttributeState", "ColumnProperty", "DeclarativeBase", "DeclarativeBaseNoMeta",
    "DynamicMapped", "InstanceState", "InstrumentedAttribute", "Mapped", "MappedColumn",
    "Mapper", "MapperProperty", "ORMExecuteState", "ObjectState", "Query",
    "QueryableAttribute", "Session", "SessionTransaction", "SessionTransactionOrigin",
    "WriteOnlyMapped", "attributes",
    "class_mapper", "clear_mappers", "close_all_sessions", "column_property",
    "configure_mappers", "declarative_base", "declared_attr", "deferred", "exc",
    "identity_key", "make_transient", "make_transient_to_detached", "mapped_column",
    "object_mapper", "object_session", "registry", "scoped_session", "sessionmaker",
    "was_deleted",
]
