"""The Session's guard against use from two threads at once.

A Session is not thread-safe.  Its methods that talk to the database or
change the transaction are wrapped by :func:`exclusive`, which claims the
session for the calling thread for the duration of the call; the in-memory
operations (delete, expunge, expire) only check the claim; add and add_all claim it.  A second
thread is refused with a clear error, never blocked and never let in.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from threading import get_ident
from typing import Any, TypeVar, cast

from docket import exc

__all__ = ["OWNER", "concurrent_use", "exclusive"]

F = TypeVar("F", bound=Callable[..., Any])
OWNER = "_owner"  # Session.__dict__ key of the exclusive-call claim (class default: None)


def exclusive(fn: F) -> F:
    """Run a Session method that talks to the database or changes the
    transaction as the session's only user.

    Invariant: ``session.__dict__[OWNER]`` is ``(thread ident, method name)``
    of the outermost exclusive call in progress, absent otherwise; it is
    claimed with one atomic ``dict.setdefault``.  A nested call on the owning
    thread (flush inside commit, autoflush inside execute, an event calling
    back) passes; another thread entering meanwhile is refused -- never
    blocked, never let in to corrupt the state.  The in-memory operations
    (delete, expunge, expire) only read the claim: one attribute check.
    """
    op = fn.__name__.strip("_").removesuffix("_impl")

    @wraps(fn)
    def guarded(self: Any, *args: Any, **kw: Any) -> Any:
        claim = (get_ident(), op)
        d = self.__dict__
        owner = d.setdefault(OWNER, claim)
        if owner is claim:
            try:
                return fn(self, *args, **kw)
            finally:
                del d[OWNER]
        if owner[0] != claim[0]:
            raise concurrent_use(self, op, owner)
        return fn(self, *args, **kw)

    return cast(F, guarded)


def concurrent_use(session: Any, op: str, owner: tuple[int, str]) -> exc.InvalidRequestError:
    """The error for a thread calling ``op`` while ``owner`` = (thread, method) holds the session."""
    return exc.InvalidRequestError(
        f"Session {session.hash_key} is being used concurrently: thread {get_ident()} called "
        f"{op}() while thread {owner[0]} is inside {owner[1]}(); a Session is not "
        "thread-safe: use one Session per thread, e.g. scoped_session(sessionmaker(engine))."
        " The refused call changed nothing."
    )
