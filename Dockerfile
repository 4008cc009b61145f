# One image for the runbook worker, the alert intake, the CLI, the codec server and the approval
# page, chosen by command: `docker run accubooks-runbooks worker|intake|cli …|codec-server|approval-page`
# (image/entrypoint.ts). Built with BuildKit (DOCKER_BUILDKIT=1; scripts/image.sh does it all).
#
# Two ways to get the application in (APP_FROM), the same final stage:
#   source  (default) compiled here on BASE, which must have npm and reach the npm registry:
#             DOCKER_BUILDKIT=1 docker build -t accubooks-runbooks .
#   staged  dist/ and the production node_modules made on the host (scripts/image.sh stage), for a BASE
#           without npm or a machine without registry access:
#             scripts/image.sh build --base accubooks/node24-base:local
#
# The final stage runs nothing (no RUN): it works on a base without a shell. No secret goes in: the
# context is only what .dockerignore lets through (no .env, .stack, keys), and configuration and
# secrets come from the environment at `docker run`.
ARG BASE=node:24-bookworm-slim
ARG APP_FROM=source

# ---- the product's sources in one layer (each COPY onto a tree as big as node_modules costs its own
# copy of it on a vfs engine; here they cost nothing).
FROM scratch AS sources
COPY tsconfig.json /tsconfig.json
COPY definitions /definitions
COPY common /common
COPY activities /activities
COPY workflows /workflows
COPY config /config
COPY worker /worker
COPY client /client
COPY image /image

# ---- source: npm ci, tsc, the workflow bundle, then production dependencies only.
FROM ${BASE} AS app-source
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY --from=sources / ./
RUN npx tsc -p image/tsconfig.build.json \
 && node dist/image/bundle-workflows.js dist/workflow-bundle.js \
 && npm prune --omit=dev --no-audit --no-fund \
 && sh image/prune-modules.sh node_modules \
 && rm -rf definitions common activities workflows config worker client image tsconfig.json \
 && mkdir -p /state/evidence

# ---- staged: what scripts/image.sh stage left in .image/app (dist/, node_modules/, package files).
FROM scratch AS app-staged
COPY .image/app/ /app/
COPY .image/state/ /state/

FROM app-${APP_FROM} AS app

# ---- pg_dump for P0-4's evidence (PG_BIN_DIR) and the libraries it loads, under /pg: from Debian's
# postgresql-client-15 on BASE (source), or the host's, collected by scripts/image.sh (staged).
FROM ${BASE} AS pg-source
COPY image/collect-pg-client.sh /collect-pg-client.sh
RUN apt-get update \
 && apt-get install -y --no-install-recommends postgresql-client-15 \
 && sh /collect-pg-client.sh /pg

FROM scratch AS pg-staged
COPY .image/pg/ /pg/

FROM pg-${APP_FROM} AS pg

# ---- the image: the runtime of BASE, the application read-only (owned by root), a non-root user.
FROM ${BASE}
LABEL org.opencontainers.image.title="accubooks-runbooks" \
      org.opencontainers.image.description="AccuBooks incident runbooks (Temporal): worker, intake, CLI, codec server, approval page"
# Dependencies first: they change least, so a code change rebuilds only the small layers after them.
COPY --from=app /app/node_modules /app/node_modules
COPY --from=app /app/package.json /app/package.json
COPY --from=app /app/dist /app/dist
COPY --from=app --chown=1000:1000 /state /var/lib/accubooks
COPY --from=pg /pg/ /
WORKDIR /app
# Listeners on every interface of the container (publish the ports you need), the worker's health
# endpoint too, so that an orchestrator's probe reaches it (its HEALTHCHECK runs inside). Evidence goes to a volume: with
# `--read-only` the volume (or a tmpfs) is the only place the worker writes.
# NODE_OPTIONS: every program's V8 young generation at 2 MB semi-spaces, as WORKER_V8_SEMI_SPACE_MB's
# default gives the worker's workflow thread; only node's command line reaches a main thread, and
# the worker's grew to 48 MB at 1,000 open incidents (worker/memory.ts, README Performance).
ENV NODE_ENV=production \
    NODE_OPTIONS=--max-semi-space-size=2 \
    WORKER_WORKFLOW_BUNDLE=/app/dist/workflow-bundle.js \
    WORKER_HEALTH_PORT=8081 \
    WORKER_HEALTH_HOST=0.0.0.0 \
    INTAKE_HOST=0.0.0.0 \
    CODEC_SERVER_HOST=0.0.0.0 \
    APPROVAL_PAGE_HOST=0.0.0.0 \
    EVIDENCE_DIR=/var/lib/accubooks/evidence
VOLUME ["/var/lib/accubooks"]
# The worker's Worker Versioning build (config/versioning.ts): the image has no .git to read the
# commit from, so scripts/image.sh passes `<version>+<commit>`; two images of different workflow
# code must never share one. Empty = `<version>+unknown`.
ARG BUILD_ID=""
ENV WORKER_BUILD_ID=${BUILD_ID}
# uid 1000 is `node` in the node images and in the local base; numeric, so it needs no passwd lookup.
USER 1000:1000
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 \
  CMD ["node", "/app/dist/image/healthcheck.js"]
ENTRYPOINT ["node", "/app/dist/image/entrypoint.js"]
CMD ["worker"]
