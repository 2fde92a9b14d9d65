"""Where the expected state meets the live one: the diff (pure), its security half and the
wording of its findings."""
