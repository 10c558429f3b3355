"""``Database``: what ``define_config`` returns.

``BaseDatabase`` (runtime/database.py) holds the pool, CRUD, queries and transactions;
this class adds what needs the layers above the runtime: the schema sync (``plan``,
``push``; sync/) and the ASGI lifespan with the development sync engine (asgi.py).
"""

from __future__ import annotations

from .asgi import Lifespan, WatchPaths, lifespan
from .runtime.database import BaseDatabase
from .sync.plan import SyncPlan
from .sync.push import plan_schema, push_schema

__all__ = ["Database"]


class Database(BaseDatabase):
    """A configured database: ``async with db:`` opens the pool, ``db.<slug>`` is CRUD.

    Build it with ``define_config``.
    """

    def lifespan(
        self,
        dev_sync: bool | None = None,
        watch: WatchPaths | None = None,
        debounce: float = 15.0,
    ) -> Lifespan:
        """An ASGI lifespan: opens the pool at startup, closes it at shutdown.

        With ``dev_sync`` (default: on only when ``DEESSE_ENV=development``) it also runs
        the development sync engine on the app's loop: ``watch`` folders (default: those
        of the modules defining the collections), ``debounce`` seconds after the last
        change. See docs/sync.md.

        >>> # app = FastAPI(lifespan=db.lifespan(dev_sync=True, watch=["app/collections"]))
        """
        return lifespan(self, dev_sync=dev_sync, watch=watch, debounce=debounce)

    async def plan(self) -> SyncPlan:
        """Compare the collections with the live database; changes nothing (docs/sync.md).

        >>> # plan = await db.plan()
        >>> # for sql, risk, reason in plan.statements: print(risk, sql)
        """
        return await plan_schema(self)

    async def push(self, accept_data_loss: bool = False) -> SyncPlan:
        """Bring the database to the collections; returns the applied ``SyncPlan``.

        A plan that rows already stored would make fail (NULLs for a required field,
        duplicates for a unique one, ...) raises ``DataConflictError`` before anything
        runs. A plan with a destructive statement raises ``DataLossError`` and applies
        nothing unless ``accept_data_loss=True``; a statement the database rejects raises
        ``SchemaSyncError`` (rolled back on PostgreSQL and SQLite). See docs/sync.md.

        >>> # plan = await db.push()
        >>> # plan.created_tables  -> ['users', 'posts', ...] on a fresh database
        """
        await self.connect()  # a sqlite://:memory: database lives while the pool is open
        return await push_schema(self, accept_data_loss=accept_data_loss)
