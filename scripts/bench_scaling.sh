#!/usr/bin/env bash
# 2-rank scaling of real training: samples/s of 1 rank x 1 thread and 2 ranks
# x 1 thread on the same config in one run, the ratio (goal >= 1.9) and the
# share of all-reduce time hidden behind backward (overlap vs --sync-allreduce).
#
#   bash scripts/bench_scaling.sh [--rounds 3] [--steps 100] [--cell convlstm] [--hidden 32] [--tile 32]
#
# Raw numbers: runs/bench-scaling/scaling.json. On a 2-core machine the two
# ranks share the cores with everything else running: ratios are what count.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .build/release/faconvlstm ] || bash scripts/setup.sh
exec python3 scripts/bench_scaling.py "$@"
