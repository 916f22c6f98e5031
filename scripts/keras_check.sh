#!/usr/bin/env bash
# Checks our ConvLSTM2D baseline cell against Keras 3's ConvLSTM2D (JAX CPU
# backend) on the same weights and inputs, in float32 and float64 (tolerance
# 1e-5 both: Keras/JAX's float64 ConvLSTM2D itself agrees with a float64
# reference only to ~1e-7), and against a NumPy float64 implementation of the
# MODEL.md equations (tolerance 1e-5 in float32, 1e-12 in float64).
# Creates the venv .venv-keras on first use.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=.venv-keras
if ! KERAS_BACKEND=jax "$venv/bin/python" -c "import keras, jax" 2>/dev/null; then
    echo "keras_check: installing Keras 3 and jax[cpu] into $venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q "keras>=3" "jax[cpu]" numpy
fi

bin="${FACONVLSTM_BIN:-$(pwd)/.build/release/faconvlstm}"
[ -x "$bin" ] || bash scripts/setup.sh

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
status=0
for dtype in float32 float64; do
    d="$work/$dtype"
    mkdir -p "$d"
    cat > "$d/config.json" <<JSON
{"dtype": "$dtype", "seed": 5,
 "model": {"cell": "convlstm", "objective": "reconstruct", "channels": 3, "layers": 1, "hidden": 8, "kernel": 3,
           "embed_dim": 4},
 "batch": {"samples": 2, "steps": 6, "height": 9, "width": 7}}
JSON
    "$bin" debug-state --dir "$d" --generate > /dev/null
    np_tol=1e-5; [ "$dtype" = float64 ] && np_tol=1e-12
    KERAS_BACKEND=jax "$venv/bin/python" scripts/peers/keras_convlstm.py "$d" 1e-5 "$np_tol" || status=1
done
exit $status
