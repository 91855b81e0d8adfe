"""``inspect()``: the runtime inspection entry point.

Each layer registers what it can inspect (the engine: an Engine gives an
Inspector; the ORM: a mapped class gives its Mapper, a mapped object its
InstanceState) with :func:`_register`.  Lookup walks the argument's type MRO.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from docket import exc

__all__ = ["inspect"]

# type -> function(subject) returning the inspection result or None
_registrars: dict[type, Callable[[Any], Any]] = {}


def _register(type_: type, fn: Callable[[Any], Any]) -> None:
    _registrars[type_] = fn


def inspect(subject: Any, raiseerr: bool = True) -> Any:
    """Return the inspection object for ``subject``: a Mapper for a mapped
    class, an InstanceState for a mapped object, an Inspector for an Engine.

    Raises:
        NoInspectionAvailable: nothing can inspect ``subject`` (with
            ``raiseerr=True``).
    """
    for klass in type(subject).__mro__:
        fn = _registrars.get(klass)
        if fn is not None:
            result = fn(subject)
            if result is not None:
                return result
    if raiseerr:
        raise exc.NoInspectionAvailable(
            f"No inspection system is available for object of type {type(subject)!r}; "
            "inspect() takes an Engine, Connection, mapped class or mapped instance."
        )
    return None
