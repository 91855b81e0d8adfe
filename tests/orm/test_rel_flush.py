"""What a flush writes for relationships, and in which order: parents before
children with the foreign key taken from the parent's new key, FKs nulled on
removal and parent deletion, secondary rows around both ends, self-referential
rows, post_update cycles, batching, and a failure mid-flush.

SQLite runs with ``PRAGMA foreign_keys=ON`` (PostgreSQL always enforces), so
any ordering mistake fails with an IntegrityError, not just a wrong log."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from expected_sql import q

from docket import Column, ForeignKey, String, Table, event, exc, func, inspect, select
from docket.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship
from docket.testing import SQL, AllOf, FailurePlan, Recorder, assert_sql, recording_engine


class Base(DeclarativeBase):
    pass


post_tags = Table(
    "post_tags", Base.metadata,
    Column("post_id", ForeignKey("posts.id"), primary_key=True),
    Column("tag_id", ForeignKey("tags.id"), primary_key=True),
)


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(30))
    addresses: Mapped[list[Address]] = relationship(back_populates="user", order_by="Address.id")


class Address(Base):
    __tablename__ = "addresses"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    email: Mapped[str] = mapped_column(String(30))
    user: Mapped[User | None] = relationship(back_populates="addresses")


class Post(Base):
    __tablename__ = "posts"
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(30))
    tags: Mapped[list[Tag]] = relationship(
        secondary=post_tags, back_populates="posts", order_by="Tag.id")


class Tag(Base):
    __tablename__ = "tags"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(30))
    posts: Mapped[list[Post]] = relationship(
        secondary=post_tags, back_populates="tags", order_by="Post.id")


class Node(Base):
    __tablename__ = "nodes"
    id: Mapped[int] = mapped_column(primary_key=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("nodes.id"))
    name: Mapped[str] = mapped_column(String(30))
    parent: Mapped[Node | None] = relationship(back_populates="children", remote_side=[id])
    children: Mapped[list[Node]] = relationship(
        back_populates="parent", cascade="all, delete-orphan", order_by="Node.id")


class Folder(Base):
    __tablename__ = "folders"
    id: Mapped[int] = mapped_column(primary_key=True)
    docs: Mapped[list[Doc]] = relationship(back_populates="folder", passive_deletes=True)


class Doc(Base):
    __tablename__ = "docs"
    id: Mapped[int] = mapped_column(primary_key=True)
    folder_id: Mapped[int | None] = mapped_column(ForeignKey("folders.id", ondelete="SET NULL"))
    folder: Mapped[Folder | None] = relationship(back_populates="docs")


class Account(Base):
    """Mutually dependent rows: an account points at its primary contact (post_update)."""

    __tablename__ = "accounts"
    id: Mapped[int] = mapped_column(primary_key=True)
    primary_contact_id: Mapped[int | None] = mapped_column(
        ForeignKey("contacts.id", use_alter=True, name="fk_account_primary_contact"))
    contacts: Mapped[list[Contact]] = relationship(
        back_populates="account", foreign_keys="Contact.account_id")
    primary_contact: Mapped[Contact | None] = relationship(
        foreign_keys=[primary_contact_id], post_update=True)


class Contact(Base):
    __tablename__ = "contacts"
    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"))
    account: Mapped[Account | None] = relationship(
        back_populates="contacts", foreign_keys=[account_id])


class Left(Base):
    """Left.right and Right.left without post_update: an unbreakable cycle when both set."""

    __tablename__ = "lefts"
    id: Mapped[int] = mapped_column(primary_key=True)
    right_id: Mapped[int | None] = mapped_column(
        ForeignKey("rights.id", use_alter=True, name="fk_left_right"))
    right: Mapped[Right | None] = relationship(foreign_keys=[right_id])


class Right(Base):
    __tablename__ = "rights"
    id: Mapped[int] = mapped_column(primary_key=True)
    left_id: Mapped[int | None] = mapped_column(ForeignKey("lefts.id"))
    left: Mapped[Left | None] = relationship(foreign_keys=[left_id])


def _fk_on(dbapi_connection: Any, connection_record: Any) -> None:
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


@pytest.fixture
def db(engine: Any, backend: Any) -> Any:
    """The backend's engine, foreign keys enforced on SQLite, this module's tables created."""
    if backend.is_sqlite:
        event.listen(engine, "connect", _fk_on)
        engine.dispose()
    Base.metadata.create_all(engine)
    if backend.is_sqlite:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    return engine


@pytest.fixture
def rec(backend: Any, request: pytest.FixtureRequest) -> Iterator[tuple[Any, Recorder]]:
    """(engine, recorder): recording engine, FKs enforced on SQLite, tables created."""
    if backend.is_postgresql:
        request.getfixturevalue("pg_server").reset_schema()
    engine, recorder = recording_engine(backend.url)
    if backend.is_sqlite:
        event.listen(engine, "connect", _fk_on)
    Base.metadata.create_all(engine)
    if backend.is_sqlite:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    recorder.clear()
    yield engine, recorder
    engine.dispose()


_VERB = re.compile(
    r"^\s*(?:(INSERT) INTO (\w+)|(UPDATE) (\w+)|(DELETE) FROM (\w+)|(SELECT)\b.*?\bFROM (\w+))",
    re.IGNORECASE | re.DOTALL,
)


def ops(calls: Any) -> list[tuple[str, str]]:
    """(VERB, table) of every non-transaction statement, in order."""
    out: list[tuple[str, str]] = []
    for c in calls.without_transaction_control():
        m = _VERB.match(c.sql)
        assert m is not None, f"unexpected statement {c.sql!r}"
        verb, table = [g for g in m.groups() if g is not None]
        out.append((verb.upper(), table))
    return out


def rows_of(calls: Any, prefix: str) -> list[Any]:
    """Parameter rows of every statement starting with ``prefix``, flattened."""
    out: list[Any] = []
    for c in calls.without_transaction_control():
        if c.sql.lstrip().upper().startswith(prefix.upper()):
            out.extend(c.params if c.many else [c.params])
    return out


def count(engine: Any, table: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar())


# -- inserts ---------------------------------------------------------------------------------------


def test_parent_inserted_before_child_with_generated_key(rec: Any) -> None:
    """The parent INSERT comes first and the child's FK is the parent's generated key."""
    engine, recorder = rec
    with Session(engine) as s:
        u = User(name="ann", addresses=[Address(email="a@x")])
        s.add(u)
        with recorder.capture() as calls:
            s.flush()
        assert ops(calls) == [("INSERT", "users"), ("INSERT", "addresses")]
        uid = u.id
        assert uid is not None
        assert u.addresses[0].user_id == uid
        child_rows = rows_of(calls, "INSERT INTO addresses")
        assert len(child_rows) == 1 and uid in tuple(child_rows[0])
        s.commit()
    with engine.connect() as conn:
        assert conn.execute(select(Address.user_id)).scalar() == uid


def test_whole_tree_inserted_through_root(db: Any) -> None:
    """add(root) alone inserts every descendant with correct parent keys."""
    with Session(db) as s:
        root = Node(name="r", children=[
            Node(name="a", children=[Node(name="a1"), Node(name="a2")]),
            Node(name="b", children=[Node(name="b1", children=[Node(name="b1x")])]),
        ])
        s.add(root)
        assert len(s.new) == 7
        s.commit()
    with Session(db) as s:
        got = {n.name: (n.parent.name if n.parent else None) for n in s.scalars(select(Node))}
        assert got == {"r": None, "a": "r", "b": "r", "a1": "a", "a2": "a",
                       "b1": "b", "b1x": "b1"}


def test_pending_parent_children_batched_into_one_executemany(rec: Any) -> None:
    """Children of pending parents with given keys go out as one executemany per table."""
    engine, recorder = rec
    with Session(engine) as s:
        s.add_all([
            User(id=1, name="ann", addresses=[Address(id=1, email="a"), Address(id=2, email="b")]),
            User(id=2, name="bob", addresses=[Address(id=3, email="c"), Address(id=4, email="d")]),
        ])
        with recorder.capture() as calls:
            s.flush()
        assert_sql(calls, [
            SQL(q(recorder, "INSERT INTO users (id, name) VALUES (?, ?)"),
                [(1, "ann"), (2, "bob")]),
            SQL(q(recorder, "INSERT INTO addresses (id, user_id, email) VALUES (?, ?, ?)"),
                [(1, 1, "a"), (2, 1, "b"), (3, 2, "c"), (4, 2, "d")]),
        ], ignore_transaction=True)
        s.commit()


def test_generated_parent_keys_then_one_child_batch(rec: Any) -> None:
    """With generated parent keys the children still go out in one executemany."""
    engine, recorder = rec
    with Session(engine) as s:
        u1 = User(name="ann", addresses=[Address(id=1, email="a"), Address(id=2, email="b")])
        u2 = User(name="bob", addresses=[Address(id=3, email="c")])
        s.add_all([u1, u2])
        with recorder.capture() as calls:
            s.flush()
        verbs = ops(calls)
        assert verbs[-1] == ("INSERT", "addresses")
        assert set(verbs[:-1]) == {("INSERT", "users")}
        child = [c for c in calls.without_transaction_control() if "addresses" in c.sql]
        assert len(child) == 1 and child[0].many
        assert [tuple(r) for r in child[0].params] == [
            (1, u1.id, "a"), (2, u1.id, "b"), (3, u2.id, "c")]
        s.commit()


def test_child_added_to_persistent_parent(rec: Any) -> None:
    """Appending a new child to a persistent parent inserts only the child, FK filled."""
    engine, recorder = rec
    with Session(engine) as s:
        u = User(id=1, name="ann")
        s.add(u)
        s.commit()
        u.addresses.append(Address(id=5, email="e"))
        with recorder.capture() as calls:
            s.flush()
        assert_sql(calls, [
            SQL(q(recorder, "INSERT INTO addresses (id, user_id, email) VALUES (?, ?, ?)"),
                (5, 1, "e")),
        ], ignore_transaction=True)
        s.commit()


def test_child_added_first_still_inserted_after_parent(rec: Any) -> None:
    """add_all([child, parent]): the dependency, not the add order, decides INSERT order."""
    engine, recorder = rec
    with Session(engine) as s:
        u = User(name="ann")
        a = Address(id=1, email="a", user=u)
        s.add_all([a, u])
        with recorder.capture() as calls:
            s.flush()
        assert ops(calls) == [("INSERT", "users"), ("INSERT", "addresses")]
        assert a.user_id == u.id
        s.commit()


def test_self_referential_child_added_before_parent(db: Any) -> None:
    """Rows of one table are ordered by their own parent links, whatever the add order."""
    with Session(db) as s:
        top = Node(name="top")
        mid = Node(name="mid", parent=top)
        leaf = Node(name="leaf", parent=mid)
        s.add_all([leaf, mid, top])
        s.commit()
        assert leaf.parent_id == mid.id and mid.parent_id == top.id and top.parent_id is None


def test_child_moved_between_pending_parents_gets_last_parent(db: Any) -> None:
    """A pending child appended to two pending parents in turn is inserted under the last."""
    with Session(db) as s:
        p1, p2 = User(id=1, name="a"), User(id=2, name="b")
        a = Address(id=1, email="x")
        p1.addresses.append(a)
        p2.addresses.append(a)
        assert p1.addresses == [] and a.user is p2
        s.add_all([p1, p2])
        s.commit()
        assert s.execute(select(Address.user_id)).scalar() == 2


# -- updates: removing and moving children ----------------------------------------------------------


def _user_with_two(s: Session) -> User:
    s.add_all([User(id=1, name="ann", addresses=[Address(id=1, email="a"),
                                                Address(id=2, email="b")]),
               User(id=2, name="bob")])
    s.commit()
    return s.get(User, 1)


def test_removing_child_nulls_its_fk(rec: Any) -> None:
    """Removing a child from the collection sends one UPDATE setting its FK to NULL."""
    engine, recorder = rec
    with Session(engine) as s:
        u = _user_with_two(s)
        a1 = u.addresses[0]
        u.addresses.remove(a1)
        with recorder.capture() as calls:
            s.flush()
        assert_sql(calls, [
            SQL(q(recorder, "UPDATE addresses SET user_id=? WHERE addresses.id = ?"), (None, 1)),
        ], ignore_transaction=True)
        s.commit()
    with engine.connect() as conn:
        assert conn.execute(select(Address.user_id).where(Address.id == 1)).scalar() is None
        assert conn.execute(select(Address.user_id).where(Address.id == 2)).scalar() == 1


def test_replacing_unloaded_collection_nulls_old_children(db: Any) -> None:
    """Assigning over a never-loaded collection nulls the FK of the children it replaced."""
    with Session(db) as s:
        _user_with_two(s)
        s.expunge_all()
        u = s.get(User, 1)
        u.addresses = [Address(id=3, email="c")]
        s.commit()
        rows = s.execute(select(Address.id, Address.user_id).order_by(Address.id)).all()
        assert [tuple(r) for r in rows] == [(1, None), (2, None), (3, 1)]


def test_moving_child_between_parents_is_one_update(rec: Any) -> None:
    """Setting a.user to another parent (collections unloaded) sends exactly one UPDATE."""
    engine, recorder = rec
    with Session(engine) as s:
        _user_with_two(s)
        s.expunge_all()
        a1 = s.get(Address, 1)
        bob = s.get(User, 2)
        a1.user = bob
        with recorder.capture() as calls:
            s.flush()
        assert_sql(calls, [
            SQL(q(recorder, "UPDATE addresses SET user_id=? WHERE addresses.id = ?"), (2, 1)),
        ], ignore_transaction=True)
        s.commit()


def test_moving_child_between_loaded_collections_is_one_update(rec: Any) -> None:
    """Appending a child to another loaded collection sends exactly one UPDATE."""
    engine, recorder = rec
    with Session(engine) as s:
        ann = _user_with_two(s)
        bob = s.get(User, 2)
        assert bob.addresses == []
        a2 = ann.addresses[1]
        bob.addresses.append(a2)
        assert ann.addresses == [ann.addresses[0]] and a2.user is bob
        with recorder.capture() as calls:
            s.flush()
        assert_sql(calls, [
            SQL(q(recorder, "UPDATE addresses SET user_id=? WHERE addresses.id = ?"), (2, 2)),
        ], ignore_transaction=True)
        s.commit()


def test_swapping_children_between_parents(rec: Any) -> None:
    """Two children exchanged between two parents: one UPDATE row each, no NULL step."""
    engine, recorder = rec
    with Session(engine) as s:
        s.add_all([User(id=1, name="ann", addresses=[Address(id=1, email="a")]),
                   User(id=2, name="bob", addresses=[Address(id=2, email="b")])])
        s.commit()
        ann, bob = s.get(User, 1), s.get(User, 2)
        a1, a2 = ann.addresses[0], bob.addresses[0]
        a1.user, a2.user = bob, ann
        with recorder.capture() as calls:
            s.flush()
        assert set(ops(calls)) == {("UPDATE", "addresses")}
        assert sorted(tuple(r) for r in rows_of(calls, "UPDATE addresses")) == [(1, 2), (2, 1)]
        s.commit()


def test_relationship_change_wins_over_fk_column(db: Any) -> None:
    """When both a.user and a.user_id change, the flush writes the relationship's key."""
    with Session(db) as s:
        s.add_all([User(id=1, name="ann", addresses=[Address(id=1, email="a")]),
                   User(id=2, name="bob"), User(id=3, name="cy")])
        s.commit()
        a = s.get(Address, 1)
        a.user = s.get(User, 2)
        a.user_id = 3
        s.commit()
        assert s.execute(select(Address.user_id)).scalar() == 2


def test_setting_fk_column_directly(db: Any) -> None:
    """Assigning the FK column writes it; the relationship loads the new parent afterwards."""
    with Session(db) as s:
        s.add_all([User(id=1, name="ann", addresses=[Address(id=1, email="a")]),
                   User(id=2, name="bob")])
        s.commit()
        a = s.get(Address, 1)
        a.user_id = 2
        s.commit()
        assert a.user.name == "bob"


def test_remove_and_delete_child_sends_only_delete(rec: Any) -> None:
    """A child removed from its collection and deleted is DELETEd without a NULLing UPDATE."""
    engine, recorder = rec
    with Session(engine) as s:
        u = _user_with_two(s)
        a1 = u.addresses[0]
        u.addresses.remove(a1)
        s.delete(a1)
        with recorder.capture() as calls:
            s.flush()
        assert_sql(calls, [SQL(q(recorder, "DELETE FROM addresses WHERE addresses.id = ?"), (1,))],
                   ignore_transaction=True)
        s.commit()


# -- deleting a parent ---------------------------------------------------------------------------------


def test_deleting_parent_loads_and_nulls_children(rec: Any) -> None:
    """delete(parent) without delete cascade loads the children, nulls their FK, then deletes."""
    engine, recorder = rec
    with Session(engine) as s:
        _user_with_two(s)
        s.expunge_all()
        u = s.get(User, 1)
        assert "addresses" not in u.__dict__
        with recorder.capture() as calls:
            s.delete(u)
            s.flush()
        assert ops(calls) == [("SELECT", "addresses"), ("UPDATE", "addresses"),
                              ("DELETE", "users")]
        assert [tuple(r) for r in rows_of(calls, "UPDATE addresses")] == [(None, 1), (None, 2)]
        s.commit()
    assert count(engine, Address.__table__) == 2
    assert count(engine, User.__table__) == 1


def test_passive_deletes_skips_loading_children(rec: Any) -> None:
    """passive_deletes=True: only the parent DELETE is sent; ON DELETE SET NULL does the rest."""
    engine, recorder = rec
    with Session(engine) as s:
        s.add(Folder(id=1, docs=[Doc(id=1), Doc(id=2)]))
        s.commit()
        s.expunge_all()
        f = s.get(Folder, 1)
        with recorder.capture() as calls:
            s.delete(f)
            s.flush()
        assert_sql(calls, [SQL(q(recorder, "DELETE FROM folders WHERE folders.id = ?"), (1,))],
                   ignore_transaction=True)
        s.commit()
    with engine.connect() as conn:
        assert conn.execute(select(Doc.folder_id)).scalars().all() == [None, None]


def test_deleting_parent_with_loaded_children_nulls_them(db: Any) -> None:
    """A loaded collection of a deleted parent: children survive with NULL FK and user None."""
    with Session(db) as s:
        u = _user_with_two(s)
        a1, a2 = u.addresses
        s.delete(u)
        s.commit()
        assert a1.user_id is None and a2.user_id is None
        assert s.scalars(select(Address.user_id)).all() == [None, None]


def test_deleting_parent_and_children_together_skips_nulling(rec: Any) -> None:
    """Parent and all its children deleted in one flush: children DELETEd first, no UPDATE."""
    engine, recorder = rec
    with Session(engine) as s:
        u = _user_with_two(s)
        for a in list(u.addresses):
            s.delete(a)
        s.delete(u)
        with recorder.capture() as calls:
            s.flush()
        assert_sql(calls, [
            SQL(q(recorder, "DELETE FROM addresses WHERE addresses.id = ?"), [(1,), (2,)]),
            SQL(q(recorder, "DELETE FROM users WHERE users.id = ?"), (1,)),
        ], ignore_transaction=True)
        s.commit()


def test_rehoming_children_of_deleted_parent(db: Any) -> None:
    """Children moved to another parent while their parent is deleted keep the new FK."""
    with Session(db) as s:
        ann = _user_with_two(s)
        bob = s.get(User, 2)
        for a in list(ann.addresses):
            a.user = bob
        s.delete(ann)
        s.commit()
        assert s.scalars(select(Address.user_id)).all() == [2, 2]
        assert count(db, User.__table__) == 1


# -- many-to-many -------------------------------------------------------------------------------------


def test_secondary_insert_after_both_ends(rec: Any) -> None:
    """post_tags rows are inserted after the posts and tags rows they reference."""
    engine, recorder = rec
    with Session(engine) as s:
        s.add(Post(id=1, title="p", tags=[Tag(id=1, name="a"), Tag(id=2, name="b")]))
        with recorder.capture() as calls:
            s.flush()
        assert_sql(calls, [
            AllOf(SQL(q(recorder, "INSERT INTO posts (id, title) VALUES (?, ?)"), (1, "p")),
                  SQL(q(recorder, "INSERT INTO tags (id, name) VALUES (?, ?)"),
                      [(1, "a"), (2, "b")])),
            SQL(q(recorder, "INSERT INTO post_tags (post_id, tag_id) VALUES (?, ?)"),
                [(1, 1), (1, 2)]),
        ], ignore_transaction=True)
        s.commit()


def test_m2m_append_from_other_side_inserts_one_row(rec: Any) -> None:
    """Appending on Tag.posts (the backref side) writes the association row exactly once."""
    engine, recorder = rec
    with Session(engine) as s:
        p = Post(id=1, title="p")
        s.add(p)
        s.commit()
        assert p.tags == []  # loaded, so the backref append lands in memory
        t = Tag(id=1, name="a")
        t.posts.append(p)
        assert p.tags == [t]
        s.add(t)
        with recorder.capture() as calls:
            s.flush()
        assert [tuple(r) for r in rows_of(calls, "INSERT INTO post_tags")] == [(1, 1)]
        s.commit()
    assert count(engine, post_tags) == 1


def test_clearing_m2m_collection_deletes_all_its_rows(rec: Any) -> None:
    """post.tags.clear() deletes every association row of that post and nothing else."""
    engine, recorder = rec
    with Session(engine) as s:
        a, b = Tag(id=1, name="a"), Tag(id=2, name="b")
        s.add_all([Post(id=1, title="p", tags=[a, b]), Post(id=2, title="q", tags=[a])])
        s.commit()
        p = s.get(Post, 1)
        p.tags.clear()
        with recorder.capture() as calls:
            s.flush()
        assert {v for v in ops(calls) if v[0] != "SELECT"} == {("DELETE", "post_tags")}
        assert sorted(tuple(r) for r in rows_of(calls, "DELETE FROM post_tags")) == [
            (1, 1), (1, 2)]
        s.commit()
    with engine.connect() as conn:
        assert [tuple(r) for r in conn.execute(select(post_tags.c.post_id, post_tags.c.tag_id))] \
            == [(2, 1)]


def test_moving_m2m_member_between_posts(rec: Any) -> None:
    """Moving a tag from one post to another: one association DELETE, one INSERT."""
    engine, recorder = rec
    with Session(engine) as s:
        t = Tag(id=1, name="a")
        s.add_all([Post(id=1, title="p", tags=[t]), Post(id=2, title="q")])
        s.commit()
        p1, p2 = s.get(Post, 1), s.get(Post, 2)
        assert p1.tags == [t] and p2.tags == []  # both loaded: no autoflush in between
        p1.tags.remove(t)
        p2.tags.append(t)
        with recorder.capture() as calls:
            s.flush()
        verbs = [v for v in ops(calls) if v[0] != "SELECT"]
        assert sorted(verbs) == [("DELETE", "post_tags"), ("INSERT", "post_tags")]
        assert [tuple(r) for r in rows_of(calls, "INSERT INTO post_tags")] == [(2, 1)]
        assert [tuple(r) for r in rows_of(calls, "DELETE FROM post_tags")] == [(1, 1)]
        s.commit()


def test_deleting_both_m2m_ends_in_one_flush(db: Any) -> None:
    """A post and its tag deleted together: association row first, FKs never violated."""
    with Session(db) as s:
        s.add(Post(id=1, title="p", tags=[Tag(id=1, name="a"), Tag(id=2, name="b")]))
        s.commit()
        p = s.get(Post, 1)
        s.delete(p.tags[0])
        s.delete(p)
        s.commit()
        assert s.scalars(select(Tag.id)).all() == [2]
        assert count(db, post_tags) == 0


def test_removal_from_m2m_deletes_only_association_row(rec: Any) -> None:
    """Removing a tag from post.tags deletes only that post_tags row."""
    engine, recorder = rec
    with Session(engine) as s:
        s.add(Post(id=1, title="p", tags=[Tag(id=1, name="a"), Tag(id=2, name="b")]))
        s.commit()
        p = s.get(Post, 1)
        p.tags.remove(p.tags[1])
        with recorder.capture() as calls:
            s.flush()
        assert_sql(calls, [
            SQL(q(recorder, "DELETE FROM post_tags WHERE post_tags.post_id = ? "
                            "AND post_tags.tag_id = ?"), (1, 2)),
        ], ignore_transaction=True)
        s.commit()
    assert count(engine, Tag.__table__) == 2
    assert count(engine, post_tags) == 1


def test_deleting_m2m_end_deletes_secondary_rows_first(rec: Any) -> None:
    """Deleting a post removes its post_tags rows before the posts row; tags stay."""
    engine, recorder = rec
    with Session(engine) as s:
        s.add(Post(id=1, title="p", tags=[Tag(id=1, name="a"), Tag(id=2, name="b")]))
        s.add(Post(id=2, title="q", tags=[]))
        s.commit()
        s.expunge_all()
        p = s.get(Post, 1)
        with recorder.capture() as calls:
            s.delete(p)
            s.flush()
        verbs = [v for v in ops(calls) if v[0] != "SELECT"]
        assert verbs == [("DELETE", "post_tags"), ("DELETE", "posts")]
        assert sorted(tuple(r) for r in rows_of(calls, "DELETE FROM post_tags")) == [
            (1, 1), (1, 2)]
        s.commit()
    assert count(engine, post_tags) == 0
    assert count(engine, Tag.__table__) == 2
    assert count(engine, Post.__table__) == 1


def test_deleting_other_m2m_end_with_loaded_backref(db: Any) -> None:
    """Deleting a tag that a loaded post references removes the association row first."""
    with Session(db) as s:
        s.add(Post(id=1, title="p", tags=[Tag(id=1, name="a"), Tag(id=2, name="b")]))
        s.commit()
        p = s.get(Post, 1)
        assert len(p.tags) == 2
        s.delete(s.get(Tag, 1))
        s.commit()
        assert [t.id for t in p.tags] == [2]
        assert s.execute(select(post_tags.c.tag_id)).scalars().all() == [2]


# -- self-referential -----------------------------------------------------------------------------------


def _chain(depth: int) -> Node:
    root = Node(name="n0")
    cur = root
    for i in range(1, depth):
        nxt = Node(name=f"n{i}")
        cur.children.append(nxt)
        cur = nxt
    return root


def test_self_referential_depth_four_insert_and_cascade_delete(rec: Any) -> None:
    """A depth-4 chain (with a sibling) inserts parents first and deletes leaves first."""
    engine, recorder = rec
    with Session(engine) as s:
        root = _chain(4)
        root.children.append(Node(name="side"))
        s.add(root)
        s.commit()
        ids = {n.name: n.id for n in s.scalars(select(Node))}
        parents = {n.id: n.parent_id for n in s.scalars(select(Node))}
        assert parents[ids["n3"]] == ids["n2"] and parents[ids["side"]] == ids["n0"]
        s.expunge_all()
        with recorder.capture() as calls:
            s.delete(s.get(Node, ids["n0"]))
            s.flush()
        deleted = [r[0] for r in rows_of(calls, "DELETE FROM nodes")]
        assert sorted(deleted) == sorted(ids.values())
        # every node is deleted after all of its descendants
        for child, parent in parents.items():
            if parent is not None:
                assert deleted.index(child) < deleted.index(parent)
        s.commit()
    assert count(engine, Node.__table__) == 0


def test_deleting_middle_node_deletes_its_subtree_only(db: Any) -> None:
    """Deleting an inner node cascades to its descendants; its parent and siblings stay."""
    with Session(db) as s:
        root = Node(name="r", children=[
            Node(name="a", children=[Node(name="a1", children=[Node(name="a1x")])]),
            Node(name="b")])
        s.add(root)
        s.commit()
        s.delete(root.children[0])
        s.commit()
        assert sorted(s.scalars(select(Node.name)).all()) == ["b", "r"]
        assert [c.name for c in root.children] == ["b"]


def test_self_referential_explicit_deletes_in_any_order(db: Any) -> None:
    """Deleting every node of a chain, root first in call order, still succeeds."""
    with Session(db) as s:
        s.add(_chain(4))
        s.commit()
        nodes = s.scalars(select(Node).order_by(Node.id)).all()
        for n in nodes:
            s.delete(n)
        s.commit()
        assert s.scalar(select(func.count()).select_from(Node)) == 0


def test_self_referential_reparent(db: Any) -> None:
    """Moving a subtree under another node updates only the subtree root's parent_id."""
    with Session(db) as s:
        root = Node(name="r", children=[Node(name="a", children=[Node(name="a1")]),
                                        Node(name="b")])
        s.add(root)
        s.commit()
        a, b = root.children
        a1 = a.children[0]
        a1.parent = b
        s.commit()
        assert s.execute(select(Node.parent_id).where(Node.id == a1.id)).scalar() == b.id
        assert a.children == [] and b.children == [a1]


# -- post_update and cycles ----------------------------------------------------------------------


def test_post_update_insert_then_update(rec: Any) -> None:
    """Mutually referencing rows: INSERT both (FK left NULL), then UPDATE the post_update FK."""
    engine, recorder = rec
    with Session(engine) as s:
        acc = Account(id=1)
        c = Contact(id=1, account=acc)
        acc.primary_contact = c
        s.add(acc)
        with recorder.capture() as calls:
            s.flush()
        assert_sql(calls, [
            SQL(q(recorder, "INSERT INTO accounts (id, primary_contact_id) VALUES (?, ?)"),
                (1, None)),
            SQL(q(recorder, "INSERT INTO contacts (id, account_id) VALUES (?, ?)"), (1, 1)),
            SQL(q(recorder, "UPDATE accounts SET primary_contact_id=? WHERE accounts.id = ?"),
                (1, 1)),
        ], ignore_transaction=True)
        s.commit()
    with engine.connect() as conn:
        assert conn.execute(select(Account.primary_contact_id)).scalar() == 1


def test_post_update_delete_nulls_first(rec: Any) -> None:
    """Deleting both rows: the post_update FK is nulled before the DELETEs."""
    engine, recorder = rec
    with Session(engine) as s:
        acc = Account(id=1)
        c = Contact(id=1, account=acc)
        acc.primary_contact = c
        s.add(acc)
        s.flush()
        s.delete(acc)
        s.delete(c)
        with recorder.capture() as calls:
            s.flush()
        assert_sql(calls, [
            SQL(q(recorder, "UPDATE accounts SET primary_contact_id=? WHERE accounts.id = ?"),
                (None, 1)),
            SQL(q(recorder, "DELETE FROM contacts WHERE contacts.id = ?"), (1,)),
            SQL(q(recorder, "DELETE FROM accounts WHERE accounts.id = ?"), (1,)),
        ], ignore_transaction=True)
        s.commit()


def test_post_update_delete_rolled_back_in_savepoint(db: Any) -> None:
    """A SAVEPOINT that nulled a post_update link before DELETEs is rolled back: the
    restored object is expired (not left holding the NULL), and redoing the deletes
    nulls the link again -- the DELETEs would fail the foreign key otherwise."""
    with Session(db) as s:
        acc = Account(id=1)
        c = Contact(id=1, account=acc)
        acc.primary_contact = c
        s.add(acc)
        s.commit()
        with pytest.raises(RuntimeError):
            with s.begin_nested():
                s.delete(acc)
                s.delete(c)
                s.flush()
                assert acc.__dict__.get("primary_contact_id", 1) is None
                raise RuntimeError("undo the SAVEPOINT")
        assert inspect(acc).persistent and "primary_contact_id" not in acc.__dict__
        assert acc.primary_contact_id == 1 and acc.primary_contact is c
        with s.begin_nested():
            s.delete(acc)
            s.delete(c)
        s.commit()
        assert s.scalar(select(func.count()).select_from(Account)) == 0


def test_post_update_with_generated_keys(db: Any) -> None:
    """post_update works with generated keys on every backend, FKs enforced."""
    with Session(db) as s:
        acc = Account()
        contacts = [Contact(account=acc), Contact(account=acc)]
        acc.primary_contact = contacts[1]
        s.add(acc)
        s.commit()
        row = s.execute(select(Account.id, Account.primary_contact_id)).one()
        assert row.primary_contact_id == contacts[1].id
        assert {c.account_id for c in contacts} == {acc.id}


def test_unbreakable_cycle_raises_circular_dependency_error(db: Any) -> None:
    """Two rows referencing each other without post_update raise CircularDependencyError."""
    with Session(db) as s:
        left, right = Left(id=1), Right(id=1)
        left.right = right
        right.left = left
        s.add(left)
        with pytest.raises(exc.CircularDependencyError) as info:
            s.flush()
        msg = str(info.value)
        assert "Left.right" in msg and "Right.left" in msg  # the relationships
        assert "<Left at" in msg and "<Right at" in msg  # and the objects
        s.rollback()
    with db.connect() as conn:
        assert conn.execute(select(func.count()).select_from(Left)).scalar() == 0


def test_one_sided_link_is_not_a_cycle(db: Any) -> None:
    """Only one of the two mutual relationships set: ordinary ordering, no error."""
    with Session(db) as s:
        left, right = Left(id=1), Right(id=1)
        right.left = left
        s.add_all([right, left])
        s.commit()
        assert s.execute(select(Right.left_id)).scalar() == 1


# -- failure in the middle of a flush ----------------------------------------------------------------


def test_injected_failure_on_child_insert_leaves_nothing(rec: Any) -> None:
    """A child INSERT failing after the parent INSERT: after rollback no row is left."""
    engine, recorder = rec
    with Session(engine) as s:
        u = User(name="ann", addresses=[Address(id=1, email="a"), Address(id=2, email="b")])
        s.add(u)
        with recorder.failing(FailurePlan.at_statement(
                0, "IntegrityError", match="^INSERT INTO addresses")) as plan:
            with pytest.raises(exc.IntegrityError):
                s.flush()
        assert plan.fired
        with pytest.raises(exc.PendingRollbackError):
            s.execute(select(User))
        s.rollback()
        assert u not in s
    assert count(engine, User.__table__) == 0
    assert count(engine, Address.__table__) == 0


def test_real_constraint_failure_mid_flush_rolls_back(db: Any) -> None:
    """A duplicate child key fails the flush; the new parent and siblings are not stored."""
    with Session(db) as s:
        s.add(Address(id=5, email="old"))
        s.commit()
        s.add(User(id=1, name="ann", addresses=[Address(id=6, email="n"),
                                                Address(id=5, email="dup")]))
        with pytest.raises(exc.IntegrityError):
            s.flush()
        s.rollback()
    assert count(db, User.__table__) == 0
    with db.connect() as conn:
        assert conn.execute(select(Address.id)).scalars().all() == [5]
