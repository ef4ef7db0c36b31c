#!/usr/bin/env bash
# Installs the C libraries sepme links against (Debian/Ubuntu): OpenBLAS (CBLAS), LAPACKE, zlib.
set -euo pipefail
need=()
for pkg in libopenblas-dev liblapacke-dev zlib1g-dev; do
    dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
[ ${#need[@]} -eq 0 ] && exit 0
SUDO=""
[ "$(id -u)" = "0" ] || SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}"
