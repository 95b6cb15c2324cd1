#!/usr/bin/env bash
# Installs the peers bench/compare measures edgegw against (Debian packages), plus perf.
# Not part of scripts/install-deps.sh: CI does not run the side-by-side benchmark.
set -euo pipefail
pkgs=(haproxy nginx stunnel4 linux-perf)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0
sudo=()
[[ $(id -u) -ne 0 ]] && sudo=(sudo)
"${sudo[@]}" apt-get update -qq
# The packaged services must not start on install (policy-rc.d would be the Debian way;
# the benchmark starts its own instances on loopback).
DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
