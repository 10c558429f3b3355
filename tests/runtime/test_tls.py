"""TLS against real TLS servers of the tests' own (issue 7, defect 4).

A test CA signs a server certificate for ``localhost`` only; a PostgreSQL cluster and a
MariaDB server are started with it, both refusing plain-text TCP, so every operation
that succeeds here ran over TLS. ``require`` against the shared servers (no TLS) fails.
"""

from __future__ import annotations

import ssl
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from deesse_async import ConfigError, ConnectionError, Database, define_config
from tests.blog import Tags
from tests.conftest import MYSQL_URL, POSTGRES_URL, require_backend
from tests.runtime.servers import (
    Certificates,
    make_certificates,
    temp_dir,
    tls_mariadb,
    tls_postgres,
)

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def root() -> Iterator[Path]:
    with temp_dir() as path:
        yield path


@pytest.fixture(scope="module")
def certs(root: Path) -> Certificates:
    return make_certificates(root)


@pytest.fixture(scope="module")
def pg_port(certs: Certificates, root: Path) -> Iterator[int]:
    with tls_postgres(certs, root) as port:
        yield port


@pytest.fixture(scope="module")
def my_port(certs: Certificates, root: Path) -> Iterator[int]:
    with tls_mariadb(certs, root) as port:
        yield port


def _pg(port: int, host: str = "localhost", user: str = "postgres", **query: Any) -> str:
    options = "&".join(f"{k}={v}" for k, v in {"schema": _name(), **query}.items())
    return f"postgresql://{user}@{host}:{port}/postgres?{options}"


def _my(port: int, host: str = "localhost", database: str = "app", **query: Any) -> str:
    options = "&".join(f"{k}={v}" for k, v in query.items())
    return f"mysql://root@{host}:{port}/{database}" + (f"?{options}" if options else "")


def _name() -> str:
    return f"t_{uuid.uuid4().hex[:10]}"


async def _is_tls(db: Database) -> bool:
    sql = {
        "postgresql": "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
        "mysql": "SHOW SESSION STATUS LIKE 'Ssl_cipher'",
    }[db.url.backend]
    async with db.acquire() as conn:
        row = (await conn.fetch(sql))[0]
    return bool(row[-1])


async def _crud_and_plan(db: Database) -> None:
    """CRUD, a query and the schema path (plan/push), all on ``db``."""
    async with db:
        plan = await db.plan()
        assert "tags" in plan.created_tables
        await db.push()
        assert await _is_tls(db)
        row = await db.tags.create({"name": "secure"})
        assert (await db.tags.read(row["id"]))["name"] == "secure"  # type: ignore[index]
        await db.tags.update(row["id"], {"name": "still secure"})
        found = await db.query.tags.find_many(where={"name": {"like": "still%"}})
        assert [r["id"] for r in found] == [row["id"]]
        assert (await db.plan()).is_empty
        assert (await db.tags.delete(row["id"]))["name"] == "still secure"  # type: ignore[index]
        assert await db.tags.count() == 0


async def _refused(db: Database, *needles: str) -> None:
    """connect() and plan() both refuse with a ConnectionError naming the reason."""
    for attempt in (db.connect, db.plan):
        with pytest.raises(ConnectionError) as info:
            await attempt()
        message = str(info.value)
        for needle in needles:
            assert needle in message, message
    assert not db.is_connected


# -- PostgreSQL -------------------------------------------------------------------------


async def test_pg_verify_full_with_the_right_ca(pg_port: int, certs: Certificates) -> None:
    url = _pg(pg_port, sslmode="verify-full", sslrootcert=certs.ca)
    await _crud_and_plan(define_config(provider=url, collections=[Tags]))


async def test_pg_verify_full_refuses_a_wrong_host_name(pg_port: int, certs: Certificates) -> None:
    # The certificate names localhost; 127.0.0.1 is the same server under another name.
    url = _pg(pg_port, host="127.0.0.1", sslmode="verify-full", sslrootcert=certs.ca)
    await _refused(define_config(provider=url, collections=[Tags]), "127.0.0.1", "certificate")


async def test_pg_verify_ca_and_require_accept_any_host_name(
    pg_port: int, certs: Certificates
) -> None:
    url = _pg(pg_port, host="127.0.0.1", sslmode="verify-ca", sslrootcert=certs.ca)
    await _crud_and_plan(define_config(provider=url, collections=[Tags]))
    url = _pg(pg_port, host="127.0.0.1", sslmode="require")  # encrypted, not verified
    await _crud_and_plan(define_config(provider=url, collections=[Tags]))


@pytest.mark.parametrize("mode", ["verify-ca", "verify-full", "require"])
async def test_pg_wrong_ca_is_refused(pg_port: int, certs: Certificates, mode: str) -> None:
    # libpq: require with a root certificate verifies the chain, like verify-ca.
    url = _pg(pg_port, sslmode=mode, sslrootcert=certs.other_ca)
    await _refused(define_config(provider=url, collections=[Tags]), "certificate")


async def test_pg_plain_text_is_refused_by_this_server(pg_port: int) -> None:
    """The cluster rejects plain text: every success above really used TLS."""
    url = _pg(pg_port, sslmode="disable")
    await _refused(define_config(provider=url, collections=[Tags]), "no encryption")


async def test_pg_ssl_context(pg_port: int, certs: Certificates) -> None:
    ctx = ssl.create_default_context(cafile=str(certs.ca))
    await _crud_and_plan(define_config(provider=_pg(pg_port), collections=[Tags], ssl=ctx))
    db = define_config(provider=_pg(pg_port, host="127.0.0.1"), collections=[Tags], ssl=ctx)
    await _refused(db, "certificate")
    other = ssl.create_default_context(cafile=str(certs.other_ca))
    db = define_config(provider=_pg(pg_port), collections=[Tags], ssl=other)
    await _refused(db, "certificate")


async def test_pg_client_certificate(pg_port: int, certs: Certificates) -> None:
    tls = {"sslmode": "verify-full", "sslrootcert": certs.ca}
    url = _pg(pg_port, user="certuser", **tls, sslcert=certs.client_cert, sslkey=certs.client_key)
    await _crud_and_plan(define_config(provider=url, collections=[Tags]))
    db = define_config(provider=_pg(pg_port, user="certuser", **tls), collections=[Tags])
    await _refused(db, "certificate")  # pg_hba: certuser needs a client certificate


async def test_pg_missing_root_certificate_is_a_config_error(pg_port: int, root: Path) -> None:
    url = _pg(pg_port, sslmode="verify-full", sslrootcert=root / "nope.crt")
    db = define_config(provider=url, collections=[Tags])
    for attempt in (db.connect, db.plan):
        with pytest.raises(ConfigError, match=r"sslrootcert=.*nope\.crt.* does not exist"):
            await attempt()
    # No sslrootcert: libpq's ~/.postgresql/root.crt, which is not there either.
    db = define_config(provider=_pg(pg_port, sslmode="verify-ca"), collections=[Tags])
    for attempt in (db.connect, db.plan):
        with pytest.raises(ConfigError, match=r"root\.crt"):
            await attempt()


@pytest.mark.parametrize("mode", ["require", "verify-ca", "verify-full"])
async def test_pg_require_fails_against_a_server_without_tls(
    mode: str, certs: Certificates
) -> None:
    await require_backend("postgresql")
    url = f"{POSTGRES_URL}?sslmode={mode}&sslrootcert={certs.ca}"
    await _refused(define_config(provider=url, collections=[Tags]), "does not offer TLS")


async def test_pg_prefer_falls_back_to_plain_text() -> None:
    """``prefer`` (libpq's default) connects to the shared server, which has no TLS."""
    await require_backend("postgresql")
    name = _name()
    db = define_config(provider=f"{POSTGRES_URL}?schema={name}", collections=[Tags])
    async with db:
        assert not await _is_tls(db)
        await db.plan()
        async with db.acquire() as conn:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


# -- MariaDB ----------------------------------------------------------------------------


async def _fresh_database(port: int) -> str:
    """A new database on the TLS MariaDB (a URL path to put after the port)."""
    name = _name()
    db = define_config(provider=_my(port, ssl_mode="REQUIRED"), collections=[])
    async with db, db.acquire() as conn:
        await conn.execute(f"CREATE DATABASE `{name}`")
    return name


async def test_mariadb_verify_identity_with_the_right_ca(my_port: int, certs: Certificates) -> None:
    name = await _fresh_database(my_port)
    url = _my(my_port, database=name, ssl_mode="VERIFY_IDENTITY", ssl_ca=certs.ca)
    await _crud_and_plan(define_config(provider=url, collections=[Tags]))


async def test_mariadb_verify_identity_refuses_a_wrong_host_name(
    my_port: int, certs: Certificates
) -> None:
    url = _my(my_port, host="127.0.0.1", ssl_mode="VERIFY_IDENTITY", ssl_ca=certs.ca)
    await _refused(define_config(provider=url, collections=[Tags]), "127.0.0.1", "certificate")


async def test_mariadb_verify_ca_and_required(my_port: int, certs: Certificates) -> None:
    for query in ({"ssl_mode": "VERIFY_CA", "ssl_ca": certs.ca}, {"ssl_mode": "REQUIRED"}):
        name = await _fresh_database(my_port)
        url = _my(my_port, host="127.0.0.1", database=name, **query)
        await _crud_and_plan(define_config(provider=url, collections=[Tags]))


@pytest.mark.parametrize("mode", ["VERIFY_CA", "VERIFY_IDENTITY"])
async def test_mariadb_wrong_ca_is_refused(my_port: int, certs: Certificates, mode: str) -> None:
    url = _my(my_port, ssl_mode=mode, ssl_ca=certs.other_ca)
    await _refused(define_config(provider=url, collections=[Tags]), "certificate")


async def test_mariadb_plain_text_is_refused_by_this_server(my_port: int) -> None:
    db = define_config(provider=_my(my_port), collections=[Tags])  # no TLS by default
    # MariaDB answers a plain-text login under require_secure_transport with 1045.
    await _refused(db, "Access denied")


async def test_mariadb_ssl_context(my_port: int, certs: Certificates) -> None:
    ctx = ssl.create_default_context(cafile=str(certs.ca))
    name = await _fresh_database(my_port)
    url = _my(my_port, database=name)
    await _crud_and_plan(define_config(provider=url, collections=[Tags], ssl=ctx))
    db = define_config(provider=_my(my_port, host="127.0.0.1"), collections=[Tags], ssl=ctx)
    await _refused(db, "certificate")


@pytest.mark.parametrize("mode", ["REQUIRED", "VERIFY_CA", "VERIFY_IDENTITY"])
async def test_mariadb_required_fails_against_a_server_without_tls(
    mode: str, certs: Certificates
) -> None:
    await require_backend("mysql")
    url = f"{MYSQL_URL}?ssl_mode={mode}&ssl_ca={certs.ca}"
    await _refused(define_config(provider=url, collections=[Tags]), "does not offer TLS")


async def test_mariadb_preferred_falls_back_to_plain_text() -> None:
    await require_backend("mysql")
    db = define_config(provider=f"{MYSQL_URL}?ssl_mode=PREFERRED", collections=[Tags])
    async with db:
        assert not await _is_tls(db)
        await db.plan()


async def test_mariadb_preferred_uses_tls_when_offered(my_port: int, certs: Certificates) -> None:
    name = await _fresh_database(my_port)
    url = _my(my_port, database=name, ssl_mode="PREFERRED")
    await _crud_and_plan(define_config(provider=url, collections=[Tags]))
