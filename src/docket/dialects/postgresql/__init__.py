"""The PostgreSQL dialect (psycopg 3, or psycopg2).

Importing this package never imports a driver; the driver module is loaded
when an engine is created.
"""

from docket.dialects.postgresql.dml import Insert, insert
from docket.dialects.postgresql.types import (
    ARRAY,
    BYTEA,
    CIDR,
    ENUM,
    INET,
    INTERVAL,
    JSON,
    JSONB,
    MONEY,
    TIMESTAMP,
    UUID,
)

__all__ = [
    "ARRAY", "BYTEA", "CIDR", "ENUM", "INET", "INTERVAL", "Insert", "JSON", "JSONB", "MONEY",
    "TIMESTAMP", "UUID", "insert",
]
