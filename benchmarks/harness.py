"""Timing and memory probes, the run loop and the shape of the results.

A workload module (``benchmarks/workloads/*.py``) provides:

* ``TITLE`` -- one line for the report;
* ``measures(cfg) -> list[Measure]`` -- the figures it produces;
* ``raw(db, cfg, probe)`` and ``orm(db, cfg, probe)`` -- one repetition each.
  ``orm`` runs unchanged on docket and on SQLAlchemy (same API); a module may
  define ``docket`` / ``sqlalchemy`` instead when they must differ.
  Each function does its untimed preparation first, then wraps exactly the
  measured work in ``with probe.time(key):`` (or ``probe.retained`` /
  ``probe.peak`` for memory);
* optionally ``MAX_REPEAT`` -- a cap on repetitions for very long workloads.

The loop takes the implementations in turn within each repetition (raw,
docket, sqlalchemy, raw, docket, ...), so a burst of load on the machine hurts
all of them alike, and keeps the best (lowest) figure of each.
"""

from __future__ import annotations

import gc
import time
import traceback
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

#: kinds of Measure: "time" (seconds -> µs per object), "bytes" (per object),
#: "peak" (bytes -> KiB), "ratio" (derived: value of ``of[0]`` / value of ``of[1]``)
KINDS = ("time", "bytes", "peak", "ratio")


@dataclass(frozen=True)
class Config:
    """Sizes of one run, derived from ``--n`` (see ``docs/performance.md``).

    Attributes:
        backend: ``"sqlite"`` or ``"postgresql"``.
        n: objects per bulk workload (insert, load, update, delete, memory).
        repeat: repetitions; the best is kept.
        gets: distinct keys for get-by-primary-key (10,000, at most ``n``).
        parents: parents for the relationship workloads (2,000, at most ``n // 10``).
        held: clean objects held in the session by the scaling workload.
        flushes: one-change flushes timed per scaling measurement.
        stream_sizes: the two row counts streamed with ``yield_per(1000)``.
    """

    backend: str
    n: int
    repeat: int = 3
    gets: int = 10_000
    parents: int = 2_000
    held: int = 100_000
    flushes: int = 200
    stream_sizes: tuple[int, int] = (100_000, 1_000_000)

    @classmethod
    def for_n(cls, backend: str, n: int, repeat: int, held: int | None = None,
              stream_max: int | None = None) -> Config:
        """Derive every size from ``n`` (and the optional overrides)."""
        large = stream_max or min(1_000_000, 20 * n)
        return cls(backend=backend, n=n, repeat=repeat, gets=min(10_000, n),
                   parents=max(1, min(2_000, n // 10)), held=held or 100_000,
                   stream_sizes=(max(1, large // 10), large))


@dataclass(frozen=True)
class Measure:
    """One figure a workload reports.

    Attributes:
        key: the probe label (or the derived figure's name).
        title: the report row's text.
        per: objects the raw value is divided by (time and bytes kinds).
        kind: one of :data:`KINDS`.
        of: for ``ratio``: the two keys divided.
        goal: the issue's goal per backend, as (rule, limit): rule ``"floor"``
            means docket / raw <= limit, ``"abs"`` docket's figure <= limit,
            ``"self"`` docket's derived ratio <= limit.
        unit: the printed unit when not the kind's default.
    """

    key: str
    title: str
    per: int = 1
    kind: str = "time"
    of: tuple[str, str] | None = None
    goal: dict[str, tuple[str, float]] = field(default_factory=dict)
    unit: str = ""

    @property
    def shown_unit(self) -> str:
        """The unit of :meth:`display`'s figure."""
        return self.unit or {"time": "us/obj", "bytes": "B/obj", "peak": "KiB",
                             "ratio": "ratio"}[self.kind]

    def display(self, raw_value: float) -> float:
        """The figure as printed: µs/object, bytes/object, KiB or a plain ratio."""
        if self.kind == "time":
            return raw_value / self.per * 1e6
        if self.kind == "bytes":
            return raw_value / self.per
        if self.kind == "peak":
            return raw_value / 1024
        return raw_value


class Probe:
    """Collects one repetition's figures, keyed by measure key."""

    def __init__(self) -> None:
        self.values: dict[str, float] = {}

    @contextmanager
    def time(self, key: str, best_block: bool = False) -> Iterator[None]:
        """Time the block (wall clock) after a full garbage collection.

        Args:
            key: the measure's key.
            best_block: keep the lowest time of all the blocks timed under ``key``
                in this repetition (for figures made of many short, identical
                blocks, where one preemption by another process would dominate).
        """
        gc.collect()
        start = time.perf_counter()
        yield
        elapsed = time.perf_counter() - start
        if best_block and key in self.values:
            elapsed = min(elapsed, self.values[key])
        self.values[key] = elapsed

    @contextmanager
    def retained(self, key: str) -> Iterator[None]:
        """Record the bytes allocated in the block and still alive at its end."""
        gc.collect()
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            yield
            gc.collect()
            self.values[key] = float(tracemalloc.get_traced_memory()[0] - before)
        finally:
            tracemalloc.stop()

    @contextmanager
    def peak(self, key: str) -> Iterator[None]:
        """Record the block's peak traced memory above its starting point."""
        gc.collect()
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            tracemalloc.reset_peak()
            yield
            self.values[key] = float(tracemalloc.get_traced_memory()[1] - before)
        finally:
            tracemalloc.stop()


@dataclass
class Outcome:
    """One implementation's figures for one workload.

    Attributes:
        best: per key, the lowest value over the repetitions (plus derived ratios).
        reps: every repetition's raw values.
        error: the traceback when the implementation failed (figures then partial).
    """

    best: dict[str, float] = field(default_factory=dict)
    reps: list[dict[str, float]] = field(default_factory=list)
    error: str | None = None


Runner = Callable[[Any, Config, Probe], None]


def runner_for(module: ModuleType, impl: str) -> Runner:
    """The function of ``module`` that runs ``impl`` (raw, docket or sqlalchemy)."""
    fn = getattr(module, impl, None) or getattr(module, "raw" if impl == "raw" else "orm")
    return fn  # type: ignore[no-any-return,unused-ignore]


def run_workload(module: ModuleType, cfg: Config, dbs: dict[str, Any],
                 progress: Callable[[str], None] = lambda s: None) -> dict[str, Outcome]:
    """Run ``module`` for every implementation in ``dbs``, repetitions interleaved.

    An implementation that raises is recorded with its traceback and skipped for
    the remaining repetitions; the others go on.
    """
    outcomes = {impl: Outcome() for impl in dbs}
    reps = min(cfg.repeat, getattr(module, "MAX_REPEAT", cfg.repeat))
    for rep in range(reps):
        for impl, db in dbs.items():
            out = outcomes[impl]
            if out.error is not None:
                continue
            progress(f"{module.__name__.rsplit('.', 1)[-1]} {impl} rep {rep + 1}/{reps}")
            probe = Probe()
            try:
                runner_for(module, impl)(db, cfg, probe)
            except Exception:
                out.error = traceback.format_exc()
            out.reps.append(probe.values)
            gc.collect()
    measures = module.measures(cfg)
    for out in outcomes.values():
        for m in measures:
            if m.kind == "ratio":
                continue
            vals = [r[m.key] for r in out.reps if m.key in r]
            if vals:
                out.best[m.key] = min(vals)
        for m in measures:
            if m.kind == "ratio" and m.of is not None:
                a, b = out.best.get(m.of[0]), out.best.get(m.of[1])
                if a is not None and b:
                    out.best[m.key] = a / b
    return outcomes
