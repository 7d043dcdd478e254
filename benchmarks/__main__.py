"""Entry point: ``python -m benchmarks --help`` (the tight harness, benchmarks/tight.py).

The broader matrix (compaction, space amplification, dict of numpy, SQLite autocommit)
is ``python -m benchmarks.run``.
"""

from benchmarks.tight import main

raise SystemExit(main())
