"""Where the expected state meets the live one: the diff (pure), one module per area of
objects (tables in diff, layout, schema objects, database objects), what decides a change
of each kind (functions and views, types and sequences, privileges and owners), and the
wording of its findings."""
