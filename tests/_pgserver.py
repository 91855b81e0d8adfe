"""A throwaway PostgreSQL server for one test session.

``start()`` either attaches to the server named by ``DOCKET_TEST_PG_URL`` or
finds the PostgreSQL server binaries, runs ``initdb`` into a fresh temporary
directory and starts ``postgres`` on a free loopback port with durability
turned off (fast, and nothing here needs to survive a crash).  When the test
process runs as root the server programs run as the ``postgres`` system user,
because PostgreSQL refuses to run as root.

Invariants of a managed (self-started) server:

* it listens only on 127.0.0.1 and on a Unix socket inside its own temp dir;
* the temp dir (data directory, socket, logs) belongs to this process alone
  and is removed by ``stop()``; ``stop()`` is idempotent and is registered with
  ``atexit`` (and on SIGTERM) so an interrupted run leaves no server behind;
* the databases ``docket_test`` and ``docket_test2`` exist (the second one for
  multi-database and two-phase-commit tests); ``max_prepared_transactions``
  is non-zero so ``PREPARE TRANSACTION`` works.

This module depends on psycopg (3) for its admin connections, never on docket,
so it can be tested before the engine exists.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pwd
import re
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import unquote, urlsplit

__all__ = ["PGServer", "PGServerUnavailable", "find_bindir", "skip_or_fail", "start"]

ENV_URL = "DOCKET_TEST_PG_URL"
DBNAME = "docket_test"
DBNAME2 = "docket_test2"
_SERVER_OPTIONS = (
    "-c fsync=off -c full_page_writes=off -c synchronous_commit=off "
    "-c max_connections=100 -c max_prepared_transactions=10"
)


class PGServerUnavailable(RuntimeError):
    """No PostgreSQL server could be found or started; the message says why."""


def ci_requires_everything() -> bool:
    """Return True when env ``CI`` asks for a missing backend to fail, not skip."""
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def skip_or_fail(reason: str) -> None:
    """Skip the current test, or fail it when running under CI.

    Args:
        reason: why the PostgreSQL part cannot run.

    Raises:
        pytest.fail.Exception: under ``CI=true``/``CI=1`` (CI must not skip).
        pytest.skip.Exception: otherwise.
    """
    import pytest

    if ci_requires_everything():
        pytest.fail(f"{reason} (CI is set, so a missing PostgreSQL is a failure, not a skip)")
    pytest.skip(reason)


def find_bindir() -> Path | None:
    """Find a directory holding ``initdb``, ``pg_ctl`` and ``postgres``.

    Searches ``$PATH`` first, then ``/usr/lib/postgresql/<major>/bin`` newest
    major version first.

    Returns:
        The directory, or None when no complete set of server binaries exists.
    """
    candidates: list[Path] = []
    on_path = shutil.which("pg_ctl")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    versioned = Path("/usr/lib/postgresql").glob("*/bin")
    candidates += sorted(versioned, key=_major_of_dir, reverse=True)
    for bindir in candidates:
        if all(os.access(bindir / prog, os.X_OK) for prog in ("initdb", "pg_ctl", "postgres")):
            return bindir
    return None


def _major_of_dir(bindir: Path) -> tuple[int, str]:
    name = bindir.parent.name
    return (int(name), name) if name.isdigit() else (-1, name)


class PGServer:
    """A running PostgreSQL server: managed (self-started) or external.

    Attributes:
        host: address the server listens on.
        port: TCP port.
        user: role the tests connect as.
        dbname: name of the main test database.
        dbname2: name of the second test database.
        second_db_problem: None when ``dbname2`` exists, else why it does not.
        datadir: the data directory (None for an external server).
        bindir: the server binaries used (None for an external server).
        managed: True when this process started the server and owns it.
    """

    def __init__(
        self,
        *,
        host: str,
        port: int,
        user: str,
        password: str | None = None,
        dbname: str = DBNAME,
        dbname2: str = DBNAME2,
        tmpdir: Path | None = None,
        bindir: Path | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.user = user
        self._password = password  # never shown in repr or messages
        self.dbname = dbname
        self.dbname2 = dbname2
        self.second_db_problem: str | None = None
        self.bindir = bindir
        self._tmpdir = tmpdir
        self.datadir: Path | None = tmpdir / "data" if tmpdir else None
        self._running = False

    @property
    def managed(self) -> bool:
        """True when this process started the server (and may restart/stop it)."""
        return self._tmpdir is not None

    can_restart = managed

    def __repr__(self) -> str:
        kind = "managed" if self.managed else "external"
        return f"<PGServer {kind} {self.user}@{self.host}:{self.port}/{self.dbname}>"

    # -- addresses --------------------------------------------------------

    def _resolve(self, dbname: str | None) -> str:
        # "docket_test"/"docket_test2" are the logical names used by tests; an
        # external server may call its databases something else.
        if dbname is None or dbname == DBNAME:
            return self.dbname
        if dbname == DBNAME2:
            return self.dbname2
        return dbname

    def url(self, dbname: str | None = None, driver: str = "psycopg") -> str:
        """Return a docket URL for ``dbname`` (default: the main test database).

        Args:
            dbname: database name; ``"docket_test"``/``"docket_test2"`` map to
                ``dbname``/``dbname2`` (which differ only for external servers).
            driver: the ``+driver`` part of the URL; empty for none.
        """
        scheme = f"postgresql+{driver}" if driver else "postgresql"
        auth = self.user if self._password is None else f"{self.user}:{self._password}"
        return f"{scheme}://{auth}@{self.host}:{self.port}/{self._resolve(dbname)}"

    def connect_kwargs(self, dbname: str | None = None) -> dict[str, Any]:
        """Keyword arguments for ``psycopg.connect`` to ``dbname``."""
        kwargs: dict[str, Any] = {
            "host": self.host,
            "port": self.port,
            "user": self.user,
            "dbname": self._resolve(dbname),
            "connect_timeout": 10,
        }
        if self._password is not None:
            kwargs["password"] = self._password
        return kwargs

    @contextlib.contextmanager
    def admin_connection(self, dbname: str | None = None) -> Iterator[Any]:
        """Open an autocommit psycopg connection to ``dbname``, closed on exit.

        Raises:
            PGServerUnavailable: psycopg is not installed.
        """
        psycopg = _import_psycopg()
        conn = psycopg.connect(autocommit=True, **self.connect_kwargs(dbname))
        try:
            yield conn
        finally:
            conn.close()

    # -- per-test cleanliness ----------------------------------------------

    def reset_schema(self, dbname: str | None = None) -> None:
        """Make ``dbname`` empty: leftover prepared transactions rolled back, every
        user schema dropped, an empty ``public`` schema created.

        Raises:
            RuntimeError: another session holds locks on the objects to drop
                (an engine of an earlier test was not disposed); names them.
        """
        psycopg = _import_psycopg()
        with self.admin_connection(dbname) as conn:
            conn.execute("SET lock_timeout = '10s'")
            gids = conn.execute(
                "SELECT gid FROM pg_prepared_xacts WHERE database = current_database()"
            ).fetchall()
            for (gid,) in gids:
                conn.execute(f"ROLLBACK PREPARED '{gid.replace(chr(39), chr(39) * 2)}'")
            schemas = conn.execute(
                "SELECT nspname FROM pg_namespace WHERE nspname NOT LIKE 'pg\\_%'"
                " AND nspname <> 'information_schema'"
            ).fetchall()
            try:
                for (name,) in schemas:
                    conn.execute(f'DROP SCHEMA "{name}" CASCADE')
                conn.execute("CREATE SCHEMA public")
            except psycopg.errors.LockNotAvailable as err:
                holders = conn.execute(
                    "SELECT pid, state, left(query, 80) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                ).fetchall()
                raise RuntimeError(
                    f"could not reset database {self._resolve(dbname)!r} on {self!r}: "
                    f"other sessions hold locks ({holders}); dispose engines and close "
                    "connections opened by earlier tests"
                ) from err

    # -- lifecycle (managed servers only) -----------------------------------

    def _run(self, *args: str, log: Path | None = None, check: bool = True) -> str:
        """Run a server program as the server's owner; return its output."""
        assert self._tmpdir is not None and self.bindir is not None
        out = log or self._tmpdir / "cmd.log"
        with open(out, "ab") as fh:
            start = fh.tell()
            proc = subprocess.run(
                [str(self.bindir / args[0]), *args[1:]],
                stdin=subprocess.DEVNULL,
                stdout=fh,
                stderr=subprocess.STDOUT,
                cwd=self._tmpdir,
                env=_server_env(),
                timeout=120,
                **_as_server_user(),
            )
        text = out.read_bytes()[start:].decode(errors="replace")
        if check and proc.returncode != 0:
            raise PGServerUnavailable(
                f"{args[0]} failed with exit code {proc.returncode} (server log: "
                f"{self._tmpdir / 'server.log'}):\n{text.strip()}\n{self._log_tail()}"
            )
        return text

    def _log_tail(self) -> str:
        assert self._tmpdir is not None
        log = self._tmpdir / "server.log"
        lines = log.read_text(errors="replace").splitlines()[-15:] if log.exists() else []
        return "\n".join(lines)

    def _start_postmaster(self) -> None:
        assert self._tmpdir is not None and self.datadir is not None
        options = f"-k {shlex.quote(str(self._tmpdir))} -h {self.host} -p {self.port} "
        self._run(
            "pg_ctl", "-D", str(self.datadir), "-l", str(self._tmpdir / "server.log"),
            "-w", "-t", "60", "-o", options + _SERVER_OPTIONS, "start",
        )  # fmt: skip
        self._running = True

    def _stop_postmaster(self, mode: str) -> None:
        if self._running and self.datadir is not None:
            self._run("pg_ctl", "-D", str(self.datadir), "-m", mode, "-w", "stop", check=False)
            self._running = False

    def restart(self) -> None:
        """Restart the server on the same port, killing every open connection.

        Raises:
            PGServerUnavailable: the server is external (cannot be restarted
                from here) or failed to come back up.
        """
        if not self.managed:
            raise PGServerUnavailable(
                f"{self!r} comes from {ENV_URL} and cannot be restarted by the tests; "
                f"unset {ENV_URL} to let the suite start its own server"
            )
        self._stop_postmaster("fast")
        self._start_postmaster()

    def stop(self) -> None:
        """Stop a managed server immediately and delete its directory (idempotent).

        External servers are left alone.
        """
        if self._tmpdir is None:
            return
        try:
            self._stop_postmaster("immediate")
        finally:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            _live.discard(self)


_live: set[PGServer] = set()
_lock = threading.Lock()
_hooks_installed = False


def _stop_all() -> None:
    for server in list(_live):
        server.stop()


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    _stop_all()
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def _install_cleanup_hooks() -> None:
    global _hooks_installed
    with _lock:
        if _hooks_installed:
            return
        _hooks_installed = True
        atexit.register(_stop_all)
        # Only take over SIGTERM when nobody else handles it (CI timeouts send it).
        if (
            threading.current_thread() is threading.main_thread()
            and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
        ):
            signal.signal(signal.SIGTERM, _on_sigterm)


def _import_psycopg() -> Any:
    try:
        import psycopg
    except ImportError as err:
        raise PGServerUnavailable(
            "psycopg (3) is not installed, so the tests cannot talk to PostgreSQL; "
            "install the test extras: pip install -e '.[test]'"
        ) from err
    return psycopg


def _server_env() -> dict[str, str]:
    # Drop libpq/server variables that could redirect pg_ctl or initdb.
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env.update(LC_ALL="C", LANG="C")
    return env


def _as_server_user() -> dict[str, Any]:
    """subprocess arguments that drop root privileges to the ``postgres`` user."""
    if os.geteuid() != 0:
        return {}
    pw = _postgres_user()
    return {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": []}


def _postgres_user() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam("postgres")
    except KeyError as err:
        raise PGServerUnavailable(
            "running as root but there is no 'postgres' system user to run the "
            "PostgreSQL server as (PostgreSQL refuses to run as root); create one "
            f"(useradd --system postgres), run the tests as a normal user, or set {ENV_URL}"
        ) from err


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start_managed() -> PGServer:
    bindir = find_bindir()
    if bindir is None:
        raise PGServerUnavailable(
            "no PostgreSQL server binaries (initdb, pg_ctl, postgres) found on $PATH or "
            "under /usr/lib/postgresql/*/bin; install the PostgreSQL 15 server "
            f"(apt-get install postgresql-15) or set {ENV_URL} to an existing server"
        )
    owner = _postgres_user() if os.geteuid() == 0 else None
    tmpdir = Path(tempfile.mkdtemp(prefix="docket-pg-"))
    if owner is not None:
        os.chown(tmpdir, owner.pw_uid, owner.pw_gid)
    server = PGServer(host="127.0.0.1", port=0, user="postgres", tmpdir=tmpdir, bindir=bindir)
    _install_cleanup_hooks()
    _live.add(server)
    try:
        assert server.datadir is not None
        server._run(
            "initdb", "-D", str(server.datadir), "-A", "trust", "-U", "postgres",
            "--no-sync", "-E", "UTF8", "--locale=C",
        )  # fmt: skip
        for attempt in range(3):  # another process may grab the port between pick and bind
            server.port = _free_port()
            try:
                server._start_postmaster()
                break
            except PGServerUnavailable as err:
                if attempt == 2 or "already in use" not in str(err):
                    raise
        with server.admin_connection("postgres") as conn:
            for name in (DBNAME, DBNAME2):
                conn.execute(f'CREATE DATABASE "{name}"')
    except BaseException:
        server.stop()
        raise
    return server


def _attach_external(url: str) -> PGServer:
    parts = urlsplit(url)
    if not re.fullmatch(r"postgres(ql)?(\+\w+)?", parts.scheme):
        raise PGServerUnavailable(
            f"{ENV_URL} must be a postgresql:// URL, got scheme {parts.scheme!r}; "
            "example: postgresql://user:secret@localhost:5432/docket_test"
        )
    dbname = unquote(parts.path.lstrip("/")) or DBNAME
    server = PGServer(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 5432,
        user=unquote(parts.username) if parts.username else "postgres",
        password=unquote(parts.password) if parts.password is not None else None,
        dbname=dbname,
        dbname2=dbname + "2",
    )
    psycopg = _import_psycopg()
    try:
        with server.admin_connection() as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (server.dbname2,)
            ).fetchone()
            if exists is None:
                try:
                    conn.execute(f'CREATE DATABASE "{server.dbname2}"')
                except psycopg.errors.InsufficientPrivilege:
                    server.second_db_problem = (
                        f"the second test database {server.dbname2!r} does not exist on "
                        f"{server!r} and the user may not create it; create it or grant CREATEDB"
                    )
    except psycopg.OperationalError as err:
        raise PGServerUnavailable(
            f"cannot connect to the server named by {ENV_URL} ({server!r}): "
            f"{str(err).strip()}; check that it is running and the URL is right"
        ) from err
    return server


def start() -> PGServer:
    """Return a running PostgreSQL server for this test session.

    Uses ``DOCKET_TEST_PG_URL`` when set, else starts a managed server.

    Raises:
        PGServerUnavailable: no server could be found, started or reached.
    """
    url = os.environ.get(ENV_URL, "").strip()
    return _attach_external(url) if url else _start_managed()
