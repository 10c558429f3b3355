"""The risk of one SQL statement, judged from its sqlglot syntax tree.

Never from its text, so a table called ``drop_log`` or a string literal holding
``'DROP TABLE x'`` cannot fool it. Whatever sqlglot cannot type is treated as
destructive. ``classify_statement`` dispatches on the statement's type (ALTER actions,
DROP, CREATE, writes, untyped commands in ``shapes.py``); a column type change asks
``widening.py``. What differs per database comes in a ``Reading`` built from the
``Dialect``. Sequences judged together (Alembic's table rebuild) are ``rebuilds.py``'s.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

import sqlglot
from sqlglot import exp
from sqlglot.errors import ErrorLevel, SqlglotError

from ..dialects import Dialect
from ..dialects.sync_rules import TypeRules
from .risk import Classification, Risk, worst
from .shapes import command_verdict
from .widening import widens

__all__ = [
    "REBUILD_PREFIX",
    "Reading",
    "classify_statement",
    "node_name",
    "parse",
    "reading",
    "unanalysable",
]

# Alembic's batch mode on SQLite rebuilds a table through a copy with this prefix.
REBUILD_PREFIX: Final = "_alembic_tmp_"
_T = exp.DataType.Type
_C = Classification


@dataclass(frozen=True, slots=True)
class Reading:
    """How to read statements for one database, and what is known of a changed column."""

    read: str  # sqlglot's dialect name
    rules: TypeRules
    from_type: str | None
    old_type: exp.DataType | None
    old_nullable: bool | None = None  # from a from_type ending in NULL / NOT NULL


def _snippet(text: str, limit: int = 60) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def node_name(node: Any) -> str:
    """A table's (dotted) or a column's name as written."""
    if isinstance(node, exp.Schema):
        node = node.this
    if isinstance(node, exp.Table):
        return ".".join(part.name for part in node.parts) or "?"
    return (node.name or node.sql()) if isinstance(node, exp.Expr) else "?"


def unanalysable(what: str) -> Classification:
    """The verdict on what sqlglot cannot type: destructive."""
    return _C("destructive", f"{what} could not be analysed, so it is treated as destructive.")


def _plain_using(using: Any, column: str, new: exp.DataType) -> bool:
    """A USING that merely casts the column converts like no USING at all."""
    if not isinstance(using, exp.Expr):
        return True
    if isinstance(using, exp.Cast) and using.to == new:
        using = using.this
    return isinstance(using, exp.Column) and using.name.casefold() == column.casefold()


def _type_change(column: str, new: exp.DataType, ctx: Reading, using: Any = None) -> Classification:
    spelling = ctx.rules.spelling
    target = new.sql(spelling)
    if not _plain_using(using, column.rsplit(".", 1)[-1], new):
        return _C(
            "destructive",
            f"Changing {column} to {target} rewrites every value with a USING expression.",
        )
    if ctx.from_type is None:
        return _C("destructive", f"Changing {column} to {target} can lose data: old type unknown.")
    if ctx.old_type is None:
        return unanalysable(f"Changing {column} from the unparsable type {ctx.from_type!r}")
    source = ctx.old_type.sql(spelling)
    if ctx.old_type == new:
        return _C("safe", f"Column {column} keeps its type {target}, so no value changes.")
    if widens(ctx.old_type, new, ctx.rules):
        return _C("safe", f"Changing {column} from {source} to {target} is a widening conversion.")
    return _C(
        "destructive",
        f"Changing {column} from {source} to {target} is not a widening conversion "
        "and can truncate, reject or reinterpret existing values.",
    )


# --------------------------------------------------------------------------- ALTER actions

_GENERATED: Final = (
    exp.GeneratedAsIdentityColumnConstraint,
    exp.AutoIncrementColumnConstraint,
    exp.ComputedColumnConstraint,
)
_SERIAL_TYPES: Final = frozenset({_T.SMALLSERIAL, _T.SERIAL, _T.BIGSERIAL})
_COLUMN_CHECKS: Final[dict[type[exp.Expr], str]] = {
    exp.UniqueColumnConstraint: "UNIQUE",
    exp.PrimaryKeyColumnConstraint: "PRIMARY KEY",
    exp.CheckColumnConstraint: "CHECK",
}


def _is_not_null(kinds: Sequence[exp.Expr]) -> bool:
    return any(
        isinstance(k, exp.NotNullColumnConstraint) and not k.args.get("allow_null") for k in kinds
    )


def _add_column(column: exp.ColumnDef, table: str, ctx: Reading) -> Classification:
    name = f"ADD COLUMN {table}.{column.name}"
    kinds = [c.kind for c in column.constraints]
    has_default = any(
        isinstance(k, exp.DefaultColumnConstraint) and not isinstance(k.this, exp.Null)
        for k in kinds
    )
    dtype = column.args.get("kind")
    serial = isinstance(dtype, exp.DataType) and dtype.this in _SERIAL_TYPES
    fills_itself = serial or any(isinstance(k, _GENERATED) for k in kinds)
    checks = [label for kind, label in _COLUMN_CHECKS.items() for k in kinds if isinstance(k, kind)]
    if checks:
        return _C("unsafe", f"{name} with a {checks[0]} constraint can fail on existing rows.")
    if _is_not_null(kinds) and not (has_default or fills_itself):
        return _C("unsafe", f"{name} NOT NULL without a DEFAULT fails if the table has rows.")
    if has_default and any(isinstance(k, exp.Reference) for k in kinds):
        return _C("unsafe", f"{name} has a DEFAULT that may not match the referenced table.")
    if has_default or fills_itself:
        return _C("safe", f"{name} gives existing rows a value, so it is additive.")
    return _C("safe", f"{name} is nullable, so it is additive.")


_DROP_ACTION_UNSAFE: Final = frozenset(
    {"CONSTRAINT", "FOREIGN KEY", "CHECK", "PRIMARY KEY", "UNIQUE"}
)


def _drop_action(drop: exp.Drop, table: str, ctx: Reading) -> Classification:
    kind = str(drop.args.get("kind") or "").upper()
    names = [node_name(t) for t in drop.args.get("tables") or []]
    if kind == "COLUMN":
        columns = ", ".join(f"{table}.{name}" for name in names)
        return _C("destructive", f"DROP COLUMN {columns} loses the column's data.")
    if kind in ("INDEX", "KEY"):  # MySQL's form of DROP INDEX
        what = f"DROP {kind} {', '.join(names)} on {table}"
        return _C("safe", f"{what} loses no data, though queries that used it may get slower.")
    if kind in _DROP_ACTION_UNSAFE:
        what = f"DROP {kind} {', '.join(names)} on {table}"
        return _C("unsafe", f"{what} can break queries or guarantees but loses no data.")
    return unanalysable(f"The ALTER TABLE {table} action DROP {kind}")


def _alter_column(action: exp.AlterColumn, table: str, ctx: Reading) -> Classification:
    column, args = f"{table}.{action.name}", action.args
    if isinstance(args.get("dtype"), exp.DataType):
        return _type_change(column, args["dtype"], ctx, args.get("using"))
    if args.get("allow_null") is False:
        return _C("unsafe", f"SET NOT NULL on {column} fails if any row holds NULL.")
    if args.get("allow_null") is True:
        return _C("safe", f"DROP NOT NULL on {column} only relaxes a constraint.")
    if args.get("default") is not None or args.get("drop"):
        return _C("safe", f"Changing the DEFAULT of {column} only affects future inserts.")
    if args.get("comment") is not None:
        return _C("safe", f"Changing the comment of {column} only changes documentation.")
    if args.get("visible") or args.get("rename_to"):
        return _C("unsafe", f"Hiding or renaming {column} can break queries that use it.")
    return unanalysable(f"The ALTER COLUMN form on {column}")


def _modify_column(action: exp.ModifyColumn, table: str, ctx: Reading) -> Classification:
    definition, renamed_from = action.this, action.args.get("rename_from")
    old_name = renamed_from.name if isinstance(renamed_from, exp.Expr) else definition.name
    verb = "CHANGE COLUMN" if isinstance(renamed_from, exp.Expr) else "MODIFY COLUMN"
    column = f"{table}.{old_name}"
    parts: list[Classification] = []
    if old_name.casefold() != definition.name.casefold():
        parts.append(_C("unsafe", f"Renaming column {column} to {definition.name} can break code."))
    if isinstance(definition.args.get("kind"), exp.DataType):
        parts.append(_type_change(column, definition.args["kind"], ctx))
    # NOT NULL the column already had is no new demand; dropping it only relaxes one.
    if _is_not_null([c.kind for c in definition.constraints]) and ctx.old_nullable is not False:
        parts.append(_C("unsafe", f"{verb} {column} NOT NULL fails if any row holds NULL."))
    return worst(parts) or _C("safe", f"{verb} {column} restates the column unchanged.")


_PLAIN_ACTIONS: Final[dict[type[exp.Expr], tuple[Risk, str]]] = {
    exp.RenameColumn: ("unsafe", "Renaming column {table}.{name} to {target} can break queries."),
    exp.AlterRename: ("unsafe", "Renaming {kind} {table} to {target} can break queries."),
    exp.RenameIndex: ("unsafe", "Renaming index {name} on {table} can break index hints."),
    exp.AlterIndex: ("unsafe", "Changing index {name} on {table} can slow queries."),
    exp.DropPrimaryKey: ("unsafe", "Dropping the primary key of {table} removes a guarantee."),
}


def _plain_action(action: exp.Expr, table: str, ctx: Reading) -> Classification:
    risk, template = _PLAIN_ACTIONS[type(action)]
    kind = str(action.parent.args.get("kind") if action.parent else "TABLE").lower()
    target = node_name(action.args.get("to") or action.this)
    name = node_name(action.this)
    return _C(risk, template.format(table=table, name=name, target=target, kind=kind))


_CONSTRAINT_RISKS: Final[tuple[tuple[tuple[type[exp.Expr], ...], Risk, str], ...]] = (
    ((exp.UniqueColumnConstraint,), "unsafe", "UNIQUE on {} fails if rows hold duplicates"),
    ((exp.ForeignKey, exp.Reference), "unsafe", "FOREIGN KEY on {} fails on orphan rows"),
    ((exp.CheckColumnConstraint,), "unsafe", "CHECK on {} fails if rows violate it"),
    ((exp.PrimaryKey, exp.PrimaryKeyColumnConstraint), "unsafe", "PRIMARY KEY on {} can fail"),
    ((exp.IndexColumnConstraint,), "safe", "INDEX on {} only adds a non-unique index"),
)


def _add_constraint(action: exp.AddConstraint, table: str, ctx: Reading) -> Classification:
    results: list[Classification] = []
    for node in action.expressions:
        inner = node.expressions if isinstance(node, exp.Constraint) else [node]
        found = next(
            (c for c in _CONSTRAINT_RISKS if any(isinstance(i, c[0]) for i in inner)), None
        )
        risk, text = found[1:] if found else ("unsafe", "CONSTRAINT on {} can fail on old rows")
        results.append(_C(risk, f"ADD {text.format(table)}."))
    return worst(results) or unanalysable(f"The ADD CONSTRAINT on {table}")


_ACTIONS: Final[dict[type[exp.Expr], Callable[[Any, str, Reading], Classification]]] = {
    exp.ColumnDef: _add_column,
    exp.Drop: _drop_action,
    exp.AlterColumn: _alter_column,
    exp.ModifyColumn: _modify_column,
    exp.AddConstraint: _add_constraint,
    **dict.fromkeys(_PLAIN_ACTIONS, _plain_action),
}
_SAFE_OPTIONS: Final[dict[type[exp.Expr], str]] = {
    exp.SchemaCommentProperty: "only changes documentation",
    exp.AutoIncrementProperty: "only affects future ids",
}


def _alter(stmt: exp.Alter, ctx: Reading) -> Classification:
    kind, table = str(stmt.args.get("kind") or "TABLE").upper(), node_name(stmt.this)
    results: list[Classification] = []
    for action in stmt.args.get("actions") or []:
        handler = _ACTIONS.get(type(action))
        what = f"The ALTER {kind} {table} action {type(action).__name__}"
        results.append(handler(action, table, ctx) if handler else unanalysable(what))
    for option in stmt.args.get("options") or []:
        text, option_sql = _SAFE_OPTIONS.get(type(option)), option.sql(ctx.read)
        results.append(
            _C("safe", f"Setting {option_sql} on {table} {text}.")
            if text
            else unanalysable(f"The table option {option_sql} on {table}")
        )
    return worst(results) or unanalysable(f"ALTER {kind} {table} without a known action")


# --------------------------------------------------------------------------- other statements

_DROP_RISKS: Final[dict[str, tuple[Risk, str]]] = {
    "TABLE": ("destructive", "loses all stored rows"),
    "SCHEMA": ("destructive", "loses every object and row in it"),
    "DATABASE": ("destructive", "loses every object and row in it"),
    "SEQUENCE": ("destructive", "loses the sequence's current value"),
    "VIEW": ("unsafe", "can break queries that use it but loses no stored data"),
    "INDEX": ("safe", "loses no data, though queries that used it may get slower"),
    "FUNCTION": ("unsafe", "can break code that calls it"),
    "PROCEDURE": ("unsafe", "can break code that calls it"),
    "TRIGGER": ("unsafe", "changes what future writes do"),
    "TYPE": ("unsafe", "fails while columns still use it"),
    "DOMAIN": ("unsafe", "fails while columns still use it"),
}


def _drop(stmt: exp.Drop, ctx: Reading) -> Classification:
    kind = str(stmt.args.get("kind") or "").upper()
    label = f"MATERIALIZED {kind}" if stmt.args.get("materialized") else kind
    what = f"DROP {label} {', '.join(node_name(t) for t in stmt.args.get('tables') or [])}"
    if kind not in _DROP_RISKS:
        return unanalysable(what)
    risk, text = _DROP_RISKS[kind]
    if stmt.args.get("cascade") and risk == "unsafe" and kind not in ("VIEW", "INDEX"):
        # PostgreSQL's CASCADE on a type or function also drops columns that depend on it.
        return _C("destructive", f"{what} CASCADE can drop dependent columns with their data.")
    return _C(risk, f"{what} {text}.")


_CREATE_KINDS: Final = frozenset(
    {"SCHEMA", "DATABASE", "VIEW", "SEQUENCE", "TYPE", "DOMAIN", "FUNCTION", "PROCEDURE"}
)


def _create(stmt: exp.Create, ctx: Reading) -> Classification:
    kind, replace = str(stmt.args.get("kind") or "").upper(), stmt.args.get("replace")
    name = node_name(stmt.this)
    if kind == "INDEX":
        where = f"{stmt.this.name} on {node_name(stmt.this.args.get('table'))}"
        if stmt.args.get("unique"):
            return _C("unsafe", f"CREATE UNIQUE INDEX {where} fails if rows hold duplicates.")
        return _C("safe", f"CREATE INDEX {where} only adds an index.")
    if kind == "TABLE" and replace:
        return _C("destructive", f"CREATE OR REPLACE TABLE {name} drops the existing rows.")
    if kind == "TRIGGER":
        return _C("unsafe", f"CREATE TRIGGER {name} changes what future writes do.")
    if kind not in _CREATE_KINDS | {"TABLE"}:
        return unanalysable(f"CREATE {kind} {name}")
    if replace:
        return _C("unsafe", f"CREATE OR REPLACE {kind} {name} changes a definition in use.")
    return _C("safe", f"CREATE {kind} {name} is additive.")


def _nested_writes(stmt: exp.Expr, ctx: Reading) -> Classification | None:
    # PostgreSQL allows INSERT/UPDATE/DELETE inside the WITH clause of a query.
    nested = stmt.find_all(exp.Insert, exp.Update, exp.Delete, exp.Merge)
    return worst(classify_statement(node, ctx) for node in nested if node is not stmt)


def _insert(stmt: exp.Insert, ctx: Reading) -> Classification:
    table, conflict = node_name(stmt.this), stmt.args.get("conflict")
    overwrites = isinstance(conflict, exp.OnConflict) and (
        conflict.args.get("duplicate") or conflict.args.get("expressions")
    )
    if overwrites or stmt.args.get("alternative") == "REPLACE":
        return _C("destructive", f"INSERT INTO {table} overwrites existing rows on conflict.")
    nested = _nested_writes(stmt, ctx)
    if nested is not None and nested.risk == "destructive":
        return nested
    if table.casefold().startswith(REBUILD_PREFIX) and isinstance(stmt.expression, exp.Select):
        return _C("safe", f"INSERT INTO {table} copies rows into a temporary rebuild table.")
    return _C("unsafe", f"INSERT INTO {table} writes rows and can fail on constraints.")


def _query(stmt: exp.Query, ctx: Reading) -> Classification:
    if stmt.args.get("into"):
        reads = _C("safe", "SELECT INTO only creates a new table from existing rows.")
    else:
        reads = _C("safe", "A SELECT query only reads data.")
    return _nested_writes(stmt, ctx) or reads


def _fixed(risk: Risk, template: str) -> Callable[[Any, Reading], Classification]:
    def judge(stmt: exp.Expr, ctx: Reading) -> Classification:
        targets = [stmt.this] if isinstance(stmt.this, exp.Expr) else stmt.expressions
        return _C(risk, template.format(", ".join(node_name(t) for t in targets)))

    return judge


_STATEMENTS: Final[dict[type[exp.Expr], Callable[[Any, Reading], Classification]]] = {
    exp.Alter: _alter,
    exp.Drop: _drop,
    exp.Create: _create,
    exp.Insert: _insert,
    exp.Query: _query,
    exp.Delete: _fixed("destructive", "DELETE FROM {} removes rows."),
    exp.Update: _fixed("destructive", "UPDATE {} overwrites existing values."),
    exp.Merge: _fixed("destructive", "MERGE INTO {} can overwrite or delete rows."),
    exp.TruncateTable: _fixed("destructive", "TRUNCATE {} deletes every row."),
    exp.Comment: _fixed("safe", "COMMENT only changes documentation."),
    exp.Transaction: _fixed("safe", "Starting a transaction does not change data."),
    exp.Commit: _fixed("safe", "COMMIT does not change data by itself."),
    exp.Rollback: _fixed("safe", "ROLLBACK only discards uncommitted changes."),
    exp.Set: _fixed("safe", "SET only changes session settings."),
    exp.Use: _fixed("safe", "USE only selects the default database."),
    exp.Grant: _fixed("safe", "GRANT only adds privileges."),
    exp.Revoke: _fixed("unsafe", "REVOKE can break code that relied on the privileges."),
    exp.Pragma: _fixed("unsafe", "PRAGMA changes database behaviour such as key enforcement."),
}

# --------------------------------------------------------------------------- raw commands


def _command(stmt: exp.Command, ctx: Reading) -> Classification:
    head, rest = str(stmt.this).upper(), stmt.expression
    text = rest.name if isinstance(rest, exp.Expr) else str(rest or "")
    verdict = command_verdict(head, text, ctx.read)
    if verdict is None:
        return unanalysable(f"The statement {_snippet(f'{head} {text}')!r} (untyped by sqlglot)")
    return _C(*verdict)


# --------------------------------------------------------------------------- core


def classify_statement(stmt: exp.Expr, ctx: Reading) -> Classification:
    """The risk of one parsed statement."""
    if isinstance(stmt, exp.Command):
        return _command(stmt, ctx)
    handler = next((_STATEMENTS[c] for c in type(stmt).__mro__ if c in _STATEMENTS), None)
    if handler is not None:
        return handler(stmt, ctx)
    what = f"The statement {_snippet(stmt.sql(ctx.read))!r} (parsed as {type(stmt).__name__})"
    return unanalysable(what)


def parse(sql: str, ctx: Reading) -> list[exp.Expr] | Classification:
    """The statements of ``sql``, or the verdict on SQL sqlglot cannot parse."""
    try:
        # IMMEDIATE raises instead of returning a partial tree that would hide statements.
        parsed = sqlglot.parse(sql, read=ctx.read, error_level=ErrorLevel.IMMEDIATE)
    except SqlglotError:
        return unanalysable("The SQL is not valid for sqlglot and")
    return [stmt for stmt in parsed if stmt is not None]


def reading(dialect: Dialect, from_type: str | None = None) -> Reading:
    """How to read statements on ``dialect``; ``from_type``: the old type of a column
    whose type they change, optionally followed by its old nullability."""
    old_type: exp.DataType | None = None
    old_nullable: bool | None = None
    if from_type is not None:
        found = _NULLABILITY.match(from_type)
        if found is not None:
            from_type, old_nullable = found["type"], found["not"] is None
        try:
            old_type = exp.DataType.build(from_type, dialect=dialect.sqlglot_name)
        except SqlglotError:
            old_type = None  # reported by _type_change if a type change needs it
    return Reading(dialect.sqlglot_name, dialect.type_rules, from_type, old_type, old_nullable)


# "VARCHAR(10) NOT NULL" / "INT NULL": the old type with the column's old nullability.
_NULLABILITY: Final = re.compile(r"^\s*(?P<type>.*?)\s+(?P<not>NOT\s+)?NULL\s*$", re.IGNORECASE)
