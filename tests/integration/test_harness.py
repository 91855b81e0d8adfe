"""The test harness itself: real backends, two databases, a clean slate per test."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import psycopg
import pytest

import _pgserver


def _user_tables(conn: Any, backend: Any) -> list[str]:
    from docket import text

    if backend.is_sqlite:
        sql = "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
    else:
        sql = "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
    return list(conn.execute(text(sql)).scalars().all())


def _processes_mentioning(needle: str) -> list[str]:
    """Command lines of live processes containing ``needle`` (Linux /proc)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            text = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:  # the process exited while we looked
            continue
        if needle in text:
            found.append(f"{cmdline.parent.name}: {text}")
    return found


def _managed_only(server: _pgserver.PGServer) -> None:
    if not server.managed:
        pytest.skip(f"{server!r} comes from {_pgserver.ENV_URL}; this test needs a managed server")


@pytest.mark.postgresql
def test_postgresql_is_a_live_postgresql_15_server(pg_server: _pgserver.PGServer) -> None:
    """A direct psycopg connection reaches a running PostgreSQL >= 15 (the binaries' version)."""
    with pg_server.admin_connection() as conn:
        version, num = conn.execute(
            "SELECT version(), current_setting('server_version_num')::int"
        ).fetchone()
    assert version.startswith("PostgreSQL "), version
    assert num >= 150000, f"docket's CI targets PostgreSQL 15, server says {version}"
    if pg_server.managed:
        assert pg_server.bindir is not None
        out = subprocess.run(
            [str(pg_server.bindir / "postgres"), "--version"],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        assert f"PostgreSQL) {num // 10000}." in out, (out, version)


@pytest.mark.postgresql
def test_postgresql_version_via_docket(pg_server: _pgserver.PGServer) -> None:
    """docket's own engine talks to the same server and database as psycopg."""
    from docket import create_engine, text

    eng = create_engine(pg_server.url())
    try:
        with eng.connect() as conn:
            version = conn.execute(text("SELECT version()")).scalar()
            dbname = conn.exec_driver_sql("SELECT current_database()").scalar()
    finally:
        eng.dispose()
    assert version.startswith("PostgreSQL 1"), version
    assert dbname == pg_server.dbname


@pytest.mark.postgresql
def test_two_databases_exist(pg_server: _pgserver.PGServer) -> None:
    """Both test databases accept connections and are distinct databases."""
    if pg_server.second_db_problem:
        _pgserver.skip_or_fail(pg_server.second_db_problem)
    names = []
    for dbname in (_pgserver.DBNAME, _pgserver.DBNAME2):
        with pg_server.admin_connection(dbname) as conn:
            names.append(conn.execute("SELECT current_database()").fetchone()[0])
    assert names == [pg_server.dbname, pg_server.dbname2]
    assert names[0] != names[1]
    assert pg_server.url(_pgserver.DBNAME2).endswith("/" + pg_server.dbname2)


@pytest.mark.postgresql
def test_two_phase_commit_is_enabled(pg_server: _pgserver.PGServer) -> None:
    """PREPARE TRANSACTION works, so two-phase commit tests can run."""
    with pg_server.admin_connection() as conn:
        conn.autocommit = False
        conn.execute("SELECT 1")
        conn.execute("PREPARE TRANSACTION 'docket-harness-probe'")
        conn.autocommit = True
        gids = conn.execute("SELECT gid FROM pg_prepared_xacts").fetchall()
        conn.execute("ROLLBACK PREPARED 'docket-harness-probe'")
    assert ("docket-harness-probe",) in gids


@pytest.mark.postgresql
def test_reset_schema_removes_tables_schemas_and_prepared_transactions(
    pg_server: _pgserver.PGServer,
) -> None:
    """reset_schema leaves an empty public schema even after a prepared transaction."""
    with pg_server.admin_connection() as conn:
        conn.execute("CREATE TABLE public.leftover (id int)")
        conn.execute("CREATE SCHEMA extra")
        conn.execute("CREATE TABLE extra.t (id int)")
        conn.autocommit = False
        conn.execute("INSERT INTO public.leftover VALUES (1)")  # locks the table
        conn.execute("PREPARE TRANSACTION 'docket-harness-leftover'")
    pg_server.reset_schema()
    with pg_server.admin_connection() as conn:
        tables = conn.execute(
            "SELECT schemaname, tablename FROM pg_tables"
            " WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"
        ).fetchall()
        schemas = conn.execute("SELECT nspname FROM pg_namespace WHERE nspname = 'extra'")
        prepared = conn.execute("SELECT gid FROM pg_prepared_xacts").fetchall()
        assert schemas.fetchall() == []
    assert tables == []
    assert prepared == []


@pytest.mark.parametrize("round_", [1, 2])
def test_each_test_starts_with_an_empty_schema(engine: Any, backend: Any, round_: int) -> None:
    """Whichever round runs second would see the first round's table if state leaked."""
    from docket import text

    with engine.begin() as conn:
        assert _user_tables(conn, backend) == []
        conn.execute(text("CREATE TABLE harness_probe (id INTEGER PRIMARY KEY)"))
        conn.execute(text("INSERT INTO harness_probe (id) VALUES (:id)"), {"id": round_})
    with engine.connect() as conn:
        assert _user_tables(conn, backend) == ["harness_probe"]


def test_backend_urls(backend: Any, tmp_path: Path) -> None:
    """Each backend id maps to the right kind of URL (sqlite-file under tmp_path)."""
    assert backend.is_sqlite != backend.is_postgresql
    if backend.name == "sqlite-memory":
        assert backend.url == "sqlite://"
    elif backend.name == "sqlite-file":
        assert backend.url == f"sqlite:///{tmp_path}/test.db"
        assert backend.url.startswith("sqlite:////")
    else:
        assert backend.url.startswith("postgresql+psycopg://")


@pytest.mark.postgresql
def test_restart_keeps_data_and_drops_connections(pg_server: _pgserver.PGServer) -> None:
    """restart() kills open connections; the server returns on the same port with its data."""
    _managed_only(pg_server)
    pg_server.reset_schema()
    port = pg_server.port
    old = psycopg.connect(autocommit=True, **pg_server.connect_kwargs())
    try:
        old.execute("CREATE TABLE survives (id int)")
        pg_server.restart()
        with pytest.raises(psycopg.OperationalError):
            old.execute("SELECT 1")
    finally:
        old.close()
    assert pg_server.port == port
    with pg_server.admin_connection() as conn:
        assert conn.execute("SELECT count(*) FROM survives").fetchone() == (0,)
    with pg_server.admin_connection(_pgserver.DBNAME2) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


@pytest.mark.postgresql
def test_stop_leaves_no_process_or_directory(pg_server: _pgserver.PGServer) -> None:
    """A second managed server, once stopped, has no process left and no files on disk."""
    _managed_only(pg_server)
    other = _pgserver.start()
    datadir = other.datadir
    assert datadir is not None and other.port != pg_server.port
    with other.admin_connection() as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
    other.stop()
    other.stop()  # idempotent
    assert _processes_mentioning(str(datadir)) == []
    assert not datadir.parent.exists()
