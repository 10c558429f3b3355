"""Definitions are validated when defined: ConfigError names collection and field."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from deesse_async import (
    ConfigError,
    collection,
    define_config,
    define_relations,
    field,
    integer,
    number,
    one,
    relation,
    required,
    select,
    text,
    unique,
)

CASES: list[tuple[str, Callable[[], Any], str]] = [
    (
        "min > max text",
        lambda: collection(slug="posts", fields={"title": field(type=text(min=5, max=1))}),
        r"collection 'posts', field 'title': text\(min=5, max=1\) has min > max",
    ),
    (
        "min > max integer",
        lambda: collection(slug="t", fields={"n": field(type=integer(min=3, max=2))}),
        r"field 'n': integer\(min=3, max=2\) has min > max",
    ),
    (
        "min > max number",
        lambda: collection(slug="t", fields={"x": field(type=number(min=1.5, max=0.5))}),
        r"field 'x': number",
    ),
    (
        "negative text length",
        lambda: collection(slug="t", fields={"s": field(type=text(min=-1))}),
        r"field 's': text\(min=-1\) must be a non-negative integer",
    ),
    (
        "system field id",
        lambda: collection(slug="users", fields={"id": field(type=integer())}),
        r"collection 'users', field 'id': 'id' is a system field",
    ),
    (
        "system field created_at",
        lambda: collection(slug="users", fields={"created_at": field(type=text())}),
        r"field 'created_at': 'created_at' is a system field",
    ),
    (
        "bad slug",
        lambda: collection(slug="Bad Slug", fields={}),
        r"collection slug 'Bad Slug' must be lower-case",
    ),
    (
        "reserved slug",
        lambda: collection(slug="query", fields={}),
        r"collection slug 'query' is reserved",
    ),
    (
        "bad field name",
        lambda: collection(slug="t", fields={"my field": field(type=text())}),
        r"collection 't', field 'my field': a field name must be",
    ),
    (
        "not a field",
        lambda: collection(slug="t", fields={"f": "text"}),
        r"field 'f': expected field\(type=...\)",
    ),
    (
        "empty select",
        lambda: collection(slug="t", fields={"s": field(type=select())}),
        r"field 's': select\(\) needs at least one choice",
    ),
    (
        "repeated select choices",
        lambda: collection(slug="t", fields={"s": field(type=select("a", "a"))}),
        r"field 's': select\(\) has repeated choices",
    ),
    (
        "bad on_delete",
        lambda: collection(slug="t", fields={"u": field(type=relation("users", on_delete="nuke"))}),  # type: ignore[arg-type]
        r"field 'u': relation\(on_delete='nuke'\) must be one of",
    ),
    (
        "required set null",
        lambda: collection(
            slug="t", fields={"u": required(field(type=relation("users", on_delete="set null")))}
        ),
        r"field 'u': a required relation cannot use on_delete='set null'",
    ),
    (
        "unique many relation",
        lambda: collection(
            slug="t", fields={"u": unique(field(type=relation("users", many=True)))}
        ),
        r"field 'u': a many=True relation cannot be unique",
    ),
    (
        "column clash",
        lambda: collection(
            slug="t",
            fields={"author": field(type=relation("users")), "author_id": field(type=integer())},
        ),
        r"field 'author': its column 'author_id' clashes",
    ),
    (
        "bad id_type",
        lambda: collection(slug="t", fields={}, id_type="serial"),  # type: ignore[arg-type]
        r"id_type must be 'integer' or 'uuid'",
    ),
    (
        "unknown access operation",
        lambda: collection(slug="t", fields={}, access={"raed": lambda ctx: True}),
        r"collection 't': unknown access operation 'raed'; did you mean 'read'\?",
    ),
    (
        "access rule not callable",
        lambda: collection(slug="t", fields={}, access={"read": True}),
        r"access\['read'\] must be a callable\(ctx\) returning True, False or a where-dict",
    ),
    (
        "unknown hook",
        lambda: collection(slug="t", fields={}, hooks={"after_create": [print]}),
        r"unknown hook 'after_create'.*hooks: before_change, after_change",
    ),
    (
        "hook not callable",
        lambda: collection(slug="t", fields={}, hooks={"after_read": ["x"]}),
        r"hooks\['after_read'\] must be a list of callables",
    ),
    (
        "field access delete",
        lambda: collection(
            slug="t",
            fields={"a": field(type=text(), access={"delete": lambda ctx: False})},
        ),
        r"field 'a': unknown access operation 'delete'.*operations: read, create, update",
    ),
    (
        "bad references",
        lambda: collection(slug="t", fields={"u": field(type=integer(), references="users")}),
        r"references='users' must look like 'collection.column'",
    ),
]


@pytest.mark.parametrize(("case", "build", "message"), CASES, ids=[c[0] for c in CASES])
def test_collection_config_errors(case: str, build: Callable[[], Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        build()


Users = collection(slug="users", fields={"name": field(type=text())})


def _config(*collections: Any, **kw: Any) -> Any:
    return define_config(provider="sqlite://:memory:", collections=list(collections), **kw)


DEFINE_CASES: list[tuple[str, Callable[[], Any], str]] = [
    (
        "duplicate slug",
        lambda: _config(Users, collection(slug="users", fields={})),
        r"duplicate collection slug 'users'",
    ),
    (
        "unknown relation target",
        lambda: _config(
            Users, collection(slug="posts", fields={"author": field(type=relation("user"))})
        ),
        r"collection 'posts', field 'author': relation to unknown collection 'user'; "
        r"did you mean 'users'\?",
    ),
    (
        "unknown references collection",
        lambda: _config(
            Users,
            collection(slug="posts", fields={"o": field(type=integer(), references="usr.id")}),
        ),
        r"field 'o': references unknown collection 'usr'",
    ),
    (
        "unknown references column",
        lambda: _config(
            Users,
            collection(slug="posts", fields={"o": field(type=integer(), references="users.uid")}),
        ),
        r"field 'o': references unknown column 'uid' of 'users'",
    ),
    (
        "related_name clashes with a field",
        lambda: _config(
            Users,
            collection(
                slug="posts",
                fields={"author": field(type=relation("users", related_name="name"))},
            ),
        ),
        r"collection 'users': relation 'name' \(related_name of posts.author\) clashes",
    ),
    (
        "related_name used twice",
        lambda: _config(
            Users,
            collection(
                slug="posts",
                fields={
                    "author": field(type=relation("users", related_name="posts")),
                    "editor": field(type=relation("users", related_name="posts")),
                },
            ),
        ),
        r"relation 'posts' .* is defined twice",
    ),
    (
        "junction clashes with a collection",
        lambda: _config(
            Users,
            collection(slug="posts", fields={"tags": field(type=relation("users", many=True))}),
            collection(slug="posts_tags", fields={}),
        ),
        r"junction table 'posts_tags' clashes",
    ),
    (
        "unknown pool option",
        lambda: _config(Users, pool_sise=3),
        r"unknown define_config option 'pool_sise'; did you mean 'pool_size'\?",
    ),
    (
        "bad pool size",
        lambda: _config(Users, pool_size=0),
        r"pool_size must be at least 1",
    ),
    (
        "not a list of collections",
        lambda: define_config(provider="sqlite://:memory:", collections=Users),  # type: ignore[arg-type]
        r"collections must be a list",
    ),
]


@pytest.mark.parametrize(
    ("case", "build", "message"), DEFINE_CASES, ids=[c[0] for c in DEFINE_CASES]
)
def test_define_config_errors(case: str, build: Callable[[], Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        build()


def test_modifiers_compose_in_any_order() -> None:
    a = unique(required(field(type=text(), index=False)))
    b = required(unique(field(type=text())))
    assert a == b
    assert a.required and a.unique


def test_compiled_artifacts_before_define_config_raise() -> None:
    lonely = collection(slug="lonely", fields={})
    with pytest.raises(ConfigError, match="pass it to define_config"):
        _ = lonely.table


def test_timestamps_false_frees_the_names() -> None:
    c = collection(slug="events", timestamps=False, fields={"created_at": field(type=integer())})
    db = _config(c)
    assert [col.name for col in db.metadata.tables["events"].columns] == ["id", "created_at"]


def _define(*fields_by_slug: tuple[str, dict[str, Any]]) -> Any:
    return define_config(
        provider="sqlite://:memory:",
        collections=[collection(slug=slug, fields=fields) for slug, fields in fields_by_slug],
    )


# Issue 7, item 9: each of these was accepted (and some broke later, far from the cause).
DSL_CASES: list[tuple[str, Callable[[], Any], str]] = [
    (
        "number(min=nan)",
        lambda: collection(slug="t", fields={"x": field(type=number(min=float("nan")))}),
        r"collection 't', field 'x': number\(min=nan\) must be a finite number",
    ),
    (
        "number(max=inf)",
        lambda: collection(slug="t", fields={"x": field(type=number(max=float("inf")))}),
        r"field 'x': number\(max=inf\) must be a finite number",
    ),
    (
        "number(min='1')",
        lambda: collection(slug="t", fields={"x": field(type=number(min="1", max=2))}),  # type: ignore[arg-type]
        r"field 'x': number\(min='1'\) must be a finite number",
    ),
    (
        "integer(min=1.5)",
        lambda: collection(slug="t", fields={"n": field(type=integer(min=1.5))}),  # type: ignore[arg-type]
        r"field 'n': integer\(min=1.5\) must be an integer",
    ),
    (
        "integer(max=2**70)",
        lambda: collection(slug="t", fields={"n": field(type=integer(max=2**70))}),
        r"field 'n': integer\(max=1180591620717411303424\) must be within the 64-bit range",
    ),
    (
        "text(min=True)",
        lambda: collection(slug="t", fields={"s": field(type=text(min=True))}),
        r"field 's': text\(min=True\) must be a non-negative integer",
    ),
    (
        "slug __init__",
        lambda: collection(slug="__init__", fields={}),
        r"collection slug '__init__' may not start with '__'",
    ),
    (
        "field named __rn",
        lambda: collection(slug="t", fields={"__rn": field(type=text())}),
        r"collection 't', field '__rn': a field name may not start with '__'",
    ),
    (
        "related_name with a quote",
        lambda: collection(slug="t", fields={"p": field(type=relation("t", related_name='x"y'))}),
        r"collection 't', field 'p': relation\(related_name='x\"y'\) must be an identifier",
    ),
    (
        "related_name with NUL",
        lambda: collection(
            slug="t", fields={"p": field(type=relation("t", related_name="x\x00y"))}
        ),
        r"field 'p': relation\(related_name='x\\x00y'\) must be an identifier",
    ),
    (
        "default of the wrong type",
        lambda: _define(("t", {"n": field(type=integer(), default="three")})),
        r"collection 't', field 'n': default 'three' does not fit the field",
    ),
    (
        "default out of range",
        lambda: _define(("t", {"n": field(type=integer(max=3), default=5)})),
        r"collection 't', field 'n': default 5 does not fit the field",
    ),
    (
        "default not a choice",
        lambda: _define(("t", {"s": field(type=select("a", "b"), default="c")})),
        r"collection 't', field 's': default 'c' does not fit the field",
    ),
    (
        "define_relations name with a quote",
        lambda: define_config(
            provider="sqlite://:memory:",
            collections=[collection(slug="t", fields={"o": field(type=integer())})],
            relations=define_relations(t={'a"b': one("t", from_="o", to="id")}),
        ),
        r"define_relations: t\.'a\"b' must be an identifier",
    ),
]


@pytest.mark.parametrize(("case", "build", "message"), DSL_CASES, ids=[c[0] for c in DSL_CASES])
def test_dsl_mistakes_are_config_errors(case: str, build: Callable[[], Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        build()


def test_default_factory_result_is_validated_on_create() -> None:
    """A callable default cannot be checked up front: its value is validated on create."""
    import pydantic

    t = collection(slug="t", fields={"n": field(type=integer(), default=lambda: "three")})
    define_config(provider="sqlite://:memory:", collections=[t])
    with pytest.raises(pydantic.ValidationError) as info:
        t.create_model.model_validate({})
    assert info.value.errors()[0]["loc"] == ("n",)
    assert t.create_model.model_validate({"n": 4}).n == 4  # type: ignore[attr-defined]
