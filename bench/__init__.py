"""Performance benchmark of the CDS service: `make bench` (or `.venv/bin/python -m bench.run`).

Not part of the pytest suite: nothing here asserts a timing.
"""
