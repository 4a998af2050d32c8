#!/usr/bin/env bash
# Installs what the end-to-end test and the demo need, only where missing: Debian packages (Chromium for
# the test; native-module build headers for code-server) and test/e2e's own npm packages (code-server 4.100.3,
# playwright-core). Usage: setup.sh [--server-only]   (--server-only: the demo, which needs no browser)
set -euo pipefail
cd "$(dirname "$0")"

server_only=0
[[ "${1:-}" == "--server-only" ]] && server_only=1

need=()
for pkg in ripgrep libkrb5-dev libxkbfile-dev libsecret-1-dev pkg-config; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [[ $server_only == 0 ]]; then
  dpkg -s chromium >/dev/null 2>&1 || need+=(chromium)
fi
if (( ${#need[@]} )); then
  echo "e2e setup: apt-get install ${need[*]}"
  if [[ $(id -u) != 0 ]]; then sudo=sudo; else sudo=; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# code-server's install builds native modules; the stamp records which lock file the install came from.
stamp=node_modules/.vgpu-installed
if [[ ! -f $stamp ]] || ! cmp -s package-lock.json "$stamp"; then
  # @vscode/ripgrep downloads a binary unless its cache already holds the archive: give it Debian's rg.
  cache=/tmp/vscode-ripgrep-cache-1.15.11
  archive=$cache/ripgrep-v13.0.0-10-x86_64-unknown-linux-musl.tar.gz
  if [[ ! -f $archive ]]; then
    mkdir -p "$cache"
    tar czf "$archive" -C "$(dirname "$(command -v rg)")" rg
  fi
  echo "e2e setup: npm ci in test/e2e (code-server, playwright-core; 1-3 minutes)"
  npm_config_unsafe_perm=true npm_config_yes=true npm ci --no-audit --no-fund --loglevel=error
  cp package-lock.json "$stamp"
fi
