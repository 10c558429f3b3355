"""Differential tests: ``db.query`` against the Python reference, on every backend.

Each test seeds one database (``dataset.seed``) and runs many option trees through
BOTH strategies ("lateral" and "batched"), comparing every result with
``reference.evaluate`` exactly: row order, key sets, values and ``type(v)`` at every
depth. Failures are collected (not stopped at the first), and the first few are
shrunk to a smallest still-failing tree before being reported
(``DEESSE_DIFF_SHRINK=100`` shrinks and shows up to 100).

The query tests skip ("query API not implemented yet") while ``db.query`` is missing;
``test_seed_round_trips`` needs only CRUD and keeps the dataset honest on every backend.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import pprint
import uuid
from collections.abc import Iterator, Mapping
from typing import Any

import anyio
import pytest

from deesse_async import Database, agg
from tests.conftest import MakeDb

from .dataset import make_collections, seed, seed_plan
from .reference import Approx, Dataset, Param, UnsupportedOption, bind_params, evaluate, map_params
from .strategies import EXTRAS, QueryCase, draw_cases

pytestmark = pytest.mark.anyio

STRATEGIES = ("lateral", "batched")
GENERATED = 200  # trees per backend (each run through both strategies)
# Failures shrunk (and shown) per test; raise it to see every distinct failure at once.
SHRINK_FIRST = int(os.environ.get("DEESSE_DIFF_SHRINK", "3"))
SHRINK_BUDGET = 150  # candidate trees tried per shrink
UTC = dt.UTC


def _extras(slug: str, *names: str) -> dict[str, Any]:
    known = {e.name: e for e in EXTRAS[slug]}
    return {n: known[n] for n in names}


def _case(name: str, slug: str, *, first: bool = False, **options: Any) -> QueryCase:
    if "with_" in options:
        options["with"] = options.pop("with_")
    return QueryCase(slug, options, first, name)


def hand_written_cases(ds: Dataset) -> list[QueryCase]:
    """The hand-written trees (ids are 1..n in creation order, see ``dataset.seed_plan``)."""
    users, posts = ds.rows["users"], ds.rows["posts"]
    ext = next(u["ext"] for u in users if u["ext"] is not None and u["ext"].int > 0)
    seen = users[3]["last_seen"]
    mid = users[5]["created_at"]
    return [
        # -- plain selections, columns rules -------------------------------------------
        _case("all users", "users"),
        _case("all tags", "tags"),
        _case(
            "all comments, created_at ties broken by id", "comments", order_by={"created_at": "asc"}
        ),
        _case("columns: only True", "users", columns={"id": True, "name": True}),
        _case("columns: all False excludes", "users", columns={"profile": False, "ext": False}),
        _case(
            "columns: mixed keeps the True only", "users", columns={"name": True, "email": False}
        ),
        _case("columns: FK column only", "posts", columns={"author_id": True}),
        _case(
            "columns: {} keeps relations",
            "users",
            columns={},
            with_={"posts": {"columns": {"id": True}}},
        ),
        _case("columns: {} keeps extras", "tags", columns={}, extras=_extras("tags", "name_upper")),
        _case("columns: timestamps only", "tags", columns={"created_at": True, "updated_at": True}),
        # -- operators ------------------------------------------------------------------
        _case("eq plain (duplicate names)", "users", where={"name": "ada"}),
        _case("eq op", "posts", where={"status": {"eq": "draft"}}),
        _case("column None is IS NULL", "users", where={"age": None}),
        _case("eq None is IS NULL", "users", where={"born": {"eq": None}}),
        _case("ne None is IS NOT NULL", "users", where={"born": {"ne": None}}),
        _case("ne excludes NULL", "users", where={"age": {"ne": 17}}),
        _case("gt", "users", where={"age": {"gt": 17}}),
        _case("gte", "users", where={"age": {"gte": 17}}),
        _case("lt", "users", where={"age": {"lt": 17}}),
        _case("lte", "users", where={"age": {"lte": 17}}),
        _case("gt and lt in one op dict", "users", where={"id": {"gt": 2, "lt": 6}}),
        _case("in", "users", where={"age": {"in": [17, 36]}}),
        _case("in with NULL matches only the values", "users", where={"age": {"in": [17, None]}}),
        _case("in [] is false", "users", where={"age": {"in": []}}),
        _case("not_in excludes NULL rows", "users", where={"age": {"not_in": [17]}}),
        _case("not_in with NULL is never true", "users", where={"age": {"not_in": [17, None]}}),
        _case("not_in [] is true even for NULL", "users", where={"age": {"not_in": []}}),
        _case("like prefix", "users", where={"name": {"like": "a%"}}),
        _case("like _ is one character", "posts", where={"content": {"like": "caf_"}}),
        _case("like % in value and pattern", "posts", where={"content": {"like": "100%"}}),
        _case("like _ matches a literal _", "posts", where={"content": {"like": "%_score"}}),
        _case("like unicode", "posts", where={"content": {"like": "%\u00e9"}}),
        _case("like is case-sensitive", "users", where={"name": {"like": "A%"}}),
        _case("ilike folds case", "posts", where={"content": {"ilike": "HELLO%"}}),
        _case("not_like excludes NULL", "posts", where={"content": {"not_like": "%o%"}}),
        _case("not_ilike", "users", where={"email": {"not_ilike": "A%"}}),
        _case("is_null True", "users", where={"born": {"is_null": True}}),
        _case("is_null False", "users", where={"born": {"is_null": False}}),
        _case("is_not_null True", "users", where={"last_seen": {"is_not_null": True}}),
        _case("is_not_null False", "users", where={"profile": {"is_not_null": False}}),
        _case("float eq", "users", where={"score": 0.1}),
        _case("float range with an int", "users", where={"score": {"gte": 12}}),
        _case("bool eq", "users", where={"active": True}),
        _case("bool ne excludes NULL", "users", where={"active": {"ne": True}}),
        _case("bool NOT", "users", where={"active": {"NOT": True}}),
        _case("date gt", "users", where={"born": {"gt": dt.date(1900, 1, 1)}}),
        _case("datetime lt", "users", where={"last_seen": {"lt": seen}}),
        _case("created_at gte", "users", where={"created_at": {"gte": mid}}),
        _case("uuid eq", "users", where={"ext": ext}),
        _case("uuid gt", "users", where={"ext": {"gt": uuid.UUID(int=2**127)}}),
        _case("select in", "posts", where={"status": {"in": ["published"]}}),
        _case("big integer eq", "posts", where={"views": 2**53 + 1}),
        _case("negative ints", "posts", where={"views": {"lt": 0}}),
        # -- combinators ----------------------------------------------------------------
        _case("AND [] is true", "tags", where={"AND": []}),
        _case("OR [] is false", "tags", where={"OR": []}),
        _case("NOT over NULL stays unknown", "users", where={"NOT": {"age": {"gt": 20}}}),
        _case(
            "OR with IS NULL",
            "users",
            where={"OR": [{"age": None}, {"age": {"gt": 40}}]},
        ),
        _case(
            "nested AND/OR/NOT",
            "posts",
            where={
                "AND": [
                    {"OR": [{"status": "draft"}, {"views": {"gte": 100}}]},
                    {"NOT": {"content": None}},
                ]
            },
        ),
        _case("column OR", "users", where={"id": {"OR": [{"lt": 3}, 9]}}),
        _case("column NOT", "users", where={"id": {"NOT": 3}}),
        _case("column AND", "users", where={"age": {"AND": [{"gt": 0}, {"lt": 100}]}}),
        _case("column NOT over in with NULL", "users", where={"age": {"NOT": {"in": [17, None]}}}),
        _case("column OR []", "users", where={"age": {"OR": []}}),
        # -- relation filters -----------------------------------------------------------
        _case("many: having any", "users", where={"posts": True}),
        _case("many: having none", "users", where={"posts": False}),
        _case(
            "many: having a match",
            "users",
            where={"posts": {"status": "published", "views": {"gt": 30}}},
        ),
        _case("one: matching", "users", where={"invited_by": {"name": "ada"}}),
        _case("one: present", "comments", where={"author": True}),
        _case("one: absent", "comments", where={"author": False}),
        _case("self many: none", "users", where={"invitees": False}),
        _case("m2m: none match", "posts", where={"tags": {"name": "zeta"}}),
        _case("m2m: no links", "posts", where={"tags": False}),
        _case("m2m reverse: no links", "tags", where={"posts": False}),
        _case("m2m reverse nested one", "tags", where={"posts": {"author": {"name": "bob"}}}),
        _case(
            "three levels of EXISTS",
            "users",
            where={"posts": {"comments": {"author": {"role": "admin"}}}},
        ),
        _case("NOT EXISTS via NOT", "posts", where={"NOT": {"comments": True}}),
        _case("one then m2m", "comments", where={"post": {"tags": {"name": "alpha"}}}),
        _case(
            "relation filter in OR",
            "users",
            where={"OR": [{"posts": False}, {"invited_by": {"id": 1}}]},
        ),
        # -- with: loading, per-parent paging, nesting ------------------------------------
        _case("with many", "users", with_={"posts": True}),
        _case(
            "created_at ties stay in id order under desc",
            "users",
            with_={"comments": {"order_by": {"created_at": "desc"}, "columns": {"body": True}}},
        ),
        _case(
            "per-parent limit",
            "users",
            with_={"posts": {"order_by": {"views": "desc"}, "limit": 2}},
        ),
        _case(
            "per-parent offset and limit",
            "users",
            with_={"posts": {"order_by": {"title": "asc"}, "offset": 1, "limit": 2}},
        ),
        _case("per-parent offset only", "posts", with_={"comments": {"offset": 2}}),
        _case("per-parent limit 0", "users", with_={"posts": {"limit": 0}}),
        _case("m2m ordered by target", "posts", with_={"tags": {"order_by": {"name": "desc"}}}),
        _case(
            "m2m reverse with limit",
            "tags",
            with_={"posts": {"order_by": {"title": "asc"}, "limit": 3, "columns": {"title": True}}},
        ),
        _case(
            "self relation both ways",
            "users",
            with_={
                "invited_by": {"columns": {"name": True}},
                "invitees": {"columns": {"id": True}},
            },
        ),
        _case(
            "four levels",
            "comments",
            with_={
                "post": {"with": {"author": {"with": {"invited_by": {"with": {"posts": True}}}}}}
            },
        ),
        _case(
            "users -> posts -> comments -> author",
            "users",
            with_={
                "posts": {
                    "columns": {"title": True},
                    "with": {
                        "comments": {
                            "order_by": {"body": "desc"},
                            "limit": 2,
                            "with": {"author": {"columns": {"email": True}}},
                        }
                    },
                }
            },
        ),
        _case(
            "nested where inside with",
            "users",
            with_={
                "posts": {
                    "where": {"status": "published", "tags": True},
                    "with": {"tags": {"where": {"name": {"ne": "beta"}}}},
                }
            },
        ),
        _case(
            "one relation filtered out is None",
            "posts",
            with_={"author": {"where": {"role": "admin"}}},
        ),
        _case("one relation offset skips it", "comments", with_={"post": {"offset": 1}}),
        _case(
            "one relation with columns {}",
            "posts",
            with_={"author": {"columns": {}, "with": {"posts": {"columns": {"id": True}}}}},
        ),
        _case(
            "json values through every path",
            "users",
            columns={"profile": True},
            with_={"invitees": {"columns": {"profile": True, "score": True}}},
        ),
        # -- top-level ordering and paging ------------------------------------------------
        _case("order by name asc, email desc", "users", order_by={"name": "asc", "email": "desc"}),
        _case("order by created_at desc", "users", order_by={"created_at": "desc"}),
        _case("order by status then views", "posts", order_by={"status": "desc", "views": "asc"}),
        _case("top limit and offset", "posts", order_by={"views": "desc"}, limit=5, offset=3),
        _case("top offset only", "comments", order_by={"body": "asc"}, offset=55),
        # -- extras -----------------------------------------------------------------------
        _case("extras top", "users", extras=_extras("users", "name_length", "id_times_two")),
        _case(
            "extras over NULLs and floats",
            "users",
            columns={"id": True},
            extras=_extras("users", "age_or_minus_one", "score_doubled"),
        ),
        _case(
            "extras nested, big int and bool",
            "users",
            columns={"id": True},
            with_={
                "posts": {
                    "columns": {},
                    "extras": _extras("posts", "views_plus_one", "id_gt_5", "title_upper"),
                }
            },
        ),
        _case(
            "extras on m2m level",
            "posts",
            columns={"title": True},
            with_={"tags": {"extras": _extras("tags", "name_upper")}},
            extras=_extras("posts", "content_lower"),
        ),
        # -- find_first -------------------------------------------------------------------
        _case("first: none", "users", first=True, where={"id": 999}),
        _case("first: by order", "users", first=True, order_by={"name": "desc"}),
        _case("first: with offset", "posts", first=True, order_by={"views": "asc"}, offset=3),
        _case(
            "first: with relations",
            "users",
            first=True,
            where={"id": posts[0]["author_id"]},
            with_={"posts": {"with": {"tags": True, "comments": {"limit": 1}}}},
        ),
        _case("first: empty via relation filter", "tags", first=True, where={"posts": {"id": 999}}),
        # -- aggregates -------------------------------------------------------------------
        _case(
            "agg: counts at two levels",
            "users",
            aggregates={"post_count": agg.count("posts")},
            with_={
                "posts": {
                    "columns": {"id": True},
                    "aggregates": {
                        "comments_n": agg.count("comments"),
                        "tags_n": agg.count("tags"),
                    },
                }
            },
        ),
        _case(
            "agg: filter and order by a count with where",
            "users",
            columns={"id": True},
            aggregates={"published": agg.count("posts", where={"status": "published"})},
            where={"published": {"gte": 2}},
            order_by={"published": "desc"},
        ),
        _case(
            "agg: sum avg min max of big ints",
            "users",
            columns={"id": True},
            aggregates={
                "total": agg.sum("posts", "views"),
                "mean": agg.avg("posts", "views"),
                "low": agg.min("posts", "views"),
                "top": agg.max("posts", "views"),
            },
        ),
        _case(
            "agg: floats, dates and timestamps",
            "users",
            columns={"id": True},
            aggregates={
                "score_sum": agg.sum("invitees", "score"),
                "score_avg": agg.avg("invitees", "score"),
                "born_min": agg.min("invitees", "born"),
                "last_comment": agg.max("comments", "created_at"),
                "seen_max": agg.max("invitees", "last_seen"),
                "first_title": agg.min("posts", "title"),
            },
        ),
        _case(
            "agg: many-to-many both ways",
            "tags",
            aggregates={"n": agg.count("posts"), "views": agg.sum("posts", "views")},
            with_={"posts": {"columns": {"id": True}, "aggregates": {"tags_n": agg.count("tags")}}},
        ),
        _case(
            "agg: over one relations",
            "comments",
            columns={"id": True},
            aggregates={
                "has_author": agg.count("author"),
                "post_views": agg.max("post", "views"),
                "admin_author": agg.count("author", where={"role": "admin"}),
            },
        ),
        _case(
            "agg: self relation, nested",
            "users",
            columns={"id": True},
            aggregates={"invitees_n": agg.count("invitees")},
            with_={"invitees": {"aggregates": {"n": agg.count("invitees")}, "columns": {}}},
        ),
        _case(
            "agg: nested order by a count with a limit",
            "users",
            columns={"id": True},
            with_={
                "posts": {
                    "columns": {"id": True},
                    "aggregates": {"n": agg.count("comments")},
                    "order_by": {"n": "desc"},
                    "limit": 2,
                    "with": {"comments": {"columns": {"id": True}}},
                }
            },
        ),
        _case(
            "agg: relation filter inside the aggregate's where",
            "users",
            columns={"id": True},
            aggregates={"commented": agg.count("posts", where={"comments": True})},
        ),
        _case(
            "agg: only aggregates selected",
            "tags",
            columns={},
            aggregates={"n": agg.count("posts")},
        ),
        _case(
            "agg: first by a count",
            "users",
            first=True,
            aggregates={"n": agg.count("comments")},
            order_by={"n": "desc"},
        ),
        _case(
            "agg: NULL aggregate compared",
            "users",
            columns={"id": True},
            aggregates={"top": agg.max("posts", "views")},
            where={"OR": [{"top": None}, {"top": {"lt": 10}}]},
        ),
    ]


# -- running and comparing -----------------------------------------------------------------


def to_kwargs(options: Mapping[str, Any]) -> dict[str, Any]:
    """A harness tree (``"with"``) as find_many keyword arguments (``with_``)."""
    return {("with_" if k == "with" else k): v for k, v in options.items()}


def difference(actual: Any, expected: Any, path: str = "result") -> str | None:
    """The first difference (value, type, key set, length or order), or None."""
    if isinstance(expected, Approx):  # a float sum: the database adds in its own order
        if type(actual) is float and math.isclose(actual, expected, rel_tol=1e-12):
            return None
        return f"{path}: {type(actual).__name__} {actual!r} != expected about {expected!r}"
    if type(actual) is not type(expected):
        return (
            f"{path}: {type(actual).__name__} {actual!r:.200} "
            f"!= expected {type(expected).__name__} {expected!r:.200}"
        )
    if isinstance(expected, dict):
        if set(actual) != set(expected):
            return f"{path}: keys {sorted(actual)} != expected {sorted(expected)}"
        for key, value in expected.items():
            found = difference(actual[key], value, f"{path}.{key}")
            if found:
                return found
        return None
    if isinstance(expected, list):
        for i, (a, e) in enumerate(zip(actual, expected, strict=False)):
            found = difference(a, e, f"{path}[{i}]")
            if found:
                return found
        if len(actual) != len(expected):
            return (
                f"{path}: {len(actual)} items != expected {len(expected)}; "
                f"ids {_ids(actual)} vs {_ids(expected)}"
            )
        return None
    if isinstance(expected, dt.datetime) and actual.utcoffset() != expected.utcoffset():
        return f"{path}: offset {actual.utcoffset()} != expected {expected.utcoffset()}"
    if actual != expected:
        return f"{path}: {actual!r} != expected {expected!r}"
    return None


def _ids(rows: list[Any]) -> list[Any]:
    return [r.get("id", "?") if isinstance(r, dict) else r for r in rows]


async def run(db: Database, case: QueryCase, strategy: str) -> Any:
    """Run ``case`` through ``db.query`` with ``strategy``."""
    api = getattr(db.query, case.slug)
    method = api.find_first if case.first else api.find_many
    return await method(**to_kwargs(case.options), strategy=strategy)


async def problem(db: Database, case: QueryCase, strategy: str, expected: Any) -> str | None:
    """What is wrong with the library's answer to ``case``, or None."""
    try:
        actual = await run(db, case, strategy)
    except Exception as exc:
        return f"raised {type(exc).__name__}: {exc}"
    return difference(actual, expected)


def _kind(description: str) -> str:
    return description.split(":", 1)[0] if description.startswith("raised") else "mismatch"


def smaller_trees(tree: Any) -> Iterator[Any]:
    """Trees one step simpler: a dict key or list item dropped, or a part simplified."""
    if isinstance(tree, dict):
        for key in tree:
            yield {k: v for k, v in tree.items() if k != key}
        for key, value in tree.items():
            for simpler in smaller_trees(value):
                yield {**tree, key: simpler}
    elif isinstance(tree, list):
        for i in range(len(tree)):
            yield tree[:i] + tree[i + 1 :]
        for i, value in enumerate(tree):
            for simpler in smaller_trees(value):
                yield [*tree[:i], simpler, *tree[i + 1 :]]


async def shrink(db: Database, ds: Dataset, case: QueryCase, strategy: str, kind: str) -> QueryCase:
    """A smallest tree (within a budget) failing the same way as ``case``."""
    current, budget, improved = case, SHRINK_BUDGET, True
    while improved and budget > 0:
        improved = False
        for options in smaller_trees(current.options):
            budget -= 1
            if budget < 0:
                break
            candidate = QueryCase(case.slug, options, case.first, case.name)
            try:
                expected = evaluate(ds, case.slug, options, first=case.first)
            except UnsupportedOption:
                continue
            found = await problem(db, candidate, strategy, expected)
            if found is not None and _kind(found) == kind:
                current, improved = candidate, True
                break
    return current


async def check_cases(db: Database, ds: Dataset, cases: list[QueryCase]) -> list[str]:
    """Run every case through both strategies; a report per failure."""
    failures: list[str] = []
    for case in cases:
        expected = evaluate(ds, case.slug, case.options, first=case.first)
        for strategy in STRATEGIES:
            found = await problem(db, case, strategy, expected)
            if found is None:
                continue
            method = "find_first" if case.first else "find_many"
            report = (
                f"[{case.name}] {case.slug}.{method}(strategy={strategy!r}): {found}\n"
                f"options: {pprint.pformat(case.options, width=100)}"
            )
            if len(failures) < SHRINK_FIRST:
                small = await shrink(db, ds, case, strategy, _kind(found))
                again = await problem(
                    db, small, strategy, evaluate(ds, small.slug, small.options, first=small.first)
                )
                report += f"\nshrunk to: {pprint.pformat(small.options, width=100)}\n  -> {again}"
            failures.append(report)
    return failures


def _summary(failures: list[str], total: int) -> str:
    shown = "\n\n".join(failures[: max(8, SHRINK_FIRST)])
    return f"{len(failures)} of {total} runs differ from the reference:\n\n{shown}"


async def seeded(make_db: MakeDb) -> tuple[Database, Dataset]:
    """A database on this test's backend, seeded."""
    db = await make_db(make_collections())
    ds = await seed(db)
    for slug, rows in ds.rows.items():
        # The hand-written cases name rows by id; a fresh database numbers them 1..n.
        assert [r["id"] for r in rows] == list(range(1, len(rows) + 1)), slug
    return db, ds


# -- tests ------------------------------------------------------------------------------


async def test_seed_round_trips(make_db: MakeDb) -> None:
    """The seed is what the plan says, and CRUD reads every row back identically."""
    db, ds = await seeded(make_db)
    plan = seed_plan()
    assert {slug: len(rows) for slug, rows in ds.rows.items()} == {
        slug: len(items) for slug, items in plan.items()
    }
    for slug, rows in ds.rows.items():
        api = db.collection(slug)
        for row in rows:
            stored = await api.read(row["id"])
            assert stored is not None
            assert difference({k: stored[k] for k in row}, row, f"{slug}[{row['id']}]") is None
    links = {(link["posts_id"], link["tags_id"]) for link in ds.links["posts_tags"]}
    assert links == {(i, t) for i, p in enumerate(plan["posts"], start=1) for t in p["tags"]}
    users = ds.rows["users"]
    assert users[4]["invited_by_id"] == users[4]["id"]  # the self-invite
    assert type(ds.rows["posts"][13]["views"]) is int and ds.rows["posts"][13]["views"] == 2**53 + 1


async def test_hand_written_cases_match_the_reference(make_db: MakeDb) -> None:
    db, ds = await seeded(make_db)
    cases = hand_written_cases(ds)
    failures = await check_cases(db, ds, cases)
    assert not failures, _summary(failures, len(cases) * len(STRATEGIES))


async def test_generated_trees_match_the_reference(make_db: MakeDb) -> None:
    db, ds = await seeded(make_db)
    cases = draw_cases(ds, GENERATED)
    assert len(cases) == GENERATED
    failures = await check_cases(db, ds, cases)
    assert not failures, _summary(failures, len(cases) * len(STRATEGIES))


# -- prepared queries -------------------------------------------------------------------

PREPARED: list[tuple[QueryCase, list[dict[str, Any]]]] = [
    (
        _case(
            "user by id with top posts",
            "users",
            first=True,
            where={"id": Param("id")},
            with_={
                "posts": {
                    "order_by": {"views": "desc"},
                    "limit": Param("n"),
                    "with": {"tags": {"columns": {"name": True}}},
                },
                "invited_by": {"columns": {"name": True}},
            },
        ),
        [{"id": i, "n": n} for i in (1, 5, 10, 999) for n in (0, 1, 3)],
    ),
    (
        _case(
            "posts by views and status",
            "posts",
            where={"views": {"gt": Param("v")}, "status": Param("s")},
            order_by={"views": "asc"},
            with_={"author": True, "comments": {"where": {"author_id": {"ne": Param("a")}}}},
        ),
        [{"v": v, "s": s, "a": 1} for v in (-10, 5, 100) for s in ("draft", "published")],
    ),
    (
        _case(
            "comments of an author's posts, paged",
            "comments",
            where={"post": {"author_id": Param("a")}, "body": {"like": Param("pattern")}},
            order_by={"body": "asc"},
            limit=Param("limit"),
            offset=Param("offset"),
            with_={"post": {"with": {"tags": True}}},
            extras=_extras("comments", "body_length"),
        ),
        [
            {"a": a, "pattern": p, "limit": lim, "offset": off}
            for a in (1, 2, 9)
            for p in ("%", "s%")
            for lim, off in ((5, 0), (2, 1))
        ],
    ),
    (
        _case(
            "tags by post titles",
            "tags",
            where={"posts": {"title": {"in": [Param("t1"), Param("t2")]}}},
            with_={"posts": {"columns": {"title": True}, "where": {"title": {"ne": Param("t1")}}}},
        ),
        [
            {"t1": "sun00", "t2": "tide01"},
            {"t1": "nomatch", "t2": "wind02"},
            {"t1": "x", "t2": "y"},
        ],
    ),
    (
        _case(
            "users by a count of their posts of a status",
            "users",
            columns={"id": True},
            aggregates={"n": agg.count("posts", where={"status": Param("s")})},
            where={"n": {"gte": Param("min")}},
            order_by={"n": "desc"},
            with_={
                "posts": {
                    "aggregates": {"c": agg.count("comments", where={"id": {"gt": Param("c")}})}
                }
            },
        ),
        [
            {"s": s, "min": m, "c": c}
            for s in ("draft", "published")
            for m in (0, 2)
            for c in (0, 30)
        ],
    ),
]


def _prepare(db: Database, case: QueryCase, strategy: str) -> Any:
    from deesse_async import placeholder

    api = getattr(db.query, case.slug)
    method = api.find_first if case.first else api.find_many
    options = map_params(case.options, lambda p: placeholder(p.name))
    return method(**to_kwargs(options), strategy=strategy).prepare()


async def test_prepared_queries_match_reference_and_unprepared(make_db: MakeDb) -> None:
    db, ds = await seeded(make_db)
    failures: list[str] = []
    runs = 0
    for case, value_sets in PREPARED:
        for strategy in STRATEGIES:
            prepared = _prepare(db, case, strategy)
            for values in value_sets:
                runs += 1
                bound = QueryCase(case.slug, bind_params(case.options, values), case.first)
                expected = evaluate(ds, bound.slug, bound.options, first=bound.first)
                got = await prepared.execute(values)
                for label, found in (
                    ("prepared", difference(got, expected)),
                    ("unprepared", await problem(db, bound, strategy, expected)),
                ):
                    if found:
                        failures.append(f"[{case.name}] {strategy} {label} {values}: {found}")
    # The keyword spelling runs the same plan.
    case, value_sets = PREPARED[0]
    got = await _prepare(db, case, "lateral").execute(**value_sets[4])
    assert (
        difference(
            got, evaluate(ds, case.slug, bind_params(case.options, value_sets[4]), first=True)
        )
        is None
    )
    assert not failures, _summary(failures, runs * 2)


async def test_prepared_query_shared_by_200_concurrent_tasks(make_db: MakeDb) -> None:
    db, ds = await seeded(make_db)
    case = PREPARED[0][0]
    ids = [*(r["id"] for r in ds.rows["users"]), 999]
    for strategy in STRATEGIES:
        prepared = _prepare(db, case, strategy)
        results: dict[int, Any] = {}

        async def one(i: int, prepared: Any = prepared, results: dict[int, Any] = results) -> None:
            results[i] = await prepared.execute({"id": ids[i % len(ids)], "n": i % 4})

        async with anyio.create_task_group() as tg:
            for i in range(200):
                tg.start_soon(one, i)
        failures = []
        for i in range(200):
            values = {"id": ids[i % len(ids)], "n": i % 4}
            expected = evaluate(ds, case.slug, bind_params(case.options, values), first=True)
            found = difference(results[i], expected)
            if found:
                failures.append(f"task {i} {values}: {found}")
        assert not failures, f"{strategy}: " + _summary(failures, 200)
