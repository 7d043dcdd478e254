"""The meta runs, which run the suites rather than being one: the engine matrix, the bug
zoo runner, the first-failure capture it reads, and the mutation report."""
