#!/usr/bin/env bash
# Stops the test cluster and removes everything it left on the host: processes (components,
# containers, shims), mounts, network namespaces, the bridge and veths, routes, iptables chains,
# cgroups, sysctls (restored) and all state under /var/lib/quorumvat-cluster and
# /run/quorumvat-cluster. Build caches under /var/cache/quorumvat stay. Safe to run any time.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need_root
cluster_lock

# Our processes: anything whose command line names our state/run dirs or whose binary is one of
# our cached builds. Never this script or its parents.
our_pids() {
  local p cmd exe self_chain=" $$ $PPID "
  for p in /proc/[0-9]*; do
    p="${p#/proc/}"
    [[ "$self_chain" == *" $p "* ]] && continue
    cmd="$(tr '\0' ' ' 2>/dev/null <"/proc/$p/cmdline")" || continue
    exe="$(readlink "/proc/$p/exe" 2>/dev/null)" || exe=""
    if [[ "$cmd" == *"$STATE_DIR"* || "$cmd" == *"$RUN_DIR"* || "$exe" == "$K8S_CACHE/bin/"* || "$exe" == "$COREDNS_CACHE/bin/"* ]]; then
      echo "$p"
    fi
  done
}

# Container processes: everything in the kubelet's cgroups.
cgroup_pids() {
  local d
  for d in /sys/fs/cgroup/*/kubepods /sys/fs/cgroup/kubepods; do
    [ -d "$d" ] && find "$d" -name cgroup.procs -exec cat {} + 2>/dev/null
  done
  return 0
}

stop_pids() {
  local pids=("$@") i p running
  [ ${#pids[@]} -eq 0 ] && return 0
  kill -TERM "${pids[@]}" 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do
    running=0
    for p in "${pids[@]}"; do alive "$p" && running=1; done
    [ "$running" = 0 ] && return 0
    sleep 0.1
  done
  kill -KILL "${pids[@]}" 2>/dev/null || true
  sleep 0.2
}

stop_component() {
  local f="$RUN_DIR/$1.pid"
  [ -f "$f" ] && stop_pids "$(cat "$f")"
  rm -f "$f"
}

processes() {
  rm -f "$RUN_DIR/up.done"
  local c
  # Node agents first so nothing restarts containers, then the containers, then the rest.
  for c in local-path coredns kube-proxy kubelet kube-scheduler kube-controller-manager; do stop_component "$c"; done
  local i pids
  for ((i = 0; i < 5; i++)); do
    mapfile -t pids < <(cgroup_pids)
    [ ${#pids[@]} -eq 0 ] && break
    kill -KILL "${pids[@]}" 2>/dev/null || true
    sleep 0.2
  done
  for c in kube-apiserver containerd etcd; do stop_component "$c"; done
  mapfile -t pids < <(our_pids)
  stop_pids "${pids[@]}"
}

mounts() {
  local m i
  for ((i = 0; i < 3; i++)); do
    mapfile -t m < <(awk -v a="$STATE_DIR" -v b="$RUN_DIR" '$2 == a || index($2, a "/") == 1 || $2 == b || index($2, b "/") == 1 { print $2 }' /proc/self/mounts | sort -r)
    [ ${#m[@]} -eq 0 ] && break
    umount "${m[@]}" 2>/dev/null || umount -l "${m[@]}" 2>/dev/null || true
  done
  # Pod network namespaces made by containerd's CRI plugin for our pods.
  local ns
  for ns in /run/netns/cni-*; do
    [ -e "$ns" ] || continue
    if ! ip netns exec "${ns##*/}" ip -4 -o addr 2>/dev/null | grep -q ' inet ' ||
      ip netns exec "${ns##*/}" ip -4 -o addr 2>/dev/null | grep -q " inet ${NODE_IP%.*}\."; then
      umount "$ns" 2>/dev/null || umount -l "$ns" 2>/dev/null || true
      rm -f "$ns"
    fi
  done
}

cgroups() {
  local d
  for d in /sys/fs/cgroup/*/kubepods /sys/fs/cgroup/kubepods; do
    [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} + 2>/dev/null
  done
  return 0
}

iptables_cleanup() {
  local cmd table rules line chain
  for cmd in iptables ip6tables; do
    command -v "$cmd" >/dev/null || continue
    for table in filter nat mangle raw; do
      rules="$("$cmd" -w -t "$table" -S 2>/dev/null)" || continue
      while IFS= read -r line; do
        eval "$cmd -w -t $table -D ${line#-A }" 2>/dev/null || true
      done < <(grep -E '^-A (INPUT|OUTPUT|FORWARD|PREROUTING|POSTROUTING) .*-j (KUBE-|CNI-|QVAT-)' <<<"$rules")
      mapfile -t chains < <(sed -n -E 's/^-N ((KUBE|CNI|QVAT)-[^ ]*)$/\1/p' <<<"$rules")
      for chain in "${chains[@]}"; do "$cmd" -w -t "$table" -F "$chain" 2>/dev/null || true; done
      for chain in "${chains[@]}"; do "$cmd" -w -t "$table" -X "$chain" 2>/dev/null || true; done
    done
  done
  if command -v nft >/dev/null; then
    local fam
    for fam in ip ip6; do nft delete table "$fam" kube-proxy 2>/dev/null || true; done
  fi
}

network() {
  local link
  # Host ends of pod veths that outlived their namespace, then the bridge.
  if ip link show "$BRIDGE" >/dev/null 2>&1; then
    for link in $(ip -o link show master "$BRIDGE" 2>/dev/null | awk -F': ' '{ print $2 }' | cut -d@ -f1); do
      ip link del "$link" 2>/dev/null || true
    done
    ip link del "$BRIDGE" 2>/dev/null || true
  fi
  ip route del blackhole "$NET_SUPERNET" 2>/dev/null || true
  while ip rule del iif "$BRIDGE" lookup "$ROUTE_TABLE" 2>/dev/null; do :; done
  ip route flush table "$ROUTE_TABLE" 2>/dev/null || true
  iptables_cleanup
  conntrack -D -s "$NET_SUPERNET" >/dev/null 2>&1 || true
  conntrack -D -d "$NET_SUPERNET" >/dev/null 2>&1 || true
  rm -f /var/lib/cni/results/qvat-* 2>/dev/null || true
}

sysctls() {
  local f="$STATE_DIR/sysctl.saved" kv
  [ -f "$f" ] || return 0
  while IFS= read -r kv; do sysctl -q -w "$kv" >/dev/null 2>&1 || true; done <"$f"
  rm -f "$f"
}

files() {
  # Symlinks kubelet keeps in the fixed /var/log/containers directory.
  local l
  for l in /var/log/containers/*.log; do
    [ -L "$l" ] && [[ "$(readlink "$l")" == "$STATE_DIR"/* ]] && rm -f "$l"
  done
  if [ -f "$STATE_DIR/created-dirs" ]; then
    while IFS= read -r l; do
      case "$l" in
      /var/lib/cni | /var/lib/kubelet | /run/containerd) rm -rf --one-file-system "$l" ;;
      /var/log/containers) rmdir "$l" 2>/dev/null || true ;;
      /run/netns)
        # containerd mounts it on itself (shared propagation); drop it only when empty.
        if [ -d /run/netns ] && [ -z "$(ls -A /run/netns)" ]; then
          umount /run/netns 2>/dev/null || true
          rmdir /run/netns 2>/dev/null || true
        fi
        ;;
      esac
    done <"$STATE_DIR/created-dirs"
  fi
  if [ -d "$STATE_DIR" ] || [ -d "$RUN_DIR" ]; then
    rm -rf --one-file-system "$STATE_DIR" "$RUN_DIR" ||
      die "could not remove $STATE_DIR / $RUN_DIR (still mounted? see /proc/self/mounts)"
  fi
}

phase down:processes processes
phase down:mounts mounts
phase down:cgroups cgroups
phase down:network network
phase down:sysctls sysctls
phase down:files files
leftover="$(our_pids | tr '\n' ' ')"
[ -z "$leftover" ] || die "processes still running after down: $leftover"
note "down"
