"""The kill matrix: a sweep's driver SIGKILLed at each of its five kill points, on a local
path, on file:// storage, on file:// storage on a two-node cluster whose worker node was
killed first, and on s3:// storage served by a real S3 server (moto's, in a process of its
own); each then resumed. Per cell: trials finished before the kill, rows
stored, rows lost, rows stored twice (0 and 0 is the goal; finished trials not rerun is
asserted too).

The cells are the slow reliability tests themselves (tests/test_reliability.py,
tests/test_cluster.py), run here through pytest with their figures printed; a cell whose
test fails says FAILED. About 30 minutes on 2 cores.

    python bench/kill_matrix.py [--only local|file|worker|s3]

Prints the matrix and appends it to bench/results/kill_matrix.jsonl.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import record, table  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
POINTS = ("trial-start", "mid-epoch", "checkpoint", "experiment-state", "near-end")
STORAGES = {
    "local": "tests/test_reliability.py::test_driver_killed_then_resumed_loses_and_repeats_nothing",
    "file": "tests/test_reliability.py::test_on_file_uri_storage_a_killed_driver_loses_and_repeats_nothing",
    "worker": "tests/test_cluster.py::test_a_killed_worker_node_then_a_killed_driver_on_file_storage_lose_and_repeat_nothing",
    "s3": "tests/test_reliability.py::test_on_a_real_s3_server_a_killed_driver_loses_and_repeats_nothing_and_every_reader_"
    "reads_it",
}
COLUMNS = {
    "local": "local path",
    "file": "file://",
    "worker": "file://, worker node killed first",
    "s3": "s3:// (a real S3 server: moto's)",
}
# what the tests print once a cell has passed
LOCAL = re.compile(
    r"^(?P<point>[a-z-]+): finished before kill (?P<finished>\d+), trials dropped \d+, rows before "
    r"\d+, after (?P<rows>\d+), lost (?P<lost>\d+), duplicated (?P<dup>\d+)"
)
WORKER = re.compile(
    r"^worker node killed, then the driver at (?P<point>[a-z-]+): finished before (?P<finished>\d+), "
    r"\d+ trials, (?P<rows>\d+) rows, lost (?P<lost>\d+), duplicated (?P<dup>\d+)"
)


def run(storage: str) -> dict[str, dict]:
    """Each kill point's figures on one storage (a point whose test failed: {"failed": True})."""
    ids = [f"{STORAGES[storage]}[{p}]" for p in POINTS]
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-m", "slow", "-s", "-q", "-p", "no:cacheprovider", "-rf", *ids],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    cells: dict[str, dict] = {p: {"failed": True} for p in POINTS}
    for line in out.stdout.splitlines():
        match = (WORKER if storage == "worker" else LOCAL).match(line.strip())
        if match:
            cells[match["point"]] = {k: int(match[k]) for k in ("finished", "rows", "lost", "dup")}
    for line in out.stdout.splitlines():  # a figure printed by a test that failed after it is no pass
        if line.startswith("FAILED"):
            for p in POINTS:
                if f"[{p}]" in line:
                    cells[p] = {"failed": True}
    return cells


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=sorted(STORAGES))
    args = parser.parse_args()
    storages = [args.only] if args.only else list(STORAGES)
    matrix = {s: run(s) for s in storages}

    def cell(c: dict) -> str:
        if c.get("failed"):
            return "FAILED"
        return f"lost {c['lost']}, twice {c['dup']} ({c['rows']} rows; {c['finished']} trials done before)"

    print(
        table(
            [{"kill point": p, **{COLUMNS[s]: cell(matrix[s][p]) for s in storages}} for p in POINTS],
            ["kill point", *(COLUMNS[s] for s in storages)],
        )
    )
    cells = [c for s in storages for c in matrix[s].values()]
    record(
        "kill_matrix",
        {
            "matrix": matrix,
            "cells": len(cells),
            "failed": sum(1 for c in cells if c.get("failed")),
            "rows_lost": sum(c.get("lost", 0) for c in cells),
            "rows_twice": sum(c.get("dup", 0) for c in cells),
        },
    )


if __name__ == "__main__":
    main()
