"""Mapped properties for columns: ColumnProperty, ``column_property``,
``deferred``, ``synonym`` and the ``mapped_column()`` declaration."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from docket import exc
from docket.orm.attributes import make_scalar_deleter, make_scalar_setter
from docket.orm.state import STATE_KEY
from docket.sql.elements import ColumnElement
from docket.sql.schema import Column, ForeignKey
from docket.sql.type_api import TypeEngine

if TYPE_CHECKING:
    from docket.orm.attributes import QueryableAttribute
    from docket.orm.mapper import Mapper

__all__ = ["ColumnProperty", "MappedColumn", "column_property", "deferred", "mapped_column"]


def _state_str(obj: Any) -> str:
    return f"<{type(obj).__name__} at 0x{id(obj):x}>"


class MapperProperty:
    """Base of everything a Mapper maps to a class attribute."""

    key: str
    parent: Mapper
    info: dict[str, Any]
    is_relationship = False
    is_column = False

    def _setter(self) -> Callable[[Any, Any], None] | None:
        return None

    def _deleter(self) -> Callable[[Any], None] | None:
        return None

    def _post_configure(self) -> None:
        """Called once every mapper of the registry exists."""


class ColumnProperty(MapperProperty):
    """A mapped attribute backed by one column (or a SQL expression).

    Attributes:
        columns: the column(s); ``columns[0]`` is the one read and written.
        deferred: load on first access instead of with the object.
    """

    is_column = True

    def __init__(
        self, *columns: Any, deferred: bool = False, group: str | None = None,
        active_history: bool = False, raiseload: bool = False, info: dict[str, Any] | None = None,
        doc: str | None = None, expire_on_flush: bool = True,
    ) -> None:
        self.columns: list[ColumnElement] = list(columns)
        self.deferred = deferred
        self.group = group
        self.active_history = active_history
        self.raiseload = raiseload
        self.info = info or {}
        self.doc = doc
        self.expire_on_flush = expire_on_flush
        self.key = ""

    @property
    def expression(self) -> ColumnElement:
        return self.columns[0]

    @property
    def column(self) -> ColumnElement:
        return self.columns[0]

    @property
    def is_writable(self) -> bool:
        """True for a table column (False for a read-only SQL expression)."""
        return isinstance(self.columns[0], Column)

    # -- class-level (SQL) behaviour ------------------------------------------------
    def _clause_element(self, attr: QueryableAttribute) -> Any:
        return self.columns[0]

    def _comparator_target(self, attr: QueryableAttribute) -> Any:
        return self.columns[0]

    def _compare(self, opname: str, attr: QueryableAttribute, other: Any) -> Any:
        return getattr(self.columns[0], opname)(other)

    # -- instance behaviour -------------------------------------------------------------
    def _setter(self) -> Callable[[Any, Any], None] | None:
        # SQL-expression attributes are assignable too (as in SQLAlchemy); the
        # flush writes table columns only, so such a value is never persisted
        return make_scalar_setter(self.key)

    def _deleter(self) -> Callable[[Any], None] | None:
        return make_scalar_deleter(self.key)

    def _get_missing(self, obj: Any, key: str) -> Any:
        """``obj.<key>`` is not in ``obj.__dict__``: load it, or None for new objects.

        Raises:
            DetachedInstanceError: the object is detached and the value was
                never loaded or was expired.
            ObjectDeletedError: the object's row no longer exists.
        """
        state = obj.__dict__.get(STATE_KEY)
        if state is None or state.ident is None:
            return None
        session = state.session
        if session is None:
            raise exc.DetachedInstanceError(
                f"Instance {_state_str(obj)} is not bound to a Session; attribute refresh "
                f"operation cannot proceed (attribute {key!r} is expired or not loaded). "
                "Add the object to a Session (session.add / session.merge) or load the "
                "attribute before closing the session."
            )
        ctx = state.load_ctx
        if self.raiseload or (ctx is not None and key in ctx.raise_cols):
            raise exc.InvalidRequestError(
                f"'{type(obj).__name__}.{key}' is not available due to raiseload=True; "
                "undefer it in the query, or drop raiseload."
            )
        session._load_on_access(state, key)
        return obj.__dict__.get(key)

    def __repr__(self) -> str:
        return f"ColumnProperty({self.key!r})"


def column_property(*columns: Any, deferred: bool = False, group: str | None = None,
                    active_history: bool = False, raiseload: bool = False,
                    info: dict[str, Any] | None = None, doc: str | None = None,
                    expire_on_flush: bool = True) -> ColumnProperty:
    """Map a column or SQL expression (read-only) to an attribute."""
    return ColumnProperty(*columns, deferred=deferred, group=group,
                          active_history=active_history, raiseload=raiseload, info=info,
                          doc=doc, expire_on_flush=expire_on_flush)


def deferred(column: Any, *additional: Any, group: str | None = None,
             raiseload: bool = False) -> ColumnProperty:
    """Map a column that loads on first access rather than with the object."""
    return ColumnProperty(column, *additional, deferred=True, group=group, raiseload=raiseload)


def _is_type(arg: Any) -> bool:
    return isinstance(arg, TypeEngine) or (isinstance(arg, type) and issubclass(arg, TypeEngine))


class MappedColumn:
    """What ``mapped_column()`` returns in a declarative class body: a Column
    plus ORM options, completed from the ``Mapped[...]`` annotation.

    The constructor arguments are kept so that a mixin's declaration can be
    re-created (with fresh ForeignKey objects) for every class using it.
    """

    def __init__(self, *args: Any, **kw: Any) -> None:
        self._args = args
        self._kw = dict(kw)
        self.deferred = kw.pop("deferred", False)
        self.deferred_group = kw.pop("deferred_group", None)
        self.deferred_raiseload = kw.pop("deferred_raiseload", False)
        self.active_history = kw.pop("active_history", False)
        self.sort_order = kw.pop("sort_order", 0)
        for dataclass_only in ("init", "repr", "compare", "kw_only", "default_factory",
                               "hash", "dataclass_metadata"):
            kw.pop(dataclass_only, None)
        self.use_existing_column = kw.pop("use_existing_column", False)
        self._has_nullable = "nullable" in kw
        self._has_type = "type_" in kw or any(_is_type(a) for a in args)
        self.column = Column(*args, **kw)

    def _copy(self) -> MappedColumn:
        """A fresh declaration for another class (new Column, new ForeignKeys)."""
        args = [a._copy() if isinstance(a, ForeignKey) else a for a in self._args]
        return MappedColumn(*args, **self._kw)

    def _merged_with(self, base: MappedColumn) -> MappedColumn:
        """This declaration completed by one found in ``Annotated[..., mapped_column()]``:
        arguments given here win; the base supplies the rest."""
        own_name = any(isinstance(a, str) for a in self._args)
        own_type = self._has_type
        args: list[Any] = []
        for a in base._args:
            if (isinstance(a, str) and own_name) or (_is_type(a) and own_type):
                continue
            args.append(a._copy() if isinstance(a, ForeignKey) else a)
        names = [a for a in args if isinstance(a, str)]
        rest = [a for a in args if not isinstance(a, str)]
        own_names = [a for a in self._args if isinstance(a, str)]
        own_rest = [a for a in self._args if not isinstance(a, str)]
        return MappedColumn(*own_names, *names, *own_rest, *rest, **{**base._kw, **self._kw})

    def _property(self, column: Column) -> ColumnProperty:
        """The mapper property for this declaration's completed column."""
        if self.deferred or self.deferred_group or self.deferred_raiseload:
            return ColumnProperty(column, deferred=True, group=self.deferred_group,
                                  raiseload=self.deferred_raiseload,
                                  active_history=self.active_history)
        return ColumnProperty(column, active_history=self.active_history,
                              doc=self._kw.get("doc"), info=self._kw.get("info"))

    def __clause_element__(self) -> Column:
        # lets a class body use the column in expressions: column_property(func.lower(name))
        return self.column

    def __repr__(self) -> str:
        return f"mapped_column({self.column.name!r})"


def mapped_column(*args: Any, **kw: Any) -> Any:
    """Declare a mapped column in a declarative class.

    Takes every ``Column`` argument (name, type, ForeignKey, ``primary_key``,
    ``nullable``, ``default``, ``server_default``, ``onupdate``, ``index``,
    ``unique``, ...) plus ``deferred``.  Omitted type and nullability come
    from the ``Mapped[...]`` annotation (``Optional[X]`` means nullable).
    """
    return MappedColumn(*args, **kw)
