"""Assert the exact SQL a block of code sent, statement by statement.

Works on what a :class:`~docket.testing.fake.Recorder` logged::

    with recorder.capture() as calls:
        session.flush()
    assert_sql(calls, [
        "INSERT INTO users (name) VALUES (?)",                 # params not checked
        SQL("UPDATE users SET name=? WHERE users.id = ?", [("a", 1), ("b", 2)]),
        AllOf("DELETE FROM a WHERE a.id = ?", "DELETE FROM b WHERE b.id = ?"),
    ], ignore_transaction=True)

Expected entries are strings, ``(sql, params)`` tuples, :class:`SQL`
(optionally for one dialect only) or :class:`AllOf` (a group in any order).
``expected`` may also be a mapping ``{"sqlite": [...], "postgresql": [...]}``
picked by dialect name.  SQL text is compared with runs of whitespace
collapsed; parameters exactly, except that :data:`ANY` matches anything
(as a whole or as one value inside a row).  On a mismatch the
AssertionError shows where the sequences part and a full diff.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from docket.testing.fake import Call, CallLog, Recorder

__all__ = ["ANY", "AllOf", "SQL", "assert_sql", "assert_sql_execution", "assert_statement_count"]


class _Any:
    """Matches any value (``params=ANY`` or one value of a row)."""

    __slots__ = ()

    def __eq__(self, other: object) -> bool:
        return True

    def __hash__(self) -> int:
        return 0

    def __repr__(self) -> str:
        return "ANY"


#: wildcard for parameters (all of them, or one value)
ANY: Any = _Any()

_WS = re.compile(r"\s+")


def _norm_sql(sql: str) -> str:
    return _WS.sub(" ", sql).strip()


class SQL:
    """One expected statement.

    Args:
        sql: the exact SQL text (whitespace runs are insignificant).
        params: the parameters -- a tuple / dict for one execute, a list of
            them for executemany -- or :data:`ANY` (the default: not checked).
        many: require (True) or forbid (False) executemany; by default implied
            by ``params`` being a list, else not checked.
        dialect: only expected on this dialect (``"sqlite"``, ``"postgresql"``);
            skipped on others.
    """

    def __init__(self, sql: str, params: Any = ANY, *, many: bool | None = None,
                 dialect: str | None = None) -> None:
        self.sql = sql
        self.params = params
        if many is None and isinstance(params, list):
            many = True
        self.many = many
        self.dialect = dialect

    def matches(self, sql: str, params: Any, many: bool) -> bool:
        if _norm_sql(sql) != _norm_sql(self.sql):
            return False
        if self.many is not None and self.many != many:
            return False
        return _params_equal(self.params, params)

    def render(self) -> str:
        text = _norm_sql(self.sql)
        if self.params is not ANY:
            text += f"  {'many ' if self.many else ''}{self.params!r}"
        elif self.many:
            text += "  many"
        return text

    def __repr__(self) -> str:
        return f"SQL({self.render()!r})"


class AllOf:
    """Statements expected next, in any order among themselves.

    Args:
        *items: each a string, ``(sql, params)`` tuple or :class:`SQL`.
    """

    def __init__(self, *items: Any) -> None:
        self.items = [_coerce(i) for i in items]

    def __repr__(self) -> str:
        return f"AllOf({', '.join(map(repr, self.items))})"


def _coerce(item: Any) -> SQL:
    if isinstance(item, SQL):
        return item
    if isinstance(item, str):
        return SQL(item)
    if isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str):
        return SQL(item[0], item[1])
    raise TypeError(
        f"assert_sql: can't use {item!r} as an expected statement; give a string, an "
        "(sql, params) tuple, SQL(...) or AllOf(...)."
    )


def _params_equal(expected: Any, actual: Any) -> bool:
    if expected is ANY:
        return True
    if isinstance(expected, Mapping):
        if not isinstance(actual, Mapping) or set(expected) != set(actual):
            return False
        return all(_params_equal(expected[k], actual[k]) for k in expected)
    if isinstance(expected, (list, tuple)):
        if not isinstance(actual, (list, tuple)) or len(expected) != len(actual):
            return False
        return all(_params_equal(e, a) for e, a in zip(expected, actual))
    return bool(expected == actual)


def _actual_calls(source: Recorder | Iterable[Any]) -> list[Call]:
    items = source.calls if isinstance(source, Recorder) else source
    out: list[Call] = []
    for c in items:
        if isinstance(c, Call):
            out.append(c)
        else:  # (sql, params, many) tuples
            sql, params, many = c
            out.append(Call("executemany" if many else "execute", sql, params))
    return out


def _render_actual(c: Call) -> str:
    text = _norm_sql(c.sql)
    if c.params is not None:
        text += f"  {'many ' if c.many else ''}{c.params!r}"
    if c.error is not None:
        text += f"  -> raised {type(c.error).__name__}"
    return text


def _select(expected: Any, dialect: str | None) -> list[Any]:
    if isinstance(expected, Mapping):
        if dialect is None:
            raise ValueError(
                "assert_sql: expected SQL is given per dialect but no dialect is known; "
                "pass dialect='sqlite' / 'postgresql' or a Recorder from recording_engine()."
            )
        if dialect not in expected:
            raise KeyError(f"assert_sql: no expected SQL for dialect {dialect!r} "
                           f"(have {sorted(expected)})")
        expected = expected[dialect]
    out: list[Any] = []
    for item in expected:
        if isinstance(item, AllOf):
            kept = [i for i in item.items if i.dialect in (None, dialect)]
            if kept:
                group = AllOf()
                group.items = kept
                out.append(group)
            continue
        sql = _coerce(item)
        if sql.dialect in (None, dialect):
            out.append(sql)
    return out


def assert_sql(source: Recorder | Iterable[Any], expected: Sequence[Any] | Mapping[str, Any],
               *, dialect: str | None = None, ignore_transaction: bool = False) -> None:
    """Check that ``source`` holds exactly the ``expected`` statements, in order.

    Args:
        source: a Recorder, a ``capture()`` log, or ``(sql, params, many)`` tuples.
        expected: statements (see the module docstring), or a mapping of
            dialect name to statements.
        dialect: which dialect's entries apply; defaults to the Recorder's.
        ignore_transaction: leave BEGIN / COMMIT / ROLLBACK / SAVEPOINT /
            RELEASE (SQL or connection methods) out of the comparison.

    Raises:
        AssertionError: the sequences differ; the message shows the first
            difference and a full diff (``-`` expected, ``+`` actual).
    """
    if dialect is None and isinstance(source, Recorder):
        dialect = source.dialect_name
    calls = _actual_calls(source)
    if ignore_transaction:
        calls = [c for c in calls if not c.is_transaction_control]
    else:
        calls = [c for c in calls if c.is_statement or c.kind in ("commit", "rollback")]
    wanted = _select(expected, dialect)
    problem = _match(wanted, calls)
    if problem is None:
        return
    exp_lines: list[str] = []
    for item in wanted:
        if isinstance(item, AllOf):
            exp_lines += [f"(any order) {i.render()}" for i in item.items]
        else:
            exp_lines.append(item.render())
    act_lines = [_render_actual(c) for c in calls]
    diff = "\n".join(
        difflib.unified_diff(exp_lines, act_lines, "expected", "actual", lineterm="", n=2)
    )
    where = f" on {dialect}" if dialect else ""
    raise AssertionError(
        f"SQL sequence mismatch{where}"
        f"{' (transaction control ignored)' if ignore_transaction else ''}: {problem}\n"
        f"{diff}"
    )


def _match(wanted: list[Any], calls: list[Call]) -> str | None:
    """None when ``calls`` match ``wanted``; else a description of the first difference."""
    pos = 0
    for n, item in enumerate(wanted):
        group = item.items if isinstance(item, AllOf) else [item]
        remaining = list(group)
        while remaining:
            if pos >= len(calls):
                return (f"expected statement #{n} ({remaining[0].render()}) but no more "
                        f"statements were sent ({len(calls)} in all)")
            c = calls[pos]
            hit = next((r for r in remaining if r.matches(c.sql, c.params, c.many)), None)
            if hit is None:
                want = remaining[0].render() if len(remaining) == 1 else (
                    "one of " + "; ".join(r.render() for r in remaining))
                return (f"statement #{pos} differs\n  expected: {want}\n"
                        f"  actual:   {_render_actual(c)}")
            remaining.remove(hit)
            pos += 1
    if pos < len(calls):
        return (f"{len(calls) - pos} unexpected statement(s) after the expected ones, "
                f"starting with #{pos}: {_render_actual(calls[pos])}")
    return None


def assert_sql_execution(recorder: Recorder, fn: Callable[[], Any],
                         expected: Sequence[Any] | Mapping[str, Any], *,
                         ignore_transaction: bool = False) -> Any:
    """Run ``fn()`` while capturing, assert its SQL, and return its result.

    Raises:
        AssertionError: see :func:`assert_sql`.
    """
    with recorder.capture() as calls:
        result = fn()
    assert_sql(calls, expected, dialect=recorder.dialect_name,
               ignore_transaction=ignore_transaction)
    return result


def assert_statement_count(source: Recorder | CallLog | Iterable[Any], count: int, *,
                           ignore_transaction: bool = True) -> None:
    """Check how many statements ``source`` holds.

    Raises:
        AssertionError: a different number was sent; the message lists them.
    """
    calls = [c for c in _actual_calls(source) if c.is_statement]
    if ignore_transaction:
        calls = [c for c in calls if not c.is_transaction_control]
    if len(calls) != count:
        listing = "\n".join(f"  #{i} {_render_actual(c)}" for i, c in enumerate(calls))
        raise AssertionError(f"expected {count} statement(s), {len(calls)} were sent:\n{listing}")
