# Immunotherapy neuroimaging CDS Hooks service.
#   docker build -t immuno-cds:0.1.0 .
#   docker run --rm -p 8000:8000 -e CDS_WORKERS=1 \
#     -e CDS_DATABASE_URL=sqlite+aiosqlite:////tmp/cds/cds-feedback.sqlite3 \
#     -e CDS_TRUSTED_CLIENTS_FILE=/etc/immuno-cds/trusted-clients.yaml \
#     -v "$PWD/trusted-clients.yaml:/etc/immuno-cds/trusted-clients.yaml:ro" immuno-cds:0.1.0
# (production refuses to start without trusted clients and an explicit database; SQLite is for one
# worker process only: with PostgreSQL in CDS_DATABASE_URL, keep the image's 2 workers.)
# Runtime settings are CDS_* environment variables (docs/reference.md, docs/deployment.md).

# ---- builder: a virtual environment with the dependencies and the service wheel -------------------
# The base image pinned by tag and by the digest of its multi-architecture index, so that a rebuild
# gets the same bytes (refresh both with `docker buildx imagetools inspect python:3.11.14-slim-bookworm`).
FROM python:3.11.14-slim-bookworm@sha256:65a93d69fa75478d554f4ad27c85c1e69fa184956261b4301ebaf6dbb0a3543d AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PATH=/opt/venv/bin:$PATH

WORKDIR /build
RUN python -m venv /opt/venv

# Dependencies in a layer of their own, rebuilt only when the lock changes: exactly the versions in
# requirements/runtime.txt (exported from uv.lock by `make lock`), every file checked against its hash,
# nothing else pulled in. Every dependency ships manylinux wheels for CPython 3.11: no compiler needed.
COPY requirements/runtime.txt ./requirements.txt
RUN pip install --no-cache-dir --require-hashes --no-deps --requirement requirements.txt

# What compiles the fast reject's walk (tools/compile_walk.py): a C compiler, and mypy (mypyc) from the lock
# (requirements/compile.txt, hashes checked) in an environment of its own. Both stay in this stage: the
# runtime stage copies /opt/venv only. Debian drops superseded package versions from its mirror, so
# pinning them would break every build after the next point release; the base image is pinned instead.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends gcc libc6-dev \
 && rm -rf /var/lib/apt/lists/*
COPY requirements/compile.txt ./compile-requirements.txt
RUN python -m venv /opt/compile \
 && /opt/compile/bin/pip install --no-cache-dir --require-hashes --no-deps --requirement compile-requirements.txt

# The service itself, as a wheel: no source tree and no editable install in the image.
COPY pyproject.toml LICENSE README.md* ./
COPY service/ ./service/
COPY clinical/ ./clinical/
COPY workbench/ ./workbench/
COPY timeline_view/ ./timeline_view/
# The walk compiled into clinical/timeline (shipped in the wheel as package data); the build fails rather
# than ship an image that would run the slower Python walk unnoticed.
COPY tools/compile_walk.py ./tools/compile_walk.py
RUN /opt/compile/bin/python tools/compile_walk.py --require
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /build/dist . \
 && pip install --no-cache-dir --no-deps /build/dist/*.whl

# ---- runtime: the interpreter, the virtual environment and the reviewed clinical content ----------
FROM python:3.11.14-slim-bookworm@sha256:65a93d69fa75478d554f4ad27c85c1e69fa184956261b4301ebaf6dbb0a3543d AS runtime

LABEL org.opencontainers.image.title="immuno-cds" \
      org.opencontainers.image.description="CDS Hooks 2.0 service: brain MRI advice around immunotherapy"

# /tmp is the only place written: the SQLite fallback database and the Prometheus multiprocess files
# (emptyDir volumes in deploy/kubernetes, where the root filesystem is read-only).
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    CDS_HOST=0.0.0.0 \
    CDS_PORT=8000 \
    CDS_WORKERS=2 \
    CDS_KNOWLEDGE_DIR=/app/knowledge \
    CDS_CARDS_DIR=/app/cards \
    CDS_DATA_DIR=/tmp/cds \
    CDS_SQLITE_PATH=/tmp/cds/cds-feedback.sqlite3 \
    PROMETHEUS_MULTIPROC_DIR=/tmp/prometheus-multiproc

RUN groupadd --system --gid 10001 cds \
 && useradd --system --uid 10001 --gid cds --home-dir /app --no-create-home --shell /usr/sbin/nologin cds

COPY --from=builder /opt/venv /opt/venv
WORKDIR /app
COPY knowledge/ ./knowledge/
COPY cards/ ./cards/

USER 10001:10001
EXPOSE 8000

HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('CDS_PORT', '8000') + '/health/live', timeout=4)"]

# uvicorn with CDS_WORKERS worker processes on CDS_HOST:CDS_PORT; PID 1, so SIGTERM drains and stops.
CMD ["immuno-cds", "serve"]
