# Sourced by the virtual-cluster test scripts (scripts/test-vcluster*.sh)
# from the package root, with TEST_NAME set: log and check helpers, the
# root and binary checks, and the lock that lets one run of these tests at a
# time own the fcl-* names.
V=cluster/virtual
BIN=${FACONVLSTM_BIN:-$PWD/.build/release/faconvlstm}
log() { echo "$TEST_NAME: $*"; }
failures=0
check() {   # check "what" command...: PASS if the command succeeds
    local what=$1; shift
    if "$@"; then log "  ok: $what"; else log "  FAIL: $what"; failures=$((failures + 1)); fi
}
[ "$(id -u)" -eq 0 ] || { log "FAIL: must run as root (network namespaces)"; exit 1; }
[ -x "$BIN" ] || { log "FAIL: binary missing at $BIN (run scripts/setup.sh)"; exit 1; }
export FACONVLSTM_BIN=$BIN
# An advisory lock on a directory that always exists, so nothing is created.
exec 9</run/lock
flock -w 900 9 || { log "FAIL: another run of the virtual-cluster tests holds /run/lock for 15 min"; exit 1; }
