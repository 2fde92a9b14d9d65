"""SQL the monitor runs, one statement per file, loaded by name with `catalog.load_query`."""
