#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The relay benchmark: one 8320-byte blob from send to end-to-end ack through two vmcs12d over
# mutual TLS on loopback (p50, p99), and throughput with 64 concurrent senders; the same frames
# through a stunnel pair (TLS 1.3, mutual authentication) to a trivial ack sink, in the same
# run; daemon RSS idle and with 1000 idle control connections.
#   bench/run_relay.sh [BUILD_DIR]    (Release build recommended; needs stunnel4)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
B=${1:-$ROOT/build-rel}
WORKERS=${WORKERS-} # the daemon's default worker count unless asked
source "$ROOT/tests/integration/lib.sh" "$B/daemon/vmcs12d" "$B/cli/vmcs12ctl"
R=$B/bench/bench_relay
BLOB=$ROOT/tests/data/samples/vmx-l2-shadow-legacy.bin
N=${LAT_N:-2000} THREADS=${THREADS:-64} SECS=${SECS:-5}
ulimit -n 8192

mkca ca
mkcert hosta ca DNS:hosta
mkcert hostb ca DNS:hostb
PA=$(free_port) PB=$(free_port) PS=$(free_port) PT=$(free_port) PK=$(free_port)
config hosta legacy linux-6.18 "$PA" hosta ca hostb "$PB"
config hostb encoded "" "$PB" hostb ca hosta "$PA"
# The spool on the machine's disk ($W is under /tmp, on the root filesystem here): every
# blob is fsynced, as in production.
start hosta
start hostb
wait_peer hosta hostb connected
sleep 1
echo "idle RSS: hosta $(rss "$PID_hosta") KiB, hostb $(rss "$PID_hostb") KiB"

# stunnel pair: client (plain :PT) -> TLS 1.3 mutual auth -> server (:PS) -> sink (:PK)
cat >"$W/st-client.conf" <<EOC
foreground = yes
pid =
[c]
client = yes
accept = 127.0.0.1:$PT
connect = 127.0.0.1:$PS
cert = $W/hosta.pem
key = $W/hosta.key
CAfile = $W/ca.pem
verifyChain = yes
checkHost = hostb
sslVersionMin = TLSv1.3
EOC
cat >"$W/st-server.conf" <<EOC
foreground = yes
pid =
[s]
accept = 127.0.0.1:$PS
connect = 127.0.0.1:$PK
cert = $W/hostb.pem
key = $W/hostb.key
CAfile = $W/ca.pem
verifyChain = yes
requireCert = yes
sslVersionMin = TLSv1.3
EOC
"$R" sink "$PK" & PIDS+=($!)
stunnel4 "$W/st-server.conf" >"$W/st-server.log" 2>&1 & PIDS+=($!)
stunnel4 "$W/st-client.conf" >"$W/st-client.log" 2>&1 & PIDS+=($!)
sleep 1

echo "measuring: $N sequential blobs for latency, then $THREADS senders for $SECS s (each path)"
read -r sp50 sp99 stp < <("$R" tcp "$PT" "$BLOB" "$N" "$THREADS" "$SECS")
read -r vp50 vp99 vtp < <("$R" relay "$W/hosta.sock" hostb "$BLOB" "$N" "$THREADS" "$SECS")
echo "stunnel pair + ack sink : p50 ${sp50} us, p99 ${sp99} us, ${stp} blobs/s"
echo "vmcs12d pair (fsync)    : p50 ${vp50} us, p99 ${vp99} us, ${vtp} blobs/s"
python3 - "$sp50" "$sp99" "$stp" "$vp50" "$vp99" "$vtp" <<'PY'
import sys
sp50, sp99, stp, vp50, vp99, vtp = map(float, sys.argv[1:])
print("latency ratio p50 %.2f, p99 %.2f (target <= 1.0); throughput ratio %.2f (target >= 1.0)" % (vp50 / sp50, vp99 / sp99, vtp / stp))
PY
echo "after load RSS: hosta $(rss "$PID_hosta") KiB, hostb $(rss "$PID_hostb") KiB"
python3 "$ROOT/tests/integration/hostile.py" idle "$W/hostb.sock" 1000 3 >"$W/hold.out" &
holder=$!
sleep 2
echo "1000 idle control connections: hostb RSS $(rss "$PID_hostb") KiB"
wait $holder
cat "$W/hold.out"
python3 "$ROOT/tests/integration/hostile.py" hold "$W/hostb.sock" 1000 3 >"$W/hold.out" &
holder=$!
sleep 2
echo "1000 connections each holding half of a 60 KB frame: hostb RSS $(rss "$PID_hostb") KiB"
wait $holder
cat "$W/hold.out"
