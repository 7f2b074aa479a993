# syntax=docker/dockerfile:1
# The operator's image: `docker build -t event-xmlrpc-operator .`
# .ci/check-image.sh lints this file and rebuilds its runtime stage without Docker.

# Compiles the TypeScript with the whole dependency tree, as `npm run build` does
# on a workstation (the `node` devDependency fetches its own Node 24 for that).
FROM node:24-trixie-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-fund --no-audit
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# The production dependencies alone, from the lock file: no devDependency (so
# no second Node, no TypeScript, no tsx), and no install scripts (none of them
# needs one).
FROM node:24-trixie-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-fund --no-audit

# package.json ("type": "module", the version), the production node_modules and
# dist/; run by the image's Node as a numeric non-root user, without npm or a shell.
FROM node:24-trixie-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json ./
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /src/dist ./dist
USER 65532:65532
# /metrics, /healthz, /readyz (--http-port)
EXPOSE 8080
# V8 sized for a long-running controller, not a throughput job: young
# generation at most 2 x 16 MiB (it grew to 128 MiB under load), and an old
# generation that grows by 10% over what is live rather than up to 4x. npm run
# bench measured RSS growth to 10,000 finished raises 193 -> 44 MiB with them.
ENTRYPOINT ["node", "--max-semi-space-size=16", "--heap-growing-percent=10", "dist/main.js"]
