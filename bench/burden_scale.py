"""The burden at scale: wall time and peak memory of `immuno-cds burden` on a generated cohort, memory as
PSS (proportional set size: shared pages split between the processes sharing them) summed across the
process tree (the command and its worker processes), sampled every 0.2 s from /proc/*/smaps_rollup.

    .venv/bin/python -m bench.burden_scale --patients 20000 [--workers 2] [--keep var/c-20000] [--shard 1/10]

With --shard, the command reads the whole export (every count of its data quality is the whole export's)
and evaluates one hash partition of the patients, as one job of a sharded run does.

Prints one JSON line: patients, resources, export bytes, wall seconds, CPU seconds (user and system,
the command and its worker processes: on a shared machine the wall time measures the load too), peak
PSS MiB, peak RSS MiB, and the load average before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.cohort import write_export

FIRST, LAST = "2026-10-01", "2026-12-29"


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(child) for child in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def _tree(pid: int) -> list[int]:
    pids, queue = [], [pid]
    while queue:
        current = queue.pop()
        pids.append(current)
        queue.extend(_children(current))
    return pids


def _memory_kib(pid: int) -> tuple[int, int]:
    """(PSS, RSS) in KiB of one process, (0, 0) once it is gone."""
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return 0, 0
    values = {
        line.split(":")[0]: int(line.split()[1]) for line in text.splitlines()[1:] if line.endswith("kB")
    }
    return values.get("Pss", 0), values.get("Rss", 0)


def measure(export: Path, out: Path, workers: int, shard: str | None = None) -> dict[str, object]:
    command = [
        sys.executable, "-m", "service.cli", "burden", str(export), "--out", str(out),
        "--from", FIRST, "--to", LAST, "--workers", str(workers),
    ]  # fmt: skip
    if shard is not None:
        command += ["--shard", shard]
    started = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    load_before = os.getloadavg()[0]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    peak_pss = peak_rss = 0
    while process.poll() is None:
        totals = [_memory_kib(pid) for pid in _tree(process.pid)]
        peak_pss = max(peak_pss, sum(pss for pss, _ in totals))
        peak_rss = max(peak_rss, sum(rss for _, rss in totals))
        time.sleep(0.2)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)  # worker processes included: each is waited for
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    printed = process.stdout.read() if process.stdout else ""
    if process.returncode != 0:
        raise SystemExit(f"burden failed ({process.returncode}): {printed}")
    return {
        "wall_seconds": round(wall, 1),
        "cpu_seconds": round(cpu, 1),
        "load_average": [round(load_before, 1), round(os.getloadavg()[0], 1)],
        "peak_pss_mib": round(peak_pss / 1024),
        "peak_rss_mib": round(peak_rss / 1024),
        "printed": printed.strip(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--patients", type=int, default=20000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--keep", type=Path, help="the cohort folder (written when missing)")
    parser.add_argument("--shard", help="I/N: evaluate one shard of the patients (the export read whole)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        export = args.keep or Path(scratch) / "export"
        if not export.exists():
            write_export(export, args.patients)
        files = list(export.glob("*.ndjson"))
        resources = sum(sum(1 for _ in path.open("rb")) for path in files)
        result = {
            "patients": args.patients,
            "resources": resources,
            "export_mib": round(sum(path.stat().st_size for path in files) / 2**20),
            "workers": args.workers,
            "shard": args.shard,
            "cpus": os.cpu_count(),
            **measure(export, Path(scratch) / "out", args.workers, args.shard),
        }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
