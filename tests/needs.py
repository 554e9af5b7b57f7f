"""What a test needs from the machine (a server, a browser): the one rule for when it is missing.

Under CI=true a missing need fails the test, so CI never passes by skipping; on a laptop the
test is skipped with the reason and what would make it run.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def missing(reason: str, *, remedy: str) -> NoReturn:
    """Fail under CI=true, else skip; `remedy` says how to provide what is missing."""
    if in_ci():
        pytest.fail(f"{reason} (CI=true: every test must run; {remedy})")
    pytest.skip(f"{reason} ({remedy})")
