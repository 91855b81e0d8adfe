"""Shared fixtures of the reliability suite (faults, durability, lost connections).

* ``reliability_scale`` -- the size multiplier of ``@pytest.mark.heavy`` tests,
  read from ``DOCKET_RELIABILITY_SCALE`` (default 1, the CI-bounded size).
* ``fault_tally`` / ``reliability_tally(name)`` -- per-backend counters of
  injected faults and driven cases; the totals are printed at the end of the
  run (the figures of docs/reliability.md come from that line).
* ``plain_engine`` -- a factory for engines made by the test itself, all
  disposed at teardown.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest

SCALE_ENV = "DOCKET_RELIABILITY_SCALE"

#: backend name -> Counter of "faults" / "cases" / ... across the run
_TALLY: dict[str, Counter[str]] = {}


def scale_from_env() -> int:
    """The ``DOCKET_RELIABILITY_SCALE`` multiplier (>= 1; 1 when unset).

    Raises:
        pytest.UsageError: the variable is not a positive integer.
    """
    raw = os.environ.get(SCALE_ENV, "").strip()
    if not raw:
        return 1
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise pytest.UsageError(
            f"{SCALE_ENV}={raw!r} is not a positive integer; set it to 1 (CI size) or more"
        )
    return value


@pytest.fixture(scope="session")
def reliability_scale() -> int:
    """Size multiplier for heavy reliability tests (env ``DOCKET_RELIABILITY_SCALE``)."""
    return scale_from_env()


def tally_for(backend_name: str) -> Counter[str]:
    """The run-wide counter of ``backend_name`` (printed at the end of the run)."""
    return _TALLY.setdefault(backend_name, Counter())


@pytest.fixture
def fault_tally(backend: Any) -> Counter[str]:
    """The counter of this test's backend; add to ``["faults"]`` / ``["cases"]``."""
    return tally_for(backend.name)


@pytest.fixture
def reliability_tally() -> Callable[[str], Counter[str]]:
    """``reliability_tally(backend_name)`` -> that backend's run-wide counter."""
    return tally_for


@pytest.fixture
def plain_engine() -> Iterator[Callable[..., Any]]:
    """``plain_engine(url, **kw)`` -> a docket Engine, disposed after the test."""
    from docket import create_engine

    made: list[Any] = []

    def make(url: str, **kw: Any) -> Any:
        eng = create_engine(url, **kw)
        made.append(eng)
        return eng

    yield make
    for eng in made:
        eng.dispose()


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    """Print the injected-fault and case counts per backend."""
    if not _TALLY:
        return
    terminalreporter.write_sep("=", "reliability: faults injected / cases driven")
    for name in sorted(_TALLY):
        counts = _TALLY[name]
        terminalreporter.write_line(
            f"{name}: " + ", ".join(f"{counts[k]} {k}" for k in sorted(counts))
        )
