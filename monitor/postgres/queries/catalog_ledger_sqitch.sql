-- Sqitch's registry: the changes deployed, by name (what sqitch.plan names them),
-- in the order they were deployed. The table's name is filled in.
SELECT change FROM {ledger} ORDER BY committed_at
