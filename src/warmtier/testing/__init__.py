"""Reusable parts of the correctness suites: store loading, strategies, checkers, harnesses.

Everything here talks to a store only through the public contract, so other projects
can point it at their own implementation.
"""
