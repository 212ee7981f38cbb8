# syntax=docker/dockerfile:1
# gql-trust: the Labour Market Data Trust GraphQL server.
#
#   docker build -t gql-trust .
#   docker run --rm -p 8000:8000 gql-trust        # demo trust: http://127.0.0.1:8000/graphql
#
# To serve a real trust, mount its settings file read-only and a writable volume for
# the ledger (its settings then say `[ledger] path = "/ledger/ledger.sqlite"`, or
# `kind = "postgres"`), and override the command:
#   docker run --rm -p 8000:8000 -v "$PWD/trust:/trust:ro" -v ledger:/ledger gql-trust \
#     gql-trust serve --config /trust/gql-trust.toml --host 0.0.0.0 --port 8000

# ---- build: install the package (non-editable) and fetch the pinned GraphiQL bundles ----
FROM python:3.11-slim AS build

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

# npm is needed only here: `gql-trust assets fetch` runs `npm ci` on the committed lock file.
RUN apt-get update \
    && apt-get install -y --no-install-recommends nodejs npm \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /src
COPY . .

RUN python -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-cache-dir . \
    && /opt/venv/bin/gql-trust assets fetch

# ---- runtime: the venv only, no compilers, no node, not root ----
FROM python:3.11-slim

RUN groupadd --gid 10001 trust \
    && useradd --uid 10001 --gid 10001 --create-home --home-dir /home/trust \
       --shell /usr/sbin/nologin trust

COPY --from=build /opt/venv /opt/venv

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1

USER 10001:10001
WORKDIR /home/trust

EXPOSE 8000

# The slim image has no curl: probe /healthz with the standard library (non-2xx -> exit 1).
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]

# Generates the demo trust on first start (in the user's home), then serves it on all interfaces.
CMD ["gql-trust", "demo", "--host", "0.0.0.0", "--port", "8000", "--data-dir", "/home/trust/demo-trust"]
