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

The class is assembled from parts in sibling modules (state and dispatch in
``compiler_base``, SELECT/FROM in ``compiler_select``, INSERT/UPDATE/DELETE in
``compiler_dml``); this module holds bind parameters, literals, the
execution-time parameter plan and the expression visitors.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from docket import exc
from docket.sql import elements as el
from docket.sql import operators as ops
from docket.sql import types as sqltypes
from docket.sql.compiler_base import _DISPLAY, _renumber, _result_key, _strip  # noqa: F401
from docket.sql.compiler_dml import DMLCompiler
from docket.sql.compiler_select import SelectCompiler, _order_by_names  # noqa: F401
from docket.sql.dialect import Dialect
from docket.sql.functions import Function
from docket.sql.selectable import (
    Alias,
    CompoundSelect,
    Exists,
    Select,
    _exported,
)

__all__ = ["Compiled", "SQLCompiler"]

_EXPAND_RE = re.compile(r"__\[EXPAND_(\w+?)\]__")
_TEXT_BIND_RE = re.compile(r"(?<![:\w\\]):(\w+)(?!:)")
_TEXT_ESCAPED_COLON = re.compile(r"\\:")
_LEGAL_FUNCTION_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*$")


class Compiled(SelectCompiler, DMLCompiler):
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


SQLCompiler = Compiled
Dialect.statement_compiler = SQLCompiler
