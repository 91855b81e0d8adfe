"""``create_engine``: URL -> dialect + pool -> Engine."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

from docket import exc
from docket.engine.base import Engine
from docket.engine.pool import Pool, QueuePool, StaticPool
from docket.engine.url import URL, make_url

__all__ = ["create_engine", "engine_from_config"]


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

    Raises:
        ArgumentError: the URL can't be parsed, or an unknown argument was given.
        NoSuchModuleError: the dialect or its driver is not available (the
            message says what to install).
    """
    if kw:
        raise exc.ArgumentError(
            f"Invalid argument(s) {', '.join(sorted(map(repr, kw)))} sent to create_engine(); "
            "see the docstring for the supported arguments."
        )
    u = make_url(url)
    dialects = importlib.import_module("docket.dialects")
    dialect_cls = dialects.load(u.get_backend_name(), u.get_driver_name())
    dialect = dialect_cls(dbapi=module, paramstyle=paramstyle, isolation_level=isolation_level)
    if json_serializer is not None:
        dialect._json_serializer = json_serializer
    if json_deserializer is not None:
        dialect._json_deserializer = json_deserializer
    cargs, cparams = dialect.create_connect_args(u)
    cparams.update(connect_args or {})

    if creator is None:
        def creator() -> Any:
            return dialect.connect(*cargs, **cparams)

    def connect() -> Any:
        dbapi_conn = creator()  # type: ignore[misc]
        try:
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


def engine_from_config(configuration: Mapping[str, Any], prefix: str = "docket.",
                       **kwargs: Any) -> Engine:
    """``create_engine`` from a dict of ``<prefix>url``, ``<prefix>echo``, ... entries."""
    options = {
        key[len(prefix):]: value for key, value in configuration.items() if key.startswith(prefix)
    }
    options.update(kwargs)
    url = options.pop("url")
    return create_engine(url, **options)
