#!/usr/bin/env bash
# Builds the binaries the integration tests need, from the Go module proxy at
# pinned versions, into a cache shared by every clone on the machine: etcd and
# kube-apiserver (the control plane), kustomize (renders deploy/), kubectl
# (at the control plane's version: the tests run `kubectl wait` and `kubectl
# get` as a user would) and kstatus (test/tools/kstatus: the health verdict of
# sigs.k8s.io/cli-utils, which Flux uses).
#
#   build-binaries.sh            builds the control plane and kustomize (what
#                                `npm test` and `npm run local` start from); the
#                                last stdout line is the directory holding
#                                kube-apiserver and etcd
#   build-binaries.sh all        the same, plus kubectl and kstatus (CI builds
#                                everything up front)
#   build-binaries.sh NAME       NAME is kustomize, kubectl or kstatus: builds
#                                that one only; the last stdout line is its path
#                                (the tests ask for each as they need it)
#
# KUBEBUILDER_ASSETS, when it names a directory with both control-plane
# binaries, wins for those; KUSTOMIZE, KUBECTL and KSTATUS, when they name an
# executable, win for theirs. Otherwise a cached build is used, and never
# rebuilt (kstatus is cached by its cli-utils version and a hash of its source).
set -euo pipefail

K8S_VERSION=v1.35.4
ETCD_VERSION=v3.6.16
# v5.8.1: the newest kustomize whose go.mod accepts Go 1.25 (v5.8.2 wants 1.26, v5.8.3 1.27).
KUSTOMIZE_VERSION=v5.8.1
# The kstatus helper's module pins sigs.k8s.io/cli-utils (v0.37.2: its go.mod
# accepts Go 1.22) and every dependency, in its go.mod and go.sum.
KSTATUS_SOURCE="$(cd "$(dirname "${BASH_SOURCE[0]}")/../tools/kstatus" && pwd)"

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

# Runs "$@" holding an exclusive lock on $1.lock, so that test files asking for
# the same binary at once build it once (the others wait, then find it).
locked() {
  local lock="$1.lock"; shift
  mkdir -p "$(dirname "$lock")"
  if command -v flock >/dev/null 2>&1; then
    (flock 9 && "$@") 9>"$lock"
  else
    "$@"
  fi
}

# Sets $kubectl to a usable kubectl binary, building it on first use.
ensure_kubectl() {
  if [[ -n "${KUBECTL:-}" && -x "$KUBECTL" ]]; then
    kubectl=$KUBECTL
    return
  fi
  kubectl="$cache_root/kubectl/$K8S_VERSION/kubectl"
  [[ -x "$kubectl" ]] || locked "$kubectl" build_kubectl "$kubectl"
}

build_kubectl() {
  local out=$1
  [[ -x "$out" ]] && return
  log "building kubectl $K8S_VERSION (once per machine; a few minutes)"
  local start=$SECONDS work; work=$(mktemp -d)
  # kubectl's main lives in k8s.io/kubernetes; the published k8s.io/kubectl
  # module holds the command it runs, so build the same few lines over it.
  printf 'module event-xmlrpc-operator.local/kubectl\n\ngo 1.25.0\n\nrequire (\n\tk8s.io/kubectl v0.%s\n\tk8s.io/component-base v0.%s\n\tk8s.io/client-go v0.%s\n)\n' \
    "${K8S_VERSION#v1.}" "${K8S_VERSION#v1.}" "${K8S_VERSION#v1.}" > "$work/go.mod"
  cat > "$work/main.go" <<'GO'
package main

import (
	"os"

	_ "k8s.io/client-go/plugin/pkg/client/auth"
	"k8s.io/component-base/cli"
	"k8s.io/component-base/logs"
	"k8s.io/kubectl/pkg/cmd"
	"k8s.io/kubectl/pkg/cmd/util"
)

func main() {
	logs.GlogSetter(cmd.GetLogVerbosity(os.Args)) // nolint:errcheck
	command := cmd.NewDefaultKubectlCommand()
	if err := cli.RunNoErrOutput(command); err != nil {
		util.CheckErr(err)
	}
}
GO
  local minor; minor=$(echo "$K8S_VERSION" | cut -d. -f2)
  local version_flags="" pkg
  for pkg in k8s.io/client-go/pkg/version k8s.io/component-base/version; do
    version_flags+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
  done
  mkdir -p "$(dirname "$out")"
  (cd "$work" && go build -trimpath -ldflags "-s -w$version_flags" -o "$out.$$.partial" . >&2) || { rm -rf "$work"; return 1; }
  rm -rf "$work"
  mv "$out.$$.partial" "$out"
  log "kubectl built in $((SECONDS - start))s"
}

# Sets $kstatus to a usable kstatus helper, building it on first use.
ensure_kstatus() {
  if [[ -n "${KSTATUS:-}" && -x "$KSTATUS" ]]; then
    kstatus=$KSTATUS
    return
  fi
  local version hash
  version=$(awk '$1 == "sigs.k8s.io/cli-utils" { print $2 }' "$KSTATUS_SOURCE/go.mod")
  hash=$(cat "$KSTATUS_SOURCE/go.mod" "$KSTATUS_SOURCE/go.sum" "$KSTATUS_SOURCE"/*.go | sha256sum | cut -c1-12)
  kstatus="$cache_root/kstatus/cli-utils-$version-$hash/kstatus"
  [[ -x "$kstatus" ]] || locked "$kstatus" build_kstatus "$kstatus" "$version"
}

build_kstatus() {
  local out=$1 version=$2
  [[ -x "$out" ]] && return
  log "building kstatus (sigs.k8s.io/cli-utils $version; once per machine)"
  local start=$SECONDS
  mkdir -p "$(dirname "$out")"
  # -mod=readonly: the committed go.mod and go.sum are the whole truth.
  (cd "$KSTATUS_SOURCE" && go build -mod=readonly -trimpath -ldflags "-s -w" -o "$out.$$.partial" . >&2)
  mv "$out.$$.partial" "$out"
  log "kstatus built in $((SECONDS - start))s"
}

case "${1:-}" in
  kustomize) ensure_kustomize; echo "$kustomize"; exit 0 ;;
  kubectl) ensure_kubectl; echo "$kubectl"; exit 0 ;;
  kstatus) ensure_kstatus; echo "$kstatus"; exit 0 ;;
  all) ensure_kstatus; ensure_kubectl ;;
  "") ;;
  *) echo "usage: $0 [all|kustomize|kubectl|kstatus]" >&2; exit 2 ;;
esac
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
