"""``sessionmaker``: a configured Session factory, created once at module scope."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Generic, TypeVar

from docket.orm.session import Session

__all__ = ["sessionmaker"]

_S = TypeVar("_S", bound=Session)


class sessionmaker(Generic[_S]):
    """A factory for Sessions with fixed configuration::

        Session = sessionmaker(engine, expire_on_commit=False)   # module scope
        with Session() as session: ...
        with Session.begin() as session: ...                       # commits at the end

    Each sessionmaker makes its own subclass of ``class_``, so Session events
    registered on the sessionmaker apply to the sessions it creates only.

    Args:
        bind: the Engine or Connection new sessions use.
        class_: the Session class to instantiate.
        autoflush, expire_on_commit, info: Session arguments.
        **kw: any other Session argument.
    """

    def __init__(self, bind: Any = None, *, class_: type[_S] = Session,  # type: ignore[assignment]
                 autoflush: bool = True, expire_on_commit: bool = True,
                 info: dict[Any, Any] | None = None, **kw: Any) -> None:
        kw["bind"] = bind
        kw["autoflush"] = autoflush
        kw["expire_on_commit"] = expire_on_commit
        if info is not None:
            kw["info"] = info
        self.kw = kw
        self.class_: type[_S] = type(class_.__name__, (class_,), {})

    def __call__(self, **local_kw: Any) -> _S:
        """A new Session; keyword arguments override the configured ones
        (``info`` dicts are merged)."""
        for key, value in self.kw.items():
            if key == "info" and "info" in local_kw:
                local_kw["info"] = {**value, **local_kw["info"]}
            else:
                local_kw.setdefault(key, value)
        return self.class_(**local_kw)

    @contextmanager
    def begin(self) -> Iterator[_S]:
        """``with maker.begin() as session:`` -- a session in a transaction that
        commits at the end of the block (rolls back on error) and is closed."""
        with self() as session, session.begin():
            yield session

    def configure(self, **new_kw: Any) -> None:
        """Change the configuration for sessions created from now on."""
        self.kw.update(new_kw)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.kw.items())
        return f"{type(self).__name__}(class_={self.class_.__name__!r}, {args})"
