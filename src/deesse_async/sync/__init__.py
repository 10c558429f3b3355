"""Synchronisation helpers: classify migration SQL by its risk to existing data."""

from .sentinel import Classification, classify

__all__ = ["Classification", "classify"]
