#!/usr/bin/env bash
# Installs laotie's build and test dependencies from Debian 12 packages.
# Idempotent: does nothing when everything is already installed. Needs root
# (or sudo) only when something is missing.
#   scripts/bootstrap.sh          build + test dependencies
#   scripts/bootstrap.sh bench    also the benchmark peers (nginx, redis, wrk, numpy, faiss)
#   scripts/bootstrap.sh browser  also chromium (dashboard screenshot test)
set -euo pipefail

pkgs=(build-essential cmake ninja-build pkg-config
      libmicrohttpd-dev libcjson-dev libopenblas-dev libxxhash-dev libcmocka-dev
      curl tzdata python3)
for extra in "$@"; do
  case "$extra" in
    bench) pkgs+=(wrk nginx-light redis-server python3 python3-numpy python3-scipy python3-faiss) ;;
    browser) pkgs+=(chromium) ;;
    fuzz) pkgs+=(clang libclang-rt-14-dev) ;;
    *) echo "bootstrap: unknown extra '$extra' (bench, browser, fuzz)" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "bootstrap: installing ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
