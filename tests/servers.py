"""Real server processes for tests: a free loopback port, start until it answers, stop."""

from __future__ import annotations

import os
import socket
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def server_env(var_dir: Path, secret_key: str) -> dict[str, str]:
    """This process's environment with the product's settings pointed at `var_dir`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("EXTRACTS_")}
    env.update(EXTRACTS_VAR_DIR=str(var_dir), EXTRACTS_SECRET_KEY=secret_key)
    return env


def start(command: list[str], *, env: dict[str, str], ready_url: str, log: Path,
          timeout: float = 60) -> subprocess.Popen[bytes]:
    """Start `command` in the repository root; return once `ready_url` answers 200."""
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out,
                                   stderr=subprocess.STDOUT)
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(ready_url, timeout=2) as response:
                if response.status == 200:
                    return process
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            stop(process)
            raise RuntimeError(f"{' '.join(command[2:4])} did not start:\n{log.read_text()}")
        time.sleep(0.2)


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


Answer = tuple[int, dict[str, str], bytes]


@contextmanager
def http_server(answer: Callable[[str, dict[str, str]], Answer]) -> Iterator[str]:
    """A real HTTP server on a free loopback port for a test; `answer(path, headers)` (headers
    lower-cased) gives each GET's status, headers and body. Yields its base URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, headers, body = answer(self.path,
                                           {k.lower(): v for k, v in self.headers.items()})
            self.send_response(status)
            for name, value in {"Content-Length": str(len(body)), **headers}.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
