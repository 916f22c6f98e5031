#!/usr/bin/env bash
# Runs one faconvlstm job across the virtual cluster and returns its exit code.
#
#   run.sh [options] -- <faconvlstm args...>
#
#   --hosts N              ranks on fcl-h1..fcl-hN (default 2); brings the cluster up if needed
#   --host-list H,H,...    ranks on these hosts instead (names, numbers or addresses; must be up)
#   --ranks-per-host K     ranks per host (default 1); rank r runs on host r / K
#   --timeout SEC          TERM the job after SEC seconds, KILL 15 s later; exit 124 (default 3600)
#   --env VAR[=VALUE]      export VAR to every rank (mpirun -x); repeatable
#   --mca NAME VALUE       extra MCA parameter for mpirun; repeatable
#   --bin PATH             the binary (default $FACONVLSTM_BIN, else .build/release/faconvlstm)
#   --show-placement       every rank first prints "placement: rank R host H net:[inode] ip A pid P"
#   --keep                 leave the cluster up even if this run brought it up
#   --down                 tear the cluster down afterwards even if it was up before
#
# By default the cluster is torn down at the end only if this run brought it
# up, so a caller that ran `vcluster.sh up N` first keeps it across jobs (to
# kill a host, resume on the others, ...). USR1/USR2 are forwarded to mpirun
# (which forwards them to every rank), TERM/INT/HUP make mpirun end the job.
# Exit code: the job's (mpirun's: the first non-zero rank exit code), 124 on
# timeout, 2 for a usage error of this script, 1 when the cluster fails.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
vc="$here/vcluster.sh"

usage() { sed -n '2,22s/^# \{0,1\}//p' "$0" >&2; exit 2; }
die() { echo "run.sh: error: $1" >&2; exit "${2:-1}"; }

hosts=2 host_list="" per_host=1 timeout=3600 bin=${FACONVLSTM_BIN:-$repo/.build/release/faconvlstm}
placement=0 keep=0 force_down=0 envs=() mcas=()
while [ $# -gt 0 ]; do
    case $1 in
        --hosts) hosts=${2:-}; shift 2 || usage ;;
        --host-list) host_list=${2:-}; shift 2 || usage ;;
        --ranks-per-host) per_host=${2:-}; shift 2 || usage ;;
        --timeout) timeout=${2:-}; shift 2 || usage ;;
        --env) envs+=(-x "${2:-}"); shift 2 || usage ;;
        --mca) [ $# -ge 3 ] || usage; mcas+=(--mca "$2" "$3"); shift 3 ;;
        --bin) bin=${2:-}; shift 2 || usage ;;
        --show-placement) placement=1; shift ;;
        --keep) keep=1; shift ;;
        --down) force_down=1; shift ;;
        --) shift; break ;;
        -h|--help) usage ;;
        *) echo "run.sh: error: unknown option $1 (the job's arguments go after --)" >&2; exit 2 ;;
    esac
done
[ $# -ge 1 ] || die "no job arguments (run.sh [options] -- <faconvlstm args...>)" 2
[[ $hosts =~ ^[1-9][0-9]*$ ]] || die "--hosts wants a positive number, got '$hosts'" 2
[[ $per_host =~ ^[1-9][0-9]*$ ]] || die "--ranks-per-host wants a positive number, got '$per_host'" 2
[[ $timeout =~ ^[1-9][0-9]*$ ]] || die "--timeout wants seconds, got '$timeout'" 2
[ -x "$bin" ] || die "binary not found: $bin (build it with scripts/setup.sh)" 2
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
[ "$(id -u)" -eq 0 ] || die "must run as root (network namespaces)" 2

# --- the cluster ---------------------------------------------------------
owned=0     # 1 once this run brings the cluster up
mpirun_pid="" watchdog_pid="" tmp=""

cleanup() {
    local rc=$? i
    trap - EXIT INT TERM HUP USR1 USR2
    if [ -n "$mpirun_pid" ] && kill -0 "$mpirun_pid" 2>/dev/null; then
        kill -TERM "$mpirun_pid" 2>/dev/null
        for i in $(seq 1 100); do kill -0 "$mpirun_pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$mpirun_pid" 2>/dev/null
    fi
    [ -z "$watchdog_pid" ] || { kill "$watchdog_pid" 2>/dev/null; wait "$watchdog_pid" 2>/dev/null; }
    [ -z "$tmp" ] || rm -rf "$tmp"
    if { [ "$owned" -eq 1 ] && [ "$keep" -eq 0 ]; } || [ "$force_down" -eq 1 ]; then
        bash "$vc" down || rc=1
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT      # until mpirun runs; then the handlers below forward
trap 'exit 143' TERM HUP

if [ -n "$host_list" ]; then
    used=()
    IFS=, read -r -a names <<< "$host_list"
    for h in "${names[@]}"; do
        ns=$(bash "$vc" resolve "$h") || die "host $h is not up (vcluster.sh up N first)" 2
        used+=("$ns")
    done
    [ ${#used[@]} -ge 1 ] || die "--host-list is empty" 2
else
    used=()
    for i in $(seq 1 "$hosts"); do used+=("fcl-h$i"); done
    missing=0
    for h in fcl-head "${used[@]}"; do [ -e "/run/netns/$h" ] || missing=1; done
    if [ "$missing" -eq 1 ]; then
        [ -e /run/netns/fcl-head ] || owned=1
        bash "$vc" up "$hosts" || die "cannot bring up the virtual cluster"
    fi
fi
np=$(( ${#used[@]} * per_host ))

tmp=$(mktemp -d /tmp/fcl-vcluster-run.XXXXXX)
for h in "${used[@]}"; do echo "$h slots=$per_host"; done > "$tmp/hostfile"

# --- the job -------------------------------------------------------------
# mpirun runs on the head node (its own namespace, hostname fcl-head) and
# starts one orted per host through netns-rsh; every rank talks TCP over
# 10.77.0.0/24 only (no shared memory, no other interface).
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
prog=("$bin" "$@")
[ "$placement" -eq 0 ] || prog=("$here/rank-placement" "${prog[@]}")
cmd=(mpirun --hostfile "$tmp/hostfile" -np "$np" --map-by slot --bind-to none --stdin none
     --mca plm rsh --mca plm_rsh_agent "$here/netns-rsh" --mca plm_rsh_no_tree_spawn 1
     --mca oob tcp --mca oob_tcp_if_include 10.77.0.0/24
     --mca pml ob1 --mca btl tcp,self --mca btl_tcp_if_include 10.77.0.0/24
     "${mcas[@]}" -x OPENBLAS_NUM_THREADS=1 "${envs[@]}" "${prog[@]}")
echo "run.sh: $np ranks on ${used[*]} ($per_host per host), timeout ${timeout}s" >&2

start=$SECONDS
# Every step execs, so $! is mpirun's own pid.
mkdir -p /tmp/fcl-vcluster/fcl-head
TMPDIR=/tmp/fcl-vcluster/fcl-head \
    ip netns exec fcl-head unshare --uts /bin/sh -c 'hostname fcl-head && exec "$@"' sh "${cmd[@]}" &
mpirun_pid=$!
trap 'kill -USR1 "$mpirun_pid" 2>/dev/null' USR1
trap 'kill -USR2 "$mpirun_pid" 2>/dev/null' USR2
trap 'kill -TERM "$mpirun_pid" 2>/dev/null' INT TERM HUP

# Watchdog: a hung job ends after --timeout, whatever it is stuck on.
(
    trap - USR1 USR2 INT TERM HUP
    end=$(( $(date +%s) + timeout ))
    while kill -0 "$mpirun_pid" 2>/dev/null; do
        if [ "$(date +%s)" -ge "$end" ]; then
            touch "$tmp/timed-out"
            echo "run.sh: timeout after ${timeout}s: terminating the job" >&2
            kill -TERM "$mpirun_pid" 2>/dev/null
            for _ in $(seq 1 15); do sleep 1; kill -0 "$mpirun_pid" 2>/dev/null || exit 0; done
            kill -KILL "$mpirun_pid" 2>/dev/null
            exit 0
        fi
        sleep 1
    done
) &
watchdog_pid=$!

# `wait` returns early when a trapped signal arrives; wait until mpirun is gone.
while :; do
    wait "$mpirun_pid"; status=$?
    kill -0 "$mpirun_pid" 2>/dev/null || break
done
mpirun_pid=""
wait "$watchdog_pid" 2>/dev/null; watchdog_pid=""
[ ! -e "$tmp/timed-out" ] || status=124

# Nothing of this job may outlive it: daemons and ranks that lost their
# mpirun exit by themselves within seconds; kill what is left after 10 s.
for i in $(seq 1 100); do
    left=$(for h in "${used[@]}"; do ip netns pids "$h" 2>/dev/null; done)
    [ -n "$left" ] || break
    sleep 0.1
done
if [ -n "$left" ]; then
    echo "run.sh: warning: killing processes left on ${used[*]}: $(echo $left)" >&2
    # shellcheck disable=SC2086
    kill -9 $left 2>/dev/null
fi
echo "run.sh: job exit $status after $((SECONDS - start))s" >&2
exit "$status"
