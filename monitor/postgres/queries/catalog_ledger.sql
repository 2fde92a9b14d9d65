-- The migration ledger: the one table whose rows are read. The table's name
-- is filled in, quoted, as the catalog spells it.
SELECT version FROM {ledger}
