"""``create_engine``: URL -> dialect + pool -> Engine."""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Mapping
from typing import Any

from docket import exc
from docket.engine.base import Engine
from docket.engine.pool import Pool, QueuePool, StaticPool
from docket.engine.url import URL, make_url
from docket.exc import InvalidArgumentError  # defined in exc; importable here too

__all__ = ["InvalidArgumentError", "create_engine", "engine_from_config"]


def create_engine(
    url: str | URL,
    *,
    echo: bool | str = False,
    echo_pool: bool | str = False,
    pool_size: int = 5,
    max_overflow: int = 10,
    pool_timeout: float = 30,
    pool_recycle: float = -1,
    pool_pre_ping: bool = False,
    pool_reset_on_return: Any = True,
    pool_use_lifo: bool = False,
    poolclass: type[Pool] | None = None,
    pool: Pool | None = None,
    connect_args: Mapping[str, Any] | None = None,
    creator: Callable[[], Any] | None = None,
    isolation_level: str | None = None,
    execution_options: Mapping[str, Any] | None = None,
    hide_parameters: bool = False,
    logging_name: str | None = None,
    query_cache_size: int = 500,
    module: Any = None,
    paramstyle: str | None = None,
    json_serializer: Callable[[Any], str] | None = None,
    json_deserializer: Callable[[str], Any] | None = None,
    future: bool = True,
    use_insertmanyvalues: bool = True,
    insertmanyvalues_page_size: int = 1000,
    **kw: Any,
) -> Engine:
    """Create an :class:`Engine` for a database URL.

    Args:
        url: ``sqlite://`` (memory), ``sqlite:///file.db``,
            ``postgresql://user:pw@host:port/db`` (psycopg 3, falling back to
            psycopg2), ``postgresql+psycopg2://...``.
        echo: log SQL to the ``docket.engine`` logger (``"debug"`` for more).
        pool_size, max_overflow, pool_timeout, pool_recycle, pool_pre_ping:
            connection pool settings (``sqlite://`` memory databases share one
            connection instead).
        connect_args: extra keyword arguments for the driver's ``connect()``.
        isolation_level: for every connection, e.g. ``"SERIALIZABLE"`` or
            ``"AUTOCOMMIT"``.
        hide_parameters: keep parameter values out of logs and error messages.
        use_insertmanyvalues: let a flush batch INSERTs whose generated keys
            come back (pipelined ``executemany`` with RETURNING on psycopg 3,
            multi-row ``VALUES ... RETURNING`` on SQLite); False runs them
            one row per statement.
        insertmanyvalues_page_size: rows per multi-row INSERT statement.

    Raises:
        ArgumentError: the URL can't be parsed (the message shows the expected
            form), an isolation level is unknown, or an unknown keyword was
            given (then also a TypeError).
        NoSuchModuleError: the dialect or its driver is not available (the
            message says what to install).
    """
    if kw:
        raise InvalidArgumentError(
            f"Invalid argument(s) {', '.join(sorted(map(repr, kw)))} sent to create_engine(); "
            "check the spelling against create_engine's documented arguments, and pass "
            "driver-specific options in connect_args={...}."
        )
    u = make_url(url)
    dialects = importlib.import_module("docket.dialects")
    dialect_cls = dialects.load(u.get_backend_name(), u.get_driver_name())
    dialect = dialect_cls(dbapi=module, paramstyle=paramstyle, isolation_level=isolation_level)
    dialect.use_insertmanyvalues = use_insertmanyvalues
    if insertmanyvalues_page_size < 1:
        raise InvalidArgumentError(
            f"insertmanyvalues_page_size must be at least 1, got {insertmanyvalues_page_size!r}")
    dialect.insertmanyvalues_page_size = insertmanyvalues_page_size
    if json_serializer is not None:
        dialect._json_serializer = json_serializer
    if json_deserializer is not None:
        dialect._json_deserializer = json_deserializer
    cargs, cparams = dialect.create_connect_args(u)
    cparams.update(connect_args or {})

    if creator is None:
        def creator() -> Any:
            return dialect.connect(*cargs, **cparams)

    init_lock = threading.Lock()

    def connect() -> Any:
        dbapi_conn = creator()
        try:
            if not dialect._initialized:
                with init_lock:
                    if not dialect._initialized:
                        dialect.initialize(dbapi_conn)
            dialect.on_connect(dbapi_conn)
        except BaseException:
            dbapi_conn.close()
            raise
        return dbapi_conn

    if pool is None:
        common: dict[str, Any] = dict(
            recycle=pool_recycle, echo=echo_pool, logging_name=logging_name,
            reset_on_return=pool_reset_on_return, pre_ping=pool_pre_ping, dialect=dialect,
        )
        if poolclass is None:
            memory = getattr(dialect_cls, "is_memory_url", None)
            poolclass = StaticPool if memory is not None and memory(u) else QueuePool
        if issubclass(poolclass, QueuePool):
            pool = poolclass(connect, pool_size=pool_size, max_overflow=max_overflow,
                             timeout=pool_timeout, use_lifo=pool_use_lifo, **common)
        else:
            pool = poolclass(connect, **common)
    return Engine(
        pool, dialect, u, echo=echo, hide_parameters=hide_parameters,
        execution_options=execution_options, logging_name=logging_name,
        query_cache_size=query_cache_size,
    )


def _as_bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def _as_echo(value: Any) -> bool | str:
    if isinstance(value, str) and value.strip().lower() == "debug":
        return "debug"
    return _as_bool(value)


# engine_from_config: configuration files give strings; convert these options
_CONFIG_TYPES: dict[str, Callable[[Any], Any]] = {
    "echo": _as_echo, "echo_pool": _as_echo, "pool_size": int, "max_overflow": int,
    "pool_timeout": float, "pool_recycle": float, "pool_pre_ping": _as_bool,
    "pool_use_lifo": _as_bool, "hide_parameters": _as_bool, "query_cache_size": int,
}


def engine_from_config(configuration: Mapping[str, Any], prefix: str = "docket.",
                       **kwargs: Any) -> Engine:
    """``create_engine`` from a dict of ``<prefix>url``, ``<prefix>echo``, ... entries
    (string values of numeric and boolean options are converted).

    Raises:
        ArgumentError: there is no ``<prefix>url`` entry, or create_engine refuses
            the options.
    """
    options = {
        key[len(prefix):]: value for key, value in configuration.items() if key.startswith(prefix)
    }
    for key, conv in _CONFIG_TYPES.items():
        if key in options:
            options[key] = conv(options[key])
    options.update(kwargs)
    if "url" not in options:
        raise exc.ArgumentError(
            f"engine_from_config() found no {prefix + 'url'!r} entry in the configuration; "
            "add one, or pass the right prefix."
        )
    url = options.pop("url")
    return create_engine(url, **options)
