"""docs/examples.md works as written: its `sh` blocks run in order against `make run` (restarted at each
`sh server` block, on a free port instead of 8000), and each `text` block equals the output of the
block before it (its stdout; its stderr when it printed nothing on stdout)."""

from __future__ import annotations

import re
import subprocess
from contextlib import ExitStack
from pathlib import Path

from ops_support import REPO_ROOT, ServiceProcess, base_environment, free_port, start_service

EXAMPLES = REPO_ROOT / "docs" / "examples.md"
BLOCK = re.compile(r"^```(sh server|sh|text)\n(.*?)^```$", re.MULTILINE | re.DOTALL)
DOCUMENTED_PORT = "127.0.0.1:8000"


def blocks() -> list[tuple[str, str]]:
    return [
        (match.group(1), match.group(2)) for match in BLOCK.finditer(EXAMPLES.read_text(encoding="utf-8"))
    ]


def test_examples_page_has_server_command_and_output_blocks() -> None:
    kinds = [kind for kind, _ in blocks()]
    assert kinds[0] == "sh server"
    assert kinds.count("text") >= 5


def test_every_example_works_as_written(tmp_path: Path) -> None:
    port = free_port()
    env = base_environment(CDS_SQLITE_PATH=str(tmp_path / "cds.sqlite3"), CDS_LOG_LEVEL="WARNING")
    output: str | None = None
    with ExitStack() as stack:
        service: ServiceProcess | None = None
        for index, (kind, text) in enumerate(blocks()):
            if kind == "sh server":
                if service is not None:
                    service.terminate()
                command = text.strip().replace("make run", f"make run PORT={port}")
                service = start_service(
                    ["bash", "-c", command],
                    env,
                    f"http://127.0.0.1:{port}",
                    tmp_path / f"service-{index}.log",
                )
                stack.callback(service.terminate)
                service.wait_until_live()
            elif kind == "sh":
                script = "set -euo pipefail\n" + text.replace(DOCUMENTED_PORT, f"127.0.0.1:{port}")
                result = subprocess.run(
                    ["bash", "-c", script],
                    cwd=REPO_ROOT,
                    env=env,
                    capture_output=True,
                    text=True,
                    timeout=120,
                    check=False,
                )
                assert result.returncode == 0, (
                    f"block {index} failed:\n{text}\n{result.stdout}{result.stderr}"
                )
                output = result.stdout if result.stdout.strip() else result.stderr
            else:
                assert output is not None, f"text block {index} follows no command"
                assert output.strip().splitlines() == text.strip().splitlines(), f"block {index}:\n{output}"
                output = None
