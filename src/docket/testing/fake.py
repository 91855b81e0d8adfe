"""A recording proxy around a real DB-API connection, with fault injection.

In the spirit of httpx's ``MockTransport``: the database stays real (so the
dialect's behaviour -- paramstyle, RETURNING, ``lastrowid``, error classes --
is the driver's own), and a thin proxy in front of it records every call and
can make chosen calls fail::

    from docket.testing import FailurePlan, recording_engine

    engine, recorder = recording_engine("sqlite://")
    with recorder.capture() as calls:
        ...                                  # run ORM / Core code
    print(calls.statements)                  # [(sql, params, many), ...]

    with recorder.failing(FailurePlan.at_statement(2, "IntegrityError")):
        ...                                  # the 3rd statement from here fails

Parts:

* :class:`Recorder` -- the shared log (:class:`Call` entries) and the armed
  :class:`FailurePlan`; one per engine, shared by all its connections, so
  statement indices count across the whole engine.
* :class:`RecordingConnection` / :class:`RecordingCursor` -- proxies that
  log, consult the plan, and otherwise forward everything (attribute reads
  *and* writes, e.g. psycopg's ``autocommit``) to the real objects.
* :func:`recording_engine` -- ``create_engine(url, creator=...)`` whose
  connections are wrapped; the dialect's connect arguments are used unchanged.

Invariants: a call is logged *before* it reaches the driver (so a statement
that fails is in the log, with ``Call.error`` set); injected errors are
instances of the wrapped driver's own exception classes (``sqlite3.
IntegrityError``, ``psycopg.OperationalError`` ...), so docket wraps them
exactly as it wraps real ones.
"""

from __future__ import annotations

import re
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from docket.engine.base import Engine

__all__ = [
    "Call",
    "CallLog",
    "Fault",
    "FailurePlan",
    "Recorder",
    "RecordingConnection",
    "RecordingCursor",
    "recording_engine",
    "statements_of",
]

#: kinds of logged calls; the first two are "statements"
STATEMENT_KINDS = frozenset({"execute", "executemany"})
_TXN_SQL = re.compile(
    r"^\s*(BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE|START\s+TRANSACTION|END)\b", re.IGNORECASE
)


@dataclass(eq=False)
class Call:
    """One DB-API call the recorder saw.

    Attributes:
        kind: ``"execute"``, ``"executemany"`` (cursor or connection
            shortcut), ``"commit"`` or ``"rollback"`` (connection methods).
        sql: the statement text (``"COMMIT"`` / ``"ROLLBACK"`` for the methods).
        params: parameters as passed (a list of them for executemany), or None.
        error: the exception the call raised (injected or real), else None.
        injected: True when the error came from the :class:`FailurePlan`.
    """

    kind: str
    sql: str
    params: Any = None
    error: BaseException | None = None
    injected: bool = False

    @property
    def many(self) -> bool:
        return self.kind == "executemany"

    @property
    def is_statement(self) -> bool:
        """An execute/executemany (as opposed to a commit/rollback method call)."""
        return self.kind in STATEMENT_KINDS

    @property
    def is_transaction_control(self) -> bool:
        """BEGIN / COMMIT / ROLLBACK / SAVEPOINT / RELEASE, as SQL or as a method."""
        return not self.is_statement or bool(_TXN_SQL.match(self.sql))

    def as_tuple(self) -> tuple[str, Any, bool]:
        return (self.sql, self.params, self.many)

    def __repr__(self) -> str:
        extra = f" !{type(self.error).__name__}" if self.error is not None else ""
        return f"<Call {self.kind} {self.sql!r} {self.params!r}{extra}>"


class CallLog(list[Call]):
    """A list of :class:`Call` with convenient views."""

    @property
    def statements(self) -> list[tuple[str, Any, bool]]:
        """``(sql, params, many)`` for every execute/executemany, in order."""
        return [c.as_tuple() for c in self if c.is_statement]

    @property
    def sql(self) -> list[str]:
        """The SQL text of every execute/executemany, in order."""
        return [c.sql for c in self if c.is_statement]

    def without_transaction_control(self) -> list[Call]:
        """The calls minus BEGIN/COMMIT/ROLLBACK/SAVEPOINT/RELEASE."""
        return [c for c in self if not c.is_transaction_control]


@dataclass
class Fault:
    """One call that will fail.

    Attributes:
        on: which calls are counted: ``"statement"`` (execute + executemany,
            including sqlite3's ``connection.execute("BEGIN")``),
            ``"execute"``, ``"executemany"``, ``"commit"`` or ``"rollback"``.
        index: fail the ``index``-th counted call (0-based) after the plan is armed.
        error: name of the driver exception class to raise
            (``"OperationalError"``, ``"IntegrityError"`` ...).
        message: the exception's text.
        match: if given, only calls whose SQL matches this regex are counted.
        disconnect: close the real connection and let the driver raise its own
            "connection is closed" error instead (a lost connection).
    """

    on: str = "statement"
    index: int = 0
    error: str = "OperationalError"
    message: str = "docket.testing: injected fault"
    match: str | None = None
    disconnect: bool = False
    seen: int = field(default=0, init=False)
    fired: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        valid = ("statement", "execute", "executemany", "commit", "rollback")
        if self.on not in valid:
            raise ValueError(f"Fault(on={self.on!r}) is not one of {valid}")
        if self.index < 0:
            raise ValueError(f"Fault(index={self.index}) must be >= 0")
        self._regex = re.compile(self.match, re.IGNORECASE) if self.match else None

    def counts(self, kind: str, sql: str) -> bool:
        if self.on == "statement":
            if kind not in STATEMENT_KINDS:
                return False
        elif self.on != kind:
            return False
        return self._regex is None or bool(self._regex.search(sql))


class FailurePlan:
    """Which calls fail: one or more :class:`Fault` s, each firing once.

    Args:
        *faults: the faults; counting starts when the plan is armed
            (:meth:`Recorder.arm` / :meth:`Recorder.failing`).
    """

    def __init__(self, *faults: Fault) -> None:
        self.faults = list(faults)

    @classmethod
    def at_statement(cls, index: int, error: str = "OperationalError", *,
                     message: str = "docket.testing: injected fault",
                     match: str | None = None, disconnect: bool = False) -> FailurePlan:
        """Fail the ``index``-th statement (0-based) sent after arming."""
        return cls(Fault("statement", index, error, message, match, disconnect))

    @classmethod
    def at_commit(cls, index: int = 0, error: str = "OperationalError", *,
                  message: str = "docket.testing: injected fault",
                  disconnect: bool = False) -> FailurePlan:
        """Fail the ``index``-th ``connection.commit()`` (0-based) after arming.

        sqlite's COMMIT is SQL (``FailurePlan.at_statement(0, match="^COMMIT")``).
        """
        return cls(Fault("commit", index, error, message, None, disconnect))

    @property
    def fired(self) -> list[Fault]:
        """The faults that have gone off."""
        return [f for f in self.faults if f.fired]

    def _check(self, kind: str, sql: str) -> Fault | None:
        hit = None
        for f in self.faults:
            if f.fired or not f.counts(kind, sql):
                continue
            if f.seen == f.index and hit is None:
                f.fired = True
                hit = f
            f.seen += 1
        return hit

    def __repr__(self) -> str:
        return f"FailurePlan({', '.join(map(repr, self.faults))})"


class Recorder:
    """The log of every call made through its :class:`RecordingConnection` s.

    Attributes:
        calls: every :class:`Call`, oldest first.
        dialect_name: the engine's dialect name when made by
            :func:`recording_engine` (``"sqlite"``, ``"postgresql"``), else None.
    """

    def __init__(self, fail_on: FailurePlan | None = None) -> None:
        self.calls = CallLog()
        self.plan = fail_on
        self.dialect_name: str | None = None
        self._captures: list[CallLog] = []
        self._lock = threading.Lock()

    @property
    def statements(self) -> list[tuple[str, Any, bool]]:
        """``(sql, params, many)`` for every execute/executemany so far."""
        return self.calls.statements

    def clear(self) -> None:
        """Forget every recorded call (the armed plan stays)."""
        with self._lock:
            self.calls.clear()

    @contextmanager
    def capture(self) -> Iterator[CallLog]:
        """``with recorder.capture() as calls:`` -- the calls made inside the block."""
        log = CallLog()
        with self._lock:
            self._captures.append(log)
        try:
            yield log
        finally:
            with self._lock:
                self._captures.remove(log)

    def arm(self, plan: FailurePlan | None) -> None:
        """Use ``plan`` from now on (None disarms); its counters start at zero."""
        if plan is not None:
            for f in plan.faults:
                f.seen = 0
                f.fired = False
        self.plan = plan

    @contextmanager
    def failing(self, plan: FailurePlan) -> Iterator[FailurePlan]:
        """Arm ``plan`` for the block, then disarm."""
        previous = self.plan
        self.arm(plan)
        try:
            yield plan
        finally:
            self.plan = previous

    # -- used by the proxies ----------------------------------------------------------
    def _log(self, kind: str, sql: str, params: Any) -> tuple[Call, Fault | None]:
        call = Call(kind, sql, params)
        with self._lock:
            self.calls.append(call)
            for log in self._captures:
                log.append(call)
            plan = self.plan
            fault = plan._check(kind, sql) if plan is not None else None
        return call, fault


def _driver_module(dbapi_connection: Any) -> ModuleType:
    top = type(dbapi_connection).__module__.split(".")[0]
    return sys.modules[top]


class _Proxy:
    """Forward attribute reads and writes not defined here to ``_real``."""

    __slots__ = ("_real",)

    def __getattr__(self, name: str) -> Any:
        return getattr(object.__getattribute__(self, "_real"), name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _OWN_SLOTS:
            object.__setattr__(self, name, value)
        else:
            setattr(object.__getattribute__(self, "_real"), name, value)


class RecordingConnection(_Proxy):
    """A DB-API connection proxy that records calls and injects faults.

    Args:
        real: the driver's connection.
        recorder: the log to write to (a new one if None).
        fail_on: a plan to arm on a new recorder (ignored when ``recorder``
            is given -- arm that recorder instead).
        dbapi: the driver module whose exception classes injected errors
            use; found from ``real``'s class when None.
    """

    __slots__ = ("recorder", "dbapi")

    def __init__(self, real: Any, recorder: Recorder | None = None, *,
                 fail_on: FailurePlan | None = None, dbapi: ModuleType | None = None) -> None:
        self._real = real
        self.recorder = recorder if recorder is not None else Recorder(fail_on)
        self.dbapi = dbapi if dbapi is not None else _driver_module(real)

    @property
    def real_connection(self) -> Any:
        """The wrapped driver connection."""
        return self._real

    def _call(self, kind: str, sql: str, params: Any, fn: Callable[[], Any]) -> Any:
        call, fault = self.recorder._log(kind, sql, params)
        if fault is not None:
            call.injected = True
            if fault.disconnect:
                try:
                    self._real.close()
                except Exception:
                    pass
            else:
                call.error = _make_error(self.dbapi, fault)
                raise call.error
        try:
            return fn()
        except BaseException as e:
            call.error = e
            raise

    def cursor(self, *args: Any, **kw: Any) -> RecordingCursor:
        return RecordingCursor(self._real.cursor(*args, **kw), self)

    def execute(self, sql: str, params: Any = None, /) -> Any:
        """sqlite3's ``Connection.execute`` shortcut (used for BEGIN/COMMIT)."""
        real = self._real
        if params is None:
            return self._call("execute", sql, None, lambda: real.execute(sql))
        return self._call("execute", sql, params, lambda: real.execute(sql, params))

    def commit(self) -> None:
        self._call("commit", "COMMIT", None, self._real.commit)

    def rollback(self) -> None:
        self._call("rollback", "ROLLBACK", None, self._real.rollback)

    def close(self) -> None:
        self._real.close()

    def __repr__(self) -> str:
        return f"<RecordingConnection {self._real!r}>"


class RecordingCursor(_Proxy):
    """A DB-API cursor proxy; statements go through its connection's recorder."""

    __slots__ = ("connection",)

    def __init__(self, real: Any, connection: RecordingConnection) -> None:
        self._real = real
        self.connection = connection

    def execute(self, sql: str, params: Any = None, *args: Any, **kw: Any) -> Any:
        real = self._real
        if params is None and not args and not kw:
            self.connection._call("execute", sql, None, lambda: real.execute(sql))
        else:
            self.connection._call("execute", sql, params,
                                  lambda: real.execute(sql, params, *args, **kw))
        return self

    def executemany(self, sql: str, seq: Any, *args: Any, **kw: Any) -> Any:
        if not isinstance(seq, (list, tuple)):
            seq = list(seq)  # an iterator would be consumed by the log otherwise
        real = self._real
        self.connection._call("executemany", sql, seq,
                              lambda: real.executemany(sql, seq, *args, **kw))
        return self

    def __iter__(self) -> Iterator[Any]:
        return iter(self._real)

    def __repr__(self) -> str:
        return f"<RecordingCursor {self._real!r}>"


_OWN_SLOTS = frozenset({"_real", "recorder", "dbapi", "connection"})


def _make_error(dbapi: ModuleType, fault: Fault) -> BaseException:
    cls = getattr(dbapi, fault.error, None)
    if not (isinstance(cls, type) and issubclass(cls, BaseException)):
        raise ValueError(
            f"FailurePlan: the driver module {dbapi.__name__!r} has no exception class "
            f"{fault.error!r}; use a PEP 249 name such as 'OperationalError' or "
            "'IntegrityError'."
        )
    return cls(fault.message)


def recording_engine(url: str, *, fail_on: FailurePlan | None = None,
                     connect_args: dict[str, Any] | None = None,
                     **kw: Any) -> tuple[Engine, Recorder]:
    """An Engine whose DB-API connections are :class:`RecordingConnection` s.

    Args:
        url: any docket URL; the real driver and dialect are used.
        fail_on: a plan to arm right away.
        connect_args: extra driver ``connect()`` arguments, as for create_engine.
        **kw: passed to :func:`docket.create_engine` (not ``creator``).

    Returns:
        ``(engine, recorder)``; the recorder's ``dialect_name`` is set.

    Raises:
        ArgumentError: ``creator`` was given (the recorder supplies it).
    """
    from docket import exc
    from docket.engine.create import create_engine

    if "creator" in kw:
        raise exc.ArgumentError(
            "recording_engine() makes its own creator; wrap your connection with "
            "RecordingConnection(...) and pass creator= to create_engine() instead."
        )
    recorder = Recorder()
    holder: list[Engine] = []

    def creator() -> RecordingConnection:
        dialect = holder[0].dialect
        cargs, cparams = dialect.create_connect_args(holder[0].url)
        cparams.update(connect_args or {})
        real = dialect.connect(*cargs, **cparams)
        return RecordingConnection(real, recorder, dbapi=dialect.dbapi)

    engine = create_engine(url, creator=creator, **kw)
    holder.append(engine)
    recorder.dialect_name = engine.dialect.name
    recorder.arm(fail_on)
    return engine, recorder


def statements_of(calls: Sequence[Call]) -> list[tuple[str, Any, bool]]:
    """``(sql, params, many)`` of the statements among ``calls``."""
    return [c.as_tuple() for c in calls if c.is_statement]
