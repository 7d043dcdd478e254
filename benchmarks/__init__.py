"""``python -m benchmarks``: warmtier side by side with the stores people would pick
instead (py-lmdb, SQLite, a dict of numpy arrays, a bare numpy memmap), on the same data.
See docs/bench.md."""
