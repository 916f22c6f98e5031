#!/usr/bin/env bash
# Checkpoints written by faconvlstm open in the Python tools climate
# scientists use: netCDF4-python and xarray read every variable with the
# names and shapes MODEL.md gives (computed independently in
# scripts/check_checkpoint.py), and reject a file with a flipped bit.
# Run by scripts/test.sh; needs PyPI once to build .venv-ckpt/ (gitignored).
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${FACONVLSTM_BIN:-$(pwd)/.build/release/faconvlstm}"
[ -x "$bin" ] || { echo "test-checkpoint: no binary at $bin (run scripts/setup.sh)"; exit 1; }

venv=.venv-ckpt
if ! "$venv/bin/python" -c "import netCDF4, xarray" 2>/dev/null; then
    echo "test-checkpoint: creating $venv (netCDF4, xarray)"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check "netCDF4>=1.6" "xarray>=2023.1"
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Both cells, with and without AdamW moments, 1 to 3 layers, 1 to 5 channels.
"$bin" checkpoint-loop --dir "$tmp/a" --first-step 100 --cell faconvlstm --channels 3 --hidden 8 --layers 2 >/dev/null
"$bin" checkpoint-loop --dir "$tmp/b" --first-step 7 --cell convlstm --channels 5 --hidden 6 --layers 1 --sgd >/dev/null
"$bin" checkpoint-loop --dir "$tmp/c" --first-step 123456789 --cell faconvlstm --channels 1 --hidden 5 --layers 3 --sgd >/dev/null
"$bin" checkpoint-loop --dir "$tmp/d" --first-step 1 --cell convlstm --channels 2 --hidden 32 --layers 2 >/dev/null
"$venv/bin/python" scripts/check_checkpoint.py "$tmp"/a/ckpt-00000100.nc "$tmp"/b/ckpt-00000007.nc \
    "$tmp"/c/ckpt-123456789.nc "$tmp"/d/ckpt-00000001.nc

# A bit flipped in the middle of the file (inside the big conv weights): the read must fail.
python3 - "$tmp/d/ckpt-00000001.nc" "$tmp/flipped.nc" <<'PY'
import sys
d = bytearray(open(sys.argv[1], "rb").read())
d[len(d) // 2] ^= 0x04
open(sys.argv[2], "wb").write(d)
PY
"$venv/bin/python" scripts/check_checkpoint.py --expect-damaged "$tmp/flipped.nc"
echo "test-checkpoint: ok"
