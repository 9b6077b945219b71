#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Guests that forge stream structure in their own state, on a real QEMU (TCG). The guest is a
# 64 KiB firmware image built here with binutils (forge/rom.S) that loads chosen bytes into
# XMM0-7, writes them to CMOS RAM and to the ICH9 chipset configuration registers (RCBA), and
# halts. The bytes (forge/forge.py) are cut to this QEMU's real section ids and sizes, learnt from
# a guest that forges nothing: nested-state headers (1 MiB, and header-only), footers followed by
# EOF and the description marker, a footer followed by a FULL `cpu` header, and in RCBA a whole
# description that walks up to its own end. Then:
#   * stream-convert leaves the recorded stream byte for byte and counts no nested state;
#   * the parser, made to stop reading exactly where the forged description ends, accepts it and
#     refuses what follows; read as a file it passes;
#   * nested state spliced in after the forgery is converted both ways, offline and in flight;
#   * the running guest migrates direct and through a vmcs12d pair alike (with and without the
#     return path): completed, RAM identical, the destination running.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../integration/lib.sh" "$1" "$2"
T=$3
Q="python3 $HERE/qmp.py"
G="python3 $HERE/../gen/gen_stream.py"
F="python3 $HERE/forge/forge.py"
MEM=16
for t in as ld "${QEMU:-qemu-system-x86_64}"; do command -v "$t" >/dev/null || { echo "$t is required (contrib/run.sh deps)" >&2; exit 1; }; done
source "$HERE/qemu.sh"
export QEMU_START= # running guests, as libvirt migrates them

rom() { # rom DIR: DIR/forge.bin -> DIR/rom.bin
    (cd "$1" && as --32 -o rom.o "$HERE/forge/rom.S" && ld -m elf_i386 -Ttext 0 --oformat binary -o rom.bin rom.o)
}
record() { # record NAME ROM: the stream of a running guest with that firmware
    head -c $((MEM << 20)) /dev/urandom >"$W/$1.ram"
    QEMU_BIOS=$2 qemu "$1" "$W/$1.ram"
    $Q "$W/$1.qmp" record "$W/$1.bin" >/dev/null
}

mkdir -p "$W/neutral" "$W/forged"
$F neutral "$W/neutral/forge.bin" && rom "$W/neutral" && ok || bad "building the neutral firmware"
record neutral "$W/neutral/rom.bin" && ok || bad "recording the neutral guest"
$F build "$W/neutral.bin" "$W/forged/forge.bin" && rom "$W/forged" && ok || bad "building the forging firmware"
ROM=$W/forged/rom.bin
record forged "$ROM" && ok || bad "recording the forging guest"
$F check "$W/forged.bin" >"$W/check.out" 2>&1 && ok || bad "the guest's forgeries are not in its stream: $(cat "$W/check.out")"

# --- offline ----------------------------------------------------------------------------------
"$C" stream-convert --to encoded --report -o "$W/forged.out" "$W/forged.bin" 2>"$W/rep" && cmp -s "$W/forged.out" "$W/forged.bin" &&
    ok || bad "stream-convert changed or refused the forging guest's stream: $(cat "$W/rep")"
grep -q "2 cpu sections, 0 nested states" "$W/rep" && ok || bad "forged structure counted: $(cat "$W/rep")"
END=$($F locate "$W/forged.bin")
"$T" auto encoded "$W/forged.bin" "$W/forged.bin" "forged=$END" >"$W/split.out" 2>&1 && ok || bad "splits: $(tail -3 "$W/split.out")"
$G splice 31 "$W/forged.bin" "$W/spl" >/dev/null && ok || bad "splicing nested state into the forging guest's stream"
"$C" stream-convert --to encoded --report -o "$W/spl.enc" "$W/spl-legacy.bin" 2>"$W/rep2" && cmp -s "$W/spl.enc" "$W/spl-encoded.bin" &&
    ok || bad "spliced nested state after the forgeries not converted: $(cat "$W/rep2")"
grep -q "2 cpu sections, 2 nested states, 3 vmcs12 regions" "$W/rep2" && ok || bad "spliced report: $(cat "$W/rep2")"
"$C" stream-convert --to legacy -o "$W/spl.leg" "$W/spl-encoded.bin" && cmp -s "$W/spl.leg" "$W/spl-legacy.bin" && ok || bad "spliced encoded -> legacy"
"$C" stream-inspect --json "$W/spl-legacy.bin" | python3 -c '
import json, sys
got = [json.loads(l)["offset"] for l in sys.stdin if "\"nested-state\"" in l]
want = [int(x) for x in open(sys.argv[1]).read().split()]
assert got == want, (got, want)
' <($G nested-offsets "$W/spl-legacy.bin") && ok || bad "stream-inspect: nested states not where the description puts them"

# --- live, direct and through a vmcs12d pair ---------------------------------------------------
mkca ca
mkcert hosta ca DNS:hosta
mkcert hostb ca DNS:hostb
PA=$(free_port) PB=$(free_port) QL=$(free_port) QT=$(free_port) QD=$(free_port)
EXTRA_PEER="stream_listen = tcp:127.0.0.1:$QL\nstream_target = tcp:127.0.0.1:$QT" config hosta legacy linux-6.18 "$PA" hosta ca hostb "$PB"
EXTRA_DAEMON="stream_allow = tcp:127.0.0.1:$QT" config hostb encoded "" "$PB" hostb ca hosta "$PA"
start hosta && start hostb
wait_peer hosta hostb connected || bad "peers"

live() { # live TAG DEST_PORT VIA_PORT [CAP...]: the forging guest, running, migrated
    local tag=$1 dport=$2 via=$3
    shift 3
    QEMU_BIOS=$ROM pair "$tag" "tcp:127.0.0.1:$dport" "$@"
    if $Q "$W/src-$tag.qmp" migrate-live "tcp:127.0.0.1:$via" "$@" >"$W/mig-$tag.out" 2>&1; then
        ok
        $Q "$W/dst-$tag.qmp" wait-status running 20 >"$W/st-$tag.out" && ok || bad "$tag: destination $(cat "$W/st-$tag.out"), want running"
        cmp -s "$W/src-$tag.ram" "$W/dst-$tag.ram" && ok || bad "$tag: destination RAM differs from the source's"
    else
        bad "$tag: migration did not complete: $(cat "$W/mig-$tag.out")"
    fi
    $Q "$W/src-$tag.qmp" quit >/dev/null 2>&1
    $Q "$W/dst-$tag.qmp" quit >/dev/null 2>&1
    sleep 0.3
    rm -f "$W/src-$tag.ram" "$W/dst-$tag.ram"
}
live direct "$QD" "$QD"
live relay "$QT" "$QL"
live relay-rp "$QT" "$QL" return-path
n=$(grep -c "stream from peer hosta .*(main, .*: ended" "$W/hostb.log")
[ "$n" = 2 ] && ok || bad "$n main channels ended cleanly on hostb, want 2"
grep -q "FAILED\|refused" "$W/hostb.log" && bad "a forging guest's migration was refused: $(grep 'FAILED\|refused' "$W/hostb.log" | head -3)" || ok

# The spliced stream in flight: converted by the destination daemon.
sink "$QT" "$W/got.bin"
send "$QL" "$W/spl-legacy.bin"
wait $SINK
cmp -s "$W/got.bin" "$W/spl-encoded.bin" && ok || bad "spliced nested state after the forgeries not converted in flight"
alive "$PID_hostb" && alive "$PID_hosta" && ok || bad "a daemon died"
finish
