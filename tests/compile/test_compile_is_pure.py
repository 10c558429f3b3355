"""Compiling reads the DSL and builds its own data: the definitions never change."""

from __future__ import annotations

import dataclasses
import json
from types import MappingProxyType
from typing import Any

import pytest
from sqlalchemy.schema import CreateIndex, CreateTable

from deesse_async import Collection, ConfigError, define_config
from deesse_async.compile.compiler import compile_schema
from deesse_async.compile.schema import Schema
from deesse_async.dialects import DIALECTS
from tests.blog import BLOG, Posts


def _attrs(obj: Any) -> dict[str, Any]:
    return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}


def _state(c: Collection) -> str:
    """Everything a definition holds (its fields' attributes included), printed."""
    fields = {name: (_attrs(f), _attrs(f.type)) for name, f in c.fields.items()}
    return repr({**vars(c), **_attrs(c), "fields": fields})


def _compiled(schema: Schema) -> dict[str, Any]:
    """A comparable picture of a compiled schema: DDL per dialect and model schemas."""
    out: dict[str, Any] = {}
    for name, d in DIALECTS.items():
        for table in schema.metadata.sorted_tables:
            ddl = [str(CreateTable(table).compile(dialect=d.sa_dialect))]
            ddl += sorted(
                str(CreateIndex(ix).compile(dialect=d.sa_dialect)) for ix in table.indexes
            )
            out[f"{name}:{table.name}"] = ddl
    for slug, cc in schema.collections.items():
        models = (cc.create_model, cc.update_model, cc.read_model)
        out[slug] = [json.dumps(m.model_json_schema(), sort_keys=True) for m in models]
        out[f"{slug}:relations"] = sorted(cc.relations)
    out["constraints"] = schema.constraints
    return out


def test_compiling_twice_leaves_the_collections_unchanged_and_gives_equal_results() -> None:
    before = {c.slug: _state(c) for c in BLOG}
    first = compile_schema(BLOG)
    second = compile_schema(BLOG)
    assert {c.slug: _state(c) for c in BLOG} == before
    assert first.metadata is not second.metadata
    assert _compiled(first) == _compiled(second)


def test_two_databases_from_the_same_collections() -> None:
    before = {c.slug: _state(c) for c in BLOG}
    one = define_config("sqlite://:memory:", BLOG)
    other = define_config("sqlite://:memory:", BLOG)
    assert {c.slug: _state(c) for c in BLOG} == before
    assert _compiled(one.schema) == _compiled(other.schema)
    assert one.schema["posts"].table is not other.schema["posts"].table
    # The definition's shortcuts answer with the last configuration.
    assert Posts.table is other.schema["posts"].table
    assert Posts.create_model is other.schema["posts"].create_model


def test_a_failed_configuration_publishes_nothing() -> None:
    """A configuration refused after compiling leaves the shortcuts as they were."""
    db = define_config("sqlite://:memory:", BLOG)
    shadowing = Collection(slug="atomic", fields=MappingProxyType({}))  # past collection()
    with pytest.raises(ConfigError, match="'atomic' is reserved"):
        define_config("sqlite://:memory:", [*BLOG, shadowing])
    assert Posts.table is db.schema["posts"].table
