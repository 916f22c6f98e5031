#!/usr/bin/env bash
# Kill test of checkpoint/resume (issue: preemption safety).
#
#  1. One uninterrupted 2-rank run (the reference).
#  2. The same run, sent SIGTERM at a random moment N times (default 20), each
#     time resumed with --resume auto: every interrupted run must exit 75 with
#     a valid checkpoint; the final parameters and AdamW moments must equal the
#     reference bit for bit, and the sample log must show every global sample
#     of the reference, once, in the same order.
#  3. SIGKILL of rank 0 at random moments while it checkpoints every step:
#     `latest` must always name a valid checkpoint, and resume must work.
#
#   bash scripts/kill_test.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-20}
BIN=${FACONVLSTM_BIN:-$(pwd)/.build/release/faconvlstm}
[ -x "$BIN" ] || bash scripts/setup.sh
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
work=$(mktemp -d /tmp/faconvlstm-kill.XXXXXX)
trap 'pkill -KILL -f "$work" 2>/dev/null || true; rm -rf "$work"' EXIT

cat > "$work/run.toml" <<TOML
seed = 5
[model]
hidden = 8
layers = 2
embed_dim = 4
attn_stride = 2
objective = "forecast"
[data]
files = ["/usr/share/ncarg/data/cdf/Ustorm.cdf", "/usr/share/ncarg/data/cdf/Vstorm.cdf",
         "/usr/share/ncarg/data/cdf/Tstorm.cdf", "/usr/share/ncarg/data/cdf/Pstorm.cdf"]
variables = ["u", "v", "t", "p"]
time_units = "hours since 1996-01-05 00:00"
tile_height = 12
tile_width = 12
halo = 1
window = 4
[optimizer]
lr = 0.003
[train]
steps = 3000
global_batch = 12
micro_batch = 2
sample_log = true
watchdog_seconds = 120
[checkpoint]
every_steps = 100
every_minutes = 0
TOML

train() { # run_dir, extra args...
    local dir=$1; shift
    mpirun --oversubscribe -np 2 -x OPENBLAS_NUM_THREADS=1 "$BIN" train --config "$work/run.toml" --set "run_dir=\"$dir\"" "$@"
}
ranks_of() { # background job (a subshell running mpirun) -> its ranks' pids
    local launcher
    for launcher in $(pgrep -P "$1" -x mpirun) "$1"; do pgrep -P "$launcher" -x faconvlstm || true; done
}
params_of() { # newest checkpoint of a run dir -> checksum of its data (parameters and moments)
    local ck; ck=$(ls "$1"/checkpoints/ckpt-*.nc | tail -1)
    ncdump -v $(ncdump -h "$ck" | awk '/float/ {sub(/\(.*/, "", $2); print $2}' | sort -u | paste -sd, -) "$ck" 2>/dev/null \
        | sed -n '/^data:/,$p' | md5sum | cut -d' ' -f1
}

echo "kill test: reference run"
start=$(date +%s.%N)
train "$work/ref" > "$work/ref.log" 2>&1 || { cat "$work/ref.log"; echo "kill test: reference run failed"; exit 1; }
duration=$(echo "$(date +%s.%N) - $start" | bc)
echo "kill test: reference took ${duration}s"

interrupted=0; finished=0
for i in $(seq 1 "$N"); do
    train "$work/killed" > "$work/k$i.log" 2>&1 &
    job=$!
    # A random moment once this attempt has trained a step (before that, a
    # fixed delay lands in start-up on a slow machine or after the end on a
    # fast one).
    before=$(cat "$work/killed/samples.log" 2>/dev/null | wc -l)
    for _ in $(seq 1 600); do
        [ "$(cat "$work/killed/samples.log" 2>/dev/null | wc -l)" -gt "$before" ] && break
        sleep 0.1
    done
    sleep "$(python3 -c "import random; print(random.uniform(0, 0.3))")"
    for pid in $(ranks_of $job); do kill -TERM "$pid" 2>/dev/null || true; done
    status=0; wait $job || status=$?
    case $status in
        75) interrupted=$((interrupted + 1))
            "$BIN" inspect "$(ls "$work"/killed/checkpoints/ckpt-*.nc | tail -1)" > /dev/null \
                || { echo "kill test: run $i: newest checkpoint invalid"; exit 1; } ;;
        0)  finished=1; echo "kill test: run $i finished before the signal"; break ;;
        *)  echo "kill test: run $i exited $status"; tail -20 "$work/k$i.log"; exit 1 ;;
    esac
    echo "kill test: run $i stopped at step $(grep -o 'stopped after step [0-9]*' "$work/k$i.log" | grep -o '[0-9]*$')"
done
if [ $finished -eq 0 ]; then
    train "$work/killed" > "$work/final.log" 2>&1 || { tail -20 "$work/final.log"; exit 1; }
fi
[ "$(params_of "$work/ref")" = "$(params_of "$work/killed")" ] || { echo "kill test: FAILED: final parameters differ"; exit 1; }
cmp -s "$work/ref/samples.log" "$work/killed/samples.log" || { echo "kill test: FAILED: sample sequence differs"; diff "$work/ref/samples.log" "$work/killed/samples.log" | head; exit 1; }
echo "kill test: $interrupted interrupted runs; final parameters and moments bitwise equal; samples identical ($(wc -l < "$work/ref/samples.log") steps)"

echo "kill test: SIGKILL of rank 0 while checkpointing every step"
for i in $(seq 1 5); do
    train "$work/sigkill" --set checkpoint.every_steps=1 --set checkpoint.keep_last=2 > "$work/s$i.log" 2>&1 &
    job=$!
    sleep "$(python3 -c "import random; print(random.uniform(1.0, 3.0))")"
    pid=$(ranks_of $job | sort -n | head -1)
    [ -n "$pid" ] && kill -KILL "$pid"
    wait $job || true
    latest=$(cat "$work/sigkill/checkpoints/latest" 2>/dev/null || true)
    if [ -n "$latest" ]; then
        "$BIN" inspect "$work/sigkill/checkpoints/$latest" > /dev/null || { echo "kill test: FAILED: latest ($latest) is invalid after SIGKILL $i"; exit 1; }
        echo "kill test: SIGKILL $i: latest = $latest, valid"
    fi
done
train "$work/sigkill" --set checkpoint.every_steps=1 --set checkpoint.keep_last=2 > "$work/s-final.log" 2>&1 \
    || { tail -20 "$work/s-final.log"; echo "kill test: FAILED: resume after SIGKILL"; exit 1; }
echo "kill test: passed"
