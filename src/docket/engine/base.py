"""Engine: a pool plus a dialect, the source of Connections.

The engine layer is split by what each module owns:

* ``docket.engine.base`` (this module) -- :class:`Engine`, :class:`OptionEngine`
  and the compiled-statement cache;
* ``docket.engine.connection`` -- :class:`Connection` (transactions' SQL,
  execution, error wrapping);
* ``docket.engine.transaction`` -- :class:`Transaction` and its kinds;
* ``docket.engine.context`` -- :class:`ExecutionContext`,
  :class:`ExceptionContext` and the per-Compiled execution plan.

Every name is importable from here as well (``from docket.engine.base import
Connection, Engine, RootTransaction``), as it was before the split.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, NoReturn

from docket import exc
from docket.engine.connection import Connection
from docket.engine.context import ExceptionContext, ExecutionContext, log, wrap_error
from docket.engine.events import ConnectionEvents, PoolEvents
from docket.engine.pool import Pool
from docket.engine.transaction import (
    NestedTransaction,
    RootTransaction,
    Transaction,
    TwoPhaseTransaction,
)
from docket.event import Dispatch

if TYPE_CHECKING:
    from docket.engine.default import DefaultDialect
    from docket.engine.url import URL

__all__ = [
    "Connection",
    "Engine",
    "ExceptionContext",
    "ExecutionContext",
    "NestedTransaction",
    "OptionEngine",
    "RootTransaction",
    "Transaction",
    "TwoPhaseTransaction",
]


class _LRU:
    """A bounded mapping; the least recently *inserted or hit* entry goes first.

    Safe to share between threads: a race costs at most a recompilation.
    """

    __slots__ = ("_data", "size", "hits", "misses")

    def __init__(self, size: int) -> None:
        self._data: dict[Any, Any] = {}
        self.size = size
        self.hits = self.misses = 0

    def get(self, key: Any) -> Any:
        data = self._data
        value = data.pop(key, None)
        if value is None:
            self.misses += 1
            return None
        data[key] = value  # move to the young end
        self.hits += 1
        return value

    def put(self, key: Any, value: Any) -> None:
        data = self._data
        data[key] = value
        if len(data) > self.size:
            for old in list(data)[: max(1, self.size // 10)]:
                data.pop(old, None)

    def __len__(self) -> int:
        return len(self._data)

    def clear(self) -> None:
        self._data.clear()


class Engine:
    """A source of connections to one database: a pool plus a dialect.

    Create with :func:`docket.create_engine`.  Thread-safe; create one per
    database URL per process.
    """

    _dispatch_family = ConnectionEvents
    _event_redirects = {"PoolEvents": Pool}

    def __init__(self, pool: Pool, dialect: DefaultDialect, url: URL, *, echo: Any = False,
                 hide_parameters: bool = False, execution_options: Mapping[str, Any] | None = None,
                 logging_name: str | None = None, query_cache_size: int = 500) -> None:
        self.pool = pool
        self.dialect = dialect
        self.url = url
        self.hide_parameters = hide_parameters
        self.logging_name = logging_name
        self._execution_options: dict[str, Any] = {}
        self._compiled_cache: _LRU | None = _LRU(query_cache_size) if query_cache_size else None
        self.dispatch = Dispatch(ConnectionEvents, type(self))
        # what every Connection of this engine fires, unless it has listeners of its own
        self._conn_dispatch = Dispatch(ConnectionEvents, Connection, parents=(self.dispatch,))
        self._echo = False
        self.echo = echo
        if execution_options:
            self._check_execution_options(execution_options)
            self._execution_options.update(execution_options)

    def _event_redirect(self, family: type) -> Any:
        if issubclass(family, PoolEvents):
            return self.pool
        return None

    @property
    def echo(self) -> Any:
        """Log SQL to the ``docket.engine`` logger (``"debug"`` accepted)."""
        return self._echo

    @echo.setter
    def echo(self, value: Any) -> None:
        self._echo = bool(value)
        if value and not log.handlers and not logging.getLogger().handlers:
            # nothing would show the lines: print them, as SQLAlchemy does
            handler = logging.StreamHandler(sys.stdout)
            handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(message)s"))
            log.addHandler(handler)

    @property
    def name(self) -> str:
        """The dialect's name (``sqlite``, ``postgresql``)."""
        return self.dialect.name

    @property
    def driver(self) -> str:
        """The DB-API driver's name (``pysqlite``, ``psycopg``)."""
        return self.dialect.driver

    def connect(self) -> Connection:
        """Check out a Connection (use it as a context manager).

        Raises:
            TimeoutError: the pool had no connection free within ``pool_timeout``.
            DBAPIError: the driver could not connect.
        """
        return Connection(self)

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """``with engine.begin() as conn:`` -- a connection in a transaction
        that commits at the end of the block, or rolls back on error."""
        with self.connect() as conn:
            with conn.begin():
                yield conn

    def raw_connection(self) -> Any:
        """A pooled DB-API connection (``close()`` returns it to the pool)."""
        return self._pool_connect()

    def _pool_connect(self) -> Any:
        try:
            return self.pool.connect()
        except exc.DocketError:
            raise
        except Exception as e:
            if not isinstance(e, self.dialect.dbapi.Error):
                raise
            self._handle_connect_error(e)

    def _handle_connect_error(self, e: BaseException) -> NoReturn:
        """Wrap a driver error raised while connecting (handle_error listeners
        see it with ``connection=None``)."""
        wrapped, _, _ = wrap_error(self, None, self._conn_dispatch, e, None, None, None, None,
                                   self.dialect.is_disconnect(e, None, None))
        self._scrub_password(wrapped)
        raise wrapped.with_traceback(sys.exc_info()[2]) from e

    def _scrub_password(self, error: BaseException) -> None:
        """Replace the URL's password in ``error``'s message, should a driver echo it."""
        password = self.url.password
        if not password or len(password) < 3 or not isinstance(error, exc.DocketError):
            return
        if error.args and isinstance(error.args[0], str) and password in error.args[0]:
            error.args = (error.args[0].replace(password, "***"),) + error.args[1:]

    def dispose(self, close: bool = True) -> None:
        """Close the pool's idle connections and start a fresh pool.

        Connections checked out now are closed when they are returned.
        """
        if close:
            self.pool.dispose()
        self.pool = self.pool.recreate()
        if self.dispatch.engine_disposed:
            self.dispatch.engine_disposed(self)

    def _check_execution_options(self, opts: Mapping[str, Any]) -> None:
        level = opts.get("isolation_level")
        if level is not None:
            self.dialect._check_isolation_level(level)

    def execution_options(self, **opts: Any) -> OptionEngine:
        """An engine sharing this one's pool, dialect and listeners whose
        connections get ``opts`` (e.g. ``isolation_level="AUTOCOMMIT"``).

        Raises:
            ArgumentError: an invalid isolation level.
        """
        return OptionEngine(self, opts)

    def get_execution_options(self) -> dict[str, Any]:
        """A copy of the options every connection of this engine starts with."""
        return dict(self._execution_options)

    def _run_ddl(self, action: str, target: Any, checkfirst: bool, **kw: Any) -> None:
        with self.begin() as conn:
            conn._run_ddl(action, target, checkfirst, **kw)

    def clear_compiled_cache(self) -> None:
        """Forget every cached compiled statement."""
        if self._compiled_cache is not None:
            self._compiled_cache.clear()

    def __repr__(self) -> str:
        return f"Engine({self.url!r})"


class OptionEngine(Engine):
    """What :meth:`Engine.execution_options` returns: a view of another
    engine with extra execution options.  Its pool is always the proxied
    engine's (so ``dispose()`` on either affects both); listeners added to the
    proxied engine apply here, not the other way round."""

    def __init__(self, proxied: Engine, opts: Mapping[str, Any]) -> None:
        proxied._check_execution_options(opts)
        self._proxied = proxied
        self.dialect = proxied.dialect
        self.url = proxied.url
        self.hide_parameters = proxied.hide_parameters
        self.logging_name = proxied.logging_name
        self._execution_options = {**proxied._execution_options, **opts}
        self._compiled_cache = proxied._compiled_cache
        self.dispatch = Dispatch(ConnectionEvents, type(self), parents=(proxied.dispatch,))
        self._conn_dispatch = Dispatch(ConnectionEvents, Connection, parents=(self.dispatch,))
        self._echo = proxied._echo

    @property
    def pool(self) -> Pool:
        """The proxied engine's pool."""
        return self._proxied.pool

    @pool.setter
    def pool(self, pool: Pool) -> None:
        self._proxied.pool = pool
