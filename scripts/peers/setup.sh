#!/usr/bin/env bash
# Creates the PyTorch peer's virtual environment at .venv-peer/ (idempotent).
# Torch comes from PyTorch's CPU-only wheel index when it is reachable (about
# 200 MB instead of several GB of CUDA libraries), else from plain PyPI.
set -euo pipefail
cd "$(dirname "$0")/../.."

venv=.venv-peer
py="$venv/bin/python"
[ -x "$py" ] || python3 -m venv "$venv"

if ! "$py" -c "import torch" 2>/dev/null; then
    echo "setup-peer: installing torch"
    "$py" -m pip install -q --upgrade pip
    if ! "$py" -m pip install -q --retries 0 --timeout 20 torch --index-url https://download.pytorch.org/whl/cpu; then
        echo "setup-peer: CPU wheel index unreachable, falling back to PyPI"
        "$py" -m pip install -q torch
    fi
fi
for mod in numpy netCDF4 xarray pytest; do
    "$py" -c "import $mod" 2>/dev/null || need_pip=1
done
if [ "${need_pip:-0}" = 1 ]; then
    echo "setup-peer: installing numpy netCDF4 xarray pytest"
    "$py" -m pip install -q numpy netCDF4 xarray pytest
fi
echo "setup-peer: ok: $("$py" -c 'import torch; print("torch", torch.__version__)')"
