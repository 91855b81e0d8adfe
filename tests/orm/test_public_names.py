"""Pins the public names of ``docket.orm``, ``docket.orm.exc`` and
``docket.orm.attributes`` against SQLAlchemy 2.0's names (SPEC: ported code
only swaps the package name)."""

from __future__ import annotations

import importlib
from types import ModuleType

import pytest

import docket.exc

# Names SQLAlchemy 2.0 exports from each module (the subset in docket's scope,
# now or later).  docket may export fewer, never a name SQLAlchemy doesn't have
# unless listed in DOCKET_ONLY.
SQLALCHEMY_NAMES: dict[str, set[str]] = {
    "docket.orm": {
        "AliasedClass", "AppenderQuery", "Load", "MANYTOMANY", "MANYTOONE", "ONETOMANY",
        "RelationshipDirection", "attribute_mapped_collection",
        "AttributeState", "Bundle", "ColumnProperty", "DeclarativeBase",
        "DeclarativeBaseNoMeta", "DynamicMapped", "InstanceState", "InstrumentedAttribute",
        "KeyFuncDict", "Mapped", "MappedAsDataclass", "MappedColumn", "Mapper",
        "MapperProperty", "ORMExecuteState", "Query", "QueryableAttribute", "Relationship",
        "RelationshipProperty", "Session", "SessionTransaction", "SessionTransactionOrigin",
        "Synonym", "WriteOnlyCollection", "WriteOnlyMapped", "aliased", "attribute_keyed_dict",
        "attributes", "backref", "class_mapper", "clear_mappers", "close_all_sessions",
        "column_keyed_dict", "column_property", "configure_mappers", "contains_eager",
        "declarative_base", "declarative_mixin", "declared_attr", "defaultload", "defer",
        "deferred", "exc", "foreign", "identity_key", "immediateload", "joinedload",
        "keyfunc_mapping", "lazyload", "load_only", "make_transient",
        "make_transient_to_detached", "mapped_column", "noload", "object_mapper",
        "object_session", "raiseload", "reconstructor", "registry", "relationship", "remote",
        "scoped_session", "selectinload", "sessionmaker", "subqueryload", "synonym",
        "undefer", "undefer_group", "validates", "was_deleted", "with_parent",
    },
    "docket.orm.exc": {
        "ConcurrentModificationError", "DetachedInstanceError", "FlushError",
        "LoaderStrategyException", "MappedAnnotationError", "MultipleResultsFound",
        "NO_STATE", "NoResultFound", "ObjectDeletedError", "ObjectDereferencedError",
        "StaleDataError", "UnmappedClassError", "UnmappedColumnError", "UnmappedError",
        "UnmappedInstanceError",
    },
    "docket.orm.attributes": {
        "History", "InstrumentedAttribute", "NO_VALUE", "PASSIVE_NO_FETCH",
        "PASSIVE_NO_INITIALIZE", "PASSIVE_OFF", "PassiveFlag", "QueryableAttribute",
        "del_attribute", "flag_dirty", "flag_modified", "get_attribute", "get_history",
        "init_collection", "instance_state", "set_attribute", "set_committed_value",
    },
}

#: docket additions (documented, opt-in)
DOCKET_ONLY: dict[str, set[str]] = {
    "docket.orm": {"ObjectState"},
    "docket.orm.exc": set(),
    "docket.orm.attributes": set(),
}

#: what SPEC section 3 (mapping, instrumentation) and section 5 (session) need now
REQUIRED: dict[str, set[str]] = {
    "docket.orm": {
        "DeclarativeBase", "Mapped", "mapped_column", "registry", "declarative_base",
        "declared_attr", "column_property", "deferred", "Mapper", "InstanceState",
        "class_mapper", "object_mapper", "Session", "sessionmaker", "scoped_session",
        "SessionTransaction", "object_session", "make_transient",
        "make_transient_to_detached", "close_all_sessions", "identity_key", "was_deleted",
        "exc", "attributes", "Query", "configure_mappers",
        # SPEC section 4 (relationships, loader options)
        "relationship", "backref", "selectinload", "joinedload", "subqueryload",
        "raiseload", "lazyload", "noload", "defaultload", "contains_eager", "defer",
        "undefer", "load_only", "aliased", "attribute_keyed_dict", "WriteOnlyMapped",
        "DynamicMapped",
    },
    "docket.orm.exc": SQLALCHEMY_NAMES["docket.orm.exc"],
    "docket.orm.attributes": {
        "get_history", "flag_modified", "flag_dirty", "set_committed_value",
        "instance_state", "set_attribute", "get_attribute", "del_attribute",
        "init_collection", "History",
    },
}

MODULES = sorted(SQLALCHEMY_NAMES)


def module(name: str) -> ModuleType:
    return importlib.import_module(name)


@pytest.mark.parametrize("name", MODULES)
def test_all_is_sorted_unique_and_importable(name: str) -> None:
    """``__all__`` is sorted, has no duplicates, and every name exists."""
    mod = module(name)
    names = list(mod.__all__)
    assert names == sorted(names)
    assert len(names) == len(set(names))
    missing = [n for n in names if not hasattr(mod, n)]
    assert missing == []


@pytest.mark.parametrize("name", MODULES)
def test_names_are_sqlalchemy_names(name: str) -> None:
    """Every exported name is one SQLAlchemy exports from the same module (or a
    documented docket addition)."""
    extra = set(module(name).__all__) - SQLALCHEMY_NAMES[name] - DOCKET_ONLY[name]
    assert extra == set()


@pytest.mark.parametrize("name", MODULES)
def test_required_names_present(name: str) -> None:
    """The names the mapping/session parts of SPEC need are exported."""
    assert REQUIRED[name] - set(module(name).__all__) == set()


def test_orm_errors_are_docket_errors() -> None:
    """``docket.orm.exc`` re-exports the classes of ``docket.exc`` (one class per
    error) and adds MappedAnnotationError as an ArgumentError."""
    from docket.orm import exc as orm_exc

    for n in orm_exc.__all__:
        if n in ("NO_STATE", "MappedAnnotationError"):
            continue
        assert getattr(orm_exc, n) is getattr(docket.exc, n), n
    assert issubclass(orm_exc.MappedAnnotationError, docket.exc.ArgumentError)
    assert orm_exc.NO_STATE == (AttributeError, KeyError)
    assert orm_exc.ConcurrentModificationError is orm_exc.StaleDataError


def test_attributes_module_is_reachable_from_orm() -> None:
    """``docket.orm.attributes`` is the module SQLAlchemy code imports helpers from."""
    import docket.orm
    from docket.orm import attributes

    assert docket.orm.attributes is attributes
    assert attributes.History._fields == ("added", "unchanged", "deleted")
