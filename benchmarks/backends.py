"""One database handle per implementation, with the untimed chores every
workload needs (empty the tables, fill them fast with server-side SQL).

* :class:`RawDB` -- a bare DB-API connection (``sqlite3`` or ``psycopg`` 3).
* :class:`OrmDB` -- an engine plus the mapped classes of one ORM library
  (docket, or SQLAlchemy imported lazily by :func:`sqlalchemy_lib`).

Isolation: on SQLite every handle owns a private in-memory database; on
PostgreSQL every handle owns a schema (``bench_raw``, ``bench_docket``, ...)
selected through ``search_path``, so the implementations can take turns rep
by rep without touching each other's tables.
"""

from __future__ import annotations

import sqlite3
from types import SimpleNamespace
from typing import Any

from benchmarks.models import CHILDREN_PER_PARENT, OrmModels, build_orm_models

BACKENDS = ("sqlite", "postgresql")

_DDL = {
    "sqlite": [
        "CREATE TABLE users (id INTEGER PRIMARY KEY, name VARCHAR(50) NOT NULL, "
        "email VARCHAR(100) NOT NULL, age INTEGER NOT NULL)",
        "CREATE TABLE parents (id INTEGER PRIMARY KEY, name VARCHAR(50) NOT NULL)",
        "CREATE TABLE children (id INTEGER PRIMARY KEY, "
        "parent_id INTEGER NOT NULL REFERENCES parents (id), name VARCHAR(50) NOT NULL)",
        "CREATE INDEX ix_children_parent_id ON children (parent_id)",
    ],
    "postgresql": [
        "CREATE TABLE users (id SERIAL PRIMARY KEY, name VARCHAR(50) NOT NULL, "
        "email VARCHAR(100) NOT NULL, age INTEGER NOT NULL)",
        "CREATE TABLE parents (id SERIAL PRIMARY KEY, name VARCHAR(50) NOT NULL)",
        "CREATE TABLE children (id SERIAL PRIMARY KEY, "
        "parent_id INTEGER NOT NULL REFERENCES parents (id), name VARCHAR(50) NOT NULL)",
        "CREATE INDEX ix_children_parent_id ON children (parent_id)",
    ],
}


def _seq(backend: str, n: int) -> str:
    """A FROM clause yielding ``x`` = 1..n (no bound parameters, no ``%``)."""
    if backend == "sqlite":
        return (f"(WITH RECURSIVE s(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM s "
                f"WHERE x < {int(n)}) SELECT x FROM s)")
    return f"generate_series(1, {int(n)}) AS g(x)"


def _mod(backend: str, a: str, b: int) -> str:
    return f"({a} % {b})" if backend == "sqlite" else f"mod({a}, {b})"


class _Chores:
    """Untimed set-up shared by both kinds of handle (SQL identical for all)."""

    backend: str

    def script(self, statements: list[str]) -> None:
        raise NotImplementedError

    def clear(self) -> None:
        """Empty every table (primary keys start again at 1)."""
        if self.backend == "sqlite":
            self.script(["DELETE FROM children", "DELETE FROM parents", "DELETE FROM users"])
        else:
            self.script(["TRUNCATE users, parents, children RESTART IDENTITY"])

    def fill_users(self, n: int) -> None:
        """Replace the users table's rows by ``n`` rows with ids 1..n."""
        self.clear()
        b = self.backend
        self.script([
            "INSERT INTO users (name, email, age) SELECT 'user ' || x, "
            f"'user' || x || '@example.com', {_mod(b, 'x', 90)} FROM {_seq(b, n)}",
            *self._analyze("users"),
        ])

    def fill_family(self, parents: int) -> None:
        """Replace parents/children by ``parents`` parents with 10 children each."""
        self.clear()
        b, per = self.backend, CHILDREN_PER_PARENT
        self.script([
            f"INSERT INTO parents (name) SELECT 'parent ' || x FROM {_seq(b, parents)}",
            "INSERT INTO children (parent_id, name) SELECT "
            f"(x - 1) / {per} + 1, 'child ' || x FROM {_seq(b, parents * per)}",
            *self._analyze("parents", "children"),
        ])

    def scalar(self, sql: str) -> Any:
        """The single value ``sql`` returns (for the workloads' sanity checks)."""
        raise NotImplementedError

    def _analyze(self, *tables: str) -> list[str]:
        return [f"ANALYZE {t}" for t in tables] if self.backend == "postgresql" else []


class RawDB(_Chores):
    """A DB-API connection and the SQL placeholders it wants.

    Attributes:
        conn: ``sqlite3`` connection (legacy transaction control: DML opens a
            transaction, ``commit()`` ends it) or ``psycopg`` connection
            (non-autocommit).
        backend: ``"sqlite"`` or ``"postgresql"``.
    """

    impl = "raw"

    def __init__(self, backend: str, pg_url: str | None, schema: str) -> None:
        self.backend = backend
        if backend == "sqlite":
            self.conn: Any = sqlite3.connect(":memory:")
        else:
            import psycopg

            _fresh_schema(pg_url, schema)
            self.conn = psycopg.connect(pg_url or "", options=f"-c search_path={schema}")
        self.script(list(_DDL[backend]))

    def q(self, sql: str) -> str:
        """``sql`` written with ``?`` placeholders, in this driver's paramstyle."""
        return sql if self.backend == "sqlite" else sql.replace("?", "%s")

    def script(self, statements: list[str]) -> None:
        cur = self.conn.cursor()
        for sql in statements:
            cur.execute(sql)
        cur.close()
        self.conn.commit()

    def scalar(self, sql: str) -> Any:
        value = self.conn.execute(sql).fetchone()[0]
        self.conn.commit()
        return value

    def close(self) -> None:
        self.conn.close()


class OrmDB(_Chores):
    """An ORM library's engine, mapped classes and public names.

    Attributes:
        impl: ``"docket"`` or ``"sqlalchemy"``.
        lib: the library's names the workloads use (``Session``, ``select``,
            ``selectinload``, ``inspect``), taken from its public modules.
        engine: the library's Engine.
        User, Parent, Child: the mapped classes.
    """

    def __init__(self, impl: str, lib: SimpleNamespace, backend: str, pg_url: str | None,
                 schema: str) -> None:
        self.impl, self.lib, self.backend = impl, lib, backend
        if backend == "sqlite":
            self.engine = lib.create_engine("sqlite://")
        else:
            _fresh_schema(pg_url, schema)
            url = (pg_url or "").replace("postgresql://", "postgresql+psycopg://", 1)
            self.engine = lib.create_engine(
                url, connect_args={"options": f"-c search_path={schema}"})
        self.models: OrmModels = build_orm_models(lib)
        self.User, self.Parent, self.Child = self.models.User, self.models.Parent, \
            self.models.Child
        self.models.Base.metadata.create_all(self.engine, checkfirst=False)

    def script(self, statements: list[str]) -> None:
        with self.engine.begin() as conn:
            for sql in statements:
                conn.exec_driver_sql(sql)

    def scalar(self, sql: str) -> Any:
        with self.engine.connect() as conn:
            return conn.exec_driver_sql(sql).scalar()

    def close(self) -> None:
        self.engine.dispose()


def _fresh_schema(pg_url: str | None, schema: str) -> None:
    import psycopg

    if pg_url is None:
        raise ValueError("PostgreSQL needs a server URL; none was given")
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("SET lock_timeout = '10s'")  # a leaked session must not hang the run
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        conn.execute(f'CREATE SCHEMA "{schema}"')


_NAMES = ("create_engine", "select", "inspect", "String", "ForeignKey")
_ORM_NAMES = ("Session", "DeclarativeBase", "Mapped", "mapped_column", "relationship",
              "selectinload")


def _namespace(core: Any, orm: Any) -> SimpleNamespace:
    return SimpleNamespace(**{n: getattr(core, n) for n in _NAMES},
                           **{n: getattr(orm, n) for n in _ORM_NAMES})


def docket_lib() -> SimpleNamespace:
    """docket's public names the workloads use."""
    import docket
    import docket.orm

    return _namespace(docket, docket.orm)


class MissingSQLAlchemy(RuntimeError):
    """``--compare sqlalchemy`` without SQLAlchemy 2.x installed."""


def sqlalchemy_lib() -> SimpleNamespace:
    """SQLAlchemy's public names the workloads use (imported only when asked for).

    Raises:
        MissingSQLAlchemy: SQLAlchemy is missing or older than 2.0.
    """
    hint = ("install the benchmark extra: pip install -e '.[bench]' "
            "(or pip install 'sqlalchemy>=2.0,<2.2'), or drop --compare sqlalchemy")
    try:
        import sqlalchemy
        import sqlalchemy.orm
    except ImportError as err:
        raise MissingSQLAlchemy(f"--compare sqlalchemy needs SQLAlchemy 2.x, which is not "
                                f"installed; {hint}") from err
    if int(sqlalchemy.__version__.split(".")[0]) < 2:
        raise MissingSQLAlchemy(f"--compare sqlalchemy needs SQLAlchemy 2.x, found "
                                f"{sqlalchemy.__version__}; {hint}")
    return _namespace(sqlalchemy, sqlalchemy.orm)


def library_version(impl: str, backend: str = "sqlite") -> str:
    """A short version string for the report header."""
    if impl == "raw":
        import sys

        python = f"Python {sys.version.split()[0]}"
        if backend == "sqlite":
            return f"{python}, sqlite3 (SQLite {sqlite3.sqlite_version})"
        import psycopg

        return f"{python}, psycopg {psycopg.__version__} ({psycopg.pq.__impl__})"
    if impl == "docket":
        import docket

        return f"docket {getattr(docket, '__version__', '?')}"
    import sqlalchemy

    return f"SQLAlchemy {sqlalchemy.__version__}"
