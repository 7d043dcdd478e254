"""Root conftest: load the shared warmtier pytest plugin for every suite."""

pytest_plugins = ["warmtier.testing.plugin"]
