"""ORM event families: Session, mapper, instance and attribute events.

Listener signatures are SQLAlchemy 2.0's.  Targets (resolved by each
family's ``_accept_with`` to a *holder*, see :mod:`docket.event`):

* :class:`SessionEvents` -- the ``Session`` class (every session), a Session
  subclass, a ``sessionmaker`` (its generated ``class_``: only the sessions
  it makes), a ``scoped_session`` (its ``session_factory``), a Session
  instance.
* :class:`MapperEvents` / :class:`InstanceEvents` -- a mapped class (and
  its subclasses), an unmapped declarative base (every class mapped under
  it), a ``Mapper``, or the ``Mapper`` class itself (every mapper; mapper
  events only).  Listeners are held per class, so they always propagate.
* :class:`AttributeEvents` -- a mapped attribute, ``User.name``.

Cost when nothing listens: hot paths test ``if dispatch.<event>:`` once per
flush batch / loader build; attribute ``set`` and instance ``init`` listeners
install an instrumented setter / ``__init__`` only while they exist.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from docket.event import Events, _class_listeners, _Entry

__all__ = [
    "AttributeEvents", "InstanceEvents", "MapperEvents", "ORMExecuteState", "QueryContext",
    "SessionEvents",
]


class SessionEvents(Events):
    """Events of a Session's lifecycle, transactions and object states."""

    @classmethod
    def _accept_with(cls, target: Any, identifier: str) -> Any:
        from docket.orm.maker import sessionmaker
        from docket.orm.scoping import scoped_session
        from docket.orm.session import Session

        if isinstance(target, scoped_session):
            return cls._accept_with(target.session_factory, identifier)
        if isinstance(target, sessionmaker):
            return target.class_
        if isinstance(target, type):
            return target if issubclass(target, Session) else None
        return target if isinstance(target, Session) else None

    def before_flush(self, session: Any, flush_context: Any, instances: Any) -> None:
        """A flush with work to do is starting; objects may still be added/changed."""

    def after_flush(self, session: Any, flush_context: Any) -> None:
        """Every statement of a flush ran; objects are not yet in their new states."""

    def after_flush_postexec(self, session: Any, flush_context: Any) -> None:
        """A flush finished and objects are in their post-flush states."""

    def before_commit(self, session: Any) -> None:
        """commit() is starting (before its final flush)."""

    def after_commit(self, session: Any) -> None:
        """The database transaction committed (no SQL may run here)."""

    def after_rollback(self, session: Any) -> None:
        """A database rollback happened."""

    def after_soft_rollback(self, session: Any, previous_transaction: Any) -> None:
        """A rollback() call ended ``previous_transaction`` (even without a DB rollback)."""

    def after_begin(self, session: Any, transaction: Any, connection: Any) -> None:
        """A connection joined the session transaction (its DB transaction began)."""

    def after_transaction_create(self, session: Any, transaction: Any) -> None:
        """A SessionTransaction (root or SAVEPOINT) was created."""

    def after_transaction_end(self, session: Any, transaction: Any) -> None:
        """A SessionTransaction ended (committed, rolled back or closed)."""

    def before_attach(self, session: Any, instance: Any) -> None:
        """An object is about to be attached to the session."""

    def after_attach(self, session: Any, instance: Any) -> None:
        """An object was attached to the session."""

    def transient_to_pending(self, session: Any, instance: Any) -> None:
        """A transient object was add()ed."""

    def pending_to_transient(self, session: Any, instance: Any) -> None:
        """A pending object was expunged or rolled back."""

    def pending_to_persistent(self, session: Any, instance: Any) -> None:
        """A pending object was INSERTed by a flush."""

    def persistent_to_deleted(self, session: Any, instance: Any) -> None:
        """A persistent object was DELETEd by a flush."""

    def deleted_to_detached(self, session: Any, instance: Any) -> None:
        """A deleted object left the session (commit or expunge)."""

    def deleted_to_persistent(self, session: Any, instance: Any) -> None:
        """A rollback restored a deleted object."""

    def persistent_to_detached(self, session: Any, instance: Any) -> None:
        """A persistent object left the session (expunge / close)."""

    def detached_to_persistent(self, session: Any, instance: Any) -> None:
        """A detached object was add()ed back."""

    def loaded_as_persistent(self, session: Any, instance: Any) -> None:
        """An object was loaded from a row into the session."""

    def persistent_to_transient(self, session: Any, instance: Any) -> None:
        """A rollback undid an object's INSERT (or make_transient())."""

    def do_orm_execute(self, orm_execute_state: ORMExecuteState) -> None:
        """Session.execute() of an ORM statement; return a Result to replace execution."""

    def after_bulk_update(self, update_context: Any) -> None:
        """An ORM-enabled UPDATE statement ran."""

    def after_bulk_delete(self, delete_context: Any) -> None:
        """An ORM-enabled DELETE statement ran."""


def _mapped_holder(target: Any, mapper_class_ok: bool) -> Any:
    """A mapped class, declarative base or Mapper -> the class holding listeners."""
    from docket.orm.mapper import Mapper

    if isinstance(target, Mapper):
        return target.class_
    if isinstance(target, type):
        if target is Mapper:
            return Mapper if mapper_class_ok else None
        if getattr(target, "__mapper__", None) is not None or hasattr(target, "registry"):
            return target
    return None


class MapperEvents(Events):
    """Per-object persistence events, fired around a flush's batched statements."""

    @classmethod
    def _accept_with(cls, target: Any, identifier: str) -> Any:
        return _mapped_holder(target, True)

    def before_insert(self, mapper: Any, connection: Any, target: Any) -> None:
        """``target`` is about to be INSERTed (changes made here are written)."""

    def after_insert(self, mapper: Any, connection: Any, target: Any) -> None:
        """``target`` was INSERTed (its generated keys are populated)."""

    def before_update(self, mapper: Any, connection: Any, target: Any) -> None:
        """``target`` (in the flush's dirty list) is about to be UPDATEd."""

    def after_update(self, mapper: Any, connection: Any, target: Any) -> None:
        """``target`` was UPDATEd."""

    def before_delete(self, mapper: Any, connection: Any, target: Any) -> None:
        """``target`` is about to be DELETEd."""

    def after_delete(self, mapper: Any, connection: Any, target: Any) -> None:
        """``target`` was DELETEd."""


class InstanceEvents(Events):
    """Events of mapped instances: construction, loading, refresh, expiry."""

    @classmethod
    def _accept_with(cls, target: Any, identifier: str) -> Any:
        return _mapped_holder(target, False)

    @classmethod
    def _after_change(cls, holder: Any, identifier: str) -> None:
        if identifier in ("init", "init_failure"):
            _sync_init_hooks(holder)

    def init(self, target: Any, args: Any, kwargs: Any) -> None:
        """The constructor was called (before it runs)."""

    def init_failure(self, target: Any, args: Any, kwargs: Any) -> None:
        """The constructor raised."""

    def load(self, target: Any, context: Any) -> None:
        """``target`` was created from a row and populated."""

    def refresh(self, target: Any, context: Any, attrs: Any) -> None:
        """Attributes of ``target`` (``attrs``; None for all) were reloaded from a row."""

    def expire(self, target: Any, attrs: Any) -> None:
        """Attributes of ``target`` (``attrs``; None for all) were expired."""


class AttributeToken:
    """The ``initiator`` passed to attribute listeners."""

    __slots__ = ("key", "op", "parent_token")

    def __init__(self, key: str, op: str) -> None:
        self.key = key
        self.op = op
        self.parent_token = self

    def __repr__(self) -> str:
        return f"<AttributeToken {self.key} {self.op}>"


class _AttributeHolder:
    """Listeners of one (class, attribute key); ``dispatch.<event>.local`` is the list."""

    def __init__(self, cls: type, key: str) -> None:
        from docket.event import Dispatch

        self.cls = cls
        self.key = key
        self.dispatch = Dispatch(AttributeEvents, _AttributeHolder)


_attr_holders: dict[tuple[type, str], _AttributeHolder] = {}


class AttributeEvents(Events):
    """Changes to a mapped attribute: ``event.listen(User.name, "set", fn)``."""

    @classmethod
    def _accept_with(cls, target: Any, identifier: str) -> Any:
        from docket.orm.attributes import QueryableAttribute

        if isinstance(target, _AttributeHolder):
            return target
        if not isinstance(target, QueryableAttribute):
            return None
        key = (target.class_, target.key)
        holder = _attr_holders.get(key)
        if holder is None:
            holder = _attr_holders[key] = _AttributeHolder(target.class_, target.key)
        return holder

    @classmethod
    def _after_change(cls, holder: Any, identifier: str) -> None:
        if identifier == "set":
            _sync_set_hooks(holder.cls, holder.key)

    def set(self, target: Any, value: Any, oldvalue: Any, initiator: Any) -> Any:
        """A scalar attribute is being set; with ``retval=True`` return the value to store."""

    def append(self, target: Any, value: Any, initiator: Any) -> Any:
        """An item is being appended to a collection (relationships)."""

    def remove(self, target: Any, value: Any, initiator: Any) -> None:
        """An item was removed from a collection (relationships)."""


# --- installing instrumentation only while listeners exist -----------------------------


def _mapped_under(cls: type) -> list[type]:
    """``cls`` and its subclasses that have a mapper of their own."""
    found: list[type] = []
    todo = [cls]
    seen: set[type] = set()
    while todo:
        c = todo.pop()
        if c in seen:
            continue
        seen.add(c)
        if "__mapper__" in c.__dict__:
            found.append(c)
        todo.extend(c.__subclasses__())
    return found


def _set_entries(cls: type, key: str) -> list[_Entry]:
    entries: list[_Entry] = []
    for base in reversed(cls.__mro__):
        holder = _attr_holders.get((base, key))
        if holder is not None:
            entries.extend(holder.dispatch.set.local)
    return entries


def attribute_listeners(cls: type, key: str, identifier: str) -> list[tuple[Any, bool]]:
    """``(fn, retval)`` of the ``identifier`` listeners (append / remove) on
    attribute ``key`` of ``cls`` and its bases."""
    out: list[tuple[Any, bool]] = []
    for base in reversed(cls.__mro__):
        holder = _attr_holders.get((base, key))
        if holder is not None:
            out.extend((e.call, e.retval) for e in getattr(holder.dispatch, identifier).local)
    return out


def _sync_set_hooks(target_cls: type, key: str) -> None:
    from docket.orm.attributes import install_set_listeners

    for cls in _mapped_under(target_cls):
        install_set_listeners(cls.__mapper__, key,  # type: ignore[attr-defined]
                              [(e.call, e.retval) for e in _set_entries(cls, key)])


def resync_mapper(mapper: Any) -> None:
    """A mapper was created or re-instrumented: install the attribute ``set``
    and ``init`` hooks that listeners on its class or bases ask for."""
    from docket.orm.attributes import install_set_listeners

    cls = mapper.class_
    bases = set(cls.__mro__)
    for key in {k for (c, k) in _attr_holders if c in bases}:
        install_set_listeners(mapper, key, [(e.call, e.retval) for e in _set_entries(cls, key)])
    if any((c, name) in _class_listeners for c in bases for name in ("init", "init_failure")):
        _sync_init_hooks(cls)


def _sync_init_hooks(holder: Any) -> None:
    from docket.orm.mapper import Mapper

    classes = _mapped_under(holder) if isinstance(holder, type) and holder is not Mapper else []
    for cls in classes:
        mapper = cls.__mapper__  # type: ignore[attr-defined]
        idisp = mapper.instance_dispatch
        wrapped = getattr(cls.__dict__.get("__init__"), "_docket_init_orig", None)
        if idisp.init or idisp.init_failure:
            if wrapped is None:
                _wrap_init(cls, mapper)
        elif wrapped is not None:
            if wrapped is _INHERITED:
                delattr(cls, "__init__")
            else:
                cls.__init__ = wrapped  # type: ignore[misc]


_INHERITED = object()


def _wrap_init(cls: type, mapper: Any) -> None:
    own = cls.__dict__.get("__init__")
    original: Any = own if own is not None else cls.__init__  # type: ignore[misc]
    idisp = mapper.instance_dispatch

    @functools.wraps(original)
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        if type(self) is not cls:  # a subclass with its own hook fires its own
            original(self, *args, **kwargs)
            return
        idisp.init(self, args, kwargs)
        try:
            original(self, *args, **kwargs)
        except BaseException:
            idisp.init_failure(self, args, kwargs)
            raise

    __init__._docket_init_orig = own if own is not None else _INHERITED  # type: ignore[attr-defined]
    cls.__init__ = __init__  # type: ignore[misc]


# --- execution / load contexts -------------------------------------------------------------


class QueryContext:
    """The ``context`` given to ``load`` / ``refresh`` listeners."""

    __slots__ = ("session", "statement", "execution_options")

    def __init__(self, session: Any, statement: Any = None,
                 execution_options: Any = None) -> None:
        self.session = session
        self.statement = statement
        self.execution_options = execution_options or {}


class ORMExecuteState:
    """What ``do_orm_execute`` listeners see of one ``Session.execute()`` call.

    Attributes:
        session: the Session.
        statement: the statement (a listener may replace it).
        parameters: the parameters (a dict, a list of dicts, or None).
        execution_options: the merged execution options (immutable view;
            change with :meth:`update_execution_options`).
        bind_arguments: the ``bind_arguments`` for ``get_bind()``.
    """

    def __init__(self, session: Any, statement: Any, parameters: Any,
                 execution_options: dict[str, Any], bind_arguments: dict[str, Any],
                 invoke: Callable[[ORMExecuteState], Any]) -> None:
        self.session = session
        self.statement = statement
        self.parameters = parameters
        self.local_execution_options = dict(execution_options)
        self._opts = dict(execution_options)
        self.bind_arguments = bind_arguments
        self._invoke = invoke
        self._position = 0

    @property
    def execution_options(self) -> dict[str, Any]:
        """The merged execution options (a copy)."""
        return dict(self._opts)

    def update_execution_options(self, **opts: Any) -> None:
        """Change execution options for this execution."""
        self._opts.update(opts)

    @property
    def is_select(self) -> bool:
        """The statement is a SELECT."""
        return bool(getattr(self.statement, "is_select", False))

    @property
    def is_insert(self) -> bool:
        """The statement is an INSERT."""
        return bool(getattr(self.statement, "is_insert", False))

    @property
    def is_update(self) -> bool:
        """The statement is an UPDATE."""
        return bool(getattr(self.statement, "is_update", False))

    @property
    def is_delete(self) -> bool:
        """The statement is a DELETE."""
        return bool(getattr(self.statement, "is_delete", False))

    @property
    def is_orm_statement(self) -> bool:
        """The statement involves mapped entities."""
        from docket.orm.loading import is_orm_statement

        return is_orm_statement(self.statement)

    @property
    def bind_mapper(self) -> Any:
        """The Mapper used to pick the bind, if any."""
        return self.bind_arguments.get("mapper")

    @property
    def all_mappers(self) -> list[Any]:
        """Mappers of the statement's entities."""
        m = self.bind_mapper
        return [m] if m is not None else []

    @property
    def user_defined_options(self) -> list[Any]:
        """Options given with ``statement.options()`` (none are user-defined yet)."""
        return []

    def invoke_statement(self, statement: Any = None, params: Any = None,
                         execution_options: dict[str, Any] | None = None,
                         bind_arguments: dict[str, Any] | None = None) -> Any:
        """Run the statement now (optionally changed) through the remaining
        listeners and the session, and return its Result."""
        if statement is not None:
            self.statement = statement
        if params is not None:
            if isinstance(self.parameters, dict) and isinstance(params, dict):
                self.parameters = {**self.parameters, **params}
            else:
                self.parameters = params
        if execution_options:
            self._opts.update(execution_options)
        if bind_arguments:
            self.bind_arguments.update(bind_arguments)
        return self._invoke(self)
