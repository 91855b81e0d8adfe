"""The legacy ``Query`` API: ``session.query(User).filter(...).all()``.

A Query is an immutable builder around a ``select()``; every method returns a
new Query, and fetching runs the select through ``Session.execute``.  A query
of one mapped class returns objects, otherwise Rows -- as SQLAlchemy's does.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from docket import exc
from docket.sql.elements import literal_column
from docket.sql.functions import func
from docket.sql.selectable import Select

if TYPE_CHECKING:
    from docket.orm.session import Session

__all__ = ["Query"]


class Query:
    """``session.query(*entities)``."""

    def __init__(self, entities: Any, session: Session | None = None) -> None:
        if not isinstance(entities, (list, tuple)):
            entities = (entities,)
        self.session = session
        self._statement = Select(*entities)
        self._single = len(entities) == 1 and _is_entity(entities[0])
        self._exec_opts: dict[str, Any] = {}

    def _copy(self, stmt: Select | None = None) -> Query:
        new = Query.__new__(Query)
        new.__dict__.update(self.__dict__)
        new._exec_opts = dict(self._exec_opts)
        if stmt is not None:
            new._statement = stmt
        return new

    def _session(self) -> Session:
        if self.session is None:
            raise exc.InvalidRequestError(
                "This Query is not bound to a Session; use session.query(...) or "
                "query.with_session(session)."
            )
        return self.session

    # -- builders -----------------------------------------------------------------------
    def with_session(self, session: Session) -> Query:
        new = self._copy()
        new.session = session
        return new

    def filter(self, *criterion: Any) -> Query:
        return self._copy(self._statement.where(*criterion))

    where = filter

    def filter_by(self, **kw: Any) -> Query:
        return self._copy(self._statement.filter_by(**kw))

    def order_by(self, *clauses: Any) -> Query:
        return self._copy(self._statement.order_by(*clauses))

    def group_by(self, *clauses: Any) -> Query:
        return self._copy(self._statement.group_by(*clauses))

    def having(self, *criterion: Any) -> Query:
        return self._copy(self._statement.having(*criterion))

    def limit(self, limit: int | None) -> Query:
        return self._copy(self._statement.limit(limit))

    def offset(self, offset: int | None) -> Query:
        return self._copy(self._statement.offset(offset))

    def slice(self, start: int, stop: int) -> Query:
        return self._copy(self._statement.slice(start, stop))

    def distinct(self, *expr: Any) -> Query:
        return self._copy(self._statement.distinct(*expr))

    def join(self, target: Any, onclause: Any = None, *, isouter: bool = False,
             full: bool = False) -> Query:
        return self._copy(self._statement.join(target, onclause, isouter=isouter, full=full))

    def outerjoin(self, target: Any, onclause: Any = None, *, full: bool = False) -> Query:
        return self._copy(self._statement.outerjoin(target, onclause, full=full))

    def select_from(self, *froms: Any) -> Query:
        return self._copy(self._statement.select_from(*froms))

    def options(self, *opts: Any) -> Query:
        return self._copy(self._statement.options(*opts))

    def with_for_update(self, **kw: Any) -> Query:
        return self._copy(self._statement.with_for_update(**kw))

    def add_columns(self, *cols: Any) -> Query:
        new = self._copy(self._statement.add_columns(*cols))
        new._single = False
        return new

    def with_entities(self, *entities: Any) -> Query:
        new = self._copy(self._statement.with_only_columns(*entities,
                                                           maintain_column_froms=True))
        new._single = len(entities) == 1 and _is_entity(entities[0])
        return new

    def execution_options(self, **opts: Any) -> Query:
        new = self._copy()
        new._exec_opts.update(opts)
        return new

    def populate_existing(self) -> Query:
        return self.execution_options(populate_existing=True)

    def yield_per(self, count: int) -> Query:
        return self.execution_options(yield_per=count)

    def autoflush(self, setting: bool) -> Query:
        return self.execution_options(autoflush=setting)

    def params(self, *args: Any, **kw: Any) -> Query:
        new = self._copy()
        params = dict(self._exec_opts.get("_params", {}))
        if args:
            params.update(args[0])
        params.update(kw)
        new._exec_opts["_params"] = params
        return new

    # -- statements -------------------------------------------------------------------
    @property
    def statement(self) -> Select:
        """The ``select()`` this Query runs."""
        return self._statement

    def subquery(self, name: str | None = None) -> Any:
        return self._statement.subquery(name)

    def scalar_subquery(self) -> Any:
        return self._statement.scalar_subquery()

    def exists(self) -> Any:
        return self._statement.exists()

    # -- execution -------------------------------------------------------------------------
    def _execute(self, stmt: Select | None = None) -> Any:
        opts = dict(self._exec_opts)
        params = opts.pop("_params", None)
        return self._session().execute(stmt if stmt is not None else self._statement, params,
                                       execution_options=opts or None)

    def _result(self, stmt: Select | None = None) -> Any:
        result = self._execute(stmt)
        if getattr(result, "_require_unique", None) is not None:
            result = result.unique()  # the legacy Query de-duplicates joined eager rows
        return result.scalars() if self._single else result

    def __iter__(self) -> Iterator[Any]:
        return iter(self._result())

    def all(self) -> list[Any]:
        """Every result: objects for a single-entity query, otherwise Rows."""
        return list(self._result().all())

    def first(self) -> Any:
        """The first result or None (adds LIMIT 1)."""
        return self._result(self._statement.limit(1)).first()

    def one(self) -> Any:
        """Exactly one result.

        Raises:
            NoResultFound: no row.
            MultipleResultsFound: more than one row.
        """
        return self._result().one()

    def one_or_none(self) -> Any:
        return self._result().one_or_none()

    def scalar(self) -> Any:
        """The first column of the only row (the object for a single-entity
        query); None if there is no row.

        Raises:
            MultipleResultsFound: more than one row.
        """
        try:
            ret = self.one()
        except exc.NoResultFound:
            return None
        return ret if self._single else ret[0]

    def count(self) -> int:
        """``SELECT count(*) FROM (<this query>)``."""
        stmt = Select(func.count(literal_column("*"))).select_from(
            self._statement.subquery()
        )
        return int(self._session().execute(stmt).scalar())

    def get(self, ident: Any) -> Any:
        """``Session.get()`` of this query's entity."""
        entity = self._statement._raw_entities[0]
        return self._session().get(entity, ident)

    def __getitem__(self, item: Any) -> Any:
        """``query[2:5]`` -> LIMIT/OFFSET list; ``query[3]`` -> that one result.

        Raises:
            IndexError: a negative index or slice bound (SQL can't count from
                the end; use ORDER BY ... DESC), or no result at ``item``.
        """
        if isinstance(item, slice):
            start, stop, step = item.start, item.stop, item.step
            if (start is not None and start < 0) or (stop is not None and stop < 0):
                raise IndexError(
                    f"negative indexes are not accepted by SQL index / slice operators "
                    f"(got {item!r} on {self!r}); reverse the ORDER BY instead.")
            start = start or 0
            q = self.offset(start) if stop is None else self.slice(start, stop)
            res = list(q)
            return res[::step] if step is not None else res
        if item < 0:
            raise IndexError(
                f"negative indexes are not accepted by SQL index / slice operators "
                f"(got {item} on {self!r}); reverse the ORDER BY instead.")
        res = list(self.slice(item, item + 1))
        if not res:
            raise IndexError(f"Query index {item} out of range: the query has no row there.")
        return res[0]

    # -- bulk DML ---------------------------------------------------------------------------
    def update(self, values: dict[Any, Any], synchronize_session: Any = "auto",
               update_args: dict[str, Any] | None = None) -> int:
        """UPDATE the rows this query matches; returns the row count."""
        from docket.sql.dml import Update

        entity = self._statement._raw_entities[0]
        stmt = Update(entity).where(*self._statement._where).values(values)
        result = self._session().execute(
            stmt, execution_options={"synchronize_session": synchronize_session})
        return int(result.rowcount)

    def delete(self, synchronize_session: Any = "auto") -> int:
        """DELETE the rows this query matches; returns the row count."""
        from docket.sql.dml import Delete

        entity = self._statement._raw_entities[0]
        stmt = Delete(entity).where(*self._statement._where)
        result = self._session().execute(
            stmt, execution_options={"synchronize_session": synchronize_session})
        return int(result.rowcount)

    def __str__(self) -> str:
        return str(self._statement)

    def __repr__(self) -> str:
        names = ", ".join(getattr(e, "__name__", None) or str(e)
                          for e in self._statement._raw_entities)
        return f"<Query of ({names})>"


def _is_entity(obj: Any) -> bool:
    return isinstance(obj, type) and hasattr(obj, "__mapper__")
