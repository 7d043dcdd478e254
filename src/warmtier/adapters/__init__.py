"""Contract stores over real engines (SQLite, LMDB): short adapters to copy for your own store.
Point any suite at one: ``--warmtier-store=warmtier.adapters.sqlite:SQLiteStore``.
"""
