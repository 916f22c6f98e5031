#!/usr/bin/env bash
# The SLURM and PBS job scripts of cluster/, run here with the batch system
# faked (its environment variables, and scontrol/qsub replaced by recorders):
# the early-warning signal to the batch shell must stop training cleanly
# (exit 75, checkpoint saved), trigger exactly one requeue/resubmission, and
# the requeued job must resume and finish without asking for another.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${FACONVLSTM_BIN:-$(pwd)/.build/release/faconvlstm}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
work=$(mktemp -d /tmp/faconvlstm-jobs.XXXXXX)
trap 'pkill -KILL -f "$work" 2>/dev/null || true; rm -rf "$work"' EXIT
mkdir -p "$work/fake"
printf '#!/bin/sh\necho "$@" >> %s/requeue.log\n' "$work" > "$work/fake/scontrol"
printf '#!/bin/sh\necho "$@" >> %s/requeue.log\n' "$work" > "$work/fake/qsub"
chmod +x "$work/fake/scontrol" "$work/fake/qsub"

config() { # run_dir
cat <<TOML
seed = 5
run_dir = "$1"
[model]
hidden = 8
embed_dim = 4
objective = "forecast"
[data]
files = "/usr/share/ncarg/data/cdf/?storm.cdf"
variables = ["u", "v", "t", "p"]
time_units = "hours since 1996-01-05 00:00"
tile_height = 12
tile_width = 12
halo = 1
window = 4
[train]
steps = 3000
global_batch = 12
micro_batch = 2
[checkpoint]
every_steps = 0
every_minutes = 0
TOML
}

fail() { echo "test-cluster-scripts: FAILED: $*"; exit 1; }

run_job() { # name script signal env...
    local name=$1 script=$2 sig=$3; shift 3
    env PATH="$work/fake:$PATH" FACONVLSTM="$BIN" "$@" bash "$script" > "$work/$name.out" 2>&1 &
    local pid=$! status=0
    local signalled=$SECONDS
    if [ "$sig" != none ]; then
        # Signal soon after training starts: 3000 steps last 5-20 s, so the
        # run is still going on any machine speed (a fixed wait of 1 s let a
        # fast machine finish 400 steps first).
        for _ in $(seq 1 300); do grep -q "training faconvlstm" "$work/$name.out" 2>/dev/null && break; sleep 0.1; done
        sleep 0.3
        kill -"$sig" "$pid"
        signalled=$SECONDS
    fi
    wait "$pid" || status=$?
    # A clean stop must end the job promptly (a few seconds), not after mpirun timeouts.
    if [ $((SECONDS - signalled)) -gt 60 ]; then echo "slow($((SECONDS - signalled))s)"; return; fi
    echo "$status"
}

# SLURM: USR1 to the batch shell (what --signal=B:USR1@300 does).
config "$work/slurm-run" > "$work/slurm.toml"
slurm_env=(SLURM_JOB_ID=4242 SLURM_NTASKS_PER_NODE=2 SLURM_CPUS_PER_TASK=1 CONFIG="$work/slurm.toml")
s=$(run_job slurm1 cluster/slurm.sbatch USR1 "${slurm_env[@]}")
[ "$s" = 75 ] || { cat "$work/slurm1.out"; fail "slurm: first job exited $s, expected 75"; }
grep -qx "requeue 4242" "$work/requeue.log" || fail "slurm: no 'scontrol requeue 4242'"
ls "$work"/slurm-run/checkpoints/ckpt-*.nc > /dev/null || fail "slurm: no checkpoint after the stop"
s=$(run_job slurm2 cluster/slurm.sbatch none "${slurm_env[@]}")
[ "$s" = 0 ] || { cat "$work/slurm2.out"; fail "slurm: requeued job exited $s"; }
grep -q "resuming from" "$work/slurm2.out" || fail "slurm: requeued job did not resume"
[ "$(wc -l < "$work/requeue.log")" = 1 ] || fail "slurm: requeued more than once"
echo "test-cluster-scripts: slurm: USR1 -> exit 75 + requeue; requeued job resumed and finished"

# PBS: SIGTERM to the job shell (preemption, qdel, wall time).
: > "$work/requeue.log"
config "$work/pbs-run" > "$work/pbs.toml"
printf 'localhost\nlocalhost\n' > "$work/nodes"
pbs_env=(PBS_O_WORKDIR="$(pwd)" PBS_NODEFILE="$work/nodes" OMP_NUM_THREADS=1 RANKS_PER_NODE=2 CONFIG="$work/pbs.toml" MPIRUN_EXTRA="")
s=$(run_job pbs1 cluster/pbs.sh TERM "${pbs_env[@]}")
[ "$s" = 75 ] || { cat "$work/pbs1.out"; fail "pbs: first job exited $s, expected 75"; }
grep -q "cluster/pbs.sh" "$work/requeue.log" || fail "pbs: no resubmission"
s=$(run_job pbs2 cluster/pbs.sh none "${pbs_env[@]}")
[ "$s" = 0 ] || { cat "$work/pbs2.out"; fail "pbs: resubmitted job exited $s"; }
grep -q "resuming from" "$work/pbs2.out" || fail "pbs: resubmitted job did not resume"
echo "test-cluster-scripts: pbs: TERM -> exit 75 + resubmission; resubmitted job resumed and finished"
echo "test-cluster-scripts: passed"
