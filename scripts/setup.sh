#!/usr/bin/env bash
# Installs what faconvlstm needs from Debian (idempotent) and builds the
# release binary at .build/release/faconvlstm.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(libopenmpi-dev openmpi-bin libopenblas-dev libnetcdf-dev netcdf-bin libncarg-data pkg-config)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing ${missing[*]}"
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

command -v swift >/dev/null || { [ -x /opt/swift/usr/bin/swift ] && export PATH="/opt/swift/usr/bin:$PATH"; }
command -v swift >/dev/null || { echo "setup: swift not found (install Swift 6 and put it on PATH)" >&2; exit 1; }

echo "setup: building release binary"
log=$(mktemp)
if ! swift build -c release --product faconvlstm >"$log" 2>&1; then
    grep -E "error:" "$log" | head -40 || true
    tail -20 "$log"
    echo "setup: build FAILED (full log: $log)" >&2
    exit 1
fi
rm -f "$log"
echo "setup: ok: $(pwd)/.build/release/faconvlstm"
