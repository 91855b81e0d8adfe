"""``aliased(User)``: a mapped class standing for an alias of its table, for
self-joins and for joining the same class twice.

``select(a)`` loads ordinary ``User`` objects (through the same identity
map); ``a.name`` is the alias's column; ``a.addresses`` joins from the alias
(``select(a).join(a.addresses)``); ``User.addresses.of_type(a)`` joins to it.
"""

from __future__ import annotations

from typing import Any

from docket.inspection import _register
from docket.orm.mapper import Mapper, class_mapper

__all__ = ["AliasedClass", "AliasedInsp", "aliased"]


class AliasedInsp:
    """``inspect(aliased_cls)``: the mapper and the alias it reads from."""

    is_aliased_class = True

    def __init__(self, mapper: Mapper, selectable: Any, name: str | None) -> None:
        self.mapper = mapper
        self.selectable = selectable
        self.name = name
        self.class_ = mapper.class_

    def column(self, col: Any) -> Any:
        """``col`` of the mapped table, as the alias's column."""
        return self.selectable.corresponding_column(col)

    @property
    def entity(self) -> Any:
        return self.class_


class _AliasedRelationship:
    """``a.addresses`` on an aliased class: joins start from the alias."""

    def __init__(self, prop: Any, owner: AliasedClass) -> None:
        self.property = self.prop = prop
        self.class_ = owner
        self.parent = prop.parent
        self.key = prop.key
        self._of_type = None

    def __docket_join__(self, left: Any, target: Any) -> tuple[Any, Any, Any]:
        from docket.orm.rel_sql import join_target

        return join_target(self.prop, self, left, target)

    def of_type(self, entity: Any) -> Any:
        from docket.orm.rel_sql import _OfType

        return _OfType(self.prop, self, entity)

    def __getattr__(self, name: str) -> Any:
        # any() / has() / contains() correlated to the alias
        if name.startswith("__"):
            raise AttributeError(name)
        from docket.orm.rel_sql import Comparator

        return getattr(Comparator(self.prop, self), name)


class AliasedClass:
    """A mapped class read through an alias of its table."""

    def __init__(self, cls: Any, alias: Any = None, name: str | None = None,
                 flat: bool = False) -> None:
        insp = getattr(cls, "_aliased_insp", None)
        mapper = insp.mapper if insp is not None else class_mapper(cls)
        selectable = alias if alias is not None else mapper.local_table.alias(name)
        self._aliased_insp = AliasedInsp(mapper, selectable, name)
        self.__name__ = name or mapper.class_.__name__

    def __getattr__(self, key: str) -> Any:
        if key.startswith("__"):
            raise AttributeError(key)
        insp = self.__dict__["_aliased_insp"]
        prop = insp.mapper._props.get(key)
        if prop is None:
            raise AttributeError(
                f"Aliased class of {insp.class_.__name__} has no attribute {key!r}"
            )
        if prop.is_relationship:
            return _AliasedRelationship(prop, self)
        col = insp.column(prop.columns[0])
        return col if col is not None else prop.columns[0]

    def __clause_element__(self) -> Any:
        return self._aliased_insp.selectable

    def __repr__(self) -> str:
        return f"<AliasedClass of {self._aliased_insp.class_.__name__}>"


def aliased(element: Any, alias: Any = None, name: str | None = None,
            flat: bool = False, adapt_on_names: bool = False) -> Any:
    """An aliased form of a mapped class (or of a Table: its ``alias()``)."""
    if not isinstance(element, type) and getattr(element, "_aliased_insp", None) is None:
        if hasattr(element, "alias"):
            return element.alias(name)
    return AliasedClass(element, alias, name, flat)


_register(AliasedClass, lambda a: a._aliased_insp)
_register(AliasedInsp, lambda a: a)
