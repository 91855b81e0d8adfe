"""``create_engine`` without a server: URL forms, bad URLs and arguments, missing
drivers, password hiding, option engines and ``engine_from_config``."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any  # noqa: F401

import pytest

from docket import create_engine, engine_from_config, exc, make_url
from docket.engine.pool import QueuePool, StaticPool

SRC = str(Path(__file__).resolve().parents[2] / "src")


@pytest.mark.parametrize(
    ("url", "database", "pool_cls"),
    [
        ("sqlite://", ":memory:", StaticPool),
        ("sqlite:///:memory:", ":memory:", StaticPool),
        ("sqlite:///relative/app.db", "relative/app.db", QueuePool),
        ("sqlite:////abs/path/app.db", "/abs/path/app.db", QueuePool),
        ("sqlite+pysqlite:///x.db", "x.db", QueuePool),
        ("sqlite:///file:mem1?mode=memory&cache=shared&uri=true",
         "file:mem1?mode=memory&cache=shared", StaticPool),
    ],
)
def test_sqlite_url_forms(url: str, database: str, pool_cls: type) -> None:
    """Each SQLite URL form maps to the right sqlite3 database argument and pool."""
    eng = create_engine(url)
    cargs, _cparams = eng.dialect.create_connect_args(eng.url)
    assert cargs == [database]
    assert type(eng.pool) is pool_cls
    assert eng.name == "sqlite" and eng.driver == "pysqlite"


def test_sqlite_url_options() -> None:
    """timeout / check_same_thread come from the query string; unknown options and
    host parts are refused with the valid forms in the message."""
    eng = create_engine("sqlite:///x.db?timeout=2.5&check_same_thread=false")
    _, cparams = eng.dialect.create_connect_args(eng.url)
    assert cparams["timeout"] == 2.5 and cparams["check_same_thread"] is False
    with pytest.raises(exc.ArgumentError, match="Unknown SQLite URL options"):
        create_engine("sqlite:///x.db?journal=wal").connect()
    with pytest.raises(exc.ArgumentError, match=r"sqlite:////absolute/path\.db"):
        create_engine("sqlite://somehost/x.db").connect()


def test_postgresql_url_forms() -> None:
    """postgresql:// picks psycopg 3 by default; postgres:// is an alias; the URL parts
    become psycopg connect keywords (nothing connects yet)."""
    eng = create_engine("postgresql://scott:tiger@db.example.com:6543/shop?sslmode=disable")
    assert eng.name == "postgresql" and eng.driver == "psycopg"
    _, cparams = eng.dialect.create_connect_args(eng.url)
    assert cparams == {"host": "db.example.com", "port": 6543, "user": "scott",
                       "password": "tiger", "dbname": "shop", "sslmode": "disable"}
    assert create_engine("postgres://u@h/d").driver == "psycopg"
    assert create_engine("postgresql+psycopg://u@h/d").dialect.paramstyle == "format"


@pytest.mark.parametrize(
    "bad",
    ["not a url", "sqlite:/x.db", "postgresql://u:pw@host:port/db", "://nothing",
     "postgresql://u@[::1/db"],
)
def test_bad_urls_say_the_expected_form(bad: str) -> None:
    """An unparseable URL raises ArgumentError quoting the expected form."""
    with pytest.raises(exc.ArgumentError, match="dialect") as info:
        create_engine(bad)
    assert "://" in str(info.value)
    assert "pw" not in str(info.value).replace("password", "")


def test_not_a_string_url() -> None:
    """A non-string URL raises ArgumentError with an example."""
    with pytest.raises(exc.ArgumentError, match="sqlite:///"):
        create_engine(42)  # type: ignore[arg-type]


def test_unknown_dialect() -> None:
    """An unknown scheme raises NoSuchModuleError listing the known dialects."""
    with pytest.raises(exc.NoSuchModuleError, match="known dialects") as info:
        create_engine("oracle://u@h/d")
    assert "postgresql+psycopg" in str(info.value) and "sqlite" in str(info.value)
    with pytest.raises(exc.NoSuchModuleError, match="sqlite\\+nodriver"):
        create_engine("sqlite+nodriver://")


def test_unknown_keyword_arguments() -> None:
    """Unknown keywords raise ArgumentError (also a TypeError, as in SQLAlchemy),
    naming them and pointing at connect_args."""
    with pytest.raises(exc.ArgumentError, match="'pool_sise'") as info:
        create_engine("sqlite://", pool_sise=3, colour="red")  # type: ignore[call-arg]
    assert isinstance(info.value, TypeError)
    assert isinstance(info.value, exc.InvalidArgumentError)
    assert "'colour'" in str(info.value) and "connect_args" in str(info.value)


def test_invalid_argument_error_lives_in_exc() -> None:
    """InvalidArgumentError is a docket.exc class (in __all__), still importable
    from docket.engine.create."""
    from docket.engine import create

    assert "InvalidArgumentError" in exc.__all__
    assert create.InvalidArgumentError is exc.InvalidArgumentError
    assert issubclass(exc.InvalidArgumentError, (exc.ArgumentError, TypeError))


def test_invalid_isolation_level_argument() -> None:
    """An isolation level the dialect doesn't know is refused at create_engine."""
    with pytest.raises(exc.ArgumentError, match="READ COMMITTED"):
        create_engine("postgresql://u@h/d", isolation_level="READ_SOMETIMES")
    with pytest.raises(exc.ArgumentError, match="SERIALIZABLE"):
        create_engine("sqlite://", isolation_level="REPEATABLE READ")
    assert create_engine("sqlite://", isolation_level="read_uncommitted").dialect \
        .isolation_level == "READ UNCOMMITTED"


def test_missing_psycopg2_names_the_package() -> None:
    """postgresql+psycopg2:// without psycopg2 installed raises NoSuchModuleError
    naming the package to install."""
    pytest.importorskip("psycopg")  # the environment this test describes
    try:
        import psycopg2  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("psycopg2 is installed here")
    with pytest.raises(exc.NoSuchModuleError) as info:
        create_engine("postgresql+psycopg2://u:pw@h/d")
    message = str(info.value)
    assert "'psycopg2'" in message
    assert "pip install psycopg2-binary" in message and "docket[psycopg2]" in message


def _run_without(modules: list[str], code: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter where ``modules`` can't be imported."""
    prelude = "import sys\n" + "".join(f"sys.modules[{m!r}] = None\n" for m in modules)
    return subprocess.run(
        [sys.executable, "-c", prelude + textwrap.dedent(code)],
        capture_output=True, text=True, timeout=60, env={"PYTHONPATH": SRC, "PATH": ""},
    )


def test_plain_postgresql_url_without_any_driver() -> None:
    """postgresql:// with neither psycopg nor psycopg2 importable names both packages
    and how to install the default one."""
    proc = _run_without(["psycopg", "psycopg2"], """
        from docket import create_engine, exc
        try:
            create_engine("postgresql://u:secretpw@h/d")
        except exc.NoSuchModuleError as e:
            print("MESSAGE:", e)
    """)
    assert proc.returncode == 0, proc.stderr
    message = proc.stdout
    assert "MESSAGE:" in message
    assert "'psycopg'" in message and "'psycopg2'" in message
    assert "pip install 'psycopg[binary]'" in message
    assert "psycopg2-binary" in message
    assert "secretpw" not in message


def test_plain_postgresql_url_falls_back_to_psycopg2() -> None:
    """With psycopg missing but a psycopg2 module present, postgresql:// uses psycopg2."""
    proc = _run_without(["psycopg"], """
        import sys, types
        fake = types.ModuleType("psycopg2")
        fake.paramstyle = "pyformat"
        class Error(Exception): pass
        fake.Error = Error
        sys.modules["psycopg2"] = fake
        from docket import create_engine
        print("DRIVER:", create_engine("postgresql://u@h/d").driver)
    """)
    assert proc.returncode == 0, proc.stderr
    assert "DRIVER: psycopg2" in proc.stdout


def test_password_hidden_in_repr_and_str() -> None:
    """repr(engine), str(engine.url) and repr(url) show *** instead of the password;
    render_as_string(hide_password=False) shows it when asked."""
    eng = create_engine("postgresql://scott:tiger-pw@localhost/test")
    assert "tiger-pw" not in repr(eng)
    assert "tiger-pw" not in str(eng.url) and "tiger-pw" not in repr(eng.url)
    assert "scott:***@localhost" in repr(eng)
    assert "tiger-pw" in eng.url.render_as_string(hide_password=False)
    assert make_url(str(eng.url)).password == "***"


def test_create_engine_is_lazy() -> None:
    """Creating an engine for an unreachable server does not connect."""
    eng = create_engine("postgresql://u@127.0.0.1:1/nodb")
    assert eng.pool.checkedout() == 0  # type: ignore[attr-defined]


def test_execution_options_engine() -> None:
    """engine.execution_options() returns an engine sharing pool, dialect and cache,
    with merged options; dispose() on the original is seen through the copy."""
    eng = create_engine("sqlite://", execution_options={"a": 1})
    child = eng.execution_options(b=2)
    assert child.get_execution_options() == {"a": 1, "b": 2}
    assert eng.get_execution_options() == {"a": 1}
    assert child.pool is eng.pool and child.dialect is eng.dialect
    assert child._compiled_cache is eng._compiled_cache
    eng.dispose()
    assert child.pool is eng.pool
    with pytest.raises(exc.ArgumentError, match="isolation level"):
        eng.execution_options(isolation_level="MAYBE")
    with pytest.raises(exc.ArgumentError, match="isolation level"):
        create_engine("sqlite://", execution_options={"isolation_level": "MAYBE"})


def test_engine_from_config_converts_strings(tmp_path: Path) -> None:
    """engine_from_config reads <prefix>url and converts string option values."""
    eng = engine_from_config({
        "db.url": f"sqlite:///{tmp_path}/c.db", "db.pool_size": "3", "db.echo": "false",
        "db.pool_pre_ping": "true", "db.pool_timeout": "1.5", "other": "ignored",
    }, prefix="db.")
    assert eng.echo is False
    assert eng.pool.size() == 3 and eng.pool.timeout() == 1.5  # type: ignore[attr-defined]
    with pytest.raises(exc.ArgumentError, match="'db.url'"):
        engine_from_config({"db.echo": "1"}, prefix="db.")


def test_memory_engine_basic_roundtrip() -> None:
    """sqlite:// works end to end without any setup (smoke test of the defaults)."""
    from docket import text

    eng = create_engine("sqlite://")
    with eng.begin() as conn:
        conn.execute(text("CREATE TABLE t (x INTEGER)"))
        conn.execute(text("INSERT INTO t VALUES (:x)"), [{"x": 1}, {"x": 2}])
    with eng.connect() as conn:
        assert conn.execute(text("SELECT sum(x) FROM t")).scalar() == 3
    eng.dispose()


def test_connect_args_reach_the_driver(tmp_path: Path) -> None:
    """connect_args are passed to the DB-API connect(): a sqlite3 connection factory
    given there is what the engine's connections are made with (AUTOCOMMIT still
    works on such connections)."""
    import sqlite3

    class MyConnection(sqlite3.Connection):
        pass

    eng = create_engine(f"sqlite:///{tmp_path}/a.db", connect_args={"factory": MyConnection})
    with eng.connect() as conn:
        assert type(conn.connection.dbapi_connection) is MyConnection
        conn.execution_options(isolation_level="AUTOCOMMIT")
        assert conn.get_isolation_level() == "AUTOCOMMIT"
    with eng.connect() as conn:
        assert conn.get_isolation_level() == "SERIALIZABLE"
    eng.dispose()


def test_insertmanyvalues_settings() -> None:
    """use_insertmanyvalues / insertmanyvalues_page_size reach the dialect (SQLAlchemy's
    names); a page size below 1 is refused."""
    e = create_engine("sqlite://")
    assert e.dialect.use_insertmanyvalues is True
    assert e.dialect.insertmanyvalues_page_size == 1000
    e = create_engine("sqlite://", use_insertmanyvalues=False, insertmanyvalues_page_size=50)
    assert e.dialect.use_insertmanyvalues is False
    assert e.dialect.insertmanyvalues_page_size == 50
    with pytest.raises(exc.ArgumentError, match="insertmanyvalues_page_size must be at least 1"):
        create_engine("sqlite://", insertmanyvalues_page_size=0)
