"""Compiled DDL per dialect (golden fragments, re-parsed with sqlglot) and models."""

from __future__ import annotations

import sqlglot
from sqlalchemy.schema import CreateIndex, CreateTable

from deesse_async import define_config
from deesse_async.compile.tables import constraint_name
from deesse_async.dialects import DIALECTS
from tests.blog import BLOG, Posts, Users

SQLGLOT = {"postgresql": "postgres", "sqlite": "sqlite", "mysql": "mysql"}


def _ddl(dialect: str) -> dict[str, str]:
    db = define_config(provider="sqlite://:memory:", collections=BLOG)
    sa_dialect = DIALECTS[dialect].sa_dialect  # type: ignore[index]
    out = {}
    for table in db.metadata.sorted_tables:
        parts = [str(CreateTable(table).compile(dialect=sa_dialect)).strip()]
        parts += [str(CreateIndex(ix).compile(dialect=sa_dialect)) for ix in table.indexes]
        out[table.name] = ";\n".join(parts)
    return out


def test_postgresql_ddl() -> None:
    ddl = _ddl("postgresql")
    users = ddl["users"]
    assert "id BIGSERIAL NOT NULL" in users
    assert "email VARCHAR(320) NOT NULL" in users
    assert "last_seen TIMESTAMP WITH TIME ZONE" in users
    assert "external_id UUID" in users
    assert "profile JSONB" in users
    assert "active BOOLEAN DEFAULT true" in users
    assert "role VARCHAR(6) DEFAULT 'member'" in users
    assert "CONSTRAINT ck_users_age CHECK (age >= 0 AND age <= 150)" in users
    assert "CONSTRAINT ck_users_role CHECK (role IN ('admin', 'member'))" in users
    assert "CONSTRAINT uq_users_email UNIQUE (email)" in users
    assert (
        "CONSTRAINT fk_users_invited_by_id FOREIGN KEY(invited_by_id) "
        "REFERENCES users (id) ON DELETE SET NULL" in users
    )
    assert "CREATE INDEX ix_users_invited_by_id ON users (invited_by_id)" in users
    assert "CREATE INDEX ix_users_nickname ON users (nickname)" in users
    posts = ddl["posts"]
    assert "FOREIGN KEY(author_id) REFERENCES users (id) ON DELETE RESTRICT" in posts
    junction = ddl["posts_tags"]
    assert "PRIMARY KEY (posts_id, tags_id)" in junction
    assert "FOREIGN KEY(posts_id) REFERENCES posts (id) ON DELETE CASCADE" in junction
    assert "FOREIGN KEY(tags_id) REFERENCES tags (id) ON DELETE CASCADE" in junction


def test_sqlite_ddl() -> None:
    users = _ddl("sqlite")["users"]
    assert "id INTEGER NOT NULL" in users  # the rowid alias, so ids auto-increment
    assert "profile TEXT" in users
    assert "external_id CHAR(32)" in users


def test_mysql_ddl() -> None:
    ddl = _ddl("mysql")
    users = ddl["users"]
    assert "id BIGINT NOT NULL AUTO_INCREMENT" in users
    assert "last_seen DATETIME(6)" in users
    assert "profile JSON" in users
    assert "COLLATE utf8mb4_bin" in users
    notes = ddl["notes"]
    assert "FOREIGN KEY(owner_id) REFERENCES users (id)" in notes


def test_ddl_reparses_with_sqlglot() -> None:
    for dialect, read in SQLGLOT.items():
        for table, ddl in _ddl(dialect).items():
            for statement in ddl.split(";\n"):
                parsed = sqlglot.parse_one(statement, read=read)
                assert parsed is not None, (dialect, table)
                assert parsed.key == "create", (dialect, table, statement)


def test_long_constraint_names_are_shortened_stably() -> None:
    name = constraint_name(
        "fk", "a_really_long_collection_name_for_testing", "another_long_field_id"
    )
    assert len(name) <= 60
    assert name == constraint_name(
        "fk", "a_really_long_collection_name_for_testing", "another_long_field_id"
    )
    assert name.startswith("fk_a_really_long")


def test_models_are_fastapi_ready() -> None:
    define_config(provider="sqlite://:memory:", collections=BLOG)
    schema = Posts.create_model.model_json_schema()
    assert Posts.create_model.__name__ == "PostsCreate"
    assert schema["required"] == ["title", "author_id"]
    assert schema["additionalProperties"] is False
    assert schema["properties"]["title"]["maxLength"] == 100
    assert schema["properties"]["tags"]["anyOf"][0]["type"] == "array"
    update = Posts.update_model.model_json_schema()
    assert "required" not in update
    read = Users.read_model.model_json_schema()
    assert set(read["required"]) >= {"id", "name", "email", "created_at", "updated_at"}
    age = Users.create_model.model_json_schema()["properties"]["age"]["anyOf"][0]
    assert (age["minimum"], age["maximum"]) == (0, 150)
