"""A slug becomes ``db.<slug>`` and ``tx.<slug>``: it may not shadow their API."""

from __future__ import annotations

from types import MappingProxyType

import pytest

from deesse_async import (
    Collection,
    ConfigError,
    Database,
    Transaction,
    collection,
    define_config,
    field,
    text,
)
from deesse_async.config import api_names
from deesse_async.schema import RESERVED_SLUGS


@pytest.mark.parametrize("slug", ["atomic", "acquire", "collection", "query", "push", "manage"])
def test_a_slug_naming_a_database_method_is_refused(slug: str) -> None:
    with pytest.raises(ConfigError, match=rf"collection slug '{slug}' is reserved.*choose another"):
        define_config(
            "sqlite://:memory:", [collection(slug=slug, fields={"n": field(type=text())})]
        )


def test_define_config_reads_the_reserved_names_from_the_classes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A method added later is reserved without editing any list."""
    monkeypatch.setattr(Database, "archive", lambda self: None, raising=False)
    monkeypatch.setattr(Transaction, "savepoint", lambda self: None, raising=False)
    for slug in ("archive", "savepoint"):
        archive = collection(slug=slug, fields={"n": field(type=text())})
        with pytest.raises(ConfigError, match=rf"collection slug '{slug}' is reserved: db\.{slug}"):
            define_config("sqlite://:memory:", [archive])


def test_define_config_checks_even_a_collection_built_without_collection() -> None:
    bare = Collection(slug="atomic", fields=MappingProxyType({}))
    with pytest.raises(ConfigError, match="collection slug 'atomic' is reserved"):
        define_config("sqlite://:memory:", [bare])


def test_the_early_check_in_collection_covers_the_whole_api() -> None:
    """collection() refuses at the user's line what define_config would refuse later."""
    db = define_config("sqlite://:memory:")
    # Private names ("_pool", "_actor", ...) are refused by define_config only.
    public = {n for n in api_names(db) if not n.startswith("_")}
    assert public <= RESERVED_SLUGS, sorted(public - RESERVED_SLUGS)
    assert {"acquire", "atomic", "collection", "transaction", "query"} <= api_names(db)


def test_a_slug_naming_a_private_attribute_is_refused() -> None:
    """db._actor is the view's actor: a collection may not take its name."""
    private = collection(slug="_actor", fields={"n": field(type=text())})
    with pytest.raises(ConfigError, match="collection slug '_actor' is reserved"):
        define_config("sqlite://:memory:", [private])
