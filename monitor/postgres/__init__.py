"""Everything that talks to PostgreSQL: connections, catalog and statistics reads, migration
layouts, replay into a scratch server.

Every statement the monitor sends to a watched or scratch database is here, its SQL in
``queries/*.sql`` and ``sql/*.sql``. psycopg is imported elsewhere only to name its
connection and error types (the daemon's session keeper opens the connections these
functions are given, and its jobs tell a broken connection from a failed read) and by
``demo``, which creates the demo's database and runs the example drift there.
"""
