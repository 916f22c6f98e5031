#!/usr/bin/env bash
# Read throughput of the sampler + batch reader on generated datasets of
# ~0.5 GB and ~2 GB: samples/s and MB/s with prefetch off and on (reading
# alone, and overlapped with a simulated 30 ms compute step), and peak RSS
# (VmHWM) to show memory does not grow with the dataset's length.
# Usage: bash scripts/bench_data.sh [workdir]   (default: a fresh dir in /tmp; deleted afterwards)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="${FACONVLSTM_BIN:-$(pwd)/.build/release/faconvlstm}"
[ -x "$BIN" ] || { echo "bench_data: build first (swift build -c release)" >&2; exit 1; }
WORK="${1:-$(mktemp -d /tmp/faconvlstm-bench-XXXXXX)}"
trap 'rm -rf "$WORK"' EXIT

need_gb=3
avail_gb=$(df -Pk /tmp | awk 'NR==2 {print int($4/1048576)}')
echo "bench_data: /tmp has ${avail_gb} GB free (need ${need_gb})"
[ "$avail_gb" -ge "$need_gb" ] || { echo "bench_data: not enough space in /tmp" >&2; exit 1; }

# 4 float32 variables of 256 x 512: 2 MiB per frame for all variables.
for frames in 250 1000; do
    dir="$WORK/d$frames"
    start=$(date +%s)
    "$BIN" synth --out "$dir" --variables 4 --times "$frames" --height 256 --width 512 --split variable --global --seed 1 >/dev/null
    size=$(du -sm "$dir" | cut -f1)
    echo "bench_data: dataset $frames frames: ${size} MB written in $(( $(date +%s) - start )) s"
    cat > "$dir/bench.toml" <<TOML
[data]
files = "$dir/*.nc"
variables = ["tas", "psl", "uas", "vas"]
tile_height = 64
tile_width = 64
halo = 4
window = 8
window_stride = 4
TOML
    sync
    for compute in 0 30; do
        for prefetch in off on; do
            echo -n "  size ${size} MB, compute ${compute} ms: "
            "$BIN" bench-data --config "$dir/bench.toml" --batches 60 --micro-batch 8 --prefetch $prefetch --compute-ms $compute
        done
    done
    rm -rf "$dir"
done
