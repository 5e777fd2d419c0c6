# AgentOS runtime image. Multi-stage: TypeScript is compiled in `build`; the final
# stage has dist/, production dependencies and git (for background repacking; commits
# go through isomorphic-git). Build:
#   docker build -t agentos:latest .
# Where no registry is reachable, build the base locally (see docs/deploy.md):
#   docker build --network host --build-arg BASE_IMAGE="$(../shared/docker/local-base-image.sh)" -t agentos:latest .
ARG BASE_IMAGE=node:24-bookworm-slim

# ── build: compile TypeScript ─────────────────────────────────────────────────
FROM ${BASE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
# --ignore-scripts: `prepare` would compile before the sources are here, and the
# `node` devDependency would fetch a second Node; the base image already has Node 24.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
COPY dashboard ./dashboard
RUN npx tsc -p . && node dashboard/build.mjs && chmod 0755 dist/cli.js

# ── deps: production dependencies only ────────────────────────────────────────
FROM ${BASE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force

# ── runtime ───────────────────────────────────────────────────────────────────
FROM ${BASE_IMAGE}
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="AgentOS" \
      org.opencontainers.image.description="Event-driven runtime for self-learning LLM agents that live as plain files and git history; model-agnostic (any OpenAI-compatible endpoint)" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.documentation="docs/deploy.md"

WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY package.json ./
COPY fixtures ./fixtures
# Any uid works (`--user $(id -u):$(id -g)`): nothing here needs a home directory or a
# passwd entry, and /data is the only place written.
# git: the runtime packs each agent's history in the background with `git repack`
# (docs/durability.md); it commits through isomorphic-git either way.
RUN apt-get update && apt-get install -y --no-install-recommends git && rm -rf /var/lib/apt/lists/* \
 && ln -s /app/dist/cli.js /usr/local/bin/agentos \
 && mkdir -p /data && chown node:node /data

# SHUTDOWN_GRACE_SECONDS stays under `docker stop`'s 10 s, so running tasks are finished
# or cleanly aborted (they run again after a restart) before Docker sends SIGKILL.
ENV NODE_ENV=production \
    DATA_DIR=/data \
    LLM_BASE_URL=https://api.openai.com/v1 \
    LLM_MODEL=gpt-4o \
    LLM_MAX_TOKENS=2048 \
    LLM_TIMEOUT=60 \
    LOG_FORMAT=text \
    SHUTDOWN_GRACE_SECONDS=8

# No `USER`: started as root (the article's `docker run` without --user), agentos first
# becomes the owner of /data, so host files stay theirs; a /data owned by root is handed
# once to `node` (uid 1000). It never works as root (src/ops/data-owner.ts). With
# --user it runs as that user and changes nothing.
ENV AGENTOS_RUN_AS_DATA_OWNER=1
VOLUME /data

# The runtime refreshes each agent's lease heartbeat every 10 s; `agentos health`
# fails when it is older than 30 s (a hung event loop, a dead worker). Compose
# services running one agent pass `--agent NAME`.
HEALTHCHECK --interval=30s --timeout=10s --start-period=20s --retries=3 CMD ["agentos", "health"]

# node is PID 1: it installs SIGTERM/SIGINT handlers (finish running tasks, release
# leases, exit 0); its only child processes are `git repack`, which it waits for (git
# waits for its own), so no init is needed to reap zombies.
ENTRYPOINT ["agentos"]
CMD ["run"]
