"""``scoped_session``: one Session per thread (or per custom scope).

The registry maps the current scope (the thread, or whatever ``scopefunc``
returns -- a request id, a task) to its Session; the scoped_session object
proxies the Session API to the current scope's session, so application code
can say ``Session.add(obj)`` / ``Session.commit()``.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable
from typing import Any

from docket import exc
from docket.orm.session import Session

__all__ = ["ScopedRegistry", "ThreadLocalRegistry", "scoped_session"]


class ScopedRegistry:
    """Sessions keyed by ``scopefunc()``."""

    def __init__(self, createfunc: Callable[[], Any], scopefunc: Callable[[], Any]) -> None:
        self.createfunc = createfunc
        self.scopefunc = scopefunc
        self.registry: dict[Any, Any] = {}

    def __call__(self) -> Any:
        key = self.scopefunc()
        try:
            return self.registry[key]
        except KeyError:
            return self.registry.setdefault(key, self.createfunc())

    def has(self) -> bool:
        return self.scopefunc() in self.registry

    def set(self, obj: Any) -> None:
        self.registry[self.scopefunc()] = obj

    def clear(self) -> None:
        self.registry.pop(self.scopefunc(), None)


class ThreadLocalRegistry:
    """One object per thread."""

    def __init__(self, createfunc: Callable[[], Any]) -> None:
        self.createfunc = createfunc
        self.registry = threading.local()

    def __call__(self) -> Any:
        try:
            return self.registry.value
        except AttributeError:
            val = self.registry.value = self.createfunc()
            return val

    def has(self) -> bool:
        return hasattr(self.registry, "value")

    def set(self, obj: Any) -> None:
        self.registry.value = obj

    def clear(self) -> None:
        try:
            del self.registry.value
        except AttributeError:
            pass


class scoped_session:
    """A thread-local (or ``scopefunc``-scoped) registry of Sessions.

    Args:
        session_factory: a ``sessionmaker`` (or any callable making Sessions).
        scopefunc: returns the current scope's key; default: the thread.
    """

    session_factory: Any

    def __init__(self, session_factory: Any, scopefunc: Callable[[], Any] | None = None) -> None:
        self.session_factory = session_factory
        if scopefunc is not None:
            self.registry: Any = ScopedRegistry(session_factory, scopefunc)
        else:
            self.registry = ThreadLocalRegistry(session_factory)

    def __call__(self, **kw: Any) -> Any:
        """The current scope's Session (created on first use).

        Raises:
            InvalidRequestError: arguments were given but a session already
                exists for this scope.
        """
        if kw:
            if self.registry.has():
                raise exc.InvalidRequestError(
                    "Scoped session is already present; no new arguments may be specified. "
                    "Call remove() first to start a new session with different arguments."
                )
            sess = self.session_factory(**kw)
            self.registry.set(sess)
            return sess
        return self.registry()

    def has(self) -> bool:
        """True if the current scope already has a Session."""
        return bool(self.registry.has())

    def remove(self) -> None:
        """Close the current scope's Session and forget it."""
        if self.registry.has():
            self.registry().close()
        self.registry.clear()

    def configure(self, **kw: Any) -> None:
        """Reconfigure the session factory (for sessions created from now on).

        As in SQLAlchemy, a session already present in the current scope only
        triggers a warning: it keeps its old configuration until remove().
        """
        if self.registry.has():
            warnings.warn(
                "At least one scoped session is already present; configure() can't affect "
                "sessions that already exist. Call remove() first to start a new session "
                "with the new configuration.",
                stacklevel=2,
            )
        self.session_factory.configure(**kw)

    def query_property(self, query_cls: Any = None) -> Any:
        """A class attribute returning a Query of the class in the current
        session: ``User.query = Session.query_property(); User.query.all()``."""
        scoped = self

        class _QueryProperty:
            def __get__(self, instance: Any, owner: type) -> Any:
                session = scoped.registry()
                if query_cls is not None:
                    return query_cls(owner, session=session)
                return session.query(owner)

        return _QueryProperty()


def _proxy_method(name: str) -> Any:
    def method(self: scoped_session, *args: Any, **kw: Any) -> Any:
        return getattr(self.registry(), name)(*args, **kw)

    method.__name__ = name
    method.__doc__ = f"Proxy for ``Session.{name}()`` on the current scope's session."
    return method


def _proxy_property(name: str) -> Any:
    def fget(self: scoped_session) -> Any:
        return getattr(self.registry(), name)

    def fset(self: scoped_session, value: Any) -> None:
        setattr(self.registry(), name, value)

    return property(fget, fset, doc=f"Proxy for ``Session.{name}``.")


_METHODS = (
    "__contains__", "__iter__", "add", "add_all", "begin", "begin_nested", "bulk_insert_mappings",
    "bulk_save_objects", "bulk_update_mappings", "close", "commit", "connection", "delete",
    "enable_relationship_loading", "execute", "expire", "expire_all", "expunge", "expunge_all",
    "flush", "get", "get_bind", "get_nested_transaction", "get_one", "get_transaction",
    "in_nested_transaction", "in_transaction", "invalidate", "is_modified", "merge", "prepare",
    "query", "refresh", "reset", "rollback", "scalar", "scalars", "bind_mapper", "bind_table",
)
_PROPERTIES = ("bind", "dirty", "deleted", "new", "identity_map", "is_active", "autoflush",
               "no_autoflush", "info", "expire_on_commit")

# Proxied unconditionally: a method the Session lacks fails on call, naming it.
for _name in _METHODS:
    setattr(scoped_session, _name, _proxy_method(_name))
for _name in _PROPERTIES:
    setattr(scoped_session, _name, _proxy_property(_name))


def _class_proxy(name: str) -> Any:
    def method(cls: type, *args: Any, **kw: Any) -> Any:
        return getattr(Session, name)(*args, **kw)

    method.__name__ = name
    return classmethod(method)


for _name in ("close_all", "object_session", "identity_key"):
    setattr(scoped_session, _name, _class_proxy(_name))
