"""Alembic migrations, run programmatically at server start."""
