"""Every error docket raises.

The hierarchy and names follow SQLAlchemy's ``sqlalchemy.exc`` so that ported
``except`` clauses keep working.  This module imports nothing from docket.

Invariant: an error message always says what was wrong, on which object or
statement, and (where there is one) what to do next.  Passwords never appear:
URLs are rendered with the password hidden before they reach a message.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AmbiguousForeignKeysError",
    "ArgumentError",
    "CircularDependencyError",
    "CompileError",
    "ConcurrentModificationError",
    "DBAPIError",
    "DataError",
    "DatabaseError",
    "DetachedInstanceError",
    "DisconnectionError",
    "DocketError",
    "FlushError",
    "IntegrityError",
    "InterfaceError",
    "InternalError",
    "InvalidArgumentError",
    "InvalidRequestError",
    "LoaderStrategyException",
    "MultipleResultsFound",
    "NoForeignKeysError",
    "NoInspectionAvailable",
    "NoReferencedColumnError",
    "NoReferencedTableError",
    "NoResultFound",
    "NoSuchColumnError",
    "NoSuchModuleError",
    "NoSuchTableError",
    "NotSupportedError",
    "ObjectDeletedError",
    "ObjectDereferencedError",
    "OperationalError",
    "PendingRollbackError",
    "ProgrammingError",
    "ResourceClosedError",
    "SAWarning",
    "SQLAlchemyError",
    "StaleDataError",
    "StatementError",
    "TimeoutError",
    "UnboundExecutionError",
    "UnmappedClassError",
    "UnmappedColumnError",
    "UnmappedError",
    "UnmappedInstanceError",
    "UnsupportedCompilationError",
]


class SAWarning(RuntimeWarning):
    """A warning about questionable ORM usage (SQLAlchemy's name), e.g. a
    related object that is not in the session and so is not flushed."""


class DocketError(Exception):
    """Base of every docket error.

    ``details`` are extra lines (for example the instance a flush was writing)
    appended to the message.
    """

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.details: list[str] = []

    def add_detail(self, text: str) -> None:
        """Append one line of context to the message."""
        self.details.append(text)

    def _message(self) -> str:
        base = str(self.args[0]) if len(self.args) == 1 else (
            ", ".join(str(a) for a in self.args) if self.args else ""
        )
        if self.details:
            base = base + "".join("\n" + d for d in self.details)
        return base

    def __str__(self) -> str:
        return self._message()


#: SQLAlchemy's name for the base class; ported ``except SQLAlchemyError`` works.
SQLAlchemyError = DocketError


class ArgumentError(DocketError):
    """A function or constructor got an argument it cannot use."""


class InvalidArgumentError(ArgumentError, TypeError):
    """A function (``create_engine()``) got a keyword argument it does not
    know.  Also a ``TypeError``, which is what SQLAlchemy raises there, so
    ported ``except TypeError`` clauses keep working."""


class NoSuchModuleError(ArgumentError):
    """A dialect or DB-API driver named in a URL cannot be imported."""


class CompileError(DocketError):
    """A statement cannot be rendered as SQL for this dialect."""


class UnsupportedCompilationError(CompileError):
    """The dialect has no way to render this construct."""


class CircularDependencyError(DocketError):
    """A dependency sort found a cycle nothing can break.

    ``cycles`` holds the members of the cycle, ``edges`` the dependencies.
    """

    def __init__(self, message: str, cycles: Any = (), edges: Any = ()) -> None:
        super().__init__(message)
        self.cycles = cycles
        self.edges = edges


class InvalidRequestError(DocketError):
    """The request is not valid in the current state of the object."""


class NoInspectionAvailable(InvalidRequestError):
    """``inspect()`` was given an object it knows nothing about."""


class NoSuchColumnError(InvalidRequestError, KeyError):
    """A row has no column of the requested name."""

    def __str__(self) -> str:  # KeyError would quote the message
        return DocketError.__str__(self)


class NoSuchTableError(InvalidRequestError):
    """A table does not exist in the database."""


class NoReferencedTableError(InvalidRequestError):
    """A ForeignKey names a table that is not in the MetaData."""

    def __init__(self, message: str, tname: str = "") -> None:
        super().__init__(message)
        self.table_name = tname


class NoReferencedColumnError(InvalidRequestError):
    """A ForeignKey names a column that its table does not have."""

    def __init__(self, message: str, tname: str = "", cname: str = "") -> None:
        super().__init__(message)
        self.table_name = tname
        self.column_name = cname


class NoForeignKeysError(ArgumentError):
    """No foreign key relates the two tables of a join or relationship."""


class AmbiguousForeignKeysError(ArgumentError):
    """More than one foreign key relates the two tables; say which one."""


class PendingRollbackError(InvalidRequestError):
    """A transaction failed and must be rolled back before it is used again."""


class ResourceClosedError(InvalidRequestError):
    """A closed connection, result or transaction was used."""


class NoResultFound(InvalidRequestError):
    """``one()`` found no row."""


class MultipleResultsFound(InvalidRequestError):
    """``one()`` or ``one_or_none()`` found more than one row."""


class UnboundExecutionError(InvalidRequestError):
    """SQL was to run on something that has no engine or connection."""


class TimeoutError(DocketError):  # noqa: A001 - SQLAlchemy's name
    """The connection pool had no connection to give within ``pool_timeout``."""


class DisconnectionError(DocketError):
    """A connection was found dead (for example by pre-ping)."""


class StatementError(DocketError):
    """An error raised while executing a statement.

    Attributes:
        statement: the SQL string that was being executed.
        params: its parameters (a dict, a sequence, or a list of them for
            executemany).
        orig: the underlying exception.
    """

    #: set on every instance; class attribute only for typing.
    hide_parameters = False

    def __init__(
        self,
        message: str,
        statement: str | None,
        params: Any,
        orig: BaseException | None,
        hide_parameters: bool = False,
    ) -> None:
        super().__init__(message)
        self.statement = statement
        self.params = params
        self.orig = orig
        self.hide_parameters = hide_parameters

    def __reduce__(self) -> Any:
        return (
            self.__class__,
            (self.args[0], self.statement, self.params, self.orig, self.hide_parameters),
        )

    def _message(self) -> str:
        text = super()._message()
        if self.statement is not None:
            text += f"\n[SQL: {self.statement}]"
            if self.hide_parameters:
                text += "\n[SQL parameters hidden due to hide_parameters=True]"
            elif self.params is not None and self.params != () and self.params != {}:
                text += f"\n[parameters: {_repr_params(self.params)}]"
        return text


def _repr_params(params: Any, limit: int = 10) -> str:
    """Render parameters for a message, eliding all but a few executemany sets."""
    if isinstance(params, list) and len(params) > limit:
        shown = ", ".join(repr(p) for p in params[: limit - 2])
        return (
            f"[{shown}  ... displaying {limit - 2} of {len(params)} total "
            f"bound parameter sets ...  {params[-1]!r}]"
        )
    text = repr(params)
    if len(text) > 2000:
        text = text[:2000] + " ... (truncated)"
    return text


class DBAPIError(StatementError):
    """A DB-API driver raised an error; the original is in ``.orig``.

    ``connection_invalidated`` is True when the error meant the connection was
    lost and the pool discarded it.
    """

    code = "dbapi"

    def __init__(
        self,
        statement: str | None,
        params: Any,
        orig: BaseException | None,
        hide_parameters: bool = False,
        connection_invalidated: bool = False,
        message: str | None = None,
    ) -> None:
        if message is None:
            if orig is None:
                message = "DB-API error"
            else:
                driver = f"{type(orig).__module__}.{type(orig).__name__}"
                message = f"({driver}) {str(orig).strip()}"
        if connection_invalidated:
            message += (
                "\n(The connection to the database was lost; it has been "
                "invalidated and will be replaced on next use.)"
            )
        super().__init__(message, statement, params, orig, hide_parameters)
        self.connection_invalidated = connection_invalidated

    def __reduce__(self) -> Any:
        return (
            self.__class__,
            (
                self.statement,
                self.params,
                self.orig,
                self.hide_parameters,
                self.connection_invalidated,
                self.args[0],
            ),
        )

    @classmethod
    def instance(
        cls,
        statement: str | None,
        params: Any,
        orig: BaseException,
        hide_parameters: bool = False,
        connection_invalidated: bool = False,
    ) -> DBAPIError:
        """Wrap a driver exception in the matching docket class.

        The class is chosen by walking the driver exception's MRO for a PEP 249
        name (``IntegrityError``, ``OperationalError``, ...).
        """
        if isinstance(orig, DBAPIError):
            return orig
        target: type[DBAPIError] = DBAPIError
        for klass in type(orig).__mro__:
            found = _BY_PEP249_NAME.get(klass.__name__)
            if found is not None:
                target = found
                break
        return target(
            statement,
            params,
            orig,
            hide_parameters=hide_parameters,
            connection_invalidated=connection_invalidated,
        )


class InterfaceError(DBAPIError):
    """Wraps a DB-API ``InterfaceError``."""


class DatabaseError(DBAPIError):
    """Wraps a DB-API ``DatabaseError``."""


class DataError(DatabaseError):
    """Wraps a DB-API ``DataError``."""


class OperationalError(DatabaseError):
    """Wraps a DB-API ``OperationalError``."""


class IntegrityError(DatabaseError):
    """Wraps a DB-API ``IntegrityError``."""


class InternalError(DatabaseError):
    """Wraps a DB-API ``InternalError``."""


class ProgrammingError(DatabaseError):
    """Wraps a DB-API ``ProgrammingError``."""


class NotSupportedError(DatabaseError):
    """Wraps a DB-API ``NotSupportedError``."""


_BY_PEP249_NAME: dict[str, type[DBAPIError]] = {
    "InterfaceError": InterfaceError,
    "DatabaseError": DatabaseError,
    "DataError": DataError,
    "OperationalError": OperationalError,
    "IntegrityError": IntegrityError,
    "InternalError": InternalError,
    "ProgrammingError": ProgrammingError,
    "NotSupportedError": NotSupportedError,
}


# --- ORM errors (re-exported by docket.orm.exc) -------------------------------


class UnmappedError(InvalidRequestError):
    """Base for errors about objects or classes that are not mapped."""


class UnmappedClassError(UnmappedError):
    """A class that is not mapped was given where a mapped class is needed."""

    def __init__(self, cls: Any, msg: str | None = None) -> None:
        name = f"'{cls.__name__}'" if isinstance(getattr(cls, "__name__", None), str) else repr(cls)
        super().__init__(
            msg
            or f"Class {name} is not mapped; map it with DeclarativeBase, "
            "registry.mapped or registry.map_imperatively first."
        )
        self.cls = cls


class UnmappedInstanceError(UnmappedError):
    """An object of an unmapped class was given where a mapped one is needed."""

    def __init__(self, obj: Any, msg: str | None = None) -> None:
        name = type(obj).__name__
        super().__init__(
            msg
            or f"Class '{type(obj).__module__}.{name}' is not mapped; the object "
            f"{obj!r} cannot be used with a Session."
        )
        self.obj = obj


class UnmappedColumnError(InvalidRequestError):
    """A column is not mapped by the mapper it was looked up on."""


class DetachedInstanceError(DocketError):
    """An unloaded attribute of an object not attached to a Session was read."""


class ObjectDeletedError(InvalidRequestError):
    """A refresh of an expired object found its row gone."""


class ObjectDereferencedError(DocketError):
    """An operation needed an object that was garbage collected."""


class FlushError(DocketError):
    """The unit of work cannot write the session's changes as they stand."""


class StaleDataError(DocketError):
    """An UPDATE or DELETE matched a different number of rows than expected.

    Raised for optimistic concurrency (``version_id_col``) conflicts and for
    rows deleted behind the session's back.
    """


#: SQLAlchemy's older name.
ConcurrentModificationError = StaleDataError


class LoaderStrategyException(InvalidRequestError):
    """A loader option cannot be applied to the attribute it names."""
