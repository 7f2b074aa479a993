#!/usr/bin/env bash
# The XML-RPC servers and Lua interpreters of the integration tests that come from Debian packages,
# pinned to the versions of Debian bookworm; nothing is done when they are
# already there. Needs root (CI runs as root) and apt-get.
set -euo pipefail

# package=version: what the tests run, and the versions they were written against.
PACKAGES=(
  librpc-xml-perl=0.82-1   # Perl RPC::XML::Server: test/peers/perl_rpc_xml_server.pl
  lua5.4=5.4.4-3+deb12u1   # the Argo CD health scripts of deploy/argocd/ ...
  lua5.1=5.1.5-9           # ... and Lua 5.1, the language Argo CD's gopher-lua speaks
)

missing=()
for pinned in "${PACKAGES[@]}"; do
  package=${pinned%%=*}
  installed=$(dpkg-query -W -f='${Status} ${Version}' "$package" 2>/dev/null || true)
  if [[ $installed == "install ok installed ${pinned#*=}" ]]; then
    echo "$package ${pinned#*=}: installed"
  else
    missing+=("$pinned")
  fi
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

command -v apt-get >/dev/null 2>&1 || { echo "installing ${missing[*]} needs apt-get (Debian bookworm)" >&2; exit 1; }
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
for pinned in "${missing[@]}"; do echo "${pinned%%=*} ${pinned#*=}: installed now"; done
