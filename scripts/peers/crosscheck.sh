#!/usr/bin/env bash
# Cross-checks the Swift model against the PyTorch peer, number for number:
# builds the release binary, runs a set of cases through
# `faconvlstm debug-state` and scripts/peers/crosscheck.py, and exits non-zero
# on any mismatch. Cases: both cells x both objectives in float64 and float32
# with inputs written by the peer, a few odd configurations, and cases whose
# inputs Swift generates itself (--generate), so both readers are exercised,
# and the ConvLSTM computed by Winograd (conv_algorithm, Swift side only).
set -euo pipefail
cd "$(dirname "$0")/../.."

bash scripts/peers/setup.sh >/dev/null
py=.venv-peer/bin/python
command -v swift >/dev/null || export PATH="/opt/swift/usr/bin:$PATH"
echo "crosscheck: building release binary"
swift build -c release --product faconvlstm 2>&1 | grep -E "error|complete" || true
bin=.build/release/faconvlstm
test -x "$bin" || { echo "crosscheck: build failed" >&2; exit 1; }
"$bin" debug-state --help >/dev/null 2>&1 || { echo "crosscheck: $bin has no debug-state command" >&2; exit 1; }

work=$(mktemp -d)
passed=0 failed=0

# run_case NAME SWIFT_GENERATES(yes|no) CROSSCHECK_GENERATE_OPTIONS...
run_case() {
    local name=$1 swift_generates=$2; shift 2
    local d="$work/$name"
    "$py" scripts/peers/crosscheck.py "$d" --generate "$@" >/dev/null
    if [ "$swift_generates" = yes ]; then
        "$bin" debug-state --dir "$d" --generate > "$d.swift.log" 2>&1 || { echo "FAIL $name: debug-state failed (see $d.swift.log)"; failed=$((failed + 1)); return; }
    else
        "$bin" debug-state --dir "$d" > "$d.swift.log" 2>&1 || { echo "FAIL $name: debug-state failed (see $d.swift.log)"; failed=$((failed + 1)); return; }
    fi
    if "$py" scripts/peers/crosscheck.py "$d" > "$d.log" 2>&1; then
        passed=$((passed + 1))
        # The worst relative error of any line, for the record.
        worst=$(grep -oE "rel +[0-9.e+-]+" "$d.log" | awk '{print $2}' | sort -g | tail -1)
        echo "ok   $name (worst rel $worst)"
    else
        failed=$((failed + 1))
        echo "FAIL $name:"
        grep -E "MISMATCH|MISSING|error" "$d.log" | head -20
    fi
}

seed=1
for dtype in float64 float32; do
    for cell in faconvlstm convlstm; do
        for objective in reconstruct forecast; do
            run_case "$cell-$objective-$dtype" no --cell "$cell" --objective "$objective" --dtype "$dtype" --seed $seed
            seed=$((seed + 1))
        done
        run_case "$cell-forecast-$dtype-swiftgen" yes --cell "$cell" --objective forecast --dtype "$dtype" --seed $seed
        seed=$((seed + 1))
    done
done
# Odd shapes: one layer, kernel 5, wide dilations, attention off / every step, T = 1, 1 x n tiles.
run_case faconvlstm-k5-noattn no --layers 1 --kernel 5 --dilations 1,3,5 --attn-stride 0 --height 9 --width 5 --seed 21
run_case faconvlstm-attn-every-step no --attn-stride 1 --hidden 5 --se-reduction 4 --embed-dim 2 --seed 22
run_case faconvlstm-one-step no --steps 1 --samples 3 --seed 23
run_case convlstm-k1-row no --cell convlstm --kernel 1 --layers 3 --height 1 --width 8 --objective forecast --seed 24
# The ConvLSTM with conv_algorithm = winograd (the peer computes the direct sum): odd height, a 1-row tile.
for dtype in float64 float32; do
    run_case "convlstm-winograd-$dtype" no --cell convlstm --objective forecast --dtype "$dtype" --conv-algorithm winograd --seed 25
done
run_case convlstm-winograd-row no --cell convlstm --conv-algorithm winograd --height 1 --width 9 --seed 26

echo "crosscheck: $passed passed, $failed failed"
if [ "$failed" -gt 0 ]; then
    echo "crosscheck: cases and logs kept in $work"
    exit 1
fi
rm -rf "$work"
