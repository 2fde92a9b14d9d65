-- postgres-migrations' ledger: the ids (the numbers of the files) of the
-- migrations it ran. The table's name is filled in.
SELECT id::text FROM {ledger}
