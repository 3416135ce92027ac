# syntax=docker/dockerfile:1
# One image for every cio-sync process; the container's command picks it:
#   node src/worker.ts          the Temporal worker (the default)
#   node src/ingest/server.ts   the ingest server
#   node bin/cio-sync.js …      the CLI
# Debian, not Alpine: Temporal's native bridge (@temporalio/core-bridge) is built for glibc.
# NODE_VERSION follows .nvmrc (test/deploy-files.test.ts checks it).
ARG NODE_VERSION=24.21.0
FROM node:${NODE_VERSION}-bookworm-slim

# The system trust store: the Temporal bridge's TLS (e.g. to Temporal Cloud) reads it, and so does
# Node with --use-system-ca; the slim image ships without it.
RUN apt-get update \
  && apt-get install -y --no-install-recommends ca-certificates \
  && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund \
  && npm cache clean --force
COPY bin ./bin
COPY src ./src
COPY examples ./examples

# The workflow bundle is built once here instead of by every worker at start-up (webpack takes
# seconds and memory); the worker loads it from CIO_SYNC_WORKFLOW_BUNDLE. It must come from the same
# @temporalio/worker as the one that runs it, which this image guarantees.
RUN node -e "import('./src/temporal/bundle.ts').then(async (m) => require('node:fs').writeFileSync('workflow-bundle.js', await m.bundleWorkflows()))"
ENV CIO_SYNC_WORKFLOW_BUNDLE=/app/workflow-bundle.js
# Fewer glibc malloc arenas: the worker's native threads otherwise keep freed memory each in its own
# (src/settings.ts WORKER_MALLOC_ARENAS).
ENV MALLOC_ARENA_MAX=2

# Not root. .data/ is only for the default SQLite store (a single-machine run); compose uses PostgreSQL.
RUN mkdir -p .data && chown node:node .data
USER node

# 8788: ingest (and its /metrics); 9464: the worker's /metrics and /health.
EXPOSE 8788 9464
CMD ["node", "--max-old-space-size=320", "--max-semi-space-size=32", "src/worker.ts"]
