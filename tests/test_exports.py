"""The public face: __all__ matches what the package really exports."""

from __future__ import annotations

import dataclasses
import inspect
import operator
import sys
import typing
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel

import deesse_async
from tests.blog import BLOG


def test_all_is_sorted_and_complete() -> None:
    public = sorted(
        name
        for name in dir(deesse_async)
        if not name.startswith("_") and not inspect.ismodule(getattr(deesse_async, name))
    )
    assert sorted(deesse_async.__all__) == public
    assert list(deesse_async.__all__) == sorted(deesse_async.__all__)


def test_every_public_function_has_a_docstring() -> None:
    for name in deesse_async.__all__:
        obj = getattr(deesse_async, name)
        assert obj.__doc__, name


def test_errors_share_one_root() -> None:
    for name in deesse_async.__all__:
        obj = getattr(deesse_async, name)
        if isinstance(obj, type) and issubclass(obj, Exception):
            assert issubclass(obj, deesse_async.DeesseError), name


# Names some modules import only under TYPE_CHECKING; annotations may use them.
TYPE_CHECKING_NAMES: dict[str, Any] = {"Self": typing.Self, "BaseModel": BaseModel, "sa": sa}
# Entry points reached by attribute rather than by a signature: db.query, db.query.<slug>,
# db.<slug> (their classes are walked like the exported ones).
REACHED = ("query", "query.users", "users")
# Named like API but documented as internal: the executor protocol CRUD runs on.
INTERNAL = {"acquire", "atomic"}
# Constructors are not walked: users get these objects from define_config(), collection(),
# db.<slug>..., never by calling the class.
SKIPPED_DUNDERS = {"__init__", "__new__"}


def _types_in(hint: Any) -> Iterator[type]:
    if isinstance(hint, type):
        yield hint
    origin = typing.get_origin(hint)
    if isinstance(origin, type):
        yield origin
    for arg in typing.get_args(hint):
        yield from _types_in(arg)


def _hints(obj: Any) -> dict[str, Any]:
    module = sys.modules.get(getattr(obj, "__module__", ""), None)
    namespace = {**TYPE_CHECKING_NAMES, **vars(module)} if module else TYPE_CHECKING_NAMES
    return typing.get_type_hints(obj, globalns=namespace)


def _members(cls: type) -> Iterator[tuple[str, Any]]:
    """Public callables and properties of ``cls`` (its own and inherited)."""
    for name, member in inspect.getmembers(cls):
        if name in INTERNAL or name in SKIPPED_DUNDERS:
            continue
        if name.startswith("_") and not (name.startswith("__") and name.endswith("__")):
            continue
        if isinstance(member, property) and member.fget is not None:
            yield name, member.fget
        elif inspect.isfunction(member) or inspect.ismethod(member):
            yield name, member


def _signature_types() -> dict[type, set[str]]:
    """Every deesse_async type a public signature names -> where it appears."""
    todo: list[tuple[str, Any]] = [(n, getattr(deesse_async, n)) for n in deesse_async.__all__]
    db = deesse_async.define_config("sqlite://:memory:", BLOG)
    found: dict[type, set[str]] = {}
    for path in REACHED:
        cls = type(operator.attrgetter(path)(db))
        found.setdefault(cls, set()).add(f"db.{path}")
        todo.append((f"db.{path}", cls))
    seen: set[int] = set()
    while todo:
        where, obj = todo.pop()
        if id(obj) in seen or not getattr(obj, "__module__", "").startswith("deesse_async"):
            continue
        seen.add(id(obj))
        if isinstance(obj, type):
            if not issubclass(obj, BaseException):
                todo += [(f"{obj.__name__}.{n}", m) for n, m in _members(obj)]
                if dataclasses.is_dataclass(obj) or hasattr(obj, "_fields"):
                    todo.append((f"{obj.__name__} fields", _hints(obj)))
            continue
        hints = obj if isinstance(obj, dict) else _hints(obj) if callable(obj) else {}
        for hint in hints.values():
            for t in _types_in(hint):
                if t.__module__.startswith("deesse_async"):
                    found.setdefault(t, set()).add(where)
                    todo.append((t.__name__, t))
    return found


def test_every_type_in_a_public_signature_is_exported() -> None:
    """A user can name (annotate, isinstance) whatever the API hands them."""
    exported = {id(getattr(deesse_async, n)) for n in deesse_async.__all__}
    missing = {
        f"{t.__module__}.{t.__qualname__}": sorted(where)
        for t, where in _signature_types().items()
        if id(t) not in exported
    }
    assert not missing, missing


def test_the_signature_walk_sees_methods_properties_and_fields() -> None:
    found = _signature_types()
    assert "Database.transaction" in found[deesse_async.Transaction]  # a method's return
    assert "define_config" in found[deesse_async.Relations]  # a parameter
    assert "db.query.users" in found[deesse_async.CollectionQuery]  # reached by attribute
    assert "Query.prepare" in found[deesse_async.PreparedQuery]  # found transitively
    assert any(w.startswith("SyncPlan") for w in found[deesse_async.PlanChange])
