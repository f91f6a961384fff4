"""The raw-SQL floor: the server's own statements, replayed with asyncpg."""
