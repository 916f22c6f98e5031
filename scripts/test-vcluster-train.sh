#!/usr/bin/env bash
# Training on the virtual multi-host cluster (cluster/virtual), as root:
#
#  a. 2 hosts x 1 rank and 1 host x 2 ranks train the same run: the same
#     loss curve (metrics.jsonl), the same global samples (samples.log), the
#     same resolved config but for run_dir, and bitwise-identical checkpoints
#     (parameters and AdamW moments; ncdump -p 9 prints float32 exactly).
#  b. A host dies mid-run (every process of the host of rank 0, which writes
#     the checkpoints, killed with SIGKILL): the job exits, non-zero, within a
#     bounded time; the next submission on the host that is left (1 rank)
#     resumes from the last checkpoint and finishes, on the same global sample
#     sequence as the uninterrupted run (samples.log identical), with the same
#     losses up to the checkpoint and the same curve (1e-4 relative) after it.
#
# The run directory is on the file system every "host" shares. Nothing is
# left behind: no namespace, no process. Exits non-zero if any check fails.
set -uo pipefail
cd "$(dirname "$0")/.."
TEST_NAME=test-vcluster-train
source scripts/lib/vcluster_test_preamble.sh
source scripts/lib/storm_test_config.sh
command -v ncdump >/dev/null || { log "FAIL: ncdump missing (netcdf-bin; run scripts/setup.sh)"; exit 1; }

work=$(mktemp -d /tmp/fcl-vcluster-train.XXXXXX)
# KEEP=1 leaves the run directories and logs in $work for a look afterwards.
cleanup_work() { if [ -n "${KEEP:-}" ]; then log "kept $work"; else rm -rf "$work"; fi; }
trap 'bash $V/vcluster.sh down >/dev/null 2>&1; cleanup_work' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
if ip netns list | grep -q '^fcl-'; then log "removing a virtual cluster left by an earlier run"; bash $V/vcluster.sh down; fi
start_all=$(date +%s)
elapsed() { echo "$(( ($(date +%s%N) - $1) / 1000000 ))"; }   # ms since a date +%s%N
BIN_REAL=$(readlink -f "$BIN")
procs_of_bin() {
    local p
    for p in /proc/[0-9]*; do [ "$(readlink "$p/exe" 2>/dev/null)" = "$BIN_REAL" ] && echo "${p#/proc/}"; done
    return 0
}

# A small fast run on the storm set: 60 steps of 12 samples, checkpoints every
# 10 steps, validation at 30 and 60, every step's global samples logged.
STEPS=60
config() {   # name -> $work/name.toml with run_dir $work/name
    { storm_test_config "$work/$1" "$STEPS"; cat <<EOF; } > "$work/$1.toml"
log_every = 1
validate_every = 30
check_params_every = 10
watchdog_seconds = 20
sample_log = true
[checkpoint]
every_steps = 10
every_minutes = 0
keep_last = 10
EOF
}
# metrics.jsonl without the timings: one line per step, "key=value" for step,
# epoch, samples_seen, loss, lr, grad_norm and the validation metrics.
curve() {
    sed -e 's/^{//' -e 's/}$//' "$1" | awk -F, '{
        out = ""
        for (i = 1; i <= NF; i++) {
            split($i, kv, ":"); k = kv[1]; gsub(/"/, "", k)
            if (k ~ /time|per_s/) continue
            out = out (out == "" ? "" : " ") k "=" kv[2]
        }
        print out }'
}
# A checkpoint as text, every float32 exactly (9 digits), without the
# attributes that differ between runs by design (creation time, the config's run_dir).
dump() { ncdump -p 9,17 "$1" | grep -v -e '^		:created = ' -e '^		:config = ' | sed 1d; }
config_attr() { ncdump -h "$1" | sed -n 's/^		:config = //p' | sed "s#$2#RUN_DIR#g"; }
steps_of() { curve "$1" | sed -n 's/^step=\([0-9]*\) .*/\1/p' | tr '\n' ' '; }
loss_of() { curve "$1" | sed -n "s/^step=$2 .* loss=\([^ ]*\) .*/\1/p"; }

log "1. vcluster.sh up 2"
check "up 2 succeeds" bash $V/vcluster.sh up 2

# --- a. 2 hosts x 1 rank == 1 host x 2 ranks --------------------------------------
log "a. the same run as 2 hosts x 1 rank and as 1 host x 2 ranks ($STEPS steps)"
config h2x1; config h1x2
t=$(date +%s%N)
bash $V/run.sh --hosts 2 --ranks-per-host 1 --timeout 180 --show-placement -- train --config "$work/h2x1.toml" > "$work/h2x1.log" 2>&1
rc21=$?; ms21=$(elapsed "$t")
t=$(date +%s%N)
bash $V/run.sh --host-list fcl-h1 --ranks-per-host 2 --timeout 180 --show-placement -- train --config "$work/h1x2.toml" > "$work/h1x2.log" 2>&1
rc12=$?; ms12=$(elapsed "$t")
log "  (2x1: exit $rc21 in $ms21 ms; 1x2: exit $rc12 in $ms12 ms)"
check "2x1: exit 0" test "$rc21" -eq 0
check "1x2: exit 0" test "$rc12" -eq 0
[ "$rc21" -eq 0 ] || sed 's/^/    | /' "$work/h2x1.log" | tail -30
[ "$rc12" -eq 0 ] || sed 's/^/    | /' "$work/h1x2.log" | tail -30
check "2x1: rank 0 on fcl-h1, rank 1 on fcl-h2" \
    test "$(sed -n 's/^placement: rank \([0-9]\) host \([^ ]*\) .*/\1 \2/p' "$work/h2x1.log" | sort | tr '\n' ' ')" = "0 fcl-h1 1 fcl-h2 "
check "1x2: both ranks on fcl-h1" \
    test "$(sed -n 's/^placement: rank \([0-9]\) host \([^ ]*\) .*/\1 \2/p' "$work/h1x2.log" | sort | tr '\n' ' ')" = "0 fcl-h1 1 fcl-h1 "
check "$STEPS metrics lines each" sh -c "test \$(wc -l < '$work/h2x1/metrics.jsonl') -eq $STEPS && test \$(wc -l < '$work/h1x2/metrics.jsonl') -eq $STEPS"
check "the same loss curve: loss, lr, grad_norm and validation metrics of every step equal" \
    cmp -s <(curve "$work/h2x1/metrics.jsonl") <(curve "$work/h1x2/metrics.jsonl")
check "validation ran (val_loss at steps 30 and 60)" test "$(curve "$work/h2x1/metrics.jsonl" | grep -c ' val_loss=')" -eq 2
check "the same global samples at every step (samples.log)" cmp -s "$work/h2x1/samples.log" "$work/h1x2/samples.log"
check "samples.log has $STEPS steps" test "$(wc -l < "$work/h2x1/samples.log")" -eq "$STEPS"
check "resolved configs differ only in run_dir" \
    cmp -s <(sed "s#$work/h2x1#RUN_DIR#" "$work/h2x1/config.resolved.toml") <(sed "s#$work/h1x2#RUN_DIR#" "$work/h1x2/config.resolved.toml")
final=checkpoints/ckpt-$(printf %08d $STEPS).nc
check "final checkpoints exist" test -s "$work/h2x1/$final" -a -s "$work/h1x2/$final"
check "final checkpoints bitwise equal: parameters, AdamW moments, normalization, counters" \
    cmp -s <(dump "$work/h2x1/$final") <(dump "$work/h1x2/$final")
check "the checkpoints' config attribute differs only in run_dir" \
    cmp -s <(config_attr "$work/h2x1/$final" "$work/h2x1") <(config_attr "$work/h1x2/$final" "$work/h1x2")
same=0
for s in 10 20 30 40 50; do
    c=checkpoints/ckpt-$(printf %08d $s).nc
    cmp -s <(dump "$work/h2x1/$c") <(dump "$work/h1x2/$c") && same=$((same + 1))
done
check "intermediate checkpoints (steps 10..50) bitwise equal too" test "$same" -eq 5
check "the dump compares values (a parameter line is in it)" grep -q 'layers.0.bottleneck.b = ' <(dump "$work/h2x1/$final")

# --- b. a host dies; resume on the host that is left ------------------------------
log "b. kill every process of fcl-h1 (rank 0) mid-run, then resume on fcl-h2 alone"
config killed
t_job=$(date +%s%N)
bash $V/run.sh --hosts 2 --ranks-per-host 1 --timeout 180 --show-placement -- train --config "$work/killed.toml" > "$work/killed.log" 2>&1 &
job=$!
metrics_lines() { if [ -e "$1" ]; then wc -l < "$1"; else echo 0; fi; }
# Kill between two checkpoints: once step 25 is logged (the checkpoint of step 20 is saved).
for _ in $(seq 1 1200); do   # up to 60 s
    [ "$(metrics_lines "$work/killed/metrics.jsonl")" -ge 25 ] && break
    kill -0 $job 2>/dev/null || break
    sleep 0.05
done
lines_at_kill=$(metrics_lines "$work/killed/metrics.jsonl")
check "the job is running, past step 25 and before its end" sh -c "kill -0 $job 2>/dev/null && test $lines_at_kill -ge 25 -a $lines_at_kill -lt $STEPS"
check "rank 0 runs on fcl-h1" grep -q '^placement: rank 0 host fcl-h1 ' "$work/killed.log"
t=$(date +%s%N)
bash $V/vcluster.sh kill-host fcl-h1
for _ in $(seq 1 600); do kill -0 $job 2>/dev/null || break; sleep 0.1; done   # up to 60 s
if kill -0 $job 2>/dev/null; then
    kill_ms=$(elapsed "$t"); rc=hung
    kill -TERM $job; wait $job
else
    wait $job; rc=$?; kill_ms=$(elapsed "$t")
fi
# The newest committed checkpoint the dead job left (a save the kill cut short is a .tmp file).
latest_at_kill=$(cd "$work/killed/checkpoints" 2>/dev/null && ls ckpt-[0-9]*.nc 2>/dev/null | sort | tail -1)
log "  (killed at metrics line $lines_at_kill, last checkpoint $latest_at_kill; job exit $rc ${kill_ms} ms after the kill)"
check "the job fails (non-zero exit, not the timeout's 124)" test "$rc" != hung -a "$rc" != 0 -a "$rc" != 124
check "the job ends within 30 s of the kill" test "$kill_ms" -le 30000
check "Open MPI reports the lost host fcl-h1" grep -q "daemon.* on node fcl-h1" "$work/killed.log"
check "no process of the job left on fcl-h1 or fcl-h2" test -z "$(ip netns pids fcl-h1; ip netns pids fcl-h2)"
[ "$rc" != 0 ] && [ "$rc" != hung ] || sed 's/^/    | /' "$work/killed.log" | tail -30
resume_step=$(echo "$latest_at_kill" | sed -n 's/^ckpt-0*\([0-9][0-9]*\)\.nc$/\1/p')
check "a checkpoint was committed before the kill (step 20 or later)" test "${resume_step:-0}" -ge 20

t=$(date +%s%N)
bash $V/run.sh --host-list fcl-h2 --ranks-per-host 1 --timeout 180 --show-placement -- train --config "$work/killed.toml" > "$work/resumed.log" 2>&1
rc=$?; resume_ms=$(elapsed "$t")
job_ms=$(elapsed "$t_job")
log "  (resumed run on fcl-h2: exit $rc in $resume_ms ms)"
check "the resumed run finishes: exit 0" test "$rc" -eq 0
[ "$rc" -eq 0 ] || sed 's/^/    | /' "$work/resumed.log" | tail -30
check "it runs 1 rank on fcl-h2" test "$(grep -c '^placement: rank 0 host fcl-h2 ' "$work/resumed.log")" -eq 1
check "it resumes from the last checkpoint before the kill ($latest_at_kill)" \
    grep -q "resuming from $work/killed/checkpoints/$latest_at_kill (step $resume_step, " "$work/resumed.log"
check "the same global sample sequence as the uninterrupted run (samples.log identical)" \
    cmp -s "$work/killed/samples.log" "$work/h2x1/samples.log"
check "metrics.jsonl has every step 1..$STEPS once, in order" test "$(steps_of "$work/killed/metrics.jsonl")" = "$(seq -s ' ' 1 $STEPS) "
check "up to the checkpoint the curve is the uninterrupted run's, exactly" \
    cmp -s <(curve "$work/killed/metrics.jsonl" | head -n "${resume_step:-0}") <(curve "$work/h2x1/metrics.jsonl" | head -n "${resume_step:-0}")
worst=$(for s in $(seq $((${resume_step:-0} + 1)) $STEPS); do echo "$(loss_of "$work/killed/metrics.jsonl" $s) $(loss_of "$work/h2x1/metrics.jsonl" $s)"; done |
    awk '{ d = $1 - $2; if (d < 0) d = -d; r = d / ($2 < 0 ? -$2 : $2); if (r > w) w = r } END { printf "%.3g", w + 0 }')
log "  (largest relative loss difference after the resume, 1 rank vs 2: $worst)"
check "after it, the same loss curve within 1e-4 relative (1 rank sums in another order than 2)" \
    awk -v w="$worst" 'BEGIN { exit !(w < 1e-4) }'
check "the final checkpoint is of step $STEPS with $((STEPS * 12)) samples seen" \
    sh -c "ncdump -h '$work/killed/$final' | grep -q ':step = ${STEPS}LL' && ncdump -h '$work/killed/$final' | grep -q ':samples_seen = $((STEPS * 12))LL'"

# --- nothing left -----------------------------------------------------------------
log "c. vcluster.sh down"
check "down succeeds" bash $V/vcluster.sh down
check "no fcl namespace left" sh -c "! ip netns list | grep -q '^fcl-'"
check "no process of $BIN left" test -z "$(procs_of_bin)"
check "no temporary files left (/tmp/fcl-vcluster, /tmp/ompi.fcl-*)" \
    sh -c "! ls -d /tmp/fcl-vcluster /tmp/ompi.fcl-* >/dev/null 2>&1"

trap - EXIT
cleanup_work
total=$(( $(date +%s) - start_all ))
if [ "$failures" -ne 0 ]; then log "FAILED: $failures checks (${total} s)"; exit 1; fi
log "all passed in ${total} s (2x1 ${ms21} ms, 1x2 ${ms12} ms; job exit ${kill_ms} ms after a host died; resumed run ${resume_ms} ms)"
