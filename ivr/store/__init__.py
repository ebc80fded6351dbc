"""What must survive a restart (callbacks, per-caller daily counts): SQLite by default."""

from .sqlite import Callback, SqliteStore

__all__ = ["Callback", "SqliteStore"]
