#!/usr/bin/env bash
# Is `faconvlstm train --dry-run`'s memory estimate right? For four runs of
# clearly different sizes it prints the dry run's estimate per rank, then
# trains a few steps (validation and checkpoints included, as in a real run)
# and compares with the peak resident memory (VmHWM) each rank measured of
# itself just before it ended (the trainer logs it), and, for one rank, with
# /usr/bin/time's maximum RSS of the whole process.
#
#   scripts/memcheck.sh [--keep]     (--keep: leave the work directory)
#
#   small   storm set, hidden 8, tile 16 x 16, window 8, micro-batch 4, 1 rank
#   medium  storm set, hidden 32, tile 32 x 32, window 8, micro-batch 4, 2 ranks
#   large   synthetic NetCDF-4 set 128 x 128, hidden 64, tile 64 x 64, window 8,
#           micro-batch 2, 1 rank
#   threads2  medium on 1 rank with 2 threads (the samples split across threads)
#
# Exits non-zero if an estimate is off by more than 20% (TOLERANCE=0.20).
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=${FACONVLSTM_BIN:-$PWD/.build/release/faconvlstm}
TOLERANCE=${TOLERANCE:-0.20}
keep=0; [ "${1:-}" = "--keep" ] && keep=1
[ -x "$BIN" ] || { echo "memcheck: binary missing at $BIN (run scripts/setup.sh)" >&2; exit 1; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
work=$(mktemp -d /tmp/faconvlstm-memcheck.XXXXXX)
[ "$keep" -eq 1 ] && echo "memcheck: work directory $work" || trap 'rm -rf "$work"' EXIT

storm='["/usr/share/ncarg/data/cdf/Ustorm.cdf", "/usr/share/ncarg/data/cdf/Vstorm.cdf", "/usr/share/ncarg/data/cdf/Tstorm.cdf", "/usr/share/ncarg/data/cdf/Pstorm.cdf"]'
"$BIN" synth --out "$work/synth" --variables 4 --times 96 --height 128 --width 128 --seed 3 >/dev/null || exit 1

config() {   # name hidden tile window micro global data [threads]
    local name=$1 hidden=$2 tile=$3 window=$4 micro=$5 global=$6 data=$7 threads=${8:-1}
    cat > "$work/$name.toml" <<EOF
seed = 1
run_dir = "$work/$name"
[model]
hidden = $hidden
layers = 2
objective = "forecast"
[data]
$data
tile_height = $tile
tile_width = $tile
window = $window
[train]
steps = 6
global_batch = $global
micro_batch = $micro
threads = $threads
log_every = 1
validate_every = 3
[checkpoint]
every_steps = 3
every_minutes = 0
EOF
}
storm_data="files = $storm
variables = [\"u\", \"v\", \"t\", \"p\"]
time_units = \"hours since 1996-01-05 00:00\"
validation_range = [\"1996-01-18\", \"1996-01-20\"]
halo = 2"
synth_data="files = \"$work/synth/synth.nc\"
variables = [\"tas\", \"psl\", \"uas\", \"vas\"]
validation_range = [80, 95]
halo = 4
window_stride = 2"
config small 8 16 8 4 8 "$storm_data"
config medium 32 32 8 4 8 "$storm_data"
config large 64 64 8 2 4 "$synth_data"
config threads2 32 32 8 4 8 "$storm_data" 2

mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
failures=0
rows=()
for spec in "small 1" "medium 2" "large 1" "threads2 1"; do
    set -- $spec; name=$1 ranks=$2
    "$BIN" train --config "$work/$name.toml" --dry-run --ranks "$ranks" > "$work/$name.dry" 2>&1 \
        || { echo "memcheck: $name: dry run failed:"; cat "$work/$name.dry"; exit 1; }
    est0=$(awk '/^  total, rank 0 /{print $4}' "$work/$name.dry")
    est1=$(awk '/^  total, rank 1 |^  total, ranks 1-/{print $(NF-1)}' "$work/$name.dry")
    start=$(date +%s)
    if [ "$ranks" -eq 1 ] && [ -x /usr/bin/time ]; then
        /usr/bin/time -f "time: maximum RSS %M kB" "$BIN" train --config "$work/$name.toml" > "$work/$name.log" 2>&1
    else
        mpirun --oversubscribe -np "$ranks" -x OPENBLAS_NUM_THREADS=1 "$BIN" train --config "$work/$name.toml" > "$work/$name.log" 2>&1
    fi
    rc=$?
    [ "$rc" -eq 0 ] || { echo "memcheck: $name: training failed (exit $rc):"; tail -20 "$work/$name.log"; exit 1; }
    secs=$(( $(date +%s) - start ))
    line=$(grep '^memory: peak resident (VmHWM) per rank:' "$work/$name.log")
    for r in $(seq 0 $((ranks - 1))); do
        measured=$(echo "$line" | sed -n "s/.*rank $r \([0-9.]*\) MiB.*/\1/p")
        est=$([ "$r" -eq 0 ] && echo "$est0" || echo "$est1")
        ratio=$(awk -v e="$est" -v m="$measured" 'BEGIN { printf "%.3f", e / m }')
        ok=$(awk -v q="$ratio" -v t="$TOLERANCE" 'BEGIN { print (q >= 1 - t && q <= 1 + t) ? "ok" : "OFF" }')
        [ "$ok" = ok ] || failures=$((failures + 1))
        rows+=("$(printf '%-7s %4s %6s %12s %12s %7s  %s' "$name" "$r" "$ranks" "$est" "$measured" "$ratio" "$ok")")
    done
    tm=$(sed -n 's/^time: maximum RSS \([0-9]*\) kB/\1/p' "$work/$name.log")
    [ -z "$tm" ] || rows+=("$(printf '%-7s %4s %6s %12s %12s %7s  %s' "" "" "" "" "$(mib "$tm")" "" "(/usr/bin/time, whole process)")")
    echo "memcheck: $name: dry run and ${secs} s of training done"
done
echo
printf '%-7s %4s %6s %12s %12s %7s\n' config rank ranks "estimate MiB" "measured MiB" ratio
for r in "${rows[@]}"; do echo "$r"; done
echo
if [ "$failures" -ne 0 ]; then echo "memcheck: FAILED: $failures estimate(s) off by more than $TOLERANCE"; exit 1; fi
echo "memcheck: every estimate within $TOLERANCE of the measured peak"
