"""Helpers for the operations tests: the service as a real process (uvicorn, workers, signals), free
loopback ports, and reading Prometheus text.

Every process is started in its own session so that stopping it also stops uvicorn's worker
processes; `running_service` always stops what it started, also when the test fails.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

REPO_ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = REPO_ROOT / ".venv" / "bin"
CLI = VENV_BIN / "immuno-cds"
START_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 30.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def base_environment(**overrides: str) -> dict[str, str]:
    """This process's environment without any CDS_* setting or metrics directory, plus overrides."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("CDS_") and name != "PROMETHEUS_MULTIPROC_DIR"
    }
    env.update(overrides)
    return env


@dataclass
class ServiceProcess:
    process: subprocess.Popen[bytes]
    base_url: str
    log_path: Path

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def wait_until_live(self, timeout: float = START_TIMEOUT_SECONDS) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(
                    f"the service exited with {self.process.returncode} before answering:\n{self.log_tail()}"
                )
            try:
                if httpx.get(f"{self.base_url}/health/live", timeout=2.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"the service did not answer /health/live in {timeout} s:\n{self.log_tail()}")

    def terminate(self) -> int:
        """SIGTERM to the process group (uvicorn drains and stops its workers); SIGKILL if it hangs."""
        if self.process.poll() is None:
            _signal_group(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                _signal_group(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=STOP_TIMEOUT_SECONDS)
        # Workers left behind by a supervisor that died first.
        _signal_group(self.process.pid, signal.SIGKILL)
        return self.process.returncode


def _signal_group(group_id: int, signum: signal.Signals) -> None:
    with suppress(ProcessLookupError):
        os.killpg(group_id, signum)


def start_service(
    argv: Sequence[str], env: Mapping[str, str], base_url: str, log_path: Path, cwd: Path = REPO_ROOT
) -> ServiceProcess:
    log = log_path.open("wb")
    try:
        process = subprocess.Popen(
            list(argv),
            env=dict(env),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    finally:
        log.close()
    return ServiceProcess(process, base_url, log_path)


@contextmanager
def running_service(
    argv: Sequence[str], env: Mapping[str, str], base_url: str, log_path: Path, cwd: Path = REPO_ROOT
) -> Iterator[ServiceProcess]:
    """Start the command, wait for /health/live, and always stop it (and its workers) afterwards."""
    service = start_service(argv, env, base_url, log_path, cwd)
    try:
        service.wait_until_live()
        yield service
    finally:
        service.terminate()


def serve_argv(port: int, workers: int) -> list[str]:
    return [str(CLI), "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]


def metric_value(text: str, name: str, labels: Mapping[str, str] | None = None) -> float:
    """The sum of the samples called `name` whose labels include `labels` (0 when there is none)."""
    wanted = dict(labels or {})
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in wanted.items()):
                total += sample.value
    return total


def sample_labels(text: str, name: str) -> list[dict[str, str]]:
    return [
        dict(sample.labels)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    ]
