"""Runtime: define_config, Database, pool, CRUD, transactions."""
