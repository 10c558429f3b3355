"""Judge migration SQL by the risk it poses to data already in the database.

Every statement is parsed with sqlglot and judged from its syntax tree, never from its
text, so a table called ``drop_log`` or a string literal holding ``'DROP TABLE x'`` cannot
fool the sentinel.  Whatever sqlglot cannot type is treated as destructive.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

import sqlglot
from sqlglot import exp
from sqlglot.errors import ErrorLevel, SqlglotError

from .shapes import command_verdict
from .widening import widens

__all__ = ["Classification", "Risk", "classify", "classify_many"]

Risk = Literal["safe", "unsafe", "destructive"]

_RANK: Final[dict[Risk, int]] = {"safe": 0, "unsafe": 1, "destructive": 2}
_DIALECTS: Final[dict[str, str]] = {"postgresql": "postgres", "sqlite": "sqlite", "mysql": "mysql"}
# Alembic's batch mode on SQLite rebuilds a table through a copy with this prefix.
_TMP_PREFIX: Final = "_alembic_tmp_"
_T = exp.DataType.Type


@dataclass(frozen=True, slots=True)
class Classification:
    """The risk of some SQL and one sentence explaining it."""

    risk: Risk
    reason: str


_C = Classification
_NO_STATEMENT: Final = _C("safe", "The SQL holds no statement, so there is nothing to run.")


@dataclass(frozen=True, slots=True)
class _Context:
    dialect: str
    from_type: str | None
    old_type: exp.DataType | None
    old_nullable: bool | None = None  # from a from_type ending in NULL / NOT NULL


def _worst(items: Iterable[Classification]) -> Classification | None:
    # max() keeps the first of equal items, so the earliest statement's reason wins a tie.
    return max(items, key=lambda item: _RANK[item.risk], default=None)


def _snippet(text: str, limit: int = 60) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def _name(node: Any) -> str:
    if isinstance(node, exp.Schema):
        node = node.this
    if isinstance(node, exp.Table):
        return ".".join(part.name for part in node.parts) or "?"
    return (node.name or node.sql()) if isinstance(node, exp.Expr) else "?"


def _unanalysable(what: str) -> Classification:
    return _C("destructive", f"{what} could not be analysed, so it is treated as destructive.")


def _plain_using(using: Any, column: str, new: exp.DataType) -> bool:
    """A USING that merely casts the column converts like no USING at all."""
    if not isinstance(using, exp.Expr):
        return True
    if isinstance(using, exp.Cast) and using.to == new:
        using = using.this
    return isinstance(using, exp.Column) and using.name.casefold() == column.casefold()


def _type_change(
    column: str, new: exp.DataType, ctx: _Context, using: Any = None
) -> Classification:
    # SQLite would render VARCHAR(10) as TEXT(10); the generic spelling reads better there.
    spelling = None if ctx.dialect == "sqlite" else ctx.dialect
    target = new.sql(spelling)
    if not _plain_using(using, column.rsplit(".", 1)[-1], new):
        return _C(
            "destructive",
            f"Changing {column} to {target} rewrites every value with a USING expression.",
        )
    if ctx.from_type is None:
        return _C("destructive", f"Changing {column} to {target} can lose data: old type unknown.")
    if ctx.old_type is None:
        return _unanalysable(f"Changing {column} from the unparsable type {ctx.from_type!r}")
    source = ctx.old_type.sql(spelling)
    if ctx.old_type == new:
        return _C("safe", f"Column {column} keeps its type {target}, so no value changes.")
    if widens(ctx.old_type, new, ctx.dialect):
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


def _add_column(column: exp.ColumnDef, table: str, ctx: _Context) -> Classification:
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


def _drop_action(drop: exp.Drop, table: str, ctx: _Context) -> Classification:
    kind = str(drop.args.get("kind") or "").upper()
    names = [_name(t) for t in drop.args.get("tables") or []]
    if kind == "COLUMN":
        columns = ", ".join(f"{table}.{name}" for name in names)
        return _C("destructive", f"DROP COLUMN {columns} loses the column's data.")
    if kind in ("INDEX", "KEY"):  # MySQL's form of DROP INDEX
        what = f"DROP {kind} {', '.join(names)} on {table}"
        return _C("safe", f"{what} loses no data, though queries that used it may get slower.")
    if kind in _DROP_ACTION_UNSAFE:
        what = f"DROP {kind} {', '.join(names)} on {table}"
        return _C("unsafe", f"{what} can break queries or guarantees but loses no data.")
    return _unanalysable(f"The ALTER TABLE {table} action DROP {kind}")


def _alter_column(action: exp.AlterColumn, table: str, ctx: _Context) -> Classification:
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
    return _unanalysable(f"The ALTER COLUMN form on {column}")


def _modify_column(action: exp.ModifyColumn, table: str, ctx: _Context) -> Classification:
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
    return _worst(parts) or _C("safe", f"{verb} {column} restates the column unchanged.")


_PLAIN_ACTIONS: Final[dict[type[exp.Expr], tuple[Risk, str]]] = {
    exp.RenameColumn: ("unsafe", "Renaming column {table}.{name} to {target} can break queries."),
    exp.AlterRename: ("unsafe", "Renaming {kind} {table} to {target} can break queries."),
    exp.RenameIndex: ("unsafe", "Renaming index {name} on {table} can break index hints."),
    exp.AlterIndex: ("unsafe", "Changing index {name} on {table} can slow queries."),
    exp.DropPrimaryKey: ("unsafe", "Dropping the primary key of {table} removes a guarantee."),
}


def _plain_action(action: exp.Expr, table: str, ctx: _Context) -> Classification:
    risk, template = _PLAIN_ACTIONS[type(action)]
    kind = str(action.parent.args.get("kind") if action.parent else "TABLE").lower()
    target = _name(action.args.get("to") or action.this)
    name = _name(action.this)
    return _C(risk, template.format(table=table, name=name, target=target, kind=kind))


_CONSTRAINT_RISKS: Final[tuple[tuple[tuple[type[exp.Expr], ...], Risk, str], ...]] = (
    ((exp.UniqueColumnConstraint,), "unsafe", "UNIQUE on {} fails if rows hold duplicates"),
    ((exp.ForeignKey, exp.Reference), "unsafe", "FOREIGN KEY on {} fails on orphan rows"),
    ((exp.CheckColumnConstraint,), "unsafe", "CHECK on {} fails if rows violate it"),
    ((exp.PrimaryKey, exp.PrimaryKeyColumnConstraint), "unsafe", "PRIMARY KEY on {} can fail"),
    ((exp.IndexColumnConstraint,), "safe", "INDEX on {} only adds a non-unique index"),
)


def _add_constraint(action: exp.AddConstraint, table: str, ctx: _Context) -> Classification:
    results: list[Classification] = []
    for node in action.expressions:
        inner = node.expressions if isinstance(node, exp.Constraint) else [node]
        found = next(
            (c for c in _CONSTRAINT_RISKS if any(isinstance(i, c[0]) for i in inner)), None
        )
        risk, text = found[1:] if found else ("unsafe", "CONSTRAINT on {} can fail on old rows")
        results.append(_C(risk, f"ADD {text.format(table)}."))
    return _worst(results) or _unanalysable(f"The ADD CONSTRAINT on {table}")


_ACTIONS: Final[dict[type[exp.Expr], Callable[[Any, str, _Context], Classification]]] = {
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


def _alter(stmt: exp.Alter, ctx: _Context) -> Classification:
    kind, table = str(stmt.args.get("kind") or "TABLE").upper(), _name(stmt.this)
    results: list[Classification] = []
    for action in stmt.args.get("actions") or []:
        handler = _ACTIONS.get(type(action))
        what = f"The ALTER {kind} {table} action {type(action).__name__}"
        results.append(handler(action, table, ctx) if handler else _unanalysable(what))
    for option in stmt.args.get("options") or []:
        text, option_sql = _SAFE_OPTIONS.get(type(option)), option.sql(ctx.dialect)
        results.append(
            _C("safe", f"Setting {option_sql} on {table} {text}.")
            if text
            else _unanalysable(f"The table option {option_sql} on {table}")
        )
    return _worst(results) or _unanalysable(f"ALTER {kind} {table} without a known action")


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


def _drop(stmt: exp.Drop, ctx: _Context) -> Classification:
    kind = str(stmt.args.get("kind") or "").upper()
    label = f"MATERIALIZED {kind}" if stmt.args.get("materialized") else kind
    what = f"DROP {label} {', '.join(_name(t) for t in stmt.args.get('tables') or [])}"
    if kind not in _DROP_RISKS:
        return _unanalysable(what)
    risk, text = _DROP_RISKS[kind]
    if stmt.args.get("cascade") and risk == "unsafe" and kind not in ("VIEW", "INDEX"):
        # PostgreSQL's CASCADE on a type or function also drops columns that depend on it.
        return _C("destructive", f"{what} CASCADE can drop dependent columns with their data.")
    return _C(risk, f"{what} {text}.")


_CREATE_KINDS: Final = frozenset(
    {"SCHEMA", "DATABASE", "VIEW", "SEQUENCE", "TYPE", "DOMAIN", "FUNCTION", "PROCEDURE"}
)


def _create(stmt: exp.Create, ctx: _Context) -> Classification:
    kind, replace = str(stmt.args.get("kind") or "").upper(), stmt.args.get("replace")
    name = _name(stmt.this)
    if kind == "INDEX":
        where = f"{stmt.this.name} on {_name(stmt.this.args.get('table'))}"
        if stmt.args.get("unique"):
            return _C("unsafe", f"CREATE UNIQUE INDEX {where} fails if rows hold duplicates.")
        return _C("safe", f"CREATE INDEX {where} only adds an index.")
    if kind == "TABLE" and replace:
        return _C("destructive", f"CREATE OR REPLACE TABLE {name} drops the existing rows.")
    if kind == "TRIGGER":
        return _C("unsafe", f"CREATE TRIGGER {name} changes what future writes do.")
    if kind not in _CREATE_KINDS | {"TABLE"}:
        return _unanalysable(f"CREATE {kind} {name}")
    if replace:
        return _C("unsafe", f"CREATE OR REPLACE {kind} {name} changes a definition in use.")
    return _C("safe", f"CREATE {kind} {name} is additive.")


def _nested_writes(stmt: exp.Expr, ctx: _Context) -> Classification | None:
    # PostgreSQL allows INSERT/UPDATE/DELETE inside the WITH clause of a query.
    nested = stmt.find_all(exp.Insert, exp.Update, exp.Delete, exp.Merge)
    return _worst(_classify_statement(node, ctx) for node in nested if node is not stmt)


def _insert(stmt: exp.Insert, ctx: _Context) -> Classification:
    table, conflict = _name(stmt.this), stmt.args.get("conflict")
    overwrites = isinstance(conflict, exp.OnConflict) and (
        conflict.args.get("duplicate") or conflict.args.get("expressions")
    )
    if overwrites or stmt.args.get("alternative") == "REPLACE":
        return _C("destructive", f"INSERT INTO {table} overwrites existing rows on conflict.")
    nested = _nested_writes(stmt, ctx)
    if nested is not None and nested.risk == "destructive":
        return nested
    if table.casefold().startswith(_TMP_PREFIX) and isinstance(stmt.expression, exp.Select):
        return _C("safe", f"INSERT INTO {table} copies rows into a temporary rebuild table.")
    return _C("unsafe", f"INSERT INTO {table} writes rows and can fail on constraints.")


def _query(stmt: exp.Query, ctx: _Context) -> Classification:
    if stmt.args.get("into"):
        reads = _C("safe", "SELECT INTO only creates a new table from existing rows.")
    else:
        reads = _C("safe", "A SELECT query only reads data.")
    return _nested_writes(stmt, ctx) or reads


def _fixed(risk: Risk, template: str) -> Callable[[Any, _Context], Classification]:
    def judge(stmt: exp.Expr, ctx: _Context) -> Classification:
        targets = [stmt.this] if isinstance(stmt.this, exp.Expr) else stmt.expressions
        return _C(risk, template.format(", ".join(_name(t) for t in targets)))

    return judge


_STATEMENTS: Final[dict[type[exp.Expr], Callable[[Any, _Context], Classification]]] = {
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


def _command(stmt: exp.Command, ctx: _Context) -> Classification:
    head, rest = str(stmt.this).upper(), stmt.expression
    text = rest.name if isinstance(rest, exp.Expr) else str(rest or "")
    verdict = command_verdict(head, text, ctx.dialect)
    if verdict is None:
        return _unanalysable(f"The statement {_snippet(f'{head} {text}')!r} (untyped by sqlglot)")
    return _C(*verdict)


# --------------------------------------------------------------------------- core


def _classify_statement(stmt: exp.Expr, ctx: _Context) -> Classification:
    if isinstance(stmt, exp.Command):
        return _command(stmt, ctx)
    handler = next((_STATEMENTS[c] for c in type(stmt).__mro__ if c in _STATEMENTS), None)
    if handler is not None:
        return handler(stmt, ctx)
    what = f"The statement {_snippet(stmt.sql(ctx.dialect))!r} (parsed as {type(stmt).__name__})"
    return _unanalysable(what)


def _parse(sql: str, dialect: str) -> list[exp.Expr] | Classification:
    try:
        # IMMEDIATE raises instead of returning a partial tree that would hide statements.
        parsed = sqlglot.parse(sql, read=dialect, error_level=ErrorLevel.IMMEDIATE)
    except SqlglotError:
        return _unanalysable("The SQL is not valid for sqlglot and")
    return [stmt for stmt in parsed if stmt is not None]


def _context(dialect: str, from_type: str | None) -> _Context:
    if dialect not in _DIALECTS:
        # The only place an unsupported dialect is rejected; swap for ConfigError here.
        known = ", ".join(sorted(_DIALECTS))
        raise ValueError(f"Unsupported SQL dialect {dialect!r}; expected one of: {known}.")
    sg_dialect = _DIALECTS[dialect]
    old_type: exp.DataType | None = None
    old_nullable: bool | None = None
    if from_type is not None:
        found = _NULLABILITY.match(from_type)
        if found is not None:
            from_type, old_nullable = found["type"], found["not"] is None
        try:
            old_type = exp.DataType.build(from_type, dialect=sg_dialect)
        except SqlglotError:
            old_type = None  # reported by _type_change if a type change needs it
    return _Context(sg_dialect, from_type, old_type, old_nullable)


# "VARCHAR(10) NOT NULL" / "INT NULL": the old type with the column's old nullability.
_NULLABILITY: Final = re.compile(r"^\s*(?P<type>.*?)\s+(?P<not>NOT\s+)?NULL\s*$", re.IGNORECASE)


# --------------------------------------------------------------------------- table rebuilds


def _tmp_suffix(name: str) -> str:
    folded = name.casefold()
    return folded[len(_TMP_PREFIX) :] if folded.startswith(_TMP_PREFIX) else ""


def _rebuild_step(stmt: exp.Expr) -> tuple[str, str] | None:
    """Which step of an Alembic batch rebuild ``stmt`` is, and for which table."""
    suffix = _tmp_suffix(_name(stmt.this))
    kind = str(stmt.args.get("kind") or "").upper()
    if isinstance(stmt, exp.Create) and kind == "TABLE" and suffix:
        return "create", suffix
    if isinstance(stmt, exp.Insert) and isinstance(stmt.expression, exp.Select) and suffix:
        source = stmt.expression.args.get("from_")
        copies = isinstance(source, exp.From) and _name(source.this).casefold() == suffix
        return ("insert", suffix) if copies and not stmt.expression.args.get("joins") else None
    if isinstance(stmt, exp.Alter) and suffix and len(stmt.args.get("actions") or []) == 1:
        action = stmt.args["actions"][0]
        renamed = isinstance(action, exp.AlterRename) and _name(action.this).casefold() == suffix
        return ("rename", suffix) if renamed else None
    tables = stmt.args.get("tables") or []
    if isinstance(stmt, exp.Drop) and kind == "TABLE" and len(tables) == 1:
        return "drop", _name(tables[0]).casefold()
    return None


def _judge_rebuild(
    table: str, select: exp.Select, old_columns: Mapping[str, Sequence[str]] | None
) -> Classification:
    known = {key.casefold(): list(cols) for key, cols in (old_columns or {}).items()}
    old = known.get(table.casefold())
    what = f"DROP TABLE {table} ends a rebuild of {table}"
    if old is None:
        return _C("destructive", f"{what} whose old columns are unknown, so data may be lost.")
    kept: set[str] = set()
    converted: set[str] = set()
    for projection in (p.unalias() for p in select.expressions):
        if projection.is_star:
            kept.update(column.casefold() for column in old)
        elif isinstance(projection, exp.Column):
            kept.add(projection.name.casefold())
        else:
            converted.update(c.name.casefold() for c in projection.find_all(exp.Column))
    lost = [c for c in old if c.casefold() not in kept | converted]
    changed = [c for c in old if c.casefold() in converted - kept]
    if lost:
        return _C("destructive", f"{what} that does not copy {', '.join(lost)}, losing that data.")
    if changed:
        return _C("destructive", f"{what} that converts {', '.join(changed)}, which can lose data.")
    return _C("safe", f"{what} that copies every column, so the table is rebuilt keeping its data.")


def _rebuild_overrides(
    stmts: Sequence[exp.Expr], old_columns: Mapping[str, Sequence[str]] | None
) -> dict[int, Classification]:
    steps = [_rebuild_step(stmt) for stmt in stmts]
    overrides: dict[int, Classification] = {}
    for index, step in enumerate(steps):
        if step is None or step[0] != "drop":
            continue
        earlier = [i for i in range(index) if steps[i] == ("insert", step[1])]
        insert = earlier[-1] if earlier else -1
        created = ("create", step[1]) in steps[:insert] if insert >= 0 else False
        later = [i for i in range(index + 1, len(steps)) if steps[i] == ("rename", step[1])]
        if not (created and later):
            continue
        table = _name(stmts[index].args["tables"][0])
        overrides[index] = _judge_rebuild(table, stmts[insert].expression, old_columns)
        overrides[later[0]] = _C("safe", f"Renaming the copy back to {table} ends its rebuild.")
    return overrides


def _classify_batches(
    batches: Sequence[list[exp.Expr] | Classification],
    ctx: _Context,
    old_columns: Mapping[str, Sequence[str]] | None,
) -> list[Classification]:
    flat = [
        (owner, stmt)
        for owner, batch in enumerate(batches)
        if not isinstance(batch, Classification)
        for stmt in batch
    ]
    overrides = _rebuild_overrides([stmt for _, stmt in flat], old_columns)
    found: list[list[Classification]] = [[] for _ in batches]
    for index, (owner, stmt) in enumerate(flat):
        found[owner].append(overrides.get(index) or _classify_statement(stmt, ctx))
    return [
        batch if isinstance(batch, Classification) else (_worst(results) or _NO_STATEMENT)
        for batch, results in zip(batches, found, strict=True)
    ]


def classify(sql: str, dialect: str, *, from_type: str | None = None) -> Classification:
    """Classify ``sql`` (one or more statements) by its worst risk to existing data.

    ``dialect`` is ``"postgresql"``, ``"sqlite"`` or ``"mysql"`` (MariaDB included);
    ``from_type`` is the old SQL type of a column whose type the statement changes,
    optionally followed by its old nullability (``"VARCHAR(10) NOT NULL"``): MySQL's
    ``MODIFY`` restates the whole column, and only what differs from the old one counts.

    >>> classify("ALTER TABLE posts DROP COLUMN body", "postgresql").risk
    'destructive'
    >>> classify("ALTER TABLE t ALTER COLUMN c TYPE BIGINT", "postgresql", from_type="INT").risk
    'safe'
    >>> classify("ALTER TABLE t MODIFY c BIGINT NOT NULL", "mysql", from_type="INT NOT NULL").risk
    'safe'
    """
    ctx = _context(dialect, from_type)
    return _classify_batches([_parse(sql, ctx.dialect)], ctx, None)[0]


def classify_many(
    statements: Sequence[str],
    dialect: str,
    *,
    old_columns: Mapping[str, Sequence[str]] | None = None,
) -> list[Classification]:
    """Classify each SQL string, recognising Alembic's SQLite table-rebuild sequence.

    In ``CREATE TABLE _alembic_tmp_T``, ``INSERT INTO _alembic_tmp_T (...) SELECT ... FROM
    T``, ``DROP TABLE T``, ``ALTER TABLE _alembic_tmp_T RENAME TO T`` the drop is safe only
    when ``old_columns`` (table -> column names) knows T and every old column is copied.

    >>> steps = [
    ...     "CREATE TABLE _alembic_tmp_t (id INTEGER, name TEXT)",
    ...     "INSERT INTO _alembic_tmp_t (id, name) SELECT t.id, t.name FROM t",
    ...     "DROP TABLE t",
    ...     "ALTER TABLE _alembic_tmp_t RENAME TO t",
    ... ]
    >>> [c.risk for c in classify_many(steps, "sqlite", old_columns={"t": ["id", "name"]})]
    ['safe', 'safe', 'safe', 'safe']
    """
    ctx = _context(dialect, None)
    return _classify_batches([_parse(sql, ctx.dialect) for sql in statements], ctx, old_columns)
