#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The stream data path's CPU and wall time against its anchors (bench/stream_cpu.py says how):
# a real QEMU migration stream of MEM_MB (default 512) MiB of random guest RAM is recorded once,
# then replayed through direct, socat, the simplest TLS relay pair, a stunnel pair and a vmcs12d
# pair into a byte-counting sink; best of ROUNDS (default 3); then 2 streams at once.
#   bench/run_stream_cpu.sh [BUILD_DIR]   (a release build; needs qemu-system-x86, socat, stunnel4)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
B=${1:-$ROOT/build}
WORKERS=${WORKERS-} # the daemon's default worker count unless asked
source "$ROOT/tests/integration/lib.sh" "$B/daemon/vmcs12d" "$B/cli/vmcs12ctl"
MEM=${MEM_MB:-512} ROUNDS=${ROUNDS:-3}
for t in stream_tools tls_relay; do [ -x "$B/bench/$t" ] || { echo "build $B first (bench/$t)" >&2; exit 1; }; done
mkca ca
mkcert hosta ca DNS:hosta
mkcert hostb ca DNS:hostb
echo "== recording a migration stream: QEMU 7.2 (TCG, paused guest) with $MEM MiB of random RAM"
head -c $((MEM << 20)) /dev/urandom >"$W/ram"
qemu-system-x86_64 -machine q35,accel=tcg -m "$MEM" -smp 1 -nographic -nodefaults -S \
    -object memory-backend-file,id=mem,size="${MEM}M",mem-path="$W/ram",share=on -machine memory-backend=mem \
    -qmp unix:"$W/qmp",server=on,wait=off >"$W/qemu.log" 2>&1 &
PIDS+=($!)
python3 "$ROOT/tests/stream/qmp.py" "$W/qmp" record "$W/stream.bin" >/dev/null
rm -f "$W/ram"
echo "   $(stat -c %s "$W/stream.bin") bytes"
echo "== $(nproc) CPUs: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-)"
python3 "$ROOT/bench/stream_cpu.py" "$W" "$B" "$W/stream.bin" "$ROUNDS"
grep -h 'migration .* ended' "$W"/bench-hostb.log | tail -1 || true
