"""The statement compiler's foundation: compile state, dispatch, invented names.

The SQL compiler is one class assembled from a short chain of real
subclasses, one module per concern (the public class and the parameter plan
are documented in :mod:`docket.sql.compiler`)::

    CompilerBase                            compiler_base.py    state, dispatch, names, scopes
    SelectCompiler(CompilerBase)            compiler_select.py  FROM objects, SELECT, CTEs
    DMLCompiler(CompilerBase)               compiler_dml.py     INSERT/UPDATE/DELETE, RETURNING
    Compiled(SelectCompiler, DMLCompiler)   compiler.py         binds, literals, parameters,
                                                                expressions
    SQLCompiler = Compiled; dialects subclass it and override single methods

Subclasses rather than free-standing mixins because each part then
type-checks against the one class that owns the state it reads (no
attribute stubs repeated per mixin), and the modules import each other in
one direction only: base <- select, dml <- compiler.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from docket import exc
from docket.sql import elements as el
from docket.sql import types as sqltypes
from docket.sql.dialect import Dialect
from docket.sql.selectable import Alias, TableClause

if TYPE_CHECKING:
    from docket.sql.schema import Column
    from docket.sql.selectable import FromClause

__all__ = ["CompilerBase"]

# ``column_keys`` not given at all: a display compile (``str(stmt)``); an INSERT
# without values() then lists every column, as SQLAlchemy prints it
_DISPLAY: Any = object()


class CompilerBase:
    """Compiles ``statement`` for ``dialect`` on construction.

    Holds the state all parts of the compiler share; the attributes are
    documented on :class:`docket.sql.compiler.Compiled`.  It renders nothing
    itself: the ``visit_*`` methods :meth:`process` dispatches to are defined
    by the subclasses.
    """

    string: str
    positiontup: list[str] | None

    def __init__(self, dialect: Dialect, statement: el.ClauseElement, **kw: Any) -> None:
        self.dialect = dialect
        self.statement = statement
        column_keys = kw.pop("column_keys", _DISPLAY)
        # display compiles of an INSERT without values() list every column
        self._insert_all_columns = column_keys is _DISPLAY
        self.column_keys: frozenset[str] | None = (
            None if column_keys is _DISPLAY or column_keys is None else frozenset(column_keys)
        )
        self.for_executemany: bool = kw.pop("for_executemany", False)
        self.compile_kwargs: dict[str, Any] = kw.pop("compile_kwargs", {}) or {}
        self.literal_binds: bool = bool(
            kw.pop("literal_binds", False) or self.compile_kwargs.get("literal_binds", False)
        )
        self.binds: dict[str, el.BindParameter] = {}
        self.bind_names: dict[el.BindParameter, str] = {}
        self._keys_used: dict[str, str] = {}  # non-unique bind key -> name
        self._anon_counts: dict[str, int] = {}
        self._reserved: set[str] = set()  # invented label names
        self._from_names: dict[int, tuple[Any, str]] = {}  # id(anon FROM) -> (obj, name)
        self.positiontup = [] if dialect.positional else None
        self.result_columns: list[tuple[str | None, sqltypes.TypeEngine]] = []
        self.result_column_objects: list[Any] = []
        self.returning: list[el.ColumnElement] = []
        self.implicit_returning: list[Column] = []
        self.prefetch: list[tuple[str, Column, bool]] = []
        self.postfetch: list[Column] = []
        self.isinsert = self.isupdate = self.isdelete = self.isselect = self.isddl = False
        self.has_expanding = False
        # CTEs: name -> rendered ``name AS (...)`` in dependency order; the
        # placeholders of each body (positional styles) kept apart, because
        # the WITH clause precedes the statement that mentions it
        self._ctes: dict[str, str] = {}
        self._cte_roots: dict[str, Any] = {}
        self._cte_pending: set[str] = set()
        self._cte_positions: dict[str, list[str]] = {}
        self._cte_recursive = False
        # one frame per enclosing SELECT/UPDATE/DELETE: its FROM list (for
        # correlation) and, for a SELECT, its exported columns
        self._stack: list[dict[str, Any]] = []
        self._dispatch: dict[type, Callable[..., str]] = {}
        body = self.process(statement, toplevel=True, **self.compile_kwargs)
        if self._ctes:
            body = (
                ("WITH RECURSIVE " if self._cte_recursive else "WITH ")
                + ", ".join(self._ctes.values())
                + " "
                + body
            )
            if self.positiontup is not None:
                ordered = [n for name in self._ctes for n in self._cte_positions.get(name, ())]
                self.positiontup = ordered + self.positiontup
                if dialect.paramstyle == "numeric":
                    body = _renumber(body)
        self.string = body
        key, key_binds = statement._generate_cache_key()
        self._cache_key = key
        self._key_bind_names = [self.bind_names.get(b) for b in key_binds]
        self._bind_processors = {
            name: proc
            for name, b in self.binds.items()
            if (proc := b.type._cached_bind_processor(dialect)) is not None
        }
        self._result_processors = [
            t._cached_result_processor(dialect, None) for _, t in self.result_columns
        ]

    # -- dispatch ---------------------------------------------------------------
    def process(self, element: Any, **kw: Any) -> str:
        """Render ``element`` (dispatching on its ``__visit_name__``)."""
        fn = self._dispatch.get(type(element))
        if fn is None:
            name = getattr(element, "__visit_name__", None)
            fn = getattr(self, f"visit_{name}", None) if name else None
            if fn is None:
                ce = getattr(element, "__clause_element__", None)
                if ce is not None:
                    return self.process(ce(), **kw)
                raise exc.UnsupportedCompilationError(
                    f"Compiler {type(self).__name__} can't render element of type "
                    f"{type(element).__name__} ({element!r}); the {self.dialect.name} dialect "
                    "has no visit method for it."
                )
            self._dispatch[type(element)] = fn
        return fn(element, **kw)

    def __str__(self) -> str:
        return self.string

    @property
    def params(self) -> dict[str, Any]:
        """Bind names and their values as compiled."""
        return {name: b.effective_value() for name, b in self.binds.items()}

    @property
    def positional(self) -> bool:
        return self.positiontup is not None

    # -- names ---------------------------------------------------------------------
    def _bind_name(self, bind: el.BindParameter) -> str:
        name = self.bind_names.get(bind)
        if name is not None:
            return name
        base = re.sub(r"\W", "_", bind.key) or "param"
        if not bind.unique:
            name = self._keys_used.get(bind.key)
            if name is None:
                name = base
                if name in self.binds or name in self._reserved:
                    name = self._anon_name(base)
                self._keys_used[bind.key] = name
        else:
            name = self._anon_name(base)
        self.bind_names[bind] = name
        self.binds.setdefault(name, bind)
        return name

    def _anon_name(self, base: str) -> str:
        """``base_N``: the next number for ``base`` not used by a bind or label."""
        n = self._anon_counts.get(base, 0)
        used = self._keys_used.values()
        while True:
            n += 1
            candidate = f"{base}_{n}"
            if candidate not in self.binds and candidate not in self._reserved and (
                candidate not in used
            ):
                self._anon_counts[base] = n
                self._reserved.add(candidate)
                return candidate

    def _from_name(self, alias: Alias) -> str:
        """An alias's SQL name; anonymous ones are numbered per compilation
        (``users_1`` for a table, ``anon_1`` for a subquery or CTE)."""
        if not alias._anonymous:
            return alias.name  # type: ignore[return-value]
        root: Any = alias
        while getattr(root, "_restates", None) is not None:
            root = root._restates
        entry = self._from_names.get(id(root))
        if entry is None:
            inner = root.element
            base = inner.name if isinstance(inner, TableClause) else "anon"
            entry = self._from_names[id(root)] = (root, self._anon_name(base or "anon"))
        return entry[1]

    def _q(self, ident: str) -> str:
        return self.dialect.quote(ident)

    def _placeholder(self, name: str) -> str:
        if self.positiontup is not None:
            self.positiontup.append(name)
            return self.dialect.placeholder(name, len(self.positiontup))
        return self.dialect.placeholder(name, 0)

    # -- scopes -------------------------------------------------------------------
    def _push_frame(self, froms: Sequence[FromClause], **extra: Any) -> None:
        ids = {id(x) for f in froms for x in f._from_objects}
        outer = self._stack[-1]["all_froms"] if self._stack else set()
        self._stack.append({"froms": ids, "all_froms": outer | ids, **extra})

    def _where_text(self, where: Sequence[el.ColumnElement], **kw: Any) -> str:
        if not where:
            return ""
        text = self.process(el.and_(*where), **kw)
        return " WHERE " + text if text else ""


def _renumber(sql: str) -> str:
    counter = [0]

    def repl(m: re.Match[str]) -> str:
        counter[0] += 1
        return f":{counter[0]}"

    return re.sub(r"(?<![:\w]):\d+", repl, sql)


def _strip(kw: dict[str, Any]) -> dict[str, Any]:
    """Keyword arguments that must not leak into a nested statement."""
    return {
        k: v for k, v in kw.items()
        if k not in ("toplevel", "asfrom", "subquery", "nested", "include_table",
                     "order_by_columns")
    }


def _result_key(col: Any, key: str | None) -> str | None:
    """The key a result row exposes a column under: a label's name, a
    column's key (its de-duplicated name when repeated), else the column's
    exported name."""
    if isinstance(col, el.Label):
        return col.name
    if isinstance(col, el.ColumnClause):
        return col.key if key == col.name else key
    k = getattr(col, "key", None)
    return k if isinstance(k, str) and not isinstance(col, el.BindParameter) else key
