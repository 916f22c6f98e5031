#!/usr/bin/env bash
# Tests of the virtual multi-host cluster (cluster/virtual): the same binary
# runs across "hosts" (network namespaces) under Open MPI's own launcher, a
# host that dies makes the job fail fast instead of hanging, and nothing is
# left behind. Needs root. Exits non-zero if any check fails.
set -uo pipefail
cd "$(dirname "$0")/.."
TEST_NAME=test-vcluster
source scripts/lib/vcluster_test_preamble.sh

work=$(mktemp -d /tmp/fcl-vcluster-test.XXXXXX)
trap 'bash $V/vcluster.sh down >/dev/null 2>&1; rm -rf "$work"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The fcl-* names belong to these tests: clear what an aborted earlier run left.
if ip netns list | grep -q '^fcl-'; then log "removing a virtual cluster left by an earlier run"; bash $V/vcluster.sh down; fi

# --- the machine before ------------------------------------------------------
root_links() { ip -o link show | awk -F': ' '{sub(/@.*/, "", $2); print $2}' | sort; }
root_links > "$work/links.before"
etc_before=$([ -e /etc/netns ] && echo yes || echo no)
run_before=$([ -e /run/netns ] && echo yes || echo no)
root_net=$(readlink /proc/self/ns/net)
inode() { stat -L -c %i "/run/netns/$1"; }
# pids of every process whose network namespace has one of the given inodes
procs_in() {
    local p i want=" $* "
    for p in /proc/[0-9]*; do
        i=$(stat -L -c %i "$p/ns/net" 2>/dev/null) || continue
        [[ $want == *" $i "* ]] && echo "${p#/proc/}"
    done
    return 0
}
# pids of processes running the binary under test (.build/release is a symlink)
BIN_REAL=$(readlink -f "$BIN")
procs_of_bin() {
    local p
    for p in /proc/[0-9]*; do [ "$(readlink "$p/exe" 2>/dev/null)" = "$BIN_REAL" ] && echo "${p#/proc/}"; done
    return 0
}
elapsed() { echo "$(( ($(date +%s%N) - $1) / 1000000 ))"; }   # ms since a date +%s%N

# --- 1. up -------------------------------------------------------------------
log "1. vcluster.sh up 2"
check "up 2 succeeds" bash $V/vcluster.sh up 2
check "namespaces fcl-head fcl-h1 fcl-h2 exist" \
    test "$(ip netns list | awk '{print $1}' | grep '^fcl-' | sort | tr '\n' ' ')" = "fcl-h1 fcl-h2 fcl-head "
check "fcl-h1 has 10.77.0.1/24 on eth0" sh -c "ip -n fcl-h1 -4 -o addr show dev eth0 | grep -q ' 10.77.0.1/24 '"
check "fcl-h2 has 10.77.0.2/24 on eth0" sh -c "ip -n fcl-h2 -4 -o addr show dev eth0 | grep -q ' 10.77.0.2/24 '"
check "loopback up in fcl-h2" sh -c "ip -n fcl-h2 link show lo | grep -q 'UP'"
check "fcl-h1 resolves fcl-h2 to 10.77.0.2" sh -c "ip netns exec fcl-h1 getent hosts fcl-h2 | grep -q '^10.77.0.2 '"
check "the machine's /etc/hosts does not know fcl-h2" sh -c "! getent hosts fcl-h2 >/dev/null"
check "no interface added to the root namespace" cmp -s "$work/links.before" <(root_links)
ns_ids=$(for n in fcl-head fcl-h1 fcl-h2; do inode $n; done | tr '\n' ' ')
check "three distinct namespaces, none the root one" \
    test "$(echo $ns_ids "${root_net//[^0-9]/}" | tr ' ' '\n' | sort -u | wc -l)" -eq 4
bash $V/vcluster.sh status > "$work/status1"
check "up 2 again succeeds (idempotent)" bash $V/vcluster.sh up 2
bash $V/vcluster.sh status > "$work/status2"
check "up 2 again changes nothing" cmp -s "$work/status1" "$work/status2"

# --- 2. mpi-selftest across hosts ---------------------------------------------
log "2. mpi-selftest, 2 hosts x 1 rank"
t=$(date +%s%N)
bash $V/run.sh --hosts 2 --ranks-per-host 1 --timeout 60 --show-placement -- mpi-selftest > "$work/st.log" 2>&1
rc=$?
st_ms=$(elapsed "$t")
log "  (exit $rc in ${st_ms} ms)"
check "exit 0" test "$rc" -eq 0
check "rank 0/2 on fcl-h1: ok" grep -qx "rank 0/2 on fcl-h1: ok" "$work/st.log"
check "rank 1/2 on fcl-h2: ok" grep -qx "rank 1/2 on fcl-h2: ok" "$work/st.log"
check "rank 0 in fcl-h1's namespace at 10.77.0.1" \
    grep -q "^placement: rank 0 host fcl-h1 net:\[$(inode fcl-h1)\] ip 10.77.0.1 " "$work/st.log"
check "rank 1 in fcl-h2's namespace at 10.77.0.2" \
    grep -q "^placement: rank 1 host fcl-h2 net:\[$(inode fcl-h2)\] ip 10.77.0.2 " "$work/st.log"
check "the two ranks in two different namespaces" \
    test "$(grep '^placement:' "$work/st.log" | awk '{print $6}' | sort -u | wc -l)" -eq 2
[ "$rc" -eq 0 ] || sed 's/^/    | /' "$work/st.log"

log "3. mpi-selftest, 2 hosts x 2 ranks and 1 host x 2 ranks"
bash $V/run.sh --hosts 2 --ranks-per-host 2 --timeout 60 -- mpi-selftest > "$work/st4.log" 2>&1
check "2x2: exit 0" test $? -eq 0
check "2x2: ranks 0,1 on fcl-h1 and 2,3 on fcl-h2, all ok" test "$(grep ': ok$' "$work/st4.log" | sort | tr '\n' ' ')" = \
    "rank 0/4 on fcl-h1: ok rank 1/4 on fcl-h1: ok rank 2/4 on fcl-h2: ok rank 3/4 on fcl-h2: ok "
bash $V/run.sh --hosts 1 --ranks-per-host 2 --timeout 60 -- mpi-selftest > "$work/st12.log" 2>&1
check "1x2: exit 0" test $? -eq 0
check "1x2: both ranks on fcl-h1, ok" test "$(grep ': ok$' "$work/st12.log" | sort | tr '\n' ' ')" = \
    "rank 0/2 on fcl-h1: ok rank 1/2 on fcl-h1: ok "
check "a run on fewer hosts leaves the cluster up" test -e /run/netns/fcl-h2

# --- 4. a host dies mid-run ------------------------------------------------------
log "4. kill every process of fcl-h2 during mpi-selftest --loop-seconds 60"
bash $V/run.sh --hosts 2 --timeout 120 -- mpi-selftest --loop-seconds 60 > "$work/kill.log" 2>&1 &
job=$!
for _ in $(seq 1 300); do   # up to 60 s for both ranks to be in the loop
    [ "$(grep -c ': looping for' "$work/kill.log")" -ge 2 ] && break
    kill -0 $job 2>/dev/null || break
    sleep 0.2
done
check "both ranks are looping" test "$(grep -c ': looping for' "$work/kill.log")" -eq 2
in_h2=$(comm -12 <(procs_in "$(inode fcl-h2)" | sort) <(procs_of_bin | sort))
check "a rank of the job runs inside fcl-h2" test -n "$in_h2"
t=$(date +%s%N)
bash $V/vcluster.sh kill-host fcl-h2
for _ in $(seq 1 600); do kill -0 $job 2>/dev/null || break; sleep 0.1; done   # up to 60 s
if kill -0 $job 2>/dev/null; then
    kill_ms=$(elapsed "$t"); rc=hung
    kill -TERM $job; wait $job
else
    wait $job; rc=$?; kill_ms=$(elapsed "$t")
fi
log "  (mpirun exit $rc ${kill_ms} ms after the kill)"
check "the job fails (non-zero exit, not the timeout's 124)" test "$rc" != hung -a "$rc" != 0 -a "$rc" != 124
check "the job ends within 30 s of the kill" test "$kill_ms" -le 30000
check "Open MPI reports the lost host" grep -q "fcl-h2" <(grep -A3 -i "lost communication\|daemon" "$work/kill.log")
check "the surviving rank and daemons ended by themselves" sh -c "! grep -q 'warning: killing processes left' '$work/kill.log'"
check "no process left on any virtual host" test -z "$(procs_in $ns_ids)"
check "the dead host's Open MPI session directory is in its own TMPDIR" \
    sh -c "ls -d /tmp/fcl-vcluster/fcl-h2/ompi.fcl-h2.* >/dev/null 2>&1 && ! ls -d /tmp/ompi.fcl-* >/dev/null 2>&1"
[ "$rc" != 0 ] && [ "$rc" != hung ] || sed 's/^/    | /' "$work/kill.log"

# --- 5. the next job on the host that is left ------------------------------------
log "5. the next job on the remaining host"
bash $V/run.sh --host-list fcl-h1 --ranks-per-host 1 --timeout 60 -- mpi-selftest > "$work/after.log" 2>&1
rc=$?
check "1 rank on fcl-h1 after the kill: exit 0, ok" sh -c "test $rc -eq 0 && grep -qx 'rank 0/1 on fcl-h1: ok' '$work/after.log'"

# --- 6. a hung job is ended by the timeout -----------------------------------------
log "6. --timeout 5 around a 60 s job"
t=$(date +%s%N)
bash $V/run.sh --hosts 2 --timeout 5 -- mpi-selftest --loop-seconds 60 > "$work/timeout.log" 2>&1
rc=$?; to_ms=$(elapsed "$t")
log "  (exit $rc after ${to_ms} ms)"
check "exit 124" test "$rc" -eq 124
check "ended within 25 s" test "$to_ms" -le 25000
check "no process left on any virtual host" test -z "$(procs_in $ns_ids)"

# --- 7. down leaves nothing -------------------------------------------------------
log "7. vcluster.sh down"
check "down succeeds" bash $V/vcluster.sh down
check "no fcl namespace left" sh -c "! ip netns list | grep -q '^fcl-'"
check "root namespace interfaces as before" cmp -s "$work/links.before" <(root_links)
check "/etc/netns as before ($etc_before)" test "$([ -e /etc/netns ] && echo yes || echo no)" = "$etc_before"
check "/run/netns as before ($run_before)" test "$([ -e /run/netns ] && echo yes || echo no)" = "$run_before"
check "no process in the removed namespaces (orted, ranks, mpirun)" test -z "$(procs_in $ns_ids)"
check "no process of $BIN left" test -z "$(procs_of_bin)"
check "no temporary files left (/tmp/fcl-vcluster, /tmp/ompi.fcl-*)" \
    sh -c "! ls -d /tmp/fcl-vcluster /tmp/ompi.fcl-* >/dev/null 2>&1"
check "down again succeeds (idempotent)" bash $V/vcluster.sh down

# --- 8. run.sh on its own: brings the cluster up, and down again, also on failure ----
log "8. run.sh with no cluster up, a job that succeeds and one that fails"
bash $V/run.sh --hosts 2 --timeout 60 -- mpi-selftest > "$work/own.log" 2>&1
rc=$?
check "exit 0 with 2 ranks ok" sh -c "test $rc -eq 0 && test \$(grep -c ': ok$' '$work/own.log') -eq 2"
check "cluster torn down afterwards" sh -c "! ip netns list | grep -q '^fcl-'"
bash $V/run.sh --hosts 2 --timeout 60 -- mpi-selftest --no-such-option > "$work/bad.log" 2>&1
rc=$?
check "a failing job's exit code comes back (64 from the argument parser)" test "$rc" -eq 64
check "cluster torn down after the failure" sh -c "! ip netns list | grep -q '^fcl-'"
check "/run/netns as before" test "$([ -e /run/netns ] && echo yes || echo no)" = "$run_before"
check "no temporary files left" sh -c "! ls -d /tmp/fcl-vcluster /tmp/ompi.fcl-* >/dev/null 2>&1"

trap - EXIT
rm -rf "$work"
if [ "$failures" -ne 0 ]; then log "FAILED: $failures checks"; exit 1; fi
log "all passed (selftest 2x1 ${st_ms} ms; job exit ${kill_ms} ms after a host died; timeout ${to_ms} ms)"
