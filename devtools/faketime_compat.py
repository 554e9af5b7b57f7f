"""Python under Debian's libfaketime (`faketime '+45 days' python3 dev.py test`).

The tests must pass on any date, and faketime is how a person checks that. libfaketime 0.9.10
breaks Python 3.11 in two ways: with the monotonic clock faked, every timed wait (Event.wait,
Lock.acquire, queue.get with a timeout) sleeps for the 45 days; with it left real
(FAKETIME_DONT_FAKE_MONOTONIC=1), `time.sleep` fails with EINVAL because libfaketime shifts
the absolute deadline of clock_nanosleep. Only the date matters to the product, so: keep the
monotonic clock real, and sleep on select(), which takes a relative timeout.

dev.py installs a .pth file that imports this module in every process of the project's
virtual environment; outside faketime it does nothing.
"""

from __future__ import annotations

import os
import select
import sys
import time
from typing import SupportsIndex


def _sleep(secs: float | SupportsIndex) -> None:
    seconds = float(secs)
    if seconds < 0:
        raise ValueError("sleep length must be non-negative")
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        select.select([], [], [], left)


def install() -> None:
    if "faketime" not in os.environ.get("LD_PRELOAD", ""):
        return
    if os.environ.get("FAKETIME_DONT_FAKE_MONOTONIC") != "1":
        # libfaketime reads its settings when the process starts: start again with them.
        os.environ["FAKETIME_DONT_FAKE_MONOTONIC"] = "1"
        os.execv(sys.executable, sys.orig_argv)
    try:
        time.sleep(0.0001)
    except OSError:
        time.sleep = _sleep


install()
