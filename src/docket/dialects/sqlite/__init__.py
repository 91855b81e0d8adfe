"""The SQLite dialect (stdlib ``sqlite3``)."""

from docket.dialects.sqlite.dml import Insert, insert
from docket.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite, dialect

__all__ = ["Insert", "SQLiteDialect_pysqlite", "dialect", "insert"]
