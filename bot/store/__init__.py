"""The store: SQLAlchemy tables, repositories and the unit of work (SQLite or PostgreSQL)."""

from bot.store.db import Database, UnitOfWork

__all__ = ["Database", "UnitOfWork"]
