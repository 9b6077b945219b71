#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Stream mode with a real QEMU (TCG): a paused guest whose RAM is a memory-backend-file full of
# random bytes migrates through two vmcs12d over mutual TLS on loopback (source: legacy host,
# destination: encoded host); the destination reaches the run state a direct migration gives
# and its RAM file is byte-identical to the source's. Then with multifd and with the return
# path. Then nested-state conversion in the daemon: a stream recorded from QEMU with nested
# state spliced in goes through the pair and arrives converted; an invalid one ends the
# migration on both sides with the vCPU named; a target not in stream_allow is refused (a TCP
# port, and a unix socket just past an allowed range). The
# stream listener announces Ethernet's MSS to whoever connects.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../integration/lib.sh" "$1" "$2"
Q="python3 $HERE/qmp.py"
G="python3 $HERE/../gen/gen_stream.py"
MEM=${MEM_MB:-64}

mkca ca
mkcert hosta ca DNS:hosta
mkcert hostb ca DNS:hostb
PA=$(free_port) PB=$(free_port) QL=$(free_port) QT=$(free_port) PM=$(free_port)
EXTRA_PEER="stream_listen = tcp:127.0.0.1:$QL\nstream_target = tcp:127.0.0.1:$QT" config hosta legacy linux-6.18 "$PA" hosta ca hostb "$PB"
EXTRA_DAEMON="stream_allow = tcp:127.0.0.1:$QT, unix:$W/qemu.sock, unix:$W/q-{1-3}.sock
metrics_listen = 127.0.0.1:$PM" config hostb encoded "" "$PB" hostb ca hosta "$PA"
start hosta && start hostb
wait_peer hosta hostb connected || bad "peers"

source "$HERE/qemu.sh"

migrate() { # migrate TAG [capabilities...]: source -> hosta stream_listen -> hostb -> destination
    local tag=$1
    shift
    through "$tag" "$QL" "$QT" "$@"
}

migrate plain
grep -q "stream from peer hosta .* channel 0 (main" "$W/hostb.log" && ok || bad "no stream log on hostb"
migrate multifd multifd
n=$(grep -c "stream from peer hosta .*(multifd" "$W/hostb.log")
[ "$n" -ge 2 ] && ok || bad "multifd: $n multifd channels relayed"
grep -qE "migration [^ ]+ from peer hosta ended: 3 channels, [0-9.]+ MiB" "$W/hostb.log" && ok || bad "multifd: no per-migration summary over its 3 channels"
migrate rp return-path
grep -E "stream to peer hostb .* [1-9][0-9]* bytes back" "$W/hosta.log" >/dev/null && ok || bad "return path carried nothing back"
# The switchover as hostb saw it, and (return path) how long the destination QEMU took to answer.
grep -qE "stream from peer hosta .*\(main, .*held [0-9.]+ ms until walked, switchover [0-9.]+ ms" "$W/hostb.log" && ok || bad "no switchover time logged"
grep -qE "switchover [0-9.]+ ms \(QEMU answered [0-9.]+ ms later\)" "$W/hostb.log" && ok || bad "no return-path answer time logged"

# --- nested state through the daemons ------------------------------------------------------------
# The destination here is a listener that records what it receives (QEMU cannot load nested
# state without KVM); the source is the recorded stream with nested state spliced in.
head -c $((MEM << 20)) /dev/urandom >"$W/rec.ram"
qemu rec "$W/rec.ram"
$Q "$W/rec.qmp" record "$W/rec.bin" >/dev/null && ok || bad "recording a stream"
$G splice 21 "$W/rec.bin" "$W/spl" >/dev/null
sink "$QT" "$W/got.bin"
send "$QL" "$W/spl-legacy.bin"
wait $SINK
cmp -s "$W/got.bin" "$W/spl-encoded.bin" && ok || bad "spliced stream not converted to the encoded layout in flight"
# The stream listener announces Ethernet's MSS, not loopback's 64 KiB, which would let QEMU's send
# buffer grow to 4 MiB that drain after the guest has stopped (daemon/stream/stream.c, QEMU_LEG_MSS).
m=$(cat "$W/send.mss")
[ "$m" -gt 0 ] && [ "$m" -le 1460 ] && ok || bad "QEMU's side of the stream listener used an MSS of $m, want at most 1460"
grep -q "3 nested-state regions converted" "$W/hostb.log" && ok || bad "conversion count not logged"
# An invalid nested state: the migration ends on both sides, the vCPU is named, nothing more flows.
$G bad "$W/bad" >/dev/null
sink "$QT" "$W/got-bad.bin"
send "$QL" "$W/bad/bad-revision.bin"
wait $SINK
[ "$(stat -c %s "$W/got-bad.bin")" -lt "$(stat -c %s "$W/bad/bad-revision.bin")" ] && ok || bad "invalid stream delivered whole"
grep -q "vCPU 0 (cpu section instance 0): nested state refused" "$W/hostb.log" && ok || bad "refusal not logged with the vCPU"
# Metrics after the migrations: started, finished, failed (the refused stream), channels, regions.
python3 "$HERE/../integration/scrape.py" "127.0.0.1:$PM" 'vmcs12d_stream_migrations_started_total>=5' \
    'vmcs12d_stream_migrations_finished_total>=4' 'vmcs12d_stream_migrations_failed_total>=1' \
    'vmcs12d_stream_channels_started_total>=7' 'vmcs12d_nested_state_regions_converted_total>=3' \
    'vmcs12d_stream_bytes_total{direction="forward"}>=100000000' \
    'vmcs12d_stream_migrations_in_flight>=0' 'vmcs12d_stream_switchover_seconds_count>=3' \
    'vmcs12d_stream_switchover_seconds_bucket{le="+Inf"}>=3' >"$W/metrics.txt" 2>&1 && ok || bad "metrics: $(cat "$W/metrics.txt")"
# Live progress: a destination QEMU that does not read (until the test says so) leaves the
# channel in flight, and vmcs12ctl status shows it with its bytes. Poll for it rather than
# sleep a fixed time: under TSan the channel takes seconds to open.
python3 -c '
import os, socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(1); c, _ = s.accept()
end = time.monotonic() + 120
while not os.path.exists(sys.argv[2]) and time.monotonic() < end: time.sleep(0.05)
while c.recv(65536): pass
' "$QT" "$W/slow.go" &
SLOW=$!
wait_listen "$QT"
send "$QL" "$W/spl-legacy.bin" &
SENDER=$!
live=1
for _ in $(seq 1 300); do
    "$C" status --socket "$W/hostb.sock" --json >"$W/live.json" || break
    python3 -c '
import json, sys
s = json.load(open(sys.argv[1]))["streams"]
assert any(t["direction"] == "in" and t["kind"] == "main" and t["bytes"] > 0 for t in s), s
' "$W/live.json" 2>/dev/null && { live=0; break; }
    sleep 0.1
done
[ $live = 0 ] && ok || bad "status does not show the stream in flight: $(cat "$W/live.json")"
"$C" status --socket "$W/hostb.sock" | grep -q '^stream from peer hosta migration .* (main, ' && ok || bad "status text"
touch "$W/slow.go"
wait $SENDER $SLOW

# open_stream ADDR: the start of a migration stream to a stream listener (a port on 127.0.0.1, or
# a unix socket's path), then read until the daemon closes the connection.
open_stream() {
    timeout 30 python3 -c '
import socket, sys
a = sys.argv[1]
c = socket.socket(socket.AF_UNIX if a.startswith("/") else socket.AF_INET)
c.connect(a if a.startswith("/") else ("127.0.0.1", int(a)))
c.sendall(b"QEVM\x00\x00\x00\x03"); c.settimeout(10)
try:
    while c.recv(100): pass
except OSError: pass
' "$1"
}

# A target the destination does not allow: a second source (hosta's certificate) whose
# stream_target is not in hostb's stream_allow.
QX=$(free_port) PX=$(free_port)
NODE_NAME=hosta EXTRA_PEER="stream_listen = tcp:127.0.0.1:$QX\nstream_target = tcp:127.0.0.1:$PA" config hostx legacy linux-6.18 "$PX" hosta ca hostb "$PB"
start hostx && wait_peer hostx hostb connected
open_stream "$QX"
grep -q "refused: not permitted by stream_allow" "$W/hostb.log" && ok || bad "stream_allow not enforced"
# A unix target just past the end of an allowed range (unix:.../q-{1-3}.sock): refused as well.
NODE_NAME=hosta EXTRA_PEER="stream_listen = unix:$W/mx.sock\nstream_target = unix:$W/q-4.sock" config hostr legacy linux-6.18 "$(free_port)" hosta ca hostb "$PB"
start hostr && wait_peer hostr hostb connected
open_stream "$W/mx.sock"
grep -q "stream to 'unix:$W/q-4.sock' refused: not permitted by stream_allow" "$W/hostb.log" && ok || bad "a unix target outside an allowed range not refused"
[ ! -e "$W/q-4.sock" ] && ok || bad "something was created at the refused target"
# Unix-socket endpoints on both sides (libvirt's unix:// migration URIs).
QU=$(free_port)
NODE_NAME=hosta EXTRA_PEER="stream_listen = unix:$W/mig.sock\nstream_target = unix:$W/qemu.sock" config hostu legacy linux-6.18 "$QU" hosta ca hostb "$PB"
start hostu && wait_peer hostu hostb connected
timeout 60 python3 -c '
import os, socket, sys
s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(1); c, _ = s.accept()
with open(sys.argv[2], "wb") as f:
    while True:
        b = c.recv(65536)
        if not b: break
        f.write(b)
' "$W/qemu.sock" "$W/got-unix.bin" &
USINK=$!
wait_listen "$W/qemu.sock"
timeout 60 python3 -c '
import socket, sys
c = socket.socket(socket.AF_UNIX); c.connect(sys.argv[1])
c.sendall(open(sys.argv[2], "rb").read()); c.shutdown(socket.SHUT_WR); c.settimeout(20)
try:
    while c.recv(65536): pass
except OSError: pass
' "$W/mig.sock" "$W/spl-legacy.bin"
wait $USINK
cmp -s "$W/got-unix.bin" "$W/spl-encoded.bin" && ok || bad "unix-socket stream not relayed and converted"
# stream_passthrough: a destination that trusts this peer's streams forwards them unparsed — even
# one whose nested state is invalid arrives byte for byte.
PP=$(free_port) PQ=$(free_port) QP=$(free_port) QPT=$(free_port)
NODE_NAME=hostb EXTRA_DAEMON="stream_allow = tcp:127.0.0.1:$QPT" EXTRA_PEER="stream_passthrough = yes" config hostp encoded "" "$PP" hostb ca hosta "$PQ"
NODE_NAME=hosta EXTRA_PEER="stream_listen = tcp:127.0.0.1:$QP\nstream_target = tcp:127.0.0.1:$QPT" config hostq legacy linux-6.18 "$PQ" hosta ca hostb "$PP"
start hostp && start hostq && wait_peer hostq hostb connected
sink "$QPT" "$W/got-pass.bin"
send "$QP" "$W/bad/bad-revision.bin"
wait $SINK
cmp -s "$W/got-pass.bin" "$W/bad/bad-revision.bin" && ok || bad "pass-through changed the stream"
grep -q "(pass-through: not checked)" "$W/hostp.log" && ok || bad "pass-through not logged"
alive "$PID_hostb" && alive "$PID_hosta" && ok || bad "a daemon died"
finish
