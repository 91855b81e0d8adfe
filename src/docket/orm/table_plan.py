"""What a flush needs to write one mapper's table on one dialect, worked out
once (:class:`TablePlan`), and how its statements are run: driver
parameters, events and error wrapping that names the objects being flushed
and, for a failed statement, the attribute values that don't fit their
columns.  Used by :mod:`docket.orm.persistence`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from numbers import Number
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from docket import exc
from docket.orm.state import InstanceState
from docket.sql.elements import ClauseElement
from docket.sql.schema import Column
from docket.sql.schema import Sequence as SchemaSequence

if TYPE_CHECKING:
    from docket.orm.mapper import Mapper

__all__ = ["TablePlan", "plan_for", "run_core", "run_statement", "state_str", "states_str"]

# how a column gets its value when an INSERT (or UPDATE, for onupdate) has none
PLAIN_COL = 0   # NULL
SCALAR = 1      # Python scalar default
CALLABLE = 2    # Python callable default (context-aware or not)
SQL = 3         # SQL expression without bind params, rendered into the cached SQL
CORE = 4        # SQL expression with bind params: the row goes through Core
SERVER = 5      # the database generates it (server default, autoincrement, identity)
VERSION = 6     # version_id_col counter (Python side)


def state_str(state: InstanceState) -> str:
    """``<User at 0x7f.. id=5>`` -- an object in error messages, never its repr()."""
    obj = state()
    where = f"0x{id(obj):x}" if obj is not None else "(gone)"
    ident = state.identity
    if ident is not None:
        keys = state.mapper._pk_keys
        shown = " ".join(f"{k}={v!r}" for k, v in zip(keys, ident))
        return f"<{state.mapper.class_.__name__} at {where} {shown}>"
    return f"<{state.mapper.class_.__name__} at {where} (pending)>"


def states_str(states: Sequence[InstanceState]) -> str:
    shown = ", ".join(state_str(s) for s in states[:5])
    return shown + (f" and {len(states) - 5} more" if len(states) > 5 else "")


class TablePlan:
    """Per-(mapper, dialect) facts about writing the mapper's table; built once.

    Invariants: ``columns`` lists every writable column of the table in table
    order; ``insert_kinds``/``onupdate_kinds`` hold a kind code per column
    (module constants); ``sql_cache`` maps a statement shape to its SQL.
    """

    def __init__(self, mapper: Mapper, dialect: Any) -> None:
        table = mapper.local_table
        self.mapper = mapper
        self.table = table
        self.dialect = dialect
        self.q_table = dialect.format_table(table)
        self.positional = dialect.positional
        self.columns: list[tuple[str, Column]] = [
            (key, col) for key, col in mapper._key_to_col.items()
            if isinstance(col, Column) and col.table is table
            and mapper._props[key].is_writable  # type: ignore[attr-defined]
        ]
        self.key_to_col = dict(self.columns)
        self.col_index = {key: i for i, (key, _col) in enumerate(self.columns)}
        key_of = {col: key for key, col in self.columns}
        self.pk_keys: tuple[str, ...] = tuple(mapper._pk_keys)
        self.pk_cols = [mapper._key_to_col[k] for k in self.pk_keys]
        autoinc = getattr(table, "autoincrement_column", None)
        self.autoinc_key = key_of.get(autoinc) if autoinc is not None else None
        self.bind_procs = {
            key: p for key, col in self.columns
            if (p := col.type._cached_bind_processor(dialect)) is not None
        }
        self.result_procs = {
            key: p for key, col in self.columns
            if (p := col.type._cached_result_processor(dialect, None)) is not None
        }
        self.insert_returning = bool(dialect.insert_returning)
        self.update_returning = bool(dialect.update_returning)
        # generated primary keys: RETURNING where the dialect prefers it, else lastrowid
        self.pk_by_returning = self.insert_returning and bool(dialect.implicit_returning)
        eager = mapper.eager_defaults
        self.eager_insert = eager is True or (eager == "auto" and self.insert_returning)
        self.eager_update = eager is True
        self.version_key = mapper._version_key
        self.version_gen = mapper.version_id_generator
        self.sql_fragments: dict[str, str] = {}   # key -> rendered default / onupdate SQL
        self.core_exprs: dict[str, Any] = {}      # key -> default expression with binds
        self.onupdate_fragments: dict[str, str] = {}
        self.onupdate_core: dict[str, Any] = {}
        self.insert_kinds: list[tuple[str, int]] = [
            (key, self._insert_kind(key, col)) for key, col in self.columns
        ]
        self.onupdate_kinds: list[tuple[str, int]] = [
            (key, kind) for key, col in self.columns
            if (kind := self._onupdate_kind(key, col)) != PLAIN_COL
        ]
        self.sql_cache: dict[Any, str] = {}
        # the common table -- a generated integer key, every other column written as
        # given: (those keys in table order, the key, a getter of their values)
        self.fast_insert: tuple[tuple[str, ...], str, Callable[[Any], tuple[Any, ...]]] | None
        self.fast_insert = None
        kinds = dict(self.insert_kinds)
        pk = self.autoinc_key
        if pk is not None and self.pk_keys == (pk,) and kinds.get(pk) == SERVER:
            fkeys = tuple(k for k, kind in self.insert_kinds if k != pk)
            if fkeys and all(kinds[k] == PLAIN_COL for k in fkeys):
                get: Any = itemgetter(*fkeys)
                if len(fkeys) == 1:
                    get = (lambda g: lambda d: (g(d),))(get)
                self.fast_insert = (fkeys, pk, get)

    def _render(self, expr: Any) -> str | None:
        compiled = expr.compile(dialect=self.dialect)
        return None if compiled.params else str(compiled.string)

    def _insert_kind(self, key: str, col: Column) -> int:
        default = col.default
        if key == self.version_key and default is None:
            return SERVER if self.version_gen is False else VERSION
        if isinstance(default, SchemaSequence):
            if self.dialect.supports_sequences:
                self.sql_fragments[key] = self._render(default.next_value()) or ""
                return SQL
            return SERVER if key == self.autoinc_key else PLAIN_COL
        if default is not None:
            if default.is_clause_element:
                fragment = self._render(default.arg)
                if fragment is None:
                    self.core_exprs[key] = default.arg
                    return CORE
                self.sql_fragments[key] = fragment
                return SQL
            return CALLABLE if default.is_callable else SCALAR
        if (col.server_default is not None or key == self.autoinc_key
                or col.identity is not None or col.computed is not None):
            return SERVER
        return PLAIN_COL

    def _onupdate_kind(self, key: str, col: Column) -> int:
        onupdate = col.onupdate
        if onupdate is not None:
            if onupdate.is_clause_element:
                fragment = self._render(onupdate.arg)
                if fragment is None:
                    self.onupdate_core[key] = onupdate.arg
                    return CORE
                self.onupdate_fragments[key] = fragment
                return SQL
            return CALLABLE if onupdate.is_callable else SCALAR
        if col.server_onupdate is not None or col.computed is not None:
            return SERVER
        return PLAIN_COL

    def quote(self, key: str) -> str:
        return str(self.dialect.quote(self.key_to_col[key].name))

    def qualified(self, key: str) -> str:
        return f"{self.q_table}.{self.quote(key)}"

    def placeholders(self, n: int) -> list[str]:
        return [self.dialect.placeholder(f"p{i}", i) for i in range(1, n + 1)]

    def bind_indexes(self, keys: Sequence[str]) -> list[tuple[int, Any]]:
        procs = self.bind_procs
        return [(i, procs[k]) for i, k in enumerate(keys) if k in procs]


def plan_for(mapper: Mapper, dialect: Any) -> TablePlan:
    cache = mapper._persistence_cache
    plan = cache.get(dialect)
    if plan is None:
        plan = cache[dialect] = TablePlan(mapper, dialect)
    return plan


def driver_params(plan: TablePlan, row: Any) -> Any:
    """Positional tuple -> the driver's form (a dict for named paramstyles)."""
    if plan.positional:
        return row
    return {f"p{i}": v for i, v in enumerate(row, 1)}


def run_statement(conn: Any, plan: TablePlan, sql: str, params: Any, many: bool,
         states: Sequence[InstanceState], returning: bool = False) -> Any:
    """Execute with events and error wrapping; name the objects on failure.
    ``many`` and ``returning``: the rows of every parameter set, in order."""
    if not plan.positional:
        params = ([driver_params(plan, p) for p in params] if many
                  else driver_params(plan, params))
    try:
        return conn._cursor_execute(sql, params, None, many, returning)
    except exc.DocketError as e:
        suspects = suspect_values(plan, states)
        if suspects:
            e.add_detail(f"[values that may be the cause: {suspects}]")
        e.add_detail(f"[while flushing: {states_str(states)}]")
        raise


def suspect_values(plan: TablePlan, states: Sequence[InstanceState]) -> str:
    """After a failed statement: the attributes whose values don't fit their column
    (not the column type's Python type, or an int beyond 64 bits), so the error can
    say which attribute to fix.  Runs only on the error path."""
    found: list[str] = []
    for state in states[:20]:
        obj = state()
        if obj is None:
            continue
        d = obj.__dict__
        for key, col in plan.columns:
            v = d.get(key)
            if v is None or isinstance(v, ClauseElement):
                continue
            try:  # a diagnosis only: never let it mask the error being reported
                expected: type | None = col.type.python_type
                if isinstance(v, int) and not -(2**63) <= v < 2**63:
                    why = "out of the 64-bit integer range"
                elif expected is not None and not isinstance(v, expected) and not (
                        issubclass(expected, Number) and isinstance(v, Number)):
                    why = f"expected {expected.__name__}"
                else:
                    continue
            except Exception:
                continue
            shown = repr(v)
            if len(shown) > 60:
                shown = shown[:57] + "..."
            found.append(f"{plan.mapper.class_.__name__}.{key} = {shown} "
                         f"({type(v).__name__}; {why} for column {col.name!r})")
            if len(found) >= 5:
                return "; ".join(found)
    return "; ".join(found)


def run_core(conn: Any, stmt: Any, state: InstanceState) -> Any:
    try:
        return conn.execute(stmt)
    except exc.DocketError as e:
        e.add_detail(f"[while flushing: {state_str(state)}]")
        raise
