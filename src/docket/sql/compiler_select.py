"""SELECT rendering: FROM objects (tables, joins, aliases, subqueries, CTEs),
SELECT and compound SELECT, correlation, ORDER BY / LIMIT / FOR UPDATE.

Part of the statement compiler; see :mod:`docket.sql.compiler_base` for how
the parts fit together.  Dialects override the ``render_*`` hooks and
:meth:`SelectCompiler.limit_clause`.
"""

from __future__ import annotations

import re
from typing import Any

from docket import exc
from docket.sql import elements as el
from docket.sql.compiler_base import CompilerBase, _result_key, _strip
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

__all__ = ["SelectCompiler"]


class SelectCompiler(CompilerBase):
    """Renders FROM objects and SELECT statements."""

    # -- FROM objects -------------------------------------------------------------
    def visit_table(self, table: TableClause, **kw: Any) -> str:
        return self.dialect.format_table(table)

    def visit_join(self, join: Join, **kw: Any) -> str:
        kw = _strip(kw)
        kind = " FULL OUTER JOIN " if join.full else (
            " LEFT OUTER JOIN " if join.isouter else " JOIN "
        )
        right = self.process(join.right, asfrom=True, **kw)
        if isinstance(join.right, Join):
            right = f"({right})"  # a right-nested join (e.g. through an association table)
        return (
            self.process(join.left, asfrom=True, **kw) + kind + right + " ON "
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


def _order_by_names(exported: list[tuple[str, Any]]) -> dict[str, Any]:
    """Name -> selected column, for resolving labels and names in ORDER BY."""
    names: dict[str, Any] = {}
    for key, col in exported:
        names.setdefault(key, col)
        name = col.name if isinstance(col, (el.Label, el.ColumnClause)) else None
        if isinstance(name, str):
            names.setdefault(name, col)
    return names
