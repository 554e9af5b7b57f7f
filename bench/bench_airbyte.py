"""An Airbyte source into the SQLite warehouse against the source's own output rate:
`airbyte-source-faker` (pinned, seeded) writing its `users` stream, piped to /dev/null, and
the same records loaded by a run of an `airbyte` extract (discover, read, Arrow chunks,
the window replaced in the warehouse).

    .venv/bin/python -m bench.bench_airbyte                    # 100,000 records, 3 rounds
    .venv/bin/python -m bench.bench_airbyte --rows 20000 --rounds 2

The package is installed once into bench's own sources folder (var/bench-sources, reused).
Each contender runs in a fresh process; they alternate round by round, so a change in the
machine's load hits both. The piped contender counts the RECORD lines the source wrote, the
run's rows are the data table's; both must equal --rows. Target: the run at least 0.8x the
source's own rate.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path

CONTENDERS = ("source_to_devnull", "source_to_warehouse")
PACKAGE, VERSION = "airbyte-source-faker", "7.2.1"
SOURCES = Path("var") / "bench-sources"


def source_config(rows: int) -> dict[str, object]:
    return {"count": rows, "seed": 11, "always_updated": False, "parallelism": 1,
            "records_per_slice": 1000}


def _devnull(rows: int) -> tuple[int, float]:
    """The source's own rate: its read of users, its output counted and dropped."""
    from core.connectors.programs import installer

    installer.configure(SOURCES.resolve())
    program = installer.ensure(PACKAGE, VERSION)
    with tempfile.TemporaryDirectory() as folder:
        config = Path(folder) / "config.json"
        config.write_text(json.dumps(source_config(rows)))
        discovered = subprocess.run([str(program.executable), "discover", "--config",
                                     str(config)], capture_output=True, text=True,
                                    check=True).stdout
        catalog = next(json.loads(line) for line in discovered.splitlines()
                       if '"CATALOG"' in line)["catalog"]
        [users] = [s for s in catalog["streams"] if s["name"] == "users"]
        configured = Path(folder) / "catalog.json"
        configured.write_text(json.dumps({"streams": [{
            "stream": users, "sync_mode": "full_refresh", "destination_sync_mode": "append"}]}))
        started = time.perf_counter()
        # The pipe to /dev/null, with a count of the records on the way: `grep -c` reads
        # as fast as the source writes.
        out = subprocess.run(
            f"'{program.executable}' read --config '{config}' --catalog '{configured}' "
            "| tee /dev/null | grep -c '\"type\":\"RECORD\"'",
            shell=True, capture_output=True, text=True, check=True).stdout
        return int(out.strip()), time.perf_counter() - started


def _warehouse(rows: int) -> tuple[int, float]:
    """A run of an airbyte extract of users, one window holding every record: the date
    field is the cursor, updated_at, which faker sets to now (the run is incremental from
    a state at the window's first day)."""
    from core import runner, service
    from core.config import get_settings
    from core.db import open_database

    with tempfile.TemporaryDirectory() as folder:
        settings = get_settings({
            "EXTRACTS_VAR_DIR": folder, "EXTRACTS_SECRET_KEY": "bench",
            "EXTRACTS_SOURCES_DIR": str(SOURCES.resolve()), "EXTRACTS_SEED_DEMO": "false",
            "EXTRACTS_BACKFILL_CHUNK_DAYS": "40000", "EXTRACTS_FILES_ROOTS": folder})
        db = open_database(settings, seed=False)
        with db.session() as session:
            connection = service.create_connection(session=session, data={
                "datasource": "airbyte", "title": "Faker", "config": {
                    "package": PACKAGE, "version": VERSION,
                    "source_config": source_config(rows)}})
            [users] = [t for t in service.list_templates(session=session,
                                                         connection_id=connection.id)
                       if t.name == "users" and t.connection_id == connection.id]
            [extract] = service.create_extracts(session=session, data={
                "data_table_title": "Users", "template_id": users.id,
                "template_settings": {"fields": [f.name for f in users.fields],
                                      "filters": []},
                "accounts": [connection.accounts[0].id]})
            [run] = service.run_extract(session=session, extract_id=extract.id,
                                        date_from=date(1970, 1, 1),
                                        date_to=datetime.now(UTC).date())
        started = time.perf_counter()
        done = runner.execute_run(db=db, run_id=run.id)
        seconds = time.perf_counter() - started
        if done.status != "succeeded":
            raise SystemExit(f"the run {done.status}: {done.error}")
        with db.session() as session:
            stored = service.get_data_table(session=session,
                                            data_table_id=extract.data_table_id).row_count
        db.dispose()
        return min(done.rows or 0, stored), seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--child", choices=CONTENDERS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        count, seconds = (_devnull if args.child == CONTENDERS[0] else _warehouse)(args.rows)
        print(json.dumps({"rows": count, "seconds": seconds}))
        return 0
    lines = ["| round | contender | rows | seconds | rows/s |",
             "| ---: | --- | ---: | ---: | ---: |"]
    rates: dict[str, list[float]] = {c: [] for c in CONTENDERS}
    for round_ in range(1, args.rounds + 1):
        for contender in CONTENDERS:
            child = subprocess.run([sys.executable, "-m", "bench.bench_airbyte", "--rows",
                                    str(args.rows), "--child", contender],
                                   capture_output=True, text=True, check=False)
            if child.returncode:
                raise SystemExit(f"{contender} failed: {child.stderr[-2000:]}")
            result = json.loads(child.stdout.strip().splitlines()[-1])
            if result["rows"] != args.rows:
                raise SystemExit(f"{contender} gave {result['rows']} rows, not {args.rows}")
            rate = result["rows"] / result["seconds"]
            rates[contender].append(rate)
            lines.append(f"| {round_} | {contender} | {result['rows']:,} | "
                         f"{result['seconds']:.2f} | {rate:,.0f} |")
    ratio = (sorted(rates[CONTENDERS[1]])[len(rates[CONTENDERS[1]]) // 2]
             / sorted(rates[CONTENDERS[0]])[len(rates[CONTENDERS[0]]) // 2])
    lines.append(f"\nmedian run rate / median source rate: {ratio:.2f}x (target >= 0.8x)")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
