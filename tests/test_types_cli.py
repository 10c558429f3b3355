"""``deesse types``: the generated module types the sample app for mypy AND pyright.

One generation (the real ``deesse`` command) into a temporary folder, next to two user
modules from tests/types_sample/: ``good.py`` (every call used correctly) and ``bad.py``
(each line marked ``# error: ...`` is a mistake). One mypy run and one pyright run (both
strict, in parallel) check the three files; ``good.py`` then runs on every backend and
its rows are validated against the TypedDicts.
"""

from __future__ import annotations

import datetime
import importlib
import inspect
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx  # test extra: missing is a failure, not a skip
import pytest
from fastapi import FastAPI
from pydantic import TypeAdapter

import deesse_async
from deesse_async import ConfigError, define_config
from deesse_async.cli import main
from deesse_async.cli.types import generate_types
from deesse_async.compile.typestubs import render_types
from tests.conftest import MakeDb
from tests.types_sample import edge
from tests.types_sample.app import BlogPosts, Comments, Tags, Users

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "tests" / "types_sample"
SRC = Path(deesse_async.__file__).resolve().parents[1]
APP = "tests.types_sample.app:db"
CHECKED = ("db_types.py", "edge_types.py", "good.py", "bad.py")

Errors = dict[str, dict[int, list[str]]]  # file -> line -> messages


def _env() -> dict[str, str]:
    # The code under test (this checkout's src/) and the sample app's package.
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), str(ROOT)])}


def _deesse(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).with_name("deesse")
    command = [str(exe)] if exe.exists() else [sys.executable, "-m", "deesse_async.cli"]
    return subprocess.run(
        [*command, *args], cwd=cwd, env=_env(), capture_output=True, text=True, timeout=60
    )


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("typed_project")
    result = _deesse("types", "--app", APP, "-o", "db_types.py", cwd=folder)
    assert result.returncode == 0, result.stderr
    assert "wrote db_types.py" in result.stdout
    for name in ("good.py", "bad.py"):
        shutil.copy(SAMPLE / name, folder / name)
    # Names Python could trip on (tests/types_sample/edge.py), generated in this process.
    edge = generate_types("tests.types_sample.edge:db", "edge_types.py")
    (folder / "edge_types.py").write_text(edge)
    config = {
        "typeCheckingMode": "strict",
        "pythonVersion": "3.11",
        "extraPaths": [str(SRC)],
        "reportUnusedExpression": False,  # bad.py reads wrong keys as bare expressions
    }
    (folder / "pyrightconfig.json").write_text(json.dumps(config))
    return folder


def _mypy_errors(output: str) -> Errors:
    errors: Errors = {}
    for match in re.finditer(r"^([\w.]+):(\d+): error: (.*)$", output, re.MULTILINE):
        errors.setdefault(match[1], {}).setdefault(int(match[2]), []).append(match[3])
    return errors


def _pyright_errors(output: str) -> Errors:
    errors: Errors = {}
    for d in json.loads(output)["generalDiagnostics"]:
        if d["severity"] == "error":
            lines = errors.setdefault(Path(d["file"]).name, {})
            lines.setdefault(d["range"]["start"]["line"] + 1, []).append(d["message"])
    return errors


@pytest.fixture(scope="module")
def checked(project: Path, pytestconfig: pytest.Config) -> dict[str, Errors]:
    """The errors of one mypy and one pyright run over the three files (in parallel)."""
    # mypy's cache of deesse_async and its dependencies, kept between runs (it is keyed
    # by the files' contents): a cold run takes most of a minute on a loaded machine.
    cache = pytestconfig.cache.mkdir("types-mypy") if hasattr(pytestconfig, "cache") else None
    mypy = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--cache-dir",
            str(cache or os.devnull),
            *CHECKED,
        ],
        cwd=project,
        env={**_env(), "MYPYPATH": str(SRC)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    pyright = subprocess.Popen(
        [sys.executable, "-m", "pyright", "--outputjson", "--pythonpath", sys.executable],
        cwd=project,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    mypy_out, mypy_err = mypy.communicate(timeout=280)
    pyright_out, pyright_err = pyright.communicate(timeout=280)
    # Exit 1: errors found (bad.py has them); anything else means the tool itself failed.
    assert mypy.returncode == 1, mypy_out + mypy_err
    assert pyright.returncode == 1, pyright_out + pyright_err
    return {"mypy": _mypy_errors(mypy_out), "pyright": _pyright_errors(pyright_out)}


# The first test that asks for ``checked`` waits for both checkers (cold: up to a minute).
@pytest.mark.timeout(300)
def test_generated_module_and_correct_use_pass_strict_mypy_and_pyright(
    checked: dict[str, Errors],
) -> None:
    for tool, errors in checked.items():
        assert errors.get("db_types.py", {}) == {}, tool
        assert errors.get("edge_types.py", {}) == {}, tool
        assert errors.get("good.py", {}) == {}, tool


# What each mistake of bad.py must say, in mypy's words and in pyright's.
EXPECTED = {
    "misspelt key": (
        'TypedDict "UsersRead" has no key "emial"',
        '"emial" is not a defined key in "UsersRead"',
    ),
    "int has no upper": (
        '"int" has no attribute "upper"',
        'Cannot access attribute "upper" for class "int"',
    ),
    "int for a str": (
        'expression has type "int", TypedDict item "name" has type "str"',
        '"Literal[3]" is not assignable to "str"',
    ),
    "missing required key": (
        'Missing key "email" for TypedDict "UsersCreate"',
        '"email" is required in "UsersCreate"',
    ),
    "choice": ("Literal['archived']", "\"Literal['archived']\" is not assignable"),
    "unknown update key": (
        'Extra key "emial" for TypedDict "UsersUpdate"',
        '"emial" is an undefined item in type "UsersUpdate"',
    ),
    "int id for a uuid collection": (
        'incompatible type "int"; expected "UUID | str"',
        'parameter "id" of type "UUID | str"',
    ),
    "unknown where key": ('expected "UsersWhere | None"', 'is not assignable to "UsersWhere"'),
    "misspelt row key": (
        'TypedDict "UsersRow" has no key "nme"',
        '"nme" is not a defined key in "UsersRow"',
    ),
    "unknown relation": ('expected "UsersWith | None"', 'is not assignable to "UsersWith"'),
    "unknown column": ('expected "UsersColumns | None"', 'is not assignable to "UsersColumns"'),
    "row may be None": (
        'Value of type "UsersRow | None" is not indexable',
        'Object of type "None" is not subscriptable',
    ),
    "misspelt key of a prepared query row": (
        'TypedDict "BlogPostsRow" has no key "titel"',
        '"titel" is not a defined key in "BlogPostsRow"',
    ),
    "misspelt key of a streamed row": (
        'TypedDict "UsersRow" has no key "emial"',
        '"emial" is not a defined key in "UsersRow"',
    ),
    "misspelt key of a page item": (
        'TypedDict "UsersRow" has no key "nme"',
        '"nme" is not a defined key in "UsersRow"',
    ),
    "misspelt page key": (
        'TypedDict "UsersPage" has no key "itemz"',
        '"itemz" is not a defined key in "UsersPage"',
    ),
    "first is an int": (
        'Argument "first" to "find_page" of "UsersQueries" has incompatible type "str"',
        'parameter "first" of type "int"',
    ),
    "no such collection": (
        '"TypedDatabase" has no attribute "posts"',
        'Cannot access attribute "posts" for class "TypedDatabase"',
    ),
}


def _marked_lines() -> dict[int, str]:
    lines = (SAMPLE / "bad.py").read_text().splitlines()
    marks = {number: re.search(r"\S  # error: (.+)$", line) for number, line in enumerate(lines, 1)}
    return {number: mark[1] for number, mark in marks.items() if mark}


@pytest.mark.timeout(300)
def test_every_mistake_is_an_error_in_mypy_and_in_pyright(checked: dict[str, Errors]) -> None:
    marked = _marked_lines()
    assert sorted(marked.values()) == sorted(EXPECTED)
    for index, tool in enumerate(("mypy", "pyright")):
        errors = checked[tool].get("bad.py", {})
        # Exactly the marked lines: no mistake missed, no false alarm on correct lines.
        assert sorted(errors) == sorted(marked), tool
        for line, name in marked.items():
            said = "\n".join(errors[line])
            assert EXPECTED[name][index] in said, (tool, name, said)


@pytest.fixture
def sample_modules(project: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    monkeypatch.syspath_prepend(str(project))
    try:
        yield importlib.import_module("good")
    finally:
        for name in ("good", "db_types", "edge_types"):
            sys.modules.pop(name, None)


def _valid(kind: Any, value: Any) -> None:
    # Strict: a str where the TypedDict says datetime (or an int for a bool) fails. Extra
    # keys are ignored here: the tests compare the key sets.
    TypeAdapter(kind).validate_python(value, strict=True)


@pytest.mark.anyio
async def test_correct_use_runs_and_rows_match_the_typed_dicts(
    make_db: MakeDb, sample_modules: ModuleType
) -> None:
    types = sys.modules["db_types"]
    db = await make_db([Users, Tags, BlogPosts, Comments])
    out = await sample_modules.scenario(db)
    _valid(types.UsersRead, out["user"])
    _valid(types.BlogPostsRead, out["post"])
    _valid(types.BlogPostsRead, out["updated"])
    _valid(list[types.CommentsRead], out["comments"])
    _valid(types.CommentsRead, out["deleted"])
    _valid(list[types.BlogPostsRow], out["rows"])
    # Its posts were loaded with columns={"title", "id"}: the rows hold only those (the
    # typed row has every column; docs/types.md says so).
    _valid(types.UsersRow, {k: v for k, v in out["found"].items() if k != "posts"})
    # The keys exactly: CRUD rows hold every column (and many-to-many ids), query rows
    # every column plus the relations asked for.
    assert set(out["user"]) == set(types.UsersRead.__annotations__)
    assert set(out["post"]) == set(types.BlogPostsRead.__annotations__)
    row = out["rows"][0]
    row_keys = set(types.BlogPostsRow.__annotations__)
    assert set(row) == set(db.schema["blog_posts"].columns) | {"author", "tags", "comments"}
    assert set(row) == row_keys  # every relation of blog_posts was asked for
    comment_keys = set(db.schema["comments"].columns) | {"author"}
    assert set(row["comments"][0]) == comment_keys < set(types.CommentsRow.__annotations__)
    assert set(out["found"]["posts"][0]) == {"id", "title"}  # columns= selects fewer
    assert out["linked"] == [row["tags"][0]["id"]]
    assert (out["shout"], out["role"], out["views"], out["email"]) == (
        "ANN", "member", 3, "ann@example.com",
    )  # fmt: skip
    assert (out["author_name"], out["texts"], out["again_name"]) == (
        "Ann", ["first", "anonymous"], "Ann",
    )  # fmt: skip
    assert (out["day"], out["counted"], out["as_ann"]) == (datetime.date(2024, 5, 1), 2, 1)
    assert (out["retried"], out["fields"]) == (len("first of two"), ["name"])
    assert out["user"]["settings"] == {"theme": ["dark", 1]}
    # stream, find_page and aggregates: the rows are the typed rows.
    assert out["streamed"] == ["ann@example.com", "bob@example.com"]
    assert out["chunk_sizes"] == [1]
    assert out["in_tx"] == ["Bob"]
    _valid(types.UsersPage, out["page"])
    assert set(out["page"]) == set(types.UsersPage.__annotations__)
    assert (out["pages"], out["more"], out["page"]["next"]) == ([["Ann"], ["Bob"]], False, None)
    _valid(list[types.UsersRow], [{**u} for u in out["with_counts"]])
    assert set(out["with_counts"][0]) == set(types.UsersRow.__annotations__) - {
        "comments"
    } | {"post_count", "top_views"}  # fmt: skip
    assert out["post_counts"] == [
        ("Ann", 1, 3), ("Bob", 0, None), ("Ann", 1, None), ("Bob", 0, None),
    ]  # fmt: skip
    assert (out["page_counts"], out["on_primary"], out["replica_name"]) == ([1, 0], 2, "Bob")
    assert out["n_comments"] == [2]  # agg.count in with_: the post's two comments


@pytest.mark.anyio
@pytest.mark.backends("sqlite")
async def test_typed_dicts_serve_as_fastapi_body_and_response_models(
    make_db: MakeDb, sample_modules: ModuleType
) -> None:
    types = sys.modules["db_types"]
    db = types.typed(await make_db([Users, Tags, BlogPosts, Comments]))
    app = FastAPI()

    async def create_user(body: Any) -> Any:
        return await db.users.create(body)

    async def list_posts() -> Any:
        return await db.query.blog_posts.find_many(with_={"author": True})

    # Set here: this module's string annotations cannot name the generated module.
    create_user.__annotations__ = {"body": types.UsersCreate, "return": types.UsersRead}
    list_posts.__annotations__ = {"return": list[types.BlogPostsRow]}
    app.post("/users")(create_user)
    app.get("/posts")(list_posts)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        created = await client.post("/users", json={"name": "Ann", "email": "ann@example.com"})
        assert created.status_code == 200, created.text
        assert created.json()["role"] == "member"
        refused = await client.post("/users", json={"name": "Ann", "emial": "a@example.com"})
        assert refused.status_code == 422
        assert refused.json()["detail"][0]["loc"] == ["body", "email"]
        await db.blog_posts.create({"title": "Hi", "author_id": created.json()["id"]})
        listed = await client.get("/posts")
        assert listed.status_code == 200, listed.text
        assert listed.json()[0]["author"]["name"] == "Ann"
        assert listed.json()[0]["title"] == "Hi"
    schemas = app.openapi()["components"]["schemas"]
    assert {"UsersCreate", "UsersRead", "BlogPostsRow", "UsersRow"} <= set(schemas)
    assert schemas["UsersCreate"]["required"] == ["name", "email"]


@pytest.mark.anyio
@pytest.mark.backends("sqlite")
async def test_keyword_and_shadowing_names_work_at_runtime(
    make_db: MakeDb, sample_modules: ModuleType
) -> None:
    types = importlib.import_module("edge_types")
    collections = [edge.People, edge.Events, edge.Imports, edge.Ab, edge.AbToo, edge.Digit]
    db = types.typed(await make_db(collections, relations=edge.relations))
    ann = await db.people.create({"name": "Ann"})
    bob = await db.people.create({"name": "Bob", "best_friend_id": ann["id"]})
    await db.events.create(
        {"class": "talk", "kind": 'say "hi"', "from_id": bob["id"], "list": [1], "str": 2}
    )
    rows = await db.query.events.find_many(with_={"from": {"with": {"best_friend": True}}})
    _valid(list[types.EventsRow], rows)
    assert rows[0]["class"] == "talk"
    assert rows[0]["from"]["best_friend"]["name"] == "Ann"
    assert set(rows[0]) == set(types.EventsRow.__annotations__)
    assert types.EventsWith.__annotations__.keys() == {"from"}
    # Two slugs with one class name: each keeps its slug.
    assert {"a_bRow", "a__bRow", "_1Row"} <= set(vars(types))
    _valid(types._1Read, await db._1.create({"Any": "x", "bool": "str"}))
    # db.import is not Python: the collection has its types, not an attribute.
    assert "ImportRow" in vars(types)
    assert "import" not in vars(types.TypedDatabase)


def test_typed_refuses_a_database_of_other_collections(sample_modules: ModuleType) -> None:
    types = sys.modules["db_types"]
    other = define_config(provider="sqlite://:memory:", collections=[Users, Tags])
    with pytest.raises(ConfigError, match="db_types was generated for other collections"):
        types.typed(other)
    same = define_config(
        provider="sqlite://:memory:", collections=[Comments, Users, Tags, BlogPosts]
    )
    assert types.typed(same) is same


def _members(protocol: type) -> dict[str, Any]:
    return {
        name: value
        for name, value in vars(protocol).items()
        if not name.startswith("_") or name == "__await__"
    }


def _parameters(function: Any) -> list[str]:
    signature = inspect.signature(function)
    kinds = (inspect.Parameter.VAR_KEYWORD,)
    return [p.name for p in signature.parameters.values() if p.kind not in kinds]


def _takes_any_keyword(function: Any) -> bool:
    kinds = {p.kind for p in inspect.signature(function).parameters.values()}
    return inspect.Parameter.VAR_KEYWORD in kinds


def _public(obj: Any) -> set[str]:
    return {name for name in dir(obj) if not name.startswith("_")}


# What the views have and TypedDatabase leaves out on purpose: internals of the
# executor protocol, and db.collection(slug) (db.<slug> is the typed spelling).
UNTYPED_VIEW_MEMBERS = {"acquire", "acquire_read", "atomic", "collection"}


@pytest.mark.anyio
@pytest.mark.backends("sqlite")
async def test_protocols_match_the_real_objects(
    make_db: MakeDb, sample_modules: ModuleType
) -> None:
    """Every method the typed module declares exists on the object it types, with the
    same parameters (a renamed option would make the stubs lie), and every public method
    of the query namespace and of the views is declared (a new one must be typed)."""
    types = sys.modules["db_types"]
    db = await make_db([Users, Tags, BlogPosts, Comments])
    query = db.query.users.find_many(where={"id": deesse_async.placeholder("id")})
    async with db.transaction() as tx:
        real = {
            types.TypedDatabase: [db, db.with_user(None), db.primary(), tx],
            types.UsersCollection: [db.users],
            types.UsersQueries: [db.query.users],
            types.TypedQuery: [query],
            types.TypedPreparedQuery: [query.prepare()],
            types.TypedRowStream: [db.query.users.stream()],
        }
        for protocol, objs in real.items():
            members = _members(protocol)
            assert members, protocol
            for obj in objs:
                for name, declared in members.items():
                    assert hasattr(obj, name), (protocol.__name__, name, obj)
                    if not inspect.isfunction(declared):
                        continue
                    actual = _parameters(getattr(obj, name))
                    # An option the method takes through **kwargs (aggregates= on stream
                    # and find_page) is declared; the real one must accept it.
                    extra = [p for p in _parameters(declared)[1:] if p not in actual]
                    assert set(extra) <= {"aggregates"}, (protocol.__name__, name, extra)
                    if extra:
                        assert _takes_any_keyword(getattr(obj, name)), (protocol.__name__, name)
                    wanted = [p for p in _parameters(declared)[1:] if p not in extra]
                    assert wanted == actual, (protocol.__name__, name)
        # The other way: nothing public is left untyped.
        assert _public(db.query.users) - {"slug"} <= set(_members(types.UsersQueries))
        assert _public(db.query.users.stream()) <= set(_members(types.TypedRowStream))
        for view in (db.with_user(None), db.replica(), tx):
            untyped = _public(view) - set(_members(types.TypedDatabase)) - UNTYPED_VIEW_MEMBERS
            assert untyped == set(), type(view).__name__
    # read_routing() is the Database's, not a view's: it stays on the untyped app_db.
    assert not hasattr(tx, "read_routing") and not hasattr(types.TypedDatabase, "read_routing")
    assert {"stream", "find_page"} <= set(_members(types.UsersQueries))
    assert list(types.UsersPage.__annotations__) == list(deesse_async.Page.__annotations__)


def test_output_is_deterministic_sorted_and_ruff_clean(project: Path) -> None:
    written = (project / "db_types.py").read_text()
    # Another process (another hash seed) wrote the file; here, the same input in another
    # order gives the same bytes.
    assert generate_types(APP, "db_types.py") == written
    shuffled = define_config(collections=[Comments, Tags, BlogPosts, Users]).schema
    command = "deesse types --app tests.types_sample.app:db -o db_types.py"
    assert render_types(shuffled, command) == written
    assert written.startswith(
        "# Generated by deesse types (docs/types.md): do not edit. After changing the\n"
        f"# collections, run again:\n#   {command}\n"
    )
    classes = re.findall(r"^class (\w+)\(", written, re.MULTILINE)
    rows = [name for name in classes if name.endswith("Row")]
    assert rows == ["BlogPostsRow", "CommentsRow", "TagsRow", "UsersRow"]
    # A user's ruff (no configuration: defaults and line length 88), with this project's
    # rules on top.
    ruff = [sys.executable, "-m", "ruff"]
    rules = "E,F,I,B,UP,RUF,C901"
    for args in (
        ["check", "--isolated", "--target-version", "py311", "--select", rules],
        ["format", "--isolated", "--check"],
        ["format", "--isolated", "--check", "--line-length", "100"],
    ):
        result = subprocess.run(
            [*ruff, *args, "db_types.py", "edge_types.py"],
            cwd=project,
            capture_output=True,
            text=True,
        )
        assert result.returncode == 0, (args, result.stdout, result.stderr)


def test_cli_prints_checks_and_explains(
    in_tmp_cwd: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert main(["types", "--app", APP]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("# Generated by deesse types")
    assert "  deesse types --app tests.types_sample.app:db\n" in printed
    assert "class UsersRow(TypedDict):" in printed

    target = in_tmp_cwd / "db_types.py"
    check = ["types", "--app", APP, "-o", "db_types.py", "--check"]
    assert main(check) == 1
    assert "db_types.py is missing" in capsys.readouterr().out
    assert main(["types", "--app", APP, "-o", "db_types.py"]) == 0
    assert "wrote db_types.py" in capsys.readouterr().out
    assert main(check) == 0
    assert "db_types.py is up to date" in capsys.readouterr().out
    target.write_text(target.read_text().replace("TagsRow", "TagRow"))
    assert main(check) == 1
    stale = capsys.readouterr().out
    assert "db_types.py is out of date" in stale
    assert f"run `deesse types --app {APP} -o db_types.py`" in stale

    assert main(["types", "--app", "tests.types_sample.app:dbb"]) == 1
    assert "has no attribute 'dbb'; did you mean 'db'?" in capsys.readouterr().err
    assert main(["types", "--app", APP, "-o", "missing/db_types.py"]) == 1
    assert "the folder missing does not exist" in capsys.readouterr().err
    (in_tmp_cwd / "folder.py").mkdir()
    assert main(["types", "--app", APP, "-o", "folder.py"]) == 1
    assert "cannot write folder.py: Is a directory" in capsys.readouterr().err
    monkeypatch.delenv("DEESSE_APP", raising=False)
    assert main(["types"]) == 1
    assert "pass --app module:attribute (e.g. --app myapp.db:db)" in capsys.readouterr().err
    assert main(["types", "--app", APP, "--check"]) == 1
    assert "--check compares with a file: give it with -o FILE" in capsys.readouterr().err


def test_command_without_a_usable_app_says_what_to_do(tmp_path: Path) -> None:
    wrong_module = _deesse("types", "--app", "myshop.db:db", cwd=tmp_path)
    assert wrong_module.returncode == 1
    assert "error: cannot import module 'myshop.db'" in wrong_module.stderr
    assert "run deesse from your project folder or fix the app path" in wrong_module.stderr
    assert "Traceback" not in wrong_module.stderr
    assert wrong_module.stdout == ""
