"""The engine adapters' own tests, and unsafe variants of them that the suites must catch."""
