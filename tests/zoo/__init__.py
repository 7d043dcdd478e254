"""The bug zoo: small named variants of the reference store, each with one planted bug.

Kept in the test tree, never shipped. ``tests/zoo/registry.py`` lists every member with
the spec to pass as ``--warmtier-store`` and what the bug is.
"""
