"""Source programs from PyPI (Airbyte sources, Singer taps), shared plumbing.

- `installer`: one virtual environment per package and version under the sources folder.
- `process`: the program as a subprocess: its output line by line, quiet ticks, killed
  (its whole process group) when a run stops early.
- `streams`: a stream's JSON Schema as template fields, the window as a state, records as
  Arrow tables.
- `files`: the config, catalog and state handed to a program, and the state kept between
  runs.
"""
