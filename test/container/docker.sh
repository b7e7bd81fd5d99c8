#!/usr/bin/env bash
# Makes a Docker engine available for the container tests: installs Debian's docker.io when
# dockerd is missing and starts dockerd when it is not answering. Idempotent and quiet when the
# engine is already healthy; one line on stderr for what it had to do. Needs root.
#
# dockerd runs its own containerd (under /var/run/docker/containerd), beside the test cluster's
# (/run/quorumvat-cluster/containerd.sock), which it never touches. --ip-forward=false: the
# containers talk only to each other and to this host (both need no forwarding), and dockerd
# then leaves the forwarding sysctl and the FORWARD policy (the cluster's) as they are.
set -euo pipefail
log=/var/log/quorumvat-dockerd.log

healthy() { timeout 10 docker info --format '{{.ServerVersion}}' >/dev/null 2>&1; }
healthy && exit 0
[ "$(id -u)" = 0 ] || { echo "docker.sh: the Docker engine is not running and starting it needs root" >&2; exit 1; }

exec 7>/tmp/quorumvat-docker-setup.lock
flock -w 300 7 || { echo "docker.sh: another set-up holds /tmp/quorumvat-docker-setup.lock" >&2; exit 1; }
healthy && exit 0

if ! command -v dockerd >/dev/null 2>&1; then
  echo "docker.sh: installing Debian's docker.io (dockerd)" >&2
  export DEBIAN_FRONTEND=noninteractive
  # policy-rc.d: no init system here; the package must not try to start the service itself.
  { apt-get update -qq && apt-get install -y -qq --no-install-recommends docker.io iptables; } \
    >/tmp/quorumvat-docker-install.log 2>&1 ||
    { echo "docker.sh: installing docker.io failed (log: /tmp/quorumvat-docker-install.log)" >&2; exit 1; }
fi

if ! [ -S /var/run/docker.sock ] || ! healthy; then
  pidfile=/var/run/quorumvat-dockerd.pid
  if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    : # started earlier and still starting up: wait below
  else
    echo "docker.sh: starting dockerd (log: $log)" >&2
    rm -f /var/run/docker.pid
    setsid dockerd --host unix:///var/run/docker.sock --ip-forward=false \
      --pidfile /var/run/docker.pid >>"$log" 2>&1 </dev/null 7>&- &
    echo $! >"$pidfile"
  fi
  for _ in $(seq 1 150); do
    healthy && exit 0
    kill -0 "$(cat "$pidfile")" 2>/dev/null || { tail -5 "$log" >&2; echo "docker.sh: dockerd exited (log: $log)" >&2; exit 1; }
    sleep 0.2
  done
  tail -5 "$log" >&2
  echo "docker.sh: dockerd did not answer within 30 s (log: $log)" >&2
  exit 1
fi
