"""Dialect registry: URL backend + driver -> dialect class, imported on demand.

``docket.engine`` finds dialects through :func:`load` by name at runtime,
so the engine layer never imports this package statically and a missing
driver only matters to whoever uses it.
"""

from __future__ import annotations

import importlib
from typing import Any

from docket import exc

__all__ = ["load", "registry"]

# (backend, driver) -> "module:attribute"; driver "" is the default.
registry: dict[tuple[str, str], str] = {
    ("sqlite", ""): "docket.dialects.sqlite.pysqlite:SQLiteDialect_pysqlite",
    ("sqlite", "pysqlite"): "docket.dialects.sqlite.pysqlite:SQLiteDialect_pysqlite",
    ("postgresql", "psycopg"): "docket.dialects.postgresql.psycopg:PGDialect_psycopg",
    ("postgresql", "psycopg2"): "docket.dialects.postgresql.psycopg2:PGDialect_psycopg2",
}

# a backend without a driver tries these in order
_DEFAULT_DRIVERS: dict[str, tuple[str, ...]] = {
    "postgresql": ("psycopg", "psycopg2"),
}

_ALIASES = {"postgres": "postgresql", "psql": "postgresql", "pgsql": "postgresql"}


def _import(path: str) -> Any:
    module, _, attr = path.partition(":")
    return getattr(importlib.import_module(module), attr)


def load(backend: str, driver: str = "") -> Any:
    """The dialect class for ``backend`` and ``driver``.

    Raises:
        NoSuchModuleError: unknown backend/driver, or the default driver's
            package is not installed (the message names what to install).
    """
    backend = _ALIASES.get(backend, backend)
    if not driver and backend in _DEFAULT_DRIVERS:
        tried = []
        for candidate in _DEFAULT_DRIVERS[backend]:
            cls = _import(registry[(backend, candidate)])
            try:
                cls.import_dbapi()
            except exc.NoSuchModuleError:
                tried.append(cls)
                continue
            return cls
        raise exc.NoSuchModuleError(
            f"No DB-API driver for {backend}:// URLs is installed; tried "
            + " and ".join(repr(c.dbapi_module) for c in tried)
            + ". Install the default one with: " + tried[0].install_command()
            + "; or install " + ", ".join(f"{c.dbapi_module!r} ({c.install_command()})"
                                          for c in tried[1:])
            + f" and name it in the URL, e.g. {backend}+{tried[-1].driver}://..."
        )
    path = registry.get((backend, driver))
    if path is None:
        known = sorted({f"{b}+{d}" if d else b for b, d in registry})
        raise exc.NoSuchModuleError(
            f"Can't load plugin: docket.dialects:{backend}{'+' + driver if driver else ''}; "
            f"known dialects are {known}. Check the URL's scheme (dialect[+driver]://...)."
        )
    return _import(path)
