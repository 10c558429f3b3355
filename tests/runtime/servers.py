"""Servers of the tests' own: a test CA, a TLS PostgreSQL cluster, a TLS MariaDB.

Each runs from a temp dir on a free loopback port, never touching the shared servers.
They are stopped by PID when the fixture ends and, should pytest itself be killed, by
the kernel: the server process gets ``SIGQUIT``/``SIGKILL`` when its parent dies
(``PR_SET_PDEATHSIG``). Temp dirs left by a killed run are removed by the next one.
PostgreSQL is started by ``tests/pgcluster.py`` (the one place that starts it).
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.pgcluster import (
    PG_BIN,
    PREFIX,
    PostgresServer,
    die_with_parent,
    free_port,
    missing,
    run,
    sweep_stale_dirs,
    temp_dir,
)

__all__ = ["free_port", "make_certificates", "missing", "temp_dir", "tls_mariadb", "tls_postgres"]

MARIADBD = Path("/usr/sbin/mariadbd")
# The names this module had before tests/pgcluster.py took the shared code over.
_PREFIX = PREFIX
_die_with_parent = die_with_parent
_sweep_stale_dirs = sweep_stale_dirs


def _run(*cmd: str | Path, cwd: Path | None = None) -> None:
    run(*cmd, cwd=cwd)


@dataclass(frozen=True)
class Certificates:
    """A test CA, a server certificate for ``localhost`` only, a client cert, a wrong CA."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path  # CN=certuser, signed by ``ca``
    client_key: Path
    other_ca: Path  # a CA that signed nothing here


def make_certificates(where: Path) -> Certificates:
    """Create the certificates with ``openssl`` (EC keys: fast)."""
    if shutil.which("openssl") is None:
        missing("openssl is not installed")
    d = where / "certs"
    d.mkdir()
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    for ca in ("ca", "other_ca"):
        _run(
            "openssl", "req", "-x509", *ec, "-keyout", d / f"{ca}.key", "-out", d / f"{ca}.crt",
            "-days", "2", "-subj", f"/CN=deesse test {ca}",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        )  # fmt: skip
    leaf = {"server": ("localhost", "serverAuth"), "client": ("certuser", "clientAuth")}
    for name, (cn, usage) in leaf.items():
        ext = d / f"{name}.ext"
        san = "subjectAltName=DNS:localhost\n" if name == "server" else ""
        ext.write_text(
            f"{san}basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\n"
            f"extendedKeyUsage={usage}\nauthorityKeyIdentifier=keyid,issuer\n"
        )
        _run("openssl", "req", *ec, "-keyout", d / f"{name}.key", "-out", d / f"{name}.csr",
             "-subj", f"/CN={cn}")  # fmt: skip
        _run(
            "openssl", "x509", "-req", "-in", d / f"{name}.csr", "-CA", d / "ca.crt",
            "-CAkey", d / "ca.key", "-CAcreateserial", "-out", d / f"{name}.crt",
            "-days", "2", "-extfile", ext,
        )  # fmt: skip
    for f in d.iterdir():
        f.chmod(0o644)  # readable by the server users; the servers get their own key copy
    return Certificates(
        ca=d / "ca.crt",
        server_cert=d / "server.crt",
        server_key=d / "server.key",
        client_cert=d / "client.crt",
        client_key=d / "client.key",
        other_ca=d / "other_ca.crt",
    )


def _server_key_copy(certs: Certificates, data: Path, owner: str) -> tuple[Path, Path]:
    cert, key = data / "server.crt", data / "server.key"
    shutil.copy(certs.server_cert, cert)
    shutil.copy(certs.server_key, key)
    key.chmod(0o600)  # PostgreSQL refuses a key others can read
    for f in (cert, key):
        shutil.chown(f, owner, owner)
    return cert, key


def _wait_port(port: int, proc: subprocess.Popen[bytes], log: Path, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}: {log.read_text()[-3000:]}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"server did not listen on {port}: {log.read_text()[-3000:]}")


def _stop(proc: subprocess.Popen[bytes], sig: int) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=20)


PG_HBA = """\
local all all trust
hostssl all certuser 127.0.0.1/32 cert
hostssl all all 127.0.0.1/32 trust
hostnossl all all 127.0.0.1/32 reject
"""


@contextlib.contextmanager
def tls_postgres(certs: Certificates, root: Path) -> Iterator[int]:
    """A PostgreSQL 15 cluster with ``ssl=on`` refusing plain text; yields its port.

    Users: ``postgres`` (trust over TLS), ``certuser`` (client certificate only).
    """
    if not (PG_BIN / "postgres").exists():
        missing(f"PostgreSQL binaries not found in {PG_BIN}")
    server = PostgresServer.initdb(root, "pgdata", hba=PG_HBA)
    cert, key = _server_key_copy(certs, server.data, "postgres")
    ca = server.data / "ca.crt"
    shutil.copy(certs.ca, ca)
    server.settings.update(
        {
            "ssl": "on",
            "ssl_cert_file": str(cert),
            "ssl_key_file": str(key),
            "ssl_ca_file": str(ca),
            "fsync": "off",
            "max_connections": "40",
        }
    )
    server.start()
    try:
        _run("runuser", "-u", "postgres", "--", PG_BIN / "psql", "-h", server.data,
             "-p", str(server.port), "-U", "postgres",
             "-c", "CREATE USER certuser SUPERUSER")  # fmt: skip
        yield server.port
    finally:
        server.stop()  # fast shutdown, by PID


@contextlib.contextmanager
def tls_mariadb(certs: Certificates, root: Path) -> Iterator[int]:
    """A MariaDB server with TLS that refuses plain-text TCP (``require_secure_transport``)."""
    if not MARIADBD.exists() or shutil.which("mariadb-install-db") is None:
        missing("mariadbd / mariadb-install-db not installed")
    data = root / "mydata"
    data.mkdir()
    shutil.chown(data, "mysql", "mysql")
    _run("mariadb-install-db", "--no-defaults", f"--datadir={data}", "--user=mysql",
         "--auth-root-authentication-method=normal", "--skip-test-db")  # fmt: skip
    cert, key = _server_key_copy(certs, data, "mysql")
    port, log = free_port(), root / "mariadb.log"
    args = [
        "--no-defaults",
        f"--datadir={data}",
        f"--port={port}",
        f"--socket={data / 'mysqld.sock'}",
        f"--pid-file={data / 'mysqld.pid'}",
        "--bind-address=127.0.0.1",
        f"--ssl-ca={certs.ca}",
        f"--ssl-cert={cert}",
        f"--ssl-key={key}",
        "--require-secure-transport=ON",
        "--skip-name-resolve",
        "--innodb-buffer-pool-size=32M",
        "--innodb-log-file-size=8M",
        "--skip-log-bin",
        f"--log-error={log}",
    ]
    proc = subprocess.Popen(
        [str(MARIADBD), *args],
        user="mysql",
        group="mysql",
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=die_with_parent(signal.SIGKILL),
    )
    try:
        log.touch()
        _wait_port(port, proc, log)
        grants = (
            "CREATE USER IF NOT EXISTS 'root'@'127.0.0.1'; GRANT ALL ON *.* TO 'root'@'127.0.0.1';"
            "CREATE DATABASE app;"
        )
        _run("mariadb", "--no-defaults", f"--socket={data / 'mysqld.sock'}", "-uroot",
             "-e", grants)  # fmt: skip
        yield port
    finally:
        _stop(proc, signal.SIGTERM)
