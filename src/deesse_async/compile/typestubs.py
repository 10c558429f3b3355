"""The compiled schema -> a typed Python module for mypy and pyright (``deesse types``).

Per collection it writes ``TypedDict``s for rows (``<Name>Read``: what CRUD returns,
``<Name>Row``: what ``db.query.<slug>`` returns, relations as ``NotRequired`` keys),
for input (``<Name>Create`` / ``<Name>Update``) and for query options (columns, where,
order_by, with), then ``Protocol``s typing ``db.<slug>`` and ``db.query.<slug>`` and a
``typed(db)`` cast. The text is deterministic and already in ``ruff format`` style, so
a generated file can be committed and checked in CI.
"""

from __future__ import annotations

import json
import keyword
import re
from collections.abc import Iterable

from ..dialects.base import ISOLATION_LEVELS
from ..schema.fields import Field, Relation, Select
from .schema import CompiledCollection, Kind, RelationInfo, Schema

__all__ = ["render_types", "type_name"]

# Leave room under ruff's default line length (88): one-line forms are kept below it.
_WIDTH = 88

# What a column holds when read (the read models of compile/models.py).
_READ: dict[Kind, str] = {
    "str": "str",
    "float": "float",
    "int": "int",
    "bool": "bool",
    "datetime": "_dt.datetime",
    "date": "_dt.date",
    "uuid": "_uuid.UUID",
    "json": "JsonValue",
}
# What typed code writes: the column's type; timestamp, date and uuid also their ISO /
# canonical string (at run time the coercion rule converts more: compile/coercion.py);
# JSON takes any mapping or sequence of JSON values.
_WRITE: dict[Kind, str] = {
    **_READ,
    "datetime": "_dt.datetime | str",
    "date": "_dt.date | str",
    "uuid": "_uuid.UUID | str",
    "json": "JsonInput",
}
_ID_INPUT: dict[Kind, str] = {"int": "int", "uuid": "_uuid.UUID | str"}

_PRELUDE = '''\
JsonScalar: TypeAlias = str | int | float | bool | None
# What a JSON field accepts (the write validates the inside): read-only containers, so
# that a dict[str, int] fits too.
JsonInput: TypeAlias = Mapping[str, Any] | Sequence[Any] | JsonScalar
Direction: TypeAlias = Literal["asc", "desc"]
Strategy: TypeAlias = Literal["auto", "lateral", "batched"]
StreamMode: TypeAlias = Literal["auto", "cursor", "keyset"]
Isolation: TypeAlias = Literal[ISOLATION]
_T = TypeVar("_T")
_T_co = TypeVar("_T_co", covariant=True)


class TypedPreparedQuery(Protocol[_T_co]):
    """A prepared query: ``await q.execute(...)`` gives its rows."""

    @property
    def strategy(self) -> str: ...

    @property
    def response_model(self) -> type[BaseModel]: ...

    def to_sql(self) -> str: ...

    def with_user(self, user: Any) -> TypedPreparedQuery[_T_co]: ...

    def trusted(self) -> TypedPreparedQuery[_T_co]: ...

    async def execute(
        self,
        values: Mapping[str, Any] | None = None,
        /,
        **kwargs: Any,
    ) -> _T_co: ...


class TypedQuery(Protocol[_T_co]):
    """A query: ``await`` it for its rows, or ``.prepare()`` it to run it often."""

    def __await__(self) -> Generator[Any, None, _T_co]: ...

    def prepare(self, name: str | None = None) -> TypedPreparedQuery[_T_co]: ...

    @property
    def response_model(self) -> type[BaseModel]: ...

    def to_sql(self) -> str: ...


class TypedRowStream(Protocol[_T]):
    """``stream(...)``: ``async for row in it``, ``async with it as rows``, or
    ``.chunks()`` for lists of rows."""

    def __aiter__(self) -> AsyncIterator[_T]: ...

    def chunks(self) -> AsyncIterator[list[_T]]: ...

    async def aclose(self) -> None: ...

    async def __aenter__(self) -> TypedRowStream[_T]: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...
'''


def type_name(slug: str, suffix: str) -> str:
    """The class name for a collection: ``blog_posts`` -> ``BlogPostsRow``.

    >>> type_name("blog_posts", "Row")
    'BlogPostsRow'
    """
    return "".join(part.capitalize() for part in slug.split("_") if part) + suffix


def render_types(schema: Schema, command: str) -> str:
    """The typed module for ``schema``; ``command`` (the one that regenerates it) goes
    in its header.

    >>> # text = render_types(db.schema, "deesse types --app myapp.db:db -o myapp/db_types.py")
    """
    slugs = sorted(schema.collections)
    names = _names(slugs)
    levels = "".join(f"\n    {_quote(level)}," for level in ISOLATION_LEVELS)
    parts = [_PRELUDE.replace("Literal[ISOLATION]", f"Literal[{levels}\n]")]
    for slug in slugs:
        parts.extend(_collection_types(schema[slug], names))
    parts.extend(_options(slug, names) for slug in slugs)
    for slug in slugs:
        parts.extend(_protocols(schema[slug], names))
    parts.append(_database(slugs, names))
    parts.append(_typed(schema, slugs))
    body = "\n\n\n".join(part.rstrip("\n") for part in parts) + "\n"
    return f"{_header(command)}\n\n{_imports(body)}\n\n{body}"


def _imports(body: str) -> str:
    """The imports ``body`` uses (an unused one would fail ``ruff check``), sorted as
    ruff's isort sorts them in a project where deesse_async is a third-party package."""
    typing = ["Any", "Literal", "Protocol", "TypeAlias", "TypeVar", "cast"]
    if _uses(body, "NotRequired["):
        typing.insert(2, "NotRequired")
    lines = ["from __future__ import annotations", ""]
    lines += [
        line
        for line, name in (("import datetime as _dt", "_dt."), ("import uuid as _uuid", "_uuid."))
        if _uses(body, name)
    ]
    lines += [
        "from collections.abc import (",
        "    AsyncIterator,",
        "    Awaitable,",
        "    Callable,",
        "    Generator,",
        "    Mapping,",
        "    Sequence,",
        ")",
        "from contextlib import AbstractAsyncContextManager",
        "from types import TracebackType",
        f"from typing import {', '.join(typing)}",
        "",
        "from deesse_async import Aggregate, ConfigError, Placeholder",
        "from pydantic import BaseModel" + (", JsonValue" if _uses(body, "JsonValue") else ""),
        "",
        "# Not typing's: pydantic (a FastAPI response_model) takes only this one on 3.11.",
        "from typing_extensions import TypedDict",
    ]
    return "\n".join(lines)


def _uses(body: str, name: str) -> bool:
    # Whole names only: a class BlogJsonValueRow does not use JsonValue.
    end = r"(?!\w)" if name[-1].isalnum() else ""
    return re.search(rf"(?<![\w.]){re.escape(name)}{end}", body) is not None


def _names(slugs: list[str]) -> dict[str, str]:
    """Slug -> class-name stem; slugs that would share one (``a_b``, ``a__b``) or make
    no identifier (``_1``) get the slug itself, which is unique and an identifier."""
    stems = {slug: type_name(slug, "") for slug in slugs}
    taken = list(stems.values())
    return {
        slug: stem if taken.count(stem) == 1 and stem[:1].isalpha() else slug
        for slug, stem in stems.items()
    }


def _header(command: str) -> str:
    return (
        "# Generated by deesse types (docs/types.md): do not edit. After changing the\n"
        f"# collections, run again:\n#   {command}\n"
        '"""Typed rows and a typed database for mypy and pyright: ``db = typed(app_db)``."""'
    )


def _class(name: str, doc: str, lines: Iterable[str], *, base: str = "TypedDict") -> str:
    body = [f"    {line}" if line else "" for line in lines]
    head = [f"class {name}({base}):", f'    """{doc}"""']
    return "\n".join([*head, "", *body] if body else head)


Item = tuple[str, str]  # a TypedDict key and its type


def _typeddict(name: str, doc: str, items: list[Item], *, total: bool = True) -> str:
    """Class syntax, or the functional one when a key is a Python keyword (a field
    named ``class``, the option ``with``)."""
    # A key named like a type (``list``, ``Any``) is fine: an annotation binds no name.
    if not any(keyword.iskeyword(key) for key, _ in items):
        base = "TypedDict" if total else "TypedDict, total=False"
        return _class(name, doc, [f"{key}: {py}" for key, py in items], base=base)
    # Evaluated at runtime: quoted, so that classes defined further down may be named.
    lines = [f"        {_quote(key)}: {_quote(py)}," for key, py in items]
    head = [f"# {doc}", f"{name} = TypedDict(", f"    {_quote(name)},", "    {"]
    tail = ["    }," if total else "    },\n    total=False,", ")"]
    return "\n".join([*head, *lines, *tail])


def _literal(values: Iterable[str]) -> str:
    return "Literal[" + ", ".join(_quote(v) for v in values) + "]"


def _quote(value: str) -> str:
    """A string literal as ``ruff format`` writes it: double quotes, unless the text holds
    more double than single quotes."""
    text = json.dumps(value, ensure_ascii=False)[1:-1]  # JSON escapes are Python's too
    if value.count('"') > value.count("'"):
        return "'" + text.replace('\\"', '"').replace("'", "\\'") + "'"
    return f'"{text}"'


def _hidden(f: Field | None) -> bool:
    """A field with a read rule may be absent from a row (docs/access.md)."""
    return f is not None and f.access is not None and "read" in f.access


def _column_types(cc: CompiledCollection) -> list[tuple[str, str, bool]]:
    """(key, read type, may be absent) per column, in table order."""
    fields = cc.collection.fields
    out = []
    for name, info in cc.columns.items():
        f = fields.get(info.field) if info.field else None
        py = _read_type(f, info.kind)
        out.append((name, f"{py} | None" if info.nullable else py, _hidden(f)))
    return out


def _read_type(f: Field | None, kind: Kind) -> str:
    if f is not None and isinstance(f.type, Select):
        return _literal(f.type.choices)
    return _READ[kind]


def _write_type(f: Field, kind: Kind) -> str:
    if isinstance(f.type, Select):
        return _literal(f.type.choices)
    if isinstance(f.type, Relation):
        return _ID_INPUT[kind]
    return _WRITE[kind]


def _key(name: str, py: str, optional: bool) -> Item:
    return (name, f"NotRequired[{py}]" if optional else py)


def _collection_types(cc: CompiledCollection, names: dict[str, str]) -> list[str]:
    slug, stem = cc.slug, names[cc.slug]
    columns = _column_types(cc)
    links = [
        (name, f"list[{_READ[j.target_kind]}]", _hidden(cc.collection.fields.get(name)))
        for name, j in cc.junctions.items()
    ]
    relations = sorted(cc.relations.items())
    row = [_key(k, t, opt) for k, t, opt in columns]
    row += [_key(n, _relation_type(r, names), True) for n, r in relations]
    create, update = _inputs(cc)
    return [
        _typeddict(
            f"{stem}Read",
            f"A ``{slug}`` row as ``db.{slug}`` (CRUD) returns it.",
            [_key(k, t, opt) for k, t, opt in columns + links],
        ),
        _typeddict(
            f"{stem}Row", f"A row of ``db.query.{slug}``, with the relations asked for.", row
        ),
        _typeddict(f"{stem}Create", f"What ``db.{slug}.create`` accepts.", create),
        _typeddict(
            f"{stem}Update",
            f"What ``db.{slug}.update`` accepts (every key optional).",
            update,
            total=False,
        ),
        _typeddict(
            f"{stem}Columns",
            f"``columns=``: the ``{slug}`` columns to select.",
            [(k, "bool") for k, _, _ in columns],
            total=False,
        ),
        _typeddict(
            f"{stem}OrderBy",
            f"``order_by=``: ``{slug}`` columns to sort by, in order.",
            [(k, "Direction") for k, _, _ in columns],
            total=False,
        ),
        _typeddict(
            f"{stem}Where",
            f"``where=``: a filter on ``{slug}`` (columns, relations, AND/OR/NOT/RAW).",
            _where_keys(cc, stem),
            total=False,
        ),
        _typeddict(
            f"{stem}Page",
            f"What ``db.query.{slug}.find_page`` returns.",
            [("items", f"list[{stem}Row]"), ("next", "str | None"), ("has_more", "bool")],
        ),
        _typeddict(
            f"{stem}With",
            f"``with_=``: the ``{slug}`` relations to load.",
            [(n, f"bool | {names[r.target]}Options") for n, r in relations],
            total=False,
        ),
    ]


def _relation_type(r: RelationInfo, names: dict[str, str]) -> str:
    row = f"{names[r.target]}Row"
    # A one relation is None when no row matches, or when the caller may not read it.
    return f"{row} | None" if r.cardinality == "one" else f"list[{row}]"


def _inputs(cc: CompiledCollection) -> tuple[list[Item], list[Item]]:
    create, update = [], []
    for name, f in cc.collection.fields.items():
        if name in cc.junctions:
            ids = f"Sequence[{_ID_INPUT[cc.junctions[name].target_kind]}] | None"
            create.append(_key(name, ids, True))
            update.append((name, ids))
            continue
        key = f"{name}_id" if isinstance(f.type, Relation) else name
        py = _write_type(f, cc.columns[key].kind)
        if not f.required:
            py = f"{py} | None"
        create.append(_key(key, py, not f.required or f.has_default))
        update.append((key, py))
    return create, update


def _where_keys(cc: CompiledCollection, stem: str) -> list[Item]:
    keys = [
        ("AND", f"Sequence[{stem}Where]"),
        ("OR", f"Sequence[{stem}Where]"),
        ("NOT", f"{stem}Where"),
        ("RAW", "Callable[[Any], Any]"),
    ]
    taken = {"AND", "OR", "NOT", "RAW"}
    # A value, an operator dict ({"gt": 3}) or a placeholder: checked when the query runs.
    keys += [(k, "Any") for k in [*cc.columns, *sorted(cc.relations)] if k not in taken]
    return keys


def _options(slug: str, names: dict[str, str]) -> str:
    stem = names[slug]
    items = [
        ("columns", f"{stem}Columns"),
        ("with", f"{stem}With"),
        ("where", f"{stem}Where"),
        ("order_by", f"{stem}OrderBy | Callable[[Any], Any]"),
        ("limit", "int | Placeholder"),
        ("offset", "int | Placeholder"),
        ("extras", "Mapping[str, Callable[[Any], Any]]"),
        ("aggregates", "Mapping[str, Aggregate]"),
    ]
    doc = f"The options of a ``{slug}`` relation in ``with_`` (find_many's, nested)."
    return _typeddict(f"{stem}Options", doc, items, total=False)


def _method(name: str, params: list[str], returns: str, *, is_async: bool = False) -> list[str]:
    prefix = "async def" if is_async else "def"
    one_line = f"    {prefix} {name}({', '.join(['self', *params])}) -> {returns}: ..."
    if len(one_line) <= _WIDTH:
        return [one_line.removeprefix("    ")]
    return [
        f"{prefix} {name}(",
        *[f"    {p}," for p in ["self", *params]],
        f") -> {returns}: ...",
    ]


def _methods(methods: list[list[str]]) -> list[str]:
    out: list[str] = []
    for m in methods:
        out.extend([*m, ""])
    return out[:-1]


def _protocols(cc: CompiledCollection, names: dict[str, str]) -> list[str]:
    slug, stem = cc.slug, names[cc.slug]
    read, row, id_ = f"{stem}Read", f"{stem}Row", _ID_INPUT[cc.id_kind]
    crud = _methods(
        [
            _method("create", [f"data: {stem}Create"], read, is_async=True),
            _method(
                "create_many",
                [f"items: Sequence[{stem}Create]"],
                f"list[{read}]",
                is_async=True,
            ),
            _method("read", [f"id: {id_}"], f"{read} | None", is_async=True),
            _method("update", [f"id: {id_}", f"data: {stem}Update"], read, is_async=True),
            _method("delete", [f"id: {id_}"], f"{read} | None", is_async=True),
            _method("count", [f"where: {stem}Where | None = None"], "int", is_async=True),
        ]
    )
    options = [
        f"columns: {stem}Columns | None = None",
        f"with_: {stem}With | None = None",
        f"where: {stem}Where | None = None",
        f"order_by: {stem}OrderBy | Callable[[Any], Any] | None = None",
        "limit: int | Placeholder | None = None",
        "offset: int | Placeholder | None = None",
        "extras: Mapping[str, Callable[[Any], Any]] | None = None",
        "aggregates: Mapping[str, Aggregate] | None = None",
        'strategy: Strategy = "auto"',
    ]
    first = [o for o in options if not o.startswith("limit")]
    # Keyset reads: order_by is column names, no placeholders; pages take no limit/offset.
    keyset = [
        f"order_by: {stem}OrderBy | None = None" if o.startswith("order_by") else o for o in options
    ]
    stream = [
        o.replace(" | Placeholder", "") if o.startswith(("limit", "offset")) else o for o in keyset
    ]
    page = [o for o in keyset if not o.startswith(("limit", "offset"))]
    queries = _methods(
        [
            _method("find_many", ["*", *options], f"TypedQuery[list[{row}]]"),
            _method("find_first", ["*", *first], f"TypedQuery[{row} | None]"),
            _method(
                "stream",
                ["*", *stream, "chunk_size: int = 1000", 'mode: StreamMode = "auto"'],
                f"TypedRowStream[{row}]",
            ),
            _method(
                "find_page",
                ["*", *page, "first: int = 20", "after: str | None = None"],
                f"{stem}Page",
                is_async=True,
            ),
        ]
    )
    return [
        _class(
            f"{stem}Collection",
            f"``db.{slug}``: create, read, update, delete and count rows.",
            crud,
            base="Protocol",
        ),
        _class(
            f"{stem}Queries", f"``db.query.{slug}``: relational queries.", queries, base="Protocol"
        ),
    ]


def _database(slugs: list[str], names: dict[str, str]) -> str:
    # db.<keyword> is not Python: such a collection gets its types but no attribute here.
    slugs = [slug for slug in slugs if not keyword.iskeyword(slug)]
    queries = _methods(
        [["@property", *_method(slug, [], f"{names[slug]}Queries")] for slug in slugs]
    )
    views = _methods(
        [
            ["@property", *_method("query", [], "TypedQueryNamespace")],
            *[["@property", *_method(s, [], f"{names[s]}Collection")] for s in slugs],
            ["@property", *_method("user", [], "Any")],
            _method("with_user", ["user: Any"], "TypedDatabase"),
            _method("trusted", [], "TypedDatabase"),
            _method("primary", [], "TypedDatabase"),
            _method("replica", [], "TypedDatabase"),
            _method(
                "transaction",
                ["isolation: Isolation | None = None"],
                "AbstractAsyncContextManager[TypedDatabase]",
            ),
            _method(
                "run_in_transaction",
                [
                    "fn: Callable[[TypedDatabase], Awaitable[_T]]",
                    "retries: int = 3",
                    'isolation: Isolation | None = "serializable"',
                ],
                "_T",
                is_async=True,
            ),
        ]
    )
    return "\n\n\n".join(
        [
            _class("TypedQueryNamespace", "``db.query``.", queries, base="Protocol"),
            _class(
                "TypedDatabase",
                "A ``Database``, a view of it or a transaction, typed by this module.",
                views,
                base="Protocol",
            ),
        ]
    )


def _typed(schema: Schema, slugs: list[str]) -> str:
    lines = ["_COLUMNS: dict[str, tuple[str, ...]] = {"]
    for slug in slugs:
        columns = [*schema[slug].columns, *schema[slug].junctions]
        lines += [f"    {_quote(slug)}: (", *[f"        {_quote(c)}," for c in columns], "    ),"]
    lines.append("}")
    return "\n".join(lines) + "\n\n\n" + _TYPED


_TYPED = '''\
def typed(db: Any) -> TypedDatabase:
    """``db`` typed by this module; raises ``ConfigError`` if its collections changed.

    >>> # from myapp.db import db as app_db; db = typed(app_db)
    """
    schema = getattr(db, "schema", None)
    if schema is not None:
        found = {s: (*c.columns, *c.junctions) for s, c in schema.collections.items()}
        if found != _COLUMNS:
            raise ConfigError(
                f"{__name__} was generated for other collections: run the command in "
                "its header again"
            )
    return cast(TypedDatabase, db)
'''
