"""Eager loading configured on relationship(): ``lazy="selectin"``, ``"joined"`` and
``"subquery"`` on one-to-many, many-to-one, many-to-many and self-referential
relationships.  Exact statement counts through the recording proxy (selectin and
subquery: 1 + 1 per level; joined: 1), results equal to lazy loading, de-duplication
with ``.unique()``, ``innerjoin``, LIMIT/OFFSET with complete collections, empty
collections, and ``session.get(..., options=...)``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from docket import Column, ForeignKey, ForeignKeyConstraint, String, Table, event, insert, select
from docket.exc import InvalidRequestError
from docket.orm import (
    DeclarativeBase,
    Mapped,
    Session,
    joinedload,
    lazyload,
    mapped_column,
    relationship,
    selectinload,
    subqueryload,
)
from docket.testing import Recorder


class Base(DeclarativeBase):
    pass


# --- shared targets and a plain lazy pair ------------------------------------------------------

class Owner(Base):
    __tablename__ = "re_owners"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(20))


class Tag(Base):
    __tablename__ = "re_tags"
    id: Mapped[int] = mapped_column(primary_key=True)
    word: Mapped[str] = mapped_column(String(20))


class LAddress(Base):
    __tablename__ = "re_l_addresses"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("re_l_users.id"))
    email: Mapped[str] = mapped_column(String(30))


class LUser(Base):
    __tablename__ = "re_l_users"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(20))
    addresses: Mapped[list[LAddress]] = relationship(order_by=LAddress.id)
    addresses_desc: Mapped[list[LAddress]] = relationship(
        order_by=LAddress.id.desc(), viewonly=True)


class Ticket(Base):
    """Many-to-one with a NOT NULL key, joined eagerly with an INNER JOIN."""
    __tablename__ = "re_tickets"
    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("re_owners.id"))
    owner: Mapped[Owner] = relationship(lazy="joined", innerjoin=True)


class Emp(Base):
    """Self-referential many-to-one joined eagerly one level deep."""
    __tablename__ = "re_emps"
    id: Mapped[int] = mapped_column(primary_key=True)
    boss_id: Mapped[int | None] = mapped_column(ForeignKey("re_emps.id"))
    boss: Mapped[Emp | None] = relationship(remote_side=[id], lazy="joined", join_depth=1)


class CChild(Base):
    __tablename__ = "re_c_children"
    __table_args__ = (ForeignKeyConstraint(["pa", "pb"], ["re_c_parents.a", "re_c_parents.b"]),)
    id: Mapped[int] = mapped_column(primary_key=True)
    pa: Mapped[int]
    pb: Mapped[str] = mapped_column(String(5))


class CParent(Base):
    """Composite primary key: eager loaders must match on both columns."""
    __tablename__ = "re_c_parents"
    a: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    b: Mapped[str] = mapped_column(String(5), primary_key=True)
    children: Mapped[list[CChild]] = relationship(order_by=CChild.id)


# --- one family of classes per eager strategy ---------------------------------------------------
# Parent -< Child -< Toy (two one-to-many levels), Post >-< Tag (many-to-many),
# Item >- Owner (many-to-one), Node (self-referential, join_depth=2).

class SToy(Base):
    __tablename__ = "re_s_toys"
    id: Mapped[int] = mapped_column(primary_key=True)
    child_id: Mapped[int] = mapped_column(ForeignKey("re_s_children.id"))
    name: Mapped[str] = mapped_column(String(20))


class SChild(Base):
    __tablename__ = "re_s_children"
    id: Mapped[int] = mapped_column(primary_key=True)
    parent_id: Mapped[int] = mapped_column(ForeignKey("re_s_parents.id"))
    name: Mapped[str] = mapped_column(String(20))
    parent: Mapped[SParent] = relationship(back_populates="children")
    toys: Mapped[list[SToy]] = relationship(lazy="selectin", order_by=SToy.id)


class SParent(Base):
    __tablename__ = "re_s_parents"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(20))
    children: Mapped[list[SChild]] = relationship(
        lazy="selectin", back_populates="parent", order_by=SChild.id)


s_post_tags = Table(
    "re_s_post_tags", Base.metadata,
    Column("post_id", ForeignKey("re_s_posts.id"), primary_key=True),
    Column("tag_id", ForeignKey("re_tags.id"), primary_key=True))


class SPost(Base):
    __tablename__ = "re_s_posts"
    id: Mapped[int] = mapped_column(primary_key=True)
    tags: Mapped[list[Tag]] = relationship(secondary=s_post_tags, lazy="selectin", order_by=Tag.id)


class SItem(Base):
    __tablename__ = "re_s_items"
    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("re_owners.id"))
    owner: Mapped[Owner | None] = relationship(lazy="selectin")


class SNode(Base):
    __tablename__ = "re_s_nodes"
    id: Mapped[int] = mapped_column(primary_key=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("re_s_nodes.id"))
    children: Mapped[list[SNode]] = relationship(lazy="selectin", join_depth=2, order_by="SNode.id")


class JToy(Base):
    __tablename__ = "re_j_toys"
    id: Mapped[int] = mapped_column(primary_key=True)
    child_id: Mapped[int] = mapped_column(ForeignKey("re_j_children.id"))
    name: Mapped[str] = mapped_column(String(20))


class JChild(Base):
    __tablename__ = "re_j_children"
    id: Mapped[int] = mapped_column(primary_key=True)
    parent_id: Mapped[int] = mapped_column(ForeignKey("re_j_parents.id"))
    name: Mapped[str] = mapped_column(String(20))
    parent: Mapped[JParent] = relationship(back_populates="children")
    toys: Mapped[list[JToy]] = relationship(lazy="joined", order_by=JToy.id)


class JParent(Base):
    __tablename__ = "re_j_parents"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(20))
    children: Mapped[list[JChild]] = relationship(
        lazy="joined", back_populates="parent", order_by=JChild.id)


j_post_tags = Table(
    "re_j_post_tags", Base.metadata,
    Column("post_id", ForeignKey("re_j_posts.id"), primary_key=True),
    Column("tag_id", ForeignKey("re_tags.id"), primary_key=True))


class JPost(Base):
    __tablename__ = "re_j_posts"
    id: Mapped[int] = mapped_column(primary_key=True)
    tags: Mapped[list[Tag]] = relationship(secondary=j_post_tags, lazy="joined", order_by=Tag.id)


class JItem(Base):
    __tablename__ = "re_j_items"
    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("re_owners.id"))
    owner: Mapped[Owner | None] = relationship(lazy="joined")


class JNode(Base):
    __tablename__ = "re_j_nodes"
    id: Mapped[int] = mapped_column(primary_key=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("re_j_nodes.id"))
    children: Mapped[list[JNode]] = relationship(lazy="joined", join_depth=2, order_by="JNode.id")


class QToy(Base):
    __tablename__ = "re_q_toys"
    id: Mapped[int] = mapped_column(primary_key=True)
    child_id: Mapped[int] = mapped_column(ForeignKey("re_q_children.id"))
    name: Mapped[str] = mapped_column(String(20))


class QChild(Base):
    __tablename__ = "re_q_children"
    id: Mapped[int] = mapped_column(primary_key=True)
    parent_id: Mapped[int] = mapped_column(ForeignKey("re_q_parents.id"))
    name: Mapped[str] = mapped_column(String(20))
    parent: Mapped[QParent] = relationship(back_populates="children")
    toys: Mapped[list[QToy]] = relationship(lazy="subquery", order_by=QToy.id)


class QParent(Base):
    __tablename__ = "re_q_parents"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(20))
    children: Mapped[list[QChild]] = relationship(
        lazy="subquery", back_populates="parent", order_by=QChild.id)


q_post_tags = Table(
    "re_q_post_tags", Base.metadata,
    Column("post_id", ForeignKey("re_q_posts.id"), primary_key=True),
    Column("tag_id", ForeignKey("re_tags.id"), primary_key=True))


class QPost(Base):
    __tablename__ = "re_q_posts"
    id: Mapped[int] = mapped_column(primary_key=True)
    tags: Mapped[list[Tag]] = relationship(secondary=q_post_tags, lazy="subquery", order_by=Tag.id)


class QItem(Base):
    __tablename__ = "re_q_items"
    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("re_owners.id"))
    owner: Mapped[Owner | None] = relationship(lazy="subquery")


class QNode(Base):
    __tablename__ = "re_q_nodes"
    id: Mapped[int] = mapped_column(primary_key=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("re_q_nodes.id"))
    children: Mapped[list[QNode]] = relationship(lazy="subquery", join_depth=2, order_by="QNode.id")


FAMILIES: dict[str, dict[str, Any]] = {
    "selectin": {"Parent": SParent, "Child": SChild, "Toy": SToy, "Post": SPost,
                 "Item": SItem, "Node": SNode, "post_tags": s_post_tags},
    "joined": {"Parent": JParent, "Child": JChild, "Toy": JToy, "Post": JPost,
               "Item": JItem, "Node": JNode, "post_tags": j_post_tags},
    "subquery": {"Parent": QParent, "Child": QChild, "Toy": QToy, "Post": QPost,
                 "Item": QItem, "Node": QNode, "post_tags": q_post_tags},
}

#: statements for a query of Parent (two eager levels): 1 + 1 per level, joined 1
PARENT_QUERY_STATEMENTS = {"selectin": 3, "joined": 1, "subquery": 3}
#: statements for a query with one eager level
ONE_LEVEL_STATEMENTS = {"selectin": 2, "joined": 1, "subquery": 2}

#: parent id -> [(child id, [toy ids])]
PARENT_TREE = {
    1: [(1, [1, 2]), (2, [])],
    2: [(3, [3])],
    3: [],
    4: [(4, []), (5, [4]), (6, [])],
}
POST_TAGS = {1: [1, 2], 2: [2], 3: []}
ITEM_OWNERS = {1: 1, 2: 1, 3: 2, 4: None}
#: node tree: roots 1 and 6; 1 -> 2, 3; 2 -> 4; 4 -> 5
NODE_TREE: list[Any] = [(1, [(2, [(4, [(5, [])])]), (3, [])]), (6, [])]


def _fk_on(dbapi_connection: Any, record: Any) -> None:
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def seed(engine: Any) -> None:
    """The same data in every family, plus the lazy pair, owners, tags and tickets."""
    with engine.begin() as conn:
        conn.execute(insert(Owner.__table__), [{"id": 1, "name": "o1"}, {"id": 2, "name": "o2"}])
        conn.execute(insert(Tag.__table__), [{"id": 1, "word": "a"}, {"id": 2, "word": "b"}])
        conn.execute(insert(LUser.__table__), [{"id": 1, "name": "ann"}, {"id": 2, "name": "bob"}])
        conn.execute(insert(LAddress.__table__), [
            {"id": 1, "user_id": 1, "email": "a1"}, {"id": 2, "user_id": 1, "email": "a2"}])
        conn.execute(insert(Ticket.__table__), [{"id": 1, "owner_id": 2}, {"id": 2, "owner_id": 1}])
        for emp, boss in ((1, None), (2, 1), (3, 2), (4, 3)):
            conn.execute(insert(Emp.__table__), {"id": emp, "boss_id": boss})
        conn.execute(insert(CParent.__table__), [{"a": 1, "b": "x"}, {"a": 1, "b": "y"},
                                                 {"a": 2, "b": "x"}])
        conn.execute(insert(CChild.__table__), [
            {"id": 1, "pa": 1, "pb": "x"}, {"id": 2, "pa": 1, "pb": "y"},
            {"id": 3, "pa": 1, "pb": "x"}, {"id": 4, "pa": 2, "pb": "x"}])
        for fam in FAMILIES.values():
            conn.execute(insert(fam["Parent"].__table__),
                         [{"id": p, "name": f"p{p}"} for p in PARENT_TREE])
            conn.execute(insert(fam["Child"].__table__), [
                {"id": c, "parent_id": p, "name": f"c{c}"}
                for p, kids in PARENT_TREE.items() for c, _ in kids])
            conn.execute(insert(fam["Toy"].__table__), [
                {"id": t, "child_id": c, "name": f"t{t}"}
                for kids in PARENT_TREE.values() for c, toys in kids for t in toys])
            conn.execute(insert(fam["Post"].__table__), [{"id": p} for p in POST_TAGS])
            conn.execute(insert(fam["post_tags"]), [
                {"post_id": p, "tag_id": t} for p, tags in POST_TAGS.items() for t in tags])
            conn.execute(insert(fam["Item"].__table__),
                         [{"id": i, "owner_id": o} for i, o in ITEM_OWNERS.items()])
            for level in ([(1, None), (6, None)], [(2, 1), (3, 1)], [(4, 2)], [(5, 4)]):
                conn.execute(insert(fam["Node"].__table__),
                             [{"id": n, "parent_id": p} for n, p in level])


@pytest.fixture
def db(recorded_engine: tuple[Any, Recorder], backend: Any) -> Iterator[tuple[Any, Recorder]]:
    """(engine, recorder) with foreign keys enforced on every backend and seed data."""
    engine, recorder = recorded_engine
    if backend.is_sqlite:
        event.listen(engine, "connect", _fk_on)
        engine.dispose()  # later connections run the pragma; memory DB starts over
        Base.metadata.create_all(engine)
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    seed(engine)
    recorder.clear()
    yield engine, recorder


@pytest.fixture
def s(db: tuple[Any, Recorder]) -> Iterator[Session]:
    """A Session on the seeded engine."""
    with Session(db[0]) as session:
        yield session


@pytest.fixture(params=list(FAMILIES))
def fam(request: pytest.FixtureRequest) -> dict[str, Any]:
    """The classes of one eager strategy (parametrized over selectin/joined/subquery)."""
    return {"strategy": request.param, **FAMILIES[request.param]}


def sql(calls: Any) -> list[str]:
    """The statements in ``calls`` other than transaction control."""
    return [c.sql for c in calls.without_transaction_control()]


def selects(calls: Any) -> list[str]:
    """The statements in ``calls``, asserting every one of them is a SELECT."""
    stmts = sql(calls)
    assert all(st.lstrip().upper().startswith(("SELECT", "WITH")) for st in stmts), stmts
    return stmts


def scalars(s: Session, stmt: Any) -> list[Any]:
    """``session.scalars(stmt).unique().all()`` -- the SA 2.0 idiom, valid for every strategy."""
    return list(s.scalars(stmt).unique().all())


def parent_tree(parents: list[Any]) -> dict[int, list[tuple[int, list[int]]]]:
    return {p.id: [(c.id, [t.id for t in c.toys]) for c in p.children] for p in parents}


def node_tree(nodes: list[Any]) -> list[Any]:
    return [(n.id, node_tree(n.children)) for n in nodes]


# --- one-to-many, two levels -----------------------------------------------------------------

def test_one_to_many_two_levels_statement_count(s: Session, db: Any, fam: dict[str, Any]) -> None:
    """Parent -> children -> toys: selectin/subquery 1 + 1 per level, joined 1; then no SQL."""
    _, recorder = db
    Parent = fam["Parent"]
    with recorder.capture() as calls:
        parents = scalars(s, select(Parent).order_by(Parent.id))
    assert len(selects(calls)) == PARENT_QUERY_STATEMENTS[fam["strategy"]]
    with recorder.capture() as calls:
        tree = parent_tree(parents)
    assert sql(calls) == []
    assert tree == PARENT_TREE


def test_eager_results_equal_lazy_results(db: Any, fam: dict[str, Any]) -> None:
    """Eagerly loaded collections hold the same objects as lazy loading gives."""
    engine, _ = db
    Parent, Child = fam["Parent"], fam["Child"]
    with Session(engine) as s:
        eager = parent_tree(scalars(s, select(Parent).order_by(Parent.id)))
    with Session(engine) as s:
        lazy_stmt = (select(Parent).order_by(Parent.id)
                     .options(lazyload(Parent.children).lazyload(Child.toys)))
        lazy = parent_tree(scalars(s, lazy_stmt))
    assert eager == lazy == PARENT_TREE


def test_eager_loaded_collection_is_in_dict(s: Session, fam: dict[str, Any]) -> None:
    """After the query the eager collections are already present in the objects' __dict__."""
    Parent = fam["Parent"]
    [p] = scalars(s, select(Parent).where(Parent.id == 1))
    assert "children" in p.__dict__
    assert all("toys" in c.__dict__ for c in p.__dict__["children"])


def test_parent_without_children_gets_empty_collection(s: Session, db: Any,
                                                      fam: dict[str, Any]) -> None:
    """A parent with no children has an empty collection and accessing it sends no SQL."""
    _, recorder = db
    Parent = fam["Parent"]
    with recorder.capture() as calls:
        [p3] = scalars(s, select(Parent).where(Parent.id == 3))
    # no children at level one, so selectin/subquery send nothing for the second level
    assert len(selects(calls)) == ONE_LEVEL_STATEMENTS[fam["strategy"]]
    with recorder.capture() as calls:
        assert p3.children == []
    assert sql(calls) == []


def test_children_without_toys_get_empty_collections(s: Session, db: Any,
                                                     fam: dict[str, Any]) -> None:
    """Second-level collections of childless children are empty and free to access."""
    _, recorder = db
    Parent = fam["Parent"]
    [p4] = scalars(s, select(Parent).where(Parent.id == 4))
    with recorder.capture() as calls:
        assert [len(c.toys) for c in p4.children] == [0, 1, 0]
    assert sql(calls) == []


def test_eager_children_are_identity_mapped(s: Session, db: Any, fam: dict[str, Any]) -> None:
    """Eagerly loaded children are the session's objects: get() returns them without SQL."""
    _, recorder = db
    Parent, Child = fam["Parent"], fam["Child"]
    parents = scalars(s, select(Parent).order_by(Parent.id))
    with recorder.capture() as calls:
        assert s.get(Child, 5) is parents[3].children[1]
    assert sql(calls) == []


def test_back_reference_resolves_from_identity_map(s: Session, db: Any,
                                                   fam: dict[str, Any]) -> None:
    """child.parent (lazy many-to-one) of an eagerly loaded child needs no SQL."""
    _, recorder = db
    Parent = fam["Parent"]
    parents = scalars(s, select(Parent).order_by(Parent.id))
    with recorder.capture() as calls:
        assert all(c.parent is p for p in parents for c in p.children)
    assert sql(calls) == []


def test_query_of_children_loads_their_eager_toys(s: Session, db: Any,
                                                  fam: dict[str, Any]) -> None:
    """Querying the middle class loads its own eager level: 1 + 1 (joined: 1)."""
    _, recorder = db
    Child = fam["Child"]
    with recorder.capture() as calls:
        kids = scalars(s, select(Child).order_by(Child.id))
    assert len(selects(calls)) == ONE_LEVEL_STATEMENTS[fam["strategy"]]
    with recorder.capture() as calls:
        assert {c.id: [t.id for t in c.toys] for c in kids} == {
            1: [1, 2], 2: [], 3: [3], 4: [], 5: [4], 6: []}
    assert sql(calls) == []


def test_eager_load_with_where_clause(s: Session, fam: dict[str, Any]) -> None:
    """Only the selected parents are returned, each with its full collection."""
    Parent = fam["Parent"]
    parents = scalars(s, select(Parent).where(Parent.id.in_([2, 4])).order_by(Parent.id))
    assert parent_tree(parents) == {2: PARENT_TREE[2], 4: PARENT_TREE[4]}


# --- LIMIT / OFFSET --------------------------------------------------------------------------

def test_limit_returns_right_parents_with_complete_collections(s: Session,
                                                               fam: dict[str, Any]) -> None:
    """LIMIT counts parents, not joined rows: the last parent comes with all 3 children."""
    Parent = fam["Parent"]
    parents = scalars(s, select(Parent).order_by(Parent.id.desc()).limit(1))
    assert parent_tree(parents) == {4: PARENT_TREE[4]}


def test_limit_two_parents(s: Session, fam: dict[str, Any]) -> None:
    """LIMIT 2 returns the first two parents and every one of their children and toys."""
    Parent = fam["Parent"]
    parents = scalars(s, select(Parent).order_by(Parent.id).limit(2))
    assert parent_tree(parents) == {1: PARENT_TREE[1], 2: PARENT_TREE[2]}


def test_offset_and_limit(s: Session, db: Any, fam: dict[str, Any]) -> None:
    """OFFSET/LIMIT pick parents 2..3; their collections are complete; counts unchanged."""
    _, recorder = db
    Parent = fam["Parent"]
    with recorder.capture() as calls:
        parents = scalars(s, select(Parent).order_by(Parent.id).offset(1).limit(2))
    assert len(selects(calls)) == PARENT_QUERY_STATEMENTS[fam["strategy"]]
    assert parent_tree(parents) == {2: PARENT_TREE[2], 3: PARENT_TREE[3]}


def test_offset_past_collections(s: Session, fam: dict[str, Any]) -> None:
    """OFFSET 3 skips three parents (not three joined rows) and keeps parent 4 whole."""
    Parent = fam["Parent"]
    parents = scalars(s, select(Parent).order_by(Parent.id).offset(3).limit(5))
    assert parent_tree(parents) == {4: PARENT_TREE[4]}


# --- many-to-many -------------------------------------------------------------------------------

def test_many_to_many_eager(s: Session, db: Any, fam: dict[str, Any]) -> None:
    """A many-to-many collection loads eagerly: 1 + 1 (joined: 1); access is free."""
    _, recorder = db
    Post = fam["Post"]
    with recorder.capture() as calls:
        posts = scalars(s, select(Post).order_by(Post.id))
    assert len(selects(calls)) == ONE_LEVEL_STATEMENTS[fam["strategy"]]
    with recorder.capture() as calls:
        got = {p.id: [t.id for t in p.tags] for p in posts}
    assert sql(calls) == []
    assert got == POST_TAGS


def test_many_to_many_shared_target_is_one_object(s: Session, fam: dict[str, Any]) -> None:
    """A tag reached from two posts is one object, and get() returns it."""
    Post = fam["Post"]
    posts = scalars(s, select(Post).order_by(Post.id))
    assert posts[0].tags[1] is posts[1].tags[0] is s.get(Tag, 2)


def test_many_to_many_with_limit(s: Session, fam: dict[str, Any]) -> None:
    """LIMIT 1 on a many-to-many eager load keeps both tags of the first post."""
    Post = fam["Post"]
    [p] = scalars(s, select(Post).order_by(Post.id).limit(1))
    assert [t.word for t in p.tags] == ["a", "b"]


# --- many-to-one ------------------------------------------------------------------------------

def test_many_to_one_eager(s: Session, db: Any, fam: dict[str, Any]) -> None:
    """A many-to-one loads eagerly: 1 + 1 (joined: 1); NULL keys give None; access is free."""
    _, recorder = db
    Item = fam["Item"]
    with recorder.capture() as calls:
        items = scalars(s, select(Item).order_by(Item.id))
    assert len(selects(calls)) == ONE_LEVEL_STATEMENTS[fam["strategy"]]
    with recorder.capture() as calls:
        got = {i.id: (i.owner.id if i.owner is not None else None) for i in items}
    assert sql(calls) == []
    assert got == ITEM_OWNERS
    assert items[0].owner is items[1].owner


def test_many_to_one_joined_no_unique_needed(s: Session) -> None:
    """Joined eager many-to-one does not duplicate rows, so .all() works without unique()."""
    items = s.scalars(select(JItem).order_by(JItem.id)).all()
    assert [i.id for i in items] == [1, 2, 3, 4]
    assert items[3].owner is None


def test_many_to_one_joined_is_outer_by_default(s: Session, db: Any) -> None:
    """Joined many-to-one on a nullable key uses LEFT OUTER JOIN, keeping NULL-key rows."""
    _, recorder = db
    with recorder.capture() as calls:
        items = s.scalars(select(JItem).order_by(JItem.id)).all()
    [stmt] = selects(calls)
    assert "LEFT OUTER JOIN" in stmt.upper()
    assert len(items) == 4


def test_innerjoin_true_uses_inner_join(s: Session, db: Any) -> None:
    """innerjoin=True renders an inner JOIN (no LEFT OUTER) and loads the owners in one SELECT."""
    _, recorder = db
    with recorder.capture() as calls:
        tickets = s.scalars(select(Ticket).order_by(Ticket.id)).all()
    [stmt] = selects(calls)
    assert " JOIN " in stmt.upper()
    assert "OUTER" not in stmt.upper()
    assert [(t.id, t.owner.name) for t in tickets] == [(1, "o2"), (2, "o1")]


# --- self-referential ---------------------------------------------------------------------

NODE_QUERY_STATEMENTS = {"selectin": 3, "joined": 1, "subquery": 3}


def test_self_referential_eager_to_join_depth(s: Session, db: Any, fam: dict[str, Any]) -> None:
    """join_depth=2: roots plus two levels in 1 + 1 per level statements (joined: 1)."""
    _, recorder = db
    Node = fam["Node"]
    with recorder.capture() as calls:
        roots = scalars(s, select(Node).where(Node.parent_id.is_(None)).order_by(Node.id))
    assert len(selects(calls)) == NODE_QUERY_STATEMENTS[fam["strategy"]]
    with recorder.capture() as calls:
        two_levels = [(r.id, [(c.id, [g.id for g in c.children]) for c in r.children])
                      for r in roots]
    assert sql(calls) == []
    assert two_levels == [(1, [(2, [4]), (3, [])]), (6, [])]


def test_self_referential_beyond_join_depth_loads_on_access(s: Session, db: Any,
                                                            fam: dict[str, Any]) -> None:
    """The level past join_depth loads on access (lazy load + its own eager level); tree right."""
    _, recorder = db
    Node = fam["Node"]
    roots = scalars(s, select(Node).where(Node.parent_id.is_(None)).order_by(Node.id))
    node4 = roots[0].children[0].children[0]
    assert node4.id == 4
    assert "children" not in node4.__dict__
    with recorder.capture() as calls:
        assert node_tree(roots) == NODE_TREE
    # node 4's children lazily (1); selectin/subquery then load node 5's children (1 more)
    assert len(selects(calls)) == ONE_LEVEL_STATEMENTS[fam["strategy"]]


def test_self_referential_selectin_is_one_statement_per_level(s: Session, db: Any) -> None:
    """selectin on a tree: each level is one SELECT with IN (or = ANY) over the previous keys."""
    _, recorder = db
    with recorder.capture() as calls:
        scalars(s, select(SNode).where(SNode.parent_id.is_(None)))
    stmts = selects(calls)
    assert len(stmts) == 3
    assert all("re_s_nodes" in st for st in stmts)
    assert all(" IN " in st.upper() or "ANY(" in st.upper() for st in stmts[1:])


def test_joined_self_referential_single_statement_aliases(s: Session, db: Any) -> None:
    """joined + join_depth=2: one SELECT joining the node table to itself twice."""
    _, recorder = db
    with recorder.capture() as calls:
        scalars(s, select(JNode).where(JNode.parent_id.is_(None)))
    [stmt] = selects(calls)
    assert stmt.upper().count("LEFT OUTER JOIN") == 2


# --- joined: unique() ---------------------------------------------------------------------------

def test_joined_collection_requires_unique(s: Session) -> None:
    """Joined eager collections without .unique() raise InvalidRequestError (SA 2.0 rule)."""
    with pytest.raises(InvalidRequestError, match="unique"):
        s.scalars(select(JParent)).all()


def test_joined_collection_unique_deduplicates(s: Session) -> None:
    """.unique() gives each parent once although the join repeats it per child."""
    parents = s.scalars(select(JParent).order_by(JParent.id)).unique().all()
    assert [p.id for p in parents] == [1, 2, 3, 4]
    assert parent_tree(parents) == PARENT_TREE


def test_joined_execute_unique_rows(s: Session) -> None:
    """session.execute(...).unique() yields one row per parent entity."""
    rows = s.execute(select(JParent).order_by(JParent.id)).unique().all()
    assert [r[0].id for r in rows] == [1, 2, 3, 4]


def test_joined_option_unique_idiom(s: Session, db: Any) -> None:
    """The SA 2.0 docs idiom: scalars(select(U).options(joinedload(U.addresses))).unique().all()."""
    _, recorder = db
    with recorder.capture() as calls:
        users = s.scalars(
            select(LUser).options(joinedload(LUser.addresses)).order_by(LUser.id)).unique().all()
    assert len(selects(calls)) == 1
    assert [(u.id, [a.id for a in u.addresses]) for u in users] == [(1, [1, 2]), (2, [])]


def test_legacy_query_deduplicates_joined_collections(s: Session) -> None:
    """Legacy session.query(...).all() de-duplicates joined eager rows by itself."""
    parents = s.query(JParent).order_by(JParent.id).all()
    assert [p.id for p in parents] == [1, 2, 3, 4]


# --- session.get ---------------------------------------------------------------------------------

def test_get_applies_default_eager_strategy(db: Any, fam: dict[str, Any]) -> None:
    """session.get() of a parent runs its eager loaders: 1 + 1 per level (joined: 1)."""
    engine, recorder = db
    Parent = fam["Parent"]
    with Session(engine) as s:
        with recorder.capture() as calls:
            p = s.get(Parent, 1)
        assert len(selects(calls)) == PARENT_QUERY_STATEMENTS[fam["strategy"]]
        with recorder.capture() as calls:
            assert parent_tree([p]) == {1: PARENT_TREE[1]}
        assert sql(calls) == []


@pytest.mark.parametrize("option, count", [(selectinload, 2), (joinedload, 1),
                                           (subqueryload, 2)])
def test_get_with_loader_option(db: Any, option: Any, count: int) -> None:
    """session.get(User, 1, options=[<loader>(User.addresses)]) loads the collection eagerly."""
    engine, recorder = db
    with Session(engine) as s:
        with recorder.capture() as calls:
            u = s.get(LUser, 1, options=[option(LUser.addresses)])
        assert len(selects(calls)) == count
        with recorder.capture() as calls:
            assert [a.email for a in u.addresses] == ["a1", "a2"]
        assert sql(calls) == []


def test_get_with_selectinload_of_empty_collection(db: Any) -> None:
    """get() with selectinload of a user without addresses: empty, no SQL on access."""
    engine, recorder = db
    with Session(engine) as s:
        u = s.get(LUser, 2, options=[selectinload(LUser.addresses)])
        with recorder.capture() as calls:
            assert u.addresses == []
        assert sql(calls) == []


def test_eager_loaded_collections_survive_close(db: Any, fam: dict[str, Any]) -> None:
    """Eagerly loaded collections are readable after the session closes."""
    engine, _ = db
    Parent = fam["Parent"]
    with Session(engine) as s:
        parents = scalars(s, select(Parent).order_by(Parent.id))
    assert parent_tree(parents) == PARENT_TREE


def test_eager_load_does_not_overwrite_loaded_collection(s: Session, db: Any,
                                                         fam: dict[str, Any]) -> None:
    """Re-querying a parent keeps its already-loaded collection object (no populate_existing)."""
    Parent = fam["Parent"]
    [p] = scalars(s, select(Parent).where(Parent.id == 1))
    before = p.children
    [again] = scalars(s, select(Parent).where(Parent.id == 1))
    assert again is p
    assert p.children is before


# --- relationship order_by under every eager strategy ------------------------------------------

@pytest.mark.parametrize("option", [selectinload, joinedload, subqueryload])
def test_eager_option_honours_descending_order_by(s: Session, db: Any, option: Any) -> None:
    """The relationship's order_by (descending here) orders eagerly loaded collections too."""
    _, recorder = db
    with recorder.capture() as calls:
        users = scalars(s, select(LUser).options(option(LUser.addresses_desc)).order_by(LUser.id))
    assert [[a.id for a in u.addresses_desc] for u in users] == [[2, 1], []]
    assert "ORDER BY" in " ".join(selects(calls)).upper()


def test_joined_default_orders_children_by_relationship_order_by(s: Session, db: Any) -> None:
    """lazy="joined": the JOINed children follow the relationship's order_by in SQL."""
    _, recorder = db
    with recorder.capture() as calls:
        scalars(s, select(JParent).order_by(JParent.id))
    [stmt] = selects(calls)
    order_clause = stmt.upper().rsplit("ORDER BY", 1)[1]
    assert "RE_J_CHILDREN" in order_clause and "RE_J_TOYS" in order_clause


# --- edge cases ----------------------------------------------------------------------------------

def test_eager_query_with_no_parents_sends_one_statement(s: Session, db: Any,
                                                         fam: dict[str, Any]) -> None:
    """No parent rows: selectin/subquery send no follow-up query at all."""
    _, recorder = db
    Parent = fam["Parent"]
    with recorder.capture() as calls:
        assert scalars(s, select(Parent).where(Parent.id > 100)) == []
    assert len(selects(calls)) == 1


def test_get_of_present_object_ignores_options(db: Any) -> None:
    """get() of an object already in the session returns it without SQL, options or not."""
    engine, recorder = db
    with Session(engine) as s:
        u = s.get(LUser, 1)
        with recorder.capture() as calls:
            assert s.get(LUser, 1, options=[selectinload(LUser.addresses)]) is u
        assert sql(calls) == []


def test_refresh_runs_eager_loaders(db: Any, fam: dict[str, Any]) -> None:
    """refresh() of a parent re-runs its eager loaders: 1 + 1 per level (joined: 1)."""
    engine, recorder = db
    Parent = fam["Parent"]
    with Session(engine) as s:
        p = s.get(Parent, 1)
        with recorder.capture() as calls:
            s.refresh(p)
        assert len(selects(calls)) == PARENT_QUERY_STATEMENTS[fam["strategy"]]
        with recorder.capture() as calls:
            assert parent_tree([p]) == {1: PARENT_TREE[1]}
        assert sql(calls) == []


def test_expired_eager_collection_reloads_on_access(db: Any, fam: dict[str, Any]) -> None:
    """An expired eager collection reloads on access, with the right contents."""
    engine, _ = db
    Parent = fam["Parent"]
    with Session(engine) as s:
        p = s.get(Parent, 2)
        s.expire(p, ["children"])
        assert "children" not in p.__dict__
        assert parent_tree([p]) == {2: PARENT_TREE[2]}


def test_selectin_many_to_one_all_null_keys(s: Session, db: Any) -> None:
    """selectin many-to-one whose loaded rows all have NULL keys needs no second query."""
    _, recorder = db
    with recorder.capture() as calls:
        [item] = scalars(s, select(SItem).where(SItem.id == 4))
    assert len(selects(calls)) == 1
    assert item.owner is None



@pytest.mark.parametrize("option, count", [(selectinload, 2), (joinedload, 1),
                                           (subqueryload, 2), (lazyload, 4)])
def test_composite_key_collections(db: Any, option: Any, count: int) -> None:
    """Every strategy matches children on both columns of a composite key."""
    engine, recorder = db
    with Session(engine) as s:
        with recorder.capture() as calls:
            parents = s.scalars(select(CParent).options(option(CParent.children))
                                .order_by(CParent.a, CParent.b)).unique().all()
            got = {(p.a, p.b): [c.id for c in p.children] for p in parents}
        assert got == {(1, "x"): [1, 3], (1, "y"): [2], (2, "x"): [4]}
        assert len(selects(calls)) == count



def test_self_referential_many_to_one_joined(s: Session, db: Any) -> None:
    """Joined self-referential many-to-one: one statement; whole boss chains then need no SQL."""
    _, recorder = db
    with recorder.capture() as calls:
        emps = s.scalars(select(Emp).order_by(Emp.id)).all()
    [stmt] = selects(calls)
    assert "LEFT OUTER JOIN" in stmt.upper()
    with recorder.capture() as calls:
        chains = []
        for e in emps:
            chain, cur = [], e.boss
            while cur is not None:
                chain.append(cur.id)
                cur = cur.boss
            chains.append(chain)
    assert sql(calls) == []
    assert chains == [[], [1], [2, 1], [3, 2, 1]]


def test_eager_option_loads_unloaded_collection_of_present_object(db: Any) -> None:
    """selectinload fills an unloaded collection of an object already in the session."""
    engine, recorder = db
    with Session(engine) as s:
        u = s.get(LUser, 1)
        assert "addresses" not in u.__dict__
        with recorder.capture() as calls:
            [again] = s.scalars(select(LUser).where(LUser.id == 1)
                                .options(selectinload(LUser.addresses))).all()
        assert again is u
        assert len(selects(calls)) == 2
        assert [a.id for a in u.__dict__["addresses"]] == [1, 2]


@pytest.mark.parametrize("option", [selectinload, joinedload, subqueryload])
def test_many_parents_all_collections_complete(db: Any, option: Any) -> None:
    """1200 parents (past any IN batch size): every collection is complete and correct."""
    engine, _ = db
    with engine.begin() as conn:
        conn.execute(insert(LUser.__table__),
                     [{"id": i, "name": f"u{i}"} for i in range(100, 1300)])
        conn.execute(insert(LAddress.__table__),
                     [{"id": 10 * i + k, "user_id": i, "email": f"e{i}-{k}"}
                      for i in range(100, 1300) for k in range(i % 3)])
    with Session(engine) as s:
        users = s.scalars(select(LUser).where(LUser.id >= 100).order_by(LUser.id)
                          .options(option(LUser.addresses))).unique().all()
        assert len(users) == 1200
        assert all([a.id for a in u.__dict__["addresses"]] ==
                   [10 * u.id + k for k in range(u.id % 3)] for u in users)



def test_execute_rows_run_eager_loaders(s: Session, db: Any, fam: dict[str, Any]) -> None:
    """session.execute(select(Parent)) rows get the same eager loading as scalars()."""
    _, recorder = db
    Parent = fam["Parent"]
    with recorder.capture() as calls:
        rows = s.execute(select(Parent).order_by(Parent.id)).unique().all()
    assert len(selects(calls)) == PARENT_QUERY_STATEMENTS[fam["strategy"]]
    with recorder.capture() as calls:
        assert parent_tree([r[0] for r in rows]) == PARENT_TREE
    assert sql(calls) == []


def test_selectin_with_yield_per_loads_each_batch(s: Session) -> None:
    """selectin eager loading works with yield_per: every batch's collections are complete."""
    parents = s.scalars(select(SParent).order_by(SParent.id)
                        .execution_options(yield_per=2)).all()
    assert parent_tree(parents) == PARENT_TREE


@pytest.mark.parametrize("parent", [JParent, QParent], ids=["joined", "subquery"])
def test_yield_per_refused_with_joined_or_subquery_collections(s: Session, parent: Any) -> None:
    """yield_per with joined collections or subquery loading raises InvalidRequestError."""
    with pytest.raises(InvalidRequestError, match="yield_per"):
        s.scalars(select(parent).execution_options(yield_per=2)).all()
