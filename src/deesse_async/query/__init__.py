"""Relational queries: options -> plan -> SQL -> rows (filters live here today)."""
