"""Relational queries (``db.query``): options -> query tree -> plan -> SQL -> rows.

- ``options.py``: find_many/find_first options parsed into a frozen query tree + values
- ``aggregates.py``: ``agg.count/sum/avg/min/max`` and their correlated subqueries
- ``planner.py``: ``QueryPlanner`` (plans cached by shape), ``Query``, ``PreparedQuery``
- ``lateral.py`` / ``batched.py``: the two strategies, one statement or one per level
- ``context.py`` (what planning needs), ``clauses.py`` (SELECT pieces both share),
  ``filters.py`` (where trees -> SQL), ``decode.py`` (JSON rows -> Python values)
- ``api.py``: ``db.query.<slug>``

Every SQL decision that differs by backend is a ``Dialect`` hook (``dialects/``).
"""
