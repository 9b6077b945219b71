#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# QEMU helpers for the stream tests (sourced after lib.sh: uses W, PIDS, MEM).
#   qemu NAME RAMFILE [extra args]   a paused q35 TCG guest with its RAM in RAMFILE, QMP at $W/NAME.qmp
#                                    (QEMU_START= for one that runs; QEMU_BIOS=FILE for its firmware;
#                                    QEMU=BINARY, default qemu-system-x86_64 or a suite's wrapper;
#                                    QEMU_MACHINE, default q35)
#   incoming NAME URI                the destination NAME starts listening for a migration on URI
#   sink PORT OUT                    accept one connection on PORT, write what arrives to OUT; SINK: its pid
#   send PORT FILE                   connect to PORT, send FILE, read until the other side closes
#   pair TAG URI [CAP...]            a source src-TAG with $MEM MiB of random RAM and a destination
#                                    dst-TAG (zeroed RAM, CAPs set) listening on URI; DST: its pid
#                                    (QEMU_SRC / QEMU_DST: the binary of each side, default $QEMU)
#   through TAG LISTEN TARGET [CAP...]  a pair TAG (CAPs on both sides) whose source migrates to tcp:127.0.0.1:LISTEN and
#                                    whose destination listens on tcp:127.0.0.1:TARGET: the
#                                    migration completes, the destination is paused with the
#                                    source's RAM (ok/bad from lib.sh); both QEMUs quit

qemu() {
    local name=$1 ram=$2
    shift 2
    # shellcheck disable=SC2086
    "${QEMU_BIN:-${QEMU:-qemu-system-x86_64}}" -machine "${QEMU_MACHINE:-q35}",accel=tcg -m "$MEM" -smp "${QEMU_SMP:-2}" -nographic -nodefaults ${QEMU_START--S} \
        ${QEMU_BIOS:+-bios "$QEMU_BIOS"} \
        -object memory-backend-file,id=mem,size=${MEM}M,mem-path="$ram",share=on -machine memory-backend=mem \
        -qmp unix:"$W/$name.qmp",server=on,wait=off "$@" >"$W/$name.log" 2>&1 &
    PIDS+=($!)
}

incoming() {
    python3 - "$W/$1.qmp" "$2" <<'PY'
import json, socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); f = s.makefile("rw")
f.readline()
for c in ({"execute": "qmp_capabilities"}, {"execute": "migrate-incoming", "arguments": {"uri": sys.argv[2]}}):
    f.write(json.dumps(c) + "\n"); f.flush()
    while True:
        r = json.loads(f.readline())
        if "return" in r or "error" in r: break
PY
}

pair() {
    local tag=$1 uri=$2
    shift 2
    head -c $((MEM << 20)) /dev/urandom >"$W/src-$tag.ram"
    : >"$W/dst-$tag.ram"
    truncate -s "${MEM}M" "$W/dst-$tag.ram"
    QEMU_BIN=${QEMU_SRC:-} qemu "src-$tag" "$W/src-$tag.ram"
    QEMU_BIN=${QEMU_DST:-} qemu "dst-$tag" "$W/dst-$tag.ram" -incoming defer
    DST=${PIDS[-1]}
    sleep 0.5
    [ $# -eq 0 ] || python3 "$(dirname "${BASH_SOURCE[0]}")/qmp.py" "$W/dst-$tag.qmp" caps "$@" >/dev/null
    incoming "dst-$tag" "$uri"
}

sink() {
    timeout 60 python3 -c '
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(1); c, _ = s.accept()
with open(sys.argv[2], "wb") as f:
    while True:
        b = c.recv(65536)
        if not b: break
        f.write(b)
' "$1" "$2" &
    SINK=$!
    wait_listen "$1"
}

# send PORT FILE: FILE's bytes as one connection, then wait for the far end to close; the MSS the
# connection used (what the listener announced) is left in $W/send.mss.
send() {
    timeout 60 python3 -c '
import socket, sys
c = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
open(sys.argv[3], "w").write("%d\n" % c.getsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG))
c.sendall(open(sys.argv[2], "rb").read()); c.shutdown(socket.SHUT_WR)
c.settimeout(20)
try:
    while c.recv(65536): pass
except OSError: pass
' "$1" "$2" "$W/send.mss"
}

through() {
    local tag=$1 listen=$2 target=$3 q="python3 $(dirname "${BASH_SOURCE[0]}")/qmp.py"
    shift 3
    pair "$tag" "tcp:127.0.0.1:$target" "$@"
    if $q "$W/src-$tag.qmp" migrate "tcp:127.0.0.1:$listen" "$@" >"$W/mig-$tag.out" 2>&1; then
        $q "$W/dst-$tag.qmp" wait-status paused 20 >/dev/null && cmp -s "$W/src-$tag.ram" "$W/dst-$tag.ram" && ok ||
            bad "$tag: destination not paused with the source's RAM"
    else
        bad "$tag: migration did not complete: $(cat "$W/mig-$tag.out")"
    fi
    $q "$W/src-$tag.qmp" quit >/dev/null 2>&1
    $q "$W/dst-$tag.qmp" quit >/dev/null 2>&1
    sleep 0.3 # the destination's listening port is free again for the next round
    rm -f "$W/src-$tag.ram" "$W/dst-$tag.ram"
}
