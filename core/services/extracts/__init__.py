"""Extracts: create one per account, read, replace (PUT), patch, pause, delete.

config.py checks an extract's configuration, accounts and data table before anything is
written; changes.py creates and changes extracts with it; reads.py reads them; deletion.py
deletes one, and its rows after that has committed.
"""

from core.services.extracts.changes import (
    create_extracts,
    patch_extract,
    pause_extract,
    unpause_extract,
    update_extract,
)
from core.services.extracts.deletion import delete_extract
from core.services.extracts.reads import extract_titles, get_extract, list_extracts

__all__ = [
    "create_extracts",
    "delete_extract",
    "extract_titles",
    "get_extract",
    "list_extracts",
    "patch_extract",
    "pause_extract",
    "unpause_extract",
    "update_extract",
]
