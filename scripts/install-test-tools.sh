#!/usr/bin/env bash
# Installs what the test suite needs beyond the build's libraries:
# - Slurm (slurm-wlm) and MUNGE from Debian/Ubuntu, for the test that runs a plan as a real Slurm
#   array job on this machine (SlurmArrayTests starts and stops the daemons itself, as root);
# - kubernetes-validate from PyPI, in .build/test-tools, for the check of `sepme cluster k8s`'s
#   manifest against the Kubernetes Job schema (it carries the schemas: no cluster or network needed).
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
for pkg in slurm-wlm munge; do
    dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
    SUDO=""
    [ "$(id -u)" = "0" ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
tools=.build/test-tools
if [ ! -x "$tools/bin/kubernetes-validate" ]; then
    python3 -m venv "$tools"
    "$tools/bin/pip" install -q --disable-pip-version-check kubernetes-validate==1.37.0
fi
