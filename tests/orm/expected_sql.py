"""Helpers for writing expected SQL in tests that run on every backend."""

from __future__ import annotations

from docket.testing import Recorder


def q(recorder: Recorder, sql: str) -> str:
    """Write expected SQL with ``?``; PostgreSQL's psycopg uses ``%s``."""
    return sql.replace("?", "%s") if recorder.dialect_name == "postgresql" else sql
