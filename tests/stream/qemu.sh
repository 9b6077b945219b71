#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# QEMU helpers for the stream tests (sourced after lib.sh: uses W, PIDS, MEM).
#   qemu NAME RAMFILE [extra args]   a paused q35 TCG guest with its RAM in RAMFILE, QMP at $W/NAME.qmp
#   incoming NAME URI                the destination NAME starts listening for a migration on URI
#   pair TAG URI [CAP...]            a source src-TAG with $MEM MiB of random RAM and a destination
#                                    dst-TAG (zeroed RAM, CAPs set) listening on URI; DST: its pid

qemu() {
    local name=$1 ram=$2
    shift 2
    qemu-system-x86_64 -machine q35,accel=tcg -m "$MEM" -smp "${QEMU_SMP:-2}" -nographic -nodefaults -S \
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
    qemu "src-$tag" "$W/src-$tag.ram"
    qemu "dst-$tag" "$W/dst-$tag.ram" -incoming defer
    DST=${PIDS[-1]}
    sleep 0.5
    [ $# -eq 0 ] || python3 "$(dirname "${BASH_SOURCE[0]}")/qmp.py" "$W/dst-$tag.qmp" caps "$@" >/dev/null
    incoming "dst-$tag" "$uri"
}
