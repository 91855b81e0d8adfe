"""Tests for docket.engine.url: URL parsing, rendering and derived copies."""

from __future__ import annotations

import pickle

import pytest

from docket.engine.url import URL, make_url
from docket.exc import ArgumentError

SECRET = "s3cr3t-Pw"

# (input, drivername, username, password, host, port, database, query)
PARSE_TABLE = [
    ("sqlite://", "sqlite", None, None, None, None, None, {}),
    ("sqlite:///relative.db", "sqlite", None, None, None, None, "relative.db", {}),
    ("sqlite:////abs/path.db", "sqlite", None, None, None, None, "/abs/path.db", {}),
    ("sqlite:///:memory:", "sqlite", None, None, None, None, ":memory:", {}),
    ("sqlite:///dir/with@at.db", "sqlite", None, None, None, None, "dir/with@at.db", {}),
    (
        "postgresql://user:pw@host:5432/db?sslmode=disable",
        "postgresql", "user", "pw", "host", 5432, "db", {"sslmode": "disable"},
    ),
    (
        "postgresql+psycopg://scott:tiger@localhost/test",
        "postgresql+psycopg", "scott", "tiger", "localhost", None, "test", {},
    ),
    (
        "postgresql+psycopg2://scott@db.example.com:6543/",
        "postgresql+psycopg2", "scott", None, "db.example.com", 6543, None, {},
    ),
    ("postgresql://[::1]:5432/db", "postgresql", None, None, "::1", 5432, "db", {}),
    (
        "postgresql://u:p@[2001:db8::7]/db",
        "postgresql", "u", "p", "2001:db8::7", None, "db", {},
    ),
    (
        "postgresql://us%40er:p%40ss%3Aw%2Fo%25rd@host/db",
        "postgresql", "us@er", "p@ss:w/o%rd", "host", None, "db", {},
    ),
    ("postgresql://u:@host/db", "postgresql", "u", "", "host", None, "db", {}),
    (
        "mysql+pymysql://u:p@h/db?charset=utf8mb4&opt=a&opt=b",
        "mysql+pymysql", "u", "p", "h", None, "db", {"charset": "utf8mb4", "opt": ("a", "b")},
    ),
    ("postgresql:///db?host=/var/run/pg", "postgresql", None, None, None, None, "db",
     {"host": "/var/run/pg"}),
]


@pytest.mark.parametrize(
    "text,drivername,username,password,host,port,database,query", PARSE_TABLE
)
def test_make_url_parses_each_form(
    text: str,
    drivername: str,
    username: str | None,
    password: str | None,
    host: str | None,
    port: int | None,
    database: str | None,
    query: dict[str, object],
) -> None:
    """make_url splits every supported form into the expected parts."""
    url = make_url(text)
    assert url.drivername == drivername
    assert url.username == username
    assert url.password == password
    assert url.host == host
    assert url.port == port
    assert url.database == database
    assert dict(url.query) == query


@pytest.mark.parametrize("text", [row[0] for row in PARSE_TABLE])
def test_render_round_trips_through_make_url(text: str) -> None:
    """render_as_string(hide_password=False) parses back to an equal URL."""
    url = make_url(text)
    rendered = url.render_as_string(hide_password=False)
    again = make_url(rendered)
    assert again == url
    assert hash(again) == hash(url)


def test_simple_urls_render_exactly_as_written() -> None:
    """Canonical URLs render back to the identical string."""
    for text in [
        "sqlite://",
        "sqlite:///relative.db",
        "sqlite:////abs/path.db",
        "sqlite:///:memory:",
        "postgresql://user:pw@host:5432/db?sslmode=disable",
        "postgresql+psycopg://u:p@[::1]:5432/db",
    ]:
        assert make_url(text).render_as_string(hide_password=False) == text


def test_password_hidden_in_str_repr_and_default_render() -> None:
    """str(), repr() and render_as_string() show *** instead of the password."""
    url = make_url(f"postgresql://scott:{SECRET}@localhost/test")
    for shown in (str(url), repr(url), url.render_as_string()):
        assert SECRET not in shown
        assert shown == "postgresql://scott:***@localhost/test"
    assert SECRET in url.render_as_string(hide_password=False)


def test_url_without_password_has_no_stars() -> None:
    """A URL with a user but no password renders no ':***'."""
    assert str(make_url("postgresql://scott@h/db")) == "postgresql://scott@h/db"


def test_make_url_returns_url_unchanged() -> None:
    """Passing a URL object to make_url returns the same object."""
    url = URL.create("sqlite")
    assert make_url(url) is url


def test_create_and_set() -> None:
    """URL.create builds a URL; set() copies it with parts replaced."""
    url = URL.create(
        "postgresql+psycopg", username="u", password="p@ss", host="h", port=5432,
        database="db", query={"sslmode": "require", "opt": ["a", "b"]},
    )
    assert url.query["opt"] == ("a", "b")
    assert url.render_as_string(hide_password=False) == (
        "postgresql+psycopg://u:p%40ss@h:5432/db?opt=a&opt=b&sslmode=require"
    )
    changed = url.set(host="other", port=6000, drivername="postgresql+psycopg2")
    assert (changed.host, changed.port, changed.drivername) == ("other", 6000, "postgresql+psycopg2")
    assert url.host == "h"  # original unchanged
    assert changed.password == "p@ss"


def test_create_rejects_bad_parts() -> None:
    """create() refuses an empty drivername and wrongly typed parts."""
    with pytest.raises(ArgumentError, match="drivername is empty"):
        URL.create("")
    with pytest.raises(TypeError, match="port must be an integer"):
        URL.create("sqlite", port="5432")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="query value"):
        URL.create("sqlite", query={"a": 1})  # type: ignore[dict-item]


def test_url_is_immutable_and_hashable() -> None:
    """URL and its query cannot be mutated, and equal URLs hash equal."""
    url = make_url("postgresql://u:p@h/db?a=1")
    with pytest.raises(AttributeError):
        url.host = "x"  # type: ignore[misc]
    with pytest.raises(TypeError):
        url.query["a"] = "2"  # type: ignore[index]
    assert {url: 1}[make_url("postgresql://u:p@h/db?a=1")] == 1
    assert url != make_url("postgresql://u:p@h/db?a=2")


def test_url_pickles() -> None:
    """A URL survives pickling with its query intact."""
    url = make_url("postgresql://u:p@h/db?a=1&a=2")
    assert pickle.loads(pickle.dumps(url)) == url


def test_query_helpers() -> None:
    """update_query_dict / pairs / string and difference_update_query derive copies."""
    url = make_url("postgresql://h/db?a=1&b=2")
    assert dict(url.update_query_dict({"a": "9", "c": "3"}).query) == {
        "a": "9", "b": "2", "c": "3"
    }
    assert url.update_query_dict({"a": "9"}, append=True).query["a"] == ("1", "9")
    assert dict(url.update_query_string("c=3&c=4").query)["c"] == ("3", "4")
    assert url.update_query_pairs([("d", "5")]).query["d"] == "5"
    assert dict(url.difference_update_query(["a", "zzz"]).query) == {"b": "2"}
    assert url.difference_update_query(["zzz"]) is url
    assert dict(make_url("sqlite://?x=1&x=2").normalized_query) == {"x": ("1", "2")}


def test_backend_and_driver_names() -> None:
    """get_backend_name / get_driver_name split drivername on '+'."""
    url = make_url("postgresql+psycopg://h/db")
    assert url.get_backend_name() == "postgresql"
    assert url.get_driver_name() == "psycopg"
    plain = make_url("postgresql://h/db")
    assert plain.get_backend_name() == "postgresql"
    assert plain.get_driver_name() == ""


def test_translate_connect_args() -> None:
    """translate_connect_args renames parts and leaves out unset ones."""
    url = make_url("postgresql://scott:tiger@localhost:5432/test")
    assert url.translate_connect_args(username="user", database="dbname") == {
        "host": "localhost", "dbname": "test", "user": "scott", "password": "tiger",
        "port": 5432,
    }
    assert make_url("sqlite:///a.db").translate_connect_args() == {"database": "a.db"}
    assert url.translate_connect_args(password=None) == {
        "host": "localhost", "database": "test", "username": "scott", "port": 5432,
    }
    assert url.translate_connect_args(["h", "d"]) == {
        "h": "localhost", "d": "test", "username": "scott", "password": "tiger", "port": 5432,
    }


@pytest.mark.parametrize(
    "bad,fragment",
    [
        ("foo", "has no '://'"),
        ("://host/db", "dialect name before '://' is empty"),
        ("post gres://h/db", "may only hold letters"),
        ("postgresql://h:notaport/db", "port is not a number"),
        ("postgresql://h:99999/db", "above 65535"),
        ("postgresql://[::1/db", "no closing ']'"),
        ("postgresql://::1:5432/db", "IPv6 address in brackets"),
    ],
)
def test_bad_urls_raise_argument_error(bad: str, fragment: str) -> None:
    """Malformed URLs raise ArgumentError that names the problem and the expected form."""
    with pytest.raises(ArgumentError) as info:
        make_url(bad)
    message = str(info.value)
    assert fragment in message
    assert "expected 'dialect[+driver]://user:password@host:port/database'" in message


def test_bad_url_message_for_foo() -> None:
    """The message quotes the input and the form that was expected."""
    with pytest.raises(ArgumentError) as info:
        make_url("foo")
    assert str(info.value).startswith("Could not parse URL from string 'foo'")


@pytest.mark.parametrize(
    "bad",
    [
        f"postgresql://scott:{SECRET}@host:notaport/db",
        f"postgresql://scott:{SECRET[:3]}/{SECRET[3:]}@host/db",  # unencoded '/'
        f"postgresql://scott:{SECRET}@[::1/db",
        f"scott:{SECRET}@host/db",  # no scheme
    ],
)
def test_bad_url_errors_never_show_the_password(bad: str) -> None:
    """Parse errors hide the password, even pieces of a badly encoded one."""
    with pytest.raises(ArgumentError) as info:
        make_url(bad)
    message = str(info.value)
    assert SECRET[:3] not in message
    assert SECRET[3:] not in message


@pytest.mark.parametrize("bad", [None, 42, b"sqlite://"])
def test_make_url_rejects_non_strings(bad: object) -> None:
    """Anything but a str or URL raises ArgumentError naming the type."""
    with pytest.raises(ArgumentError, match="Expected a string or URL object"):
        make_url(bad)  # type: ignore[arg-type]
