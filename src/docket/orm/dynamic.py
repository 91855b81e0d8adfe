"""``lazy="write_only"`` (``WriteOnlyMapped``) and ``lazy="dynamic"``
(``DynamicMapped``) collections: never loaded as a whole.

The attribute is a facade made on each access.  Changes are queued in
``state.committed_state[key]`` as a :class:`_Pending` (items added and
removed since the last flush); the flush writes them like any collection
history, and a successful flush clears them with the rest of the history.
``select()`` (and, for ``dynamic``, iteration and the Query methods) read
the rows from the database.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from docket import exc
from docket.orm.state import NO_VALUE, STATE_KEY, InstanceState, instance_state

if TYPE_CHECKING:
    from docket.orm.relationships import RelationshipProperty

__all__ = ["AppenderQuery", "WriteOnlyCollection"]


class _Pending:
    """Items added / removed through a write-only collection since the last flush."""

    __slots__ = ("added", "removed")

    def __init__(self) -> None:
        self.added: list[Any] = []
        self.removed: list[Any] = []

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Pending) and not (self.added or self.removed or other.added
                                                    or other.removed)

    __hash__ = None  # type: ignore[assignment]


def _pending(state: InstanceState, key: str) -> _Pending:
    from docket.orm.relationship_attrs import _record

    committed = state.committed_state
    found = committed.get(key) if committed else None
    if isinstance(found, _Pending):
        if not state.modified:
            state._modified_event()
        return found
    pending = _Pending()
    _record(state, key, pending)
    committed = state.committed_state
    assert committed is not None
    committed[key] = pending
    return pending


def _add(prop: RelationshipProperty, state: InstanceState, obj: Any, item: Any,
         initiator: Any) -> None:
    prop._check_item(obj, item)
    pending = _pending(state, prop.key)
    if any(x is item for x in pending.removed):
        pending.removed = [x for x in pending.removed if x is not item]
    elif not any(x is item for x in pending.added):
        pending.added.append(item)
    prop._coll_appended(state, item, initiator)  # events, backref, orphans, cascade


def _remove(prop: RelationshipProperty, state: InstanceState, obj: Any, item: Any,
            initiator: Any) -> None:
    pending = _pending(state, prop.key)
    if any(x is item for x in pending.added):
        pending.added = [x for x in pending.added if x is not item]
    elif not any(x is item for x in pending.removed):
        pending.removed.append(item)
    prop._coll_removed(state, item, initiator)


def backref_add(prop: RelationshipProperty, state: InstanceState, obj: Any, item: Any) -> None:
    _add(prop, state, obj, item, prop._reverse)


def backref_remove(prop: RelationshipProperty, state: InstanceState, obj: Any, item: Any) -> None:
    _remove(prop, state, obj, item, prop._reverse)


class WriteOnlyCollection:
    """``parent.children`` of a ``write_only`` relationship: queue changes
    with ``add``/``add_all``/``remove``; read with ``session.scalars(coll.select())``."""

    def __init__(self, prop: RelationshipProperty, state: InstanceState, obj: Any) -> None:
        self._prop = prop
        self._state = state
        self._obj = obj

    def add(self, item: Any) -> None:
        """Queue ``item`` to be linked at the next flush."""
        _add(self._prop, self._state, self._obj, item, None)

    def add_all(self, items: Iterable[Any]) -> None:
        for item in items:
            self.add(item)

    def remove(self, item: Any) -> None:
        """Queue ``item`` to be unlinked at the next flush."""
        _remove(self._prop, self._state, self._obj, item, None)

    def _criterion(self) -> Any:
        from docket.sql.elements import bindparam

        prop = self._prop
        crit, binds = prop._lazy_clause()
        obj = self._obj
        d = obj.__dict__
        values = {}
        for name, key in binds:
            v = d.get(key, NO_VALUE)
            values[name] = getattr(obj, key) if v is NO_VALUE else v
        from docket.sql import visitors
        from docket.sql.elements import BindParameter

        def fill(node: Any) -> Any:
            if isinstance(node, BindParameter) and node.key in values:
                return bindparam(node.key, values[node.key], type_=node.type)
            return None

        return visitors.replace(crit, fill)

    def select(self) -> Any:
        """A SELECT of the related objects (ordered by ``order_by``)."""
        from docket.sql.selectable import Select

        stmt = Select(self._prop.mapper.class_).where(self._criterion())
        if self._prop.order_by:
            stmt = stmt.order_by(*self._prop.order_by)
        return stmt

    def insert(self) -> Any:
        """An INSERT into the target table with this parent's key filled in."""
        from docket.sql import dml

        return dml.insert(self._prop.mapper.class_).values(self._fk_values())

    def update(self) -> Any:
        """An UPDATE of the related rows."""
        from docket.sql import dml

        return dml.update(self._prop.mapper.class_).where(self._criterion())

    def delete(self) -> Any:
        """A DELETE of the related rows."""
        from docket.sql import dml

        return dml.delete(self._prop.mapper.class_).where(self._criterion())

    def _fk_values(self) -> dict[str, Any]:
        prop = self._prop
        if prop.secondary is not None:
            raise exc.InvalidRequestError(
                f"insert() on many-to-many write-only collection {prop} can't fill in the "
                "association row; add objects with add() instead."
            )
        d = self._obj.__dict__
        return {dk: d.get(sk) for sk, dk in prop._sync_keys}

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._prop}>"


class AppenderQuery(WriteOnlyCollection):
    """``parent.children`` of a ``dynamic`` relationship: a query of the
    related objects that can also ``append``/``remove``."""

    def __init__(self, prop: RelationshipProperty, state: InstanceState, obj: Any,
                 stmt: Any = None) -> None:
        super().__init__(prop, state, obj)
        self._stmt = stmt

    def _statement(self) -> Any:
        return self._stmt if self._stmt is not None else self.select()

    def _derive(self, stmt: Any) -> AppenderQuery:
        return AppenderQuery(self._prop, self._state, self._obj, stmt)

    def append(self, item: Any) -> None:
        self.add(item)

    def extend(self, items: Iterable[Any]) -> None:
        self.add_all(items)

    def filter(self, *criteria: Any) -> AppenderQuery:
        return self._derive(self._statement().where(*criteria))

    where = filter

    def filter_by(self, **kw: Any) -> AppenderQuery:
        return self._derive(self._statement().filter_by(**kw))

    def order_by(self, *clauses: Any) -> AppenderQuery:
        return self._derive(self._statement().order_by(*clauses))

    def limit(self, n: int | None) -> AppenderQuery:
        return self._derive(self._statement().limit(n))

    def offset(self, n: int | None) -> AppenderQuery:
        return self._derive(self._statement().offset(n))

    def _session(self) -> Any:
        session = self._state.session
        if session is None:
            raise exc.DetachedInstanceError(
                f"Parent instance <{type(self._obj).__name__} at 0x{id(self._obj):x}> is not "
                f"bound to a Session, and no contextual session is established; lazy load "
                f"operation of attribute '{self._prop.key}' cannot proceed."
            )
        return session

    def all(self) -> list[Any]:
        if self._state.ident is None:
            committed = self._state.committed_state
            pending = committed.get(self._prop.key) if committed else None
            return list(pending.added) if isinstance(pending, _Pending) else []
        return list(self._session().scalars(self._statement()).all())

    def __iter__(self) -> Iterator[Any]:
        return iter(self.all())

    def __getitem__(self, index: Any) -> Any:
        return self.all()[index]

    def first(self) -> Any:
        found = self.limit(1).all()
        return found[0] if found else None

    def one(self) -> Any:
        return self._session().scalars(self._statement()).one()

    def one_or_none(self) -> Any:
        return self._session().scalars(self._statement()).one_or_none()

    def count(self) -> int:
        from docket.sql.functions import func
        from docket.sql.selectable import Select

        if self._state.ident is None:
            return len(self.all())
        sub = self._statement().subquery()
        return int(self._session().scalar(Select(func.count()).select_from(sub)))


def facade(prop: RelationshipProperty, state: InstanceState, obj: Any) -> Any:
    """What ``obj.<key>`` returns for a write-only / dynamic relationship."""
    if prop.lazy == "dynamic":
        return AppenderQuery(prop, state, obj)
    return WriteOnlyCollection(prop, state, obj)


def assign(prop: RelationshipProperty, obj: Any, value: Any) -> None:
    """``obj.<key> = [...]``: allowed only for a new object (its initial members).

    Raises:
        InvalidRequestError: the object is already persistent.
    """
    state = obj.__dict__.get(STATE_KEY) or instance_state(obj)
    if state.ident is not None:
        raise exc.InvalidRequestError(
            f"Collection \"{prop}\" does not support implicit iteration or assignment on a "
            "persistent object; use add(), add_all() and remove() instead."
        )
    for item in list(value):
        _add(prop, state, obj, item, None)


def load_all(prop: RelationshipProperty, state: InstanceState, obj: Any) -> list[Any]:
    """Every related object, from the database (for deletes and cascades)."""
    session = state.session
    if session is None or state.ident is None:
        return []
    return list(session.scalars(WriteOnlyCollection(prop, state, obj).select()).all())
