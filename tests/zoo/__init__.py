"""The bug zoo: small named variants of the reference store, each with one planted bug.

Kept in the test tree, never shipped. One module per bug: a single ``WarmTierStore``
subclass, a docstring whose first sentence names the bug, and the metadata read by
``tests/zoo/registry.py`` -- ``CATEGORY``, ``CAUGHT_BY`` (suites expected to catch it; the
CI gate runs the first) and optionally ``QUICK`` (pytest arguments narrowing the gate's
run). A bug is planted as a patch of the store's own method (``_support.patch``: the lines
it changes), never as a copy of the method.
``python -m tests.zoo.registry`` lists the members; ``nox -s mutants`` measures them.
"""
