"""`python -m core.worker`: run a worker on its own until SIGTERM or Ctrl-C."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from typing import Any

from core import errors
from core.config import get_settings
from core.db import open_database
from core.worker import Worker

log = logging.getLogger(__name__)


def main() -> int:
    """Run a worker until SIGTERM or Ctrl-C; log to stdout."""
    logging.basicConfig(stream=sys.stdout, level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    try:
        settings = get_settings()
    except errors.Invalid as exc:
        log.error("cannot start: %s", exc)
        return 2
    db = open_database(settings)
    stop = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        log.info("received %s; stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    worker = Worker(db).start()
    while not stop.wait(1.0):
        pass
    worker.stop()
    db.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
