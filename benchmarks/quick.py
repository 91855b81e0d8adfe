"""Quick hot-path figures: the main workloads on SQLite in memory, one
repetition, raw sqlite3 against docket (a smoke run of the full suite).

Run:  python benchmarks/quick.py [N]      (same as: python -m benchmarks --n N
      --repeat 1 --only insert,load,update,get,memory)
"""

from __future__ import annotations

import sys
from pathlib import Path

if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from benchmarks.cli import main

    n = sys.argv[1] if len(sys.argv) > 1 else "20000"
    raise SystemExit(main(["--backend", "sqlite", "--n", n, "--repeat", "1",
                           "--only", "insert,load,update,get,memory"]))
