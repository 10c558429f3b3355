"""Connect settings (TLS, timeouts, SQLite targets) shared by pools and schema engines.

One place decides what a connection to a server looks like, so that CRUD (driver pool)
and ``db.plan()``/``push()`` (SQLAlchemy engines) can never differ in TLS or timeouts.

PostgreSQL modes are handed to asyncpg in libpq's own terms (a ``dsn`` carrying
``sslmode``/``sslrootcert``/``sslcert``/``sslkey``): asyncpg implements libpq's rules,
``prefer``'s fallback included. MySQL/MariaDB modes become an ``ssl.SSLContext`` here;
asyncmy would start TLS even against a server that does not offer it and fail with
``WRONG_VERSION_NUMBER``, so the server's greeting is read first (a bounded probe) to
refuse a required mode clearly and to let ``PREFERRED`` fall back to plain text.
"""

from __future__ import annotations

import asyncio
import os
import ssl
import struct
import tempfile
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import anyio

from ..errors import ConfigError, ConnectionError

if TYPE_CHECKING:
    from .url import DatabaseURL, TLSSettings

__all__ = ["mysql_connect_args", "postgres_connect_args", "sqlite_target", "tls_refused"]

_CLIENT_SSL = 0x0800  # capability flag in the MySQL protocol v10 greeting
_MYSQL_NAMES = {
    "disable": "DISABLED",
    "prefer": "PREFERRED",
    "require": "REQUIRED",
    "verify-ca": "VERIFY_CA",
    "verify-full": "VERIFY_IDENTITY",
}


def mode_name(url: DatabaseURL) -> str:
    """The TLS mode as the user wrote it (``sslmode=...`` / ``ssl_mode=...``)."""
    tls = url.tls
    if tls is None:
        return "no TLS"
    if tls.context is not None:
        return "ssl=<SSLContext>"
    if url.backend == "mysql":
        return f"ssl_mode={_MYSQL_NAMES[tls.mode]}"
    return f"sslmode={tls.mode}"


def tls_refused(url: DatabaseURL) -> ConnectionError:
    """The error for a server that does not offer TLS when the mode requires it."""
    return ConnectionError(
        f"{url.display} does not offer TLS, and {mode_name(url)} refuses to connect without "
        "it; enable TLS on the server or choose a mode that allows plain text"
    )


def _check_files(url: DatabaseURL, tls: TLSSettings) -> None:
    """A TLS file that is not there is a configuration mistake, not a network failure."""
    names = ("sslrootcert", "sslcert", "sslkey")
    if url.backend == "mysql":
        names = ("ssl_ca", "ssl_cert", "ssl_key")
    for name, path in zip(names, (tls.ca, tls.cert, tls.key), strict=True):
        if path and not os.access(path, os.R_OK):
            raise ConfigError(
                f"{url.display}: {name}={path!r} does not exist or cannot be read "
                f"(working directory: {os.getcwd()})"
            )


def postgres_connect_args(url: DatabaseURL) -> dict[str, Any]:
    """asyncpg ``connect()`` arguments for TLS and the connect timeout."""
    args: dict[str, Any] = {"timeout": url.connect_timeout}
    tls = url.tls
    if tls is None:
        return args
    if tls.context is not None:
        args["ssl"] = tls.context  # asyncpg: TLS required, verified as the context says
        return args
    _check_files(url, tls)
    if "sslmode" not in url.options and not (tls.ca or tls.cert or tls.key):
        return args  # asyncpg's defaults are libpq's: $PGSSLMODE, else prefer
    files = {"sslrootcert": tls.ca, "sslcert": tls.cert, "sslkey": tls.key}
    query = {"sslmode": tls.mode} | {k: v for k, v in files.items() if v}
    # Host, user, password... are passed as arguments, which win over the dsn's.
    args["dsn"] = "postgresql://?" + urlencode(query)
    return args


async def mysql_connect_args(url: DatabaseURL) -> dict[str, Any]:
    """asyncmy ``connect()`` arguments for TLS and the connect timeout.

    Probes the server when TLS is wanted (see the module docstring).
    """
    args: dict[str, Any] = {"connect_timeout": url.connect_timeout}
    tls = url.tls
    if tls is None or tls.mode == "disable":
        return args
    _check_files(url, tls)
    context = tls.context or _mysql_context(tls)
    if not await _offers_tls(url):
        if tls.required:
            raise tls_refused(url)
        return args  # PREFERRED: plain text, as the mysql client does
    args["ssl"] = context
    return args


def _mysql_context(tls: TLSSettings) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        if tls.mode in ("verify-ca", "verify-full") or tls.ca:
            if tls.ca:
                context.load_verify_locations(cafile=tls.ca)
            else:
                context.load_default_certs()
            context.check_hostname = tls.mode == "verify-full"
            context.verify_mode = ssl.CERT_REQUIRED
        else:  # REQUIRED/PREFERRED without a CA: encrypted, not authenticated
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        if tls.cert:
            context.load_cert_chain(tls.cert, keyfile=tls.key)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"TLS files cannot be loaded: {exc}") from None
    return context


async def _offers_tls(url: DatabaseURL) -> bool:
    """Read the server greeting (protocol v10) and tell whether it offers TLS."""
    host, port = url.url.host or "localhost", url.url.port or 3306
    writer = None
    try:
        with anyio.fail_after(url.connect_timeout):
            reader, writer = await asyncio.open_connection(host, port)
            header = await reader.readexactly(4)
            payload = await reader.readexactly(int.from_bytes(header[:3], "little"))
    except TimeoutError:
        raise ConnectionError(
            f"cannot reach MySQL/MariaDB at {url.display}: no greeting from the server within "
            f"connect_timeout={url.connect_timeout}s"
        ) from None
    except (OSError, asyncio.IncompleteReadError) as exc:
        raise ConnectionError(
            f"cannot reach MySQL/MariaDB at {url.display}: {exc}; is the server running and "
            "the URL right?"
        ) from None
    finally:
        if writer is not None:
            writer.close()
    if not payload or payload[0] != 10:  # an error packet: the real connect reports it
        return True
    version_end = payload.find(b"\0", 1)
    # version, NUL, thread id (4), salt part 1 (8), filler (1), capability flags (2)
    flags_at = version_end + 1 + 4 + 8 + 1
    if version_end < 0 or len(payload) < flags_at + 2:
        return True
    (flags,) = struct.unpack_from("<H", payload, flags_at)
    return bool(flags & _CLIENT_SSL)


def sqlite_target(url: DatabaseURL) -> tuple[str, bool]:
    """What to open for a SQLite URL: a path or a ``file:`` URI, and whether it is a URI.

    A read-only (``?mode=ro``) WAL database in a directory that cannot be written is
    opened ``immutable=1``: SQLite cannot create the ``-shm`` file readers need there.
    No process can write to it either (a writer needs its ``-wal`` file in that
    directory), so it really is immutable.
    """
    uri = url.sqlite_uri
    if uri is None:
        return url.sqlite_path, False
    if url.read_only and _wal_without_shm(url.sqlite_path) and not _writable_dir(url.sqlite_path):
        uri += "&immutable=1"
    return uri, True


def _wal_without_shm(path: str) -> bool:
    try:
        with open(path, "rb") as f:
            header = f.read(20)
    except OSError:
        return False  # opening reports it
    # Header bytes 18/19 (write/read format version) are 2 in WAL mode.
    return len(header) == 20 and header[18] == 2 and not os.path.exists(path + "-shm")


def _writable_dir(path: str) -> bool:
    # os.access() says yes to root even on a read-only medium or immutable directory.
    try:
        with tempfile.TemporaryFile(dir=os.path.dirname(os.path.abspath(path))):
            return True
    except OSError:
        return False
