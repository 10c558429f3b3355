"""Compiler: collections -> SQLAlchemy tables, pydantic models, relation graph."""
