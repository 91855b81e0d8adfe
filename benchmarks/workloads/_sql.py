"""Small raw DB-API helpers shared by the floor implementations."""

from __future__ import annotations

from typing import Any

USER_COLUMNS = "users.id, users.name, users.email, users.age"
SELECT_USERS = f"SELECT {USER_COLUMNS} FROM users"


def user_values(n: int) -> list[tuple[str, str, int]]:
    """The (name, email, age) of ``n`` new users, built before any timing starts."""
    return [(f"user {i}", f"user{i}@example.com", i % 90) for i in range(n)]


def insert_returning_ids(db: Any, cur: Any, sql: str, params: list[tuple[Any, ...]]
                         ) -> list[Any]:
    """Run an INSERT once per parameter tuple; return the new keys in the same order.

    SQLite: one ``execute`` per row and ``cursor.lastrowid`` (faster than
    ``RETURNING``, and the order is trivially right).  PostgreSQL: one pipelined
    ``executemany(..., returning=True)``; psycopg keeps one result set per
    parameter tuple, in order, walked with ``nextset()``.

    Args:
        db: the :class:`~benchmarks.backends.RawDB` (backend and paramstyle).
        cur: an open cursor of ``db.conn``.
        sql: ``INSERT ... VALUES (?, ...)`` with ``?`` placeholders, no RETURNING.
        params: one tuple per row.
    """
    sql = db.q(sql)
    if db.backend == "sqlite":
        ids = []
        for p in params:
            cur.execute(sql, p)
            ids.append(cur.lastrowid)
        return ids
    if not params:
        return []
    cur.executemany(sql + " RETURNING id", params, returning=True)
    ids = []
    while True:
        ids.append(cur.fetchone()[0])
        if not cur.nextset():
            return ids


def check(ok: bool, what: str) -> None:
    """Fail the repetition loudly when a sanity check on its result does not hold.

    Raises:
        AssertionError: ``ok`` is false; ``what`` says which check.
    """
    if not ok:
        raise AssertionError(f"benchmark sanity check failed: {what}")
