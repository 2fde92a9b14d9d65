"""The documents engine that the spec, the daemon's config and its web config all read through:
a file read safely, one strict YAML dialect, problems as paths, lines found only on error."""
