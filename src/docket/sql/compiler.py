"""The SQL compiler: statement tree -> SQL string + parameter plan.

One compiler serves every dialect; a dialect subclasses it and overrides
only the ``visit_*`` methods where its SQL differs.  Output is rendered
directly in the driver's paramstyle.

A :class:`Compiled` is immutable after construction and is what the engine
caches per statement shape.  Its parameter plan:

* ``binds`` -- bind name -> BindParameter (the compiled statement's own);
* ``positiontup`` -- bind names in placeholder order (positional styles);
* ``_key_bind_names`` -- for the i-th bind found while generating the
  statement's cache key, the name it compiled to.  A different statement
  with the same cache key supplies its values by that position.
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
    FromClause,
    Join,
    Select,
    Subquery,
    TableClause,
    _exported,
)

if TYPE_CHECKING:
    from docket.sql.schema import Column

__all__ = ["Compiled", "SQLCompiler"]

_EXPAND_RE = re.compile(r"__\[EXPAND_(\w+?)\]__")
_TEXT_BIND_RE = re.compile(r"(?<![:\w\\]):(\w+)(?!:)")
_TEXT_ESCAPED_COLON = re.compile(r"\\:")


class Compiled:
    """A compiled statement; see the module docstring for the parameter plan.

    Attributes:
        string: the SQL text.
        positiontup: placeholder order for positional paramstyles, else None.
        result_columns: ``(key, type)`` per result column (SELECT / RETURNING).
        returning: the RETURNING expressions (explicit or implicit).
        implicit_returning: primary-key columns fetched by an implicit RETURNING.
        prefetch: ``(bind name, Column, for_update)`` for Python-side defaults
            the engine computes per parameter set.
        postfetch: columns the server fills that were not returned.
    """

    string: str
    positiontup: list[str] | None

    def __init__(self, dialect: Dialect, statement: el.ClauseElement, **kw: Any) -> None:
        self.dialect = dialect
        self.statement = statement
        self.column_keys: frozenset[str] | None = kw.pop("column_keys", None)
        self.literal_binds: bool = kw.pop("literal_binds", False)
        self.for_executemany: bool = kw.pop("for_executemany", False)
        self.compile_kwargs = kw.pop("compile_kwargs", {})
        self.literal_binds = self.literal_binds or self.compile_kwargs.get("literal_binds", False)
        self.binds: dict[str, el.BindParameter] = {}
        self.bind_names: dict[el.BindParameter, str] = {}
        self._keys_used: dict[str, str] = {}  # non-unique bind key -> name
        self._anon_counts: dict[str, int] = {}
        self.positiontup = [] if dialect.positional else None
        self.result_columns: list[tuple[str | None, sqltypes.TypeEngine]] = []
        # the expression behind each result column (for row._mapping[col])
        self.result_column_objects: list[Any] = []
        self.returning: list[el.ColumnElement] = []
        self.implicit_returning: list[Column] = []
        self.prefetch: list[tuple[str, Column, bool]] = []
        self.postfetch: list[Column] = []
        self.isinsert = self.isupdate = self.isdelete = self.isselect = self.isddl = False
        self.has_expanding = False
        self._ctes: dict[str, str] = {}
        self._cte_recursive = False
        self._stack: list[dict[str, Any]] = []
        self._dispatch: dict[type, Callable[..., str]] = {}
        body = self.process(statement, toplevel=True)
        if self._ctes:
            body = (
                ("WITH RECURSIVE " if self._cte_recursive else "WITH ")
                + ", ".join(self._ctes.values())
                + " "
                + body
            )
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
                    f"{type(element).__name__} ({element!r})"
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
    ) -> dict[str, Any]:
        """Values by bind name: the statement's own (or ``extracted`` from an
        equal-shaped statement), overridden by ``params`` keyed by bind key.

        Raises:
            StatementError: a required parameter has no value.
        """
        values: dict[str, Any] = {}
        if extracted is not None:
            own = {}
            for name, b in zip(self._key_bind_names, extracted):
                if name is not None:
                    own[name] = b
        else:
            own = self.binds
        for name, b in self.binds.items():
            src = own.get(name, b)
            if params is not None and b.key in params:
                values[name] = params[b.key]
            elif params is not None and name in params:
                values[name] = params[name]
            elif src.callable is not None:
                values[name] = src.callable()
            elif src.required and not (params is None and not _check) and src.value is None:
                if any(n == name for n, _, _ in self.prefetch):
                    continue
                raise exc.StatementError(
                    f"A value is required for bind parameter {b.key!r}; pass it in the "
                    "execute() parameters.",
                    self.string,
                    params,
                    None,
                )
            else:
                values[name] = src.value
        return values

    def expand(self, values: dict[str, Any]) -> tuple[str, list[str] | None, dict[str, Any]]:
        """Render expanding (IN-list) parameters for these values.

        Returns the SQL, the placeholder order (positional styles) and the
        values with each list replaced by one entry per element.
        """
        values = dict(values)
        pieces = _EXPAND_RE.split(self.string)  # text, name, text, name, ..., text
        rendered: dict[str, str] = {}
        subnames: dict[str, list[str]] = {}
        for name in pieces[1::2]:
            if name in rendered:
                continue
            items = list(values.pop(name))
            subs = [f"{name}_{i}" for i in range(1, len(items) + 1)]
            values.update(zip(subs, items))
            subnames[name] = subs
            if items:
                rendered[name] = "(" + ", ".join(
                    self.dialect.placeholder(sub, 0) for sub in subs
                ) + ")"
            else:
                rendered[name] = self._empty_in(self.binds[name].type)
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

    def _empty_in(self, type_: sqltypes.TypeEngine) -> str:
        if isinstance(type_, sqltypes.NullType):
            return "(SELECT 1 WHERE 1!=1)"
        return f"(SELECT CAST(NULL AS {self.dialect.type_compiler_instance.process(type_)}) " \
            "WHERE 1!=1)"

    # -- binds -----------------------------------------------------------------
    def _bind_name(self, bind: el.BindParameter) -> str:
        name = self.bind_names.get(bind)
        if name is not None:
            return name
        base = re.sub(r"\W", "_", bind.key) or "param"
        if not bind.unique:
            name = self._keys_used.get(bind.key)
            if name is None:
                name = base
                if name in self.binds:
                    name = self._anon_name(base)
                self._keys_used[bind.key] = name
        else:
            name = self._anon_name(base)
        self.bind_names[bind] = name
        existing = self.binds.get(name)
        if existing is None or not bind.unique:
            self.binds.setdefault(name, bind)
        return name

    def _anon_name(self, base: str) -> str:
        n = self._anon_counts.get(base, 0)
        while True:
            n += 1
            candidate = f"{base}_{n}"
            if candidate not in self.binds and candidate not in self._keys_used.values():
                self._anon_counts[base] = n
                return candidate

    def _placeholder(self, name: str) -> str:
        if self.positiontup is not None:
            self.positiontup.append(name)
            return self.dialect.placeholder(name, len(self.positiontup))
        return self.dialect.placeholder(name, 0)

    def visit_bindparam(self, bind: el.BindParameter, **kw: Any) -> str:
        if self.literal_binds or kw.get("literal_binds") or bind.literal_execute:
            return self.render_literal_value(bind.effective_value(), bind.type)
        name = self._bind_name(bind)
        if bind.expanding:
            self.has_expanding = True
            if self.positiontup is not None:
                self.positiontup.append(name)
            return f"__[EXPAND_{name}]__"
        return self._placeholder(name)

    @property
    def _expanding_names(self) -> set[str]:
        return {n for n, b in self.binds.items() if b.expanding}

    def render_literal_value(self, value: Any, type_: sqltypes.TypeEngine) -> str:
        if value is None:
            return "NULL"
        proc = type_._cached_literal_processor(self.dialect)
        if proc is None:
            proc = sqltypes.type_for_python_value(value)._cached_literal_processor(self.dialect)
        if proc is None:
            raise exc.CompileError(
                f"No literal value renderer is available for {value!r} of type {type_!r}"
            )
        text = proc(value)
        return text.replace("%", "%%") if self.dialect.escape_percent else text

    # -- simple expressions -------------------------------------------------------
    def visit_column(self, column: el.ColumnClause, include_table: bool = True,
                     **kw: Any) -> str:
        if column.is_literal:
            name = column.name.replace("%", "%%") if self.dialect.escape_percent else column.name
        else:
            name = self.dialect.quote(column.name)
        table = column.table
        if not include_table or table is None or not getattr(table, "named_with_column", False):
            return name
        if isinstance(table, Alias):
            return self.dialect.quote(table.name) + "." + name  # type: ignore[arg-type]
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
            return "(" + self.process(inner, asfrom=False, nested=True, **_strip(kw)) + ")"
        return "(" + self.process(inner, **kw) + ")"

    def visit_clauselist(self, cl: el.ClauseList, **kw: Any) -> str:
        return ", ".join(s for s in (self.process(c, **kw) for c in cl.clauses) if s)

    def visit_tuple(self, t: el.Tuple, **kw: Any) -> str:
        return "(" + self.visit_clauselist(t, **kw) + ")"

    def visit_boolean_list(self, bl: el.BooleanClauseList, **kw: Any) -> str:
        parts = [s for s in (self.process(c, **kw) for c in bl.clauses) if s]
        return bl.operator.sql.join(parts)

    def visit_label(self, label: el.Label, within_columns_clause: bool = False,
                    **kw: Any) -> str:
        if within_columns_clause:
            return (
                self.process(label.element, **kw) + " AS " + self.dialect.quote(label.name)
            )
        if kw.get("render_label_as_name"):
            return self.dialect.quote(label.name)
        return self.process(label.element, **kw)

    def visit_cast(self, cast: el.Cast, **kw: Any) -> str:
        return (
            "CAST(" + self.process(cast.clause, **kw) + " AS "
            + self.dialect.type_compiler_instance.process(cast.type) + ")"
        )

    def visit_type_coerce(self, tc: el.TypeCoerce, **kw: Any) -> str:
        return self.process(tc.clause, **kw)

    def visit_collation(self, c: el.CollationClause, **kw: Any) -> str:
        return self.process(c.element, **kw) + " COLLATE " + self.dialect.quote(c.collation)

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
        name = fn.name
        if not re.match(r"^\w+$", name) or name.lower() in self.dialect.reserved_words and (
            name.lower() not in _KNOWN_FUNCTIONS
        ):
            name = self.dialect.quote(name)
        name = ".".join([self.dialect.quote(p) for p in fn.packagenames] + [name])
        if fn.no_parens:
            return name.upper()
        lname = fn.name.lower()
        if lname == "count" and not fn.clauses.clauses:
            return name + "(*)"
        return name + "(" + self.process(fn.clauses, **kw) + ")"

    def visit_sequence_name(self, s: Any, **kw: Any) -> str:
        seq = s.sequence
        name = self.dialect.quote(seq.name)
        if seq.schema:
            name = self.dialect.quote(seq.schema) + "." + name
        return "'" + name.replace("'", "''") + "'"

    def visit_unary(self, u: el.UnaryExpression, **kw: Any) -> str:
        text = self.process(u.element, **kw)
        if u.operator is not None:
            text = u.operator.sql + text
        if u.modifier is not None:
            text = text + u.modifier.sql
        return text

    def visit_binary(self, b: el.BinaryExpression, **kw: Any) -> str:
        op = b.operator
        special = getattr(self, f"visit_{op.name}_binary", None)
        if special is not None:
            return special(b, **kw)  # type: ignore[no-any-return]
        text = self.process(b.left, **kw) + op.sql + self.process(b.right, **kw)
        escape = b.modifiers.get("escape") if b.modifiers else None
        if escape is not None:
            text += " ESCAPE " + self.render_literal_value(escape, sqltypes.STRINGTYPE)
        return text

    def visit_mod_binary(self, b: el.BinaryExpression, **kw: Any) -> str:
        sign = " %% " if self.dialect.escape_percent else " % "
        return self.process(b.left, **kw) + sign + self.process(b.right, **kw)

    def visit_between_op_binary(self, b: el.BinaryExpression, **kw: Any) -> str:
        pair = b.right
        assert isinstance(pair, el.BooleanClauseList)
        lo, hi = pair.clauses
        return (
            self.process(b.left, **kw) + b.operator.sql + self.process(lo, **kw) + " AND "
            + self.process(hi, **kw)
        )

    visit_not_between_op_binary = visit_between_op_binary

    def visit_in_op_binary(self, b: el.BinaryExpression, **kw: Any) -> str:
        right = b.right
        if isinstance(right, el.BindParameter) and right.expanding and (
            self.literal_binds or kw.get("literal_binds")
        ):
            values = list(right.effective_value())
            if not values:
                return self.process(b.left, **kw) + b.operator.sql + self._empty_in(right.type)
            rendered = ", ".join(self.render_literal_value(v, right.type) for v in values)
            return self.process(b.left, **kw) + b.operator.sql + "(" + rendered + ")"
        return self.process(b.left, **kw) + b.operator.sql + self.process(right, **kw)

    visit_not_in_op_binary = visit_in_op_binary

    def visit_ilike_op_binary(self, b: el.BinaryExpression, **kw: Any) -> str:
        if self.dialect.supports_ilike:
            return self.visit_binary_plain(b, **kw)
        neg = " NOT LIKE " if b.operator is ops.not_ilike_op else " LIKE "
        text = (
            "lower(" + self.process(b.left, **kw) + ")" + neg
            + "lower(" + self.process(b.right, **kw) + ")"
        )
        escape = b.modifiers.get("escape") if b.modifiers else None
        if escape is not None:
            text += " ESCAPE " + self.render_literal_value(escape, sqltypes.STRINGTYPE)
        return text

    visit_not_ilike_op_binary = visit_ilike_op_binary

    def visit_binary_plain(self, b: el.BinaryExpression, **kw: Any) -> str:
        text = self.process(b.left, **kw) + b.operator.sql + self.process(b.right, **kw)
        escape = b.modifiers.get("escape") if b.modifiers else None
        if escape is not None:
            text += " ESCAPE " + self.render_literal_value(escape, sqltypes.STRINGTYPE)
        return text

    def visit_textclause(self, t: el.TextClause, **kw: Any) -> str:
        def repl(m: re.Match[str]) -> str:
            name = m.group(1)
            bind = t._bindparams.get(name)
            if bind is None:  # pragma: no cover - regex and dict come from the same text
                return m.group(0)
            return self.process(bind, **kw)

        body = t.text
        if self.dialect.escape_percent:
            body = body.replace("%", "%%")
        body = _TEXT_BIND_RE.sub(repl, body)
        body = _TEXT_ESCAPED_COLON.sub(":", body)
        if kw.get("toplevel") and t._columns:
            self.isselect = True
            self.result_columns = [(c.key, c.type) for c in t._columns]
            self.result_column_objects = list(t._columns)
        return body

    # -- FROM objects -------------------------------------------------------------
    def visit_table(self, table: TableClause, asfrom: bool = False, **kw: Any) -> str:
        return self.dialect.format_table(table)

    def visit_join(self, join: Join, asfrom: bool = True, **kw: Any) -> str:
        kw = _strip(kw)
        kind = " FULL OUTER JOIN " if join.full else (
            " LEFT OUTER JOIN " if join.isouter else " JOIN "
        )
        return (
            self.process(join.left, asfrom=True, **kw) + kind
            + self.process(join.right, asfrom=True, **kw) + " ON "
            + self.process(join.onclause, **kw)
        )

    def visit_alias(self, alias: Alias, asfrom: bool = False, **kw: Any) -> str:
        name = self.dialect.quote(alias.name)  # type: ignore[arg-type]
        if not asfrom:
            return name
        inner = alias.element
        if isinstance(inner, (Select, CompoundSelect)):
            body = self.process(inner, asfrom=True, subquery=True, nested=True, **_strip(kw))
            return "(" + body + ") AS " + name
        return self.process(inner, asfrom=True, **_strip(kw)) + " AS " + name

    visit_subquery = visit_alias

    def visit_cte(self, cte: CTE, asfrom: bool = False, **kw: Any) -> str:
        name = self.dialect.quote(cte.name)  # type: ignore[arg-type]
        if cte.name not in self._ctes:
            self._ctes[cte.name] = ""  # reserve the slot: a recursive CTE names itself
            if cte.recursive:
                self._cte_recursive = True
            body = self.process(cte.element, asfrom=True, subquery=True, nested=True,
                                **_strip(kw))
            cols = ""
            if cte.recursive:
                cols = "(" + ", ".join(self.dialect.quote(k) for k in cte.c.keys()) + ")"
            self._ctes[cte.name] = f"{name}{cols} AS ({body})"
        return name

    # -- SELECT -----------------------------------------------------------------
    def visit_scalar_select(self, s: Any, **kw: Any) -> str:
        return "(" + self.process(s.element, nested=True, **_strip(kw)) + ")"

    def visit_exists(self, e: Any, **kw: Any) -> str:
        return "EXISTS " + self.process(e.element, **kw)

    def visit_select(self, select: Select, toplevel: bool = False, subquery: bool = False,
                     nested: bool = False, **kw: Any) -> str:
        if toplevel:
            self.isselect = True
        kw = _strip(kw)
        froms = select.get_final_froms()
        # correlation: a nested SELECT leaves out tables of the enclosing one
        if self._stack and nested and not subquery:
            enclosing = self._stack[-1]["froms"]
            if select._correlate is not None:
                drop = [f for f in froms if f in select._correlate]
            else:
                drop = [f for f in froms if any(f is e or f in e._from_objects
                                                for e in enclosing)]
            if drop and len(drop) < len(froms) or (drop and select._correlate):
                froms = [f for f in froms if f not in drop]
            elif drop and select._correlate is None:
                froms = [f for f in froms if f not in drop] or froms
        self._stack.append({"froms": froms, "select": select})
        try:
            columns = self._select_columns(select, toplevel, subquery)
            text = "SELECT "
            if select._distinct:
                text += self.render_distinct(select, **kw)
            text += columns
            if froms:
                text += " FROM " + ", ".join(self.process(f, asfrom=True, **kw) for f in froms)
            text += self._where_text(select._where, **kw)
            if select._group_by:
                text += " GROUP BY " + ", ".join(self.process(g, **kw) for g in select._group_by)
            if select._having:
                text += " HAVING " + self.process(el.and_(*select._having), **kw)
            text += self._order_limit(select, **kw)
            if select._for_update is not None:
                text += self.render_for_update(select._for_update, **kw)
        finally:
            self._stack.pop()
        return text

    def render_distinct(self, select: Select, **kw: Any) -> str:
        if select._distinct_on:
            raise exc.CompileError(
                f"DISTINCT ON is not supported by the {self.dialect.name} dialect."
            )
        return "DISTINCT "

    def _select_columns(self, select: Select, toplevel: bool, subquery: bool) -> str:
        exported = _exported(select)
        parts = []
        for key, col in exported:
            rendered = self.process(col, within_columns_clause=True)
            natural = getattr(col, "name", None)
            if subquery and not isinstance(col, el.Label) and (
                natural != key or not isinstance(col, el.ColumnClause)
            ):
                rendered += " AS " + self.dialect.quote(key)
            parts.append(rendered)
            if toplevel:
                self.result_columns.append((_result_key(col, key), col.type))
                self.result_column_objects.append(col)
        return ", ".join(parts)

    def _where_text(self, where: Sequence[el.ColumnElement], **kw: Any) -> str:
        if not where:
            return ""
        text = self.process(el.and_(*where), **kw)
        return " WHERE " + text if text else ""

    def _order_limit(self, select: Any, **kw: Any) -> str:
        text = ""
        if select._order_by:
            text += " ORDER BY " + ", ".join(
                self.process(o, render_label_as_name=True, **kw) for o in select._order_by
            )
        return text + self.limit_clause(select, **kw)

    def limit_clause(self, select: Any, **kw: Any) -> str:
        text = ""
        if select._limit is not None:
            text += " LIMIT " + self.process(select._limit, **kw)
        if select._offset is not None:
            if select._limit is None and self.dialect.limit_required_for_offset:
                text += " LIMIT -1"
            text += " OFFSET " + self.process(select._offset, **kw)
        return text

    def render_for_update(self, opts: dict[str, Any], **kw: Any) -> str:
        text = " FOR SHARE" if opts["read"] else " FOR UPDATE"
        if opts["of"]:
            text += " OF " + ", ".join(self.process(o, **kw) for o in opts["of"])
        if opts["nowait"]:
            text += " NOWAIT"
        if opts["skip_locked"]:
            text += " SKIP LOCKED"
        return text

    def visit_compound_select(self, cs: CompoundSelect, toplevel: bool = False,
                              **kw: Any) -> str:
        if toplevel:
            self.isselect = True
            for key, col in _exported(cs):
                self.result_columns.append((_result_key(col, key), col.type))
                self.result_column_objects.append(col)
        parts = []
        for s in cs.selects:
            sub = self.process(s, nested=True, subquery=True, **_strip(kw))
            if getattr(s, "_order_by", None) or getattr(s, "_limit", None) is not None:
                sub = "SELECT * FROM (" + sub + ")"
            parts.append(sub)
        text = (" " + cs.keyword + " ").join(parts)
        return text + self._order_limit(cs, **_strip(kw))

    # -- DML ------------------------------------------------------------------------
    def _returning_text(self, returning: Sequence[el.ColumnElement], toplevel: bool) -> str:
        if not returning:
            return ""
        self.returning = list(returning)
        if toplevel:
            self.result_columns = [(_result_key(c, c.key), c.type) for c in returning]
            self.result_column_objects = list(returning)
        return " RETURNING " + ", ".join(
            self.process(c, include_table=False, within_columns_clause=True) for c in returning
        )

    def _bind_for_column(self, col: Column, name_suffix: str = "") -> str:
        bind = el.BindParameter(col.key + name_suffix, None, type_=col.type, required=False)
        return self.process(bind)

    def visit_insert(self, stmt: Any, toplevel: bool = False, **kw: Any) -> str:
        self.isinsert = True
        table = stmt.table
        text = "INSERT INTO " + self.dialect.format_table(table)
        if stmt._from_select is not None:
            names, sel = stmt._from_select
            text += " (" + ", ".join(self.dialect.quote(table.c[n].name) for n in names) + ") "
            text += self.process(sel, nested=True)
            return text + self._insert_tail(stmt, toplevel, [])
        if stmt._multi_values:
            rows = stmt._multi_values
            keys = [c.key for c in table.c if c.key in rows[0] or self._client_default(c)]
            cols = [table.c[k] for k in keys]
            text += " (" + ", ".join(self.dialect.quote(c.name) for c in cols) + ") VALUES "
            rendered_rows = []
            for i, row in enumerate(rows):
                vals = []
                for c in cols:
                    if c.key in row:
                        vals.append(self.process(row[c.key]))
                    else:
                        vals.append(self._default_value(c, f"_m{i}", for_update=False))
                rendered_rows.append("(" + ", ".join(vals) + ")")
            text += ", ".join(rendered_rows)
            return text + self._insert_tail(stmt, toplevel, cols)
        cols, values = [], []
        given = stmt._values or {}
        keys = self.column_keys or frozenset()
        autoinc = getattr(table, "autoincrement_column", None)
        for c in table.c:
            if c.key in given:
                cols.append(c)
                values.append(self.process(given[c.key]))
            elif c.key in keys:
                cols.append(c)
                values.append(self._bind_for_column(c))
            elif self._client_default(c):
                cols.append(c)
                values.append(self._default_value(c, "", for_update=False))
            elif c.server_default is not None or c is autoinc:
                self.postfetch.append(c)
        if not cols:
            text += self.default_values_clause()
        else:
            text += " (" + ", ".join(self.dialect.quote(c.name) for c in cols) + ") VALUES ("
            text += ", ".join(values) + ")"
        return text + self._insert_tail(stmt, toplevel, cols)

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
        ) and not self.for_executemany and not stmt._multi_values and getattr(
            table, "implicit_returning", False
        ):
            pk_missing = [c for c in table.primary_key if c not in cols or (
                c in self.postfetch)]
            if pk_missing or stmt._return_defaults:
                returning = list(table.primary_key)
                if stmt._return_defaults:
                    returning += [c for c in self.postfetch if c not in returning]
                self.implicit_returning = list(table.primary_key)
        self.postfetch = [c for c in self.postfetch if c not in returning]
        return text + self._returning_text(returning, toplevel)

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
            self.postfetch.append(c)
            return self.process(d.next_value())
        if d.is_clause_element:
            self.postfetch.append(c)
            return self.process(d.arg)
        name = self._bind_name(
            el.BindParameter(c.key + suffix, None, type_=c.type, required=False, unique=False)
        )
        self.prefetch.append((name, c, for_update))
        return self._placeholder(name)

    def visit_on_conflict(self, oc: Any, **kw: Any) -> str:
        if not self.dialect.supports_on_conflict:
            raise exc.CompileError(f"ON CONFLICT is not supported by {self.dialect.name}")
        text = "ON CONFLICT"
        if oc.constraint_name:
            text += " ON CONSTRAINT " + self.dialect.quote(oc.constraint_name)
        elif oc.index_elements:
            text += " (" + ", ".join(
                self.process(e, include_table=False) for e in oc.index_elements
            ) + ")"
            if oc.index_where is not None:
                text += " WHERE " + self.process(oc.index_where, include_table=False)
        if not oc.do_update:
            return text + " DO NOTHING"
        sets = ", ".join(
            self.dialect.quote(oc.table.c[k].name) + " = " + self.process(v)
            for k, v in oc.set_
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
        keys = (self.column_keys or frozenset()) - where_keys
        sets = []
        where_text = ""
        for c in table.c:
            if c.key in given:
                sets.append((c, self.process(given[c.key], include_table=False)))
            elif c.key in keys:
                sets.append((c, self._bind_for_column(c)))
            elif c.onupdate is not None:
                sets.append((c, self._default_value(c, "", for_update=True)))
            elif c.server_onupdate is not None:
                self.postfetch.append(c)
        if not sets:
            raise exc.CompileError(
                f"UPDATE of table {table.name!r} has no SET values: give .values(...) or "
                "execution parameters naming columns."
            )
        text = "UPDATE " + self.dialect.format_table(table) + " SET " + ", ".join(
            self.dialect.quote(c.name) + "=" + v for c, v in sets
        )
        where_text = self._where_text(stmt._where, **kw)
        text += where_text
        self.postfetch = [c for c in self.postfetch if c not in stmt._returning]
        return text + self._returning_text(stmt._returning, toplevel)

    def visit_delete(self, stmt: Any, toplevel: bool = False, **kw: Any) -> str:
        self.isdelete = True
        text = "DELETE FROM " + self.dialect.format_table(stmt.table)
        text += self._where_text(stmt._where, **kw)
        return text + self._returning_text(stmt._returning, toplevel)


SQLCompiler = Compiled
Dialect.statement_compiler = SQLCompiler

_KNOWN_FUNCTIONS = frozenset({"count", "sum", "max", "min", "avg", "coalesce", "lower", "upper",
                              "now", "left", "right", "replace", "current_date"})


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
        if k not in ("toplevel", "asfrom", "subquery", "nested", "within_columns_clause",
                     "include_table", "render_label_as_name")
    }


def _result_key(col: Any, fallback: str | None) -> str | None:
    if isinstance(col, el.Label):
        return col.name
    key = getattr(col, "key", None)
    return key if key is not None else fallback
