#!/usr/bin/env bash
# Starts the single-node test cluster (see README.md here). Idempotent: a healthy cluster is left
# as it is; leftovers of a crashed or half-started one are cleaned up by down.sh first.
# Admin kubeconfig: /var/lib/quorumvat-cluster/admin.kubeconfig ($KUBECONFIG_PATH).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need_root
need_node
cluster_lock
NODE_NAME=quorumvat-node
export NODE_NAME

"$CLUSTER_DIR/build.sh"

KUBECTL="$TOOLS_CACHE/current/kubectl"
BIN="$K8S_CACHE/bin"
kc() { "$KUBECTL" --kubeconfig "$KUBECONFIG_PATH" "$@"; }

healthy() {
  [ -f "$RUN_DIR/up.done" ] || return 1
  local p
  for p in etcd containerd kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy coredns local-path; do
    [ -f "$RUN_DIR/$p.pid" ] && alive "$(cat "$RUN_DIR/$p.pid")" || return 1
  done
  kc get --raw /readyz >/dev/null 2>&1 || return 1
  [ "$(kc get node "$NODE_NAME" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" = True ]
}
if healthy; then
  note "already up"
  exit 0
fi

# Anything left from an earlier run (crash, half start) goes first.
"$CLUSTER_DIR/down.sh"

mkdir -p "$STATE_DIR" "$RUN_DIR/logs"
LOGS="$RUN_DIR/logs"

# A start that fails is torn down again (nothing half-running stays), keeping the logs.
on_exit() {
  local rc=$?
  [ "$rc" = 0 ] && return 0
  rm -rf "$CACHE_ROOT/failed-up-logs"
  cp -r "$LOGS" "$CACHE_ROOT/failed-up-logs" 2>/dev/null || true
  "$CLUSTER_DIR/down.sh" >/dev/null 2>&1 || true
  echo "cluster: up failed and was rolled back; component logs: $CACHE_ROOT/failed-up-logs" >&2
}
trap on_exit EXIT

# start NAME CMD...: runs CMD detached in its own session, pid in $RUN_DIR/NAME.pid.
start() {
  local name="$1"
  shift
  setsid "$@" >"$LOGS/$name.log" 2>&1 </dev/null 8>&- &
  echo $! >"$RUN_DIR/$name.pid"
}

# wait_for WHAT SECONDS CMD...: polls CMD until it succeeds; fails at once if a component died.
wait_for() {
  local what="$1" secs="$2" i f name
  shift 2
  for ((i = 0; i < secs * 5; i++)); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    for f in "$RUN_DIR"/*.pid; do
      [ -f "$f" ] || continue
      name="$(basename "$f" .pid)"
      if ! alive "$(cat "$f")"; then
        tail -5 "$LOGS/$name.log" >&2
        die "$name exited while waiting for $what (log above)"
      fi
    done
    sleep 0.2
  done
  local log
  for log in "$LOGS"/*.log; do
    echo "--- $log" >&2
    tail -5 "$log" >&2
  done
  die "timed out after ${secs}s waiting for $what (logs: $LOGS)"
}

host_setup() {
  # Fixed host paths that containerd (CNI cache, shim sockets, pod netns) and kubelet (log links,
  # device-plugin socket) use whatever their config says: down.sh removes the ones that were not
  # there before.
  local d
  : >"$STATE_DIR/created-dirs"
  for d in /var/lib/cni /var/log/containers /var/lib/kubelet /run/containerd /run/netns; do
    [ -e "$d" ] || echo "$d" >>"$STATE_DIR/created-dirs"
  done
  # Sysctls that this script or kubelet change are saved here and restored by down.sh.
  local s
  : >"$STATE_DIR/sysctl.saved"
  for s in net.ipv4.ip_forward net.bridge.bridge-nf-call-iptables vm.overcommit_memory vm.panic_on_oom \
    kernel.panic kernel.panic_on_oops kernel.keys.root_maxkeys kernel.keys.root_maxbytes; do
    echo "$s=$(sysctl -n "$s")" >>"$STATE_DIR/sysctl.saved"
  done
  sysctl -q -w net.ipv4.ip_forward=1 net.bridge.bridge-nf-call-iptables=1

  # The bridge holds the node IP; pods hang off it. Nothing in the supernet may leave the
  # machine: a blackhole route catches whatever no local rule or more specific route takes.
  ip link add "$BRIDGE" type bridge
  ip addr add "$NODE_IP/${POD_CIDR#*/}" dev "$BRIDGE"
  ip link set "$BRIDGE" up
  ip route replace blackhole "$NET_SUPERNET"
  # Whatever enters from the pods' bridge is routed with a table that knows only the pod subnet:
  # every other destination is a blackhole (addresses of this host still match the local table
  # first). So even a packet that no iptables rule stops cannot leave through eth0.
  ip route replace "$POD_CIDR" dev "$BRIDGE" src "$NODE_IP" table "$ROUTE_TABLE"
  ip route replace blackhole default table "$ROUTE_TABLE"
  ip rule add iif "$BRIDGE" lookup "$ROUTE_TABLE" priority "$ROUTE_TABLE"
  # Pods may talk to each other and to this host, never beyond it.
  iptables -w -N QVAT-FORWARD
  iptables -w -A QVAT-FORWARD -i "$BRIDGE" -o "$BRIDGE" -j ACCEPT
  iptables -w -A QVAT-FORWARD -i "$BRIDGE" -j REJECT
  iptables -w -A QVAT-FORWARD -s "$NET_SUPERNET" -j REJECT
  iptables -w -A QVAT-FORWARD -d "$NET_SUPERNET" ! -o "$BRIDGE" -j REJECT
  iptables -w -I FORWARD 1 -j QVAT-FORWARD
}

write_configs() {
  mkdir -p "$STATE_DIR/cni/net.d" "$STATE_DIR/storage" "$STATE_DIR/kubelet" "$STATE_DIR/pod-logs"
  cat >"$STATE_DIR/cni/net.d/10-qvat.conflist" <<EOF
{
  "cniVersion": "0.4.0",
  "name": "qvat",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$BRIDGE",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "ranges": [[{ "subnet": "$POD_CIDR", "gateway": "$NODE_IP" }]],
        "routes": [{ "dst": "0.0.0.0/0" }],
        "dataDir": "$STATE_DIR/cni/ipam"
      }
    },
    { "type": "portmap", "capabilities": { "portMappings": true } }
  ]
}
EOF
  cat >"$STATE_DIR/containerd.toml" <<EOF
version = 2
root = "$STATE_DIR/containerd"
state = "$RUN_DIR/containerd"
[grpc]
  address = "$RUN_DIR/containerd.sock"
[ttrpc]
  address = "$RUN_DIR/containerd-ttrpc.sock"
[plugins."io.containerd.internal.v1.opt"]
  path = "$STATE_DIR/containerd-opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  enable_selinux = false
  # This machine's root lacks CAP_SYS_RESOURCE, so runc cannot lower oom_score_adj below its own
  # (pause sandboxes ask for -998): "nsexec: failed to update /proc/self/oom_score_adj:
  # Permission denied". Clamping to containerd's own score avoids that.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "$RUN_DIR/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$STATE_DIR/cni/net.d"
    max_conf_num = 1
EOF
  # Pods never see the host's resolver: ClusterFirst pods get CoreDNS only, and "Default"
  # pods get this empty file.
  : >"$STATE_DIR/resolv.conf"
  local pki="$STATE_DIR/pki"
  cat >"$STATE_DIR/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
failCgroupV1: false
cgroupDriver: cgroupfs
containerRuntimeEndpoint: unix://$RUN_DIR/containerd.sock
address: $NODE_IP
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
authentication:
  anonymous: { enabled: false }
  webhook: { enabled: true }
  x509: { clientCAFile: $pki/ca.crt }
authorization: { mode: Webhook }
tlsCertFile: $pki/kubelet-server.crt
tlsPrivateKeyFile: $pki/kubelet-server.key
clusterDNS: [$DNS_SERVICE_IP]
clusterDomain: $CLUSTER_DOMAIN
resolvConf: $STATE_DIR/resolv.conf
podLogsDir: $STATE_DIR/pod-logs
failSwapOn: false
serializeImagePulls: false
imageGCHighThresholdPercent: 100
evictionHard: { memory.available: 100Mi, nodefs.available: 1%, imagefs.available: 1%, nodefs.inodesFree: 1% }
evictionPressureTransitionPeriod: 10s
nodeStatusUpdateFrequency: 5s
syncFrequency: 10s
fileCheckFrequency: 10s
EOF
  cat >"$STATE_DIR/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
clientConnection: { kubeconfig: $STATE_DIR/kube-proxy.kubeconfig }
hostnameOverride: $NODE_NAME
bindAddress: $NODE_IP
clusterCIDR: $POD_CIDR
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
nodePortAddresses: [$NODE_IP/32]
iptables: { localhostNodePorts: false, syncPeriod: 10s, minSyncPeriod: 0s }
conntrack: { maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s }
EOF
  cat >"$STATE_DIR/Corefile" <<EOF
.:53 {
    bind $NODE_IP
    errors
    health 127.0.0.1:18080
    ready 127.0.0.1:18181
    kubernetes $CLUSTER_DOMAIN in-addr.arpa ip6.arpa {
        kubeconfig $STATE_DIR/coredns.kubeconfig quorumvat
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
    }
    cache 5
    loadbalance
}
EOF
}

start_etcd() {
  start etcd /usr/bin/etcd --name default --data-dir "$STATE_DIR/etcd" \
    --listen-client-urls http://127.0.0.1:12379 --advertise-client-urls http://127.0.0.1:12379 \
    --listen-peer-urls http://127.0.0.1:12380 --initial-advertise-peer-urls http://127.0.0.1:12380 \
    --initial-cluster default=http://127.0.0.1:12380 \
    --snapshot-count 10000 --quota-backend-bytes 2147483648
}

etcd_healthy() { curl -sf http://127.0.0.1:12379/health | grep -q '"health":"true"'; }

start_containerd() {
  # No registry is reachable and none may be contacted: any pull goes to a dead local proxy and
  # fails at once (images are imported below; pods should use imagePullPolicy Never/IfNotPresent).
  start containerd env HTTP_PROXY=http://127.0.0.1:9 HTTPS_PROXY=http://127.0.0.1:9 NO_PROXY= \
    /usr/bin/containerd --config "$STATE_DIR/containerd.toml"
  wait_for containerd 30 ctr --address "$RUN_DIR/containerd.sock" version
  local img
  for img in pause node; do
    ctr --address "$RUN_DIR/containerd.sock" -n k8s.io images import --no-unpack=false \
      "$IMAGES_CACHE/$img.tar" >"$LOGS/import-$img.log" 2>&1 ||
      die "importing $img image into containerd failed (log: $LOGS/import-$img.log)"
  done
}

start_control_plane() {
  local pki="$STATE_DIR/pki"
  wait_for etcd 30 etcd_healthy
  start kube-apiserver "$BIN/kube-apiserver" \
    --etcd-servers=http://127.0.0.1:12379 \
    --bind-address="$NODE_IP" --advertise-address="$NODE_IP" --secure-port=6443 \
    --authorization-mode=Node,RBAC --anonymous-auth=false \
    --client-ca-file="$pki/ca.crt" --tls-cert-file="$pki/apiserver.crt" --tls-private-key-file="$pki/apiserver.key" \
    --kubelet-client-certificate="$pki/apiserver-kubelet-client.crt" \
    --kubelet-client-key="$pki/apiserver-kubelet-client.key" \
    --kubelet-certificate-authority="$pki/ca.crt" \
    --kubelet-preferred-address-types=InternalIP \
    --requestheader-client-ca-file="$pki/ca.crt" --requestheader-allowed-names=front-proxy-client \
    --requestheader-username-headers=X-Remote-User --requestheader-group-headers=X-Remote-Group \
    --requestheader-extra-headers-prefix=X-Remote-Extra- \
    --proxy-client-cert-file="$pki/front-proxy-client.crt" --proxy-client-key-file="$pki/front-proxy-client.key" \
    --service-account-issuer="https://kubernetes.default.svc.$CLUSTER_DOMAIN" \
    --service-account-key-file="$pki/sa.pub" --service-account-signing-key-file="$pki/sa.key" \
    --service-cluster-ip-range="$SERVICE_CIDR" --service-node-port-range=30000-32767 \
    --enable-admission-plugins=NodeRestriction --allow-privileged=true \
    --profiling=false --event-ttl=10m
  wait_for kube-apiserver 90 kc get --raw /readyz
  start kube-controller-manager "$BIN/kube-controller-manager" \
    --kubeconfig="$STATE_DIR/controller-manager.kubeconfig" \
    --authentication-kubeconfig="$STATE_DIR/controller-manager.kubeconfig" \
    --authorization-kubeconfig="$STATE_DIR/controller-manager.kubeconfig" \
    --bind-address=127.0.0.1 --leader-elect=false --use-service-account-credentials=true \
    --cluster-signing-cert-file="$pki/ca.crt" --cluster-signing-key-file="$pki/ca.key" \
    --root-ca-file="$pki/ca.crt" --service-account-private-key-file="$pki/sa.key" \
    --service-cluster-ip-range="$SERVICE_CIDR" --cluster-cidr="$POD_CIDR" --allocate-node-cidrs=false \
    --profiling=false
  start kube-scheduler "$BIN/kube-scheduler" \
    --kubeconfig="$STATE_DIR/scheduler.kubeconfig" \
    --authentication-kubeconfig="$STATE_DIR/scheduler.kubeconfig" \
    --authorization-kubeconfig="$STATE_DIR/scheduler.kubeconfig" \
    --bind-address=127.0.0.1 --leader-elect=false --profiling=false
}

start_node() {
  start kubelet "$BIN/kubelet" --config="$STATE_DIR/kubelet.yaml" \
    --kubeconfig="$STATE_DIR/kubelet.kubeconfig" --root-dir="$STATE_DIR/kubelet" \
    --node-ip="$NODE_IP" --hostname-override="$NODE_NAME"
  start kube-proxy "$BIN/kube-proxy" --config="$STATE_DIR/kube-proxy.yaml"
  start coredns "$COREDNS_CACHE/bin/coredns" -conf "$STATE_DIR/Corefile"
  start local-path "$(command -v node)" "$CLUSTER_DIR/local-path-provisioner.ts" \
    --kubeconfig "$STATE_DIR/local-path.kubeconfig" --dir "$STATE_DIR/storage"
}

addons() {
  sed -e "s#@DNS_SERVICE_IP@#$DNS_SERVICE_IP#g" -e "s#@NODE_IP@#$NODE_IP#g" "$CLUSTER_DIR/addons.yaml" |
    kc apply -f - >"$LOGS/addons.log" 2>&1 || die "applying addons failed (log: $LOGS/addons.log)"
}

node_ready() {
  [ "$(kc get node "$NODE_NAME" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}')" = True ]
}

phase up:host host_setup
phase up:pki "$CLUSTER_DIR/pki.sh"
write_configs
start_etcd
# containerd and its image imports run alongside the control plane's start.
start_containerd &
containerd_job=$!
phase up:control-plane start_control_plane
wait "$containerd_job" || die "containerd did not start (logs: $LOGS)"
phase up:node start_node
phase up:addons addons
phase up:node-ready wait_for "node $NODE_NAME Ready" 120 node_ready
wait_for coredns 30 curl -sf http://127.0.0.1:18181/ready
# Pods can be created only once the controller-manager has made the namespace's service account.
wait_for "service account default/default" 60 kc -n default get serviceaccount default
touch "$RUN_DIR/up.done"
note "up; KUBECONFIG=$KUBECONFIG_PATH"
