"""Relationship attributes in SQL: ``Address.user == u``,
``User.addresses.any(...)``, ``Address.user.has(...)``,
``User.addresses.contains(a)``, ``.join(User.addresses)`` and ``of_type()``.

Object comparisons bind the related object's key values as they are when
the expression is built.  ``any()`` / ``has()`` / many-to-many ``contains()``
are correlated EXISTS subqueries.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from docket import exc
from docket.orm.state import NO_VALUE
from docket.sql import visitors
from docket.sql.elements import and_, not_, or_
from docket.sql.schema import Column

if TYPE_CHECKING:
    from docket.orm.relationships import RelationshipProperty

__all__ = ["Comparator", "compare", "foreign", "join_target", "remote"]


def foreign(expr: Any) -> Any:
    """Mark a column of a ``primaryjoin`` as the foreign (referencing) side."""
    return _mark(expr, "_docket_foreign")


def remote(expr: Any) -> Any:
    """Mark a column of a ``primaryjoin`` as being on the remote side."""
    return _mark(expr, "_docket_remote")


def _mark(expr: Any, flag: str) -> Any:
    ce = getattr(expr, "__clause_element__", None)
    col = ce() if ce is not None else expr
    marks = col.__dict__.setdefault("_docket_marks", set())
    marks.add(flag)
    return col


def _value(obj: Any, key: str) -> Any:
    d = obj.__dict__
    v = d.get(key, NO_VALUE)
    return getattr(obj, key) if v is NO_VALUE else v


def _check(prop: RelationshipProperty, other: Any) -> Any:
    target = prop.mapper.class_
    if not isinstance(other, target):
        raise exc.ArgumentError(
            f"Can't compare relationship {prop} to {other!r}: expected a {target.__name__} "
            "instance or None."
        )
    return other


def _target_sel(prop: RelationshipProperty, of_type: Any) -> Any:
    if of_type is None:
        return prop.mapper.local_table
    insp = getattr(of_type, "_aliased_insp", None)
    return insp.selectable if insp is not None else prop.mapper.local_table


def _all_to(expr: Any, table: Any, sel: Any) -> Any:
    """``expr`` with every column of ``table`` read from ``sel``."""
    def swap(node: Any) -> Any:
        if isinstance(node, Column) and node.table is table:
            return sel.corresponding_column(node)
        return None

    ce = getattr(expr, "__clause_element__", None)
    return visitors.replace(ce() if ce is not None else expr, swap)


def compare(prop: RelationshipProperty, opname: str, other: Any, of_type: Any = None) -> Any:
    """``prop == other`` / ``prop != other`` as SQL.

    Raises:
        InvalidRequestError: comparing a collection to an object.
    """
    prop.mapper  # noqa: B018 - configure
    negate = opname == "__ne__"
    direction = prop.direction.name
    if other is None:
        if direction == "MANYTOONE":
            cols = [d for _s, d in prop.synchronize_pairs]
            crit = and_(*[c.is_(None) for c in cols])
            return or_(*[c.is_not(None) for c in cols]) if negate else crit
        crit = Comparator(prop, None).any()
        return crit if negate else not_(crit)
    if prop.uselist:
        raise exc.InvalidRequestError(
            f"Can't compare a collection ({prop}) to an object or collection; use "
            f"{prop}.contains(obj) to test for membership."
        )
    _check(prop, other)
    if direction == "MANYTOONE":
        terms = [(d, _value(other, sk)) for (sk, _dk), (_s, d) in
                 zip(prop._sync_keys, prop.synchronize_pairs)]
        if negate:
            return or_(*[c != v for c, v in terms], *[c.is_(None) for c, _v in terms])
        return and_(*[c == v for c, v in terms])
    crit = Comparator(prop, None).contains(other)
    return not_(crit) if negate else crit


class Comparator:
    """What ``User.addresses.<name>`` finds for names that aren't column
    operators: ``any``, ``has``, ``contains``, ``of_type``, ``and_``."""

    def __init__(self, prop: RelationshipProperty, attr: Any) -> None:
        self.prop = prop
        self.attr = attr

    def _criterion(self, criterion: Any, kwargs: dict[str, Any]) -> Any:
        """The correlated criterion of any()/has(): the join condition (to an
        alias of the target when it is the parent's own table), and the
        caller's criteria read against that target."""
        prop = self.prop
        of_type = getattr(self.attr, "_of_type", None)
        table = prop.mapper.local_table
        sel = _target_sel(prop, of_type)
        if sel is table and prop.parent.local_table is table:
            sel = table.alias()  # self-referential: the subquery needs its own FROM
        parent_sel = prop.parent.local_table
        left = getattr(getattr(self.attr, "class_", None), "_aliased_insp", None)
        if left is not None:
            parent_sel = left.selectable
        from docket.orm.eager import _adapt

        parts = [_adapt(prop, prop.primaryjoin, parent_sel, sel, None if prop.secondary is None
                        else prop.secondary)]
        if prop.secondary is not None:
            parts.append(_adapt(prop, prop.secondaryjoin, parent_sel, sel, prop.secondary))
        extra = []
        if criterion is not None:
            extra.append(criterion)
        target = prop.mapper.class_
        for key, value in kwargs.items():
            col = getattr(target, key, None)
            if col is None:
                raise exc.InvalidRequestError(
                    f"Entity {target.__name__!r} has no property {key!r} (in {prop} any/has)."
                )
            extra.append(col == value)
        if sel is not table:
            extra = [_all_to(e, table, sel) for e in extra]
        return and_(*parts, *extra), sel

    def any(self, criterion: Any = None, **kwargs: Any) -> Any:
        """EXISTS a related row (matching ``criterion``) -- for collections."""
        from docket.sql.selectable import exists

        if not self.prop.uselist and self.prop.direction.name == "MANYTOONE":
            raise exc.InvalidRequestError(
                f"'any()' not implemented for scalar attribute {self.prop}; use has()."
            )
        crit, _sel = self._criterion(criterion, kwargs)
        return exists().where(crit)

    def has(self, criterion: Any = None, **kwargs: Any) -> Any:
        """EXISTS the related row (matching ``criterion``) -- for scalars."""
        from docket.sql.selectable import exists

        if self.prop.uselist:
            raise exc.InvalidRequestError(
                f"'has()' not implemented for collections ({self.prop}); use any()."
            )
        crit, _sel = self._criterion(criterion, kwargs)
        return exists().where(crit)

    def contains(self, other: Any, **kwargs: Any) -> Any:
        """The collection includes ``other``."""
        prop = self.prop
        _check(prop, other)
        if prop.secondary is not None:
            from docket.sql.selectable import exists

            sec_terms = [d == _value(other, k) for k, (_s, d) in
                         zip(prop._secondary_child_keys, prop.secondary_synchronize_pairs)]
            return exists().where(and_(prop.primaryjoin, *sec_terms))
        if prop.direction.name != "ONETOMANY":
            raise exc.InvalidRequestError(
                f"'contains' not implemented for scalar attribute {prop}; use ==."
            )
        terms = [s == _value(other, dk) for (_sk, dk), (s, _d) in
                 zip(prop._sync_keys, prop.synchronize_pairs)]
        return and_(*terms)

    def of_type(self, entity: Any) -> Any:
        """The relationship, aimed at ``entity`` (an aliased class) for joins
        and loader options."""
        return _OfType(self.prop, self.attr, entity)

    def and_(self, *criteria: Any) -> Any:
        return _OfType(self.prop, self.attr, getattr(self.attr, "_of_type", None),
                       criteria)


class _OfType:
    """``User.addresses.of_type(a)``: the attribute bound to another target."""

    def __init__(self, prop: RelationshipProperty, attr: Any, entity: Any,
                 criteria: tuple[Any, ...] = ()) -> None:
        self.prop = self.property = prop
        self.attr = attr
        self.parent = prop.parent
        self.key = prop.key
        self.class_ = getattr(attr, "class_", None) or prop.parent.class_
        self._of_type = entity
        self._criteria = criteria

    def __docket_join__(self, left: Any, target: Any) -> tuple[Any, Any, Any]:
        right, on, own = join_target(self.prop, self, left, target)
        if self._criteria:
            on = and_(on, *self._criteria)
        return right, on, own

    def __getattr__(self, name: str) -> Any:
        return getattr(Comparator(self.prop, self), name)


def join_target(prop: RelationshipProperty, attr: Any, left: Any, target: Any
                ) -> tuple[Any, Any, Any]:
    """(right side, ON clause, the relationship's own side) for ``.join(attr)``
    / ``.join(target, attr)``."""
    prop.mapper  # noqa: B018 - configure
    entity = target if target is not None else getattr(attr, "_of_type", None)
    sel = _target_sel(prop, entity) if entity is not None else prop.mapper.local_table
    if entity is not None and getattr(entity, "_aliased_insp", None) is None:
        ce = getattr(entity, "__clause_element__", None)
        sel = ce() if ce is not None else entity
    parent_sel = prop.parent.local_table
    left_insp = getattr(getattr(attr, "class_", None), "_aliased_insp", None)
    if left_insp is not None:
        parent_sel = left_insp.selectable
    from docket.orm.eager import _adapt

    if prop.secondary is not None:
        from docket.sql.from_clauses import Join

        sec = prop.secondary
        right = Join(sec, sel, _adapt(prop, prop.secondaryjoin, parent_sel, sel, sec))
        return right, _adapt(prop, prop.primaryjoin, parent_sel, sel, sec), parent_sel
    return sel, _adapt(prop, prop.primaryjoin, parent_sel, sel, None), parent_sel
