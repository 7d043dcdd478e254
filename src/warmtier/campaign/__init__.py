"""Nightly campaigns: every suite's long profile, sharded over machines, one shared
failure database on a Redis server, and one merged report (docs/nightly.md).

Modules, one job each: :mod:`.shared_db` (the Redis connection and the Hypothesis example
database that degrades to the local one), :mod:`.records` (failures the example database
does not hold), :mod:`.replays` (the replay command a record keeps), :mod:`.sharding` (the
plan and its split), :mod:`.durations` (the seconds each unit took, which the next split
uses), :mod:`.pytest_plugin` (what a campaign run records), :mod:`.run` (one shard),
:mod:`.report` (the merged report) and :mod:`.cli` (``warmtier failures`` and
``warmtier replay``).
"""
