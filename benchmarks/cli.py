"""Command line of the benchmark suite.

    python -m benchmarks --backend sqlite|postgresql --n 50000 \\
        [--compare sqlalchemy] [--only insert,load,...] [--repeat 3] \\
        [--url postgresql://...] [--json out.json] [--profile]

Prints one table row per figure: the raw DB-API floor, docket and (with
``--compare sqlalchemy``) SQLAlchemy, each ORM also as a multiple of the floor,
and the issue's goal for docket with whether this run met it.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime
import json
import os
import platform
import pstats
import sys
from contextlib import nullcontext
from typing import Any

from benchmarks import backends
from benchmarks.harness import Config, Measure, Outcome, Probe, run_workload, runner_for
from benchmarks.workloads import NAMES, load

SCHEMAS = {"raw": "bench_raw", "docket": "bench_docket", "sqlalchemy": "bench_sqlalchemy"}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--backend", choices=backends.BACKENDS, default="sqlite",
                   help="sqlite (in memory) or postgresql (default: sqlite)")
    p.add_argument("--n", type=int, default=50_000, help="objects per bulk workload (50000)")
    p.add_argument("--repeat", type=int, default=3,
                   help="repetitions per workload; the best is kept (3)")
    p.add_argument("--compare", action="append", default=[], choices=["sqlalchemy"],
                   help="also run SQLAlchemy 2.x's ORM (needs the 'bench' extra)")
    p.add_argument("--only", default="",
                   help=f"comma-separated workloads to run, from: {','.join(NAMES)}")
    p.add_argument("--url", help="PostgreSQL server to use (default: start a throwaway one)")
    p.add_argument("--held", type=int, default=None,
                   help="clean objects held by the scaling workload (100000)")
    p.add_argument("--stream-max", type=int, default=None,
                   help="rows of the larger streaming run (min(1000000, 20*N)); "
                        "the smaller is a tenth")
    p.add_argument("--json", metavar="PATH", help="write every figure to this JSON file")
    p.add_argument("--profile", action="store_true",
                   help="after each workload, run docket's side once more under cProfile "
                        "and print the top 15 functions")
    args = p.parse_args(argv)
    if args.n < 10:
        p.error("--n must be at least 10")
    if args.repeat < 1:
        p.error("--repeat must be at least 1")
    only = [w.strip() for w in args.only.split(",") if w.strip()]
    unknown = sorted(set(only) - set(NAMES))
    if unknown:
        p.error(f"unknown workload(s) {', '.join(unknown)} in --only; choose from "
                f"{', '.join(NAMES)}")
    args.workloads = [w for w in NAMES if w in only] if only else list(NAMES)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    cfg = Config.for_n(args.backend, args.n, args.repeat, args.held, args.stream_max)
    libs: dict[str, Any] = {"docket": backends.docket_lib()}
    if "sqlalchemy" in args.compare:
        try:
            libs["sqlalchemy"] = backends.sqlalchemy_lib()
        except backends.MissingSQLAlchemy as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
    impls = ["raw", *libs]
    if args.backend == "postgresql":
        from benchmarks._pg import server_url

        server: Any = server_url(args.url)
    else:
        server = nullcontext(None)
    results: dict[str, dict[str, Outcome]] = {}
    measures: dict[str, list[Measure]] = {}
    table = Table(impls, cfg)
    with server as pg_url:
        print(header(cfg, impls, args), flush=True)
        print(table.head(), flush=True)
        for name in args.workloads:
            module = load(name)
            measures[name] = module.measures(cfg)
            dbs = open_dbs(impls, libs, cfg, pg_url)
            try:
                results[name] = run_workload(module, cfg, dbs, progress)
                if args.profile:
                    profile(module, dbs["docket"], cfg)
            finally:
                for db in dbs.values():
                    db.close()
            progress("")
            for m in measures[name]:
                print(table.row(m, results[name]), flush=True)
    failures = [(n, i, o.error) for n, r in results.items() for i, o in r.items() if o.error]
    for name, impl, error in failures:
        print(f"\n{impl} failed in workload {name!r} (its figures are missing or partial):\n"
              f"{error}", file=sys.stderr)
    if args.json:
        write_json(args.json, cfg, impls, args, measures, results)
        print(f"# figures written to {args.json}")
    return 1 if failures else 0


def open_dbs(impls: list[str], libs: dict[str, Any], cfg: Config, pg_url: str | None
             ) -> dict[str, Any]:
    """A fresh database handle per implementation (private memory DB / schema)."""
    dbs: dict[str, Any] = {}
    for impl in impls:
        if impl == "raw":
            dbs[impl] = backends.RawDB(cfg.backend, pg_url, SCHEMAS[impl])
        else:
            dbs[impl] = backends.OrmDB(impl, libs[impl], cfg.backend, pg_url, SCHEMAS[impl])
    return dbs


def progress(text: str) -> None:
    """Overwrite one status line on a terminal's stderr (silent when redirected)."""
    if sys.stderr.isatty():
        sys.stderr.write(f"\r\x1b[K{text}")
        sys.stderr.flush()


def profile(module: Any, db: Any, cfg: Config) -> None:
    """Run docket's side of ``module`` once under cProfile; print the top 15 by own time."""
    prof = cProfile.Profile()
    prof.runcall(runner_for(module, "docket"), db, cfg, Probe())
    print(f"\n# cProfile of docket, workload {module.__name__.rsplit('.', 1)[-1]} "
          "(set-up included), top 15 by own time:")
    pstats.Stats(prof, stream=sys.stdout).sort_stats("tottime").print_stats(15)


def header(cfg: Config, impls: list[str], args: argparse.Namespace) -> str:
    where = "SQLite in memory" if cfg.backend == "sqlite" else "PostgreSQL (psycopg 3)"
    versions = "; ".join(backends.library_version(i, cfg.backend) for i in impls)
    return (f"# {where}, N={cfg.n:,}, best of {cfg.repeat} (streaming: 1), "
            f"{os.cpu_count()} CPUs, {platform.platform(terse=True)}\n# {versions}")


class Table:
    """Fixed-width rows: figure, unit, one column per implementation (+ x floor), goal."""

    TITLE_W = 44

    def __init__(self, impls: list[str], cfg: Config) -> None:
        self.impls, self.cfg = impls, cfg

    def head(self) -> str:
        cols = ["raw".rjust(10)]
        for impl in self.impls[1:]:
            cols += [impl.rjust(10), "x raw".rjust(7)]
        line = f"{'workload':<{self.TITLE_W}} {'unit':<8} {' '.join(cols)}   goal (docket)"
        return f"{line}\n{'-' * len(line)}"

    def row(self, m: Measure, outcomes: dict[str, Outcome]) -> str:
        shown = {i: figure(m, outcomes[i]) for i in self.impls}
        cols = [fmt(shown["raw"]).rjust(10)]
        for impl in self.impls[1:]:
            ratio = times_floor(m, shown[impl], shown["raw"])
            cols += [fmt(shown[impl]).rjust(10),
                     (f"{ratio:.1f}x" if ratio is not None else "").rjust(7)]
        return (f"{m.title:<{self.TITLE_W}} {m.shown_unit:<8} {' '.join(cols)}   "
                f"{goal_text(m, self.cfg.backend, shown['docket'], shown['raw'])}")


def figure(m: Measure, out: Outcome) -> float | None:
    """The printed figure of ``m`` in ``out`` (None when missing)."""
    value = out.best.get(m.key)
    return None if value is None else m.display(value)


def times_floor(m: Measure, value: float | None, floor: float | None) -> float | None:
    """``value`` as a multiple of the floor (not for derived ratios)."""
    if m.kind == "ratio" or value is None or not floor:
        return None
    return value / floor


def fmt(value: float | None) -> str:
    if value is None:
        return "ERROR"
    if value >= 1000:
        return f"{value:,.0f}"
    return f"{value:.2f}" if value < 100 else f"{value:.1f}"


def goal_text(m: Measure, backend: str, docket: float | None, raw: float | None) -> str:
    """The issue's goal for this figure and whether docket met it in this run."""
    if backend not in m.goal:
        return ""
    rule, limit = m.goal[backend]
    if rule == "floor":
        text, actual = f"<= {limit:g}x raw", times_floor(m, docket, raw)
    elif rule == "abs":
        text, actual = f"<= {limit:g} {m.shown_unit}", docket
    else:
        text, actual = f"<= {limit:g}", docket
    if actual is None:
        return f"{text}: no figure"
    return f"{text}: {'met' if actual <= limit else 'NOT met'}"


def write_json(path: str, cfg: Config, impls: list[str], args: argparse.Namespace,
               measures: dict[str, list[Measure]], results: dict[str, dict[str, Outcome]]
               ) -> None:
    """Write the run's configuration and every figure (raw values and printed ones)."""
    doc: dict[str, Any] = {
        "command": "python -m benchmarks " + " ".join(sys.argv[1:]),
        "when": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": {"platform": platform.platform(), "python": platform.python_version(),
                    "cpus": os.cpu_count()},
        "versions": {i: backends.library_version(i, cfg.backend) for i in impls},
        "config": {**cfg.__dict__, "stream_sizes": list(cfg.stream_sizes)},
        "workloads": {},
    }
    for name, outcomes in results.items():
        module = load(name)
        doc["workloads"][name] = {
            "title": module.TITLE,
            "measures": [{"key": m.key, "title": m.title, "kind": m.kind, "per": m.per,
                          "unit": m.shown_unit, "goal": m.goal.get(cfg.backend)}
                         for m in measures[name]],
            "results": {impl: {"best": o.best,
                               "shown": {m.key: figure(m, o) for m in measures[name]},
                               "reps": o.reps, "error": o.error}
                        for impl, o in outcomes.items()},
        }
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(doc, fh, indent=2)
        fh.write("\n")
