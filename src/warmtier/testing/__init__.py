"""Reusable parts of the correctness suites: one subpackage per suite (``properties``,
``concurrency``, ``crash``, ``meta``); what every suite uses (store loading, the contract,
the operation vocabulary, comparisons, the shared pytest plugin) sits here on top.

Everything here talks to a store only through the public contract, so other projects
can point it at their own implementation.
"""
