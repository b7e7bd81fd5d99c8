#!/usr/bin/env bash
# Generates the cluster's CA, certificates (ECDSA P-256, fast to make) and kubeconfigs with
# openssl into $STATE_DIR/pki. Called by up.sh; safe to re-run (keeps what exists).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
NODE_NAME="${NODE_NAME:-quorumvat-node}"
pki="$STATE_DIR/pki"
mkdir -p "$pki"
chmod 700 "$pki"
cd "$pki"

key() { [ -f "$1.key" ] || openssl ecparam -name prime256v1 -genkey -noout -out "$1.key" 2>/dev/null; }

if [ ! -f ca.crt ]; then
  key ca
  openssl req -x509 -new -key ca.key -sha256 -days 3650 -subj "/CN=quorumvat-test-cluster-ca" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" \
    -out ca.crt 2>/dev/null
fi

# cert NAME SUBJECT USAGE [SAN]
cert() {
  local name="$1" subj="$2" usage="$3" san="${4:-}"
  [ -f "$name.crt" ] && return 0
  key "$name"
  local ext="$name.ext"
  {
    echo "basicConstraints=CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    echo "extendedKeyUsage=$usage"
    [ -n "$san" ] && echo "subjectAltName=$san"
  } >"$ext"
  openssl req -new -key "$name.key" -subj "$subj" -out "$name.csr" 2>/dev/null
  openssl x509 -req -in "$name.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 -sha256 \
    -extfile "$ext" -out "$name.crt" 2>/dev/null
  rm -f "$name.csr" "$ext"
}

cert apiserver "/CN=kube-apiserver" serverAuth \
  "DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.$CLUSTER_DOMAIN,DNS:localhost,IP:$NODE_IP,IP:$API_SERVICE_IP,IP:127.0.0.1"
cert apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client" clientAuth
cert kubelet-server "/CN=$NODE_NAME" serverAuth "DNS:$NODE_NAME,IP:$NODE_IP"
cert front-proxy-client "/CN=front-proxy-client" clientAuth
cert admin "/O=system:masters/CN=quorumvat-admin" clientAuth
cert controller-manager "/CN=system:kube-controller-manager" clientAuth
cert scheduler "/CN=system:kube-scheduler" clientAuth
cert kubelet "/O=system:nodes/CN=system:node:$NODE_NAME" clientAuth
cert kube-proxy "/CN=system:kube-proxy" clientAuth
cert coredns "/CN=quorumvat:coredns" clientAuth
cert local-path "/CN=quorumvat:local-path-provisioner" clientAuth
if [ ! -f sa.key ]; then
  key sa
  openssl ec -in sa.key -pubout -out sa.pub 2>/dev/null
fi

# kubeconfig FILE CERT
kubeconfig() {
  local file="$1" c="$2"
  [ -f "$file" ] && return 0
  cat >"$file.tmp" <<KC
apiVersion: v1
kind: Config
clusters:
- name: quorumvat
  cluster:
    server: https://$NODE_IP:6443
    certificate-authority-data: $(base64 -w0 ca.crt)
users:
- name: $c
  user:
    client-certificate-data: $(base64 -w0 "$c.crt")
    client-key-data: $(base64 -w0 "$c.key")
contexts:
- name: quorumvat
  context:
    cluster: quorumvat
    user: $c
current-context: quorumvat
KC
  chmod 600 "$file.tmp"
  mv "$file.tmp" "$file"
}
for c in controller-manager scheduler kubelet kube-proxy coredns local-path; do
  kubeconfig "$STATE_DIR/$c.kubeconfig" "$c"
done
kubeconfig "$KUBECONFIG_PATH" admin
