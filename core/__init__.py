"""The product: everything the dashboard, the API and the worker share."""

import os

# Arrow allocates with the C library's malloc, not its bundled mimalloc: a load frees its
# chunks on threads (DuckDB's, Arrow's) whose mimalloc heaps kept the pages, and a million
# rows into DuckDB peaked 55-60 MB higher, into SQLite about 45 MB (docs/benchmarks.md,
# "Pipeline"). Arrow reads this once, when it is first imported: here, before any of core
# imports it; `dev.py run` sets it for the dashboard, whose Streamlit imports Arrow first.
os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")
