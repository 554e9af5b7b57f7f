"""Turning a chunk of JSON records into a DataFrame: the old way (pandas infers each column
from the values) against the typed way (an Arrow table with the template's field types, each
value checked, then `to_pandas` at the connector's boundary).

    .venv/bin/python -m bench.bench_http_json                  # 200,000 records, 3 rounds
    .venv/bin/python -m bench.bench_http_json --rows 50000 --rounds 5

Each contender converts the same records (ten fields: a date, texts, integers, numbers of
which some are written as whole numbers, a nested object flattened, in chunks of 10,000, as
`http_json` does) in a fresh process; the contenders alternate, round by round, so a change
in the machine's load hits both. Every contender's row count is checked.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from datetime import date, timedelta
from typing import Any

CONTENDERS = ("frame_from_records", "typed_arrow")
CHUNK = 10_000


def records(rows: int) -> list[dict[str, Any]]:
    """`rows` flattened records, as http_json's `records.flatten` leaves them."""
    first = date(2015, 1, 1)
    return [{"date": (first + timedelta(days=n % 1000)).isoformat(), "station": f"S{n % 97}",
             "precipitation": 0 if n % 3 else (n % 23) / 10, "temp_max": (n % 400) / 10 - 5,
             "temp_min": (n % 300) / 10 - 15, "wind.speed": n % 17 + 0.5,
             "wind.dir": "NW" if n % 2 else "SE", "id": n, "visits": n % 1000,
             "note": None if n % 5 else "gusty"} for n in range(rows)]


def _convert(contender: str, rows: int) -> tuple[int, float]:
    import pandas as pd

    from core.connectors.base import FieldSpec
    from core.connectors.http_json import typed

    types = {"date": "date", "station": "string", "precipitation": "number",
             "temp_max": "number", "temp_min": "number", "wind.speed": "number",
             "wind.dir": "string", "id": "number", "visits": "integer", "note": "string"}
    fields = [FieldSpec(n, t, "dimension") for n, t in types.items()]  # type: ignore[arg-type]
    data = records(rows)
    started = time.perf_counter()
    total = 0
    for at in range(0, rows, CHUNK):
        chunk = data[at: at + CHUNK]
        if contender == "frame_from_records":
            frame = pd.DataFrame.from_records(chunk, columns=list(types))
        else:
            frame = typed.table(chunk, fields, "date").to_pandas()
        total += len(frame)
    return total, time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--child", choices=CONTENDERS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        count, seconds = _convert(args.child, args.rows)
        print(json.dumps({"rows": count, "seconds": seconds}))
        return 0
    lines = ["| round | contender | rows | seconds | rows/s |",
             "| ---: | --- | ---: | ---: | ---: |"]
    for round_ in range(1, args.rounds + 1):
        for contender in CONTENDERS:
            out = subprocess.run([sys.executable, "-m", "bench.bench_http_json", "--rows",
                                  str(args.rows), "--child", contender],
                                 capture_output=True, text=True, check=True).stdout
            result = json.loads(out.strip().splitlines()[-1])
            if result["rows"] != args.rows:
                raise SystemExit(f"{contender} returned {result['rows']} rows, not {args.rows}")
            lines.append(f"| {round_} | {contender} | {result['rows']:,} | "
                         f"{result['seconds']:.2f} | {result['rows'] / result['seconds']:,.0f} |")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
