"""The ORM: mapping, Session, relationships, loading.

Public names follow SQLAlchemy 2.0's ``sqlalchemy.orm``; ``ObjectState`` (an
enum of the lifecycle states, ``inspect(obj).status``) is docket's own.
"""

from docket.orm import attributes, exc
from docket.orm.aliased import AliasedClass, aliased
from docket.orm.attributes import InstrumentedAttribute, QueryableAttribute
from docket.orm.collections import (
    KeyFuncDict,
    attribute_keyed_dict,
    attribute_mapped_collection,
    column_keyed_dict,
    keyfunc_mapping,
)
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
from docket.orm.dynamic import AppenderQuery, WriteOnlyCollection
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
from docket.orm.rel_sql import foreign, remote
from docket.orm.relationships import (
    MANYTOMANY,
    MANYTOONE,
    ONETOMANY,
    RelationshipDirection,
    RelationshipProperty,
    backref,
    relationship,
)
from docket.orm.scoping import scoped_session
from docket.orm.session import (
    Session,
    close_all_sessions,
    make_transient,
    make_transient_to_detached,
    object_session,
)
from docket.orm.state import AttributeState, InstanceState, ObjectState
from docket.orm.strategy_options import (
    Load,
    contains_eager,
    defaultload,
    defer,
    immediateload,
    joinedload,
    lazyload,
    load_only,
    noload,
    raiseload,
    selectinload,
    subqueryload,
    undefer,
    undefer_group,
)
from docket.orm.transaction import SessionTransaction, SessionTransactionOrigin
from docket.orm.util import identity_key, was_deleted

__all__ = [
    "AliasedClass", "AppenderQuery", "AttributeState", "ColumnProperty", "DeclarativeBase",
    "DeclarativeBaseNoMeta", "DynamicMapped", "InstanceState", "InstrumentedAttribute",
    "KeyFuncDict", "Load", "MANYTOMANY", "MANYTOONE", "Mapped", "MappedColumn", "Mapper",
    "MapperProperty", "ONETOMANY", "ORMExecuteState", "ObjectState", "Query",
    "QueryableAttribute", "RelationshipDirection", "RelationshipProperty", "Session",
    "SessionTransaction", "SessionTransactionOrigin", "WriteOnlyCollection", "WriteOnlyMapped",
    "aliased", "attribute_keyed_dict", "attribute_mapped_collection", "attributes", "backref",
    "class_mapper", "clear_mappers", "close_all_sessions", "column_keyed_dict",
    "column_property", "configure_mappers", "contains_eager", "declarative_base",
    "declared_attr", "defaultload", "defer", "deferred", "exc", "foreign", "identity_key",
    "immediateload", "joinedload", "keyfunc_mapping", "lazyload", "load_only",
    "make_transient", "make_transient_to_detached", "mapped_column", "noload", "object_mapper",
    "object_session", "raiseload", "registry", "relationship", "remote", "scoped_session",
    "selectinload", "sessionmaker", "subqueryload", "undefer", "undefer_group", "was_deleted",
]
