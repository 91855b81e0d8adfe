"""Public test helpers for docket users and docket's own tests.

* :mod:`docket.testing.fake` -- a recording proxy around a real DB-API
  connection, with fault injection (:func:`recording_engine`,
  :class:`Recorder`, :class:`FailurePlan`).
* :mod:`docket.testing.assertsql` -- exact SQL-sequence assertions
  (:func:`assert_sql`, :class:`SQL`, :class:`AllOf`).
"""

from docket.testing.assertsql import (
    ANY,
    SQL,
    AllOf,
    assert_sql,
    assert_sql_execution,
    assert_statement_count,
)
from docket.testing.fake import (
    Call,
    CallLog,
    FailurePlan,
    Fault,
    Recorder,
    RecordingConnection,
    RecordingCursor,
    recording_engine,
)

__all__ = [
    "ANY",
    "SQL",
    "AllOf",
    "Call",
    "CallLog",
    "FailurePlan",
    "Fault",
    "Recorder",
    "RecordingConnection",
    "RecordingCursor",
    "assert_sql",
    "assert_sql_execution",
    "assert_statement_count",
    "recording_engine",
]
