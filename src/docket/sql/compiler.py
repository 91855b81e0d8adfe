"""The SQL compiler: statement tree -> SQL string + parameter plan.

One compiler serves every dialect; a dialect subclasses it and overrides
only the ``visit_*`` / ``render_*`` methods where its SQL differs.  Output is
rendered directly in the driver's paramstyle.

A :class:`Compiled` is immutable after construction and is what the engine
caches per statement shape.  Its parameter plan:

* ``binds`` -- bind name -> BindParameter (the compiled statement's own);
* ``positiontup`` -- bind names in placeholder order (positional styles);
* ``_key_bind_names`` -- for the i-th bind found while generating the
  statement's cache key, the name it compiled to.  A different statement
  with the same cache key supplies its values by that position
  (``construct_params(params, extracted)``).

Names the compiler invents -- anonymous labels (``count_1``, ``anon_1``),
anonymous aliases (``users_1``, ``anon_1``) and unique bind names
(``name_1``) -- are numbered per compilation in order of first use, so equal
shapes compile to equal SQL.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from docket import exc
from docket.sql import elements as el
from docket.sql import operators as ops
from docket.sql import types as sqltypes
from docket.sql.dialect import Dialect
from docket.sql.functions import Function
from docket.sql.selectable import (
    CTE,
    Alias,
    CompoundSelect,
    Exists,
    FromClause,
    Join,
    Select,
    TableClause,
    _exported,
)

if TYPE_CHECKING:
    from docket.sql.schema import Column

__all__ = ["Compiled", "SQLCompiler"]

_EXPAND_RE = re.compile(r"__\[EXPAND_(\w+?)\]__")
_TEXT_BIND_RE = re.compile(r"(?<![:\w\\]):(\w+)(?!:)")
_TEXT_ESCAPED_COLON = re.compile(r"\\:")
_LEGAL_FUNCTION_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*$")
# ``column_keys`` not given at all: a display compile (``str(stmt)``); an INSERT
# without values() then lists every column, as SQLAlchemy prints it
_DISPLAY: Any = object()


class Compiled:
    """A compiled statement; see the module docstring for the parameter plan.

    Attributes:
        string: the SQL text.
        positiontup: placeholder order for positional paramstyles, else None.
        result_columns: ``(key, type)`` per result column (SELECT / RETURNING).
        result_column_objects: the expression behind each result column.
        returning: the RETURNING expressions (explicit or implicit).
        implicit_returning: primary-key columns fetched by an implicit RETURNING.
        prefetch: ``(bind name, Column, for_update)`` for Python-side defaults
            the engine computes per parameter set (when the set omits them).
        postfetch: columns the server fills that were not returned.
    """

    string: str
    positiontup: list[str] | None
    #: ``string`` split at IN-list markers: text, bind name, text, ..., text
    #: (computed at the first ``expand()``)
    _expand_pieces: tuple[str, ...] | None = None

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

    # -- execution-time parameter plan ---------------------------------------------
    def construct_params(
        self,
        params: dict[str, Any] | None = None,
        extracted: Sequence[el.BindParameter] | None = None,
        _check: bool = True,
        _group: int | None = None,
    ) -> dict[str, Any]:
        """Values by bind name: the statement's own (or ``extracted`` from an
        equal-shaped statement), overridden by ``params``.

        ``params`` keys are bind keys for named (non-unique) binds --
        ``bindparam("x")``, the columns of an INSERT/UPDATE -- or compiled
        names (``name_1``) for any bind.  A bind with a Python-side default
        (``prefetch``) may be missing: the engine computes it.

        Args:
            params: one parameter dict.
            extracted: the binds of an equal-shaped statement this serves.
            _group: the dict's position in an executemany (for the message).

        Raises:
            StatementError: a required parameter has no value.
        """
        values: dict[str, Any] = {}
        if extracted is not None:
            own: dict[str, el.BindParameter] = {}
            for name, b in zip(self._key_bind_names, extracted):
                if name is not None:
                    own[name] = b
        else:
            own = self.binds
        prefetched = {n for n, _c, _u in self.prefetch} if self.prefetch else ()
        for name, b in self.binds.items():
            src = own.get(name, b)
            if params is not None and not b.unique and b.key in params:
                values[name] = params[b.key]
            elif params is not None and name in params:
                values[name] = params[name]
            elif src.callable is not None:
                values[name] = src.callable()
            elif src.required and _check:
                if name in prefetched:
                    continue
                if _group is not None:
                    msg = (f"A value is required for bind parameter {b.key!r}, in parameter "
                           f"group {_group}; every dict of an executemany must give the keys "
                           "the first one gives (unless the column has a Python default).")
                else:
                    msg = (f"A value is required for bind parameter {b.key!r}; pass it in "
                           "the execute() parameters.")
                raise exc.StatementError(msg, self.string, params, None)
            else:
                values[name] = src.value
        return values

    def expand(self, values: dict[str, Any]) -> tuple[str, list[str] | None, dict[str, Any]]:
        """Render expanding (IN-list) parameters for these values.

        Returns the SQL, the placeholder order (positional styles) and the
        values with each list replaced by one entry per element.  Rows of a
        ``tuple_(...).in_()`` are passed through each position's bind
        processor here; plain lists arrive already processed.
        """
        values = dict(values)
        pieces = self._expand_pieces
        if pieces is None:  # split once per Compiled, not per execution
            pieces = self._expand_pieces = tuple(_EXPAND_RE.split(self.string))
        rendered: dict[str, str] = {}
        subnames: dict[str, list[str]] = {}
        for name in pieces[1::2]:
            if name in rendered:
                continue
            bind = self.binds[name]
            items = list(values.pop(name))
            if bind._tuple_types is not None:
                rendered[name], subnames[name] = self._expand_rows(name, bind, items, values)
                continue
            subs = [f"{name}_{i}" for i in range(1, len(items) + 1)]
            values.update(zip(subs, items))
            subnames[name] = subs
            if items:
                rendered[name] = "(" + ", ".join(
                    self.dialect.placeholder(sub, 0) for sub in subs
                ) + ")"
            else:
                rendered[name] = self._empty_in([bind.type])
        sql = "".join(rendered[p] if i % 2 else p for i, p in enumerate(pieces))
        positions: list[str] | None = None
        if self.positiontup is not None:
            positions = []
            for name in self.positiontup:
                if name in subnames:
                    positions.extend(subnames[name])
                else:
                    positions.append(name)
            if self.dialect.paramstyle == "numeric":
                sql = _renumber(sql)
        return sql, positions, values

    def _expand_rows(self, name: str, bind: el.BindParameter, rows: list[Any],
                     values: dict[str, Any]) -> tuple[str, list[str]]:
        types = bind._tuple_types or ()
        procs = [t._cached_bind_processor(self.dialect) for t in types]
        subs: list[str] = []
        parts = []
        for i, row in enumerate(rows, 1):
            names = [f"{name}_{i}_{j}" for j in range(1, len(row) + 1)]
            for n, v, proc in zip(names, row, procs):
                values[n] = proc(v) if proc is not None and v is not None else v
            subs.extend(names)
            parts.append("(" + ", ".join(self.dialect.placeholder(n, 0) for n in names) + ")")
        if not parts:
            return self._empty_in(list(types)), subs
        return "(" + ", ".join(parts) + ")", subs

    def _empty_in(self, types: Sequence[sqltypes.TypeEngine]) -> str:
        """A subquery with the right column types and no rows (``x IN ()`` is invalid)."""
        cols = []
        for t in types:
            if isinstance(t, sqltypes.NullType):
                cols.append("NULL")
            else:
                cols.append(f"CAST(NULL AS {self.dialect.type_compiler_instance.process(t)})")
        return "(SELECT " + ", ".join(cols or ["NULL"]) + " WHERE 1!=1)"

    def result_objects_for(self, statement: Any) -> list[Any]:
        """The expressions behind each result column, taken from ``statement``
        (an equal-shaped statement served by this cached Compiled) so that
        ``row._mapping[col]`` works with that statement's own column objects."""
        if statement is self.statement or not self.result_column_objects:
            return self.result_column_objects
        if isinstance(statement, el.TextClause):
            objs: list[Any] = list(statement._columns)
        elif isinstance(statement, (Select, CompoundSelect)):
            objs = [c for _k, c in _exported(statement)]
        else:
            objs = list(getattr(statement, "_returning", ()))
            if len(objs) < len(self.result_column_objects):  # implicit RETURNING
                objs = list(self.result_column_objects)
        return objs if len(objs) == len(self.result_column_objects) else \
            self.result_column_objects

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

    # -- binds -----------------------------------------------------------------
    def visit_bindparam(self, bind: el.BindParameter, literal_binds: bool = False,
                        **kw: Any) -> str:
        if self.literal_binds or literal_binds or bind.literal_execute:
            if bind.expanding:
                return self._render_expanding_literal(bind)
            return self.render_literal_value(bind.effective_value(), bind.type)
        name = self._bind_name(bind)
        if bind.expanding:
            self.has_expanding = True
            if self.positiontup is not None:
                self.positiontup.append(name)
            return f"__[EXPAND_{name}]__"
        return self._placeholder(name)

    def _render_expanding_literal(self, bind: el.BindParameter) -> str:
        values = list(bind.effective_value() or ())
        if bind._tuple_types is not None:
            types = bind._tuple_types
            if not values:
                return self._empty_in(list(types))
            return "(" + ", ".join(
                "(" + ", ".join(self.render_literal_value(v, t) for v, t in zip(row, types)) + ")"
                for row in values
            ) + ")"
        if not values:
            return self._empty_in([bind.type])
        return "(" + ", ".join(self.render_literal_value(v, bind.type) for v in values) + ")"

    def render_literal_value(self, value: Any, type_: sqltypes.TypeEngine) -> str:
        """``value`` as an inline SQL literal of ``type_``.

        Raises:
            CompileError: neither the type nor the value's Python type can render it.
        """
        if value is None:
            return "NULL"
        proc = type_._cached_literal_processor(self.dialect)
        if proc is None:
            proc = sqltypes.type_for_python_value(value)._cached_literal_processor(self.dialect)
        if proc is not None:
            try:
                # the type's literal processor already doubles ``%`` for format styles
                return proc(value)
            except (TypeError, ValueError, AttributeError):
                pass
        raise exc.CompileError(
            f"No literal value renderer is available for {value!r} of type {type_!r}; "
            "pass it as a bound parameter instead of compiling with literal_binds."
        )

    # -- simple expressions -------------------------------------------------------
    def visit_column(self, column: el.ColumnClause, include_table: bool = True,
                     **kw: Any) -> str:
        if column.is_literal:
            name = column.name.replace("%", "%%") if self.dialect.escape_percent else column.name
        else:
            name = self._q(column.name)
        table = column.table
        if not include_table or table is None or not getattr(table, "named_with_column", False):
            return name
        if isinstance(table, Alias):
            return self._q(self._from_name(table)) + "." + name
        return self.dialect.format_table(table) + "." + name

    def visit_null(self, expr: el.Null, **kw: Any) -> str:
        return "NULL"

    def visit_true(self, expr: el.True_, **kw: Any) -> str:
        return "true" if self.dialect.supports_native_boolean else "1"

    def visit_false(self, expr: el.False_, **kw: Any) -> str:
        return "false" if self.dialect.supports_native_boolean else "0"

    def visit_grouping(self, g: el.Grouping, **kw: Any) -> str:
        inner = g.element
        if isinstance(inner, (Select, CompoundSelect)):
            return "(" + self.process(inner, nested=True, **_strip(kw)) + ")"
        return "(" + self.process(inner, **kw) + ")"

    def visit_clauselist(self, cl: el.ClauseList, **kw: Any) -> str:
        return ", ".join(s for s in (self.process(c, **kw) for c in cl.clauses) if s)

    def visit_tuple(self, t: el.Tuple, **kw: Any) -> str:
        return "(" + self.visit_clauselist(t, **kw) + ")"

    def visit_boolean_list(self, bl: el.BooleanClauseList, **kw: Any) -> str:
        parts = [s for s in (self.process(c, **kw) for c in bl.clauses) if s]
        return bl.operator.sql.join(parts)

    def visit_label(self, label: el.Label, order_by_columns: Any = None, **kw: Any) -> str:
        # in ORDER BY / GROUP BY a label that is in the columns clause is
        # referred to by name (SQLAlchemy's "render label as label")
        if order_by_columns is not None:
            target = order_by_columns.get(label.name)
            if target is label or (
                isinstance(target, el.Label) and target.element is label.element
            ):
                return self._q(label.name)
        return self.process(label.element, **kw)

    def visit_label_reference(self, ref: el.LabelReference, order_by_columns: Any = None,
                              **kw: Any) -> str:
        target = order_by_columns.get(ref.name) if order_by_columns is not None else None
        if target is None:
            raise exc.CompileError(
                f"Can't resolve label reference {ref.name!r} for ORDER BY / GROUP BY: no "
                "column or label of that name is selected. Pass the column itself, or "
                f"text({ref.name!r}) for literal SQL."
            )
        if isinstance(target, el.Label) or kw.get("include_table") is False:
            return self._q(ref.name)
        return self.process(target, **kw)

    def visit_cast(self, cast: el.Cast, **kw: Any) -> str:
        return (
            "CAST(" + self.process(cast.clause, **kw) + " AS "
            + self.dialect.type_compiler_instance.process(cast.type) + ")"
        )

    def visit_type_coerce(self, tc: el.TypeCoerce, **kw: Any) -> str:
        return self.process(tc.clause, **kw)

    def visit_collation(self, c: el.CollationClause, **kw: Any) -> str:
        return self.process(c.element, **kw) + " COLLATE " + self._q(c.collation)

    def visit_case(self, case: el.Case, **kw: Any) -> str:
        text = "CASE "
        if case.value is not None:
            text += self.process(case.value, **kw) + " "
        for cond, result in case.whens:
            text += "WHEN " + self.process(cond, **kw) + " THEN " + self.process(result, **kw) + " "
        if case.else_ is not None:
            text += "ELSE " + self.process(case.else_, **kw) + " "
        return text + "END"

    def visit_over(self, over: el.Over, **kw: Any) -> str:
        parts = []
        if over.partition_by:
            parts.append("PARTITION BY " + ", ".join(self.process(c, **kw) for c in over.partition_by))
        if over.order_by:
            parts.append("ORDER BY " + ", ".join(self.process(c, **kw) for c in over.order_by))
        return self.process(over.element, **kw) + " OVER (" + " ".join(parts) + ")"

    def visit_function(self, fn: Function, **kw: Any) -> str:
        hook = getattr(self, f"visit_{fn.name.lower()}_func", None)
        if hook is not None and not fn.packagenames:
            return hook(fn, **kw)  # type: ignore[no-any-return,unused-ignore]
        # function names are quoted only when they could not parse otherwise
        name = ".".join(
            p if _LEGAL_FUNCTION_NAME.match(p) else self._q(p)
            for p in (*fn.packagenames, fn.name)
        )
        if fn.no_parens:
            return name.upper()
        if fn.name.lower() == "count" and not fn.clauses.clauses:
            return name + "(*)"
        return name + "(" + self.process(fn.clauses, **kw) + ")"

    def visit_sequence_name(self, s: Any, **kw: Any) -> str:
        seq = s.sequence
        name = self._q(seq.name)
        if seq.schema:
            name = self._q(seq.schema) + "." + name
        return "'" + name.replace("'", "''") + "'"

    def visit_unary(self, u: el.UnaryExpression, **kw: Any) -> str:
        text = self.process(u.element, **kw)
        if u.operator is not None:
            text = u.operator.sql + text
        if u.modifier is not None:
            text = text + u.modifier.sql
        return text

    def visit_exists(self, e: Exists, **kw: Any) -> str:
        return "EXISTS " + self.process(e.element, **kw)

    def visit_binary(self, b: el.BinaryExpression, **kw: Any) -> str:
        special = getattr(self, f"visit_{b.operator.name}_binary", None)
        if special is not None:
            return special(b, **kw)  # type: ignore[no-any-return,unused-ignore]
        return self.visit_binary_plain(b, **kw)

    def visit_binary_plain(self, b: el.BinaryExpression, **kw: Any) -> str:
        """``left <op> right`` with the operator's own token (and ``ESCAPE``)."""
        sql = b.operator.sql
        if self.dialect.escape_percent and "%" in sql:
            sql = sql.replace("%", "%%")
        text = self.process(b.left, **kw) + sql + self.process(b.right, **kw)
        return text + self._escape_clause(b)

    def _escape_clause(self, b: el.BinaryExpression) -> str:
        escape = b.modifiers.get("escape") if b.modifiers else None
        if escape is None:
            return ""
        return " ESCAPE " + self.render_literal_value(escape, sqltypes.STRINGTYPE)

    def visit_between_op_binary(self, b: el.BinaryExpression, **kw: Any) -> str:
        pair = b.right
        assert isinstance(pair, el.ClauseList) and len(pair.clauses) == 2
        lo, hi = pair.clauses
        op = b.operator.sql
        if b.modifiers.get("symmetric"):
            op += "SYMMETRIC "
        return (
            self.process(b.left, **kw) + op + self.process(lo, **kw) + " AND "
            + self.process(hi, **kw)
        )

    visit_not_between_op_binary = visit_between_op_binary

    def visit_ilike_op_binary(self, b: el.BinaryExpression, **kw: Any) -> str:
        if self.dialect.supports_ilike:
            return self.visit_binary_plain(b, **kw)
        neg = " NOT LIKE " if b.operator is ops.not_ilike_op else " LIKE "
        return (
            "lower(" + self.process(b.left, **kw) + ")" + neg
            + "lower(" + self.process(b.right, **kw) + ")" + self._escape_clause(b)
        )

    visit_not_ilike_op_binary = visit_ilike_op_binary

    def visit_textclause(self, t: el.TextClause, toplevel: bool = False, **kw: Any) -> str:
        def repl(m: re.Match[str]) -> str:
            bind = t._bindparams.get(m.group(1))
            if bind is None:  # pragma: no cover - regex and dict come from the same text
                return m.group(0)
            return self.process(bind, **kw)

        body = t.text
        if self.dialect.escape_percent:
            body = body.replace("%", "%%")
        body = _TEXT_BIND_RE.sub(repl, body)
        body = _TEXT_ESCAPED_COLON.sub(":", body)
        if toplevel and t._columns:
            self.isselect = True
            self.result_columns = [(c.key, c.type) for c in t._columns]
            self.result_column_objects = list(t._columns)
        return body

    # -- FROM objects -------------------------------------------------------------
    def visit_table(self, table: TableClause, **kw: Any) -> str:
        return self.dialect.format_table(table)

    def visit_join(self, join: Join, **kw: Any) -> str:
        kw = _strip(kw)
        kind = " FULL OUTER JOIN " if join.full else (
            " LEFT OUTER JOIN " if join.isouter else " JOIN "
        )
        return (
            self.process(join.left, asfrom=True, **kw) + kind
            + self.process(join.right, asfrom=True, **kw) + " ON "
            + self.process(join.onclause, **kw)
        )

    def visit_alias(self, alias: Alias, asfrom: bool = False, toplevel: bool = False,
                    **kw: Any) -> str:
        inner = alias.element
        if toplevel and isinstance(inner, (Select, CompoundSelect)):
            return self.process(inner, toplevel=True, **kw)  # ``str(subquery)``: its SELECT
        name = self._q(self._from_name(alias))
        if not asfrom:
            return name
        if isinstance(inner, (Select, CompoundSelect)):
            body = self.process(inner, subquery=True, nested=True, **_strip(kw))
            return "(" + body + ") AS " + name
        return self.process(inner, asfrom=True, **_strip(kw)) + " AS " + name

    visit_subquery = visit_alias

    def visit_cte(self, cte: CTE, asfrom: bool = False, **kw: Any) -> str:
        name = self._from_name(cte)
        root: Any = cte
        while root._restates is not None:
            root = root._restates
        known = self._cte_roots.setdefault(name, root)
        if known is not root:
            raise exc.CompileError(
                f"Two different CTEs are named {name!r} in one statement; give each "
                "cte() a distinct name."
            )
        if name not in self._ctes and name not in self._cte_pending:
            self._cte_pending.add(name)  # a recursive CTE refers to itself
            if cte.recursive:
                self._cte_recursive = True
            start = len(self.positiontup) if self.positiontup is not None else 0
            body = self.process(cte.element, subquery=True, nested=True, **_strip(kw))
            if self.positiontup is not None:
                self._cte_positions[name] = self.positiontup[start:]
                del self.positiontup[start:]
            cols = ""
            if cte.recursive:
                cols = "(" + ", ".join(self._q(k) for k in cte.c.keys()) + ")"
            self._ctes[name] = f"{self._q(name)}{cols} AS ({body})"
            self._cte_pending.discard(name)
        return self._q(name)

    # -- SELECT -----------------------------------------------------------------
    def visit_scalar_select(self, s: Any, **kw: Any) -> str:
        return "(" + self.process(s.element, nested=True, **_strip(kw)) + ")"

    def _display_froms(self, select: Select, subquery: bool) -> list[FromClause]:
        """The FROM list after correlation: a SELECT nested in the WHERE or
        columns of another leaves out the tables of the enclosing statement
        (when it has more than one), and those named in ``correlate()``."""
        froms = select.get_final_froms()
        if not self._stack:
            return froms
        enclosing = self._stack[-1]
        if select._correlate:
            outer = enclosing["all_froms"]
            froms = [f for f in froms if not (f in select._correlate and id(f) in outer)]
        elif select._correlate is None and not subquery and len(froms) > 1:
            immediate = enclosing["froms"]
            kept = [f for f in froms if id(f) not in immediate]
            if not kept:
                raise exc.InvalidRequestError(
                    f"Select statement {object.__repr__(select)} returned no FROM clauses due to "
                    "auto-correlation; specify correlate(<tables>) to control correlation "
                    "manually."
                )
            froms = kept
        return froms

    def _push_frame(self, froms: Sequence[FromClause], **extra: Any) -> None:
        ids = {id(x) for f in froms for x in f._from_objects}
        outer = self._stack[-1]["all_froms"] if self._stack else set()
        self._stack.append({"froms": ids, "all_froms": outer | ids, **extra})

    def visit_select(self, select: Select, toplevel: bool = False, subquery: bool = False,
                     nested: bool = False, **kw: Any) -> str:
        if toplevel:
            self.isselect = True
        kw = _strip(kw)
        froms = self._display_froms(select, subquery)
        exported = _exported(select)
        self._push_frame(froms)
        try:
            text = "SELECT "
            if select._distinct:
                text += self.render_distinct(select, **kw)
            text += self._columns_clause(exported, toplevel, subquery, **kw)
            if froms:
                text += " FROM " + ", ".join(self.process(f, asfrom=True, **kw) for f in froms)
            text += self._where_text(select._where, **kw)
            names = _order_by_names(exported)
            if select._group_by:
                text += " GROUP BY " + ", ".join(
                    self._order_item(g, names, **kw) for g in select._group_by
                )
            if select._having:
                text += " HAVING " + self.process(el.and_(*select._having), **kw)
            text += self._order_limit(select, names, **kw)
            if select._for_update is not None:
                text += self.render_for_update(select._for_update, **kw)
        finally:
            self._stack.pop()
        return text

    def render_distinct(self, select: Select, **kw: Any) -> str:
        """``DISTINCT `` (dialects with DISTINCT ON override).

        Raises:
            CompileError: ``distinct(*exprs)`` on a dialect without DISTINCT ON.
        """
        if select._distinct_on:
            raise exc.CompileError(
                f"DISTINCT ON is not supported by the {self.dialect.name} dialect; "
                "use distinct() without arguments."
            )
        return "DISTINCT "

    def _columns_clause(self, exported: list[tuple[str, Any]], toplevel: bool, asfrom: bool,
                        **kw: Any) -> str:
        """Each column, labelled where the result needs a name: in a FROM
        subquery every column gets ``AS <key>``; elsewhere functions get
        ``AS count_1``, other unnamed expressions ``AS anon_1``, a repeated
        column name ``AS name_1`` (SQLAlchemy's labelling)."""
        parts = []
        for key, col in exported:
            label = self._column_label(col, key, asfrom)
            rendered = self.process(col.element if isinstance(col, el.Label) else col, **kw)
            if label is not None:
                rendered += " AS " + self._q(label)
            parts.append(rendered)
            if toplevel:
                self.result_columns.append((_result_key(col, key), col.type))
                self.result_column_objects.append(col)
        return ", ".join(parts)

    def _column_label(self, col: Any, key: str, asfrom: bool) -> str | None:
        if isinstance(col, el.Label):
            return key if asfrom else col.name
        if isinstance(col, el.TextClause):
            return None
        if isinstance(col, el.ColumnClause):
            if col.is_literal:
                return key if key != col.name else None
            return key if asfrom or key != col.name else None
        if asfrom:
            return key
        if isinstance(col, el.UnaryExpression) and not isinstance(col, Exists):
            return None  # ``SELECT DISTINCT users.name``
        if isinstance(col, (el.Cast, el.TypeCoerce)) and isinstance(col.clause, el.ColumnClause):
            return key  # ``CAST(users.id AS VARCHAR) AS id``
        if isinstance(col, Function):
            return self._anon_name(re.sub(r"\W", "_", col.name) or "anon")
        return self._anon_name("anon")

    def _where_text(self, where: Sequence[el.ColumnElement], **kw: Any) -> str:
        if not where:
            return ""
        text = self.process(el.and_(*where), **kw)
        return " WHERE " + text if text else ""

    def _order_limit(self, select: Any, names: dict[str, Any], **kw: Any) -> str:
        text = ""
        if select._order_by:
            text += " ORDER BY " + ", ".join(
                self._order_item(o, names, **kw) for o in select._order_by
            )
        return text + self.limit_clause(select, **_strip(kw))

    def _order_item(self, item: Any, names: dict[str, Any], **kw: Any) -> str:
        """One ORDER BY / GROUP BY item: a label (or name) standing alone,
        possibly under DESC / NULLS LAST, may refer to the columns clause."""
        if isinstance(item, el.UnaryExpression) and item.operator is None and (
            item.modifier is not None
        ):
            return self._order_item(item.element, names, **kw) + item.modifier.sql
        if isinstance(item, (el.Label, el.LabelReference)):
            return self.process(item, order_by_columns=names, **kw)
        return self.process(item, **kw)

    def limit_clause(self, select: Any, **kw: Any) -> str:
        """`` LIMIT x OFFSET y``; ``LIMIT -1`` first where OFFSET needs a LIMIT."""
        text = ""
        if select._limit is not None:
            text += " LIMIT " + self.process(select._limit, **kw)
        if select._offset is not None:
            if select._limit is None and self.dialect.limit_required_for_offset:
                text += " LIMIT -1"
            text += " OFFSET " + self.process(select._offset, **kw)
        return text

    def render_for_update(self, opts: dict[str, Any], **kw: Any) -> str:
        """`` FOR UPDATE`` (dialects add SHARE / OF / NOWAIT / SKIP LOCKED)."""
        return " FOR UPDATE"

    def visit_compound_select(self, cs: CompoundSelect, toplevel: bool = False,
                              subquery: bool = False, nested: bool = False, **kw: Any) -> str:
        kw = _strip(kw)
        exported = _exported(cs)
        if toplevel:
            self.isselect = True
            for key, col in exported:
                self.result_columns.append((_result_key(col, key), col.type))
                self.result_column_objects.append(col)
        parts = []
        for s in cs.selects:
            sub = self.process(s, subquery=subquery, nested=nested, **kw)
            if isinstance(s, CompoundSelect) or s._order_by or s._limit is not None or (
                s._offset is not None
            ):
                sub = self.render_compound_member(sub)
            parts.append(sub)
        text = (" " + cs.keyword + " ").join(parts)
        # ORDER BY of a compound names its output columns, unqualified
        return text + self._order_limit(cs, _order_by_names(exported), include_table=False,
                                        **kw)

    def render_compound_member(self, sql: str) -> str:
        """A member SELECT with its own ORDER BY / LIMIT: parenthesised, or,
        where the dialect refuses that (SQLite), wrapped as a subquery."""
        if self.dialect.compound_member_parens:
            return "(" + sql + ")"
        return "SELECT * FROM (" + sql + ")"

    # -- DML ------------------------------------------------------------------------
    def _returning_text(self, returning: Sequence[el.ColumnElement], toplevel: bool) -> str:
        if not returning:
            return ""
        self.returning = list(returning)
        if toplevel:
            self.result_columns = [(_result_key(c, c.key), c.type) for c in returning]
            self.result_column_objects = list(returning)
        parts = []
        for c in returning:
            if isinstance(c, el.Label):
                parts.append(self.process(c.element) + " AS " + self._q(c.name))
            else:
                parts.append(self.process(c))
        return " RETURNING " + ", ".join(parts)

    def _bind_for_column(self, col: Column, for_update: bool = False) -> str:
        """The placeholder for a column whose value comes from the execution
        parameters.  Required: in an executemany every dict must give it --
        unless the column has a Python-side default (``onupdate`` for an
        UPDATE), which the engine then computes for the dicts that omit it."""
        bind = el.BindParameter(col.key, None, type_=col.type, required=True)
        placeholder = self.process(bind)
        default = col.onupdate if for_update else col.default
        if self.for_executemany and default is not None and not getattr(
            default, "is_sequence", False
        ) and not default.is_clause_element:
            self.prefetch.append((self.bind_names[bind], col, for_update))
        return placeholder

    def _check_keys(self, stmt: Any, table: Any) -> None:
        """Execution parameter keys must name columns or bind parameters.

        Raises:
            CompileError: a key names neither (usually a typo).
        """
        if not self.column_keys:
            return
        consumed = set(table.c.keys())
        _, binds = stmt._generate_cache_key()
        consumed.update(b.key for b in binds if not b.unique)
        unknown = self.column_keys - consumed
        if unknown:
            raise exc.CompileError(
                f"Unconsumed column names: {', '.join(sorted(unknown))} -- table "
                f"{table.name!r} has no such columns and the statement no such bind "
                "parameters; check the execute() parameter keys."
            )

    def visit_insert(self, stmt: Any, toplevel: bool = False, **kw: Any) -> str:
        self.isinsert = True
        table = stmt.table
        text = "INSERT INTO " + self.dialect.format_table(table)
        if stmt._from_select is not None:
            names, sel = stmt._from_select
            text += " (" + ", ".join(self._q(table.c[n].name) for n in names) + ") "
            text += self.process(sel, nested=True)
            return text + self._insert_tail(stmt, toplevel, [])
        if stmt._multi_values:
            return text + self._insert_multi(stmt, toplevel)
        self._check_keys(stmt, table)
        cols: list[Column] = []
        values: list[str] = []
        given = stmt._values or {}
        keys = self.column_keys or frozenset()
        all_columns = self._insert_all_columns and not given
        autoinc = getattr(table, "autoincrement_column", None)
        for c in table.c:
            if c.key in given:
                cols.append(c)
                values.append(self._value_text(given[c.key]))
            elif c.key in keys or all_columns:
                cols.append(c)
                values.append(self._bind_for_column(c))
            elif self._client_default(c):
                cols.append(c)
                values.append(self._default_value(c, "", for_update=False))
            elif c.server_default is not None or c is autoinc:
                self._add_postfetch(c)
        if not cols:
            text += self.default_values_clause()
        else:
            text += " (" + ", ".join(self._q(c.name) for c in cols) + ") VALUES ("
            text += ", ".join(values) + ")"
        return text + self._insert_tail(stmt, toplevel, cols)

    def _insert_multi(self, stmt: Any, toplevel: bool) -> str:
        rows = stmt._multi_values
        table = stmt.table
        present: set[str] = set()
        for row in rows:
            present.update(row)
        cols = [c for c in table.c if c.key in present or self._client_default(c)]
        rendered_rows = []
        for i, row in enumerate(rows):
            vals = []
            for c in cols:
                if c.key in row:
                    vals.append(self._value_text(row[c.key]))
                elif self._client_default(c):
                    vals.append(self._default_value(c, f"_m{i}", for_update=False))
                else:
                    raise exc.CompileError(
                        f"Row {i} of this multi-row INSERT into {table.name!r} has no value "
                        f"for column {c.key!r}, which other rows give; every row must give "
                        "the same columns (or the column needs a Python-side default)."
                    )
            rendered_rows.append("(" + ", ".join(vals) + ")")
        text = " (" + ", ".join(self._q(c.name) for c in cols) + ") VALUES "
        text += ", ".join(rendered_rows)
        return text + self._insert_tail(stmt, toplevel, cols)

    def _value_text(self, value: Any) -> str:
        text = self.process(value)
        if isinstance(value, el.BinaryExpression) or (
            isinstance(value, el.UnaryExpression) and value.operator is not None
            and not isinstance(value, Exists)
        ):
            return "(" + text + ")"
        return text

    def default_values_clause(self) -> str:
        return " DEFAULT VALUES"

    def _insert_tail(self, stmt: Any, toplevel: bool, cols: list[Column]) -> str:
        text = ""
        if stmt._post_values_clause is not None:
            text += " " + self.process(stmt._post_values_clause)
        returning = list(stmt._returning)
        table = stmt.table
        if not returning and toplevel and self.dialect.insert_returning and (
            self.dialect.implicit_returning
        ) and not self.for_executemany and not stmt._multi_values and (
            stmt._from_select is None
        ) and getattr(table, "implicit_returning", False):
            given = {id(c) for c in cols}
            fetched = {id(c) for c in self.postfetch}
            pk_missing = [c for c in table.primary_key if id(c) not in given or id(c) in fetched]
            if pk_missing or stmt._return_defaults:
                returning = list(table.primary_key)
                if stmt._return_defaults:
                    returning += [c for c in self.postfetch if c not in returning]
                self.implicit_returning = list(table.primary_key)
        returned = {id(c) for c in returning}
        self.postfetch = [c for c in self.postfetch if id(c) not in returned]
        return text + self._returning_text(returning, toplevel)

    def _add_postfetch(self, c: Column) -> None:
        if all(p is not c for p in self.postfetch):
            self.postfetch.append(c)

    def _client_default(self, c: Column) -> bool:
        d = c.default
        if d is None:
            return False
        if getattr(d, "is_sequence", False):
            return bool(self.dialect.supports_sequences)
        return True

    def _default_value(self, c: Column, suffix: str, for_update: bool) -> str:
        d = c.onupdate if for_update else c.default
        if getattr(d, "is_sequence", False):
            self._add_postfetch(c)
            return self.process(d.next_value())
        if d.is_clause_element:
            self._add_postfetch(c)
            return self._value_text(d.arg)
        name = self._bind_name(
            el.BindParameter(f"{c.key}{suffix}", None, type_=c.type, required=False, unique=False)
        )
        self.prefetch.append((name, c, for_update))
        return self._placeholder(name)

    def visit_on_conflict(self, oc: Any, **kw: Any) -> str:
        if not self.dialect.supports_on_conflict:
            raise exc.CompileError(
                f"ON CONFLICT is not supported by the {self.dialect.name} dialect (SQLite "
                "needs 3.24 or later)."
            )
        text = "ON CONFLICT"
        if oc.constraint_name:
            text += " ON CONSTRAINT " + self._q(oc.constraint_name)
        elif oc.index_elements:
            text += " (" + ", ".join(
                self.process(e, include_table=False) for e in oc.index_elements
            ) + ")"
            if oc.index_where is not None:
                text += " WHERE " + self.process(oc.index_where, include_table=False)
        if not oc.do_update:
            return text + " DO NOTHING"
        sets = ", ".join(
            self._q(oc.table.c[k].name) + " = " + self._value_text(v) for k, v in oc.set_
        )
        text += " DO UPDATE SET " + sets
        if oc.where is not None:
            text += " WHERE " + self.process(oc.where)
        return text

    def visit_update(self, stmt: Any, toplevel: bool = False, **kw: Any) -> str:
        self.isupdate = True
        table = stmt.table
        given = stmt._values or {}
        # bind keys already used in WHERE are criteria, not SET columns
        where_keys: set[str] = set()
        for w in stmt._where:
            _, wb = w._generate_cache_key()
            where_keys.update(b.key for b in wb if not b.unique)
        self._check_keys(stmt, table)
        clash = where_keys & {
            k for k, v in given.items()
            if isinstance(v, el.BindParameter) and not v.unique and v.key == k
        }
        if clash:
            raise exc.CompileError(
                f"bindparam() name(s) {sorted(clash)} are used in the WHERE clause of this "
                f"UPDATE of {table.name!r} and also name the SET values of those columns; "
                "use a bindparam name other than the column name in WHERE."
            )
        keys = (self.column_keys or frozenset()) - where_keys
        extra = self._extra_froms(stmt)
        self._push_frame([table, *extra])
        try:
            sets: list[tuple[Column, str]] = []
            for c in table.c:
                if c.key in given:
                    sets.append((c, self._value_text(given[c.key])))
                elif c.key in keys:
                    sets.append((c, self._bind_for_column(c, for_update=True)))
                elif c.onupdate is not None:
                    sets.append((c, self._default_value(c, "", for_update=True)))
                elif c.server_onupdate is not None:
                    self._add_postfetch(c)
            if not sets:
                raise exc.CompileError(
                    f"UPDATE of table {table.name!r} has no SET values: give .values(...) or "
                    "execution parameters naming columns."
                )
            text = "UPDATE " + self.dialect.format_table(table) + " SET " + ", ".join(
                self._q(c.name) + "=" + v for c, v in sets
            )
            if extra:
                text += self.update_from_clause(extra, **kw)
            text += self._where_text(stmt._where, **kw)
        finally:
            self._stack.pop()
        returned = {id(c) for c in stmt._returning}
        self.postfetch = [c for c in self.postfetch if id(c) not in returned]
        return text + self._returning_text(stmt._returning, toplevel)

    def _extra_froms(self, stmt: Any) -> list[FromClause]:
        """Tables the WHERE clause reads besides the statement's own table."""
        own = stmt.table
        found: list[FromClause] = []
        for w in stmt._where:
            for f in w._from_objects:
                if f is not own and f not in found and not own.is_derived_from(f):
                    found.append(f)
        hidden = [h for f in found for h in f._hide_froms]
        return [f for f in found if f not in hidden]

    def update_from_clause(self, froms: Sequence[FromClause], **kw: Any) -> str:
        """``UPDATE ... FROM other`` (PostgreSQL, SQLite >= 3.33)."""
        return " FROM " + ", ".join(self.process(f, asfrom=True, **kw) for f in froms)

    def delete_extra_from_clause(self, froms: Sequence[FromClause], **kw: Any) -> str:
        """Other tables in a DELETE's WHERE; no portable syntax exists.

        Raises:
            CompileError: always, in the generic compiler.
        """
        names = ", ".join(repr(getattr(f, "name", f)) for f in froms)
        raise exc.CompileError(
            f"This DELETE's WHERE clause reads other tables ({names}), which the "
            f"{self.dialect.name} dialect cannot express; use a subquery instead, e.g. "
            "table.c.id.in_(select(...))."
        )

    def visit_delete(self, stmt: Any, toplevel: bool = False, **kw: Any) -> str:
        self.isdelete = True
        text = "DELETE FROM " + self.dialect.format_table(stmt.table)
        extra = self._extra_froms(stmt)
        self._push_frame([stmt.table, *extra])
        try:
            if extra:
                text += self.delete_extra_from_clause(extra, **kw)
            text += self._where_text(stmt._where, **kw)
        finally:
            self._stack.pop()
        return text + self._returning_text(stmt._returning, toplevel)


SQLCompiler = Compiled
Dialect.statement_compiler = SQLCompiler


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


def _order_by_names(exported: list[tuple[str, Any]]) -> dict[str, Any]:
    """Name -> selected column, for resolving labels and names in ORDER BY."""
    names: dict[str, Any] = {}
    for key, col in exported:
        names.setdefault(key, col)
        name = col.name if isinstance(col, (el.Label, el.ColumnClause)) else None
        if isinstance(name, str):
            names.setdefault(name, col)
    return names


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
