-- Flyway's schema history: the versions of the migrations that succeeded
-- (repeatable migrations have no version). The table's name is filled in.
SELECT version FROM {ledger} WHERE success AND version IS NOT NULL
