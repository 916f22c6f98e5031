#!/usr/bin/env bash
# One command for the performance table of docs/performance.md: training
# samples/s of faconvlstm and of the PyTorch peer (eager and torch.compile),
# both cells, small / default / large configs, 1 and 2 threads; ratios to
# PyTorch; FAConvLSTM / ConvLSTM step time; achieved GFLOP/s against the
# machine's sgemm rate measured in the same run; peak RSS against the memory
# estimate; 2-rank scaling of real training. Interleaved rounds, medians.
#
#   bash scripts/bench.sh                 # everything (an hour or more on 2 cores; the first
#                                         # torch.compile of each config takes 1-5 min, cached after)
#   bash scripts/bench.sh --quick         # default config, 1 thread, no compile, no scaling, 2 rounds
#   bash scripts/bench.sh --configs default --threads 1,2 --rounds 5 --no-scaling
#   bash scripts/bench.sh --configs default,small,large --config-rounds small=1,large=1   # shorter full table
#   (every option of scripts/bench.py passes through; --help lists them)
#
# Output: the table on stdout, raw numbers in runs/bench/bench.json (--out DIR).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v swift >/dev/null || export PATH="/opt/swift/usr/bin:$PATH"

args=()
for a in "$@"; do
    if [ "$a" = --quick ]; then
        args+=(--configs default --threads 1 --no-compile --no-scaling --rounds 2)
    else
        args+=("$a")
    fi
done

echo "bench: building the release binary" >&2
# touch the CLI so a change inside Kernels/Model is never left out of the
# binary (cross-module optimization: SwiftPM may not recompile the CLI)
touch Sources/faconvlstm/Bench.swift
mkdir -p .build
if ! swift build -c release --product faconvlstm > .build/bench-build.log 2>&1; then
    # an object of another module can still reference a private kernel symbol
    # that a changed Kernels file no longer emits (a link error): rebuild all
    echo "bench: incremental build failed, rebuilding every module" >&2
    touch Sources/*/*.swift
    swift build -c release --product faconvlstm > .build/bench-build.log 2>&1 || { tail -5 .build/bench-build.log >&2; exit 1; }
fi
test -x .build/release/faconvlstm || { echo "bench: build failed" >&2; exit 1; }
if [[ " ${args[*]-} " != *" --no-torch "* ]]; then
    bash scripts/peers/setup.sh >&2
fi
exec python3 scripts/bench.py "${args[@]}"
