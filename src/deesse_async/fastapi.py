"""FastAPI / Starlette integration (API.md §8): the library's errors as HTTP answers.

``install_error_handlers(app)`` answers, as problem-details JSON (RFC 9457:
``{"type", "title", "status", "detail", "errors"?}``):

| error | status |
| --- | --- |
| ``NotFound`` | 404 |
| ``ValidationError`` | 422, with ``errors``: one ``{"loc", "msg", "type"}`` per field |
| ``UniqueViolation``, ``ForeignKeyViolation`` | 409, ``errors`` names the field |
| ``AccessDenied`` | 403 |
| ``QueryError`` | 400, ``errors`` names the option path |
| ``TransactionConflict`` (retries used up) | 503 with ``Retry-After: 1``: transient, try again |
| FastAPI's ``RequestValidationError`` | 422, as ``ValidationError`` (``loc`` starts with
  ``"body"``, ``"query"``, ``"path"``...) |

Other errors are left to the app (a ``ConnectionError`` is a server problem, not the
client's). Needs Starlette (FastAPI depends on it): ``pip install 'deesse-async[fastapi]'``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .errors import (
    AccessDenied,
    DeesseError,
    ForeignKeyViolation,
    IntegrityError,
    NotFound,
    QueryError,
    TransactionConflict,
    UniqueViolation,
    ValidationError,
)

__all__ = ["install_error_handlers", "problem", "request_problem", "user_view"]

_STATUS: dict[type[DeesseError], tuple[int, str]] = {
    NotFound: (404, "Not Found"),
    ValidationError: (422, "Unprocessable Content"),
    UniqueViolation: (409, "Conflict"),
    ForeignKeyViolation: (409, "Conflict"),
    AccessDenied: (403, "Forbidden"),
    QueryError: (400, "Bad Request"),
    # A conflict that outlived run_in_transaction's retries: the server's transient
    # problem, not the client's mistake; the same request may well succeed again.
    TransactionConflict: (503, "Service Unavailable"),
}
_HEADERS: dict[int, dict[str, str]] = {503: {"Retry-After": "1"}}


def problem(exc: DeesseError) -> tuple[int, dict[str, Any]]:
    """The HTTP status and problem-details body for ``exc`` (one of the errors above).

    >>> from deesse_async import NotFound
    >>> status, body = problem(NotFound("posts", 7))
    >>> status, body["title"], body["detail"]
    (404, 'Not Found', 'posts with id 7 does not exist')
    """
    status, title = next(
        (v for cls, v in _STATUS.items() if isinstance(exc, cls)), (500, "Internal Server Error")
    )
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status}
    body["detail"] = str(exc)
    if isinstance(exc, ValidationError):
        body["errors"] = [
            {"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors
        ]
    elif isinstance(exc, IntegrityError) and exc.field is not None:
        body["errors"] = [{"loc": [exc.field], "msg": str(exc), "type": type(exc).__name__}]
    elif isinstance(exc, QueryError) and exc.path:
        body["errors"] = [{"loc": exc.path.split("."), "msg": str(exc), "type": "query"}]
    return status, body


def request_problem(errors: Sequence[Mapping[str, Any]]) -> tuple[int, dict[str, Any]]:
    """The 422 problem-details body for FastAPI's request validation ``errors`` (its
    ``RequestValidationError.errors()``), shaped as a ``ValidationError``'s.

    >>> status, body = request_problem(
    ...     [{"loc": ("body", "title"), "msg": "Field required", "type": "missing"}])
    >>> status, body["detail"], body["errors"][0]["loc"]
    (422, 'invalid request: body.title: Field required', ['body', 'title'])
    """
    items = [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in errors]
    detail = "; ".join(".".join(map(str, e["loc"])) + f": {e['msg']}" for e in items)
    status, title = _STATUS[ValidationError]
    body = {"type": "about:blank", "title": title, "status": status}
    return status, {**body, "detail": f"invalid request: {detail}", "errors": items}


def install_error_handlers(app: Any, *, request_errors: bool = True) -> None:
    """Answer the library's client errors as problem-details JSON on ``app`` (a FastAPI
    or Starlette application).

    ``request_errors``: also answer FastAPI's own request validation errors (a body that
    does not fit ``Posts.create_model``, a path parameter that is not an int) in the same
    format, so that clients read one error shape (422) whoever found the mistake.

    >>> # app = FastAPI(lifespan=db.lifespan()); install_error_handlers(app)
    """
    try:
        from starlette.responses import JSONResponse
    except ImportError:  # pragma: no cover - depends on the install
        from .errors import ConfigError

        raise ConfigError(
            "install_error_handlers needs Starlette (FastAPI brings it): "
            "pip install 'deesse-async[fastapi]'"
        ) from None

    async def handle(request: Any, exc: Exception) -> Any:
        assert isinstance(exc, DeesseError)
        status, body = problem(exc)
        return JSONResponse(
            body,
            status_code=status,
            media_type="application/problem+json",
            headers=_HEADERS.get(status),
        )

    for cls in _STATUS:
        app.add_exception_handler(cls, handle)
    if not request_errors:
        return
    try:
        from fastapi.exceptions import RequestValidationError
    except ImportError:  # plain Starlette: no request validation of its own
        return

    async def handle_request(request: Any, exc: Exception) -> Any:
        assert isinstance(exc, RequestValidationError)
        status, body = request_problem(exc.errors())
        return JSONResponse(body, status_code=status, media_type="application/problem+json")

    app.add_exception_handler(RequestValidationError, handle_request)


def user_view(db: Any, current_user: Any) -> Any:
    """A FastAPI dependency giving ``db.with_user(user)``, where ``user`` is what your own
    ``current_user`` dependency returns (``None``: the anonymous view).

    >>> # View = user_view(db, current_user)
    >>> # @app.get("/posts")
    >>> # async def posts(view = Depends(View)): return await view.query.posts.find_many()
    """
    try:
        from fastapi import Depends
    except ImportError:  # pragma: no cover - depends on the install
        from .errors import ConfigError

        raise ConfigError("user_view needs FastAPI: pip install 'deesse-async[fastapi]'") from None

    def view(user: Any = Depends(current_user)) -> Any:  # noqa: B008 - FastAPI's idiom
        return db.with_user(user)

    return view
