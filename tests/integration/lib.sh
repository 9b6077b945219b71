#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Helpers for the integration tests: a throwaway PKI made with the openssl CLI, daemon configs,
# daemons started on loopback with ephemeral ports, and assertions.
# Usage: source lib.sh VMCS12D VMCS12CTL
D=$1
C=$2
V12_LIB=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
W=$(mktemp -d /tmp/v12it.XXXXXX)
PIDS=()
pass=0
fail=0
FAILS=()
# Runs on every exit, also under set -e: it must neither fail on processes that have already
# exited nor change the script's exit status.
cleanup() {
    local rc=$?
    set +e
    for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
    wait 2>/dev/null
    if [ "$fail" != 0 ] || [ "$rc" != 0 ]; then
        for f in "$W"/*.log; do [ -e "$f" ] && { echo "---- $f" >&2; tail -30 "$f" >&2; }; done
        # Again after the logs: a log viewer that keeps only the end still names what failed.
        [ "${#FAILS[@]}" = 0 ] || printf 'FAILED: %s\n' "${FAILS[@]}" >&2
    fi
    if [ -n "${KEEP:-}" ]; then echo "kept $W" >&2; else rm -rf "$W"; fi
    exit "$rc"
}
trap cleanup EXIT

ok() { pass=$((pass + 1)); }
bad() {
    fail=$((fail + 1))
    FAILS+=("$*")
    echo "FAIL: $*" >&2
}
finish() {
    if [ -n "${V12_VALGRIND:-}" ]; then
        local f errs=0
        for f in "$W"/*.vg.*; do
            [ -s "$f" ] || continue
            echo "---- valgrind: $f" >&2
            cat "$f" >&2
            errs=$((errs + 1))
        done
        [ "$errs" = 0 ] && ok || bad "valgrind reported errors in $errs daemon(s)"
        echo "valgrind: $(ls "$W"/*.vg.* 2>/dev/null | wc -l) daemon runs checked"
    fi
    echo "$pass passed, $fail failed"
    [ "$fail" = 0 ]
}

# An unused TCP port on 127.0.0.1, below the kernel's ephemeral range (ports.py says why), never
# one this test was given before.
free_port() { python3 "$V12_LIB/ports.py" --ledger "$W/.ports"; }
# free_port_run N: the first of N consecutive unused ports (a port range for one daemon), none of
# which free_port hands out later.
free_port_run() { python3 "$V12_LIB/ports.py" --ledger "$W/.ports" --runs 1 "$1"; }

# mkca NAME
mkca() {
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$W/$1.key" -out "$W/$1.pem" \
        -days 2 -subj "/CN=$1" >/dev/null 2>&1
}
# mkcert NAME CA SAN [DAYS]: a certificate for NAME signed by CA with subjectAltName SAN.
mkcert() {
    local name=$1 ca=$2 san=$3 days=${4:-2}
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$W/$name.key" -out "$W/$name.csr" \
        -subj "/CN=$name" >/dev/null 2>&1
    printf 'subjectAltName=%s\nextendedKeyUsage=%s\n' "$san" "${MKCERT_EKU:-serverAuth,clientAuth}" >"$W/$name.ext"
    openssl x509 -req -in "$W/$name.csr" -CA "$W/$ca.pem" -CAkey "$W/$ca.key" -CAcreateserial -out "$W/$name.pem" \
        -days "$days" -extfile "$W/$name.ext" >/dev/null 2>&1
}

# config NODE LAYOUT PROFILE PORT CERT CA [PEER PEERPORT]...: writes $W/NODE.ini (node = NODE_NAME
# when set: a second daemon speaking as the node its certificate names)
config() {
    local node=$1 layout=$2 profile=$3 port=$4 cert=$5 ca=$6
    shift 6
    local spool=${SPOOL_ROOT:-$W}/$node.spool
    mkdir -p "$spool"
    {
        echo "[daemon]"
        echo "node = ${NODE_NAME:-$node}"
        echo "layout = $layout"
        [ -n "$profile" ] && echo "profile = $profile"
        echo "padding = strict"
        echo "control_socket = $W/$node.sock"
        echo "spool_dir = $spool"
        echo "listen = 127.0.0.1:$port"
        echo "reconnect_min_ms = ${RECONNECT_MIN_MS:-50}"
        echo "reconnect_max_ms = ${RECONNECT_MAX_MS:-400}"
        echo "handshake_timeout_ms = ${HANDSHAKE_MS:-3000}"
        echo "idle_timeout_ms = ${IDLE_MS:-120000}"
        echo "shutdown_timeout_ms = 3000"
        # Two worker loops on any machine (the default is half its CPUs): channels on different
        # threads. WORKERS= (empty) leaves the daemon's default, as the benchmarks do.
        [ -n "${WORKERS-2}" ] && echo "workers = ${WORKERS-2}"
        [ -n "${EXTRA_DAEMON:-}" ] && echo "$EXTRA_DAEMON"
        echo "[tls]"
        echo "cert = $W/$cert.pem"
        echo "key = $W/$cert.key"
        echo "ca = $W/$ca.pem"
        [ -n "${CRL:-}" ] && echo "crl = $CRL"
        [ -n "${EXTRA_TLS:-}" ] && printf '%b\n' "$EXTRA_TLS"
        while [ $# -ge 2 ]; do
            echo "[peer $1]"
            echo "address = 127.0.0.1:$2"
            [ -n "${EXTRA_PEER:-}" ] && printf '%b\n' "$EXTRA_PEER"
            shift 2
        done
    } >"$W/$node.ini"
}

# start NODE: runs vmcs12d in the background, waits for its control socket.
# A restart waits for the new daemon to answer, not for the socket its killed predecessor left.
start() {
    local stale=
    [ -S "$W/$1.sock" ] && stale=1
    if [ -n "${V12_VALGRIND:-}" ]; then
        # Memcheck: every error goes to the node's .vg log as it happens (a kill -9 leaves no summary).
        valgrind --quiet --vgdb=no --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
            --log-file="$W/$1.vg.%p" "$D" --config "$W/$1.ini" >>"$W/$1.log" 2>&1 &
    else
        "$D" --config "$W/$1.ini" >>"$W/$1.log" 2>&1 &
    fi
    local pid=$!
    PIDS+=("$pid")
    eval "PID_$1=$pid"
    for _ in $(seq $((${V12_VALGRIND:+4*}100))); do
        [ -S "$W/$1.sock" ] && { [ -z "$stale" ] || "$C" status --socket "$W/$1.sock" >/dev/null 2>&1; } && return 0
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    bad "daemon $1 did not start"
    return 1
}

# wait_peer NODE PEER STATE [SECONDS]
wait_peer() {
    local want=$3 t=${4:-10}
    for _ in $(seq $((t * 20))); do
        "$C" status --socket "$W/$1.sock" --json 2>/dev/null |
            python3 -c 'import json,sys; d=json.load(sys.stdin); sys.exit(0 if any(p["name"]==sys.argv[1] and p["state"]==sys.argv[2] for p in d["peers"]) else 1)' "$2" "$want" && return 0
        sleep 0.05
    done
    return 1
}

# wait_listen PORT|/PATH [SECONDS]: until something listens on that loopback TCP port or unix
# socket (a sink a test started in the background; a fixed sleep loses the race on a loaded machine).
wait_listen() {
    local t=${2:-10}
    for _ in $(seq $((t * 20))); do
        case $1 in
        /*) [ -n "$(ss -Hxl src "$1")" ] && return 0 ;;
        *) [ -n "$(ss -Hltn "sport = :$1")" ] && return 0 ;;
        esac
        sleep 0.05
    done
    bad "nothing listens on $1 after $t s"
    return 1
}

# wait_log FILE PATTERN [SECONDS] [COUNT]: until COUNT (default 1) lines of FILE match (grep -E),
# or fail after SECONDS.
wait_log() {
    local t=${3:-10} want=${4:-1}
    for _ in $(seq $((t * 20))); do
        [ "$(grep -Ec -- "$2" "$1" 2>/dev/null)" -ge "$want" ] 2>/dev/null && return 0
        sleep 0.05
    done
    return 1
}

# expect EXIT PATTERN -- cmd...: exit code and a stderr match.
expect() {
    local want=$1 pat=$2
    shift 3
    "$@" >"$W/out" 2>"$W/err"
    local got=$?
    if [ "$got" != "$want" ]; then
        bad "exit $got, want $want: $*"
        cat "$W/err" >&2
        return 1
    fi
    if [ -n "$pat" ] && ! grep -qE -- "$pat" "$W/err"; then
        bad "stderr lacks '$pat': $*"
        cat "$W/err" >&2
        return 1
    fi
    ok
}

alive() { kill -0 "$1" 2>/dev/null; }
rss() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; } # rss PID: resident set in KiB
