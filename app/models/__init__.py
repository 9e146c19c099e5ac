"""Every model module is imported here so that Alembic sees all tables."""
