# Debian (glibc) rather than Alpine (musl): classic-level, the LevelDB binding behind the
# embedded store, ships prebuilt binaries for linux-x64 glibc and musl but for linux-arm64
# only glibc, and Node's own musl builds are "experimental" tier. bookworm-slim runs the
# same image on x86_64 and Graviton without a compiler. Pin a digest in your registry
# mirror if you need reproducible builds: --build-arg NODE_IMAGE=node:20-bookworm-slim@sha256:...
ARG NODE_IMAGE=node:20-bookworm-slim

# --- dependencies: production only -------------------------------------------------------
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: the only install scripts (classic-level, esbuild) are denied in
# package.json's allowScripts too; both load their prebuilt binaries at run time without them.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && npm cache clean --force

# --- runtime -----------------------------------------------------------------------------
FROM ${NODE_IMAGE}
ENV NODE_ENV=production \
    PORT=3000 \
    BREAKGLASS_POLICY=/app/breakglass.yml \
    TSX_DISABLE_CACHE=1
# TSX_DISABLE_CACHE: tsx compiles src/ in memory instead of caching to /tmp, so the container
# also runs with a read-only root filesystem (as the ECS task in infra/ does).
WORKDIR /app
# Everything stays owned by root and read-only to the app user: the running bot cannot
# rewrite its own code, dependencies or policy.
COPY --from=deps /app/node_modules ./node_modules
# manifest.yml lets `breakglass doctor` compare the token's scopes with the app's. The policy file is
# optional here (the bracket makes it a pattern that may match nothing):
# bake breakglass.yml into the image, or mount one and point BREAKGLASS_POLICY at it.
COPY package.json tsconfig.json manifest.yml breakglass.ym[l] ./
COPY bin ./bin
COPY src ./src

# The `node` user (uid 1000) comes with the official image.
USER node
# Health (and, in HTTP mode, /slack/events) on PORT; Socket Mode needs no inbound traffic.
EXPOSE 3000
# Slim images have no curl: probe with node's built-in fetch.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/healthz', { signal: AbortSignal.timeout(4000) }).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# Node as PID 1 does not reap children or get default signal handling: run with `docker run
# --init` (the ECS task enables initProcessEnabled) so SIGTERM reaches the bot.
CMD ["node", "--import", "tsx", "src/main.ts"]
