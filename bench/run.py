"""The performance benchmark: `make bench` or `.venv/bin/python -m bench.run` (about 5 minutes).

Every comparison is made side by side in one run and reported as a ratio of medians (this machine is
shared and noisy; absolute times are printed for orientation only). Writes the table, with the machine
it ran on, to docs/performance.md (between the BENCH:BEGIN/END markers) and prints it.

Options: ``--quick`` (fewer repetitions, for trying the benchmark out), ``--no-write`` (print only),
``--burden-only`` (only the alert-burden row, printed).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import math
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson

from bench.auth import PUBLIC_BASE_URL, TokenMinter, postgres_database
from bench.generate import (
    HEAVY,
    PATIENT_ID,
    PREFETCH_KEYS,
    TYPICAL,
    Mix,
    hook_request,
    patient_resources,
    prefetch_for,
)
from bench.http_client import Connection, paired_latency
from bench.inprocess import RouteWork, compare
from bench.lean import describe as describe_lean
from bench.lean import lean_body
from bench.servers import ROOT, ServerProcess, free_port, wait_until_answers

SERVICE_PATH = "/cds-services/immunotherapy-brain-mri-patient-view"
DOC = ROOT / "docs" / "performance.md"
BEGIN, END = "<!-- BENCH:BEGIN -->", "<!-- BENCH:END -->"
FHIR_DELAY = 0.05
CONNECTIONS = 16
# What the service's settings say (service/settings.py defaults): page size and request concurrency.
FHIR_PAGE_SIZE = 200
FHIR_MAX_CONCURRENT = 8
# A record whose conditions and observations need paging (200 a page) and whose medications are few:
# the fallback's paging is measured, not the evaluation of a heavy medication history.
PAGED = replace(
    HEAVY,
    medication_requests=14,
    medication_administrations=12,
    medication_statements=3,
    medication_dispenses=2,
)
# The six keys an EHR that prefetched only the patient and the medications leaves to the service.
SIX_KEYS = (
    "conditions",
    "observations",
    "imagingStudies",
    "diagnosticReports",
    "procedures",
    "serviceRequests",
)


@dataclass
class Row:
    measurement: str
    workload: str
    ours: str
    baseline: str
    ratio: float | None
    target: str
    met: bool | None
    note: str = ""


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    profile: list[str] = field(default_factory=list)

    def add(self, row: Row) -> None:
        self.rows.append(row)
        verdict = "" if row.met is None else ("met" if row.met else "MISSED")
        ratio = f"{row.ratio:.2f}x" if row.ratio is not None else ""
        print(
            f"  {row.measurement} [{row.workload}]: {row.ours} vs {row.baseline} {ratio} {verdict}",
            flush=True,
        )


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def section(title: str) -> None:
    print(f"\n== {title}", flush=True)


# --- the machine -------------------------------------------------------------------------------


def machine() -> dict[str, str]:
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    except OSError:
        load = "unknown"
    wrk = shutil.which("wrk")
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load": load,
        "load_client": f"wrk ({wrk})" if wrk else "httpx async load loop (wrk not installed)",
    }


def body_of(mix: Mix, keys: tuple[str, ...] | None = None, fhir_server: str | None = None) -> bytes:
    resources = patient_resources(mix)
    prefetch = prefetch_for(resources, keys=keys)
    if fhir_server is None:
        return orjson.dumps(hook_request(prefetch))
    return orjson.dumps(hook_request(prefetch, fhir_server=fhir_server))


# --- 1. in-process -----------------------------------------------------------------------------


def in_process(report: Report, bodies: dict[str, bytes], quick: bool) -> None:
    section("In-process: the route's work after reading the body vs orjson.loads + orjson.dumps")
    work = RouteWork()
    try:
        for name, repeat in (
            ("typical", 15 if quick else 41),
            ("heavy", 5 if quick else 15),
            ("lean", 5 if quick else 15),
        ):
            result = compare(work, bodies[name], repeat)
            stages = ", ".join(
                f"{stage} {ms(result.stage_median(stage))}"
                for stage in ("parse", "record", "evaluate", "dump")
            )
            report.add(
                Row(
                    "In-process evaluation",
                    name,
                    ms(result.work_median),
                    ms(result.floor_median) + " (orjson parse + dump)",
                    result.ratio,
                    "" if name == "typical" else "≤ 3x",
                    None if name == "typical" else result.ratio <= 3,
                    stages,
                )
            )
        section("Growth: 2,000 vs 20,000 resources (in-process CPU time, same mix as heavy)")
        medians = {}
        cpu_work = RouteWork(clock=time.thread_time)
        for total in (2_000, 5_000, 10_000, 20_000):
            body = body_of(HEAVY.scaled_to(total))
            repeat = 3 if quick else (9 if total < 10_000 else 5)
            result = compare(cpu_work, body, repeat, deadline=40.0)
            medians[total] = result
            print(f"  {total:>6} resources, {len(body) / 1e6:.1f} MB: {ms(result.work_median)}", flush=True)
            del body
        cpu_work.close()
        small, large = medians[2_000], medians[20_000]

        def ours(result: Any) -> float:  # the route's work less the JSON parse: record, evaluation, dump
            return statistics.median(s.record + s.evaluate + s.dump for s in result.work)

        curve = ", ".join(f"{total:,}: {ms(ours(result))}" for total, result in medians.items())
        ratio = ours(large) / ours(small)
        report.add(
            Row(
                "Growth, 10x resources (record + evaluation + response), CPU time",
                "20,000 vs 2,000",
                ms(ours(large)),
                ms(ours(small)),
                ratio,
                "≤ 11x",
                ratio <= 11,
                curve,
            )
        )
        total_ratio = large.work_median / small.work_median
        floor_ratio = large.floor_median / small.floor_median
        report.add(
            Row(
                "Growth, 10x resources (whole route work, JSON parse included), CPU time",
                "20,000 vs 2,000",
                ms(large.work_median),
                ms(small.work_median),
                total_ratio,
                "",
                None,
                f"the floor itself (orjson parse + dump) grows {floor_ratio:.2f}x: "
                f"{ms(small.floor_median)} -> {ms(large.floor_median)}",
            )
        )
    finally:
        work.close()


# --- 2. over HTTP: single requests --------------------------------------------------------------


def single_requests(
    report: Report, floor: ServerProcess, service: ServerProcess, bodies: dict[str, bytes], quick: bool
) -> None:
    section("Over HTTP, one request at a time: the service vs the trivial endpoint, same body, same client")
    for name, repeat in (
        ("typical", 20 if quick else 60),
        ("heavy", 5 if quick else 15),
        ("lean", 5 if quick else 15),
    ):
        result = paired_latency(floor.port, service.port, SERVICE_PATH, bodies[name], repeat)
        targeted = name != "typical"
        report.add(
            Row(
                "Hook latency over loopback",
                f"{name}, {len(bodies[name]) / 1e6:.2f} MB",
                ms(result.service_median),
                ms(result.floor_median) + " (trivial endpoint)",
                result.ratio,
                "≤ 3x" if targeted else "",
                result.ratio <= 3 if targeted else None,
                "cards: " + ", ".join(result.topics),
            )
        )


# --- 3. throughput at 16 connections -------------------------------------------------------------


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


@dataclass
class Load:
    requests: int
    seconds: float
    p50: float
    p99: float
    cpu_per_request: float
    errors: int

    @property
    def throughput(self) -> float:
        """Calls answered 200 per second: a 503 the evaluation pool sheds at once is no served call."""
        return (self.requests - self.errors) / self.seconds


def _wrk_seconds(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if match is None:
        return math.nan
    return float(match.group(1)) * {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}[match.group(2)]


def _found(pattern: str, text: str) -> str:
    match = re.search(pattern, text, re.MULTILINE)
    return match.group(1) if match else ""


def load_wrk(
    port: int,
    path: str,
    body_file: Path,
    seconds: int,
    pid: int,
    tokens_file: Path | None = None,
) -> Load:
    """wrk POSTing the body; with `tokens_file`, each request carries the next token (post_auth.lua)."""
    env = {**os.environ, "BENCH_BODY_FILE": str(body_file)}
    script = str(ROOT / "bench" / "post.lua")
    if tokens_file is not None:
        env["BENCH_TOKENS_FILE"] = str(tokens_file)
        script = str(ROOT / "bench" / "post_auth.lua")
    command = [
        "wrk",
        "-t1",
        f"-c{CONNECTIONS}",
        f"-d{seconds}s",
        "--timeout",
        "10s",
        "--latency",
        "-s",
        script,
    ]
    cpu_before = cpu_seconds(pid)
    output = subprocess.run(
        [*command, f"http://127.0.0.1:{port}{path}"],
        env=env,
        capture_output=True,
        text=True,
        timeout=seconds + 30,
        check=True,
    ).stdout
    cpu_used = cpu_seconds(pid) - cpu_before
    requests = int(_found(r"(\d+) requests in", output) or 0)
    duration = _wrk_seconds(_found(r"\d+ requests in ([\d.]+\w+),", output))
    # The "Latency Distribution" lines; "82.50%" in the Thread Stats table must not match.
    p50 = _wrk_seconds(_found(r"^\s+50%\s+(\S+)", output))
    p99 = _wrk_seconds(_found(r"^\s+99%\s+(\S+)", output))
    failed = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    errors = int(failed.group(1)) if failed else 0
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    if socket_errors:
        errors += sum(int(value) for value in socket_errors.groups())
    return Load(requests, duration, p50, p99, cpu_used / max(requests, 1), errors)


def load_httpx(port: int, path: str, body: bytes, seconds: int, pid: int) -> Load:
    """Fallback when wrk is not installed: 16 concurrent keep-alive connections, bounded in time."""
    latencies: list[float] = []
    errors = 0

    async def worker(client: httpx.AsyncClient, stop: float) -> None:
        nonlocal errors
        while time.perf_counter() < stop:
            started = time.perf_counter()
            response = await client.post(path, content=body, headers={"Content-Type": "application/json"})
            latencies.append(time.perf_counter() - started)
            errors += response.status_code != 200

    async def main() -> float:
        limits = httpx.Limits(max_connections=CONNECTIONS, max_keepalive_connections=CONNECTIONS)
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", limits=limits, timeout=30
        ) as client:
            started = time.perf_counter()
            await asyncio.gather(*(worker(client, started + seconds) for _ in range(CONNECTIONS)))
            return time.perf_counter() - started

    cpu_before = cpu_seconds(pid)
    elapsed = asyncio.run(main())
    cpu_used = cpu_seconds(pid) - cpu_before
    ordered = sorted(latencies)
    return Load(
        len(ordered),
        elapsed,
        ordered[len(ordered) // 2],
        ordered[min(len(ordered) - 1, math.ceil(len(ordered) * 0.99) - 1)],
        cpu_used / max(len(ordered), 1),
        errors,
    )


def throughput(
    report: Report, floor: ServerProcess, service: ServerProcess, body: bytes, state: Path, quick: bool
) -> None:
    section(f"Throughput and latency at {CONNECTIONS} connections, typical requests (alternating rounds)")
    body_file = state / "typical.json"
    body_file.write_bytes(body)
    seconds, rounds = (3, 1) if quick else (8, 2)
    use_wrk = shutil.which("wrk") is not None

    def run(server: ServerProcess, path: str, duration: int) -> Load:
        if use_wrk:
            return load_wrk(server.port, path, body_file, duration, server.pid)
        return load_httpx(server.port, path, body, duration, server.pid)

    run(floor, "/cds-services/floor", 1)  # warm-up
    run(service, SERVICE_PATH, 1)
    floors: list[Load] = []
    services: list[Load] = []
    for _ in range(rounds):
        floors.append(run(floor, "/cds-services/floor", seconds))
        services.append(run(service, SERVICE_PATH, seconds))
    if any(load.errors for load in services + floors):
        report.notes.append(
            f"Load test errors (non-200 answers, not counted in the throughput; for the service, calls the "
            f"evaluation pool shed with 503 at once): service {[s.errors for s in services]} of "
            f"{[s.requests for s in services]}, floor {[f.errors for f in floors]}."
        )

    def median(loads: list[Load], name: str) -> float:
        return statistics.median(getattr(load, name) for load in loads)

    ours, base = median(services, "throughput"), median(floors, "throughput")
    share = ours / base
    report.add(
        Row(
            "Throughput",
            f"typical, {CONNECTIONS} connections",
            f"{ours:.0f} req/s",
            f"{base:.0f} req/s (trivial endpoint)",
            share,
            "≥ 0.2x",
            share >= 0.2,
            f"server CPU per request: {ms(median(services, 'cpu_per_request'))} "
            f"vs {ms(median(floors, 'cpu_per_request'))}",
        )
    )
    p50, p99 = median(services, "p50"), median(services, "p99")
    report.add(
        Row(
            "p99 latency",
            f"typical, {CONNECTIONS} connections",
            ms(p99),
            ms(median(floors, "p99")) + " (trivial endpoint)",
            p99 / median(floors, "p99"),
            "< 50 ms",
            p99 < 0.05,
            f"p50 {ms(p50)} vs {ms(median(floors, 'p50'))}",
        )
    )


# --- 3a. where a typical call's time goes -----------------------------------------------------------


def steps(report: Report, quick: bool) -> None:
    """bench/steps.py in its own process (its logs to a file): the median time of each step of a typical
    call through the service's whole ASGI stack, one call at a time."""
    section("Per step: one typical call through the service's ASGI stack (bench/steps.py)")
    with tempfile.NamedTemporaryFile(prefix="cds-bench-steps-", suffix=".log") as log:
        output = subprocess.run(
            [sys.executable, "-m", "bench.steps", "--calls", "100" if quick else "400"],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=log,
            check=True,
            timeout=600,
        ).stdout
    medians: dict[str, float] = orjson.loads(output)
    total = medians.pop("total")
    lines = [
        "",
        "Per step of a typical call (bench/steps.py: the service's ASGI app without a server, one call at "
        f"a time, {'100' if quick else '400'} calls, medians; the medians do not add up to the median "
        f"total, {ms(total)}):",
        "",
        "| Step | What it covers | Median |",
        "| --- | --- | --- |",
    ]
    lines += [f"| {step} | {STEP_MEANINGS[step]} | {medians[step] * 1000:.2f} ms |" for step in STEP_MEANINGS]
    lines += [
        f"| evaluation: {part} | {EVALUATION_PART_MEANINGS[part]} | {medians[part] * 1000:.2f} ms |"
        for part in EVALUATION_PART_MEANINGS
    ]
    report.profile = lines
    for step, seconds in medians.items():
        print(f"  {step}: {seconds * 1000:.2f} ms", flush=True)


STEP_MEANINGS = {
    "authentication": "the Authorization check (here: the development profile's unauthenticated caller)",
    "body": "content type, the size-limited body read, the orjson parse",
    "envelope": "validating the request envelope and the hook's context (what the spec requires)",
    "record": "the patient record from prefetch",
    "acknowledgements": "whether this patient has any override (the worker's set, refreshed every few "
    "seconds); only if so, reading the overridden cards (one database read)",
    "evaluation": "the pool hand-over, the fast reject and text budget walk, timeline, rules, cards",
    "response": "the response JSON (orjson)",
    "audit line": "the audit log line",
    "metrics": "the card counters (the metrics middleware is in framework)",
    "issued cards": "handing the issued cards to the batch writer (written off the request path)",
    "framework": "the rest: routing, the five middlewares, dependency resolution, the background task",
}
# Inside "evaluation" (bench/steps.py EVALUATION_PARTS), not added to the steps above.
EVALUATION_PART_MEANINGS = {
    "fast reject": "the walk that leaves out what no vocabulary can read and counts the text budget",
    "timeline": "the patient timeline from what is left (exposures, imaging, findings, treatment changes)",
    "rules": "the rules on the timeline",
    "cards": "rendering the cards and the acknowledgement check",
}


# --- 3b. authentication: a fresh ES384 JWT per request ---------------------------------------------


def authentication(report: Report, state: Path, body: bytes, quick: bool) -> None:
    """Authenticated vs unauthenticated calls to one service process, on SQLite and on PostgreSQL."""
    section(f"Authentication at {CONNECTIONS} connections: a fresh ES384 JWT per request vs none")
    if shutil.which("wrk") is None:
        report.notes.append("Authentication rows left out: they need wrk (apt-get install wrk).")
        return
    body_file = state / "typical-auth.json"
    body_file.write_bytes(body)
    seconds, rounds = (3, 1) if quick else (8, 2)
    minter = TokenMinter(state)
    clients = minter.trusted_clients_file()
    with postgres_database() as postgres_url:
        backends: list[tuple[str, str | None]] = [("SQLite", None)]
        if postgres_url is None:
            report.notes.append("Authentication rows on PostgreSQL left out: the test server is unreachable.")
        else:
            backends.append(("PostgreSQL", postgres_url))
        for name, database_url in backends:
            env = {
                "BENCH_TRUSTED_CLIENTS_FILE": str(clients),
                "BENCH_PUBLIC_BASE_URL": PUBLIC_BASE_URL,
                "BENCH_DATABASE_URL": database_url or "",
            }
            backend_state = state / f"auth-{name.lower()}"
            backend_state.mkdir()
            with ServerProcess("service", backend_state, extra_env=env) as service:
                _authenticated_rows(report, service, name, body_file, minter, seconds, rounds)


def _authenticated_rows(
    report: Report,
    service: ServerProcess,
    backend: str,
    body_file: Path,
    minter: TokenMinter,
    seconds: int,
    rounds: int,
) -> None:
    def tokens(duration: int) -> Path:
        # Enough for the fastest rate seen so far, twice over: a token is never sent twice.
        return minter.tokens_file(SERVICE_PATH, max(2000, 1500 * duration))

    load_wrk(service.port, SERVICE_PATH, body_file, 1, service.pid)  # warm-up
    load_wrk(service.port, SERVICE_PATH, body_file, 1, service.pid, tokens(1))
    plain: list[Load] = []
    signed: list[Load] = []
    for _ in range(rounds):
        plain.append(load_wrk(service.port, SERVICE_PATH, body_file, seconds, service.pid))
        token_file = tokens(seconds)
        signed.append(load_wrk(service.port, SERVICE_PATH, body_file, seconds, service.pid, token_file))
    if any(load.errors for load in plain + signed):
        report.notes.append(
            f"Authentication load errors ({backend}; 503s the evaluation pool shed, not counted in the "
            f"throughput): authenticated {[s.errors for s in signed]} of {[s.requests for s in signed]}, "
            f"unauthenticated {[p.errors for p in plain]} of {[p.requests for p in plain]}."
        )

    def median(loads: list[Load], name: str) -> float:
        return statistics.median(getattr(load, name) for load in loads)

    ours, base = median(signed, "throughput"), median(plain, "throughput")
    report.add(
        Row(
            "Authenticated throughput",
            f"typical, {backend}, {CONNECTIONS} connections",
            f"{ours:.0f} req/s",
            f"{base:.0f} req/s (same service, no token)",
            ours / base,
            "≥ 0.8x",
            ours / base >= 0.8,
            f"server CPU per request: {ms(median(signed, 'cpu_per_request'))} "
            f"vs {ms(median(plain, 'cpu_per_request'))}",
        )
    )
    p99 = median(signed, "p99")
    report.add(
        Row(
            "Authenticated p99 latency",
            f"typical, {backend}, {CONNECTIONS} connections",
            ms(p99),
            ms(median(plain, "p99")) + " (no token)",
            p99 / median(plain, "p99"),
            "< 150 ms",
            p99 < 0.15,
            f"p50 {ms(median(signed, 'p50'))} vs {ms(median(plain, 'p50'))}",
        )
    )


# --- 4. the FHIR fallback ----------------------------------------------------------------------


def ideal_round_trips(counts: dict[str, int], reads: int) -> int:
    """Round trips the service's design needs when every request takes one round trip: the searches of
    the missing keys with their `next` pages, FHIR_MAX_CONCURRENT at a time (FIFO, like the
    semaphore), then the Medication reads, FHIR_MAX_CONCURRENT at a time."""
    queue = [max(1, math.ceil(count / FHIR_PAGE_SIZE)) for count in counts.values()]
    rounds = 0
    while queue:
        running, queue = queue[:FHIR_MAX_CONCURRENT], queue[FHIR_MAX_CONCURRENT:]
        rounds += 1
        queue += [pages - 1 for pages in running if pages > 1]
    return rounds + math.ceil(reads / FHIR_MAX_CONCURRENT)


@contextmanager
def fhir_server(resources: list[dict[str, Any]]) -> Iterator[Any]:
    sys.path.insert(0, str(ROOT / "tests"))
    try:
        from fhir_server import FhirTestServer  # the loopback FHIR server of the test suite
    finally:
        sys.path.remove(str(ROOT / "tests"))
    server = FhirTestServer(resources, delay_seconds=FHIR_DELAY, max_page_size=1000)
    with server.running():
        yield server


def fallback(report: Report, service: ServerProcess, quick: bool) -> None:
    section(f"FHIR fallback: a loopback FHIR server adding {FHIR_DELAY * 1000:.0f} ms to every answer")
    prefetched_meds = tuple(key for key in PREFETCH_KEYS if key not in SIX_KEYS)
    cases = (
        ("six queries, one page each", TYPICAL, prefetched_meds, True),
        ("six queries, paging", PAGED, prefetched_meds, True),
        ("all 11 keys, paging, Medication reads", HEAVY.scaled_to(1000), (), False),
    )
    for name, mix, prefetched, targeted in cases:
        resources = patient_resources(mix)
        missing = {key: kind for key, kind in PREFETCH_KEYS.items() if key not in prefetched}
        counts = {
            key: sum(1 for r in resources if r["resourceType"] == kind) for key, kind in missing.items()
        }
        reads = len(
            {
                r["medicationReference"]["reference"]
                for r in resources
                if r["resourceType"] in missing.values()
                and isinstance(r.get("medicationReference"), dict)
                and r["medicationReference"]["reference"].startswith("Medication/")
            }
        )
        rounds = ideal_round_trips(counts, reads)
        failures: list[str] = []
        walls: list[float] = []
        with fhir_server(resources) as server:
            base = server.base_url
            # One round trip: a read of the Patient from this machine.
            with httpx.Client(base_url=base, timeout=10) as client:
                for _ in range(2):
                    client.get(f"/Patient/{PATIENT_ID}")
                trips = []
                for _ in range(5 if quick else 10):
                    started = time.perf_counter()
                    client.get(f"/Patient/{PATIENT_ID}")
                    trips.append(time.perf_counter() - started)
            round_trip = statistics.median(trips)
            body = orjson.dumps(
                hook_request(prefetch_for(resources, base_url=base, keys=prefetched), fhir_server=base)
            )
            connection = Connection(service.port)
            try:
                connection.post(SERVICE_PATH, body)  # warm-up: the service's connections to the FHIR server
                server.clear_requests()
                for _ in range(3 if quick else 7):
                    status, payload, seconds = connection.post(SERVICE_PATH, body)
                    if status == 200:
                        walls.append(seconds)
                    else:
                        reason = orjson.loads(payload)["issue"][0]["diagnostics"]
                        failures.append(f"{status} after {ms(seconds)}: {reason}")
                requests_per_call = len(server.requests) / (len(walls) + len(failures))
            finally:
                connection.close()
        # "At most 1.5x one round trip plus the pages it must follow", read as 1.5x the round trips
        # the design must make: the first wave, each further page, each wave of Medication reads.
        allowed = 1.5 * rounds
        detail = (
            f"{len(missing)} queries, {rounds} round trips needed "
            f"({requests_per_call:.0f} FHIR requests per call, "
            f"{reads} Medication reads, {FHIR_MAX_CONCURRENT} at a time); {len(resources)} resources"
        )
        if failures:
            detail += f"; {len(failures)} of {len(walls) + len(failures)} calls failed: {failures[0]}"
        if not walls:
            report.add(
                Row(
                    "FHIR fallback wall time",
                    name,
                    "failed",
                    f"{rounds} x {ms(round_trip)}",
                    None,
                    "",
                    False if targeted else None,
                    detail,
                )
            )
            continue
        wall = statistics.median(walls)
        report.add(
            Row(
                "FHIR fallback wall time",
                name,
                ms(wall),
                f"{rounds} x {ms(round_trip)} (round trips it must make)",
                wall / (rounds * round_trip),
                "≤ 1.5x" if targeted else "",
                (wall <= allowed * round_trip and not failures) if targeted else None,
                detail + f"; {wall / round_trip:.2f}x one round trip",
            )
        )


# --- 5. memory and start-up ----------------------------------------------------------------------


def rss_kib(pid: int, field_name: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field_name} not in /proc/{pid}/status")


def memory(report: Report, state: Path, bodies: dict[str, bytes]) -> None:
    section("Memory: the heavy request, in a fresh service process (RSS) and in-process (tracemalloc)")
    with ServerProcess("service", state) as service:
        connection = Connection(service.port)
        try:
            for _ in range(3):
                connection.post(SERVICE_PATH, bodies["typical"])
            gc.collect()
            time.sleep(0.3)
            idle = rss_kib(service.pid, "VmRSS")
            reset = True
            try:
                Path(f"/proc/{service.pid}/clear_refs").write_text("5")  # resets VmHWM to the current RSS
            except OSError:
                reset = False
            for _ in range(3):
                status, _, _ = connection.post(SERVICE_PATH, bodies["heavy"])
                if status != 200:
                    raise RuntimeError(f"heavy request answered {status}")
            peak = rss_kib(service.pid, "VmHWM")
            after = rss_kib(service.pid, "VmRSS")
        finally:
            connection.close()
    delta_mb = (peak - idle) / 1024
    note = f"idle {idle / 1024:.0f} MB, peak {peak / 1024:.0f} MB, after {after / 1024:.0f} MB"
    if not reset:
        note += " (VmHWM could not be reset: the peak may include start-up)"
    report.add(
        Row(
            "Peak memory above idle (RSS)",
            "heavy, 3 requests",
            f"{delta_mb:.1f} MB",
            "",
            None,
            "< 100 MB",
            delta_mb < 100,
            note,
        )
    )
    work = RouteWork()
    try:
        work.run(bodies["heavy"])
        gc.collect()
        tracemalloc.start()
        work.run(bodies["heavy"])
        _, traced_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    finally:
        work.close()
    report.notes.append(
        f"tracemalloc peak of the route's in-process work on the heavy body: {traced_peak / 2**20:.1f} MB "
        f"(the {len(bodies['heavy']) / 2**20:.1f} MiB body itself excluded; "
        "Python objects of the parsed JSON included)."
    )


def startup(report: Report, state: Path, body: bytes, quick: bool) -> None:
    section("Start-up: `immuno-cds serve` spawned until the first 200 to a hook call")
    times = []
    for attempt in range(2 if quick else 3):
        port = free_port()
        env = {key: value for key, value in os.environ.items() if not key.startswith("CDS_")}
        env.update(
            CDS_PROFILE="development",
            CDS_ALLOW_UNAUTHENTICATED="true",
            CDS_SQLITE_PATH=str(state / f"startup-{attempt}.sqlite3"),
            CDS_LOG_LEVEL="WARNING",
        )
        command = [str(Path(sys.executable).parent / "immuno-cds"), "serve", "--port", str(port)]
        if not Path(command[0]).exists():
            command = [sys.executable, "-m", "uvicorn", "service.app:app", "--port", str(port)]
        started = time.perf_counter()
        with (state / f"startup-{attempt}.log").open("wb") as log:
            process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_until_answers(port, SERVICE_PATH, 30, process, method="POST", body=body)
            times.append(time.perf_counter() - started)
        finally:
            process.terminate()
            process.wait(20)
    ready = statistics.median(times)
    report.add(
        Row(
            "Start-up until the first answer",
            "immuno-cds serve",
            f"{ready:.2f} s",
            "",
            None,
            "< 3 s",
            ready < 3,
            "runs: " + ", ".join(f"{t:.2f} s" for t in times),
        )
    )


# --- alert burden -----------------------------------------------------------------------------

BURDEN_PATIENTS = 1000
BURDEN_FROM, BURDEN_TO = "2026-10-01", "2026-12-29"  # 90 days around the cohort's stories
BURDEN_WORKERS = 2


def burden(report: Report, state: Path, quick: bool) -> None:
    """`immuno-cds burden` on a generated Bulk Data export: 1,000 patients x 90 days, two workers, as a
    reviewer runs it (process start, reading the export, validation sample and report included)."""
    from bench.cohort import write_export

    section(f"Alert burden: {BURDEN_PATIENTS:,} patients x 90 days, `immuno-cds burden --workers 2`")
    export = state / "cohort-export"
    written = write_export(export, BURDEN_PATIENTS)
    command = [str(Path(sys.executable).parent / "immuno-cds"), "burden", str(export)]
    if not Path(command[0]).exists():
        command = [sys.executable, "-m", "service.cli", "burden", str(export)]
    env = {key: value for key, value in os.environ.items() if not key.startswith("CDS_")}
    times = []
    for attempt in range(1 if quick else 2):
        out = state / f"burden-{attempt}"
        started = time.perf_counter()
        subprocess.run(
            [
                *command,
                "--out",
                str(out),
                "--from",
                BURDEN_FROM,
                "--to",
                BURDEN_TO,
                "--workers",
                str(BURDEN_WORKERS),
            ],
            cwd=ROOT,
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        times.append(time.perf_counter() - started)
    summary = orjson.loads((state / "burden-0" / "summary.json").read_bytes())
    wall = statistics.median(times)
    report.add(
        Row(
            "Alert burden report",
            f"{BURDEN_PATIENTS:,} patients x 90 days",
            f"{wall:.1f} s",
            "",
            None,
            "< 60 s",
            wall < 60,
            f"{sum(written.values()):,} resources in {len(written)} NDJSON files (bench/cohort.py); "
            f"{summary['patient_days']:,} patient-days, {summary['cards']:,} cards; runs: "
            + ", ".join(f"{t:.1f} s" for t in times),
        )
    )


# --- the report --------------------------------------------------------------------------------


def table(report: Report, info: dict[str, str], sizes: dict[str, str], elapsed: float) -> str:
    lines = [
        f"Run on {info['date']}: {info['cpu']}, {info['cores']} cores, Python {info['python']} "
        f"({info['platform']}); load average at the start {info['load']}; "
        f"load client: {info['load_client']}. "
        f"The whole run took {elapsed / 60:.1f} minutes.",
        "",
        "Workloads (bench/generate.py, seed fixed): "
        + "; ".join(f"{name}: {size}" for name, size in sizes.items())
        + ".",
        "",
        "| Measurement | Workload | Ours | Baseline | Ratio | Target | Met |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in report.rows:
        ratio = f"{row.ratio:.2f}x" if row.ratio is not None else ""
        met = "" if row.met is None else ("yes" if row.met else "**no**")
        lines.append(
            f"| {row.measurement} | {row.workload} | {row.ours} | {row.baseline} "
            f"| {ratio} | {row.target} | {met} |"
        )
    lines += ["", "Details per row:", ""]
    lines += [f"- {row.measurement} ({row.workload}): {row.note}" for row in report.rows if row.note]
    lines += [f"- {note}" for note in report.notes]
    lines += report.profile
    return "\n".join(lines) + "\n"


def write_doc(text: str) -> None:
    content = DOC.read_text(encoding="utf-8") if DOC.exists() else f"# Performance\n\n{BEGIN}\n{END}\n"
    if BEGIN not in content or END not in content:
        content += f"\n{BEGIN}\n{END}\n"
    head, rest = content.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    DOC.write_text(f"{head}{BEGIN}\n{text}{END}{tail}", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="fewer repetitions (a trial run, not for the record)"
    )
    parser.add_argument(
        "--no-write", action="store_true", help=f"print the table, leave {DOC.relative_to(ROOT)} alone"
    )
    parser.add_argument("--burden-only", action="store_true", help="only the alert-burden row, printed")
    args = parser.parse_args()
    if args.burden_only:
        only = Report()
        with tempfile.TemporaryDirectory(prefix="cds-bench-") as directory:
            burden(only, Path(directory), args.quick)
        return
    started = time.perf_counter()
    info = machine()
    print(f"{info['cpu']}, {info['cores']} cores, Python {info['python']}, load {info['load']}", flush=True)
    report = Report()
    bodies = {"typical": body_of(TYPICAL), "heavy": body_of(HEAVY), "lean": lean_body()}
    sizes = {
        "typical": f"{TYPICAL.total} resources, {len(bodies['typical']) / 1e3:.0f} kB",
        "heavy": f"{HEAVY.total:,} resources "
        f"({HEAVY.medication_requests + HEAVY.medication_administrations:,} "
        f"MedicationRequest/Administration, {HEAVY.conditions} Condition, {HEAVY.observations} Observation, "
        f"{HEAVY.imaging_studies + HEAVY.diagnostic_reports} imaging), {len(bodies['heavy']) / 1e6:.2f} MB",
        "lean (bench/lean.py, the story's resources included)": describe_lean(bodies["lean"]),
    }
    in_process(report, bodies, args.quick)
    with tempfile.TemporaryDirectory(prefix="cds-bench-") as directory:
        state = Path(directory)
        with ServerProcess("floor", state) as floor, ServerProcess("service", state) as service:
            single_requests(report, floor, service, bodies, args.quick)
            throughput(report, floor, service, bodies["typical"], state, args.quick)
            steps(report, args.quick)
            fallback(report, service, args.quick)
        authentication(report, state, bodies["typical"], args.quick)
        memory(report, state, bodies)
        startup(report, state, bodies["typical"], args.quick)
        burden(report, state, args.quick)
    text = table(report, info, sizes, time.perf_counter() - started)
    print("\n" + text)
    if not args.no_write and not args.quick:
        write_doc(text)
        print(f"written to {DOC.relative_to(ROOT)}")
    elif args.quick and not args.no_write:
        print("--quick: not written to the document")


if __name__ == "__main__":
    threading.current_thread().name = "bench"
    main()
