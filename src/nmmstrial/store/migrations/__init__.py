"""Alembic migrations that create and evolve the study database (run from engine.py)."""
