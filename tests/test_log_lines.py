"""Issue 11, finding 7: with several worker processes on one stderr, JSON log lines never merge (`}{`).

Each line, newline included, leaves in one write(2); structlog's PrintLogger wrote the text and the
newline apart, and a line longer than the stream's buffer in several writes, which another process's
line could split.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from service.logs import LineWriter, configure_logging, get_logger

WRITER = """
import sys
from service.logs import LineWriter, configure_logging, get_logger
configure_logging("INFO", "json")
log = get_logger("worker")
for index in range(int(sys.argv[2])):
    log.info("long_line", worker=sys.argv[1], index=index, padding="x" * int(sys.argv[3]))
"""


@pytest.mark.parametrize("line_bytes", [200, 12_000])
def test_each_line_is_one_write(monkeypatch: pytest.MonkeyPatch, line_bytes: int) -> None:
    writes: list[bytes] = []
    monkeypatch.setattr(sys, "stderr", sys.__stderr__)
    monkeypatch.setattr(os, "write", lambda fd, data: writes.append(bytes(data)) or len(data))

    LineWriter().msg("x" * line_bytes)

    assert writes == [b"x" * line_bytes + b"\n"]


def test_a_replaced_stream_gets_one_write_per_line(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", "json")
    get_logger("test").info("captured", value=1)
    (line,) = capsys.readouterr().err.splitlines()
    assert json.loads(line)["event"] == "captured"


def test_lines_from_several_processes_never_merge(tmp_path: Path) -> None:
    """Four processes log 12 kB lines into one file at once, as uvicorn workers share stderr."""
    log_path = tmp_path / "workers.log"
    processes = 4
    lines_each = 150
    with log_path.open("wb") as shared:
        workers = [
            subprocess.Popen(
                [sys.executable, "-c", WRITER, str(worker), str(lines_each), "12000"],
                stdout=subprocess.DEVNULL,
                stderr=shared,
            )
            for worker in range(processes)
        ]
        for worker in workers:
            assert worker.wait(timeout=60) == 0
    lines = log_path.read_bytes().splitlines()
    assert len(lines) == processes * lines_each
    parsed = [json.loads(line) for line in lines]
    assert {entry["worker"] for entry in parsed} == {str(worker) for worker in range(processes)}
