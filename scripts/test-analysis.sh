#!/usr/bin/env bash
# What a scientist gets out (issue #6), end to end, read back with the tools
# scientists use: trains a small forecast model on the storm set and a small
# reconstruct model on synthetic data with 3 known regimes, runs embed (1 and
# 2 ranks), predict, evaluate (2 ranks), attention and cluster, then
# scripts/analysis_check.py opens every output with xarray and netCDF4 and
# checks dimensions, coordinates, units, calendars and values against what
# the program printed (RMSE of predict's file vs evaluate's table, cluster
# scores vs scikit-learn, ARI against the true regimes, 1 vs 2 ranks
# identical), and scripts/plots.sh draws the PNGs (kept in $PLOTS_DIR,
# default .build/analysis-plots). Run by scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${FACONVLSTM_BIN:-$(pwd)/.build/release/faconvlstm}
[ -x "$BIN" ] || bash scripts/setup.sh
PY=$(bash scripts/analysis_venv.sh)
PLOTS_DIR=${PLOTS_DIR:-$(pwd)/.build/analysis-plots}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
work=$(mktemp -d "${TMPDIR:-/tmp}/faconvlstm-analysis-XXXXXX")
[ -n "${KEEP_WORK:-}" ] || trap 'rm -rf "$work"' EXIT
start=$(date +%s)
mpi() { mpirun --oversubscribe -np "$1" -x OPENBLAS_NUM_THREADS=1 "${@:2}"; }
source scripts/lib/storm_test_config.sh

{ storm_test_config "$work/run" 120; cat <<TOML; } > "$work/storm.toml"
log_every = 5
validate_every = 10
[checkpoint]
every_steps = 0
every_minutes = 0
TOML
"$BIN" train --config "$work/storm.toml" > "$work/train.log" 2>&1
common=(--checkpoint "$work/run" --config "$work/storm.toml")
"$BIN" embed "${common[@]}" --output "$work/emb1.nc" > "$work/embed1.txt"
mpi 2 "$BIN" embed "${common[@]}" --output "$work/emb2.nc" > "$work/embed2.txt"
"$BIN" predict "${common[@]}" --output "$work/pred.nc" > "$work/predict.txt"
mpi 2 "$BIN" evaluate "${common[@]}" --json "$work/eval.json" --maps "$work/maps.nc" > "$work/evaluate.txt"
"$BIN" attention "${common[@]}" --time "1996-01-12 00:00" --layer 1 --y 16 --x 18 --output "$work/att.nc" > "$work/attention.txt"

# Three known regimes. The seasonal encoding is switched off (a period of 1e6
# days): with the calendar's 365.2425 days it drifts by ~0.6 over these 40 days,
# far more than the regimes move z, and k-means would cut the series in time.
"$BIN" synth --out "$work/regimes" --regimes 3 --times 160 --height 16 --width 16 --variables 2 --seed 3 > /dev/null
cat > "$work/regimes.toml" <<TOML
seed = 2
run_dir = "$work/rrun"
[model]
hidden = 8
layers = 1
embed_dim = 4
attn_stride = 2
objective = "reconstruct"
season_period_days = 1e6
[data]
files = ["$work/regimes/synth.nc"]
variables = ["tas", "psl"]
window = 4
[optimizer]
lr = 0.003
[train]
steps = 60
global_batch = 8
micro_batch = 4
log_every = 10
[checkpoint]
every_steps = 0
every_minutes = 0
TOML
"$BIN" train --config "$work/regimes.toml" > "$work/rtrain.log" 2>&1
rcommon=(--checkpoint "$work/rrun" --config "$work/regimes.toml")
# One-frame windows: the embedding of each step alone. With the trained 4-frame
# window the LSTM memory makes z_t lag each regime switch by 1-3 steps (reported).
"$BIN" embed "${rcommon[@]}" --set data.window=1 --output "$work/remb1.nc" > "$work/rembed1.txt"
"$BIN" embed "${rcommon[@]}" --output "$work/remb4.nc" > "$work/rembed4.txt"
"$BIN" cluster --embeddings "$work/remb1.nc" -k 3 --restarts 10 --seed 1 --output "$work/labels1.nc" > "$work/cluster1.txt"
"$BIN" cluster --embeddings "$work/remb4.nc" -k 3 --restarts 10 --seed 1 --output "$work/labels4.nc" > "$work/cluster4.txt"

rm -rf "$PLOTS_DIR"
bash scripts/plots.sh --metrics "$work/run/metrics.jsonl" --embeddings "$work/remb1.nc" --labels "$work/labels1.nc" \
    --truth "$work/regimes/synth.nc:regime" --maps "$work/maps.nc" --attention "$work/att.nc" --out "$PLOTS_DIR" > "$work/plots.txt"
"$PY" scripts/analysis_check.py "$work" "$PLOTS_DIR"
echo "test-analysis: done in $(( $(date +%s) - start ))s (plots in $PLOTS_DIR)"
