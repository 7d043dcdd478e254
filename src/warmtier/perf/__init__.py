"""Measurement toolkit of the scale suite and the benchmarks: workloads, statistics,
run history and reports.

Only ``numpy`` is required; ``faker``, ``psutil``, ``scipy``, ``matplotlib`` and ``rich``
are used when installed (the ``scale`` extra) and replaced by plain fallbacks otherwise,
so the CI gate's smoke tests need nothing beyond the ``test`` extra.
"""

from __future__ import annotations
