"""The public face: __all__ matches what the package really exports."""

from __future__ import annotations

import inspect

import deesse_async


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
