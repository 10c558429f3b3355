"""Access rules as SQL: who is asking, the rule context, and read rules merged into a
query tree (docs/access.md).

A collection's read rule returns ``True``, ``False`` or a where-dict; a field's read rule
``True`` or ``False``. Per execution the rules of every collection a query reads are
run, their where-dicts parsed (values lifted out, as for the caller's own where), and
the query tree rewritten once per *shape*: each level's ``where`` ANDed with its
collection's rule, each relation filter's EXISTS restricted to readable rows, hidden
fields dropped. The rewritten tree is planned and compiled like any other, so every read
path and both strategies get the rules from this one place.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from ..compile.coercion import coerce_value
from ..compile.schema import CompiledCollection, Schema
from ..errors import ConfigError, HookRecursionError, QueryError
from .options import (
    AggregateNode,
    And,
    Cmp,
    Const,
    Filter,
    InList,
    IsNull,
    Not,
    Or,
    QueryNode,
    RelationFilter,
    Values,
    parse_where,
)

__all__ = [
    "ANONYMOUS",
    "TRUSTED",
    "AccessContext",
    "Actor",
    "HookRecursionError",
    "Operation",
    "ReadAccess",
    "ReadRules",
    "call",
    "check_depth",
    "field_allowed",
    "gone_keys",
    "has_read_rules",
    "hidden_fields",
    "hidden_keys",
    "is_padded",
    "reshape",
    "rule_filter",
    "run_callbacks",
    "strip_padding",
]

Operation = Literal["create", "read", "update", "delete"]

# Operations started from hooks through ctx.db, nested deeper than this, are refused: a
# hook writing to its own collection would otherwise recurse until the stack overflows.
MAX_HOOK_DEPTH = 16


def check_depth(actor: Actor, operation: str, slug: str) -> None:
    """Refuse an operation nested too deep in hooks and rules (``HookRecursionError``)."""
    if actor.depth > MAX_HOOK_DEPTH:
        raise HookRecursionError(
            f"{operation} on {slug!r}: operations started through ctx.db (by hooks or access "
            f"rules) nested more than {MAX_HOOK_DEPTH} deep; a hook or rule probably reaches "
            "a collection whose hooks or rules call it again. Look permissions up through "
            "ctx.db.trusted() (it runs no rules), or guard the hook with a condition on the "
            "data"
        )


@dataclass(frozen=True, slots=True)
class Actor:
    """Who is asking: ``user`` (None: an anonymous visitor) or ``trusted`` (no rules).

    ``depth`` counts operations started from hooks through ``ctx.db``.
    """

    user: Any = None
    trusted: bool = False
    depth: int = 0

    def deeper(self) -> Actor:
        """The actor of an operation a hook starts through ``ctx.db``."""
        return dataclasses.replace(self, depth=self.depth + 1)


ANONYMOUS = Actor()
TRUSTED = Actor(trusted=True)


class AccessContext:
    """What access rules and hooks receive as ``ctx``.

    ``user`` (None for an anonymous visitor), ``trusted`` (``db.trusted()``),
    ``operation`` ("create", "read", "update" or "delete"), ``collection`` (the slug),
    ``db`` (a view bound to the operation's transaction, same user and trust) and
    ``on_commit(callback)``.
    """

    __slots__ = (
        "_actor",
        "_db",
        "_on_commit",
        "_view",
        "collection",
        "operation",
        "trusted",
        "user",
    )

    def __init__(
        self,
        actor: Actor,
        operation: Operation,
        collection: str,
        view: Any,
        on_commit: Callable[[Callable[[], Any]], None],
    ) -> None:
        self.user = actor.user
        self.trusted = actor.trusted
        self.operation = operation
        self.collection = collection
        self._actor = actor
        self._view = view
        self._db: Any = None
        self._on_commit = on_commit

    @property
    def db(self) -> Any:
        """The database as this caller, bound to the operation's transaction (if any).

        Operations started through it count towards the hook depth limit.
        """
        if self._db is None:
            self._db = self._view._as_actor(self._actor.deeper())
        return self._db

    def on_commit(self, callback: Callable[[], Any]) -> None:
        """Run ``callback()`` (sync or async) once after the outermost transaction
        commits; never after a rollback. Outside a transaction (a read on the plain
        database) it runs right after the operation."""
        if not callable(callback):
            raise TypeError(f"on_commit takes a callable, got {callback!r}")
        self._on_commit(callback)

    def __repr__(self) -> str:
        return (
            f"<AccessContext {self.operation} {self.collection!r} user={self.user!r}"
            f"{' trusted' if self.trusted else ''}>"
        )


async def call(fn: Callable[..., Any], *args: Any, what: tuple[str, str] = ("", "")) -> Any:
    """Call a rule, hook or callback that may be sync or async; what it raises carries a
    note naming it (``what``: its kind, e.g. "read rule", and the collection)."""
    try:
        out = fn(*args)
        if inspect.isawaitable(out):
            out = await out
    except Exception as exc:
        if what[0]:
            name = getattr(fn, "__qualname__", repr(fn))
            exc.add_note(f"deesse_async: raised by the {what[0]} of {what[1]!r} ({name})")
        raise
    return out


async def reshape(
    hooks: tuple[Callable[..., Any], ...], ctx: AccessContext, row: dict[str, Any]
) -> dict[str, Any]:
    """Run ``after_read`` hooks on one row: a returned dict replaces it, ``None`` keeps it."""
    for hook in hooks:
        out = await call(hook, ctx, row, what=("after_read hook", ctx.collection))
        if out is not None:
            if not isinstance(out, dict):
                raise ConfigError(
                    f"the after_read hook {getattr(hook, '__qualname__', hook)!r} of "
                    f"{ctx.collection!r} returned {type(out).__name__}; return the row (a "
                    "dict) or None"
                )
            row = out
    return row


async def run_callbacks(callbacks: list[Callable[[], Any]]) -> None:
    """Run on_commit callbacks in order; all run, then the first error propagates."""
    first: BaseException | None = None
    for callback in callbacks:
        try:
            await call(callback)
        except Exception as exc:
            first = first or exc
    if first is not None:
        first.add_note(
            f"deesse_async: raised by an on_commit callback; the transaction had committed "
            f"and the other {len(callbacks) - 1} callback(s) ran"
        )
        raise first


# -- collection rules ------------------------------------------------------------------


async def rule_filter(
    schema: Schema, slug: str, operation: Operation, ctx: AccessContext, prefix: str
) -> tuple[Filter | None, Values | None]:
    """Run a collection's rule for ``operation``: ``(None, None)`` when it permits every
    row (or there is no rule), ``Const(False)`` when none, else the parsed where-dict."""
    rule = schema[slug].collection.access.get(operation)
    if rule is None:
        return None, None
    result = await call(rule, ctx, what=(f"{operation} rule", slug))
    return parse_rule(schema, slug, operation, result, prefix)


def parse_rule(
    schema: Schema, slug: str, operation: str, result: Any, prefix: str
) -> tuple[Filter | None, Values | None]:
    """What a collection rule returned, as a filter: ``(None, None)`` for ``True``."""
    if result is True:
        return None, None
    if result is False:
        return Const(False), None
    if not isinstance(result, Mapping):
        raise ConfigError(
            f"access rule {slug}.{operation} returned {type(result).__name__}; a collection "
            "rule returns True, False or a where-dict"
        )
    path = f"access rule {slug}.{operation}"
    try:
        f, values = parse_where(schema, slug, result, path, prefix=prefix)
    except QueryError as exc:
        raise ConfigError(f"{exc} (in the where-dict the rule returned)") from None
    if values.placeholders:
        raise ConfigError(f"{path}: a rule's where-dict takes values, not placeholders")
    return f, values


def _skeleton(obj: Any, path: str, leaves: dict[str, Any]) -> Any:
    """The shape of a where-dict (its keys, list lengths, value types; booleans and
    ``None`` as themselves, since they change the filter's shape) and its values by
    option path, the way the parser names them."""
    if isinstance(obj, Mapping):
        return (dict, tuple((k, _skeleton(v, f"{path}.{k}", leaves)) for k, v in obj.items()))
    if isinstance(obj, list | tuple):
        return (list, tuple(_skeleton(v, f"{path}[{i}]", leaves) for i, v in enumerate(obj)))
    if obj is True or obj is False:
        leaves[path] = obj  # a boolean column's value, or is_null's flag (no value)
        return obj
    if obj is None or callable(obj):
        return obj
    leaves[path] = obj
    return type(obj)


class _RuleTemplates:
    """Where-dicts a read rule returned, parsed once per skeleton: the next execution
    whose rule returns the same shape only checks and binds its values."""

    __slots__ = ("_by_skeleton", "operation", "prefix", "schema", "slug")

    def __init__(self, schema: Schema, slug: str, operation: str, prefix: str) -> None:
        self.schema = schema
        self.slug = slug
        self.operation = operation
        self.prefix = prefix
        self._by_skeleton: dict[Any, tuple[Filter, tuple[tuple[str, Any, str], ...]] | None] = {}

    def filter(self, result: Any, params: dict[str, Any], encode: Any) -> Filter | None:
        """``result`` as a filter; its encoded values go into ``params``."""
        if result is True:
            return None
        if result is False:
            return _FALSE
        leaves: dict[str, Any] = {}
        path = f"access rule {self.slug}.{self.operation}"
        template: Any  # (filter, slots); None: not templatable; False: not seen yet
        try:
            skeleton = _skeleton(result, path, leaves) if isinstance(result, Mapping) else None
            template = self._by_skeleton.get(skeleton, False) if skeleton else None
        except TypeError:  # an unhashable key or value: parse it every time
            skeleton = template = None
        if template:
            f: Filter = template[0]
            slots = template[1]
            try:
                for key, kind, where in slots:
                    params[key] = encode(kind, coerce_value(kind, leaves[where]))
            except (TypeError, ValueError):
                pass  # the parser names the mistake
            else:
                return f
        parsed, values = parse_rule(self.schema, self.slug, self.operation, result, self.prefix)
        assert parsed is not None and values is not None
        f = parsed
        for key, (value, kind) in values.items.items():
            params[key] = encode(kind, value) if kind else value
        if skeleton is not None and template is False and len(self._by_skeleton) < _KEEP:
            slots = tuple(
                (key, kind, where)
                for (key, (_, kind)), where in zip(values.items.items(), values.paths, strict=True)
            )
            known = all(kind is not None and where in leaves for _, kind, where in slots)
            self._by_skeleton[skeleton] = (f, slots) if known else None
        return f


_FALSE = Const(False)


async def field_allowed(
    cc: CompiledCollection, name: str, operation: Operation, ctx: AccessContext
) -> bool:
    """Whether a field's rule for ``operation`` allows it (no rule: allowed)."""
    access = cc.collection.fields[name].access
    rule = access.get(operation) if access else None
    if rule is None:
        return True
    result = await call(rule, ctx, what=(f"{operation} rule of field {name!r}", cc.slug))
    if not isinstance(result, bool):
        raise ConfigError(
            f"field rule {cc.slug}.{name}.{operation} returned {type(result).__name__}; a "
            "field rule returns True or False"
        )
    return result


async def hidden_fields(cc: CompiledCollection, ctx: AccessContext) -> frozenset[str]:
    """The fields of ``cc`` whose read rule denies ``ctx``."""
    return frozenset(
        [n for n in _ruled_fields(cc, "read") if not await field_allowed(cc, n, "read", ctx)]
    )


def _ruled_fields(cc: CompiledCollection, operation: str) -> list[str]:
    return [n for n, f in cc.collection.fields.items() if f.access and operation in f.access]


def has_read_rules(cc: CompiledCollection) -> bool:
    """Whether reading ``cc`` runs any rule (a collection or a field read rule)."""
    return "read" in cc.collection.access or bool(_ruled_fields(cc, "read"))


def hidden_keys(cc: CompiledCollection, hidden: frozenset[str]) -> frozenset[str]:
    """Row keys and relation names that hidden fields remove: a one relation field's
    column (``author_id``) and relation (``author``), a many-to-many field's key."""
    if not hidden:
        return hidden
    columns = {c.name for c in cc.columns.values() if c.field in hidden}
    relations = {
        name for name, rel in cc.relations.items() if name in hidden and rel.source == cc.slug
    }
    return frozenset(hidden | columns | relations)


def gone_keys(schema: Schema, slug: str, hidden: Mapping[str, frozenset[str]]) -> frozenset[str]:
    """What hidden fields take away from ``slug``'s rows and relations: its own hidden
    fields (``hidden_keys``), and the relations back over a hidden field of another
    collection (``users.reports`` over a hidden ``users.manager``: listing the reports
    would tell the hidden value)."""
    cc = schema[slug]
    out = set(hidden_keys(cc, hidden.get(slug, frozenset())))
    for name, rel in cc.relations.items():
        target_hidden = hidden.get(rel.target)
        if not target_hidden or rel.source != slug:
            continue
        target = schema[rel.target]
        if rel.through is None:
            fields = {
                c.field for n, c in target.columns.items() if n in rel.target_columns and c.field
            }
        else:
            fields = {f for f, j in target.junctions.items() if j.table is rel.through.table}
        if fields & target_hidden:
            out.add(name)
    return frozenset(out)


def strip_padding(node: QueryNode, rows: list[Any]) -> None:
    """Take the ``id`` selected only for valid SQL out of padded levels' rows."""
    for name, child in node.relations:
        for row in rows:
            value = row.get(name)
            if value is not None:
                strip_padding(child, [value] if child.single else value)
    if node.padded:
        for row in rows:
            row.pop("id", None)


def is_padded(node: QueryNode) -> bool:
    """Whether any level of ``node`` is padded."""
    return node.padded or any(is_padded(child) for _, child in node.relations)


# -- read rules merged into a query tree -------------------------------------------------


def _filter_uses(
    f: Filter | None, slug: str, schema: Schema, path: str
) -> Iterator[tuple[str, str, str]]:
    """(collection, column or relation, option path) a caller's filter reads. The path
    leaves out AND/OR indexes (the tree no longer has them)."""
    if f is None:
        return
    if isinstance(f, Cmp | InList | IsNull):
        yield slug, f.column, f"{path}.{f.column}"
    elif isinstance(f, And | Or):
        for item in f.items:
            yield from _filter_uses(item, slug, schema, path)
    elif isinstance(f, Not):
        yield from _filter_uses(f.item, slug, schema, path)
    elif isinstance(f, RelationFilter):
        yield slug, f.relation, f"{path}.{f.relation}"
        target = schema[slug].relations[f.relation].target
        yield from _filter_uses(f.where, target, schema, f"{path}.{f.relation}")


def _filter_targets(f: Filter | None, slug: str, schema: Schema) -> Iterator[str]:
    """Collections whose rows a filter's relation filters look at."""
    for owner, name, _ in _filter_uses(f, slug, schema, ""):
        rel = schema[owner].relations.get(name)
        if rel is not None:
            yield rel.target


@dataclass(frozen=True, slots=True)
class ReadRules:
    """The rules of one execution: per ruled collection its filter and hidden fields
    (the *shape*, hashable: the plan cache key), and the rules' encoded values."""

    shape: tuple[tuple[Filter | None, frozenset[str]], ...]
    params: dict[str, Any]


# Rule shapes kept per query. A rule whose where-dict holds a RAW lambda built anew on
# every call has a new shape every time: past this many, plans come from the planner's
# LRU cache instead.
_KEEP = 64
_NONE: frozenset[str] = frozenset()
T = TypeVar("T")


class ReadAccess:
    """What a query tree needs from the read rules, worked out once per query."""

    __slots__ = (
        "_fields", "_merged", "_plans", "_rules", "_templates", "ruled", "schema", "uses",
    )  # fmt: skip

    def __init__(self, schema: Schema, node: QueryNode) -> None:
        self.schema = schema
        slugs: list[str] = []
        uses: list[tuple[str, str, str]] = []  # (collection, name, option path)
        stack = [(node, "")]
        while stack:
            n, path = stack.pop()
            slugs.append(n.slug)
            slugs.extend(_filter_targets(n.where, n.slug, schema))
            where = f"{path}.where" if path else "where"
            uses.extend(_filter_uses(n.where, n.slug, schema, where))
            if isinstance(n.order_by, tuple):
                order = f"{path}.order_by" if path else "order_by"
                uses.extend((n.slug, c, f"{order}.{c}") for c, _ in n.order_by)
            for name, a in n.aggregates:
                # Aggregates read the related rows: the target's rules apply inside, and
                # a hidden relation or column may not be aggregated (no oracle on it).
                at = f"{path}.aggregates.{name}" if path else f"aggregates.{name}"
                target = schema[n.slug].relations[a.relation].target
                slugs.append(target)
                slugs.extend(_filter_targets(a.where, target, schema))
                uses.append((n.slug, a.relation, at))
                if a.column is not None:
                    uses.append((target, a.column, at))
                uses.extend(_filter_uses(a.where, target, schema, f"{at}.where"))
            stack.extend(
                (child, f"{path}.with.{name}" if path else f"with_.{name}")
                for name, child in n.relations
            )
        # Collections whose reads run a rule, in a stable order (their rule's prefix).
        self.ruled = tuple(dict.fromkeys(s for s in slugs if has_read_rules(schema[s])))
        self.uses = tuple(dict.fromkeys(u for u in uses if u[0] in self.ruled))
        # Per ruled collection: does any field have a read rule (else nothing to hide)?
        self._fields = tuple(bool(_ruled_fields(schema[s], "read")) for s in self.ruled)
        self._rules = tuple(schema[s].collection.access.get("read") for s in self.ruled)
        self._templates = tuple(
            _RuleTemplates(schema, s, "read", f"a{i}_") for i, s in enumerate(self.ruled)
        )
        self._merged: dict[tuple[Any, ...], QueryNode] = {}
        self._plans: dict[tuple[Any, ...], tuple[Any, QueryNode, bool]] = {}

    async def resolve(self, codecs: Any, ctx_for: Callable[[str], AccessContext]) -> ReadRules:
        """Run the read rules of every ruled collection for one execution."""
        shape = []
        params: dict[str, Any] = {}
        encode = codecs.encode
        hiding = False
        for i, slug in enumerate(self.ruled):
            ctx = ctx_for(slug)
            rule = self._rules[i]
            f = None
            if rule is not None:
                result = await call(rule, ctx, what=("read rule", slug))
                f = self._templates[i].filter(result, params, encode)
            hidden = await hidden_fields(self.schema[slug], ctx) if self._fields[i] else _NONE
            hiding = hiding or bool(hidden)
            shape.append((f, hidden))
        rules = ReadRules(tuple(shape), params)
        if hiding and self.uses:
            self._check_uses(rules)
        return rules

    def _check_uses(self, rules: ReadRules) -> None:
        hidden = dict(zip(self.ruled, (h for _, h in rules.shape), strict=True))
        for slug, name, path in self.uses:
            if name in gone_keys(self.schema, slug, hidden):
                raise QueryError(
                    f"{name!r} of {slug!r} is hidden from this caller by a field access "
                    "rule; filter and order only by fields the caller can see",
                    path=path,
                )

    def plan(
        self,
        plan_for: Callable[[QueryNode, str], T],
        node: QueryNode,
        rules: ReadRules,
        strategy: str,
    ) -> tuple[T, QueryNode, bool]:
        """``plan_for(merged tree, strategy)``, the merged tree and whether a level of it is
        padded; kept per rule shape: a prepared query bound to many users compiles once
        per shape, and finds it here without hashing the tree."""
        key = (rules.shape, strategy)
        found = self._plans.get(key)
        if found is None:
            merged = self.merge(node, rules)
            found = (plan_for(merged, strategy), merged, is_padded(merged))
            if len(self._plans) < _KEEP:
                self._plans[key] = found
        return found

    def merge(self, node: QueryNode, rules: ReadRules) -> QueryNode:
        """``node`` with the rules of ``rules.shape`` merged in (cached per shape)."""
        merged = self._merged.get(rules.shape)
        if merged is None:
            by_slug = dict(zip(self.ruled, rules.shape, strict=True))
            merged = _Merger(self.schema, by_slug).node(node)
            if len(self._merged) < _KEEP:
                self._merged[rules.shape] = merged
        return merged


class _Merger:
    def __init__(
        self, schema: Schema, rules: dict[str, tuple[Filter | None, frozenset[str]]]
    ) -> None:
        self.schema = schema
        self.rules = rules

    def rule(self, slug: str) -> Filter | None:
        found = self.rules.get(slug)
        return None if found is None else found[0]

    def node(self, node: QueryNode) -> QueryNode:
        hidden = {slug: h for slug, (_, h) in self.rules.items()}
        gone = gone_keys(self.schema, node.slug, hidden)
        where = _and(self.where(node.where, node.slug), self.rule(node.slug))
        columns = tuple(c for c in node.columns if c not in gone)
        relations = tuple(
            (name, self.node(child)) for name, child in node.relations if name not in gone
        )
        relation_info = self.schema[node.slug].relations
        aggregates = tuple(
            (name, self.aggregate(a, relation_info[a.relation].target))
            for name, a in node.aggregates
        )
        padded = not columns and not relations and not node.extras and not aggregates
        return dataclasses.replace(
            node,
            columns=("id",) if padded else columns,
            where=where,
            relations=relations,
            aggregates=aggregates,
            padded=padded,
        )

    def aggregate(self, a: AggregateNode, target: str) -> AggregateNode:
        """An aggregate over the related rows the caller may read only."""
        where = _and(self.where(a.where, target), self.rule(target))
        return dataclasses.replace(a, where=where)

    def where(self, f: Filter | None, slug: str) -> Filter | None:
        if f is None or isinstance(f, Cmp | InList | IsNull | Const):
            return f
        if isinstance(f, And):
            return And(tuple(self.where(i, slug) for i in f.items))  # type: ignore[misc]
        if isinstance(f, Or):
            return Or(tuple(self.where(i, slug) for i in f.items))  # type: ignore[misc]
        if isinstance(f, Not):
            return Not(self.where(f.item, slug))  # type: ignore[arg-type]
        if isinstance(f, RelationFilter):
            target = self.schema[slug].relations[f.relation].target
            inner = _and(self.where(f.where, target), self.rule(target))
            return RelationFilter(f.relation, inner, f.negate)
        return f  # Raw: the caller's own SQL


def _and(a: Filter | None, b: Filter | None) -> Filter | None:
    if a is None or b is None:
        return b if a is None else a
    left = a.items if isinstance(a, And) else (a,)
    return And((*left, b))
