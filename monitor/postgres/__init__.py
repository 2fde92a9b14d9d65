"""Everything that talks to PostgreSQL: connections, catalog and statistics reads, migration
layouts, replay into a scratch server.

The only rooms that import psycopg. SQL lives in ``queries/*.sql`` and ``sql/*.sql``.
"""
