"""A PostgreSQL server for a benchmark run: the one named by ``--url``, or a
throwaway server started exactly the way the test suite starts its own
(``tests/_pgserver.py``, reused as is: initdb into a temp dir, a free loopback
port, durability off, removed again when the run ends)."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_TESTS = Path(__file__).resolve().parent.parent / "tests"


def plain_url(url: str) -> str:
    """``url`` with any ``+driver`` removed from its scheme (libpq understands the rest)."""
    return re.sub(r"^postgres(ql)?(\+\w+)?://", "postgresql://", url)


@contextmanager
def server_url(url: str | None) -> Iterator[str]:
    """Yield a ``postgresql://`` URL to benchmark against; stop a server started here.

    Args:
        url: an existing server's URL (``--url``); None starts a throwaway server
            (or attaches to ``DOCKET_TEST_PG_URL``, like the tests do).

    Raises:
        SystemExit: no server could be started; the message says why and what to do.
    """
    if url:
        yield plain_url(url)
        return
    if str(_TESTS) not in sys.path:
        sys.path.insert(0, str(_TESTS))
    import _pgserver  # the test suite's helper; depends on psycopg only

    try:
        server = _pgserver.start()
    except _pgserver.PGServerUnavailable as err:
        raise SystemExit(
            f"cannot start a PostgreSQL server for the benchmark: {err}\n"
            "Pass --url postgresql://user:pw@host:port/db to use an existing server."
        ) from err
    try:
        print(f"# PostgreSQL: {server!r}", file=sys.stderr)
        yield server.url(driver="")
    finally:
        server.stop()
