"""Shared fixtures: the backends every integration test runs on.

* ``backend`` -- parametrized over ``sqlite-memory``, ``sqlite-file`` and
  ``postgresql`` (the last marked ``postgresql``); ``--backend=sqlite|postgresql``
  deselects the others.
* ``engine`` -- ``docket.create_engine`` for the backend; a PostgreSQL database is
  emptied before each test, so every test starts from an empty schema.
* ``pg_server`` -- one PostgreSQL server per session, started only when a test
  needs it (see ``_pgserver``).  Missing PostgreSQL skips, or fails under ``CI``.
* ``metadata`` -- a fresh ``docket.MetaData()``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import _pgserver


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--backend",
        choices=("sqlite", "postgresql", "all"),
        default="all",
        help="run backend-dependent tests only on this backend (default: all)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect tests bound to a backend other than ``--backend``."""
    choice = config.getoption("backend")
    if choice == "all":
        return
    keep: list[pytest.Item] = []
    drop: list[pytest.Item] = []
    for item in items:
        callspec = getattr(item, "callspec", None)
        param = callspec.params.get("backend") if callspec else None
        if param is None:  # not parametrized by backend: only the marker tells
            family = "postgresql" if item.get_closest_marker("postgresql") else None
        else:
            family = "postgresql" if param == "postgresql" else "sqlite"
        (drop if family not in (None, choice) else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.fixture(scope="session")
def pg_server() -> Iterator[_pgserver.PGServer]:
    """The session's PostgreSQL server (started on first use, stopped at the end)."""
    try:
        server = _pgserver.start()
    except _pgserver.PGServerUnavailable as err:
        _pgserver.skip_or_fail(f"PostgreSQL unavailable: {err}")
        raise  # unreachable: skip_or_fail always raises
    try:
        yield server
    finally:
        server.stop()


@dataclass(frozen=True)
class BackendInfo:
    """Which database a parametrized test runs on, and the URL to reach it."""

    name: str
    url: str

    @property
    def is_sqlite(self) -> bool:
        return self.name.startswith("sqlite")

    @property
    def is_postgresql(self) -> bool:
        return self.name == "postgresql"


@pytest.fixture(
    params=[
        "sqlite-memory",
        "sqlite-file",
        pytest.param("postgresql", marks=pytest.mark.postgresql),
    ]
)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> BackendInfo:
    """One backend per parametrized run (PostgreSQL started only if selected)."""
    name: str = request.param
    if name == "sqlite-memory":
        url = "sqlite://"
    elif name == "sqlite-file":
        url = f"sqlite:///{tmp_path / 'test.db'}"  # tmp_path is absolute: sqlite:////...
    else:
        url = request.getfixturevalue("pg_server").url()
    return BackendInfo(name, url)


@pytest.fixture
def engine(backend: BackendInfo, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A docket Engine on ``backend``; PostgreSQL's database is emptied first."""
    from docket import create_engine

    if backend.is_postgresql:
        request.getfixturevalue("pg_server").reset_schema()
    eng = create_engine(backend.url)
    try:
        yield eng
    finally:
        eng.dispose()


@pytest.fixture
def metadata() -> Any:
    """A fresh, empty ``docket.MetaData``."""
    from docket import MetaData

    return MetaData()


_BACKEND_IDS = ("sqlite-memory", "sqlite-file", "postgresql")


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    """Print pass/skip/fail counts per backend, so a run shows that the
    PostgreSQL cases really ran (CI requires them to pass, not skip)."""
    counts: dict[str, dict[str, int]] = {b: {} for b in _BACKEND_IDS}
    for outcome in ("passed", "failed", "skipped", "error", "xfailed"):
        for report in terminalreporter.stats.get(outcome, []):
            nodeid = getattr(report, "nodeid", "")
            for b in _BACKEND_IDS:
                if f"[{b}]" in nodeid or f"-{b}]" in nodeid or f"[{b}-" in nodeid:
                    counts[b][outcome] = counts[b].get(outcome, 0) + 1
                    break
    lines = [
        f"{b}: " + ", ".join(f"{n} {o}" for o, n in sorted(c.items()))
        for b, c in counts.items() if c
    ]
    if lines:
        terminalreporter.write_sep("=", "backends")
        for line in lines:
            terminalreporter.write_line(line)
