"""The sentinel judges migration SQL from sqlglot's syntax tree, dialect by dialect."""

from __future__ import annotations

import dataclasses
import re

import pytest

from deesse_async.dialects import DIALECTS, Backend
from deesse_async.sync.sentinel import Classification, classify, classify_many

PG, LITE, MY = "postgresql", "sqlite", "mysql"

# (dialect, sql, expected risk, a word the reason must contain)
CORPUS: list[tuple[str, str, str, str]] = [
    # --- destructive: data can be lost
    (PG, "DROP TABLE users", "destructive", "users"),
    (LITE, "DROP TABLE IF EXISTS users", "destructive", "rows"),
    (MY, "DROP TABLE a, b", "destructive", "a, b"),
    (PG, "ALTER TABLE posts DROP COLUMN body", "destructive", "posts.body"),
    (LITE, "ALTER TABLE posts DROP COLUMN body", "destructive", "posts.body"),
    (MY, "ALTER TABLE posts DROP COLUMN body", "destructive", "posts.body"),
    (MY, "ALTER TABLE posts DROP body", "destructive", "posts.body"),
    (PG, "ALTER TABLE IF EXISTS posts DROP COLUMN IF EXISTS body", "destructive", "body"),
    (PG, "ALTER TABLE posts ADD COLUMN x INT, DROP COLUMN body", "destructive", "body"),
    (MY, "ALTER TABLE posts ADD COLUMN x INT, DROP COLUMN body", "destructive", "body"),
    (PG, "TRUNCATE TABLE logs", "destructive", "logs"),
    (MY, "TRUNCATE logs", "destructive", "every row"),
    (PG, "DELETE FROM logs WHERE id < 10", "destructive", "logs"),
    (LITE, "DELETE FROM logs", "destructive", "removes rows"),
    (MY, "DELETE t FROM t JOIN u ON t.id = u.id", "destructive", "removes rows"),
    (PG, "UPDATE users SET name = 'x'", "destructive", "overwrites"),
    (LITE, "UPDATE users SET name = 'x' WHERE id = 1", "destructive", "overwrites"),
    (PG, "DROP SCHEMA app CASCADE", "destructive", "app"),
    (MY, "DROP DATABASE app", "destructive", "app"),
    (PG, "DROP SEQUENCE ids", "destructive", "sequence"),
    (PG, "DROP TYPE mood CASCADE", "destructive", "cascade"),
    (PG, "ALTER TABLE t ALTER COLUMN c TYPE BIGINT USING c::bigint", "destructive", "unknown"),
    (MY, "ALTER TABLE t MODIFY COLUMN c VARCHAR(10) NOT NULL", "destructive", "unknown"),
    (MY, "ALTER TABLE t CHANGE COLUMN a b INT", "destructive", "unknown"),
    (PG, "INSERT INTO t (a) VALUES (1) ON CONFLICT (a) DO UPDATE SET a = 2", "destructive", "over"),
    (MY, "INSERT INTO t (a) VALUES (1) ON DUPLICATE KEY UPDATE a = 2", "destructive", "over"),
    (LITE, "INSERT OR REPLACE INTO t (a) VALUES (1)", "destructive", "overwrites"),
    (MY, "REPLACE INTO t (a) VALUES (1)", "destructive", "could not be analysed"),
    (PG, "MERGE INTO t USING u ON t.id = u.id WHEN MATCHED THEN DELETE", "destructive", "merge"),
    (PG, "WITH gone AS (DELETE FROM t RETURNING *) SELECT * FROM gone", "destructive", "delete"),
    (MY, "ALTER TABLE t ENGINE=BLACKHOLE", "destructive", "could not be analysed"),
    (PG, "ALTER TABLE t OWNER TO bob", "destructive", "could not be analysed"),
    (PG, "VACUUM FULL", "destructive", "could not be analysed"),
    (PG, "DROP TABLE", "destructive", "could not be analysed"),
    (LITE, "GARBAGE STUFF", "destructive", "could not be analysed"),
    # --- unsafe: may fail or break on existing data, loses none
    (PG, "ALTER TABLE t ALTER COLUMN c SET NOT NULL", "unsafe", "not null"),
    (PG, "ALTER TABLE t ADD COLUMN c INT NOT NULL", "unsafe", "without a default"),
    (LITE, "ALTER TABLE t ADD COLUMN c INTEGER NOT NULL", "unsafe", "without a default"),
    (MY, "ALTER TABLE t ADD COLUMN c INT NOT NULL AFTER b", "unsafe", "without a default"),
    (PG, "ALTER TABLE t ADD COLUMN c INT NOT NULL DEFAULT NULL", "unsafe", "without a default"),
    (PG, "ALTER TABLE t ADD CONSTRAINT uq UNIQUE (c)", "unsafe", "unique"),
    (MY, "ALTER TABLE t ADD UNIQUE INDEX uq (c)", "unsafe", "unique"),
    (PG, "ALTER TABLE t ADD COLUMN c INT UNIQUE", "unsafe", "unique"),
    (PG, "CREATE UNIQUE INDEX uq ON t (c)", "unsafe", "duplicates"),
    (LITE, "CREATE UNIQUE INDEX IF NOT EXISTS uq ON t (c)", "unsafe", "duplicates"),
    (MY, "CREATE UNIQUE INDEX uq ON t (c)", "unsafe", "duplicates"),
    (PG, "ALTER TABLE t ADD CONSTRAINT fk FOREIGN KEY (a) REFERENCES u (id)", "unsafe", "foreign"),
    (MY, "ALTER TABLE t ADD CONSTRAINT fk FOREIGN KEY (a) REFERENCES u (id)", "unsafe", "foreign"),
    (PG, "ALTER TABLE t ADD CONSTRAINT ck CHECK (a > 0)", "unsafe", "check"),
    (MY, "ALTER TABLE t ADD CONSTRAINT ck CHECK (a > 0)", "unsafe", "check"),
    (PG, "ALTER TABLE t ADD PRIMARY KEY (id)", "unsafe", "primary key"),
    (PG, "ALTER TABLE t RENAME COLUMN a TO b", "unsafe", "renaming column t.a"),
    (LITE, "ALTER TABLE t RENAME COLUMN a TO b", "unsafe", "renaming column t.a"),
    (MY, "ALTER TABLE t RENAME COLUMN a TO b", "unsafe", "renaming column t.a"),
    (LITE, "ALTER TABLE t RENAME TO u", "unsafe", "renaming table t to u"),
    (PG, "ALTER TABLE t RENAME TO u", "unsafe", "renaming table t to u"),
    (MY, "RENAME TABLE t TO u", "unsafe", "rename table t to u"),
    (PG, "ALTER INDEX ix RENAME TO ix2", "unsafe", "renaming index"),
    (PG, "ALTER TABLE t RENAME CONSTRAINT a TO b", "unsafe", "constraint a"),
    (PG, "ALTER TABLE t DROP CONSTRAINT x", "unsafe", "loses no data"),
    (MY, "ALTER TABLE t DROP FOREIGN KEY fk", "unsafe", "loses no data"),
    (MY, "ALTER TABLE t DROP INDEX ix", "safe", "loses no data"),
    (MY, "ALTER TABLE t DROP KEY uq_t_c", "safe", "loses no data"),
    (MY, "ALTER TABLE t DROP PRIMARY KEY", "unsafe", "primary key"),
    (PG, "DROP INDEX ix", "safe", "loses no data"),
    (PG, "DROP INDEX ix CASCADE", "safe", "loses no data"),
    (PG, "DROP INDEX CONCURRENTLY IF EXISTS ix", "safe", "ix"),
    (LITE, "DROP INDEX ix", "safe", "loses no data"),
    (MY, "DROP INDEX ix ON t", "safe", "loses no data"),
    (PG, "DROP VIEW v", "unsafe", "loses no stored data"),
    (PG, "INSERT INTO t (a) VALUES (1)", "unsafe", "writes rows"),
    (PG, "INSERT INTO t (a) VALUES (1) ON CONFLICT DO NOTHING", "unsafe", "writes rows"),
    (MY, "INSERT IGNORE INTO t (a) VALUES (1)", "unsafe", "writes rows"),
    (PG, "ALTER TABLE t VALIDATE CONSTRAINT fk", "unsafe", "violate"),
    (PG, "ALTER TYPE mood RENAME VALUE 'a' TO 'b'", "unsafe", "mood"),
    (LITE, "PRAGMA foreign_keys=OFF", "unsafe", "pragma"),
    # --- safe: additive or read-only
    (PG, "CREATE TABLE t (id SERIAL PRIMARY KEY, name TEXT)", "safe", "additive"),
    (LITE, "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT NOT NULL)", "safe", "additive"),
    (MY, "CREATE TABLE t (id INT AUTO_INCREMENT PRIMARY KEY)", "safe", "additive"),
    (PG, "ALTER TABLE t ADD COLUMN c INT", "safe", "nullable"),
    (LITE, "ALTER TABLE t ADD COLUMN c TEXT", "safe", "nullable"),
    (MY, "ALTER TABLE t ADD COLUMN c INT NULL", "safe", "nullable"),
    (LITE, "ALTER TABLE t ADD COLUMN c INTEGER NOT NULL DEFAULT 0", "safe", "value"),
    (PG, "ALTER TABLE t ADD COLUMN c BOOLEAN NOT NULL DEFAULT false", "safe", "value"),
    (PG, "ALTER TABLE t ADD COLUMN c INT GENERATED ALWAYS AS IDENTITY", "safe", "value"),
    (PG, "CREATE INDEX ix ON t (c)", "safe", "index"),
    (PG, "CREATE INDEX CONCURRENTLY ix ON t (c) WHERE c > 0", "safe", "index"),
    (LITE, "CREATE INDEX ix ON t (c)", "safe", "index"),
    (MY, "ALTER TABLE t ADD INDEX ix (c)", "safe", "index"),
    (PG, "ALTER TABLE t ALTER COLUMN c DROP NOT NULL", "safe", "relaxes"),
    (PG, "ALTER TABLE t ALTER COLUMN c SET DEFAULT 0", "safe", "default"),
    (MY, "ALTER TABLE t ALTER COLUMN c DROP DEFAULT", "safe", "default"),
    (PG, "SELECT id FROM t", "safe", "reads"),
    (PG, "CREATE SCHEMA app", "safe", "additive"),
    (PG, "COMMENT ON COLUMN t.c IS 'hello'", "safe", "comment"),
    (MY, "ALTER TABLE t COMMENT = 'hello'", "safe", "documentation"),
    (PG, "ALTER TYPE mood ADD VALUE IF NOT EXISTS 'sad' AFTER 'happy'", "safe", "sad"),
    (PG, "SET lock_timeout = '5s'", "safe", "session"),
    # --- traps for regex classifiers
    (PG, "CREATE TABLE drop_log (id INT, what TEXT)", "safe", "drop_log"),
    (MY, "CREATE TABLE drop_log (id INT, what TEXT)", "safe", "drop_log"),
    (LITE, "INSERT INTO drop_log (what) VALUES ('x')", "unsafe", "drop_log"),
    (MY, "INSERT INTO drop_log (what) VALUES ('x')", "unsafe", "drop_log"),
    (PG, 'ALTER TABLE t ADD COLUMN "delete" BOOLEAN', "safe", "t.delete"),
    (LITE, 'ALTER TABLE t ADD COLUMN "delete" BOOLEAN', "safe", "t.delete"),
    (MY, "ALTER TABLE t ADD COLUMN `delete` BOOLEAN", "safe", "t.delete"),
    (PG, 'CREATE INDEX ix_delete ON t ("delete")', "safe", "index"),
    (MY, "SELECT `delete` FROM t", "safe", "reads"),
    (PG, "-- DROP TABLE users\nCREATE INDEX ix ON users (email)", "safe", "index"),
    (MY, "/* TRUNCATE users; */ CREATE INDEX ix ON users (email)", "safe", "index"),
    (PG, "ALTER TABLE t ADD COLUMN c TEXT NOT NULL DEFAULT 'DROP TABLE x'", "safe", "value"),
    (LITE, "ALTER TABLE t ADD COLUMN c TEXT DEFAULT 'DROP TABLE x'", "safe", "value"),
    (PG, "SELECT 'truncate'", "safe", "reads"),
    (MY, "SELECT 'DELETE FROM users'", "safe", "reads"),
    (LITE, "INSERT INTO audit (note) VALUES ('DROP TABLE users')", "unsafe", "audit"),
]


def _ids() -> list[str]:
    return [f"{dialect}:{sql[:50]}" for dialect, sql, _, _ in CORPUS]


def test_corpus_is_large_and_covers_every_dialect_and_risk() -> None:
    assert len(CORPUS) >= 60
    assert {dialect for dialect, _, _, _ in CORPUS} == {PG, LITE, MY}
    assert {risk for _, _, risk, _ in CORPUS} == {"safe", "unsafe", "destructive"}


@pytest.mark.parametrize(("dialect", "sql", "risk", "keyword"), CORPUS, ids=_ids())
def test_corpus(dialect: str, sql: str, risk: str, keyword: str) -> None:
    result = classify(sql, dialect)
    assert result.risk == risk, result.reason
    assert keyword.lower() in result.reason.lower()


@pytest.mark.parametrize(("dialect", "sql", "risk", "keyword"), CORPUS, ids=_ids())
def test_every_reason_is_one_sentence(dialect: str, sql: str, risk: str, keyword: str) -> None:
    reason = classify(sql, dialect).reason
    assert reason.strip() == reason and len(reason) > 10
    assert reason[0].isupper() and reason.endswith(".")
    assert re.search(r"[.!?]\s+[A-Z]", reason) is None, reason


# --------------------------------------------------------------------------- type changes

PG_ALTER_TYPE = "ALTER TABLE t ALTER COLUMN c TYPE {}"
MY_MODIFY = "ALTER TABLE t MODIFY COLUMN c {}"


@pytest.mark.parametrize(
    ("dialect", "template", "old", "new", "risk"),
    [
        (PG, PG_ALTER_TYPE, "VARCHAR(50)", "VARCHAR(100)", "safe"),
        (PG, PG_ALTER_TYPE, "VARCHAR(50)", "VARCHAR(50)", "safe"),
        (PG, PG_ALTER_TYPE, "VARCHAR(50)", "TEXT", "safe"),
        (PG, PG_ALTER_TYPE, "character varying(20)", "VARCHAR(20)", "safe"),
        (PG, PG_ALTER_TYPE, "CHAR(10)", "VARCHAR(10)", "safe"),
        (PG, PG_ALTER_TYPE, "SMALLINT", "INT", "safe"),
        (PG, PG_ALTER_TYPE, "INT", "BIGINT", "safe"),
        (PG, PG_ALTER_TYPE, "int4", "int8", "safe"),
        (PG, PG_ALTER_TYPE, "REAL", "DOUBLE PRECISION", "safe"),
        (PG, PG_ALTER_TYPE, "INT", "NUMERIC(12, 2)", "safe"),
        (PG, PG_ALTER_TYPE, "INT", "NUMERIC", "safe"),
        (PG, PG_ALTER_TYPE, "NUMERIC(10, 2)", "NUMERIC(12, 4)", "safe"),
        (PG, PG_ALTER_TYPE, "VARCHAR(100)", "VARCHAR(50)", "destructive"),
        (PG, PG_ALTER_TYPE, "TEXT", "VARCHAR(255)", "destructive"),
        (PG, PG_ALTER_TYPE, "VARCHAR(10)", "CHAR(10)", "destructive"),
        (PG, PG_ALTER_TYPE, "BIGINT", "INT", "destructive"),
        (PG, PG_ALTER_TYPE, "DOUBLE PRECISION", "REAL", "destructive"),
        (PG, PG_ALTER_TYPE, "INT", "NUMERIC(8, 2)", "destructive"),
        (PG, PG_ALTER_TYPE, "NUMERIC(10, 2)", "NUMERIC(10, 4)", "destructive"),
        (PG, PG_ALTER_TYPE, "NUMERIC(10, 2)", "NUMERIC(12, 1)", "destructive"),
        (PG, PG_ALTER_TYPE, "TIMESTAMP", "TIMESTAMPTZ", "destructive"),
        (PG, PG_ALTER_TYPE, "TIMESTAMP", "TIMESTAMP WITH TIME ZONE", "destructive"),
        (PG, PG_ALTER_TYPE, "TEXT", "INT", "destructive"),
        (PG, PG_ALTER_TYPE, "NUMERIC(10, 2)", "INT", "destructive"),
        (MY, MY_MODIFY, "VARCHAR(50)", "VARCHAR(255)", "safe"),
        (MY, MY_MODIFY, "VARCHAR(255)", "TEXT", "safe"),
        (MY, MY_MODIFY, "TEXT", "MEDIUMTEXT", "safe"),
        (MY, MY_MODIFY, "INT", "BIGINT", "safe"),
        (MY, MY_MODIFY, "INT(11)", "INT", "safe"),
        (MY, MY_MODIFY, "INT UNSIGNED", "BIGINT", "safe"),
        (MY, MY_MODIFY, "FLOAT", "DOUBLE", "safe"),
        (MY, MY_MODIFY, "INT", "DECIMAL", "safe"),
        (MY, MY_MODIFY, "ENUM('a', 'b')", "ENUM('a', 'b', 'c')", "safe"),
        (MY, MY_MODIFY, "VARCHAR(255)", "VARCHAR(20)", "destructive"),
        (MY, MY_MODIFY, "MEDIUMTEXT", "TEXT", "destructive"),
        (MY, MY_MODIFY, "VARCHAR(20000)", "TEXT", "destructive"),
        (MY, MY_MODIFY, "INT", "INT UNSIGNED", "destructive"),
        (MY, MY_MODIFY, "BIGINT", "DECIMAL", "destructive"),
        (MY, MY_MODIFY, "ENUM('a', 'b', 'c')", "ENUM('a', 'b')", "destructive"),
        (MY, MY_MODIFY, "DATETIME", "DATE", "destructive"),
    ],
)
def test_type_change_with_from_type(
    dialect: str, template: str, old: str, new: str, risk: str
) -> None:
    result = classify(template.format(new), dialect, from_type=old)
    assert result.risk == risk, result.reason
    if risk == "destructive":
        assert "not a widening" in result.reason
    else:
        assert "widening" in result.reason or "keeps its type" in result.reason


def test_type_change_without_from_type_is_destructive_because_old_type_unknown() -> None:
    result = classify("ALTER TABLE t ALTER COLUMN c TYPE BIGINT", PG)
    assert result == Classification("destructive", result.reason)
    assert "old type unknown" in result.reason


def test_unparsable_from_type_is_destructive() -> None:
    result = classify("ALTER TABLE t ALTER COLUMN c TYPE BIGINT", PG, from_type="INT(")
    assert result.risk == "destructive"
    assert "could not be analysed" in result.reason


def test_using_expression_that_is_not_a_plain_cast_is_destructive() -> None:
    plain = classify(
        "ALTER TABLE t ALTER COLUMN c TYPE BIGINT USING c::bigint", PG, from_type="INT"
    )
    rewritten = classify("ALTER TABLE t ALTER COLUMN c TYPE BIGINT USING 0", PG, from_type="INT")
    assert plain.risk == "safe"
    assert rewritten.risk == "destructive"
    assert "USING" in rewritten.reason


@pytest.mark.parametrize(
    ("sql", "old", "risk", "keyword"),
    [
        ("ALTER TABLE t MODIFY COLUMN c VARCHAR(10) NOT NULL", "VARCHAR(10)", "unsafe", "NULL"),
        ("ALTER TABLE t MODIFY COLUMN c VARCHAR(10)", "VARCHAR(10)", "safe", "keeps its type"),
        ("ALTER TABLE t MODIFY c VARCHAR(100) NOT NULL", "VARCHAR(10)", "unsafe", "NULL"),
        ("ALTER TABLE t MODIFY c VARCHAR(5) NOT NULL", "VARCHAR(10)", "destructive", "widening"),
        ("ALTER TABLE t CHANGE COLUMN a b INT", "INT", "unsafe", "Renaming column t.a to b"),
        ("ALTER TABLE t CHANGE COLUMN a a BIGINT", "INT", "safe", "widening"),
        ("ALTER TABLE t CHANGE `delete` `deleted` TINYINT(1)", "INT", "destructive", "widening"),
    ],
)
def test_mysql_modify_and_change(sql: str, old: str, risk: str, keyword: str) -> None:
    result = classify(sql, MY, from_type=old)
    assert result.risk == risk, result.reason
    assert keyword in result.reason


@pytest.mark.parametrize(
    ("sql", "old", "risk", "keyword"),
    [
        # Old type and nullability given: only what changes is judged.
        (
            "ALTER TABLE t MODIFY c VARCHAR(100) NOT NULL",
            "VARCHAR(10) NOT NULL",
            "safe",
            "widening",
        ),
        ("ALTER TABLE t MODIFY COLUMN c BIGINT NOT NULL", "INT NOT NULL", "safe", "widening"),
        ("ALTER TABLE t MODIFY c VARCHAR(100) NULL", "VARCHAR(10) NULL", "safe", "widening"),
        ("ALTER TABLE t MODIFY c VARCHAR(10) NOT NULL", "VARCHAR(10) NOT NULL", "safe", "keeps"),
        ("ALTER TABLE t MODIFY c VARCHAR(100) NULL", "VARCHAR(10) NOT NULL", "safe", "widening"),
        ("ALTER TABLE t MODIFY c VARCHAR(10) NULL", "VARCHAR(10) NOT NULL", "safe", "keeps"),
        ("ALTER TABLE t MODIFY c VARCHAR(100) NOT NULL", "VARCHAR(10) NULL", "unsafe", "NULL"),
        ("ALTER TABLE t MODIFY c VARCHAR(10) NOT NULL", "varchar(10) null", "unsafe", "NULL"),
        (
            "ALTER TABLE t MODIFY c VARCHAR(5) NOT NULL",
            "VARCHAR(10) NOT NULL",
            "destructive",
            "widening",
        ),
        ("ALTER TABLE t CHANGE c c BIGINT NOT NULL", "INT NOT NULL", "safe", "widening"),
    ],
)
def test_mysql_modify_judges_old_against_new_type_and_nullability(
    sql: str, old: str, risk: str, keyword: str
) -> None:
    result = classify(sql, MY, from_type=old)
    assert result.risk == risk, result.reason
    assert keyword in result.reason


def test_from_type_with_nullability_on_postgresql() -> None:
    sql = "ALTER TABLE t ALTER COLUMN c TYPE BIGINT"
    assert classify(sql, PG, from_type="INTEGER NOT NULL").risk == "safe"
    assert classify(sql, PG, from_type="TEXT NULL").risk == "destructive"


# --------------------------------------------------------------------------- multi-statement


def test_several_statements_take_the_worst_risk_and_its_reason() -> None:
    sql = "CREATE TABLE a (id INT); ALTER TABLE a ADD COLUMN b INT NOT NULL; DROP TABLE old"
    result = classify(sql, PG)
    assert result.risk == "destructive"
    assert "DROP TABLE old" in result.reason


def test_worst_risk_ties_keep_the_first_reason() -> None:
    result = classify("INSERT INTO a (x) VALUES (1); INSERT INTO b (x) VALUES (2)", LITE)
    assert result.risk == "unsafe"
    assert "INSERT INTO a" in result.reason


def test_comment_and_string_traps_in_a_multi_statement_script() -> None:
    sql = """
        -- DROP TABLE users;
        CREATE TABLE drop_log (id INTEGER, note TEXT DEFAULT 'TRUNCATE users');
        /* DELETE FROM users; */
        CREATE INDEX ix_drop_log ON drop_log (note);
    """
    assert classify(sql, LITE) == classify("CREATE TABLE drop_log (id INTEGER)", LITE)


@pytest.mark.parametrize("sql", ["", "   ", "-- DROP TABLE users", "/* TRUNCATE t */", ";"])
@pytest.mark.parametrize("dialect", [PG, LITE, MY])
def test_empty_or_comment_only_input_is_safe(sql: str, dialect: str) -> None:
    result = classify(sql, dialect)
    assert result.risk == "safe"
    assert "no statement" in result.reason


def test_unparsable_sql_is_destructive() -> None:
    result = classify("CREATE INDEX ON", PG)
    assert result.risk == "destructive"
    assert "could not be analysed" in result.reason


# --------------------------------------------------------------------------- API


@pytest.mark.parametrize("dialect", ["postgres", "oracle", "mariadb", "", "PostgreSQL"])
def test_unknown_dialect_raises_value_error(dialect: str) -> None:
    with pytest.raises(ValueError, match="dialect"):
        classify("SELECT 1", dialect)
    with pytest.raises(ValueError, match="dialect"):
        classify_many(["SELECT 1"], dialect)


def test_classification_is_frozen_and_slotted() -> None:
    result = classify("SELECT 1", PG)
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.risk = "destructive"  # type: ignore[misc]
    assert not hasattr(result, "__dict__")


@pytest.mark.parametrize(
    ("name", "sql", "old"),
    [
        (MY, "ALTER TABLE t MODIFY c TEXT", "VARCHAR(20000)"),  # TEXT holds 16383 characters
        (PG, "ALTER TABLE t ALTER COLUMN c TYPE TEXT", "VARCHAR(20000)"),
        (MY, "ALTER TABLE t MODIFY c DECIMAL", "DECIMAL(12, 2)"),  # DECIMAL is (10, 0)
        (LITE, "ALTER TABLE t ALTER COLUMN c TYPE VARCHAR(10)", "INT"),
    ],
)
def test_a_dialect_object_judges_as_its_name_does(name: Backend, sql: str, old: str) -> None:
    verdict = classify(sql, DIALECTS[name], from_type=old)
    assert verdict == classify(sql, name, from_type=old)
    assert classify_many([sql], DIALECTS[name]) == classify_many([sql], name)


# --------------------------------------------------------------------------- table rebuilds

REBUILD = [
    'CREATE TABLE _alembic_tmp_posts (id INTEGER NOT NULL, title VARCHAR(200), "delete" BOOLEAN)',
    'INSERT INTO _alembic_tmp_posts (id, title, "delete") '
    'SELECT posts.id, posts.title, posts."delete" FROM posts',
    "DROP TABLE posts",
    "ALTER TABLE _alembic_tmp_posts RENAME TO posts",
]


def test_rebuild_copying_every_column_is_safe() -> None:
    results = classify_many(REBUILD, LITE, old_columns={"posts": ["id", "title", "delete"]})
    assert [r.risk for r in results] == ["safe", "safe", "safe", "safe"]
    assert "rebuilt keeping its data" in results[2].reason


def test_rebuild_omitting_a_column_is_destructive_and_names_it() -> None:
    old = {"posts": ["id", "title", "delete", "body"]}
    results = classify_many(REBUILD, LITE, old_columns=old)
    assert [r.risk for r in results] == ["safe", "safe", "destructive", "safe"]
    assert "body" in results[2].reason
    assert "title" not in results[2].reason


def test_rebuild_without_old_columns_is_destructive() -> None:
    results = classify_many(REBUILD, LITE)
    assert results[2].risk == "destructive"
    assert "unknown" in results[2].reason
    results = classify_many(REBUILD, LITE, old_columns={"other": ["id"]})
    assert results[2].risk == "destructive"


def test_rebuild_that_converts_a_column_is_destructive() -> None:
    steps = list(REBUILD)
    steps[1] = (
        'INSERT INTO _alembic_tmp_posts (id, title, "delete") '
        'SELECT posts.id, CAST(posts.title AS VARCHAR(20)) AS anon_1, posts."delete" FROM posts'
    )
    results = classify_many(steps, LITE, old_columns={"posts": ["id", "title", "delete"]})
    assert results[2].risk == "destructive"
    assert "converts title" in results[2].reason


def test_rebuild_may_rename_a_column_while_copying_it() -> None:
    steps = [
        "CREATE TABLE _alembic_tmp_t (id INTEGER, full_name TEXT)",
        "INSERT INTO _alembic_tmp_t (id, full_name) SELECT t.id, t.name FROM t",
        "DROP TABLE t",
        "ALTER TABLE _alembic_tmp_t RENAME TO t",
    ]
    results = classify_many(steps, LITE, old_columns={"t": ["id", "name"]})
    assert [r.risk for r in results] == ["safe", "safe", "safe", "safe"]


def test_drop_table_outside_a_complete_rebuild_stays_destructive() -> None:
    without_rename = REBUILD[:3]
    results = classify_many(without_rename, LITE, old_columns={"posts": ["id", "title", "delete"]})
    assert results[2].risk == "destructive"
    assert "loses all stored rows" in results[2].reason
    out_of_order = [REBUILD[2], REBUILD[0], REBUILD[1], REBUILD[3]]
    results = classify_many(out_of_order, LITE, old_columns={"posts": ["id", "title", "delete"]})
    assert results[0].risk == "destructive"
    assert results[3].risk == "unsafe"


def test_rebuild_in_one_string_is_recognised_but_needs_old_columns() -> None:
    result = classify(";\n".join(REBUILD), LITE)
    assert result.risk == "destructive"
    assert "rebuild of posts" in result.reason


def test_classify_many_keeps_one_result_per_string() -> None:
    results = classify_many(["SELECT 1", "", "DROP TABLE x; SELECT 1", "NOT SQL AT ALL ("], PG)
    assert [r.risk for r in results] == ["safe", "safe", "destructive", "destructive"]
    assert "no statement" in results[1].reason
