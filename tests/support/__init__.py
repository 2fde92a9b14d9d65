"""What the tests share: servers, processes, waiting, a TCP proxy, exposition parsing.

Loaded through ``pytest_plugins`` in tests/conftest.py (fixtures) or imported as
plain modules (helpers). No test module imports another test module.
"""
