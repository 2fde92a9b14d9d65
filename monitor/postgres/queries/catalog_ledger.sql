-- The migration ledger: the one table whose rows are read, and of it only the
-- `version` column (catalog.py checks the table is named like a ledger and has
-- one). The table's name is filled in, quoted, as the catalog spells it.
SELECT version FROM {ledger} WHERE version IS NOT NULL
