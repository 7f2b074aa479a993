#!/usr/bin/env bash
# Checks the Dockerfile as far as possible without a Docker engine:
#   1. lints it (dockerfile-utils, the linter of the Docker language server)
#   2. checks the rules the image must keep: official node:24 bases, a numeric
#      non-root USER, `node [flags] dist/main.js` as an exec-form ENTRYPOINT, production
#      dependencies only, an allowlist .dockerignore
#   3. replays the build stage on exactly the files the Dockerfile copies
#   4. replays the runtime stage in a clean directory (npm ci --omit=dev
#      --ignore-scripts, the compiled dist/) and runs its --version and --help
#      with the project's pinned Node 24, as UID 65532 when possible.
# Needs `npm ci` done (the pinned Node and TypeScript come from node_modules).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

DOCKERFILE_UTILS=dockerfile-utils@0.16.3
RUNTIME_UID=65532

# The pinned Node 24 first on PATH: it runs npm and the operator, as in the image.
export PATH="$root/node_modules/.bin:$PATH"

step() {
  local name=$1; shift
  local start=$SECONDS
  echo "::: $name"
  "$@"
  echo "::: $name took $((SECONDS - start))s"
}
fail() { echo "check-image: $*" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/check-image.XXXXXX")
trap 'rm -rf "$work"' EXIT

lint() {
  npx --yes "$DOCKERFILE_UTILS" lint Dockerfile
  echo "no findings"
}

# The final stage: every line after the last FROM.
final_stage() { awk 'toupper($1) == "FROM" { stage = "" } { stage = stage $0 "\n" } END { printf "%s", stage }' Dockerfile; }

rules() {
  local froms
  froms=$(grep -iE '^\s*FROM\s' Dockerfile)
  echo "$froms" | sed 's/^/  /'
  while read -r line; do
    [[ "$line" =~ ^[Ff][Rr][Oo][Mm][[:space:]]+(docker\.io/(library/)?)?node:24([.-][^[:space:]]*)?([[:space:]]|$) ]] ||
      fail "every stage must start from the official node:24 image: $line"
  done <<< "$froms"

  local final user entrypoint
  final=$(final_stage)
  user=$(echo "$final" | grep -iE '^\s*USER\s' | tail -1 | awk '{print $2}')
  [[ "$user" =~ ^[0-9]+(:[0-9]+)?$ ]] || fail "the final stage needs a numeric USER (uid[:gid]), found '${user:-none}'"
  [[ "${user%%:*}" != 0 ]] || fail "USER must not be root"
  echo "  USER $user: numeric, non-root"

  entrypoint=$(echo "$final" | grep -iE '^\s*ENTRYPOINT\s' | tail -1 | sed -E 's/^\s*ENTRYPOINT\s+//I')
  [[ -n "$entrypoint" ]] || fail "the final stage has no ENTRYPOINT"
  node -e '
    const text = process.argv[1];
    let argv;
    try { argv = JSON.parse(text); } catch { console.error(`ENTRYPOINT is not in exec (JSON) form: ${text}`); process.exit(1); }
    const flags = Array.isArray(argv) ? argv.slice(1, -1) : [];
    const ok = Array.isArray(argv) && argv[0] === "node" && argv.at(-1) === "dist/main.js" && flags.every((f) => typeof f === "string" && f.startsWith("--"));
    if (!ok) { console.error(`ENTRYPOINT must be ["node", <node flags>..., "dist/main.js"] (no npm, no shell), not ${text}`); process.exit(1); }
  ' "$entrypoint" || fail "bad ENTRYPOINT"
  if echo "$final" | grep -qiE '^\s*CMD\s'; then fail "the final stage must not add a CMD"; fi
  echo "  ENTRYPOINT $entrypoint: exec form, node directly"

  grep -qE 'npm ci .*--omit=dev' Dockerfile || fail "the runtime dependencies must come from npm ci --omit=dev"
  if echo "$final" | grep -qiE '^\s*RUN\s.*npm\s'; then fail "the final stage must not run npm"; fi
  echo "  dependencies: npm ci --omit=dev, no npm in the final stage"

  [[ -f .dockerignore ]] || fail ".dockerignore is missing"
  [[ "$(grep -vE '^\s*(#|$)' .dockerignore | head -1)" == "*" ]] || fail ".dockerignore must be an allowlist starting with '*'"
  echo "  .dockerignore: allowlist"
}

# Build stage: package files, tsconfigs and src/ only (what the Dockerfile
# copies); node_modules is the project's, the same lock file as its npm ci.
build_stage() {
  mkdir -p "$work/build"
  cp package.json package-lock.json tsconfig.json tsconfig.build.json "$work/build/"
  cp -R src "$work/build/src"
  ln -s "$root/node_modules" "$work/build/node_modules"
  (cd "$work/build" && npm run --silent build)
  echo "compiled $(find "$work/build/dist" -name '*.js' | wc -l) files into dist/"
}

# Runtime stage: a clean npm ci --omit=dev --ignore-scripts plus dist/.
runtime_stage() {
  mkdir -p "$work/app"
  cp package.json package-lock.json "$work/app/"
  (cd "$work/app" && npm ci --omit=dev --ignore-scripts --no-fund --no-audit)
  cp -R "$work/build/dist" "$work/app/dist"
  rm "$work/app/package-lock.json" # the image copies package.json only
  # Every package the lock file marks dev-only (the `node` devDependency and its
  # Node binary, TypeScript, tsx, esbuild...) must be absent.
  local leaked
  leaked=$(cd "$work/app" && node -e '
    const fs = require("node:fs");
    const lock = JSON.parse(fs.readFileSync(process.argv[1], "utf8"));
    const dev = Object.entries(lock.packages).filter(([p, m]) => p && m.dev).map(([p]) => p);
    console.log(dev.filter((p) => fs.existsSync(p)).join(" "));
    console.error(`${dev.length} dev-only packages in the lock file, none installed`);
  ' "$root/package-lock.json")
  [[ -z "$leaked" ]] || fail "dev-only packages in the runtime node_modules: $leaked"
  [[ ! -e "$work/app/node_modules/node" && ! -e "$work/app/node_modules/.bin/node" ]] || fail "a Node binary is in the runtime node_modules"
  echo "node_modules: $(du -sh "$work/app/node_modules" | cut -f1), $(ls "$work/app/node_modules" | wc -l) top-level entries"
}

# As the image runs it: cwd /app, NODE_ENV=production, UID 65532 when we can switch to it.
run_operator() {
  local as=() uid
  uid=$(id -u)
  if [[ $uid == 0 ]] && command -v setpriv >/dev/null; then
    chmod -R a+rX "$work"
    as=(setpriv --reuid "$RUNTIME_UID" --regid "$RUNTIME_UID" --clear-groups --)
    uid=$RUNTIME_UID
  fi
  # The ENTRYPOINT's node flags, as the image passes them.
  local flags
  mapfile -t flags < <(final_stage | grep -iE '^\s*ENTRYPOINT\s' | tail -1 | sed -E 's/^\s*ENTRYPOINT\s+//I' | node -e 'for (const f of JSON.parse(require("fs").readFileSync(0, "utf8")).slice(1, -1)) console.log(f)')
  echo "+ (uid $uid, cwd app/) node ${flags[*]} dist/main.js $*" >&2
  (cd "$work/app" && env -i PATH="$PATH" HOME=/nonexistent NODE_ENV=production "${as[@]}" "$(command -v node)" "${flags[@]}" dist/main.js "$@")
}

runtime_run() {
  local node_version version help expected
  node_version=$(node --version)
  [[ "$node_version" == v24.* ]] || fail "expected Node 24 from node_modules/.bin, got $node_version"
  expected="event-xmlrpc-operator $(node -p 'require("./package.json").version')"
  version=$(run_operator --version) || fail "--version failed"
  [[ "$version" == "$expected" ]] || fail "--version printed '$version', expected '$expected'"
  echo "node $node_version: --version: $version"
  help=$(run_operator --help) || fail "--help failed"
  grep -q '^Usage: event-xmlrpc-operator' <<< "$help" || fail "--help printed no usage: $help"
  echo "--help: $(wc -l <<< "$help") lines of usage"
}

step "lint Dockerfile ($DOCKERFILE_UTILS)" lint
step "image rules" rules
step "build stage (npm run build on the copied files)" build_stage
step "runtime stage (npm ci --omit=dev --ignore-scripts + dist)" runtime_stage
step "runtime: --version and --help" runtime_run
echo "::: image checks passed"
