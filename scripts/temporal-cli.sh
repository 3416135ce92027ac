#!/usr/bin/env bash
# Prints the path of a Temporal CLI binary, building the pinned version when there is none.
# Order: $TEMPORAL_CLI, `temporal` on PATH, the cached build, a fresh `go install` into the cache.
set -euo pipefail
version="v1.5.1" # v1.6.0 and later carry a replace directive and cannot be `go install`ed
cache="${CIO_SYNC_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cio-sync}/temporal-cli/$version"

if [ -n "${TEMPORAL_CLI:-}" ]; then
  [ -x "$TEMPORAL_CLI" ] || { echo "TEMPORAL_CLI=$TEMPORAL_CLI is not an executable file" >&2; exit 1; }
  echo "$TEMPORAL_CLI"; exit 0
fi
if command -v temporal >/dev/null 2>&1; then command -v temporal; exit 0; fi
if [ -x "$cache/temporal" ]; then echo "$cache/temporal"; exit 0; fi

if ! command -v go >/dev/null 2>&1; then
  cat >&2 <<MSG
No Temporal CLI found, and Go is not installed to build one.
Either install Go (https://go.dev/dl/, 1.25 or later) and run this again, which builds
github.com/temporalio/cli/cmd/temporal@$version into $cache,
or install the Temporal CLI yourself and point TEMPORAL_CLI at the binary.
MSG
  exit 1
fi
mkdir -p "$cache"
# Two set-ups at once (make start beside make test) build it once: the second waits for the first.
if command -v flock >/dev/null 2>&1; then
  exec 9>"$cache/.build.lock"
  flock 9
  if [ -x "$cache/temporal" ]; then echo "$cache/temporal"; exit 0; fi
fi
echo "building the Temporal CLI $version with go install (several minutes the first time)..." >&2
partial="$(mktemp -d "$cache/.partial.XXXXXX")"
trap 'rm -rf "$partial"' EXIT
GOBIN="$partial" go install "github.com/temporalio/cli/cmd/temporal@$version" >&2
mv "$partial/temporal" "$cache/temporal"
echo "$cache/temporal"
