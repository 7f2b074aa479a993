#!/usr/bin/env bash
# Builds the binaries the integration tests need, from the Go module proxy at
# pinned versions, into a cache shared by every clone on the machine: etcd and
# kube-apiserver (the control plane) and kustomize (renders deploy/).
#
#   build-binaries.sh            builds all three; the last stdout line is the
#                                directory holding kube-apiserver and etcd
#   build-binaries.sh kustomize  builds kustomize only; the last stdout line is
#                                the path of the kustomize binary
#
# KUBEBUILDER_ASSETS, when it names a directory with both control-plane
# binaries, wins for those; KUSTOMIZE, when it names an executable, wins for
# kustomize. Otherwise a cached build is used, and never rebuilt.
set -euo pipefail

K8S_VERSION=v1.35.4
ETCD_VERSION=v3.6.16
# v5.8.1: the newest kustomize whose go.mod accepts Go 1.25 (v5.8.2 wants 1.26, v5.8.3 1.27).
KUSTOMIZE_VERSION=v5.8.1

log() { echo "[control-plane] $*" >&2; }

cache_root="${EVENT_XMLRPC_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/event-xmlrpc-operator}"

export GOTOOLCHAIN="${GOTOOLCHAIN:-local}" GOFLAGS="-mod=mod" CGO_ENABLED=0

# Sets $kustomize to a usable kustomize binary, building it on first use.
ensure_kustomize() {
  if [[ -n "${KUSTOMIZE:-}" && -x "$KUSTOMIZE" ]]; then
    kustomize=$KUSTOMIZE
    return
  fi
  local kdir="$cache_root/kustomize/$KUSTOMIZE_VERSION"
  kustomize="$kdir/kustomize"
  [[ -x "$kustomize" ]] && return
  mkdir -p "$kdir"
  log "building kustomize $KUSTOMIZE_VERSION (once per machine)"
  local start=$SECONDS work; work=$(mktemp -d)
  printf 'module event-xmlrpc-operator.local/kustomize\n\ngo 1.25.0\n\nrequire sigs.k8s.io/kustomize/kustomize/v5 %s\n' "$KUSTOMIZE_VERSION" > "$work/go.mod"
  (cd "$work" && go build -trimpath -ldflags "-s -w" -o "$kustomize.$$.partial" sigs.k8s.io/kustomize/kustomize/v5 >&2) || { rm -rf "$work"; return 1; }
  rm -rf "$work"
  mv "$kustomize.$$.partial" "$kustomize"
  log "kustomize built in $((SECONDS - start))s"
}

if [[ "${1:-}" == kustomize ]]; then
  ensure_kustomize
  echo "$kustomize"
  exit 0
fi
ensure_kustomize

if [[ -n "${KUBEBUILDER_ASSETS:-}" && -x "$KUBEBUILDER_ASSETS/kube-apiserver" && -x "$KUBEBUILDER_ASSETS/etcd" ]]; then
  log "using KUBEBUILDER_ASSETS=$KUBEBUILDER_ASSETS"
  echo "$KUBEBUILDER_ASSETS"
  exit 0
fi

dir="$cache_root/control-plane/kubernetes-$K8S_VERSION-etcd-$ETCD_VERSION"
mkdir -p "$dir"

build_kube_apiserver() {
  local work; work=$(mktemp -d)
  trap 'rm -rf "$work"' RETURN
  # k8s.io/kubernetes points each staging module at ./staging/src/...; outside
  # its repository those replaces are void, so swap each for the published
  # v0.<minor>.<patch> that the release tagged alongside it.
  local gomod staging
  gomod=$(cd "$work" && go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/^\s*"GoMod": "\(.*\)",$/\1/p')
  staging=$(grep -oE '^\s*k8s\.io/[a-z0-9-]+ => \./staging/' "$gomod" | awk '{print $1}' | sort -u)
  {
    echo "module event-xmlrpc-operator.local/kube-apiserver"
    echo
    echo "go 1.25.0"
    echo
    echo "require k8s.io/kubernetes $K8S_VERSION"
    echo
    for m in $staging; do echo "replace $m => $m v0.${K8S_VERSION#v1.}"; done
  } > "$work/go.mod"
  (cd "$work" && go build -trimpath \
    -ldflags "-s -w -X k8s.io/component-base/version.gitVersion=$K8S_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$(echo "$K8S_VERSION" | cut -d. -f2)" \
    -o "$dir/kube-apiserver.partial" k8s.io/kubernetes/cmd/kube-apiserver)
  mv "$dir/kube-apiserver.partial" "$dir/kube-apiserver"
}

build_etcd() {
  local work; work=$(mktemp -d)
  trap 'rm -rf "$work"' RETURN
  printf 'module event-xmlrpc-operator.local/etcd\n\ngo 1.25.0\n\nrequire go.etcd.io/etcd/server/v3 %s\n' "$ETCD_VERSION" > "$work/go.mod"
  # The etcd server's main package lives in the etcd/v3 root module; the server
  # module's embed package is what it wraps, so build a two-line main over it.
  cat > "$work/main.go" <<'GO'
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
  (cd "$work" && go build -trimpath -ldflags "-s -w" -o "$dir/etcd.partial" .)
  mv "$dir/etcd.partial" "$dir/etcd"
}

start=$SECONDS
if [[ ! -x "$dir/etcd" ]]; then
  log "building etcd $ETCD_VERSION (once per machine)"
  build_etcd
  log "etcd built in $((SECONDS - start))s"
fi
start=$SECONDS
if [[ ! -x "$dir/kube-apiserver" ]]; then
  log "building kube-apiserver $K8S_VERSION (once per machine; several minutes)"
  build_kube_apiserver
  log "kube-apiserver built in $((SECONDS - start))s"
fi
echo "$dir"
