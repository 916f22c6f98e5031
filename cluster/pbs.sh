#!/usr/bin/env bash
# faconvlstm on PBS Pro / OpenPBS: trains, and resubmits itself until the run is finished.
#
#   qsub -v CONFIG=run.toml cluster/pbs.sh
#
# PBS sends SIGTERM to the job's processes when it is preempted or deleted,
# and at the wall-time limit (after a grace period set by the site's
# kill_delay). The trap forwards it to mpirun and on to every rank; the ranks
# agree on a step, save a checkpoint and exit with 75 ("please requeue"),
# and this script resubmits itself. `--exit-after-minutes` stops from the
# inside before the limit, for sites with a short kill_delay.
#
#PBS -N faconvlstm
#PBS -l select=2:ncpus=32:mpiprocs=4:ompthreads=8
#PBS -l walltime=12:00:00
#PBS -j oe
#PBS -r y

set -u
cd "${PBS_O_WORKDIR:-.}"
CONFIG=${CONFIG:-run.toml}
FACONVLSTM=${FACONVLSTM:-faconvlstm}
WALL_MINUTES=${WALL_MINUTES:-720}   # keep in step with walltime above
# PBS_SCRIPT: path of this script for the resubmission (default $PBS_O_WORKDIR/cluster/pbs.sh)
THREADS=${OMP_NUM_THREADS:-8}          # BLAS threads per rank (ompthreads above)
RANKS_PER_NODE=${RANKS_PER_NODE:-4}     # mpiprocs above

# module load openmpi openblas netcdf      # site-specific; see docs/cluster.md
export OPENBLAS_NUM_THREADS=$THREADS
export HDF5_USE_FILE_LOCKING=FALSE

# Do not raise mpirun's odls_base_sigkill_timeout to give SIGTERMed ranks more
# time: mpirun then also waits that long (twice) after any rank exits 75.
# Stops come as USR1 (forwarded at once, below) or from --exit-after-minutes.
mpirun --hostfile "$PBS_NODEFILE" --map-by "ppr:$RANKS_PER_NODE:node:PE=$THREADS" --bind-to core \
    "$FACONVLSTM" train --config "$CONFIG" --resume auto --exit-after-minutes $((WALL_MINUTES - 10)) &
mpirun_pid=$!

# mpirun forwards USR1 to every rank at once (SIGTERM to mpirun would kill the job).
forward() { kill -USR1 "$mpirun_pid" 2>/dev/null; }
trap forward TERM USR1

while true; do
    wait "$mpirun_pid"
    status=$?
    kill -0 "$mpirun_pid" 2>/dev/null || break
done

if [ "$status" -eq 75 ]; then
    echo "faconvlstm: stopped early with a checkpoint; resubmitting"
    qsub -v CONFIG="$CONFIG",FACONVLSTM="$FACONVLSTM",WALL_MINUTES="$WALL_MINUTES" "${PBS_SCRIPT:-$PBS_O_WORKDIR/cluster/pbs.sh}"
fi
exit "$status"
