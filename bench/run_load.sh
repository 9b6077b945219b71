#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Load on a vmcs12d pair over mutual TLS on loopback (not a timed test): CLIENTS (1000) control
# connections at once relay BLOBS (100000) blobs from hosta (legacy) to hostb (encoded, spool
# fsynced on this machine's disk), then hostb's spool is checked against the acknowledgements
# (none lost, none duplicated, every byte). Prints throughput, latency, peak RSS and CPU of
# both daemons; exits 1 if anything was lost, duplicated or wrong.
#   bench/run_load.sh [BUILD_DIR]    (Release build recommended)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
B=${1:-$ROOT/build-rel}
WORKERS=${WORKERS-} # the daemon's default worker count unless asked
source "$ROOT/tests/integration/lib.sh" "$B/daemon/vmcs12d" "$B/cli/vmcs12ctl"
CLIENTS=${CLIENTS:-1000} BLOBS=${BLOBS:-100000}
ulimit -n 8192

mkca ca
mkcert hosta ca DNS:hosta
mkcert hostb ca DNS:hostb
PA=$(free_port) PB=$(free_port)
EXTRA_DAEMON="max_connections = 4096" config hosta legacy linux-6.18 "$PA" hosta ca hostb "$PB"
config hostb encoded "" "$PB" hostb ca hosta "$PA"
sed -i 's/^\[daemon\]/[daemon]\nlog_level = notice/' "$W/hosta.ini" "$W/hostb.ini" # not a line per blob
start hosta && start hostb
wait_peer hosta hostb connected
cpu() { awk '{print ($14 + $15) / 100}' "/proc/$1/stat"; } # utime + stime, USER_HZ 100
hwm() { awk '/VmHWM/ {print $2}' "/proc/$1/status"; }
ca0=$(cpu "$PID_hosta") cb0=$(cpu "$PID_hostb")
# The most connections hosta held at once during the run (its status, every 0.5 s).
(while :; do "$C" status --socket "$W/hosta.sock" --json 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["connections"])' 2>/dev/null; sleep 0.5; done) >"$W/conns.txt" &
POLL=$!
python3 "$ROOT/bench/load.py" "$W/hosta.sock" hostb "$CLIENTS" "$BLOBS" "$ROOT/tests/data/samples/vmx-l1-legacy.bin" \
    "$ROOT/tests/data/samples/vmx-l1-encoded.bin" "$W/hostb.spool" >"$W/load.json"
kill "$POLL"
cat "$W/load.json"
echo "hosta: at most $(sort -n "$W/conns.txt" | tail -1) connections at once (status, sampled every 0.5 s)"
usage() { # usage NODE PID CPU_BEFORE: CPU seconds since, peak and current RSS
    echo "$1: CPU $(awk -v a="$(cpu "$2")" -v b="$3" 'BEGIN {print a - b}') s, peak RSS $(hwm "$2") KiB, now $(rss "$2") KiB"
}
usage hosta "$PID_hosta" "$ca0"
usage hostb "$PID_hostb" "$cb0"
"$C" status --socket "$W/hostb.sock" | grep -E '^(blobs|stored|rejected)' || true
python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
bad = r["acked"] != r["blobs"] or r["errors"] or r["missing"] or r["wrong_bytes"] or r["unacknowledged_files"] or r["duplicates_reported"]
sys.exit(1 if bad else 0)' "$W/load.json" && echo "load: every blob acknowledged once and stored byte for byte" ||
    { echo "load: LOST, DUPLICATED OR WRONG BLOBS"; exit 1; }
