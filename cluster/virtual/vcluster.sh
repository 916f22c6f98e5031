#!/usr/bin/env bash
# A virtual multi-host cluster on one Linux machine, for tests: every "host"
# is a network namespace with its own address on a private bridge.
#
#   vcluster.sh up N           create fcl-head + fcl-h1..fcl-hN (idempotent, only adds)
#   vcluster.sh down           kill every process in them, remove everything (idempotent)
#   vcluster.sh status         list the hosts, their addresses and processes
#   vcluster.sh hosts          print the names of the compute hosts that are up
#   vcluster.sh pids HOST      pids of the processes running in HOST
#   vcluster.sh kill-host HOST kill -9 every process in HOST ("pull the plug")
#
# Layout (nothing is created in the root namespace, so the machine's real
# networking is untouched):
#
#   fcl-head  10.77.0.254  bridge br0 = the switch, and the login node mpirun runs on
#   fcl-hI    10.77.0.I    eth0, a veth whose peer veth-hI is a port of br0 in fcl-head
#
# /etc/netns/<ns>/hosts maps every name to its address (`ip netns exec`
# bind-mounts it over /etc/hosts); /tmp/fcl-vcluster/<ns> is each host's
# TMPDIR. Must run as root.
set -euo pipefail

VC_PREFIX=fcl
VC_HEAD=$VC_PREFIX-head
VC_NET=10.77.0
VC_SUBNET=$VC_NET.0/24
VC_HEAD_IP=$VC_NET.254
VC_BRIDGE=br0
VC_STATE=/run/$VC_PREFIX-vcluster        # markers of what `up` created outside the namespaces
VC_TMP=/tmp/$VC_PREFIX-vcluster          # each host's own TMPDIR (Open MPI session directories)
VC_MAX_HOSTS=200

die() { echo "vcluster: error: $*" >&2; exit 1; }
log() { [ -n "${VC_QUIET:-}" ] || echo "vcluster: $*" >&2; }

ns_exists() { [ -e "/run/netns/$1" ]; }
host_ip() { echo "$VC_NET.${1#"$VC_PREFIX"-h}"; }

# Compute hosts that exist, in numeric order (fcl-h1 fcl-h2 ...).
list_hosts() {
    local f
    for f in /run/netns/"$VC_PREFIX"-h*; do
        [ -e "$f" ] || continue
        f=${f##*/}
        if [[ $f =~ ^$VC_PREFIX-h[0-9]+$ ]]; then echo "$f"; fi
    done | sort -V
}

# The hosts file every namespace sees as /etc/hosts.
write_hosts_files() {
    local content h ns
    content="127.0.0.1 localhost
$VC_HEAD_IP $VC_HEAD"
    for h in $(list_hosts); do content+=$'\n'"$(host_ip "$h") $h"; done
    for ns in "$VC_HEAD" $(list_hosts); do
        mkdir -p "/etc/netns/$ns"
        printf '%s\n' "$content" > "/etc/netns/$ns/hosts.tmp"
        mv "/etc/netns/$ns/hosts.tmp" "/etc/netns/$ns/hosts"
    done
}

# IPv4 only, like most cluster networks: no link-local IPv6 addresses for MPI
# to pick up. The setting belongs to the namespace and vanishes with it.
ipv4_only() {
    ip netns exec "$1" sh -c 'for f in /proc/sys/net/ipv6/conf/all/disable_ipv6 /proc/sys/net/ipv6/conf/default/disable_ipv6; do
        [ ! -w "$f" ] || echo 1 > "$f"; done'
}

ensure_link_up() { ip -n "$1" link set "$2" up; }

ensure_addr() {   # ns dev cidr
    ip -n "$1" -4 addr show dev "$2" | grep -q "inet $3 " || ip -n "$1" addr add "$3" dev "$2"
}

cmd_up() {
    local n=${1:-}
    [[ $n =~ ^[0-9]+$ ]] && [ "$n" -ge 1 ] && [ "$n" -le "$VC_MAX_HOSTS" ] || die "usage: vcluster.sh up N (1..$VC_MAX_HOSTS)"
    [ "$(id -u)" -eq 0 ] || die "must run as root (network namespaces)"
    command -v ip >/dev/null || die "iproute2 (ip) not found"

    # Remember what existed before, so `down` restores exactly that.
    mkdir -p "$VC_STATE"
    [ -e /run/netns ] || [ -e "$VC_STATE/created-run-netns" ] || touch "$VC_STATE/created-run-netns"
    [ -e /etc/netns ] || [ -e "$VC_STATE/created-etc-netns" ] || touch "$VC_STATE/created-etc-netns"

    # Head: switch + login node.
    ns_exists "$VC_HEAD" || ip netns add "$VC_HEAD"
    ipv4_only "$VC_HEAD"
    ensure_link_up "$VC_HEAD" lo
    ip -n "$VC_HEAD" link show "$VC_BRIDGE" >/dev/null 2>&1 || ip -n "$VC_HEAD" link add "$VC_BRIDGE" type bridge
    ensure_link_up "$VC_HEAD" "$VC_BRIDGE"
    ensure_addr "$VC_HEAD" "$VC_BRIDGE" "$VC_HEAD_IP/24"

    local i h port
    for i in $(seq 1 "$n"); do
        h=$VC_PREFIX-h$i port=veth-h$i
        ns_exists "$h" || ip netns add "$h"
        ipv4_only "$h"
        ensure_link_up "$h" lo
        if ! ip -n "$h" link show eth0 >/dev/null 2>&1; then
            # A half-made pair from an interrupted run: drop its bridge side first.
            ip -n "$VC_HEAD" link del "$port" >/dev/null 2>&1 || true
            # Created inside fcl-head with the peer moved straight into the host:
            # no interface ever appears in the root namespace.
            ip -n "$VC_HEAD" link add "$port" type veth peer name eth0 netns "$h"
        fi
        ip -n "$VC_HEAD" link set "$port" master "$VC_BRIDGE"
        ensure_link_up "$VC_HEAD" "$port"
        ensure_addr "$h" eth0 "$(host_ip "$h")/24"
        ensure_link_up "$h" eth0
    done
    write_hosts_files
    # Each host gets a /tmp of its own (netns-rsh sets TMPDIR), as real nodes
    # have: what a killed host leaves behind stays there until `down`.
    for h in "$VC_HEAD" $(list_hosts); do mkdir -p "$VC_TMP/$h"; chmod 1777 "$VC_TMP/$h"; done
    log "up: $VC_HEAD ($VC_HEAD_IP) + $(list_hosts | wc -l) hosts on $VC_SUBNET"
}

kill_ns_processes() {   # ns: SIGKILL until none is left (bounded)
    local ns=$1 try pids
    for try in $(seq 1 50); do
        pids=$(ip netns pids "$ns" 2>/dev/null || true)
        [ -n "$pids" ] || return 0
        # shellcheck disable=SC2086
        kill -9 $pids 2>/dev/null || true
        sleep 0.1
    done
    die "processes in $ns survive kill -9: $(ip netns pids "$ns" | tr '\n' ' ')"
}

cmd_down() {
    [ "$(id -u)" -eq 0 ] || die "must run as root (network namespaces)"
    local ns
    for ns in $(list_hosts) "$VC_HEAD"; do
        ns_exists "$ns" || continue
        kill_ns_processes "$ns"
    done
    # Deleting a namespace destroys its interfaces (a veth goes with its peer,
    # the bridge with fcl-head).
    for ns in $(list_hosts) "$VC_HEAD"; do
        if ns_exists "$ns"; then ip netns del "$ns"; fi
        rm -rf "/etc/netns/$ns"
    done
    if [ -e "$VC_STATE/created-etc-netns" ]; then
        rmdir /etc/netns 2>/dev/null || true      # only if nothing else put files there
    fi
    if [ -e "$VC_STATE/created-run-netns" ] && [ -d /run/netns ] && [ -z "$(ls -A /run/netns)" ]; then
        # `ip netns add` made /run/netns a shared bind mount of itself; undo both.
        while mountpoint -q /run/netns; do umount /run/netns; done
        rmdir /run/netns
    fi
    rm -rf "$VC_STATE" "$VC_TMP"
    # Session directories of Open MPI daemons that ran without our TMPDIR: their
    # names carry our hostnames, which exist only inside our namespaces.
    rm -rf /tmp/ompi."$VC_PREFIX"-head.* /tmp/ompi."$VC_PREFIX"-h[0-9]*.*
    log "down: no $VC_PREFIX namespaces left"
}

cmd_status() {
    if ! ns_exists "$VC_HEAD"; then echo "vcluster: down"; return 0; fi
    local ns
    for ns in "$VC_HEAD" $(list_hosts); do
        printf '%-10s %-15s net:[%s]  processes: %s\n' "$ns" \
            "$(ip -n "$ns" -4 -o addr show | awk '$2 != "lo" {print $4}' | head -1)" \
            "$(stat -L -c %i "/run/netns/$ns")" "$(ip netns pids "$ns" | wc -l)"
    done
}

resolve_host() {   # name, index or IP -> namespace name
    local h=${1#*@}
    [[ $h =~ ^[0-9]+$ ]] && h=$VC_PREFIX-h$h
    [ "$h" = "$VC_HEAD_IP" ] && h=$VC_HEAD
    [[ $h =~ ^${VC_NET//./\\.}\.([0-9]+)$ ]] && h=$VC_PREFIX-h${BASH_REMATCH[1]}
    [[ $h =~ ^$VC_PREFIX-(head|h[0-9]+)$ ]] && ns_exists "$h" || die "no such virtual host: $1"
    echo "$h"
}

case "${1:-}" in
    up) shift; cmd_up "$@" ;;
    down) cmd_down ;;
    status) cmd_status ;;
    hosts) list_hosts ;;
    pids) ip netns pids "$(resolve_host "${2:?usage: vcluster.sh pids HOST}")" ;;
    kill-host)
        h=$(resolve_host "${2:?usage: vcluster.sh kill-host HOST}")
        pids=$(ip netns pids "$h")
        # shellcheck disable=SC2086
        [ -z "$pids" ] || kill -9 $pids 2>/dev/null || true
        log "kill-host: $h: killed $(echo $pids | wc -w) processes" ;;
    resolve) resolve_host "${2:?usage: vcluster.sh resolve HOST}" ;;
    *) sed -n '2,20s/^# \{0,1\}//p' "$0" >&2; exit 2 ;;
esac
