"""Source programs for the tests, placed as installed programs in a sources folder: real
executables that speak the Airbyte protocol (the installer is tested with real PyPI
packages; these cover what PyPI's sources cannot be made to do on cue: fail, hang, and
honour a date cursor state)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from core.connectors.programs import installer

# Records of days 2026-11-01 .. 2026-11-10, three a day; incremental on `day`, resuming from
# the state's day; every argument and state it got is appended to a file beside it.
DAYS_SOURCE = r'''
import json, sys
from datetime import date, timedelta
from pathlib import Path

here = Path(__file__).resolve().parent
command = sys.argv[1]
args = dict(zip(sys.argv[2::2], sys.argv[3::2]))
config = json.loads(Path(args["--config"]).read_text()) if "--config" in args else {}
state = json.loads(Path(args["--state"]).read_text()) if "--state" in args else None
with open(here / "calls.jsonl", "a") as calls:
    calls.write(json.dumps({"command": command, "config": config, "state": state}) + "\n")
def say(message):
    print(json.dumps(message), flush=True)
schema = {"type": "object", "properties": {
    "id": {"type": "integer"}, "day": {"type": "string", "format": "date"},
    "amount": {"type": "number"}, "note": {"type": ["null", "string"]}}}
nodate = {"type": "object", "properties": {"code": {"type": "string"},
                                           "size": {"type": "integer"}}}
if command == "spec":
    say({"type": "SPEC", "spec": {"connectionSpecification": {
        "type": "object", "required": ["api_key"],
        "properties": {"api_key": {"type": "string", "airbyte_secret": True},
                       "mode": {"type": "string"}}}}})
elif command == "check":
    ok = config.get("api_key") == "right-key-1234"
    say({"type": "CONNECTION_STATUS", "connectionStatus": {
        "status": "SUCCEEDED" if ok else "FAILED",
        "message": None if ok else "the API key was refused"}})
elif command == "discover":
    say({"type": "CATALOG", "catalog": {"streams": [
        {"name": "sales", "json_schema": schema, "supported_sync_modes":
         ["full_refresh", "incremental"], "source_defined_cursor": True,
         "default_cursor_field": ["day"]},
        {"name": "codes", "json_schema": nodate, "supported_sync_modes": ["full_refresh"]}]}})
elif command == "read":
    mode = config.get("mode", "ok")
    say({"type": "LOG", "log": {"level": "INFO", "message": f"reading in mode {mode}"}})
    say({"type": "LOG", "log": {"level": "DEBUG", "message": "page 1 of 1"}})
    say({"type": "LOG", "log": {"level": "WARN", "message": "90% of the daily quota used"}})
    if mode == "trace":
        say({"type": "TRACE", "trace": {"type": "ERROR", "emitted_at": 0, "error": {
            "message": "quota exceeded for key ending 1234", "failure_type": "config_error"}}})
        sys.exit(1)
    if mode == "crash":
        print("Traceback: the source crashed on record 7", file=sys.stderr, flush=True)
        sys.exit(3)
    catalog = json.loads(Path(args["--catalog"]).read_text())
    stream = catalog["streams"][0]["stream"]["name"]
    if stream == "codes":
        for i in range(4):
            say({"type": "RECORD", "record": {"stream": "codes", "emitted_at": 0,
                 "data": {"code": f"c{i}", "size": i}}})
        sys.exit(0)
    start = date(2026, 11, 1)
    if state:
        start = date.fromisoformat(state[0]["stream"]["stream_state"]["day"])
    day, n = start, 0
    while day <= date(2026, 11, 10):
        for k in range(3):
            n += 1
            say({"type": "RECORD", "record": {"stream": "sales", "emitted_at": 0, "data": {
                "id": (day - date(2026, 11, 1)).days * 3 + k, "day": day.isoformat(),
                "amount": 1.5 * k, "note": None}}})
        if mode == "hang":
            (here / "pid").write_text(str(__import__("os").getpid()))
            import time
            while True:
                time.sleep(1)
        say({"type": "STATE", "state": {"type": "STREAM", "stream": {
            "stream_descriptor": {"name": "sales"}, "stream_state": {"day": day.isoformat()}}}})
        day += timedelta(days=1)
'''


# The same days as a Singer tap: --discover, --catalog, --state; bookmarks as singer-sdk
# writes them; mode "crash" exits 2 with a message on its error output.
DAYS_TAP = r'''
import json, sys
from datetime import date, timedelta
from pathlib import Path

here = Path(__file__).resolve().parent
args = sys.argv[1:]
def value(flag):
    return args[args.index(flag) + 1] if flag in args else None
config = json.loads(Path(value("--config")).read_text()) if value("--config") else {}
state = json.loads(Path(value("--state")).read_text()) if value("--state") else None
with open(here / "calls.jsonl", "a") as calls:
    calls.write(json.dumps({"command": "discover" if "--discover" in args else "read",
                            "config": config, "state": state}) + "\n")
def say(message):
    print(json.dumps(message), flush=True)
schema = {"type": "object", "properties": {
    "id": {"type": ["integer"]}, "day": {"type": ["string"], "format": "date"},
    "amount": {"type": ["null", "number"]}}}
if "--discover" in args:
    print(json.dumps({"streams": [{"tap_stream_id": "sales", "stream": "sales",
        "schema": schema, "replication_key": "day", "replication_method": "INCREMENTAL",
        "metadata": [{"breadcrumb": [], "metadata": {"valid-replication-keys": ["day"]}}]}]},
        indent=2))
    sys.exit(0)
if config.get("mode") == "crash":
    print("tap-days: the token was refused by the API", file=sys.stderr, flush=True)
    sys.exit(2)
catalog = json.loads(Path(value("--catalog")).read_text())
selected = [s for s in catalog["streams"] if any(
    m["metadata"].get("selected") for m in s["metadata"] if not m["breadcrumb"])]
assert [s["tap_stream_id"] for s in selected] == ["sales"], selected
say({"type": "SCHEMA", "stream": "sales", "schema": schema, "key_properties": ["id"]})
for said in ("INFO tap-days: starting the sync",
             "/usr/lib/python3/x.py:3: DeprecationWarning: an old API",
             "2026-12-05 07:00:00,000 | WARNING  | tap-days | skipped 1 record without a day"):
    print(said, file=sys.stderr, flush=True)
start = date(2026, 11, 1)
if state:
    start = date.fromisoformat(state["bookmarks"]["sales"]["replication_key_value"])
day = start
while day <= date(2026, 11, 10):
    for k in range(3):
        say({"type": "RECORD", "stream": "sales", "record": {
            "id": (day - date(2026, 11, 1)).days * 3 + k, "day": day.isoformat(),
            "amount": 2.0 * k}})
    say({"type": "STATE", "value": {"bookmarks": {"sales": {
        "replication_key": "day", "replication_key_value": day.isoformat()}}}})
    day += timedelta(days=1)
'''


def place(root: Path, package: str = "test-source-days", version: str = "1",
          text: str = DAYS_SOURCE, command: str = "source-days") -> Path:
    """Put a test program in `root` as an installed package; return its folder."""
    folder = root / installer.env_dir(package, version).name
    (folder / "bin").mkdir(parents=True, exist_ok=True)
    program = folder / "bin" / command
    program.write_text(f"#!{sys.executable}\n{text}")
    program.chmod(0o755)
    (folder / installer.MARKER).write_text(json.dumps({"version": version,
                                                       "command": command}))
    return folder


def calls(folder: Path) -> list[dict[str, object]]:
    """What the program was called with, in order."""
    path = folder / "bin" / "calls.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]
