"""Tests for docket.engine.result: Row, RowMapping, ResultMetaData and the Result family."""

from __future__ import annotations

import copy
import pickle
import sqlite3
from collections.abc import Iterator
from typing import Any

import pytest

from docket.engine.result import (
    ChunkedIteratorResult,
    CursorResult,
    FrozenResult,
    IteratorResult,
    MappingResult,
    Result,
    ResultMetaData,
    Row,
    RowMapping,
    ScalarResult,
)
from docket.exc import (
    ArgumentError,
    InvalidRequestError,
    MultipleResultsFound,
    NoResultFound,
    NoSuchColumnError,
    ResourceClosedError,
)

CLOSED = "This result object is closed."
NO_ROWS = "This result object does not return rows. It has been closed automatically."


class Col:
    """A hashable stand-in for a Column object used as a lookup alias."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"Col({self.name!r})"


class CountingCursor:
    """Wraps a real sqlite3 cursor and records every fetch/close call."""

    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self._cursor = cursor
        self.calls: list[tuple[str, Any]] = []
        self.arraysize = cursor.arraysize

    def fetchall(self) -> list[Any]:
        self.calls.append(("fetchall", None))
        return self._cursor.fetchall()

    def fetchmany(self, size: int) -> list[Any]:
        self.calls.append(("fetchmany", size))
        return self._cursor.fetchmany(size)

    def fetchone(self) -> Any:
        self.calls.append(("fetchone", None))
        return self._cursor.fetchone()

    def close(self) -> None:
        self.calls.append(("close", None))
        self._cursor.close()

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]


@pytest.fixture
def conn() -> Iterator[sqlite3.Connection]:
    c = sqlite3.connect(":memory:")
    c.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT, flag INTEGER)")
    c.executemany(
        "INSERT INTO users VALUES (?, ?, ?)",
        [(i, f"user{i}", i % 2) for i in range(1, 11)],
    )
    yield c
    c.close()


META = ResultMetaData(["id", "name", "flag"])
NAME_ONLY = ResultMetaData(["name"])
X_ONLY = ResultMetaData(["x"])


def cursor_result(
    conn: sqlite3.Connection,
    sql: str = "SELECT id, name, flag FROM users ORDER BY id",
    meta: ResultMetaData = META,
    **kw: Any,
) -> tuple[CursorResult[Any], CountingCursor, list[int]]:
    """Execute ``sql`` and wrap it; returns the result, the counting cursor and an on_close log."""
    closes: list[int] = []
    cur = CountingCursor(conn.execute(sql))
    result: CursorResult[Any] = CursorResult(meta, cur, on_close=lambda: closes.append(1), **kw)
    return result, cur, closes


# ----------------------------------------------------------------------- Row


def make_row(keys: list[str], values: tuple[Any, ...], **kw: Any) -> Row[Any]:
    return IteratorResult(ResultMetaData(keys, **kw), [values]).one()


def test_row_behaves_as_tuple() -> None:
    """A Row compares, hashes, unpacks, indexes and slices like the plain tuple."""
    row = make_row(["id", "name"], (1, "x"))
    assert isinstance(row, tuple) and isinstance(row, Row)
    assert row == (1, "x") and (1, "x") == row
    assert hash(row) == hash((1, "x"))
    a, b = row
    assert (a, b) == (1, "x")
    assert row[0] == 1 and row[-1] == "x" and row[0:1] == (1,)
    assert row.count("x") == 1 and row.index("x") == 1
    assert repr(row) == "(1, 'x')"
    assert {row: 1}[(1, "x")] == 1


def test_row_named_access_and_helpers() -> None:
    """row.name, _fields, _asdict, _t and _tuple() expose the columns by key."""
    row = make_row(["id", "name"], (1, "x"))
    assert row.id == 1 and row.name == "x"
    assert row._fields == ("id", "name")
    assert row._asdict() == {"id": 1, "name": "x"}
    assert row._t is row and row._tuple() is row


def test_row_has_no_instance_dict() -> None:
    """Row instances carry only their values (__slots__ = ())."""
    row = make_row(["id"], (1,))
    assert not hasattr(row, "__dict__")
    with pytest.raises(AttributeError):
        row.other = 2  # type: ignore[attr-defined]


def test_row_missing_attribute_lists_columns() -> None:
    """A missing attribute raises AttributeError naming the available columns."""
    row = make_row(["id", "name"], (1, "x"))
    with pytest.raises(AttributeError, match=r"'nope'.*\['id', 'name'\]"):
        row.nope  # noqa: B018
    assert not hasattr(row, "nope")


def test_row_key_shadowing_tuple_method_keeps_method() -> None:
    """A column named like a tuple method leaves the method in place (as SQLAlchemy does)."""
    row = make_row(["count", "n"], (5, 6))
    assert row.count(5) == 1
    assert row._mapping["count"] == 5


def test_row_ambiguous_attribute_raises() -> None:
    """Attribute access by a duplicated key raises InvalidRequestError."""
    row = make_row(["a", "a", "b"], (1, 2, 3))
    assert row.b == 3
    with pytest.raises(InvalidRequestError, match="Ambiguous column name 'a'"):
        row.a  # noqa: B018


def test_row_pickles_as_row_with_same_keys() -> None:
    """A pickled Row comes back as a Row with equal values and working key access."""
    row = make_row(["id", "name"], (1, "x"), aliases={Col("name"): 1})
    for proto in range(pickle.HIGHEST_PROTOCOL + 1):
        back = pickle.loads(pickle.dumps(row, protocol=proto))
        assert isinstance(back, Row)
        assert back == row and back.name == "x" and back._fields == ("id", "name")
    assert copy.copy(row) == row and copy.deepcopy(row).id == 1


def test_rows_of_same_shape_share_class() -> None:
    """ResultMetaData with the same keys reuses one Row subclass."""
    a = ResultMetaData(["id", "name"])
    b = ResultMetaData(["id", "name"], [None, str])
    assert a._row_cls is b._row_cls
    assert ResultMetaData(["id"])._row_cls is not a._row_cls


# ------------------------------------------------------------------ RowMapping


def test_row_mapping_by_key_and_alias() -> None:
    """row._mapping answers column keys and alias objects; it is a read-only Mapping."""
    name_col = Col("name")
    row = make_row(["id", "name"], (1, "x"), aliases={name_col: 1})
    m = row._mapping
    assert isinstance(m, RowMapping)
    assert m["id"] == 1 and m["name"] == "x" and m[name_col] == "x"
    assert "name" in m and name_col in m and "zzz" not in m and [] not in m
    assert list(m) == ["id", "name"] and len(m) == 2
    assert dict(m) == {"id": 1, "name": "x"}
    assert m == {"id": 1, "name": "x"}
    assert repr(m) == "{'id': 1, 'name': 'x'}"
    with pytest.raises(TypeError):
        m["id"] = 2  # type: ignore[index]


def test_row_mapping_missing_key() -> None:
    """A missing mapping key raises NoSuchColumnError (a KeyError) naming keys; get() defaults."""
    m = make_row(["id"], (1,))._mapping
    with pytest.raises(NoSuchColumnError, match=r"'nope'.*\['id'\]"):
        m["nope"]
    with pytest.raises(KeyError):
        m["nope"]
    assert m.get("nope", 7) == 7
    with pytest.raises(NoSuchColumnError):
        m[[1]]  # unhashable


def test_row_mapping_ambiguous_key() -> None:
    """Looking up a duplicated key through _mapping raises InvalidRequestError."""
    m = make_row(["a", "a"], (1, 2))._mapping
    with pytest.raises(InvalidRequestError, match="Ambiguous column name 'a'"):
        m["a"]


def test_alias_wins_over_duplicated_key() -> None:
    """An explicit alias resolves even a key that is otherwise ambiguous."""
    row = make_row(["a", "a"], (1, 2), aliases={"a": 1})
    assert row._mapping["a"] == 2


# -------------------------------------------------------------- ResultMetaData


def test_metadata_validates_processors_and_aliases() -> None:
    """Wrong processor count or alias index raises ArgumentError explaining the fix."""
    with pytest.raises(ArgumentError, match="2 processors for 1 columns"):
        ResultMetaData(["a"], [None, None])
    with pytest.raises(ArgumentError, match="only 1 columns"):
        ResultMetaData(["a"], aliases={Col("a"): 3})


def test_metadata_all_none_processors_means_none() -> None:
    """A processor list of only None entries is treated as no processing."""
    assert ResultMetaData(["a", "b"], [None, None]).processors is None
    assert ResultMetaData(["a", "b"], [None, str]).processors == (None, str)


# ---------------------------------------------------------------- CursorResult


def test_all_uses_one_fetchall_and_soft_closes(conn: sqlite3.Connection) -> None:
    """all() costs one fetchall, then closes the cursor and calls on_close once."""
    result, cur, closes = cursor_result(conn)
    rows = result.all()
    assert [r.id for r in rows] == list(range(1, 11))
    assert rows[0] == (1, "user1", 1)
    assert cur.names() == ["fetchall", "close"]
    assert closes == [1]
    assert result.all() == [] and list(result) == []  # exhausted: empty, no error
    assert result.fetchone() is None and result.fetchmany(3) == []
    assert not result.closed
    result.close()
    assert closes == [1] and cur.names().count("close") == 1
    assert result.closed


def test_processors_applied(conn: sqlite3.Connection) -> None:
    """Per-column processors convert values in rows, scalars, mappings and one-row fetches."""
    meta = ResultMetaData(["id", "name", "flag"], [None, str.upper, bool])
    result, _, _ = cursor_result(conn, meta=meta)
    assert result.first() == (1, "USER1", True)
    result, _, _ = cursor_result(conn, meta=meta)
    assert result.all()[1] == (2, "USER2", False)
    result, _, _ = cursor_result(conn, meta=meta)
    assert result.scalars(2).all()[:2] == [True, False]
    result, _, _ = cursor_result(conn, meta=meta)
    assert result.mappings().fetchone() == {"id": 1, "name": "USER1", "flag": True}
    result, _, _ = cursor_result(conn, meta=meta)
    assert result.columns("flag", "name").fetchmany(1) == [(True, "USER1")]


def test_scalars_all_builds_no_rows(conn: sqlite3.Connection) -> None:
    """scalars().all() returns bare column values, never Row objects."""
    result, cur, closes = cursor_result(conn)
    values = result.scalars().all()
    assert values == list(range(1, 11))
    assert all(type(v) is int for v in values)
    assert cur.names() == ["fetchall", "close"] and closes == [1]
    result, _, _ = cursor_result(conn)
    assert result.scalars("name").first() == "user1"


def test_first_fetches_one_row_then_hard_closes(conn: sqlite3.Connection) -> None:
    """first() uses one fetchone, closes the result, and later fetches raise."""
    result, cur, closes = cursor_result(conn)
    assert result.first() == (1, "user1", 1)
    assert cur.names() == ["fetchone", "close"]
    assert closes == [1] and result.closed
    with pytest.raises(ResourceClosedError, match=CLOSED):
        result.all()
    with pytest.raises(ResourceClosedError, match=CLOSED):
        list(result)
    with pytest.raises(ResourceClosedError, match=CLOSED):
        result.fetchmany(2)


def test_first_on_empty_result_returns_none(conn: sqlite3.Connection) -> None:
    """first() and scalar() on no rows return None and close the result."""
    result, _, closes = cursor_result(conn, "SELECT id, name, flag FROM users WHERE id < 0")
    assert result.first() is None and result.closed and closes == [1]
    result, _, _ = cursor_result(conn, "SELECT id, name, flag FROM users WHERE id < 0")
    assert result.scalar() is None


def test_one_errors(conn: sqlite3.Connection) -> None:
    """one() raises NoResultFound / MultipleResultsFound with SQLAlchemy's messages and closes."""
    result, _, closes = cursor_result(conn, "SELECT id, name, flag FROM users WHERE id < 0")
    with pytest.raises(NoResultFound, match="^No row was found when one was required$"):
        result.one()
    assert result.closed and closes == [1]
    result, cur, closes = cursor_result(conn)
    with pytest.raises(
        MultipleResultsFound, match="^Multiple rows were found when exactly one was required$"
    ):
        result.one()
    assert result.closed and closes == [1]
    assert cur.names() == ["fetchone", "fetchone", "close"]


def test_one_and_one_or_none(conn: sqlite3.Connection) -> None:
    """one()/one_or_none() return the only row; one_or_none() gives None for no row."""
    result, _, _ = cursor_result(conn, "SELECT id, name, flag FROM users WHERE id = 3")
    assert result.one() == (3, "user3", 1)
    result, _, _ = cursor_result(conn, "SELECT id, name, flag FROM users WHERE id = 3")
    assert result.one_or_none() == (3, "user3", 1)
    result, _, _ = cursor_result(conn, "SELECT id, name, flag FROM users WHERE id = -3")
    assert result.one_or_none() is None
    result, _, _ = cursor_result(conn)
    with pytest.raises(MultipleResultsFound):
        result.one_or_none()


def test_scalar_variants(conn: sqlite3.Connection) -> None:
    """scalar, scalar_one and scalar_one_or_none return the first column and close."""
    result, _, closes = cursor_result(conn)
    assert result.scalar() == 1 and result.closed and closes == [1]
    result, _, _ = cursor_result(conn, "SELECT name, id, flag FROM users WHERE id = 2")
    assert result.scalar_one() == "user2"
    result, _, _ = cursor_result(conn, "SELECT id, name, flag FROM users WHERE id = -2")
    assert result.scalar_one_or_none() is None
    result, _, _ = cursor_result(conn, "SELECT id, name, flag FROM users WHERE id = -2")
    with pytest.raises(NoResultFound):
        result.scalar_one()
    result, _, _ = cursor_result(conn)
    with pytest.raises(MultipleResultsFound):
        result.scalar_one_or_none()


def test_fetchone_fetchmany_fetchall(conn: sqlite3.Connection) -> None:
    """The DB-API style fetches walk the rows in order and pass sizes to the cursor."""
    result, cur, closes = cursor_result(conn)
    assert result.fetchone() == (1, "user1", 1)
    assert [r.id for r in result.fetchmany(3)] == [2, 3, 4]
    assert [r.id for r in result.fetchall()] == list(range(5, 11))
    assert cur.calls[:3] == [("fetchone", None), ("fetchmany", 3), ("fetchall", None)]
    assert closes == [1]


def test_fetchmany_default_size_is_cursor_arraysize(conn: sqlite3.Connection) -> None:
    """fetchmany() without a size uses cursor.arraysize when yield_per is unset."""
    result, cur, _ = cursor_result(conn)
    assert len(result.fetchmany()) == cur.arraysize == 1
    assert cur.calls == [("fetchmany", 1)]


def test_fetchmany_bad_sizes(conn: sqlite3.Connection) -> None:
    """fetchmany(0) fetches nothing; negative sizes raise ArgumentError."""
    result, cur, _ = cursor_result(conn)
    assert result.fetchmany(0) == [] and cur.calls == []
    with pytest.raises(ArgumentError, match="positive integer"):
        result.fetchmany(-1)
    with pytest.raises(ArgumentError, match="positive integer"):
        list(result.partitions(0))
    with pytest.raises(ArgumentError, match="yield_per"):
        result.yield_per(0)


def test_fetchmany_releases_when_short(conn: sqlite3.Connection) -> None:
    """A fetchmany that returns fewer rows than asked releases the cursor at once."""
    result, cur, closes = cursor_result(conn)
    assert len(result.fetchmany(8)) == 8 and closes == []
    assert len(result.fetchmany(8)) == 2 and closes == [1]
    assert result.fetchmany(8) == []
    assert cur.names() == ["fetchmany", "fetchmany", "close"]


def test_partitions_sizes(conn: sqlite3.Connection) -> None:
    """partitions(n) yields lists of n rows, the last one shorter, via fetchmany(n)."""
    result, cur, closes = cursor_result(conn)
    parts = list(result.partitions(4))
    assert [len(p) for p in parts] == [4, 4, 2]
    assert [r.id for p in parts for r in p] == list(range(1, 11))
    assert [c for c in cur.calls if c[0] == "fetchmany"] == [("fetchmany", 4)] * 3
    assert closes == [1]
    result, _, _ = cursor_result(conn)
    assert [len(p) for p in result.partitions(5)] == [5, 5]


def test_yield_per_sets_fetchmany_size(conn: sqlite3.Connection) -> None:
    """yield_per(n) makes iteration, partitions() and fetchmany() call cursor.fetchmany(n)."""
    result, cur, closes = cursor_result(conn)
    assert result.yield_per(3) is result
    assert [r.id for r in result] == list(range(1, 11))
    assert cur.calls == [("fetchmany", 3)] * 4 + [("close", None)]
    assert closes == [1]
    result, cur, _ = cursor_result(conn)
    assert [len(p) for p in result.yield_per(3).partitions()] == [3, 3, 3, 1]
    assert {c for c in cur.calls if c[0] == "fetchmany"} == {("fetchmany", 3)}
    result, cur, _ = cursor_result(conn)
    assert len(result.yield_per(6).fetchmany()) == 6 and cur.calls == [("fetchmany", 6)]
    result, cur, _ = cursor_result(conn)
    assert [len(p) for p in result.scalars().yield_per(4).partitions()] == [4, 4, 2]


def test_iteration_reads_in_chunks_and_stops_early(conn: sqlite3.Connection) -> None:
    """Iterating without yield_per reads fetchmany(1000) chunks; breaking early reads no more."""
    conn.execute("CREATE TABLE big (n INTEGER)")
    conn.executemany("INSERT INTO big VALUES (?)", [(i,) for i in range(2500)])
    meta = ResultMetaData(["n"])
    result, cur, closes = cursor_result(conn, "SELECT n FROM big ORDER BY n", meta)
    for row in result:
        assert row.n == 0
        break
    assert cur.calls == [("fetchmany", 1000)] and closes == []
    result, cur, closes = cursor_result(conn, "SELECT n FROM big ORDER BY n", meta)
    assert [r.n for r in result] == list(range(2500))
    assert cur.calls == [("fetchmany", 1000)] * 3 + [("close", None)] and closes == [1]


def test_close_calls_on_close_once(conn: sqlite3.Connection) -> None:
    """close() closes the cursor and calls on_close exactly once, however often it is called."""
    result, cur, closes = cursor_result(conn)
    result.fetchone()
    result.close()
    result.close()
    with result:
        pass
    assert closes == [1] and cur.names().count("close") == 1
    with pytest.raises(ResourceClosedError, match=CLOSED):
        result.fetchone()
    with pytest.raises(ResourceClosedError, match=CLOSED):
        result.first()


def test_context_manager_closes(conn: sqlite3.Connection) -> None:
    """Using a result as a context manager closes it on exit."""
    result, _, closes = cursor_result(conn)
    with result as r:
        assert r.fetchone() is not None
    assert result.closed and closes == [1]


def test_non_row_result(conn: sqlite3.Connection) -> None:
    """A returns_rows=False result releases at once, keeps rowcount and refuses to fetch."""
    closes: list[int] = []
    cur = conn.execute("UPDATE users SET flag = 5 WHERE id < 4")
    result: CursorResult[Any] = CursorResult(
        ResultMetaData([]), cur, on_close=lambda: closes.append(1),
        rowcount=cur.rowcount, lastrowid=cur.lastrowid, returns_rows=False,
    )
    assert closes == [1]
    assert result.rowcount == 3 and not result.returns_rows
    assert list(result.keys()) == []
    for fetch in (result.all, result.first, result.fetchone, result.scalar, result.one,
                  lambda: list(result), lambda: result.scalars().all(),
                  lambda: result.mappings().all()):
        with pytest.raises(ResourceClosedError, match=NO_ROWS):
            fetch()
    assert closes == [1]


def test_insert_attributes(conn: sqlite3.Connection) -> None:
    """lastrowid is kept; inserted_primary_key defaults to None and is settable."""
    cur = conn.execute("INSERT INTO users (name, flag) VALUES ('z', 0)")
    result: CursorResult[Any] = CursorResult(
        ResultMetaData([]), cur, rowcount=cur.rowcount, lastrowid=cur.lastrowid,
        returns_rows=False,
    )
    assert result.lastrowid == 11 and result.rowcount == 1
    assert result.inserted_primary_key is None
    result.inserted_primary_key = (11,)
    assert result.inserted_primary_key == (11,)


def test_buffer_all_releases_cursor_immediately(conn: sqlite3.Connection) -> None:
    """buffer_all=True fetches all rows, closes the cursor and calls on_close in the constructor."""
    result, cur, closes = cursor_result(conn, buffer_all=True)
    assert cur.names() == ["fetchall", "close"] and closes == [1]
    assert result.fetchone() == (1, "user1", 1)
    assert [r.id for r in result.fetchmany(2)] == [2, 3]
    assert [len(p) for p in result.partitions(3)] == [3, 3, 1]
    assert result.all() == []
    assert closes == [1] and cur.names() == ["fetchall", "close"]


def test_keys(conn: sqlite3.Connection) -> None:
    """keys() lists the column keys; `in` also accepts aliases."""
    alias = Col("name")
    meta = ResultMetaData(["id", "name", "flag"], aliases={alias: 1})
    result, _, _ = cursor_result(conn, meta=meta)
    keys = result.keys()
    assert keys == ["id", "name", "flag"] and list(keys) == ["id", "name", "flag"]
    assert len(keys) == 3 and keys[1] == "name"
    assert "flag" in keys and alias in keys and "zzz" not in keys
    assert repr(keys) == "RMKeyView(['id', 'name', 'flag'])"
    assert result.mappings().keys() == ["id", "name", "flag"]


def test_columns_selects_and_reorders(conn: sqlite3.Connection) -> None:
    """columns() keeps the named/indexed/aliased columns in the order given, in place."""
    alias = Col("flag")
    meta = ResultMetaData(["id", "name", "flag"], aliases={alias: 2})
    result, _, _ = cursor_result(conn, meta=meta)
    assert result.columns("name", 0) is result
    row = result.fetchone()
    assert row is not None and row.name == "user1" and row._fields == ("name", "id")
    assert row == ("user1", 1)
    assert result.keys() == ["name", "id"]
    result, _, _ = cursor_result(conn, meta=meta)
    row = result.columns(alias, -3).first()
    assert row is not None and row._mapping[alias] == 1
    assert row == (1, 1)
    result, _, _ = cursor_result(conn, meta=meta)
    assert result.columns("name").scalars().first() == "user1"


def test_columns_errors(conn: sqlite3.Connection) -> None:
    """columns() with an unknown key, a bad index or an ambiguous key raises clearly."""
    result, _, _ = cursor_result(conn)
    with pytest.raises(NoSuchColumnError, match=r"'nope'.*\['id', 'name', 'flag'\]"):
        result.columns("nope")
    with pytest.raises(NoSuchColumnError, match="out of range"):
        result.columns(3)
    dup = ResultMetaData(["id", "id", "flag"])
    result, _, _ = cursor_result(conn, meta=dup)
    with pytest.raises(InvalidRequestError, match="Ambiguous column name 'id'"):
        result.columns("id")
    with pytest.raises(InvalidRequestError, match="Ambiguous column name 'id'"):
        result.scalars("id")
    assert result.columns(1, 2).first() == ("user1", 1)


def test_mappings(conn: sqlite3.Connection) -> None:
    """mappings() yields RowMappings through every fetch method and columns()."""
    result, _, _ = cursor_result(conn)
    mr = result.mappings()
    assert isinstance(mr, MappingResult)
    first = mr.fetchone()
    assert isinstance(first, RowMapping) and first["name"] == "user1"
    assert [m["id"] for m in mr.fetchmany(2)] == [2, 3]
    assert [len(p) for p in mr.partitions(3)] == [3, 3, 1]
    result, _, closes = cursor_result(conn)
    assert result.mappings().columns("flag").first() == {"flag": 1} and closes == [1]
    result, _, _ = cursor_result(conn, "SELECT id, name, flag FROM users WHERE id = 4")
    assert result.mappings().one()["id"] == 4
    result, _, _ = cursor_result(conn)
    assert [m["id"] for m in result.mappings()][:2] == [1, 2]
    result, _, _ = cursor_result(conn)
    assert len(result.mappings().all()) == 10
    result, _, _ = cursor_result(conn, "SELECT id, name, flag FROM users WHERE id < 0")
    assert result.mappings().one_or_none() is None


def test_unique_by_value_and_strategy(conn: sqlite3.Connection) -> None:
    """unique() drops equal rows (or rows with equal strategy(row)), keeping first-seen order."""
    sql = "SELECT flag, flag * 10 FROM users ORDER BY id"
    meta = ResultMetaData(["flag", "ten"])
    result, _, _ = cursor_result(conn, sql, meta)
    assert result.unique() is result
    assert result.all() == [(1, 10), (0, 0)]
    result, _, _ = cursor_result(conn, "SELECT id, flag FROM users ORDER BY id",
                                 ResultMetaData(["id", "flag"]))
    assert result.unique(lambda row: row.flag).all() == [(1, 1), (2, 0)]
    result, _, _ = cursor_result(conn, sql, meta)
    assert result.scalars().unique().all() == [1, 0]
    result, _, _ = cursor_result(conn, sql, meta)
    assert result.unique().scalars(1).all() == [10, 0]
    result, _, _ = cursor_result(conn, "SELECT id, flag FROM users ORDER BY id",
                                 ResultMetaData(["id", "flag"]))
    assert result.scalars().unique(lambda v: v % 3).all() == [1, 2, 3]
    result, _, _ = cursor_result(conn, sql, meta)
    assert result.mappings().unique().all() == [{"flag": 1, "ten": 10}, {"flag": 0, "ten": 0}]
    result, _, _ = cursor_result(conn, sql, meta)
    assert [m["ten"] for m in result.mappings().unique(lambda m: m["flag"])] == [10, 0]


def test_unique_fetchmany_fills_the_batch(conn: sqlite3.Connection) -> None:
    """With unique(), fetchmany(n) keeps fetching until it has n distinct rows or none are left."""
    conn.executemany("INSERT INTO users VALUES (?, ?, ?)", [(i, "dup", 0) for i in range(20, 30)])
    result, _, _ = cursor_result(conn, "SELECT name FROM users ORDER BY id", NAME_ONLY)
    result.unique()
    assert result.fetchmany(3) == [("user1",), ("user2",), ("user3",)]
    assert [len(p) for p in result.partitions(4)] == [4, 4]
    result, _, _ = cursor_result(conn, "SELECT name FROM users ORDER BY id", NAME_ONLY)
    assert result.unique().fetchone() == ("user1",)
    assert len(list(result)) == 10  # user2..user10 + dup


def test_unique_one_skips_duplicates_of_first_row(conn: sqlite3.Connection) -> None:
    """one() with unique() accepts rows that all equal the first, rejects a different one."""
    result, _, _ = cursor_result(conn, "SELECT flag FROM users WHERE flag = 1",
                                 ResultMetaData(["flag"]))
    assert result.unique().one() == (1,)
    result, _, _ = cursor_result(conn, "SELECT flag FROM users", ResultMetaData(["flag"]))
    with pytest.raises(MultipleResultsFound):
        result.unique().one()
    result, _, _ = cursor_result(conn, "SELECT flag FROM users WHERE flag = 1",
                                 ResultMetaData(["flag"]))
    assert result.scalars().unique().one() == 1


def test_tuples_and_t_return_self(conn: sqlite3.Connection) -> None:
    """tuples() and .t return the same result object."""
    result, _, _ = cursor_result(conn)
    assert result.tuples() is result and result.t is result


def test_scalar_result_api(conn: sqlite3.Connection) -> None:
    """ScalarResult offers iteration, fetches, one/first, partitions and close."""
    result, _, closes = cursor_result(conn)
    sr = result.scalars(1)
    assert isinstance(sr, ScalarResult)
    assert sr.fetchmany(2) == ["user1", "user2"]
    assert next(iter(sr)) == "user3"
    sr.close()
    assert sr.closed and result.closed and closes == [1]
    with pytest.raises(ResourceClosedError, match=CLOSED):
        sr.all()
    result, _, _ = cursor_result(conn, "SELECT id, name, flag FROM users WHERE id = 5")
    assert result.scalars().one() == 5
    result, _, _ = cursor_result(conn, "SELECT id, name, flag FROM users WHERE id = 5")
    assert result.scalars().one_or_none() == 5
    result, _, _ = cursor_result(conn)
    assert result.scalars().first() == 1 and result.closed
    result, _, _ = cursor_result(conn)
    assert result.scalars().fetchall() == list(range(1, 11))


def test_scalar_none_values_are_not_end_of_rows(conn: sqlite3.Connection) -> None:
    """A NULL first column is a value: first()/one() return None but iteration continues."""
    conn.execute("UPDATE users SET name = NULL WHERE id = 1")
    result, _, _ = cursor_result(conn, "SELECT name FROM users ORDER BY id",
                                 ResultMetaData(["name"]))
    values = list(result.scalars())
    assert values[0] is None and len(values) == 10


def test_freeze_replays_rows(conn: sqlite3.Connection) -> None:
    """freeze() consumes the rows; each call of the FrozenResult gives a new result over them."""
    meta = ResultMetaData(["id", "name", "flag"], [None, str.upper, None])
    result, _, closes = cursor_result(conn, meta=meta)
    frozen = result.freeze()
    assert isinstance(frozen, FrozenResult) and closes == [1]
    first = frozen()
    assert isinstance(first, Result)
    assert first.all()[0] == (1, "USER1", 1)  # processors not applied twice
    assert frozen().scalars(1).all()[:2] == ["USER1", "USER2"]
    assert frozen().first().name == "USER1"  # type: ignore[union-attr]
    assert frozen.with_new_rows([(9, "n", 0)])().one() == (9, "n", 0)


def test_frozen_result_pickles(conn: sqlite3.Connection) -> None:
    """A FrozenResult (metadata and rows) survives pickling, e.g. for a result cache."""
    meta = ResultMetaData(["id", "name", "flag"], [None, str.upper, None])
    result, _, _ = cursor_result(conn, meta=meta)
    frozen = pickle.loads(pickle.dumps(result.columns("name", "id").freeze()))
    again = frozen().all()
    assert again[0] == ("USER1", 1) and again[0].name == "USER1" and len(again) == 10


def test_sliced_metadata_pickles() -> None:
    """A column-sliced metadata with processors pickles and still reads the wide source rows."""
    meta = ResultMetaData(["a", "b", "c"], [None, str, None])._reduce([1, 0])
    back = pickle.loads(pickle.dumps(meta))
    assert IteratorResult(back, [(1, 2, 3)]).one() == ("2", 1)


def test_merge(conn: sqlite3.Connection) -> None:
    """merge() yields the rows of each result in turn and closes them all."""
    a, _, closes_a = cursor_result(conn, "SELECT id, name, flag FROM users WHERE id <= 2")
    b, _, closes_b = cursor_result(conn, "SELECT id, name, flag FROM users WHERE id = 9")
    merged = a.merge(b)
    assert [r.id for r in merged] == [1, 2, 9]
    assert closes_a == [1] and closes_b == [1]


# ------------------------------------------------------------- IteratorResult


def test_iterator_result_from_list() -> None:
    """IteratorResult wraps Python tuples as Rows and supports the full fetch API."""
    meta = ResultMetaData(["a", "b"])
    closes: list[int] = []
    result: IteratorResult[Any] = IteratorResult(
        meta, [(1, 2), (3, 4), (5, 6)], on_close=lambda: closes.append(1)
    )
    assert result.fetchone() == (1, 2)
    assert result.fetchmany() == [(3, 4), (5, 6)]  # no size, no yield_per: everything left
    assert closes == [1]
    assert result.all() == []
    result.close()
    assert closes == [1]
    with pytest.raises(ResourceClosedError, match=CLOSED):
        result.all()


def test_iterator_result_partitions_default_is_one_batch() -> None:
    """Without size or yield_per an iterator result makes one partition of everything."""
    result: IteratorResult[Any] = IteratorResult(ResultMetaData(["a"]), [(i,) for i in range(5)])
    assert [len(p) for p in result.partitions()] == [5]


def test_iterator_result_closes_generator() -> None:
    """Closing an IteratorResult early closes a generator source (its finally runs)."""
    state: list[str] = []

    def gen() -> Iterator[tuple[int]]:
        try:
            yield from ((i,) for i in range(100))
        finally:
            state.append("closed")

    result: IteratorResult[Any] = IteratorResult(ResultMetaData(["a"]), gen())
    assert result.first() == (0,)
    assert state == ["closed"]


def test_iterator_result_processors() -> None:
    """Processors also apply to IteratorResult rows."""
    result: IteratorResult[Any] = IteratorResult(ResultMetaData(["a", "b"], [None, str]), [(1, 2)])
    assert result.one() == (1, "2")


# ------------------------------------------------------ ChunkedIteratorResult


class ChunkSource:
    """Produces chunks of row tuples lazily and records the size asked and chunks made."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.sizes: list[int | None] = []
        self.produced = 0
        self.finished = False

    def __call__(self, size: int | None) -> Iterator[list[tuple[int]]]:
        self.sizes.append(size)
        step = size or 4
        for start in range(0, self.total, step):
            self.produced += 1
            yield [(i,) for i in range(start, min(start + step, self.total))]
        self.finished = True


def test_chunked_never_reads_more_than_one_chunk_ahead() -> None:
    """Iterating a ChunkedIteratorResult pulls a chunk only when the previous one is used up."""
    source = ChunkSource(10)
    result: ChunkedIteratorResult[Any] = ChunkedIteratorResult(ResultMetaData(["x"]), source)
    result.yield_per(3)
    assert source.sizes == []  # nothing pulled before the first fetch
    seen = 0
    for row in result:
        seen += 1
        assert source.produced == (seen + 2) // 3  # the chunk holding this row, no further
        assert row.x == seen - 1
    assert source.sizes == [3] and source.finished and seen == 10


def test_chunked_fetchmany_and_partitions() -> None:
    """fetchmany/partitions cross chunk borders but never pre-fetch a chunk they do not need."""
    source = ChunkSource(10)
    closes: list[int] = []
    result: ChunkedIteratorResult[Any] = ChunkedIteratorResult(
        ResultMetaData(["x"]), source, on_close=lambda: closes.append(1)
    )
    result.yield_per(4)
    assert [r.x for r in result.fetchmany(2)] == [0, 1] and source.produced == 1
    assert [r.x for r in result.fetchmany(3)] == [2, 3, 4] and source.produced == 2
    assert [v for p in result.scalars().partitions() for v in p] == [5, 6, 7, 8, 9]
    assert closes == [1] and source.sizes == [4]


def test_chunked_partitions_follow_chunks() -> None:
    """scalars().partitions() with yield_per on a chunked result yields one chunk per partition."""
    source = ChunkSource(7)
    result: ChunkedIteratorResult[Any] = ChunkedIteratorResult(ResultMetaData(["x"]), source)
    parts = list(result.yield_per(3).scalars().partitions())
    assert parts == [[0, 1, 2], [3, 4, 5], [6]]
    source = ChunkSource(7)
    result = ChunkedIteratorResult(ResultMetaData(["x"]), source)
    assert [len(p) for p in result.partitions()] == [4, 3]  # no size: chunk by chunk
    assert source.sizes == [None]


def test_chunked_all_one_and_close() -> None:
    """all(), one() and close() work on chunked results; close stops the chunk generator."""
    result: ChunkedIteratorResult[Any] = ChunkedIteratorResult(X_ONLY, ChunkSource(9))
    assert [r.x for r in result.all()] == list(range(9))
    result = ChunkedIteratorResult(ResultMetaData(["x"]), ChunkSource(1))
    assert result.scalar_one() == 0
    source = ChunkSource(100)
    result = ChunkedIteratorResult(ResultMetaData(["x"]), source)
    assert result.fetchone() == (0,)
    result.close()
    assert source.produced == 1 and not source.finished
    with pytest.raises(ResourceClosedError, match=CLOSED):
        result.fetchone()


def test_chunked_skips_empty_chunks() -> None:
    """Empty chunks from the source are skipped, not taken as the end of the rows."""
    def chunks(size: int | None) -> Iterator[list[tuple[int]]]:
        yield []
        yield [(1,)]
        yield []
        yield [(2,)]

    result: ChunkedIteratorResult[Any] = ChunkedIteratorResult(ResultMetaData(["x"]), chunks)
    assert result.scalars().all() == [1, 2]


# ------------------------------------------------------- reference cycles, served aliases


def test_dropped_unread_cursor_result_is_freed_by_refcount(conn: sqlite3.Connection) -> None:
    """A CursorResult holds no reference to itself: dropping it unread frees it and
    its cursor at once, with the garbage collector off."""
    import gc
    import weakref

    gc.disable()
    try:
        cursor = conn.execute("SELECT id FROM users")
        result: CursorResult[Any] = CursorResult(ResultMetaData(["id"]), cursor)
        result_ref, cursor_ref = weakref.ref(result), weakref.ref(cursor)
        del result, cursor
        assert result_ref() is None
        assert cursor_ref() is None
    finally:
        gc.enable()


def test_dropped_chunked_result_is_freed_by_refcount() -> None:
    """ChunkedIteratorResult reads yield_per without a closure over itself."""
    import gc
    import weakref

    sizes: list[int | None] = []

    def chunks(size: int | None) -> Iterator[list[Any]]:
        sizes.append(size)
        yield [(1,), (2,)]

    gc.disable()
    try:
        result: ChunkedIteratorResult[Any] = ChunkedIteratorResult(ResultMetaData(["x"]), chunks)
        assert result.yield_per(5).all() == [(1,), (2,)] and sizes == [5]
        ref = weakref.ref(result)
        del result
        assert ref() is None
    finally:
        gc.enable()


def test_served_column_objects_answer_lookups_while_alive() -> None:
    """_serve makes another statement's column objects lookup keys of the cached
    metadata's rows (mapping, in, scalars, columns, freeze), without a new Row
    class; an entry goes away with its object."""
    own, served = Col("n"), Col("n")
    meta = ResultMetaData(["id", "n"], aliases={own: 1})
    row_cls = meta._row_cls
    meta._serve([None, served], [None, own])
    assert meta._row_cls is row_cls and len(row_cls._served) == 1
    row = IteratorResult(meta, [(1, "a")]).one()
    assert row._mapping[served] == "a" and served in row._mapping
    assert row._mapping[own] == "a"
    assert IteratorResult(meta, [(1, "a")]).scalars(served).all() == ["a"]
    narrowed = IteratorResult(meta, [(1, "a")]).columns(served)
    assert narrowed.one()._mapping[served] == "a"
    frozen = IteratorResult(meta, [(1, "a")]).freeze()
    assert frozen().one()._mapping[served] == "a"
    with pytest.raises(NoSuchColumnError):
        IteratorResult(meta, [(1, "a")]).one()._mapping[Col("n")]


def test_served_column_objects_are_held_weakly() -> None:
    """A served object's entry is dropped when the object dies."""
    own, served = Col("n"), Col("n")
    meta = ResultMetaData(["n"], aliases={own: 0})
    meta._serve([served], [own])
    assert IteratorResult(meta, [("a",)]).one()._mapping[served] == "a"
    assert len(meta._row_cls._served) == 1
    del served
    assert len(meta._row_cls._served) == 0


def test_served_object_at_two_positions_is_ambiguous() -> None:
    """One object served at two different positions raises rather than guess."""
    a, b, twice = Col("a"), Col("b"), Col("t")
    meta = ResultMetaData(["a", "b"], aliases={a: 0, b: 1})
    meta._serve([twice, b], [a, b])
    meta._serve([a, twice], [a, b])
    row = IteratorResult(meta, [(1, 2)]).one()
    with pytest.raises(InvalidRequestError, match="Ambiguous"):
        row._mapping[twice]
