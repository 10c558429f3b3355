"""Generated query trees run as restricted users, checked against the reference evaluator
run over ONLY the rows each user may read.

The differential harness of tests/query (``dataset.py``, ``strategies.draw_cases``,
``reference.evaluate``) is reused as it is: its collections get read rules (copied here
with ``access=`` added: ``make_collections()`` takes no rules), the seed goes through
``db.trusted()``, and for every viewer the Dataset is cut down to the readable rows
(each rule's where-dict evaluated by the reference over the FULL data: a rule's own
relation filters are not restricted by other rules). Relation filters and nested levels
of the reference then see only readable rows, which is the contract.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest

from deesse_async import Collection, Database, collection
from tests.conftest import MakeDb
from tests.query.dataset import make_collections
from tests.query.dataset import seed as seed_dataset
from tests.query.reference import Dataset, evaluate
from tests.query.strategies import QueryCase, draw_cases
from tests.query.test_differential import _summary, check_cases, difference, to_kwargs

pytestmark = pytest.mark.anyio

CASES = 120  # trees per backend, each run by 4 viewers through both strategies
PREPARED_CASES = 30

User = dict[str, Any] | None


def rule_where(slug: str, user: User) -> bool | dict[str, Any]:
    """The read rule of ``slug`` for ``user`` (the value the rule function returns)."""
    admin = user is not None and user["role"] == "admin"
    if admin:
        return True
    if slug == "users":
        if user is None:
            return {"active": True}
        return {"OR": [{"id": user["id"]}, {"active": True}, {"invited_by_id": user["id"]}]}
    if slug == "posts":
        if user is None:
            return {"status": "published"}
        # posts by people I invited: a rule's relation filter over users
        return {
            "OR": [
                {"status": "published"},
                {"author_id": user["id"]},
                {"author": {"invited_by_id": user["id"]}},
            ]
        }
    if slug == "comments":
        if user is None:
            # the post filter sees drafts too (rules are not restricted by other rules)
            return {"post": {"views": {"gt": 0}}, "author_id": {"is_not_null": True}}
        return {
            "OR": [
                {"author_id": user["id"]},
                {"post": {"author_id": user["id"]}},
                {"body": {"like": "s%"}},
            ]
        }
    if slug == "tags":
        if user is None:
            return {"posts": {"status": "draft", "views": {"gt": 10}}}
        return {"name": {"ne": "beta"}}
    raise KeyError(slug)


def _rule(slug: str) -> Callable[[Any], Any]:
    if slug in ("comments", "tags"):  # async rules too

        async def async_rule(ctx: Any) -> Any:
            return rule_where(slug, ctx.user)

        return async_rule
    return lambda ctx: rule_where(slug, ctx.user)


def restricted_collections() -> list[Collection]:
    """``tests.query.dataset.make_collections()`` with the read rules above.

    (Recommended change to dataset.py: ``make_collections(access=None)`` taking
    ``{slug: {op: fn}}``, so this copy is not needed.)
    """
    return [
        collection(
            slug=c.slug,
            fields=c.fields,
            access={"read": _rule(c.slug)},
            timestamps=c.timestamps,
            id_type=c.id_type,
        )
        for c in make_collections()
    ]


class _TrustedSeeder:
    """What ``tests.query.dataset.seed`` needs of a db, backed by ``db.trusted()``."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._trusted = db.trusted()

    @property
    def schema(self) -> Any:
        return self._db.schema

    def collection(self, slug: str) -> Any:
        return getattr(self._trusted, slug)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._trusted, name)


def readable_dataset(full: Dataset, user: User) -> Dataset:
    """``full`` holding only the rows ``user`` may read (junction links to gone rows are
    never followed: the reference looks targets up among the remaining rows)."""
    rows: dict[str, tuple[dict[str, Any], ...]] = {}
    for slug, all_rows in full.rows.items():
        rule = rule_where(slug, user)
        if rule is True:
            rows[slug] = all_rows
        elif rule is False:
            rows[slug] = ()
        else:
            kept = evaluate(full, slug, {"where": rule})
            assert isinstance(kept, list)
            rows[slug] = tuple(kept)
    return dataclasses.replace(full, rows=rows)


async def seeded(make_db: MakeDb) -> tuple[Database, Dataset, dict[str, User]]:
    db = await make_db(restricted_collections())
    full = await seed_dataset(_TrustedSeeder(db))  # type: ignore[arg-type]
    users = {r["name"]: r for r in full.rows["users"][:9]}  # names 0..8 are distinct
    viewers: dict[str, User] = {
        "anonymous": None,
        "member bob": {"id": users["bob"]["id"], "role": "member"},
        "member gus": {"id": users["gus"]["id"], "role": "member"},
        "admin ada": {"id": users["ada"]["id"], "role": "admin"},
    }
    assert users["ada"]["role"] == "admin" and users["bob"]["role"] == "member"
    assert users["gus"]["role"] == "member"
    return db, full, viewers


def _view(db: Database, user: User) -> Any:
    return db if user is None else db.with_user(user)


async def test_restriction_is_not_vacuous(make_db: MakeDb) -> None:
    """The rules cut every collection for the restricted viewers, differently per viewer;
    the library's own top-level answer agrees row for row."""
    db, full, viewers = await seeded(make_db)
    sizes = {}
    for label, user in viewers.items():
        ds = readable_dataset(full, user)
        sizes[label] = {slug: len(rows) for slug, rows in ds.rows.items()}
        for slug in ds.rows:
            got = await getattr(_view(db, user).query, slug).find_many(order_by={"id": "asc"})
            assert got == list(ds.rows[slug]), (label, slug)
            assert await getattr(_view(db, user), slug).count() == len(ds.rows[slug])
    total = {slug: len(rows) for slug, rows in full.rows.items()}
    assert sizes["admin ada"] == total
    for label in ("anonymous", "member bob", "member gus"):
        for slug in total:
            assert 0 < sizes[label][slug] < total[slug], (label, slug, sizes)
    assert sizes["anonymous"] != sizes["member bob"] != sizes["member gus"]


@pytest.mark.parametrize("viewer", ["anonymous", "member bob", "member gus", "admin ada"])
async def test_generated_trees_as_a_restricted_user(make_db: MakeDb, viewer: str) -> None:
    db, full, viewers = await seeded(make_db)
    user = viewers[viewer]
    ds = readable_dataset(full, user)
    cases = draw_cases(full, CASES)
    # check_cases runs both strategies through `db.query` and shrinks failures against ds.
    failures = await check_cases(_view(db, user), ds, cases)
    assert not failures, f"as {viewer}: " + _summary(failures, len(cases) * 2)


async def test_generated_trees_prepared_once_rebound_per_user(make_db: MakeDb) -> None:
    """One query prepared on the plain db (anonymous), executed as every viewer."""
    db, full, viewers = await seeded(make_db)
    datasets = {label: readable_dataset(full, user) for label, user in viewers.items()}
    failures: list[str] = []
    runs = 0
    for case in draw_cases(full, PREPARED_CASES):
        for strategy in ("lateral", "batched"):
            prepared = _prepare(db, case, strategy)
            for label, user in viewers.items():
                runs += 1
                bound = prepared if user is None else prepared.with_user(user)
                expected = evaluate(datasets[label], case.slug, case.options, first=case.first)
                try:
                    got = await bound.execute()
                except Exception as exc:
                    failures.append(f"[{case.name}] {strategy} as {label}: raised {exc!r}")
                    continue
                found = difference(got, expected)
                if found:
                    failures.append(f"[{case.name}] {strategy} as {label}: {found}\n{case.options}")
            got = await prepared.trusted().execute()
            if difference(got, evaluate(full, case.slug, case.options, first=case.first)):
                failures.append(f"[{case.name}] {strategy} trusted: differs from the full data")
    assert not failures, _summary(failures, runs)


def _prepare(db: Database, case: QueryCase, strategy: str) -> Any:
    api = getattr(db.query, case.slug)
    method = api.find_first if case.first else api.find_many
    return method(**to_kwargs(case.options), strategy=strategy).prepare()
