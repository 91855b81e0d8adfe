"""Connection pools over a DB-API ``creator`` callable.

Names and semantics follow SQLAlchemy 2.0's ``sqlalchemy.pool``:

* :class:`Pool` -- the base: events, reset-on-return, recycle, pre-ping.
* :class:`QueuePool` -- up to ``pool_size`` idle connections plus
  ``max_overflow`` extra ones while busy; waits up to ``timeout`` when full.
* :class:`StaticPool` -- one DB-API connection shared by every checkout
  (``sqlite://`` memory databases).
* :class:`NullPool` -- opens and closes a connection per checkout.
* :class:`SingletonThreadPool` -- one connection per thread.

Structure: a pool owns :class:`_ConnectionRecord` objects ("records"); each
holds at most one live DB-API connection and reconnects lazily.  ``connect()``
hands out a :class:`PoolProxiedConnection` (a "fairy") wrapping one record;
``fairy.close()`` resets the connection and gives the record back.

Invariant: a record is either idle inside its pool or owned by exactly one
fairy (StaticPool and SingletonThreadPool share deliberately, see there).
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable
from typing import Any, ClassVar, NamedTuple, Protocol

from docket import exc
from docket.engine.events import PoolEvents
from docket.event import Dispatch

__all__ = [
    "ConnectionPoolEntry",
    "DBAPIConnection",
    "NullPool",
    "Pool",
    "PoolProxiedConnection",
    "PoolResetState",
    "QueuePool",
    "SingletonThreadPool",
    "StaticPool",
]

logger = logging.getLogger("docket.pool")


class DBAPIConnection(Protocol):
    """The part of a PEP 249 connection the pool uses."""

    def close(self) -> None: ...

    def commit(self) -> None: ...

    def rollback(self) -> None: ...

    def cursor(self) -> Any: ...


Creator = Callable[[], Any]


class PoolResetState(NamedTuple):
    """Passed to the ``reset`` event: how the returned connection is being reset."""

    transaction_was_reset: bool = False
    terminate_only: bool = False
    asyncio_safe: bool = True


# reset_on_return argument -> what to do with a returned connection.
_RESET_MODES: dict[Any, str | None] = {
    True: "rollback", "rollback": "rollback", "commit": "commit", False: None, None: None,
}


class _ConnectionRecord:
    """Holds one DB-API connection for a pool and reconnects it when needed.

    Invariants:
        ``dbapi_connection`` is None after invalidation or before the first
        connect; :meth:`get_connection` then makes a new one.
        ``info`` lives as long as one DB-API connection (cleared on reconnect);
        ``record_info`` lives as long as the record.
        ``fairy_ref`` is a weak reference to the fairy owning the record, or None.
    """

    def __init__(self, pool: Pool, connect: bool = True) -> None:
        self._pool = pool
        self.dbapi_connection: Any = None
        self.info: dict[Any, Any] = {}
        self.record_info: dict[Any, Any] = {}
        self.starttime = 0.0
        self.fresh = False
        self.fairy_ref: weakref.ref[PoolProxiedConnection] | None = None
        self._soft_invalidate_time = 0.0
        self.generation = pool._generation
        if connect:
            self._connect()

    @property
    def driver_connection(self) -> Any:
        """The driver's own connection object (the DB-API connection here)."""
        return self.dbapi_connection

    @property
    def in_use(self) -> bool:
        """True while a fairy owns this record."""
        return self.fairy_ref is not None

    def _connect(self) -> None:
        pool = self._pool
        self.starttime = time.time()
        conn = pool._creator()
        self.dbapi_connection = conn
        self.fresh = True
        self._soft_invalidate_time = 0.0
        try:
            pool._fire_connect_events(conn, self)
        except BaseException:
            # A failing connect listener must not leave a half-set-up connection.
            self.dbapi_connection = None
            pool._close_dbapi(conn, self)
            raise
        if pool.echo:
            pool._log("Created new connection %r", conn)

    def get_connection(self) -> Any:
        """Return the live DB-API connection, reconnecting if it is gone or stale.

        Raises:
            Exception: whatever the pool's creator raises when reconnecting.
        """
        pool = self._pool
        conn = self.dbapi_connection
        if conn is not None:
            if pool._recycle > -1 and time.time() - self.starttime > pool._recycle:
                pool._log("Connection %r exceeded recycle time; recycling", conn)
            elif self._soft_invalidate_time > self.starttime:
                pool._log("Connection %r was soft-invalidated; replacing", conn)
            else:
                return conn
            self._close_dbapi()
        self.info.clear()
        self._connect()
        return self.dbapi_connection

    def invalidate(self, e: BaseException | None = None, soft: bool = False) -> None:
        """Discard the DB-API connection (now, or at its next checkin if ``soft``).

        Fires ``invalidate`` (or ``soft_invalidate``) before closing.
        """
        conn = self.dbapi_connection
        if conn is None:
            return
        pool = self._pool
        if soft:
            if pool.dispatch.soft_invalidate:
                pool.dispatch.soft_invalidate(conn, self, e)
            self._soft_invalidate_time = time.time()
        else:
            if pool.dispatch.invalidate:
                pool.dispatch.invalidate(conn, self, e)
            self._close_dbapi()
        if e is not None:
            pool._log_always(
                "%sInvalidate connection %r (reason: %s: %s)",
                "Soft " if soft else "", conn, type(e).__name__, e,
            )
        else:
            pool._log("%sInvalidate connection %r", "Soft " if soft else "", conn)

    def close(self) -> None:
        """Close the DB-API connection, if any; the record stays reusable."""
        self._close_dbapi()

    def _close_dbapi(self) -> None:
        conn = self.dbapi_connection
        if conn is None:
            return
        self.dbapi_connection = None
        self._pool._close_dbapi(conn, self)

    def __repr__(self) -> str:
        return f"<_ConnectionRecord {self.dbapi_connection!r}>"


#: SQLAlchemy's public name for the record type passed to pool events.
ConnectionPoolEntry = _ConnectionRecord


class PoolProxiedConnection:
    """A DB-API connection checked out of a pool (SQLAlchemy's "fairy").

    Use it like the DB-API connection (unknown attributes are delegated to
    it); :meth:`close` gives it back to the pool instead of closing it.

    Invariants: ``_record`` is None once the connection was returned or
    detached; ``dbapi_connection`` is None once it was returned or
    invalidated.  ``_counter`` counts nested checkouts of the same fairy
    (SingletonThreadPool); it is returned when the count reaches zero.
    """

    __slots__ = (
        "_pool", "_record", "dbapi_connection", "_counter", "_invalidated",
        "_detached", "_detached_info", "__weakref__",
    )

    def __init__(self, pool: Pool, record: _ConnectionRecord, dbapi_connection: Any) -> None:
        self._pool = pool
        self._record: _ConnectionRecord | None = record
        self.dbapi_connection: Any = dbapi_connection
        self._counter = 1
        self._invalidated = False
        self._detached = False
        self._detached_info: dict[Any, Any] = {}

    @property
    def driver_connection(self) -> Any:
        """The driver's own connection object (the DB-API connection here)."""
        return self.dbapi_connection

    @property
    def is_valid(self) -> bool:
        """True while this proxy holds a usable DB-API connection."""
        return self.dbapi_connection is not None

    @property
    def invalidated(self) -> bool:
        """True once :meth:`invalidate` discarded the DB-API connection."""
        return self._invalidated

    @property
    def is_detached(self) -> bool:
        """True once :meth:`detach` took the connection out of the pool."""
        return self._detached

    @property
    def info(self) -> dict[Any, Any]:
        """Dict kept with the DB-API connection; survives checkin and checkout.

        After :meth:`detach` it is a copy owned by this proxy.
        """
        return self._record.info if self._record is not None else self._detached_info

    @property
    def record_info(self) -> dict[Any, Any] | None:
        """Dict kept with the pool's record for the life of the pool; None if detached."""
        return self._record.record_info if self._record is not None else None

    def _live(self) -> Any:
        conn = self.dbapi_connection
        if conn is None:
            if self._invalidated:
                raise exc.InvalidRequestError(
                    "This pooled connection was invalidated and its DB-API connection "
                    "closed; close() it and check out a new one with pool.connect()."
                )
            raise exc.ResourceClosedError(
                "This pooled connection was already returned to the pool with close(); "
                "check out a new one with pool.connect()."
            )
        return conn

    def cursor(self, *args: Any, **kwargs: Any) -> Any:
        """Return a new DB-API cursor.

        Raises:
            InvalidRequestError: the connection was invalidated or closed.
        """
        return self._live().cursor(*args, **kwargs)

    def commit(self) -> None:
        """Commit on the DB-API connection."""
        self._live().commit()

    def rollback(self) -> None:
        """Roll back on the DB-API connection."""
        self._live().rollback()

    def close(self) -> None:
        """Return the connection to its pool (reset first); a second call does nothing."""
        if self._counter <= 0:
            return
        self._counter -= 1
        if self._counter == 0:
            self._checkin()

    def invalidate(self, e: BaseException | None = None, soft: bool = False) -> None:
        """Discard the DB-API connection so the pool makes a new one.

        Args:
            e: the exception that showed the connection is dead, if any.
            soft: keep using the connection now; replace it when it is
                returned.  A hard invalidation closes it at once and returns
                this proxy's slot to the pool.
        """
        conn = self.dbapi_connection
        if conn is None:
            return
        record = self._record
        if record is not None:
            record.invalidate(e, soft=soft)
        elif not soft:
            self._pool._close_dbapi(conn, None)
        if soft:
            return
        self._invalidated = True
        self.dbapi_connection = None
        self._counter = 0
        self._checkin(reset=False)

    def detach(self) -> None:
        """Take the DB-API connection out of the pool; :meth:`close` then closes it.

        The pool's slot is freed at once and refilled with a new connection
        when needed.
        """
        record = self._record
        if record is None:
            return
        pool = self._pool
        self._detached = True
        self._detached_info = dict(record.info)
        record.fairy_ref = None
        record.dbapi_connection = None
        record.info.clear()
        self._record = None
        if pool.dispatch.detach:
            pool.dispatch.detach(self.dbapi_connection, record)
        pool._return_record(record)

    def _checkin(self, reset: bool = True) -> None:
        pool = self._pool
        record = self._record
        conn = self.dbapi_connection
        self._counter = 0
        if record is None:  # detached: close the connection ourselves
            self.dbapi_connection = None
            if conn is not None:
                pool._close_dbapi(conn, None)
                if pool.dispatch.close_detached:
                    pool.dispatch.close_detached(conn)
            return
        self._record = None
        self.dbapi_connection = None
        pool._finalize(record, conn if reset else None)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name in PoolProxiedConnection.__slots__:
            raise AttributeError(name)
        return getattr(self._live(), name)

    def __enter__(self) -> PoolProxiedConnection:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<PoolProxiedConnection {self.dbapi_connection!r}>"


#: SQLAlchemy's internal name, kept for readers porting code.
_ConnectionFairy = PoolProxiedConnection


class Pool:
    """Base class of connection pools.

    Args:
        creator: zero-argument callable returning a new DB-API connection.
        recycle: replace a connection at checkout once it is older than this
            many seconds; -1 never.
        echo: log checkouts, checkins and invalidations to the
            ``docket.pool`` logger at DEBUG.
        logging_name: name shown in those log lines (default: the pool's id).
        reset_on_return: ``True``/``"rollback"`` rolls back a returned
            connection, ``"commit"`` commits it, ``False``/``None`` leaves it.
        pre_ping: test each connection at checkout and replace it if dead.
        dialect: optional object with ``do_ping``, ``do_rollback``,
            ``do_commit`` and ``do_close`` (each optional), used instead of
            the plain DB-API calls.

    Raises:
        ArgumentError: ``reset_on_return`` is not one of the values above.
    """

    _dispatch_family: ClassVar[type[PoolEvents]] = PoolEvents
    #: Whether a fairy dropped without close() is returned through a weakref.
    _track_fairies: ClassVar[bool] = True

    def __init__(
        self,
        creator: Creator,
        *,
        recycle: float = -1,
        echo: bool | str = False,
        logging_name: str | None = None,
        reset_on_return: bool | str | None = True,
        pre_ping: bool = False,
        dialect: Any = None,
    ) -> None:
        if reset_on_return not in _RESET_MODES:
            raise exc.ArgumentError(
                f"Invalid value for reset_on_return: {reset_on_return!r}; use True, "
                "'rollback', 'commit', False or None."
            )
        self._creator = creator
        self._recycle = recycle
        self.echo = echo
        self.logging_name = logging_name
        self._orig_reset_on_return = reset_on_return
        self._reset_on_return = _RESET_MODES[reset_on_return]
        self._pre_ping = pre_ping
        self._dialect = dialect
        self._generation = 0
        self._first_connect_lock = threading.Lock()
        self._first_connect_done = False
        # Records of fairies garbage-collected without close(); drained by
        # connect().  list.append/pop are atomic, so the weakref callback
        # never takes a lock (it may run inside one).
        self._gc_returned: list[tuple[_ConnectionRecord, weakref.ref[Any]]] = []
        self.dispatch = Dispatch(PoolEvents, type(self))
        # Create every Listeners now so concurrent first use cannot race.
        for name in PoolEvents._event_names:
            getattr(self.dispatch, name)

    # --- public API ------------------------------------------------------------

    def connect(self) -> PoolProxiedConnection:
        """Check out a connection.

        Raises:
            TimeoutError: (QueuePool) no connection became free in time.
            Exception: whatever the creator raises when a new connection is needed.
        """
        if self._gc_returned:
            self._drain_gc_returned()
        return self._checkout()

    def dispose(self) -> None:
        """Close the pool's idle connections."""
        raise NotImplementedError

    def recreate(self) -> Pool:
        """Return a new, empty pool with the same settings and instance listeners."""
        new = type(self)(self._creator, **self._settings())
        for name in PoolEvents._event_names:
            getattr(new.dispatch, name).local.extend(getattr(self.dispatch, name).local)
        new._first_connect_done = self._first_connect_done
        return new

    def status(self) -> str:
        """One line describing the pool's state."""
        return type(self).__name__

    # --- hooks for subclasses ----------------------------------------------------

    def _do_get(self) -> _ConnectionRecord:
        """Return a record for a checkout (a new one or an idle one)."""
        raise NotImplementedError

    def _do_return_conn(self, record: _ConnectionRecord) -> None:
        """Take back a record whose fairy was closed."""
        raise NotImplementedError

    def _settings(self) -> dict[str, Any]:
        return {
            "recycle": self._recycle,
            "echo": self.echo,
            "logging_name": self.logging_name,
            "reset_on_return": self._orig_reset_on_return,
            "pre_ping": self._pre_ping,
            "dialect": self._dialect,
        }

    # --- checkout / checkin ------------------------------------------------------

    def _checkout(self) -> PoolProxiedConnection:
        record = self._do_get()
        try:
            conn = self._validate(record)
            fairy = PoolProxiedConnection(self, record, conn)
            if self.dispatch.checkout:
                self._fire_checkout(record, fairy)
        except BaseException:
            self._return_record(record)
            raise
        if self._track_fairies:
            record.fairy_ref = weakref.ref(fairy, self._make_gc_callback(record))
        else:
            record.fairy_ref = weakref.ref(fairy)
        if self.echo:
            self._log("Connection %r checked out from pool", fairy.dbapi_connection)
        return fairy

    def _validate(self, record: _ConnectionRecord) -> Any:
        """Return the record's live connection, pinging it first when asked.

        A failed ping never reaches the caller: the connection is invalidated
        and replaced; only a failing reconnect propagates.
        """
        conn = record.get_connection()
        if self._pre_ping and not record.fresh:
            error = self._ping(conn)
            if error is not None:
                self._log_always(
                    "Pool pre-ping on connection %r failed (%s: %s); will reconnect",
                    conn, type(error).__name__, error,
                )
                record.invalidate(error)
                conn = record.get_connection()
        record.fresh = False
        return conn

    def _fire_checkout(self, record: _ConnectionRecord, fairy: PoolProxiedConnection) -> None:
        # A checkout listener may raise DisconnectionError to ask for a fresh
        # connection; give up after three tries.
        for attempt in range(3):
            try:
                self.dispatch.checkout(fairy.dbapi_connection, record, fairy)
                return
            except exc.DisconnectionError as e:
                self._log_always("Disconnection detected on checkout: %s", e)
                record.invalidate(e)
                if attempt == 2:
                    raise exc.InvalidRequestError(
                        "A 'checkout' listener reported the connection dead three "
                        "times in a row; check the database and the listener."
                    ) from e
                fairy.dbapi_connection = record.get_connection()
                record.fresh = False

    def _finalize(self, record: _ConnectionRecord, conn: Any) -> None:
        """Reset ``conn`` (None: skip the reset), fire ``checkin``, give the record back."""
        record.fairy_ref = None
        try:
            if conn is not None and record.dbapi_connection is conn:
                self._reset(conn, record)
            if record._soft_invalidate_time > record.starttime:
                record.close()
            if self.echo:
                self._log("Connection %r being returned to pool", record.dbapi_connection)
            if self.dispatch.checkin:
                self.dispatch.checkin(record.dbapi_connection, record)
        finally:
            self._return_record(record)

    def _return_record(self, record: _ConnectionRecord) -> None:
        record.fairy_ref = None
        self._do_return_conn(record)

    def _reset(self, conn: Any, record: _ConnectionRecord) -> None:
        try:
            if self.dispatch.reset:
                self.dispatch.reset(conn, record, PoolResetState())
            if self._reset_on_return == "rollback":
                self._do_rollback(conn)
            elif self._reset_on_return == "commit":
                self._do_commit(conn)
        except Exception as e:
            # A connection that cannot be reset is not given to anyone else.
            logger.warning(
                "%sException during reset of connection %r on return to pool; "
                "connection invalidated", self._prefix(), conn, exc_info=True,
            )
            record.invalidate(e)

    # --- dialect-aware DB-API calls ---------------------------------------------

    def _do_rollback(self, conn: Any) -> None:
        fn = getattr(self._dialect, "do_rollback", None)
        if fn is not None:
            fn(conn)
        else:
            conn.rollback()

    def _do_commit(self, conn: Any) -> None:
        fn = getattr(self._dialect, "do_commit", None)
        if fn is not None:
            fn(conn)
        else:
            conn.commit()

    def _ping(self, conn: Any) -> BaseException | None:
        """Return None if ``conn`` answers, else the exception that shows it is dead."""
        fn = getattr(self._dialect, "do_ping", None)
        try:
            if fn is not None:
                ok = fn(conn)
                if ok is False:
                    return exc.DisconnectionError(
                        "The dialect's ping reported the connection dead."
                    )
                return None
            cursor = conn.cursor()
            try:
                cursor.execute("SELECT 1")
            finally:
                cursor.close()
        except Exception as e:
            return e
        return None

    def _close_dbapi(self, conn: Any, record: _ConnectionRecord | None) -> None:
        """Close a DB-API connection, firing ``close``; errors are logged, not raised."""
        if self.echo:
            self._log("Closing connection %r", conn)
        try:
            if record is not None and self.dispatch.close:
                self.dispatch.close(conn, record)
            fn = getattr(self._dialect, "do_close", None)
            if fn is not None:
                fn(conn)
            else:
                conn.close()
        except Exception:
            logger.error(
                "%sException closing connection %r", self._prefix(), conn, exc_info=True
            )

    def _fire_connect_events(self, conn: Any, record: _ConnectionRecord) -> None:
        if not self._first_connect_done:
            with self._first_connect_lock:
                if not self._first_connect_done:
                    if self.dispatch.first_connect:
                        self.dispatch.first_connect(conn, record)
                    self._first_connect_done = True
        if self.dispatch.connect:
            self.dispatch.connect(conn, record)

    # --- fairies dropped without close() ----------------------------------------

    def _make_gc_callback(self, record: _ConnectionRecord) -> Callable[[Any], None]:
        pending = self._gc_returned

        def returned(ref: weakref.ref[Any]) -> None:
            if record.fairy_ref is ref:
                pending.append((record, ref))

        return returned

    def _drain_gc_returned(self) -> None:
        while self._gc_returned:
            try:
                record, ref = self._gc_returned.pop()
            except IndexError:
                return
            if record.fairy_ref is not ref:
                continue  # already returned or checked out again
            logger.warning(
                "%sA pooled connection was garbage collected without close(); "
                "returning it to the pool. Close connections (or use 'with').",
                self._prefix(),
            )
            self._finalize(record, record.dbapi_connection)

    # --- logging -------------------------------------------------------------

    def _prefix(self) -> str:
        return f"[{self.logging_name or f'{type(self).__name__}@{id(self):x}'}] "

    def _log(self, msg: str, *args: Any) -> None:
        if self.echo:
            logger.debug(self._prefix() + msg, *args)

    def _log_always(self, msg: str, *args: Any) -> None:
        logger.info(self._prefix() + msg, *args)


class QueuePool(Pool):
    """A pool that keeps up to ``pool_size`` idle connections.

    Args:
        creator: zero-argument callable returning a new DB-API connection.
        pool_size: idle connections kept; 0 means no limit at all.
        max_overflow: connections allowed beyond ``pool_size`` while busy;
            -1 means no limit.  They are closed on checkin when the idle
            set is full.
        timeout: seconds ``connect()`` waits for a free connection.
        use_lifo: reuse the most recently returned connection first (lets
            surplus idle connections age out with ``recycle``).
        **kw: the :class:`Pool` options.

    Invariants (under ``_cond``): ``_total`` counts every record of the current
    generation that exists or is being created, idle or checked out;
    ``len(_idle) <= _total``; ``_total <= pool_size + max_overflow`` when limited.
    """

    def __init__(
        self,
        creator: Creator,
        pool_size: int = 5,
        max_overflow: int = 10,
        timeout: float = 30.0,
        use_lifo: bool = False,
        **kw: Any,
    ) -> None:
        super().__init__(creator, **kw)
        self._pool_size = pool_size
        self._max_overflow = max_overflow
        self._timeout = timeout
        self._use_lifo = use_lifo
        self._idle: deque[_ConnectionRecord] = deque()
        self._total = 0
        self._cond = threading.Condition(threading.Lock())
        self._limited = pool_size > 0 and max_overflow > -1

    def _settings(self) -> dict[str, Any]:
        return {
            **super()._settings(),
            "pool_size": self._pool_size,
            "max_overflow": self._max_overflow,
            "timeout": self._timeout,
            "use_lifo": self._use_lifo,
        }

    def _do_get(self) -> _ConnectionRecord:
        deadline: float | None = None
        with self._cond:
            while True:
                if self._idle:
                    return self._idle.pop() if self._use_lifo else self._idle.popleft()
                if not self._limited or self._total < self._pool_size + self._max_overflow:
                    self._total += 1  # reserve the slot; connect outside the lock
                    generation = self._generation
                    break
                now = time.monotonic()
                if deadline is None:
                    deadline = now + self._timeout
                remaining = deadline - now
                if remaining <= 0:
                    raise exc.TimeoutError(
                        f"QueuePool limit of size {self._pool_size} overflow "
                        f"{self._max_overflow} reached, connection timed out, timeout "
                        f"{self._timeout:.2f}; return connections to the pool (close "
                        "sessions/connections) or raise pool_size/max_overflow."
                    )
                self._cond.wait(remaining)
        try:
            record = _ConnectionRecord(self)
        except BaseException:
            with self._cond:  # the creator failed: give the reserved slot back
                if generation == self._generation:
                    self._total -= 1
                self._cond.notify()
            raise
        # The slot was counted in the generation current at reservation time.
        record.generation = generation
        return record

    def _do_return_conn(self, record: _ConnectionRecord) -> None:
        discard = False
        with self._cond:
            if record.generation != self._generation:
                discard = True  # from before dispose(); not counted any more
            elif self._pool_size > 0 and len(self._idle) >= self._pool_size:
                discard = True
                self._total -= 1
            else:
                self._idle.append(record)
            self._cond.notify()
        if discard:
            record.close()

    def dispose(self) -> None:
        """Close every idle connection; checked-out ones are closed when returned."""
        with self._cond:
            idle = list(self._idle)
            self._idle.clear()
            self._generation += 1
            # Checked-out records of the old generation no longer count.
            self._total = 0
            self._cond.notify_all()
        for record in idle:
            record.close()
        self._log("Pool disposed. %s", self.status())

    def size(self) -> int:
        """The configured ``pool_size``."""
        return self._pool_size

    def timeout(self) -> float:
        """The configured ``timeout`` in seconds."""
        return self._timeout

    def checkedin(self) -> int:
        """Number of idle connections in the pool."""
        with self._cond:
            return len(self._idle)

    def checkedout(self) -> int:
        """Number of connections currently checked out (of this generation)."""
        with self._cond:
            return self._total - len(self._idle)

    def overflow(self) -> int:
        """Connections beyond ``pool_size`` (negative while fewer exist)."""
        with self._cond:
            return self._total - self._pool_size

    def status(self) -> str:
        """``Pool size: 5  Connections in pool: 1 Current Overflow: -4 ...``."""
        with self._cond:
            idle, total = len(self._idle), self._total
        return (
            f"Pool size: {self._pool_size}  Connections in pool: {idle} "
            f"Current Overflow: {total - self._pool_size} "
            f"Current Checked out connections: {total - idle}"
        )


class NullPool(Pool):
    """No pooling: each checkout opens a DB-API connection and checkin closes it."""

    def _do_get(self) -> _ConnectionRecord:
        return _ConnectionRecord(self)

    def _do_return_conn(self, record: _ConnectionRecord) -> None:
        record.close()

    def dispose(self) -> None:
        """Nothing to close: NullPool keeps no connections."""

    def status(self) -> str:
        return "NullPool"


class StaticPool(Pool):
    """Exactly one DB-API connection, shared by every checkout.

    Used for ``sqlite://`` memory databases so that every connection sees
    the same database.  The connection is made at the first checkout and
    closed by :meth:`dispose`.  Checkouts are not isolated from each other:
    a return's reset (rollback) applies to the shared connection.
    """

    _track_fairies = False

    def __init__(self, creator: Creator, **kw: Any) -> None:
        super().__init__(creator, **kw)
        self._lock = threading.RLock()
        self._record: _ConnectionRecord | None = None

    def _checkout(self) -> PoolProxiedConnection:
        # Serialize so two threads never reconnect the shared record at once.
        with self._lock:
            return super()._checkout()

    def _do_get(self) -> _ConnectionRecord:
        if self._record is None:
            self._record = _ConnectionRecord(self)
        return self._record

    def _do_return_conn(self, record: _ConnectionRecord) -> None:
        if record is not self._record:
            record.close()  # returned after dispose(): its connection is stale

    def _finalize(self, record: _ConnectionRecord, conn: Any) -> None:
        with self._lock:
            super()._finalize(record, conn)

    def dispose(self) -> None:
        """Close the shared connection; the next checkout makes a new one."""
        with self._lock:
            record, self._record = self._record, None
        if record is not None:
            record.close()

    def status(self) -> str:
        return "StaticPool"


class SingletonThreadPool(Pool):
    """One DB-API connection per thread.

    A second ``connect()`` in a thread that still holds a checkout returns the
    same proxy (closed after the matching number of ``close()`` calls).  When
    more than ``pool_size`` threads have connections, those of finished
    threads are closed; connections of live threads never are.

    Args:
        creator: zero-argument callable returning a new DB-API connection.
        pool_size: connections kept before those of finished threads are closed.
        **kw: the :class:`Pool` options.
    """

    def __init__(self, creator: Creator, pool_size: int = 5, **kw: Any) -> None:
        super().__init__(creator, **kw)
        self._pool_size = pool_size
        self._lock = threading.Lock()
        self._local = threading.local()
        # record -> the thread that owns it
        self._all: dict[_ConnectionRecord, threading.Thread] = {}

    def _settings(self) -> dict[str, Any]:
        return {**super()._settings(), "pool_size": self._pool_size}

    def connect(self) -> PoolProxiedConnection:
        """Check out this thread's connection (the same proxy while one is open)."""
        ref = getattr(self._local, "fairy", None)
        fairy = ref() if ref is not None else None
        if fairy is not None and fairy._counter > 0 and fairy.is_valid:
            fairy._counter += 1
            return fairy
        fairy = super().connect()
        self._local.fairy = weakref.ref(fairy)
        return fairy

    def _do_get(self) -> _ConnectionRecord:
        record: _ConnectionRecord | None = getattr(self._local, "record", None)
        if record is not None:
            return record
        record = _ConnectionRecord(self)
        self._local.record = record
        with self._lock:
            self._all[record] = threading.current_thread()
            stale = self._cleanup_locked()
        for old in stale:
            old.close()
        return record

    def _cleanup_locked(self) -> list[_ConnectionRecord]:
        if len(self._all) <= self._pool_size:
            return []
        stale = [r for r, t in self._all.items() if not t.is_alive() and not r.in_use]
        for r in stale:
            del self._all[r]
        return stale

    def _do_return_conn(self, record: _ConnectionRecord) -> None:
        with self._lock:
            known = record in self._all
        if not known:
            record.close()  # returned after dispose()

    def dispose(self) -> None:
        """Close every thread's connection; threads get new ones on next connect()."""
        with self._lock:
            records = list(self._all)
            self._all.clear()
            self._local = threading.local()
        for record in records:
            if not record.in_use:
                record.close()

    def size(self) -> int:
        """The configured ``pool_size``."""
        return self._pool_size

    def status(self) -> str:
        with self._lock:
            count = len(self._all)
        return f"SingletonThreadPool id:{id(self):x} size: {count}"
