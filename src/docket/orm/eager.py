"""Joined eager loading: the JOINs and columns a ``joined`` (or
``contains_eager``) relationship adds to an ORM SELECT.

For every mapped entity of a statement, the relationships whose strategy
is ``joined`` (by default or by option) are joined to an anonymous alias of
the target table (and of the ``secondary`` table), recursively for joined
relationships below them; their columns are appended to the SELECT list and
a :class:`~docket.orm.strategies.JoinedEager` per relationship records
where.  ``contains_eager`` reads the columns of a join the statement already
has (or of the alias it names).

A collection joined into a statement with LIMIT/OFFSET would limit joined
rows rather than parents, so such a collection is loaded with ``selectin``
after the query instead.  A self-referential relationship is joined once
per path unless ``join_depth`` says how deep to go.
"""

from __future__ import annotations

from typing import Any

from docket.orm.strategies import JoinedEager, effective
from docket.orm.strategy_options import LoadNode, build_tree
from docket.sql import visitors
from docket.sql.schema import Column

__all__ = ["node_for", "setup_joined"]


def node_for(options: tuple[Any, ...], mapper: Any) -> LoadNode | None:
    """The loader options of a statement that apply to entity ``mapper``."""
    return build_tree(options, mapper)


def setup_joined(stmt: Any, entities: list[Any], columns: list[Any],
                 order_by: list[Any]) -> list[tuple[Any, Any, bool]]:
    """Fill in each mapper entity's joined eager loads; return the joins
    ``(target, onclause, inner)`` to add, in order (``columns`` grows, and
    ``order_by`` receives the joined collections' orderings)."""
    joins: list[tuple[Any, Any, bool]] = []
    limited = stmt._limit is not None or stmt._offset is not None
    for ent in entities:
        mapper = getattr(ent, "mapper", None)
        if mapper is None or not (mapper._joined_rels or ent.node is not None):
            continue
        insp = None
        for raw in stmt._raw_entities:
            found = getattr(raw, "_aliased_insp", None)
            if found is not None and found.mapper is mapper:
                insp = found
        parent_sel = insp.selectable if insp is not None else mapper.local_table
        _walk(mapper, ent.node, parent_sel, ent.eagers, ent, joins, columns, (), limited, False,
              order_by)
    return joins


def _walk(mapper: Any, node: LoadNode | None, parent_sel: Any, out: list[JoinedEager],
          ent: Any, joins: list[tuple[Any, Any, bool]], columns: list[Any],
          path: tuple[Any, ...], limited: bool, outer: bool, order_by: list[Any]) -> None:
    rels = mapper._rel_props if node is not None else mapper._joined_rels
    for prop in rels:
        strategy, sub = effective(prop, node)
        if strategy not in ("joined", "contains_eager"):
            continue
        opts = node.strategy_for(prop)[1] if node is not None else {}
        target = prop.mapper
        if strategy == "joined":
            if limited and prop.uselist:
                if not path:
                    ent.overrides[prop] = "selectin"
                continue
            depth = prop.join_depth
            seen = path.count(prop)
            if (depth is None and seen and node is None) or (depth is not None and seen >= depth):
                continue
            inner = opts.get("innerjoin")
            inner = bool(prop.innerjoin if inner is None else inner) and not outer
            target_sel = target.local_table.alias()
            if prop.secondary is not None:
                sec = prop.secondary.alias()
                pj = _adapt(prop, prop.primaryjoin, parent_sel, target_sel, sec)
                sj = _adapt(prop, prop.secondaryjoin, parent_sel, target_sel, sec)
                joins.append((sec, pj, inner))
                joins.append((target_sel, sj, inner))
            else:
                joins.append((target_sel, _adapt(prop, prop.primaryjoin, parent_sel, target_sel,
                                                  None), inner))
            child_outer = outer or not inner
            if prop.order_by:
                from docket.orm.rel_sql import _all_to

                order_by.extend(_all_to(o, target.local_table, target_sel) for o in prop.order_by)
        else:
            alias = opts.get("alias")
            target_sel = _selectable(alias) if alias is not None else target.local_table
            child_outer = outer
        keys = sub.column_keys(target) if sub is not None else target._eager_column_keys
        start = len(columns)
        for k in keys:
            col = target._key_to_col[k]
            columns.append(target_sel.corresponding_column(col) if target_sel is not
                           target.local_table else col)
        eager = JoinedEager(prop, keys, start, sub)
        out.append(eager)
        if prop.uselist and not ent.unique:
            ent.unique = str(prop)
        _walk(target, sub, target_sel, eager.children, ent, joins, columns, path + (prop,),
              limited, child_outer, order_by)


def _selectable(alias: Any) -> Any:
    insp = getattr(alias, "_aliased_insp", None)
    if insp is not None:
        return insp.selectable
    ce = getattr(alias, "__clause_element__", None)
    return ce() if ce is not None else alias


def _adapt(prop: Any, join: Any, parent_sel: Any, target_sel: Any, sec: Any) -> Any:
    """``join`` with the parent's columns taken from ``parent_sel``, the
    target's from ``target_sel`` and the secondary's from ``sec``."""
    parent_t = prop.parent.local_table
    target_t = prop.mapper.local_table
    self_ref = parent_t is target_t
    remote = prop.remote_side if prop.secondary is None else set()

    def swap(node: Any) -> Any:
        if not isinstance(node, Column):
            return None
        table = node.table
        if sec is not None and table is prop.secondary:
            return sec.corresponding_column(node)
        if self_ref and table is target_t:
            if prop.secondary is None:
                sel = target_sel if node in remote else parent_sel
            else:  # self-referential many-to-many: tell the sides by the join
                sel = parent_sel if join is prop.primaryjoin else target_sel
        elif table is target_t:
            sel = target_sel
        elif table is parent_t:
            sel = parent_sel
        else:
            return None
        return node if sel is table else sel.corresponding_column(node)

    return visitors.replace(join, swap)
