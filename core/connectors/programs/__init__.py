"""Source programs from PyPI (Airbyte sources, Singer taps), shared plumbing.

- `installer`: one virtual environment per package and version under the sources folder.
- `process`: the program as a subprocess: its output line by line, quiet ticks, killed
  (its whole process group) when a run stops early.
- `streams`: a stream's JSON Schema as template fields, the window as a state, records as
  Arrow tables.
- `files`: the config, catalog and state handed to a program (private, removed after).
- `running`: a program's run: its output lines, its JSON messages, its log lines as notes.
- `settings`: the connection's settings form, the program's secrets by path, its settings
  checked against its spec.
- `source`: what both datasources share; the state a read ends with goes back to the runner
  (`FetchResult.state`), which keeps it per extract with the loaded window.
"""
