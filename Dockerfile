# The quorumvat image: one image for the vat node (the default command) and the operator
# (`--target operator`, or entrypoint node /app/operator/src/main.ts).
#
#   docker build -t quorumvat .                                   # base: the official node:24-slim
#   test/container/build-image.sh                                 # no registry: a local base image
#
# The classic builder takes it (no BuildKit syntax). RUN steps use the exec form and run Node
# itself, so a base image without a shell (the local one) works as well as the official image.
ARG NODE_IMAGE=node:24-slim

# ---- production dependencies (npm ci --omit=dev), for both workspaces
FROM ${NODE_IMAGE} AS deps
# Lets build-image.sh prune this stage's images once a newer build replaced them.
LABEL quorumvat.stage=deps
WORKDIR /app
COPY package.json package-lock.json ./
COPY vat-node/package.json vat-node/package.json
COPY operator/package.json operator/package.json
# Where no registry is reachable from a build, test/container/build-image.sh prepares them on the
# host (the same `npm ci --omit=dev`, from its cache) in .prod-deps/; the glob matches nothing
# otherwise, and tools/prod-deps.mjs then runs npm ci here.
COPY tools/prod-deps.mjs .prod-dep[s] /app/
RUN ["node", "/app/prod-deps.mjs", "/app"]

# ---- the image
FROM ${NODE_IMAGE} AS vat-node
ARG VERSION=dev
ARG REVISION=unknown
LABEL org.opencontainers.image.title="quorumvat" \
      org.opencontainers.image.description="Object-capability vats over libp2p: the vat node and the quorumvat operator" \
      org.opencontainers.image.source="https://github.com/quorumvat/quorumvat" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="Apache-2.0"
WORKDIR /app
COPY --from=deps /app/node_modules node_modules
COPY package.json package-lock.json ./
COPY vat-node vat-node
COPY operator operator
# The data directory belongs to the unprivileged user (uid 1000: `node` in both base images).
RUN ["node", "-e", "fs.mkdirSync('/data', { recursive: true }); fs.chownSync('/data', 1000, 1000); fs.chmodSync('/data', 0o700)"]
USER 1000:1000
ENV NODE_ENV=production \
    QUORUMVAT_DATA_DIR=/data \
    QUORUMVAT_LISTEN=/ip4/0.0.0.0/tcp/4001 \
    QUORUMVAT_HTTP=0.0.0.0:9090
VOLUME /data
# 4001: VatTP (libp2p); 9090: /healthz /readyz /metrics /identity
EXPOSE 4001 9090
ENTRYPOINT ["node", "/app/vat-node/src/cli/main.ts"]
CMD ["node"]

# ---- the same image, starting the operator
FROM vat-node AS operator
ENTRYPOINT ["node", "/app/operator/src/main.ts"]
CMD []

# The default target: the vat node.
FROM vat-node
