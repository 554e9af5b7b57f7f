"""Files: a folder or glob of CSV, Parquet or JSON Lines files, read with pyarrow datasets.

The template's fields come from the schema pyarrow infers from the files (a timestamp that is
always midnight counts as a date; `column_types` corrects the rest). Only the needed columns are
read; the window and the filters that fit the column's stored type become a dataset filter, so
Parquet statistics skip files and row groups outside them. Rows come in chunks of record
batches, so memory does not grow with the files.

- `connector`: the `Files` connector: its settings, accounts, the template, fetch.
- `schema`: finding the files, opening them as a dataset, inferring the field types.
- `plan`: what one fetch reads and pushes down: columns, the window, filter conditions.
- `read`: reading batches per format with bounded memory, and conforming corrected types.
"""

from core.connectors.files.connector import Files

__all__ = ["Files"]
