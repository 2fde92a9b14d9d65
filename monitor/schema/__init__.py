"""The expected state and the comparison: model, spec I/O, normalize, diff, provenance.

Pure: nothing here talks to a database. A spec and a snapshot are the same
:class:`~monitor.schema.model.State`, so :mod:`~monitor.schema.diff` compares like with like.
"""
