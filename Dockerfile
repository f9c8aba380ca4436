# syntax=docker/dockerfile:1
# The insertion-hours ledger: one image for every `ledger` command (worker, loader, post, progress...).
#
#   docker build -t insertion-ledger .
#   docker run --rm insertion-ledger --help
#
# The SQL of deploy/clickhouse is read at run time relative to the repository root
# (streams.settings.REPO_ROOT = the parent of streams/), so the tree is kept as it is in the
# repository, under /app, and the project is installed in editable mode: REPO_ROOT is /app.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN groupadd --system --gid 10001 ledger \
    && useradd --system --uid 10001 --gid ledger --create-home --home-dir /home/ledger \
        --shell /usr/sbin/nologin ledger

WORKDIR /app

# Dependencies first, in their own layer: it is rebuilt only when pyproject.toml changes.
# (Empty packages stand in for the sources, which are copied over them below.)
COPY pyproject.toml README.md ./
RUN mkdir ledger streams \
    && touch ledger/__init__.py streams/__init__.py \
    && pip install --editable . \
    && rm -r ledger streams

COPY ledger/ ledger/
COPY streams/ streams/
COPY deploy/ deploy/

# The worker's hot modules compiled from their sources by Cython (setup.py; the instructions per
# event they save: docs/scaling.md), with a compiler installed for this step only, and OpenSSL's
# headers for ledger/hashes.pyx (it links the libcrypto Python's hashlib already loads).
COPY setup.py ./
RUN apt-get update \
    && apt-get install --yes --no-install-recommends gcc libc6-dev libssl-dev \
    && pip install --editable ".[compile]" \
    && python setup.py --quiet build_ext --inplace \
    && python -c "import streams, ledger.desk; from streams.compiled import compiled; assert {'ledger.desk', 'ledger.hashes'} <= set(compiled())" \
    && pip uninstall --yes Cython \
    && apt-get purge --yes --auto-remove gcc libc6-dev libssl-dev \
    && rm -rf build /var/lib/apt/lists/*

# The worker's Faust data directory (LEDGER_WORKER_DATADIR defaults to .ledger/worker, under
# /app) is the only place the process writes; the code and SQL stay owned by root.
RUN mkdir -p /app/.ledger \
    && chown ledger:ledger /app/.ledger \
    && python -c "from streams.settings import REPO_ROOT; assert str(REPO_ROOT) == '/app', REPO_ROOT" \
    && ledger --help > /dev/null

USER ledger

ENTRYPOINT ["ledger"]
CMD ["--help"]
