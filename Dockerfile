# Debian (glibc) rather than Alpine (musl): classic-level, the LevelDB binding behind the
# embedded store, ships prebuilt binaries for linux-x64 glibc and musl but for linux-arm64
# only glibc, and Node's own musl builds are "experimental" tier. bookworm-slim runs the
# same image on x86_64 and Graviton without a compiler. Pin a digest in your registry
# mirror if you need reproducible builds: --build-arg NODE_IMAGE=node:22-bookworm-slim@sha256:...
# Node 22 is the LTS line (Node 20 left support in April 2026); the code also runs on 20.
ARG NODE_IMAGE=node:22-bookworm-slim

# --- dependencies: production only -------------------------------------------------------
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: the only install scripts (classic-level, esbuild) are denied in
# package.json's allowScripts too; both load their prebuilt binaries at run time without them.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && npm cache clean --force

# --- build: compile src/ to dist/ and bundle the bot (TypeScript and esbuild are development
# dependencies). The bundle's V8 code cache is made here, by the image's own Node with the CMD's
# flags: V8 takes a cache only from the same version and flags.
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY scripts ./scripts
COPY src ./src
RUN npm run build

# --- runtime -----------------------------------------------------------------------------
FROM ${NODE_IMAGE}
ENV NODE_ENV=production \
    PORT=3000 \
    BREAKGLASS_POLICY=/app/breakglass.yml
WORKDIR /app
# Everything stays owned by root and read-only to the app user: the running bot cannot
# rewrite its own code, dependencies or policy.
COPY --from=deps /app/node_modules ./node_modules
# manifest.yml lets `breakglass doctor` compare the token's scopes with the app's. The policy file is
# optional here (the bracket makes it a pattern that may match nothing):
# bake breakglass.yml into the image, or mount one and point BREAKGLASS_POLICY at it.
COPY package.json manifest.yml breakglass.ym[l] ./
COPY bin ./bin
# Compiled JavaScript only (the bundled bot with its code cache, and the CLI's modules): the
# sources stay out of the image.
COPY --from=build /app/dist ./dist

# The `node` user (uid 1000) comes with the official image.
USER node
# Health (and, in HTTP mode, /slack/events) on PORT; Socket Mode needs no inbound traffic.
EXPOSE 3000
# Slim images have no curl: probe with node's built-in fetch.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/healthz', { signal: AbortSignal.timeout(4000) }).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# Node as PID 1 does not reap children or get default signal handling: run with `docker run
# --init` (the ECS task enables initProcessEnabled) so SIGTERM reaches the bot.
# The same command as `npm start`, V8 flags included (README "Start command").
CMD ["node", "--max-semi-space-size=8", "--max-old-space-size=256", "dist/start.js"]
