"""A real PgBouncer in transaction mode in front of the shared PostgreSQL, for the tests.

It runs from a temp dir on a free loopback port with its own ini (``pool_mode =
transaction`` and three server connections: fewer than a test's pool has clients, so one
client's consecutive transactions land on different server connections), as the
``postgres`` user (PgBouncer refuses to run as root). It is stopped by PID when the session ends and, should pytest be killed,
by the kernel (``PR_SET_PDEATHSIG``). The shared server is never reconfigured.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import subprocess
from collections.abc import Iterator

from sqlalchemy.engine import make_url

PGBOUNCER = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
SERVER_POOL_SIZE = 3

INI = """\
[databases]
{database} = host={host} port={port} dbname={database}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {listen}
unix_socket_dir =
auth_type = trust
auth_file = {auth_file}
pool_mode = {pool_mode}
default_pool_size = {pool_size}
min_pool_size = 0
reserve_pool_size = 0
max_client_conn = 500
server_reset_query =
server_check_delay = 0
ignore_startup_parameters = extra_float_digits
logfile =
pidfile =
admin_users = {user}
"""


@contextlib.contextmanager
def pgbouncer(postgres_url: str, pool_mode: str = "transaction") -> Iterator[str]:
    """Start PgBouncer in front of ``postgres_url``; yield the URL through it (same
    user and database, PgBouncer's host and port). Skips locally, fails under CI=true
    when PgBouncer is not installed. ``pool_mode``: ``transaction`` or ``session``."""
    from tests.runtime.servers import (
        _die_with_parent,
        _stop,
        _wait_port,
        free_port,
        missing,
        temp_dir,
    )

    if not os.path.exists(PGBOUNCER):
        missing("pgbouncer is not installed (apt-get install pgbouncer)")
    target = make_url(postgres_url)
    user = target.username or "postgres"
    run_as = "postgres" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name
    with temp_dir() as root:
        auth_file = root / "userlist.txt"
        auth_file.write_text(f'"{user}" ""\n')
        listen = free_port()
        ini = root / "pgbouncer.ini"
        ini.write_text(
            INI.format(
                database=target.database,
                host=target.host or "127.0.0.1",
                port=target.port or 5432,
                listen=listen,
                auth_file=auth_file,
                pool_size=SERVER_POOL_SIZE,
                pool_mode=pool_mode,
                user=user,
            )
        )
        for f in (auth_file, ini):
            f.chmod(0o644)
        log = root / "pgbouncer.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [PGBOUNCER, str(ini)],
                user=run_as if os.geteuid() == 0 else None,
                stdout=out,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent(signal.SIGKILL),
            )
        try:
            _wait_port(listen, proc, log, seconds=20)
            yield target.set(host="127.0.0.1", port=listen).render_as_string(hide_password=False)
        finally:
            _stop(proc, signal.SIGTERM)  # immediate shutdown (SIGINT waits for clients)


async def reconnect(url: str) -> None:
    """Make PgBouncer replace its server connections (admin console ``RECONNECT``):
    whatever session state a test left on them goes with them."""
    import asyncpg

    u = make_url(url)
    admin = await asyncpg.connect(
        host=u.host, port=u.port, user=u.username, database="pgbouncer", statement_cache_size=0
    )
    try:
        await admin.execute(f"RECONNECT {u.database}")
    finally:
        await admin.close()
