"""The History page's failure groups on SQLite, with and without the query's index hint.

    .venv/bin/python -m bench.bench_failure_groups                 # 500 extracts x 399 days
    .venv/bin/python -m bench.bench_failure_groups --rounds 3 --extracts 100

SQLAlchemy writes no table hint for SQLite; core.db.engines' compiler writes
`INDEXED BY ix_runs_history`. Left to itself the planner reads every run of the range through
ix_runs_queued_at. One history (bench_history's generator, ANALYZEd) is built first; then each
round runs both contenders, alternately, each in its own process, and checks that both count
the same failures.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.bench_history import _extracts, _open, _runs

SPANS = (30, 399)


def measure(var_parent: Path, contender: str, now: datetime, calls: int) -> dict[str, float]:
    """One contender in this process: the median of `calls` calls per span, and its count."""
    from sqlalchemy.dialects.sqlite.base import SQLiteCompiler

    from core.services import history

    db = _open(var_parent)
    if contender == "planner":
        db.engine.dialect.statement_compiler = SQLiteCompiler  # SQLAlchemy's own: no hint
    out: dict[str, float] = {}
    for span in SPANS:
        query = replace(history.default_query("UTC", now),
                        date_from=(now - timedelta(days=span)).date())
        with db.session(read_only=True) as session:
            times = []
            for _ in range(calls):
                started = time.perf_counter()
                frame = history.failure_groups(session=session, query=query)
                times.append((time.perf_counter() - started) * 1000)
        out[f"{span}d_ms"] = round(statistics.median(times), 1)
        out[f"{span}d_failures"] = int(frame["failures"].sum())
    db.dispose()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--extracts", type=int, default=500)
    parser.add_argument("--days", type=int, default=399)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--calls", type=int, default=9, help="calls per span in a process")
    parser.add_argument("--contender", help=argparse.SUPPRESS)
    parser.add_argument("--var", help=argparse.SUPPRESS)
    parser.add_argument("--now", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.contender:
        print(json.dumps(measure(Path(args.var), args.contender,
                                 datetime.fromisoformat(args.now), args.calls)))
        return
    now = datetime.now(UTC).replace(microsecond=0)
    with tempfile.TemporaryDirectory() as tmp:
        db = _open(Path(tmp))
        ids = _extracts(db, args.extracts, now - timedelta(days=args.days + 1))
        runs = _runs(db, ids, args.days, now)
        with db.engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
        db.dispose()
        print(json.dumps({"extracts": len(ids), "runs": runs}))
        results: dict[str, list[dict[str, float]]] = {"hinted": [], "planner": []}
        for _ in range(args.rounds):
            for contender in results:
                done = subprocess.run(
                    [sys.executable, "-m", "bench.bench_failure_groups", "--contender",
                     contender, "--var", tmp, "--now", now.isoformat(),
                     "--calls", str(args.calls)], check=True, capture_output=True, text=True)
                results[contender].append(json.loads(done.stdout.splitlines()[-1]))
                print(json.dumps({"contender": contender, **results[contender][-1]}))
        counts = {c: {(r["30d_failures"], r["399d_failures"]) for r in rs}
                  for c, rs in results.items()}
        assert len(set().union(*counts.values())) == 1, counts  # the same groups either way
        print(json.dumps({c: {f"{span}d_ms_best": min(r[f"{span}d_ms"] for r in rs)
                              for span in SPANS} for c, rs in results.items()}))


if __name__ == "__main__":
    main()
