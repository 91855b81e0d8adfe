"""Hostile and wrong input, on SQLite and PostgreSQL: every value is bound
(never interpolated), every identifier quoted, every mistake a clear
``docket.exc`` error after which nothing is lost.

* text values: unicode (astral plane, RTL, combining marks), NUL bytes
  (stored by SQLite; refused by PostgreSQL with ``DataError``), very long
  strings, SQL-injection strings -- round-tripped through INSERT, the ORM's
  ``where`` / ``filter_by``, ``text()`` parameters and ORM UPDATE / DELETE;
* keyword names that are not attributes (``filter_by``, constructors, get());
* values of the wrong type for a column (error at flush naming the
  statement, the value and the object);
* ``None`` primary keys; unmapped objects and classes; objects of another
  session;
* table and column names that are reserved words or contain quotes, spaces,
  ``%`` / ``:`` / ``?`` (paramstyle markers) or unicode: created, inserted,
  selected, updated and deleted through the ORM.

``HYPOTHESIS_PROFILE`` (``dev`` / ``default`` / ``ci``) scales the number of
examples per property, as in tests/orm/test_session_stateful.py.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from docket import ForeignKey, String, Text, delete, func, insert, select, text, update
from docket import exc as dexc
from docket.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship
from docket.orm import exc as orm_exc

# -- profiles ------------------------------------------------------------------------
_PROFILES: dict[str, dict[str, Any]] = {
    "dev": {"max_examples": 10},
    "default": {"max_examples": 30},
    "ci": {"max_examples": 150},
}
_profile = _PROFILES.get(os.environ.get("HYPOTHESIS_PROFILE", "default"), _PROFILES["default"])
SETTINGS = settings(
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    **_profile,
)

INJECTIONS = [
    "'; DROP TABLE hostile_notes; --",
    "x' OR '1'='1",
    '" OR ""="',
    "1; DELETE FROM hostile_notes",
    "') ; DROP TABLE hostile_notes CASCADE; --",
    "%s%s%s",
    "%(body)s",
    ":body",
    "?",
    "$1",
    "\\'; --",
    "/* */ UNION SELECT * FROM hostile_notes --",
    "Robert'); DROP TABLE students;--",
]

# Full unicode minus lone surrogates (not encodable; see test_lone_surrogate_is_refused)
TEXT = st.text(max_size=120)
TEXT_NO_NUL = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
                      max_size=120)
HOSTILE_TEXT = st.one_of(st.sampled_from(INJECTIONS), TEXT_NO_NUL)


# -- mapping -------------------------------------------------------------------------
class Base(DeclarativeBase):
    pass


class Note(Base):
    __tablename__ = "hostile_notes"
    id: Mapped[int] = mapped_column(primary_key=True)
    short: Mapped[str | None] = mapped_column(String(20))
    body: Mapped[str | None] = mapped_column(Text)
    n: Mapped[int | None]


class Coded(Base):
    __tablename__ = "hostile_coded"
    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    label: Mapped[str | None] = mapped_column(Text)


class Pair(Base):
    __tablename__ = "hostile_pairs"
    a: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    b: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)


class Renamed(Base):
    __tablename__ = "hostile_renamed"
    id: Mapped[int] = mapped_column(primary_key=True)
    val: Mapped[str] = mapped_column("the value", String(20))


class Plain:
    """Not mapped."""


@pytest.fixture
def db(engine: Any) -> Any:
    """The backend's engine with this module's tables and one sentinel row."""
    Base.metadata.create_all(engine)
    with Session(engine) as s, s.begin():
        s.add(Note(short="sentinel", body="sentinel"))  # id 1: a fresh table
    return engine


def _notes(engine: Any) -> list[tuple[Any, ...]]:
    """Every row of hostile_notes, read on a fresh connection."""
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(
            select(Note.id, Note.short, Note.body, Note.n).order_by(Note.id))]


def _usable(session: Session) -> None:
    """After a failure + rollback the session adds and commits normally."""
    session.rollback()
    ok = Note(short="after", body="after")
    session.add(ok)
    session.commit()
    assert session.get(Note, ok.id) is ok
    session.delete(ok)
    session.commit()


# -- text values -----------------------------------------------------------------------
@SETTINGS
@given(value=TEXT)
@example(value="𝔘𝔫𝔦𝔠𝔬𝔡𝔢 😀 \U0010fffd")  # astral plane
@example(value="\u202eRTL override \u05e9\u05dc\u05d5\u05dd \u0645\u0631\u062d\u0628\u0627")
@example(value="e\u0301 n\u0303 \u0915\u094d\u0937 \u200d\ufeff")  # combining, ZWJ, BOM
@example(value="a\x00b")
@example(value="")
def test_unicode_round_trips_exactly(db: Any, backend: Any, value: str) -> None:
    """Any unicode round-trips exactly; PostgreSQL refuses NUL (DataError), losing nothing."""
    before = _notes(db)
    with Session(db) as s:
        note = Note(body=value, short=value[:20])
        s.add(note)
        if backend.is_postgresql and "\x00" in value:
            with pytest.raises(dexc.DataError, match="NUL") as info:
                s.commit()
            assert isinstance(info.value.orig, Exception) and info.value.statement
            _usable(s)
            assert _notes(db) == before, "a refused NUL must leave the table as it was"
            return
        s.commit()
        nid = note.id
    with Session(db) as s:
        assert s.get(Note, nid).body == value
        assert s.scalars(select(Note.id).where(Note.body == value)).all() == [nid]
        assert s.scalars(select(Note.id).filter_by(short=value[:20], id=nid)).one() == nid
        found = s.execute(text("SELECT id FROM hostile_notes WHERE body = :v"),
                          {"v": value}).scalars().all()
        assert found == [nid]
        s.execute(delete(Note).where(Note.id == nid))
        s.commit()
    assert _notes(db) == before


def test_nul_byte_on_postgresql_is_a_clear_error_and_nothing_is_lost(db: Any,
                                                                      backend: Any) -> None:
    """NUL in a batch: SQLite stores it; PostgreSQL raises DataError, table unchanged."""
    with Session(db) as s:
        s.add(Note(body="kept"))
        s.commit()
        before = _notes(db)
        s.add_all([Note(body="fine"), Note(body="bad\x00value"), Note(body="fine too")])
        if not backend.is_postgresql:
            s.commit()
            assert "bad\x00value" in [r[2] for r in _notes(db)]
            return
        with pytest.raises(dexc.DataError) as info:
            s.commit()
        message = str(info.value)
        assert "NUL" in message and "INSERT INTO hostile_notes" in message
        with pytest.raises(dexc.PendingRollbackError):
            s.execute(select(Note))
        s.rollback()
        assert _notes(db) == before
        assert not s.new, "the pending objects became transient after rollback"
        _usable(s)


def test_lone_surrogate_is_refused(db: Any) -> None:
    """A lone surrogate fails at flush with a StatementError naming it; nothing written."""
    before = _notes(db)
    with Session(db) as s:
        s.add(Note(body="x\ud800y"))
        with pytest.raises(dexc.StatementError) as info:
            s.commit()
        assert "surrogate" in str(info.value) and "'x\\ud800y'" in str(info.value)
        _usable(s)
    assert _notes(db) == before


@pytest.mark.parametrize("size", [1_000_000, 5_000_000])
def test_very_long_text_round_trips(db: Any, size: int) -> None:
    """Multi-megabyte strings (with astral characters) round-trip exactly."""
    value = ("ab\U0001f600c" * (size // 4 + 1))[:size]
    with Session(db) as s:
        note = Note(body=value)
        s.add(note)
        s.commit()
        nid = note.id
    with Session(db) as s:
        got = s.get(Note, nid)
        assert got is not None and len(got.body) == size and got.body == value


@pytest.mark.heavy
def test_very_long_text_heavy(db: Any, reliability_scale: int) -> None:
    """The heavy variant: a 20 MB x DOCKET_RELIABILITY_SCALE string round-trips."""
    value = "\u05d0z\U0001f600" * (20_000_000 * reliability_scale // 3)
    with Session(db) as s:
        note = Note(body=value)
        s.add(note)
        s.commit()
        nid = note.id
    with Session(db) as s:
        assert s.get(Note, nid).body == value


def test_too_long_for_varchar(db: Any, backend: Any) -> None:
    """String(20) overflow: DataError on PostgreSQL (table unchanged); SQLite stores it."""
    before = _notes(db)
    with Session(db) as s:
        s.add(Note(short="x" * 21))
        if backend.is_postgresql:
            with pytest.raises(dexc.DataError, match="character varying\\(20\\)"):
                s.flush()
            _usable(s)
            assert _notes(db) == before
        else:
            s.commit()
            assert ("x" * 21) in [r[1] for r in _notes(db)]


# -- injection: values are always bound -------------------------------------------------
@SETTINGS
@given(value=HOSTILE_TEXT)
def test_injection_strings_are_bound_everywhere(db: Any, value: str) -> None:
    """Injection strings are bound in INSERT, where, filter_by, LIKE, text(), ORM DML."""
    with Session(db) as s:
        target, decoy = Note(body=value, short="target"), Note(body=value + "~", short="decoy")
        s.add_all([target, decoy])
        s.commit()
        tid, did = target.id, decoy.id
        assert s.scalars(select(Note.id).where(Note.body == value)).all() == [tid]
        assert s.scalars(select(Note.id).filter_by(body=value)).all() == [tid]
        assert s.query(Note.id).filter_by(body=value).scalar() == tid
        assert s.execute(text("SELECT id FROM hostile_notes WHERE body = :v"),
                         {"v": value}).scalar_one() == tid
        assert s.execute(text("SELECT count(*) FROM hostile_notes WHERE body = :v")
                         .bindparams(v=value)).scalar() == 1
        for op in (Note.body.startswith, Note.body.contains):  # LIKE, wildcards escaped
            assert s.scalars(select(Note.id).where(op(value, autoescape=True), Note.id > 1)
                             .order_by(Note.id)).all() == [tid, did]
        s.execute(update(Note).where(Note.body == value).values({Note.short: value[:20]}))
        s.commit()
        assert target.short == value[:20] and decoy.short == "decoy"
        s.execute(delete(Note).where(Note.body == value))
        s.commit()
        assert s.scalars(select(Note.id).order_by(Note.id)).all() == [1, did]
        s.delete(decoy)
        s.commit()
    assert _notes(db) == [(1, "sentinel", "sentinel", None)]


@SETTINGS
@given(key=st.one_of(st.sampled_from(INJECTIONS), st.text(min_size=1, max_size=30)))
def test_hostile_keyword_names_are_refused(db: Any, key: str) -> None:
    """Unknown keywords in filter_by(), constructors and get() are refused before SQL."""
    # class attributes (mapped or not: registry, metadata, methods) are resolved by
    # getattr, as in SQLAlchemy; everything else must be refused
    assume(not hasattr(Note, key))
    with Session(db) as s:
        with pytest.raises(dexc.InvalidRequestError) as info:
            s.execute(select(Note).filter_by(**{key: 1}))
        assert repr(key)[1:-1] in str(info.value) or key in str(info.value)
        with pytest.raises(TypeError):
            Note(**{key: 1})
        with pytest.raises(dexc.InvalidRequestError):
            s.get(Note, {key: 1})
    assert _notes(db) == [(1, "sentinel", "sentinel", None)]


def test_colon_in_text_literal_needs_escaping(db: Any) -> None:
    """text() binds :name even inside quotes (as SQLAlchemy); a backslash escapes it."""
    with Session(db) as s:
        with pytest.raises(dexc.StatementError, match="value is required for bind parameter"):
            s.execute(text("SELECT ':notparam'"))
        s.rollback()
        assert s.execute(text(r"SELECT '\:notparam'")).scalar() == ":notparam"
        assert s.execute(text("SELECT :v"), {"v": "100% :x ?"}).scalar() == "100% :x ?"


# -- wrong types -------------------------------------------------------------------------
_WRONG_EVERYWHERE: list[tuple[str, Callable[[], Any], str]] = [
    # (attribute, value factory, text the error shows)
    ("n", object, "<object object at"),
    ("n", lambda: [1, 2], "[1, 2]"),
    ("n", lambda: {"a": 1}, "{'a': 1}"),
    ("n", lambda: 2**70, str(2**70)),
    ("n", lambda: Plain(), "Plain object at"),
]


@pytest.mark.parametrize("attr, make, shown", _WRONG_EVERYWHERE,
                         ids=["object", "list", "dict", "int-overflow", "plain-instance"])
def test_wrong_type_fails_at_flush_with_a_clear_error(db: Any, attr: str,
                                                      make: Callable[[], Any],
                                                      shown: str) -> None:
    """An unbindable value fails at flush showing statement, value, object; none lost."""
    before = _notes(db)
    with Session(db) as s:
        note = Note(short="wrong")
        setattr(note, attr, make())
        s.add(note)
        with pytest.raises(dexc.StatementError) as info:
            s.commit()
        message = str(info.value)
        assert "INSERT INTO hostile_notes" in message
        assert shown in message, message
        assert "while flushing: <Note" in message
        assert info.value.statement and info.value.params is not None
        _usable(s)
        assert note not in s and note.short == "wrong"
    assert _notes(db) == before


@pytest.mark.parametrize("attr, make, shown", _WRONG_EVERYWHERE,
                         ids=["object", "list", "dict", "int-overflow", "plain-instance"])
def test_wrong_type_error_names_the_attribute(db: Any, attr: str, make: Callable[[], Any],
                                              shown: str) -> None:
    """The flush error for an unbindable value names the attribute and its value."""
    with Session(db) as s:
        s.add(Note(short="wrong", **{attr: make()}))
        with pytest.raises(dexc.StatementError) as info:
            s.commit()
        message = str(info.value).split("[SQL:")[0]
        cause = message.split("[values that may be the cause: ")[1]
        assert cause.startswith(f"Note.{attr} = "), message
        assert shown in cause.split(";")[0], message
        assert "short" not in cause, message  # the valid values are not blamed


def test_wrong_scalar_type_per_backend(db: Any, backend: Any) -> None:
    """Non-numeric string for an Integer: DataError on PostgreSQL; SQLite stores it."""
    with Session(db) as s:
        note = Note(short="typed", n="not a number")  # type: ignore[arg-type]
        s.add(note)
        if backend.is_postgresql:
            with pytest.raises(dexc.DataError, match="not a number"):
                s.commit()
            _usable(s)
        else:
            s.commit()
            assert s.scalar(select(Note.n).where(Note.short == "typed")) == "not a number"


# -- None primary keys -------------------------------------------------------------------
def test_none_primary_keys(db: Any) -> None:
    """None keys: get() gives None, NULL natural key is FlushError, autoincrement fills."""
    with Session(db) as s:
        assert s.get(Note, None) is None
        assert s.get(Coded, None) is None
        assert s.get(Pair, (1, None)) is None and s.get(Pair, (None, None)) is None
        with pytest.raises(dexc.InvalidRequestError, match="primary key"):
            s.get(Pair, (1,))
        s.add(Coded(code=None, label="no key"))
        with pytest.raises(orm_exc.FlushError, match="'code'"):
            s.flush()
        s.rollback()
        assert s.scalar(select(func.count()).select_from(Coded)) == 0
        s.add(Pair(a=1, b=None))
        with pytest.raises(orm_exc.FlushError, match="'b'"):
            s.flush()
        s.rollback()
        generated = Note(id=None, body="generated")
        s.add(generated)
        s.commit()
        assert isinstance(generated.id, int) and generated.id > 1
        _usable(s)


def test_primary_key_set_to_none_on_persistent_object(db: Any) -> None:
    """Setting a persistent key to None fails at flush; rollback restores the key."""
    with Session(db) as s:
        note = s.get(Note, 1)
        assert note is not None
        note.id = None  # type: ignore[assignment]
        with pytest.raises(dexc.IntegrityError):
            s.flush()
        s.rollback()
        assert note.id == 1 and s.get(Note, 1) is note


# -- unmapped objects and classes ----------------------------------------------------
_UNMAPPED_CALLS: list[tuple[str, Callable[[Session], Any], type[Exception], str]] = [
    ("add object()", lambda s: s.add(object()), orm_exc.UnmappedInstanceError, "not mapped"),
    ("add None", lambda s: s.add(None), orm_exc.UnmappedInstanceError, "NoneType"),
    ("add Plain()", lambda s: s.add(Plain()), orm_exc.UnmappedInstanceError, "Plain"),
    ("add the class", lambda s: s.add(Note), orm_exc.UnmappedInstanceError, "Note(...)"),
    ("delete Plain()", lambda s: s.delete(Plain()), orm_exc.UnmappedInstanceError, "Plain"),
    ("merge Plain()", lambda s: s.merge(Plain()), orm_exc.UnmappedInstanceError, "Plain"),
    ("expunge Plain()", lambda s: s.expunge(Plain()), orm_exc.UnmappedInstanceError, "Plain"),
    ("refresh Plain()", lambda s: s.refresh(Plain()), orm_exc.UnmappedInstanceError, "Plain"),
    ("Plain() in session", lambda s: Plain() in s, orm_exc.UnmappedInstanceError, "Plain"),
    ("get Plain", lambda s: s.get(Plain, 1), orm_exc.UnmappedClassError, "Plain"),
    ("get a string", lambda s: s.get("Note", 1), orm_exc.UnmappedClassError, "Class 'Note' is"),
    ("select(Plain)", lambda s: s.execute(select(Plain)), dexc.ArgumentError, "Plain"),
    ("select(Plain())", lambda s: s.execute(select(Plain())), dexc.ArgumentError, "Plain"),
    ("query(Plain)", lambda s: s.query(Plain).all(), dexc.ArgumentError, "Plain"),
    ("add_all with a stranger", lambda s: s.add_all([Note(body="ok"), object()]),
     orm_exc.UnmappedInstanceError, "object"),
]


@pytest.mark.parametrize("call, expected, shown",
                         [c[1:] for c in _UNMAPPED_CALLS], ids=[c[0] for c in _UNMAPPED_CALLS])
def test_unmapped_objects_and_classes_are_refused(db: Any, call: Callable[[Session], Any],
                                                  expected: type[Exception],
                                                  shown: str) -> None:
    """Unmapped instances and classes raise the specific docket error naming them."""
    with Session(db) as s:
        with pytest.raises(expected) as info:
            call(s)
        assert shown in str(info.value)
        assert isinstance(info.value, dexc.DocketError)
        pending = [n.body for n in s.new]
        assert pending in ([], ["ok"])
        s.commit()
    assert len(_notes(db)) == 1 + len(pending)


# -- objects of another session -----------------------------------------------------------
def test_objects_of_another_session(db: Any) -> None:
    """Another session's objects are refused with advice; merge() copies; detached attach."""
    s1, s2 = Session(db), Session(db)
    try:
        mine = s1.get(Note, 1)
        pending = Note(body="pending in s1")
        s1.add(pending)
        for obj, op in ((mine, s2.add), (mine, s2.delete), (pending, s2.add)):
            with pytest.raises(dexc.InvalidRequestError, match="already attached to session"):
                op(obj)
        with pytest.raises(dexc.InvalidRequestError, match="not present in this Session"):
            s2.expunge(mine)
        for op in (s2.refresh, s2.expire):
            with pytest.raises(dexc.InvalidRequestError,
                               match="not persistent within this.*belongs to another Session"):
                op(mine)
        assert mine not in s2 and not s2.new and not s2.deleted
        copy = s2.merge(mine)
        assert copy is not mine and copy in s2 and mine in s1
        # s2 holds its own copy of row 1: attaching the other one is an identity conflict
        s1.close()
        with pytest.raises(dexc.InvalidRequestError, match="another instance with key"):
            s2.add(mine)
        s3 = Session(db)
        s3.add(mine)  # detached -> persistent in a session without a copy
        assert mine in s3
        s3.close()
        # an object whose session was garbage-collected is detached
        s4 = Session(db)
        orphan = s4.get(Note, 1)
        del s4
        gc.collect()
        s5 = Session(db)
        s5.add(orphan)
        assert orphan in s5
        s5.close()
        s2.commit()
        assert [r[0] for r in _notes(db)] == [1], "s1's pending object was never committed"
    finally:
        s1.close()
        s2.close()


# -- hostile identifiers -----------------------------------------------------------------
NASTY_NAMES = [
    "select", "order", "user", "group", "table", "from\"x", "we'ird", "with space",
    "naïve_ü", "表格", "MixedCase", "x;drop table y", "--c", "a.b", '"', "%s", "%(name)s", "%",
    ":param", "a:b", "?", "\\", "\u202eRTL", "e\u0301", "𝔘nicode", " lead", "trail ",
    "[br]", "`bt`", "$1", "*", "/*c*/", "col)",
]

IDENT = st.one_of(
    st.sampled_from(NASTY_NAMES),
    st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
            min_size=1, max_size=12),
).filter(lambda n: not n.lower().startswith("sqlite_"))  # reserved by SQLite itself


def _exercise_names(engine: Any, table: str, pk: str, col: str) -> None:
    """Map a parent and a child table with these names, then create, insert,
    select, update (unit of work and ORM UPDATE), delete and drop them."""

    class B(DeclarativeBase):
        pass

    ver = mapped_column(col + " v", nullable=False)
    Parent = type("Parent", (B,), {
        "__tablename__": table,
        "__annotations__": {"id": Mapped[int], "val": Mapped[str], "ver": Mapped[int]},
        "id": mapped_column(pk, primary_key=True),
        "val": mapped_column(col, String(60), index=True),
        "ver": ver,
        "__mapper_args__": {"version_id_col": ver},
        "kids": relationship("Kid", cascade="all, delete-orphan", back_populates="parent"),
    })
    Kid = type("Kid", (B,), {
        "__tablename__": table + " kid",
        "__annotations__": {"id": Mapped[int], "parent_id": Mapped[int]},
        "id": mapped_column(pk, primary_key=True),
        "parent_id": mapped_column(col + " fk", ForeignKey(Parent.__table__.c[pk])),
        "parent": relationship(Parent, back_populates="kids"),
    })
    B.metadata.create_all(engine)
    try:
        with Session(engine) as s:
            p = Parent(val="v1", kids=[Kid(), Kid()])
            s.add(p)
            s.commit()
            p.val = "v2"
            s.commit()
            assert s.scalars(select(Parent).where(Parent.val == "v2")).one() is p
            assert s.scalars(select(Parent).filter_by(val="v2")).one() is p
            assert s.get(Parent, p.id) is p and len(p.kids) == 2
            s.execute(update(Parent).where(Parent.val == "v2").values({Parent.val: "v3"}))
            s.commit()
            assert p.val == "v3"
            p.kids.pop()
            s.commit()
            assert s.scalar(select(func.count()).select_from(Kid)) == 1
            s.delete(p)
            s.commit()
            assert s.scalar(select(func.count()).select_from(Parent)) == 0
            assert s.scalar(select(func.count()).select_from(Kid)) == 0
    finally:
        B.metadata.drop_all(engine)


@pytest.mark.parametrize("name", NASTY_NAMES)
def test_hostile_identifiers(engine: Any, name: str) -> None:
    """Reserved-word, quoted, spaced, paramstyle-like, unicode names work through the ORM."""
    _exercise_names(engine, name, name + " id", name)


@SETTINGS
@given(table=IDENT, pk=IDENT, col=IDENT)
def test_generated_identifiers(engine: Any, table: str, pk: str, col: str) -> None:
    """Random (unicode) table / column names are always quoted correctly."""
    if len({pk.lower(), col.lower(), (col + " v").lower(), (col + " fk").lower()}) < 4:
        return  # SQLite column names are case-insensitive: the names must differ
    _exercise_names(engine, table, pk, col)


# -- ORM DML by attribute name ----------------------------------------------------------
def test_orm_update_values_by_attribute_name(db: Any) -> None:
    """update(Cls).values(attr=...) accepts an attribute whose column is named otherwise."""
    with Session(db) as s:
        obj = Renamed(val="a")
        s.add(obj)
        s.commit()
        s.execute(update(Renamed).where(Renamed.id == obj.id).values(val="b"))
        assert obj.val == "b"  # synchronize_session="auto" evaluates by attribute
        s.commit()
        assert obj.val == "b"
        s.execute(insert(Renamed).values(id=obj.id + 1, val="c"))
        s.execute(update(Renamed).values({Renamed.val: Renamed.val + "!"}))
        rows = s.execute(select(Renamed.id, Renamed.val).order_by(Renamed.id)).all()
        assert [tuple(r) for r in rows] == [(obj.id, "b!"), (obj.id + 1, "c!")]
