"""The watch window: persisted baseline and drift history, and the end-of-window report."""
