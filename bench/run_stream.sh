#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The stream-mode benchmark: one paused guest with MEM_MB (default 512) MiB of random RAM
# migrated by a real QEMU (TCG) five ways, in the same run, best of ROUNDS (default 3):
#   direct           source QEMU -> destination QEMU (plain TCP)
#   relay            through a plain TCP relay (socat), no TLS
#   qemu-tls         QEMU's own TLS (tls-creds-x509, TLS 1.3, mutual authentication)
#   stunnel          through a stunnel pair (TLS 1.3, mutual authentication)
#   vmcs12d          through two vmcs12d (mutual TLS 1.3, the stream parsed and checked)
# Timed from the migrate command until the destination has loaded everything.
#   bench/run_stream.sh [BUILD_DIR]     (needs stunnel4, socat, qemu-system-x86)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
B=${1:-$ROOT/build-rel}
WORKERS=${WORKERS-} # the daemon's default worker count unless asked
source "$ROOT/tests/integration/lib.sh" "$B/daemon/vmcs12d" "$B/cli/vmcs12ctl"
source "$ROOT/bench/stunnel.sh"
MEM=${MEM_MB:-512} ROUNDS=${ROUNDS:-3}
P=python3
mkca ca
mkcert hosta ca DNS:hosta
mkcert hostb ca DNS:hostb
PA=$(free_port) PB=$(free_port) QL=$(free_port) QT=$(free_port) PR=$(free_port) PS1=$(free_port) PS2=$(free_port)
EXTRA_PEER="stream_listen = tcp:127.0.0.1:$QL\nstream_target = tcp:127.0.0.1:$QT" config hosta legacy linux-6.18 "$PA" hosta ca hostb "$PB"
EXTRA_DAEMON="stream_allow = tcp:127.0.0.1:$QT" config hostb encoded "" "$PB" hostb ca hosta "$PA"
start hosta
start hostb
wait_peer hosta hostb connected
socat TCP-LISTEN:"$PR",bind=127.0.0.1,reuseaddr,fork TCP:127.0.0.1:"$QT" & PIDS+=($!)
stunnel_pair "$PS1" "$PS2" "$QT"
# QEMU's own TLS: its file names in one directory, the server certificate for "hostb".
mkdir -p "$W/qtls"
cp "$W/ca.pem" "$W/qtls/ca-cert.pem"
cp "$W/hostb.pem" "$W/qtls/server-cert.pem"
cp "$W/hostb.key" "$W/qtls/server-key.pem"
cp "$W/hosta.pem" "$W/qtls/client-cert.pem"
cp "$W/hosta.key" "$W/qtls/client-key.pem"
echo "generating $MEM MiB of random guest RAM"
head -c $((MEM << 20)) /dev/urandom >"$W/src.ram"
sleep 1
declare -A best
for r in $(seq "$ROUNDS"); do
    for path in direct relay qemu-tls stunnel vmcs12d; do
        case $path in
        direct) port=$QT extra= ;;
        relay) port=$PR extra= ;;
        qemu-tls) port=$QT extra=tls ;;
        stunnel) port=$PS1 extra= ;;
        vmcs12d) port=$QL extra= ;;
        esac
        read -r t check < <($P "$ROOT/bench/stream_bench.py" "$W" "$W/src.ram" "$MEM" "$port" "$QT" $extra)
        echo "round $r $path: $t s ($check)"
        [ "$check" = ram-identical ] || { echo "bench: $path: destination RAM differs" >&2; exit 1; }
        if [ -z "${best[$path]:-}" ] || python3 -c "import sys; sys.exit(0 if $t < ${best[$path]} else 1)"; then best[$path]=$t; fi
    done
done
echo "best of $ROUNDS, $MEM MiB:"
for path in direct relay qemu-tls stunnel vmcs12d; do echo "  $path ${best[$path]} s"; done
python3 -c "
v, s, q = ${best[vmcs12d]}, ${best[stunnel]}, ${best[qemu-tls]}
print('vmcs12d / stunnel = %.3f (target <= 1.0); vmcs12d / QEMU TLS = %.3f (target <= 0.7)' % (v / s, v / q))"
grep -h 'stream from peer hosta' "$W/hostb.log" | tail -1
