"""The watch daemon: config, the scheduled runner, immutable results, metrics, web, events."""
