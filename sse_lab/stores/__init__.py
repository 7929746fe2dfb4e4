"""Answers at rest, behind one seam: the SQLite store (embedded) and the Redis store (shared)."""
