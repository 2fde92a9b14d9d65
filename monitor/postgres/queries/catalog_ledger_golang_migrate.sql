-- golang-migrate's ledger: one row, the version the database is at, and whether
-- the migration to it failed partway (dirty). The table's name is filled in.
SELECT version::text, dirty FROM {ledger}
