#!/usr/bin/env bash
# The smoke test: one command that shows faconvlstm working end to end on
# real data before anyone spends an allocation.
#
#   bash scripts/smoke.sh [--ranks 2] [--steps 300] [--config configs/storm.toml]
#
# It installs what is missing and builds the release binary (scripts/setup.sh),
# then on Debian's storm set (u, v, t, p over North America, 64 six-hourly
# steps, /usr/share/ncarg/data/cdf/?storm.cdf):
#   1. trains with 2 ranks under mpirun,
#   2. interrupts itself with SIGTERM mid-run (as a batch system would),
#      which must stop every rank at the same step with a checkpoint (exit 75),
#   3. resumes from that checkpoint and finishes,
#   4. evaluates the model against the persistence and climatology baselines
#      on the held-out days,
#   5. writes the per-step embeddings and the predicted fields,
# and prints a verdict with the numbers and where the outputs are.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
ranks=2
steps=300
config=configs/storm.toml
while [ $# -gt 0 ]; do
    case $1 in
        --ranks) ranks=$2; shift 2 ;;
        --steps) steps=$2; shift 2 ;;
        --config) config=$2; shift 2 ;;
        *) echo "usage: bash scripts/smoke.sh [--ranks N] [--steps S] [--config FILE]" >&2; exit 2 ;;
    esac
done

t0=$(date +%s)
bash scripts/setup.sh
BIN=$root/.build/release/faconvlstm
t_build=$(date +%s)

export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1   # containers run as root
export HDF5_USE_FILE_LOCKING=FALSE
run=$root/runs/smoke-$(date +%Y%m%d-%H%M%S)
mkdir -p "$run"
log=$run/smoke.log
say() { echo "smoke: $*" | tee -a "$log"; }
mpi() { mpirun --oversubscribe -np "$ranks" -x OPENBLAS_NUM_THREADS=1 -x HDF5_USE_FILE_LOCKING "$BIN" "$@"; }
overrides=(--set "run_dir=\"$run\"" --set "train.steps=$steps" --set "train.log_every=10")

say "run directory $run"
"$BIN" train --config "$config" "${overrides[@]}" --dry-run --ranks "$ranks" 2>&1 | tee -a "$log" | sed 's/^/  /'

# 1-2. Train, and interrupt with SIGTERM to the ranks once ~40% of the steps are done.
say "training on $ranks ranks, will send SIGTERM mid-run"
mpi train --config "$config" "${overrides[@]}" > "$run/train-1.log" 2>&1 &
job=$!
stop_at=$((steps * 2 / 5))
while kill -0 "$job" 2>/dev/null; do
    reached=$(tail -n 1 "$run/metrics.jsonl" 2>/dev/null | sed -n 's/^{"step":\([0-9]*\).*/\1/p' || true)
    if [ -n "$reached" ] && [ "$reached" -ge "$stop_at" ]; then
        # To the ranks themselves, as a batch system does ($job is the
        # subshell running mpirun; the ranks are mpirun's children).
        for launcher in $(pgrep -P "$job" -x mpirun) "$job"; do
            pkill -TERM -P "$launcher" -x faconvlstm || true
        done
        break
    fi
    sleep 0.2
done
status=0; wait "$job" || status=$?
stopped_step=$(grep -o 'stopped after step [0-9]*' "$run/train-1.log" | grep -o '[0-9]*$' || true)
if [ "$status" -ne 75 ]; then
    tail -20 "$run/train-1.log"
    say "FAILED: the interrupted run exited $status (expected 75 = stopped with a checkpoint)"
    exit 1
fi
say "interrupted: every rank stopped after step $stopped_step, checkpoint $(cat "$run/checkpoints/latest"), exit 75"

# 3. Resume and finish.
say "resuming"
mpi train --config "$config" "${overrides[@]}" > "$run/train-2.log" 2>&1 || {
    tail -20 "$run/train-2.log"; say "FAILED: the resumed run did not finish"; exit 1; }
resumed_from=$(grep -o 'resuming from [^ ]*' "$run/train-2.log" | head -1 | sed 's/resuming from //')
final=$(cat "$run/checkpoints/latest")
say "resumed from $(basename "$resumed_from"), finished: $final"
t_train=$(date +%s)

# 4-5. Evaluate, embed, predict on the held-out days.
ckpt=$run/checkpoints/$final
valid=$(sed -n 's/^validation_range = \[\(.*\)\]/\1/p' "$config" | tr -d '"' | tr ',' ' ')
mpi evaluate --checkpoint "$ckpt" --config "$config" --set "run_dir=\"$run\"" --time-range $valid --json "$run/evaluate.json" \
    > "$run/evaluate.txt" 2>&1 || { cat "$run/evaluate.txt"; say "FAILED: evaluate"; exit 1; }
mpi embed --checkpoint "$ckpt" --config "$config" --set "run_dir=\"$run\"" --output "$run/embeddings.nc" \
    > "$run/embed.log" 2>&1 || { cat "$run/embed.log"; say "FAILED: embed"; exit 1; }
mpi predict --checkpoint "$ckpt" --config "$config" --set "run_dir=\"$run\"" --time-range $valid --output "$run/predictions.nc" \
    > "$run/predict.log" 2>&1 || { cat "$run/predict.log"; say "FAILED: predict"; exit 1; }
t_end=$(date +%s)

cat "$run/evaluate.txt" | tee -a "$log"
verdict=$(python3 - "$run/evaluate.json" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
objective = r.get("objective", "reconstruct")
baseline = "persistence" if objective == "forecast" else "climatology"
beat, lines = 0, []
for name, v in r["variables"].items():
    m, b = v["rmse"], v[baseline + "_rmse"]
    ok = m < b
    beat += ok
    lines.append(f"  {name:>6}: RMSE {m:.4g} vs {baseline} {b:.4g} ({100 * (m / b - 1):+.0f}%)  {'beats it' if ok else 'does NOT beat it'}")
n = len(r["variables"])
print(f"{objective}: {beat} of {n} variables beat the {baseline} baseline")
print("\n".join(lines))
sys.exit(0 if beat == n else 3)
EOF
) && ok=1 || ok=0

echo | tee -a "$log"
say "verdict"
echo "$verdict" | tee -a "$log"
say "times: setup+build $((t_build - t0)) s, training (2 runs) $((t_train - t_build)) s, outputs $((t_end - t_train)) s, total $((t_end - t0)) s"
say "outputs in $run:"
say "  checkpoints/$final (faconvlstm inspect it), metrics.jsonl (loss and validation curves),"
say "  evaluate.json, embeddings.nc, predictions.nc, train-1.log (interrupted), train-2.log (resumed)"
if [ "$ok" -eq 1 ]; then say "PASSED: interrupted, resumed, finished, and beat the baselines"; else say "FAILED: the model did not beat the baseline on every variable"; exit 1; fi
