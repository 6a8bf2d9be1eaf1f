"""The container image, checked without a Docker engine: hadolint, the Dockerfile's structure, the build
context, and the image's own start command (CMD and ENV as the Dockerfile writes them, paths mapped onto
this working tree) run as a real process."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import signal
import subprocess
import time
import tomllib
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path, PurePosixPath

import httpx
from ops_support import (
    REPO_ROOT,
    START_TIMEOUT_SECONDS,
    VENV_BIN,
    ServiceProcess,
    base_environment,
    free_port,
    metric_value,
    running_service,
)

from service.settings import Settings

DOCKERFILE = REPO_ROOT / "Dockerfile"
PYPROJECT = REPO_ROOT / "pyproject.toml"
DOCKERIGNORE = REPO_ROOT / ".dockerignore"
HADOLINT = VENV_BIN / "hadolint"
BASE_IMAGE = re.compile(r"^python:3\.11\.\d+-slim-bookworm(?:@sha256:[0-9a-f]{64})?$")
# Settings outside CDS_* that the image may set.
OTHER_ENV = {"PATH", "PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED", "PROMETHEUS_MULTIPROC_DIR"}
BUILD_ONLY_ENV = {"PIP_NO_CACHE_DIR", "PIP_DISABLE_PIP_VERSION_CHECK"}


@dataclass
class Instruction:
    keyword: str
    arguments: str


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [i.arguments for i in self.instructions if i.keyword == keyword]

    def env(self) -> dict[str, str]:
        values: dict[str, str] = {}
        for arguments in self.all("ENV"):
            for pair in shlex.split(arguments):
                name, _, value = pair.partition("=")
                values[name] = value
        return values

    def workdir(self) -> PurePosixPath:
        return PurePosixPath(self.all("WORKDIR")[-1])


def logical_lines(text: str) -> list[str]:
    """Instructions with their continuation lines joined; comments and blank lines dropped."""
    lines: list[str] = []
    current = ""
    for raw in text.splitlines():
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        lines.append(current + stripped)
        current = ""
    assert not current, "the Dockerfile ends inside a continuation"
    return lines


@cache
def stages() -> tuple[Stage, ...]:
    found: list[Stage] = []
    for line in logical_lines(DOCKERFILE.read_text(encoding="utf-8")):
        keyword, _, arguments = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            parts = arguments.split()
            name = parts[2] if len(parts) == 3 and parts[1].upper() == "AS" else None
            found.append(Stage(parts[0], name))
            continue
        assert found, f"{keyword} before the first FROM"
        found[-1].instructions.append(Instruction(keyword, arguments.strip()))
    return tuple(found)


def final_stage() -> Stage:
    return stages()[-1]


def exec_form(arguments: str) -> list[str]:
    parsed = json.loads(arguments)
    assert isinstance(parsed, list) and all(isinstance(part, str) for part in parsed)
    return parsed


def healthcheck_command() -> list[str]:
    (arguments,) = final_stage().all("HEALTHCHECK")
    _options, separator, command = arguments.partition("CMD ")
    assert separator, "HEALTHCHECK has no CMD"
    return exec_form(command)


# --- .dockerignore (the subset of Docker's syntax that the file uses) --------------------------------


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    out, index = "", 0
    while index < len(pattern):
        if pattern.startswith("**", index):
            out, index = out + ".*", index + 2
        elif pattern[index] == "*":
            out, index = out + "[^/]*", index + 1
        elif pattern[index] == "?":
            out, index = out + "[^/]", index + 1
        elif pattern[index] == "[":
            end = pattern.index("]", index)
            out, index = out + pattern[index : end + 1], end + 1
        else:
            out, index = out + re.escape(pattern[index]), index + 1
    return re.compile(out.replace(".*/", "(?:.*/)?") + "$")


def in_build_context(relative: str) -> bool:
    rules = []
    for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            negated = line.startswith("!")
            rules.append((negated, _pattern_regex(line.lstrip("!").strip("/"))))
    parts = relative.split("/")
    candidates = ["/".join(parts[: depth + 1]) for depth in range(len(parts))]
    included = True
    for negated, regex in rules:
        if any(regex.match(candidate) for candidate in candidates):
            included = negated
    return included


# --- static checks -------------------------------------------------------------------------------


def test_hadolint_passes() -> None:
    result = subprocess.run(
        [str(HADOLINT), "--no-color", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == ""


def test_hadolint_fails_a_dockerfile_that_breaks_its_rules(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN apt-get install gcc\nCMD python -m service\n", encoding="utf-8")
    result = subprocess.run(
        [str(HADOLINT), "--no-color", str(bad)], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode != 0
    for rule in ("DL3007", "DL3008", "DL3025"):  # latest tag, unpinned apt package, shell-form CMD
        assert rule in result.stdout


def test_every_stage_uses_a_pinned_slim_python_311_image() -> None:
    assert len(stages()) >= 2, "a multi-stage build"
    for stage in stages():
        assert BASE_IMAGE.match(stage.base), stage.base


def test_dependencies_are_installed_in_a_layer_before_the_source_is_copied() -> None:
    builder = stages()[0]
    copies = [i for i in builder.instructions if i.keyword == "COPY"]
    assert copies[0].arguments.split()[:-1] == ["requirements/runtime.txt"]
    dependency_install = next(
        index
        for index, i in enumerate(builder.instructions)
        if i.keyword == "RUN" and "pip install" in i.arguments and "requirement" in i.arguments
    )
    source_copy = next(
        index
        for index, i in enumerate(builder.instructions)
        if i.keyword == "COPY" and "service/" in i.arguments.split()
    )
    assert builder.instructions.index(copies[0]) < dependency_install < source_copy


def test_dependencies_come_from_the_lock_with_hashes_and_nothing_else() -> None:
    builder = stages()[0]
    installs = [
        i.arguments for i in builder.instructions if i.keyword == "RUN" and "requirement" in i.arguments
    ]
    # The runtime environment (/opt/venv, what the image runs) and the compiler's (/opt/compile, this
    # stage only): each from its lock export, hashes required, nothing else.
    runtime = [command for command in installs if "/opt/compile" not in command]
    compile_tools = [command for command in installs if "/opt/compile/bin/pip install" in command]
    assert len(runtime) == 1 and len(compile_tools) == 1 and len(installs) == 2
    for command, lock in ((runtime[0], "runtime.txt"), (compile_tools[0], "compile.txt")):
        assert "--require-hashes" in command.split()
        assert "--no-deps" in command.split()
        # What is installed is exactly what `make lock` exported: pinned, each with a hash.
        locked = (REPO_ROOT / "requirements" / lock).read_text(encoding="utf-8")
        pins = [line for line in locked.splitlines() if line and not line.startswith((" ", "#"))]
        assert pins
        assert all("==" in pin for pin in pins)
        assert locked.count("--hash=sha256:") >= len(pins)


def test_the_build_stage_compiles_the_walk_into_the_wheel() -> None:
    builder = stages()[0]
    runs = [i.arguments for i in builder.instructions if i.keyword == "RUN"]
    compile_step = next(index for index, command in enumerate(runs) if "tools/compile_walk.py" in command)
    wheel_step = next(index for index, command in enumerate(runs) if "pip wheel" in command)
    assert compile_step < wheel_step
    assert "--require" in runs[compile_step].split()
    package_data = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["tool"]["setuptools"]["package-data"]
    assert "_relevance_walk_compiled*.so" in package_data["clinical.timeline"]


def test_the_final_stage_takes_the_built_environment_and_installs_nothing() -> None:
    final = final_stage()
    builder_name = stages()[0].name
    assert builder_name is not None
    assert f"--from={builder_name} /opt/venv /opt/venv" in final.all("COPY")
    for command in final.all("RUN"):
        for forbidden in ("apt-get", "apk ", "pip ", "gcc", "build-essential", "make "):
            assert forbidden not in command, command


def test_the_image_runs_as_a_non_root_user() -> None:
    (user,) = final_stage().all("USER")
    uid, _, gid = user.partition(":")
    assert uid.isdigit() and int(uid) != 0
    assert gid == "" or (gid.isdigit() and int(gid) != 0)
    # The numeric user is the one the image creates (Kubernetes' runAsNonRoot needs a numeric USER).
    assert any(f"--uid {uid}" in command for command in final_stage().all("RUN"))


def test_cmd_is_exec_form_serve() -> None:
    (cmd,) = final_stage().all("CMD")
    assert exec_form(cmd) == ["immuno-cds", "serve"]
    assert final_stage().all("ENTRYPOINT") == []


def test_healthcheck_probes_liveness_with_python_not_curl() -> None:
    command = healthcheck_command()
    assert command[:2] == ["python", "-c"]
    assert "urllib.request" in command[2]
    assert "/health/live" in command[2]
    assert "curl" not in DOCKERFILE.read_text(encoding="utf-8")
    assert "wget" not in DOCKERFILE.read_text(encoding="utf-8")


def test_image_environment_names_only_real_settings() -> None:
    settings = {f"CDS_{name.upper()}" for name in Settings.model_fields}
    for name in final_stage().env():
        assert name in settings or name in OTHER_ENV, name
    for name in stages()[0].env():
        assert name in OTHER_ENV | BUILD_ONLY_ENV, name


def _copy_destinations(stage: Stage) -> dict[str, PurePosixPath]:
    """Build-context source -> absolute destination, for the stage's COPY without --from."""
    destinations: dict[str, PurePosixPath] = {}
    workdir = PurePosixPath("/")
    for instruction in stage.instructions:
        if instruction.keyword == "WORKDIR":
            workdir = workdir / instruction.arguments
        elif instruction.keyword == "COPY" and not instruction.arguments.startswith("--from"):
            *sources, target = instruction.arguments.split()
            for source in sources:
                destinations[source] = workdir / target
    return destinations


def test_clinical_content_is_copied_where_the_settings_point() -> None:
    final = final_stage()
    env = final.env()
    copies = _copy_destinations(final)
    assert PurePosixPath(env["CDS_KNOWLEDGE_DIR"]) == copies["knowledge/"]
    assert PurePosixPath(env["CDS_CARDS_DIR"]) == copies["cards/"]


def test_writable_paths_are_under_tmp() -> None:
    env = final_stage().env()
    assert PurePosixPath(env["PROMETHEUS_MULTIPROC_DIR"]).is_relative_to("/tmp")
    assert PurePosixPath(env["CDS_SQLITE_PATH"]).is_relative_to("/tmp")


def test_every_copied_file_exists_and_is_in_the_build_context() -> None:
    sources = [source for stage in stages() for source in _copy_destinations(stage)]
    assert sources
    for source in sources:
        if "*" in source:  # optional files (README.md*)
            continue
        path = REPO_ROOT / source
        assert path.exists(), f"COPY {source}: missing from the repository"
        files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
        # Build artifacts of this machine, kept out of the context on purpose (the stage makes its own).
        files = [p for p in files if "__pycache__" not in p.parts and "_walk_compiled" not in p.name]
        assert files, f"COPY {source}: nothing to copy"
        for file in files:
            relative = file.relative_to(REPO_ROOT).as_posix()
            assert in_build_context(relative), f"{relative} is excluded by .dockerignore"


def test_dockerignore_keeps_local_state_and_secrets_out_of_the_context() -> None:
    for relative in (
        ".git/config",
        ".venv/bin/python",
        "var/cds-feedback.sqlite3",
        "tests/test_cli.py",
        "deploy/kubernetes/secret.yaml",
        "service/__pycache__/app.cpython-311.pyc",
        ".env",
        "clinical/timeline/_relevance_walk_compiled.cpython-311-x86_64-linux-gnu.so",
    ):
        assert not in_build_context(relative), relative
    for relative in (
        "pyproject.toml",
        "service/app.py",
        "knowledge/therapies.yaml",
        "tools/compile_walk.py",
        "requirements/compile.txt",
    ):
        assert in_build_context(relative), relative


# --- the start command, run ----------------------------------------------------------------------


def adapt(value: str, tmp_path: Path) -> str:
    """Map the image's paths onto this machine: the venv, the working tree, a temporary /tmp."""
    for image_path, local in (("/opt/venv", REPO_ROOT / ".venv"), ("/app", REPO_ROOT), ("/tmp", tmp_path)):
        if value == image_path or value.startswith(image_path + "/"):
            return str(local) + value[len(image_path) :]
    return value


def image_environment(tmp_path: Path, port: int) -> dict[str, str]:
    env = base_environment()
    for name, value in final_stage().env().items():
        if name == "PATH":
            env[name] = ":".join(
                adapt(part, tmp_path) for part in value.replace("$PATH", env["PATH"]).split(":")
            )
        else:
            env[name] = adapt(value, tmp_path)
    # Only loopback here, on a free port.
    env["CDS_HOST"] = "127.0.0.1"
    env["CDS_PORT"] = str(port)
    # What a deployer passes at run time: here the development profile, so discovery answers unauthenticated.
    env["CDS_PROFILE"] = "development"
    env["CDS_ALLOW_UNAUTHENTICATED"] = "true"
    return env


def resolve_program(argv: list[str], env: dict[str, str]) -> list[str]:
    program = shutil.which(argv[0], path=env["PATH"])
    assert program is not None, f"{argv[0]} is not on the image's PATH"
    return [program, *argv[1:]]


def run_healthcheck(env: dict[str, str]) -> int:
    command = resolve_program(healthcheck_command(), env)
    return subprocess.run(command, env=env, capture_output=True, timeout=30, check=False).returncode


def _live_group_members(group_id: int) -> list[int]:
    """Processes of the group that still run (zombies waiting for init to reap them do not count)."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        state, _ppid, pgid = text.rsplit(")", 1)[1].split()[:3]
        if int(pgid) == group_id and state not in ("Z", "X"):
            members.append(int(stat.parent.name))
    return members


def _wait_until_group_gone(group_id: int) -> list[int]:
    # multiprocessing's resource tracker exits when it sees its parent gone: poll (a hang guard).
    deadline = time.monotonic() + 10.0
    while (members := _live_group_members(group_id)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return members


def test_image_start_command_serves_liveness_readiness_and_discovery(tmp_path: Path) -> None:
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = image_environment(tmp_path, port)
    (cmd,) = final_stage().all("CMD")
    argv = resolve_program(exec_form(cmd), env)
    cwd = Path(adapt(str(final_stage().workdir()), tmp_path))
    multiproc = Path(env["PROMETHEUS_MULTIPROC_DIR"])
    assert not multiproc.exists()

    with running_service(argv, env, base_url, tmp_path / "image.log", cwd=cwd) as service:
        assert httpx.get(f"{base_url}/health/live", timeout=10).json() == {"status": "ok"}
        assert httpx.get(f"{base_url}/health/ready", timeout=10).json() == {
            "status": "ok",
            "components": {"database": "ok", "fhir": "ok"},
        }
        discovery = httpx.get(f"{base_url}/cds-services", timeout=10)
        assert discovery.status_code == 200
        assert len(discovery.json()["services"]) == 3
        metrics = httpx.get(f"{base_url}/metrics", timeout=10)
        assert metrics.status_code == 200
        assert metric_value(metrics.text, "cds_requests_total", {"route": "/cds-services"}) >= 1
        # The image's metrics directory was created by the start command, in multiprocess mode.
        assert any(multiproc.glob("counter_*.db"))
        # The image's own HEALTHCHECK passes against it.
        assert run_healthcheck(env) == 0

        # `docker stop` / the kubelet: SIGTERM to PID 1 only. It drains, stops its workers, exits 0.
        service.process.send_signal(signal.SIGTERM)
        assert service.process.wait(timeout=30) == 0
        assert _wait_until_group_gone(service.process.pid) == []

    assert run_healthcheck(env) != 0
    # No worker failed start-up on the way (several workers on a new database once did).
    log = (tmp_path / "image.log").read_text(encoding="utf-8", errors="replace")
    assert "startup failed" not in log
    assert "failed to start" not in log


def _started_workers(service: ServiceProcess, expected: int) -> set[str]:
    """The worker pids uvicorn logged as started, polled until `expected` appear (a hang guard)."""
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while True:
        started = set(re.findall(r"Started server process \[(\d+)\]", service.log_tail(500)))
        if len(started) >= expected or time.monotonic() > deadline:
            return started
        time.sleep(0.2)


def test_image_start_command_uses_the_workers_setting(tmp_path: Path) -> None:
    port = free_port()
    env = image_environment(tmp_path, port)
    env["CDS_WORKERS"] = "3"
    (cmd,) = final_stage().all("CMD")
    argv = resolve_program(exec_form(cmd), env)
    with running_service(argv, env, f"http://127.0.0.1:{port}", tmp_path / "image.log") as service:
        started = _started_workers(service, 3)
        # 3, not the image's default of 2: the setting reached uvicorn.
        assert len(started) == 3, service.log_tail()


def test_every_base_image_is_pinned_by_digest() -> None:
    """A tag can be moved to other bytes; a digest cannot: rebuilds of one release are the same image."""
    lines = [
        line.split()
        for line in DOCKERFILE.read_text(encoding="utf-8").splitlines()
        if line.startswith("FROM ")
    ]
    assert lines
    for words in lines:
        image = words[1]
        assert re.fullmatch(r"[\w./-]+:[\w.-]+@sha256:[0-9a-f]{64}", image), image
