"""Database URLs: the :class:`URL` value and the :func:`make_url` parser.

A URL names a dialect, an optional driver and the connection arguments::

    dialect[+driver]://user:password@host:port/database?key=value&key=value

Semantics follow SQLAlchemy 2.0's ``sqlalchemy.engine.URL``: the object is an
immutable named tuple, ``str()`` and ``repr()`` hide the password, and
``render_as_string(hide_password=False)`` gives a string that
:func:`make_url` parses back to an equal URL.

Invariants of :class:`URL`:

* ``drivername`` is a non-empty string; ``port`` is an ``int`` or None;
* ``username`` and ``password`` hold the *decoded* text (``%40`` -> ``@``);
* ``query`` is an immutable, hashable mapping of str to str or to a tuple of
  str (a key given more than once in the query string);
* ``database`` is kept as written (sqlite paths keep their leading ``/``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from types import MappingProxyType
from typing import Any, NamedTuple
from urllib.parse import parse_qsl, quote, quote_plus, unquote

from docket.exc import ArgumentError

__all__ = ["URL", "make_url"]

_EXPECTED_FORM = "dialect[+driver]://user:password@host:port/database"

QueryValue = str | tuple[str, ...]


class _QueryDict(Mapping[str, QueryValue]):
    """Read-only, hashable mapping used for :attr:`URL.query`.

    Invariant: values are ``str`` or ``tuple[str, ...]`` and never change.
    """

    __slots__ = ("_data",)

    def __init__(self, data: Mapping[str, QueryValue] | None = None) -> None:
        self._data: dict[str, QueryValue] = dict(data) if data else {}

    def __getitem__(self, key: str) -> QueryValue:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __hash__(self) -> int:
        return hash(frozenset(self._data.items()))

    def __repr__(self) -> str:
        return repr(self._data)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_QueryDict, (self._data,))


def _coerce_query(query: Mapping[str, Any] | None) -> _QueryDict:
    """Validate a user-supplied query mapping into the stored form."""
    if query is None:
        return _EMPTY_QUERY
    if isinstance(query, _QueryDict):
        return query
    if not isinstance(query, Mapping):
        raise TypeError(
            f"URL query must be a mapping of str to str or sequence of str, "
            f"got {type(query).__name__}"
        )
    out: dict[str, QueryValue] = {}
    for key, value in query.items():
        if not isinstance(key, str):
            raise TypeError(f"URL query keys must be strings, got {key!r}")
        out[key] = _coerce_query_value(key, value)
    return _QueryDict(out)


def _coerce_query_value(key: str, value: Any) -> QueryValue:
    if isinstance(value, str):
        return value
    if isinstance(value, Sequence):
        items = tuple(value)
        if all(isinstance(v, str) for v in items):
            return items
    raise TypeError(
        f"URL query value for {key!r} must be a str or a sequence of str, "
        f"got {type(value).__name__}"
    )


_EMPTY_QUERY = _QueryDict()


def _check_str(name: str, value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise TypeError(f"URL {name} must be a string or None, got {type(value).__name__}")


def _check_port(port: Any) -> int | None:
    if port is None:
        return None
    if isinstance(port, bool) or not isinstance(port, int):
        raise TypeError(f"URL port must be an integer or None, got {type(port).__name__}")
    return port


def _quote_credential(text: str) -> str:
    # Everything that could be read as a delimiter (including '%') is encoded,
    # so make_url() decodes it back to exactly ``text``.
    return quote(text, safe="")


class URL(NamedTuple):
    """The parts of a database URL; immutable.

    Build one with :meth:`URL.create` or :func:`make_url`, and derive changed
    copies with :meth:`set` and the ``*_query*`` methods.

    Attributes:
        drivername: ``"dialect"`` or ``"dialect+driver"``, e.g. ``"postgresql+psycopg"``.
        username: the user name (decoded), or None.
        password: the password (decoded), or None; never shown by ``str``/``repr``.
        host: host name or IP address (IPv6 without brackets), or None.
        port: the port number, or None.
        database: database name or sqlite file path, or None.
        query: read-only mapping of the query-string arguments.
    """

    drivername: str
    username: str | None
    password: str | None
    host: str | None
    port: int | None
    database: str | None
    query: Mapping[str, QueryValue]

    @classmethod
    def create(
        cls,
        drivername: str,
        username: str | None = None,
        password: str | None = None,
        host: str | None = None,
        port: int | None = None,
        database: str | None = None,
        query: Mapping[str, str | Sequence[str]] | None = None,
    ) -> URL:
        """Create a URL from its parts; values are taken literally (not decoded).

        Args:
            drivername: ``"dialect"`` or ``"dialect+driver"``.
            username: user name, or None.
            password: password, or None.
            host: host name, or None.
            port: port number, or None.
            database: database name or file path, or None.
            query: mapping of str to str or sequence of str.

        Raises:
            ArgumentError: ``drivername`` is empty.
            TypeError: a part has the wrong type.
        """
        if not isinstance(drivername, str):
            raise TypeError(
                f"URL drivername must be a string such as 'postgresql+psycopg', "
                f"got {type(drivername).__name__}"
            )
        if not drivername:
            raise ArgumentError(
                "URL drivername is empty; give a dialect name such as 'sqlite' or "
                "'postgresql+psycopg'."
            )
        return cls(
            drivername,
            _check_str("username", username),
            _check_str("password", password),
            _check_str("host", host),
            _check_port(port),
            _check_str("database", database),
            _coerce_query(query),
        )

    def set(
        self,
        drivername: str | None = None,
        username: str | None = None,
        password: str | None = None,
        host: str | None = None,
        port: int | None = None,
        database: str | None = None,
        query: Mapping[str, str | Sequence[str]] | None = None,
    ) -> URL:
        """Return a copy with the given parts replaced (None leaves a part as is).

        Raises:
            ArgumentError: ``drivername`` is empty.
            TypeError: a part has the wrong type.
        """
        changes: dict[str, Any] = {}
        if drivername is not None:
            if not drivername:
                raise ArgumentError("URL drivername cannot be set to an empty string.")
            changes["drivername"] = drivername
        if username is not None:
            changes["username"] = _check_str("username", username)
        if password is not None:
            changes["password"] = _check_str("password", password)
        if host is not None:
            changes["host"] = _check_str("host", host)
        if port is not None:
            changes["port"] = _check_port(port)
        if database is not None:
            changes["database"] = _check_str("database", database)
        if query is not None:
            changes["query"] = _coerce_query(query)
        return self._replace(**changes)

    # --- query-string helpers -------------------------------------------------

    def update_query_dict(
        self, query_parameters: Mapping[str, str | Sequence[str]], append: bool = False
    ) -> URL:
        """Return a copy with ``query_parameters`` merged into :attr:`query`.

        Args:
            query_parameters: keys to set; a value may be a str or a sequence of str.
            append: keep existing values of a key and add the new ones after them
                (the key then holds a tuple); otherwise new values replace old.
        """
        merged: dict[str, QueryValue] = dict(self.query)
        for key, value in _coerce_query(query_parameters).items():
            if append and key in merged:
                merged[key] = _as_tuple(merged[key]) + _as_tuple(value)
            else:
                merged[key] = value
        return self._replace(query=_QueryDict(merged))

    def update_query_pairs(
        self, key_value_pairs: Iterable[tuple[str, str | Sequence[str]]], append: bool = False
    ) -> URL:
        """Like :meth:`update_query_dict`, from ``(key, value)`` pairs; repeated keys collect."""
        collected: dict[str, QueryValue] = {}
        for key, raw in key_value_pairs:
            value = _coerce_query_value(key, raw)
            if key in collected:
                collected[key] = _as_tuple(collected[key]) + _as_tuple(value)
            else:
                collected[key] = value
        return self.update_query_dict(collected, append=append)

    def update_query_string(self, query_string: str, append: bool = False) -> URL:
        """Like :meth:`update_query_dict`, from a string such as ``"a=1&b=2"``."""
        return self.update_query_pairs(
            parse_qsl(query_string.lstrip("?"), keep_blank_values=True), append=append
        )

    def difference_update_query(self, names: Iterable[str]) -> URL:
        """Return a copy without the query keys in ``names`` (missing keys are ignored)."""
        drop = set(names)
        if not drop.intersection(self.query):
            return self
        kept = {k: v for k, v in self.query.items() if k not in drop}
        return self._replace(query=_QueryDict(kept))

    @property
    def normalized_query(self) -> Mapping[str, tuple[str, ...]]:
        """:attr:`query` with every value as a tuple."""
        return MappingProxyType({k: _as_tuple(v) for k, v in self.query.items()})

    # --- names ---------------------------------------------------------------

    def get_backend_name(self) -> str:
        """The dialect part of :attr:`drivername` (``"postgresql"`` of ``"postgresql+psycopg"``)."""
        return self.drivername.partition("+")[0]

    def get_driver_name(self) -> str:
        """The driver part of :attr:`drivername`, or ``""`` when none was given.

        The dialect, not the URL, knows its default driver.
        """
        return self.drivername.partition("+")[2]

    # --- rendering -----------------------------------------------------------

    def render_as_string(self, hide_password: bool = True) -> str:
        """Render the URL as a string that :func:`make_url` parses back.

        Args:
            hide_password: show the password as ``***`` (the default).
        """
        out = [self.drivername, "://"]
        if self.username is not None:
            out.append(_quote_credential(self.username))
            if self.password is not None:
                out.append(":***" if hide_password else ":" + _quote_credential(self.password))
            out.append("@")
        if self.host is not None:
            out.append(f"[{self.host}]" if ":" in self.host else self.host)
        if self.port is not None:
            out.append(f":{self.port}")
        if self.database is not None:
            out.append("/" + self.database)
        if self.query:
            pairs = []
            for key in sorted(self.query):
                for value in _as_tuple(self.query[key]):
                    pairs.append(f"{quote_plus(key)}={quote_plus(value)}")
            out.append("?" + "&".join(pairs))
        return "".join(out)

    def __str__(self) -> str:
        return self.render_as_string(hide_password=True)

    def __repr__(self) -> str:
        return self.render_as_string(hide_password=True)

    # --- connect arguments ---------------------------------------------------

    def translate_connect_args(
        self, names: list[str] | None = None, **kw: str | None
    ) -> dict[str, Any]:
        """Return host, database, username, password and port as keyword arguments.

        Only parts that are set (truthy) appear in the result.

        Args:
            names: legacy positional renames, applied in the order host,
                database, username, password, port.
            **kw: renames, e.g. ``username="user", database="dbname"``; a
                rename to None drops that part.
        """
        pending = list(names) if names else []
        result: dict[str, Any] = {}
        for part in ("host", "database", "username", "password", "port"):
            if pending:
                target: str | None = pending.pop(0)
            elif part in kw:
                target = kw[part]
            else:
                target = part
            value = getattr(self, part)
            if target is not None and value:
                result[target] = value
        return result


def _as_tuple(value: QueryValue) -> tuple[str, ...]:
    return value if isinstance(value, tuple) else (value,)


# --- parsing ------------------------------------------------------------------


def make_url(name_or_url: str | URL) -> URL:
    """Parse a database URL string, or return a :class:`URL` unchanged.

    Accepted forms include ``sqlite://`` (memory), ``sqlite:///relative.db``,
    ``sqlite:////abs/path.db``, ``sqlite:///:memory:``,
    ``postgresql+psycopg://user:pw@host:5432/db?sslmode=disable`` and
    ``postgresql://user@[::1]/db``.  User name and password are percent-decoded;
    encode ``@``, ``:``, ``/`` and ``%`` in them (``urllib.parse.quote``).

    Raises:
        ArgumentError: the argument is not a string or URL, or the string is
            not of the form ``dialect[+driver]://user:password@host:port/database``.
            The message never includes the password.
    """
    if isinstance(name_or_url, URL):
        return name_or_url
    if not isinstance(name_or_url, str):
        raise ArgumentError(
            f"Expected a string or URL object for a database URL, got "
            f"{type(name_or_url).__name__}; pass e.g. 'sqlite:///app.db'."
        )
    return _parse(name_or_url)


def _parse_error(text: str, problem: str) -> ArgumentError:
    return ArgumentError(
        f"Could not parse URL from string '{_redact(text)}': {problem}; "
        f"expected '{_EXPECTED_FORM}'."
    )


def _redact(text: str) -> str:
    """The input with anything that may be a password replaced by ``***``.

    Everything between the first ``:`` of the user-info part and the *last*
    ``@`` is hidden, which over-hides rather than leaks when the input is
    malformed.
    """
    scheme, sep, rest = text.partition("://")
    if not sep:
        # No scheme separator: the whole thing could be anything; show it only
        # if it holds no '@' (a credential marker).
        return text if "@" not in text else "***"
    userinfo, at, tail = rest.rpartition("@")
    if not at:
        return text
    user, colon, _ = userinfo.partition(":")
    return f"{scheme}://{user}{':***' if colon else ''}@{tail}"


def _parse(text: str) -> URL:
    scheme, sep, rest = text.partition("://")
    if not sep:
        raise _parse_error(text, "it has no '://' after the dialect name")
    drivername = scheme.strip()
    if not drivername:
        raise _parse_error(text, "the dialect name before '://' is empty")
    if not all(c.isalnum() or c in "_+" for c in drivername):
        raise _parse_error(
            text, f"the dialect name {drivername!r} may only hold letters, digits, '_' and '+'"
        )

    # Query string: after the first '?'.
    rest, qmark, query_text = rest.partition("?")
    # Authority (user-info, host, port) runs to the first '/'; the database after it.
    authority, slash, database_text = rest.partition("/")
    database = database_text if slash and database_text else None

    username = password = None
    userinfo, at, hostport = authority.rpartition("@")
    if at:
        raw_user, colon, raw_password = userinfo.partition(":")
        username = unquote(raw_user)
        password = unquote(raw_password) if colon else None
    else:
        hostport = authority

    host, port = _parse_hostport(text, hostport)

    query: dict[str, QueryValue] = {}
    if qmark and query_text:
        for key, value in parse_qsl(query_text, keep_blank_values=True):
            if key in query:
                query[key] = _as_tuple(query[key]) + (value,)
            else:
                query[key] = value

    return URL(drivername, username, password, host, port, database, _QueryDict(query))


def _parse_hostport(text: str, hostport: str) -> tuple[str | None, int | None]:
    port_text = ""
    if hostport.startswith("["):
        end = hostport.find("]")
        if end < 0:
            raise _parse_error(text, "an IPv6 host opened with '[' has no closing ']'")
        host = hostport[1:end]
        after = hostport[end + 1 :]
        if after:
            if not after.startswith(":"):
                raise _parse_error(text, "only ':port' may follow a bracketed IPv6 host")
            port_text = after[1:]
    else:
        host, _, port_text = hostport.partition(":")
        if ":" in port_text:
            raise _parse_error(
                text, "the host part has more than one ':'; put an IPv6 address in brackets"
            )
    port: int | None = None
    if port_text:
        if not port_text.isdigit():
            raise _parse_error(
                text,
                # The port text is not shown: with an unencoded '/' in a
                # password it would be a piece of the password.
                "the port is not a number (a password containing '/', '@', ':' "
                "or '?' must be percent-encoded, e.g. with urllib.parse.quote)",
            )
        port = int(port_text)
        if port > 65535:
            raise _parse_error(text, "the port is above 65535")
    return (host or None), port
