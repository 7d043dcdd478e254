"""Root conftest: load the shared warmtier pytest plugins for every suite, and pin the
store's sources as imported (the zoo plants its bugs in them; tests/zoo/_support.py)."""

import tests.zoo._support  # noqa: F401  (imports the store, then pins its sources)

pytest_plugins = [
    "warmtier.testing.plugin",
    "warmtier.testing.properties.pytest_plugin",
    "warmtier.perf.pytest_plugin",
    "warmtier.testing.concurrency.pytest_plugin",
    "warmtier.testing.crash.pytest_plugin",
    "warmtier.campaign.pytest_plugin",
    "warmtier.testing.run_summary",  # last: the block "what this run exercised"
]
