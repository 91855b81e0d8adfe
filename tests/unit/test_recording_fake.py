"""docket.testing: the recording DB-API proxy, fault injection and assert_sql."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from typing import Any

import pytest

from docket import exc, text
from docket.testing import (
    ANY,
    SQL,
    AllOf,
    FailurePlan,
    Fault,
    Recorder,
    RecordingConnection,
    assert_sql,
    assert_sql_execution,
    assert_statement_count,
    recording_engine,
)


@pytest.fixture
def rec_sqlite() -> Iterator[tuple[Any, Recorder]]:
    """A recording engine on an in-memory SQLite database with table t."""
    engine, recorder = recording_engine("sqlite://")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (id INTEGER PRIMARY KEY, x INTEGER)")
    recorder.clear()
    yield engine, recorder
    engine.dispose()


@pytest.fixture
def rec_any(backend: Any, request: pytest.FixtureRequest) -> Iterator[tuple[Any, Recorder]]:
    """A recording engine on each backend with an empty table t."""
    if backend.is_postgresql:
        request.getfixturevalue("pg_server").reset_schema()
    engine, recorder = recording_engine(backend.url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (id INTEGER PRIMARY KEY, x INTEGER)")
    recorder.clear()
    yield engine, recorder
    engine.dispose()


def test_records_execute_and_executemany_with_params(rec_sqlite: Any) -> None:
    """Every statement is logged with its driver parameters and many-flag."""
    engine, recorder = rec_sqlite
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO t (id, x) VALUES (:a, :b)"), [{"a": 1, "b": 2},
                                                                     {"a": 2, "b": 3}])
        conn.execute(text("UPDATE t SET x = :x WHERE id = :id"), {"x": 9, "id": 1})
    assert recorder.statements == [
        ("BEGIN", None, False),
        ("INSERT INTO t (id, x) VALUES (?, ?)", [(1, 2), (2, 3)], True),
        ("UPDATE t SET x = ? WHERE id = ?", (9, 1), False),
        ("COMMIT", None, False),
    ]


def test_clear_and_capture_scope(rec_sqlite: Any) -> None:
    """capture() sees only the block's calls; clear() empties the global log."""
    engine, recorder = rec_sqlite
    with engine.connect() as conn:
        conn.exec_driver_sql("SELECT 1").all()
        with recorder.capture() as calls:
            conn.exec_driver_sql("SELECT 2").all()
        conn.exec_driver_sql("SELECT 3").all()
    assert calls.sql == ["SELECT 2"]
    assert [s for s, _, _ in recorder.statements if s.startswith("SELECT")] == [
        "SELECT 1", "SELECT 2", "SELECT 3"]
    recorder.clear()
    assert recorder.statements == []


def test_results_still_come_from_the_real_driver(rec_sqlite: Any) -> None:
    """Rows, rowcount and lastrowid pass through the proxy unchanged."""
    engine, _recorder = rec_sqlite
    with engine.begin() as conn:
        result = conn.exec_driver_sql("INSERT INTO t (x) VALUES (5)")
        assert result.lastrowid == 1
        assert conn.exec_driver_sql("UPDATE t SET x = 6").rowcount == 1
        assert conn.exec_driver_sql("SELECT id, x FROM t").all() == [(1, 6)]


def test_injected_fault_is_driver_class_and_wrapped(rec_any: Any) -> None:
    """An injected IntegrityError is the driver's class, wrapped as docket's, with the SQL."""
    engine, recorder = rec_any
    with recorder.failing(FailurePlan.at_statement(
            1, "IntegrityError", message="boom", match="^INSERT")) as plan:
        with pytest.raises(exc.IntegrityError) as info:
            with engine.begin() as conn:
                conn.exec_driver_sql("INSERT INTO t (id, x) VALUES (1, 1)")
                conn.exec_driver_sql("INSERT INTO t (id, x) VALUES (2, 2)")
    dbapi = engine.dialect.dbapi
    assert isinstance(info.value.orig, dbapi.IntegrityError)
    assert "boom" in str(info.value)
    assert info.value.statement is not None and "VALUES (2, 2)" in info.value.statement
    assert plan.fired and plan.fired[0].index == 1
    failed = [c for c in recorder.calls if c.error is not None]
    assert len(failed) == 1 and failed[0].injected
    with engine.connect() as conn:  # the transaction was rolled back
        assert conn.exec_driver_sql("SELECT count(*) FROM t").scalar() == 0


def test_fault_index_counts_from_arming(rec_sqlite: Any) -> None:
    """Counting starts when the plan is armed, and the fault fires only once."""
    engine, recorder = rec_sqlite
    with engine.connect() as conn:
        conn.exec_driver_sql("SELECT 1").all()
        recorder.arm(FailurePlan.at_statement(0, match=r"^SELECT 2"))
        conn.exec_driver_sql("SELECT 1").all()  # not matched: not counted
        with pytest.raises(exc.OperationalError):
            conn.exec_driver_sql("SELECT 2")
        assert conn.exec_driver_sql("SELECT 2").scalar() == 2  # fired already
    recorder.arm(None)


def test_fault_on_commit_method(rec_any: Any) -> None:
    """A commit fault fails the commit: PG via connection.commit(), sqlite via COMMIT SQL."""
    engine, recorder = rec_any
    plan = (FailurePlan.at_statement(0, match="^COMMIT") if engine.dialect.name == "sqlite"
            else FailurePlan.at_commit(0))
    with recorder.failing(plan):
        with pytest.raises(exc.OperationalError):
            with engine.begin() as conn:
                conn.exec_driver_sql("INSERT INTO t (id, x) VALUES (1, 1)")
    assert plan.fired


def test_disconnect_fault_invalidates_connection(rec_any: Any) -> None:
    """disconnect=True closes the real connection; docket reports it invalidated."""
    engine, recorder = rec_any
    with recorder.failing(FailurePlan.at_statement(0, disconnect=True, match="SELECT")):
        with engine.connect() as conn:
            with pytest.raises(exc.DBAPIError) as info:
                conn.exec_driver_sql("SELECT 1")
            assert info.value.connection_invalidated
    with engine.connect() as conn:  # a fresh connection works
        assert conn.exec_driver_sql("SELECT 1").scalar() == 1


def test_unknown_error_class_is_reported() -> None:
    """A fault naming an exception the driver lacks fails with a clear ValueError."""
    real = sqlite3.connect(":memory:")
    conn = RecordingConnection(real, fail_on=FailurePlan.at_statement(0, "NoSuchError"))
    with pytest.raises(ValueError, match="NoSuchError"):
        conn.cursor().execute("SELECT 1")
    real.close()


def test_bad_fault_arguments() -> None:
    """Fault validates its kind and index."""
    with pytest.raises(ValueError, match="on="):
        Fault("fetch", 0)
    with pytest.raises(ValueError, match="index"):
        Fault("statement", -1)


def test_proxy_forwards_attribute_writes() -> None:
    """Setting a driver attribute on the proxy sets it on the real connection."""
    real = sqlite3.connect(":memory:")
    conn = RecordingConnection(real)
    conn.isolation_level = None
    assert real.isolation_level is None
    conn.isolation_level = "DEFERRED"
    assert real.isolation_level == "DEFERRED"
    assert conn.real_connection is real
    real.close()


def test_recording_engine_rejects_creator() -> None:
    """recording_engine() supplies its own creator."""
    with pytest.raises(exc.ArgumentError, match="creator"):
        recording_engine("sqlite://", creator=lambda: None)


# --- assert_sql --------------------------------------------------------------------------

_LOG = [
    ("BEGIN", None, False),
    ("INSERT INTO t (id, x) VALUES (?, ?)", [(1, 2), (2, 3)], True),
    ("UPDATE t SET x=? WHERE t.id = ?", (9, 1), False),
    ("DELETE FROM t WHERE t.id = ?", (2,), False),
    ("COMMIT", None, False),
]


def test_assert_sql_passes_on_exact_sequence() -> None:
    """Strings, tuples, SQL() and AllOf() all match the right statements."""
    assert_sql(_LOG, [
        "BEGIN",
        SQL("INSERT INTO t (id, x)   VALUES (?, ?)", [(1, 2), (2, 3)]),
        AllOf(("DELETE FROM t WHERE t.id = ?", (2,)), "UPDATE t SET x=? WHERE t.id = ?"),
        "COMMIT",
    ])
    assert_sql(_LOG, [
        SQL("INSERT INTO t (id, x) VALUES (?, ?)", [(1, ANY), ANY]),
        ("UPDATE t SET x=? WHERE t.id = ?", ANY),
        "DELETE FROM t WHERE t.id = ?",
    ], ignore_transaction=True)


def test_assert_sql_reports_first_difference_and_diff() -> None:
    """A wrong parameter names the statement index and shows a diff."""
    with pytest.raises(AssertionError) as info:
        assert_sql(_LOG, [
            SQL("INSERT INTO t (id, x) VALUES (?, ?)", [(1, 2), (2, 3)]),
            SQL("UPDATE t SET x=? WHERE t.id = ?", (8, 1)),
            "DELETE FROM t WHERE t.id = ?",
        ], ignore_transaction=True)
    text_ = str(info.value)
    assert "statement #1 differs" in text_
    assert "(8, 1)" in text_ and "(9, 1)" in text_
    assert "--- expected" in text_ and "+++ actual" in text_


def test_assert_sql_missing_and_extra_statements() -> None:
    """Too few or too many statements are both failures with a clear message."""
    with pytest.raises(AssertionError, match="no more statements"):
        assert_sql(_LOG[:2], ["BEGIN", "INSERT INTO t (id, x) VALUES (?, ?)", "COMMIT"])
    with pytest.raises(AssertionError, match="unexpected statement"):
        assert_sql(_LOG, ["BEGIN"])


def test_assert_sql_many_flag_and_dialect_entries() -> None:
    """many= is checked; dialect-only entries and per-dialect mappings are selected."""
    with pytest.raises(AssertionError):
        assert_sql([("SELECT 1", (), False)], [SQL("SELECT 1", many=True)])
    log = [("SELECT 1", (), False)]
    assert_sql(log, [SQL("SELECT 1"), SQL("SELECT 2", dialect="postgresql")], dialect="sqlite")
    assert_sql(log, {"sqlite": ["SELECT 1"], "postgresql": ["SELECT 2"]}, dialect="sqlite")
    with pytest.raises(ValueError, match="dialect"):
        assert_sql(log, {"sqlite": ["SELECT 1"]})


def test_assert_sql_execution_and_count(rec_sqlite: Any) -> None:
    """assert_sql_execution runs the callable under capture; counts ignore BEGIN/COMMIT."""
    engine, recorder = rec_sqlite

    def work() -> int:
        with engine.begin() as conn:
            conn.exec_driver_sql("INSERT INTO t (id, x) VALUES (1, 1)")
        return 7

    assert assert_sql_execution(recorder, work, [
        "INSERT INTO t (id, x) VALUES (1, 1)"], ignore_transaction=True) == 7
    assert_statement_count(recorder, 1)
    with pytest.raises(AssertionError, match="expected 2 statement"):
        assert_statement_count(recorder, 2)


def test_assert_sql_rejects_bad_expected_item() -> None:
    """An expected entry that is not SQL-like is a TypeError naming it."""
    with pytest.raises(TypeError, match="42"):
        assert_sql(_LOG, [42])
