#!/usr/bin/env bash
# Installs the Debian packages revspike needs (FPGA flow, simulators, dataset,
# numpy for the torch-free Python checks).
# Idempotent and fast when everything is present: apt-get runs only for
# missing packages, and `apt-get update` only when something must be installed.
set -euo pipefail

PACKAGES=(verilator yosys nextpnr-ice40 fpga-icestorm dataset-fashion-mnist iverilog python3-numpy)

missing=()
for p in "${PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done

if [ "${#missing[@]}" -eq 0 ]; then
    echo "setup: all packages present (${PACKAGES[*]})"
    exit 0
fi

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
    SUDO=(sudo)
fi
echo "setup: installing ${missing[*]}"
"${SUDO[@]}" apt-get update -qq
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
