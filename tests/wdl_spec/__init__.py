"""The WDL specification's examples (1.1 and 1.2), pinned as data, with their extractor and runner.

See SOURCE.md for where they come from, extract.py for how they are read, runner.py for how they
are run and judged, and expected_failures.json for the examples expected to fail and why.
"""
