"""docket's benchmark suite: each workload measured in the same run against the
raw DB-API floor (hand-written SQL over ``sqlite3`` / ``psycopg``), docket's ORM
Session and, optionally, SQLAlchemy 2.x's ORM Session.

Run from the repository root::

    python -m benchmarks --backend sqlite --n 50000 [--compare sqlalchemy]

See ``docs/performance.md`` for what each workload measures.  Nothing here
asserts a speed: the figures are for people and for ``--json`` files.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run straight from a checkout: make ``import docket`` work without installing it.
_SRC = Path(__file__).resolve().parent.parent / "src"
if (_SRC / "docket").is_dir() and str(_SRC) not in sys.path:
    sys.path.insert(0, str(_SRC))
