"""The servers the benchmark measures, each in its own process under uvicorn on 127.0.0.1.

* ``floor``: the least any JSON hook endpoint can do. A bare ASGI app that reads the body, parses it
  with orjson and answers ``{"cards": []}``.
* ``service``: ``service.app.create_app(settings, clock=...)``, development profile with
  ``allow_unauthenticated=True`` (authentication is out of scope for these measurements), SQLite in a
  temporary directory, JSON logs at INFO (so the audit line is written, to a file), metrics on, the
  clock fixed at the synthetic patient's "now" so the cards do not depend on the day.

Both run under the same uvicorn configuration as ``immuno-cds serve`` (one worker, no access log, no
server header; uvloop, and the service's HTTP parser setting, h11 by default).
``python -m bench.servers floor|service --port N`` runs one in the foreground; `ServerProcess` starts
one in a subprocess and waits until it answers.
"""

from __future__ import annotations

import argparse
import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson

from bench.generate import NOW

EMPTY_CARDS = orjson.dumps({"cards": []})
ROOT = Path(__file__).resolve().parent.parent


async def floor_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    chunks = []
    more = True
    while more:
        message = await receive()
        chunks.append(message.get("body", b""))
        more = message.get("more_body", False)
    body = b"".join(chunks)
    if body:
        orjson.loads(body)
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", b"%d" % len(EMPTY_CARDS)),
            ],
        }
    )
    await send({"type": "http.response.body", "body": EMPTY_CARDS})


def fixed_clock() -> Any:
    return NOW


def service_app(state_dir: Path) -> Any:
    from service.app import create_app
    from service.settings import Settings

    for name in list(os.environ):
        if name.startswith("CDS_"):
            del os.environ[name]
    # The authentication rows (bench/auth.py) add trusted clients, the public URL and the database.
    settings = Settings(
        profile="development",
        allow_unauthenticated=True,
        sqlite_path=state_dir / "cds-feedback.sqlite3",
        log_level="INFO",
        log_format="json",
        trusted_clients_file=os.environ.get("BENCH_TRUSTED_CLIENTS_FILE") or None,
        public_base_url=os.environ.get("BENCH_PUBLIC_BASE_URL") or None,
        database_url=os.environ.get("BENCH_DATABASE_URL") or None,
    )
    app = create_app(settings, clock=fixed_clock)
    _ablate(app, os.environ.get("BENCH_ABLATE", ""))
    return app


def _ablate(app: Any, parts: str) -> None:
    """Diagnosis only (`BENCH_ABLATE=db,audit,eval`): switch parts of the hook path off to see what
    each costs over HTTP. Never used for the reported service numbers."""
    import service.routes as routes

    for part in filter(None, parts.split(",")):
        if part == "db":
            from service.storage.issued_cards import IssuedCardsRecorder

            async def no_write(*_: Any) -> None:
                return None

            IssuedCardsRecorder.record = no_write  # type: ignore[method-assign]
        elif part == "audit":
            routes.audit_log = type("Silent", (), {"info": staticmethod(lambda *a, **k: None)})()
        elif part == "eval":
            app.state.evaluator = type("NoCards", (), {"cards_for": staticmethod(lambda *a, **k: [])})()
        else:
            raise SystemExit(f"unknown BENCH_ABLATE part {part!r}")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerProcess:
    """One server in a subprocess; stderr (the service's JSON logs) goes to `log_path`."""

    def __init__(self, kind: str, state_dir: Path, extra_env: dict[str, str] | None = None) -> None:
        self.kind = kind
        self.port = free_port()
        self.state_dir = state_dir
        self.log_path = state_dir / f"{kind}-{self.port}.log"
        self.extra_env = extra_env or {}
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self, ready_path: str = "/health/live", timeout: float = 30.0) -> float:
        """Start and wait until `ready_path` answers 200; returns the seconds that took."""
        command = [
            sys.executable,
            "-m",
            "bench.servers",
            self.kind,
            "--port",
            str(self.port),
            "--state-dir",
            str(self.state_dir),
        ]
        env = {**os.environ, "PYTHONPATH": str(ROOT), **self.extra_env}
        started = time.perf_counter()
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        wait_until_answers(self.port, ready_path, timeout, self.process)
        return time.perf_counter() - started

    def stop(self) -> None:
        if self.process is None:
            return
        # SIGINT, not SIGTERM: uvicorn re-raises the signal after its graceful shutdown, and only
        # SIGINT's KeyboardInterrupt lets `main` write its profile before the process ends.
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)
        self.process = None

    def __enter__(self) -> ServerProcess:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()


def wait_until_answers(
    port: int,
    path: str,
    timeout: float,
    process: subprocess.Popen[bytes] | None = None,
    method: str = "GET",
    body: bytes | None = None,
) -> None:
    deadline = time.perf_counter() + timeout
    while True:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"server on port {port} exited with {process.returncode} before answering")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            headers = {"Content-Type": "application/json"} if body is not None else {}
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            response.read()
            connection.close()
            if response.status == 200:
                return
        except OSError:
            pass
        if time.perf_counter() > deadline:
            raise RuntimeError(f"server on port {port} did not answer {method} {path} within {timeout} s")
        time.sleep(0.005)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.servers")
    parser.add_argument("kind", choices=("floor", "service"))
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("--profile", type=Path, help="write cProfile stats here on shutdown")
    args = parser.parse_args()

    import uvicorn

    from service.settings import Settings

    app = floor_app if args.kind == "floor" else service_app(args.state_dir)
    profiler = None
    if args.profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    try:
        # As `immuno-cds serve` runs the service (service/cli/serve.py): one worker, no access log, the
        # h11 parser with its request-head limit (the floor too, so that both pay the same parser).
        settings = Settings()
        uvicorn.run(
            app,
            host="127.0.0.1",
            port=args.port,
            workers=1,
            http=settings.http_parser,
            h11_max_incomplete_event_size=settings.http_max_header_bytes,
            timeout_keep_alive=settings.http_keep_alive_timeout_seconds,
            access_log=False,
            server_header=False,
            log_level="warning",
            lifespan="on",
        )
    except KeyboardInterrupt:
        pass
    finally:
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(args.profile)


if __name__ == "__main__":
    main()
