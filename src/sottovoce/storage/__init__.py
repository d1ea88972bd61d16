"""Server-side persistence: one SQLAlchemy schema, SQLite by default, PostgreSQL in production."""
