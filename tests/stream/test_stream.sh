#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The stream parser and `vmcs12ctl stream-convert`: a synthetic stream built from the spec, the
# same with structure forged in its guest bytes (registers, CMOS), a stream recorded now from a
# real QEMU (TCG, paused guest, RAM in a memory-backend-file with random bytes) with nested state
# spliced into its cpu sections and its description, all converted both ways in every chunk
# split, read as a file and as the daemon reads; a real stream without nested state passes
# through byte for byte; every bad stream is refused with its message and nothing written.
set -uo pipefail
C=$1 T=$2 HERE=$(cd "$(dirname "$0")" && pwd)
W=$(mktemp -d)
trap 'pkill -f "qmp unix:$W/" 2>/dev/null; rm -rf "$W"' EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }
G="python3 $HERE/../gen/gen_stream.py"

# --- a real QEMU stream ----------------------------------------------------------------------
QEMU=${QEMU:-qemu-system-x86_64}
command -v "$QEMU" >/dev/null || { echo "$QEMU is required (contrib/run.sh deps installs it)" >&2; exit 1; }
head -c $((16 << 20)) /dev/urandom >"$W/ram"
"$QEMU" -machine q35,accel=tcg -m 16 -smp 2 -nographic -nodefaults -S \
    -object memory-backend-file,id=mem,size=16M,mem-path="$W/ram",share=on -machine memory-backend=mem \
    -qmp unix:"$W/qmp",server=on,wait=off >"$W/qemu.log" 2>&1 &
python3 "$HERE/qmp.py" "$W/qmp" record "$W/real.bin" >"$W/qmp.out" 2>&1 && ok || { bad "recording a stream from QEMU"; cat "$W/qmp.out" "$W/qemu.log" >&2; }
"$C" stream-convert --to encoded --report -o "$W/real.out" "$W/real.bin" 2>"$W/rep" && cmp -s "$W/real.out" "$W/real.bin" && ok || bad "real stream not passed through unchanged"
grep -q '2 cpu sections, 0 nested states' "$W/rep" && ok || { bad "real stream report"; cat "$W/rep" >&2; }

# --- nested state, both ways, every split --------------------------------------------------------
$G synth 11 "$W/syn"
$G synth 13 "$W/forg" forge
$G splice 12 "$W/real.bin" "$W/spl" >/dev/null
for s in syn forg spl; do
    F=
    [ "$s" = forg ] && F="forged=$(cat "$W/forg-forged-end.txt")"
    "$C" stream-convert --to encoded --report -o "$W/$s.enc" "$W/$s-legacy.bin" 2>"$W/$s.rep" && cmp -s "$W/$s.enc" "$W/$s-encoded.bin" && ok || bad "$s legacy -> encoded"
    "$C" stream-convert --to legacy -o "$W/$s.leg" "$W/$s-encoded.bin" && cmp -s "$W/$s.leg" "$W/$s-legacy.bin" && ok || bad "$s encoded -> legacy"
    # shellcheck disable=SC2086
    "$T" auto encoded "$W/$s-legacy.bin" "$W/$s-encoded.bin" $F && ok || bad "$s splits legacy -> encoded"
    # shellcheck disable=SC2086
    "$T" auto linux-6.18 "$W/$s-encoded.bin" "$W/$s-legacy.bin" $F && ok || bad "$s splits encoded -> legacy"
done
# Forged structure counts for nothing: the four real nested states (three vmcs12 regions), no more.
grep -q "4 cpu sections, 4 nested states, 3 vmcs12 regions" "$W/forg.rep" && ok || bad "forged stream report: $(cat "$W/forg.rep")"
grep -q "2 cpu sections, 2 nested states, 3 vmcs12 regions" "$W/spl.rep" && ok || bad "spliced stream report: $(cat "$W/spl.rep")"
# stream-inspect: nested states exactly where an independent walk of the description puts them
# (none of the forged ones), every record accounted for; a refused stream ends with its reason.
for s in forg spl; do
    "$C" stream-inspect --json "$W/$s-legacy.bin" >"$W/$s.ins" && ok || bad "stream-inspect $s"
    python3 -c '
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1])]
got = [e["offset"] for e in ev if e["kind"] == "nested-state"]
want = [int(x) for x in open(sys.argv[2]).read().split()]
assert got == want, (got, want)
assert ev[-1]["kind"] == "end" and ev[-1]["bytes"] == int(sys.argv[3]), ev[-1]
' "$W/$s.ins" <($G nested-offsets "$W/$s-legacy.bin") "$(stat -c %s "$W/$s-legacy.bin")" && ok || bad "stream-inspect $s: nested states not where the description puts them"
done
"$C" stream-inspect "$W/forg-legacy.bin" >"$W/forg.txt" && grep -q "EOF and VM description: 7 devices" "$W/forg.txt" &&
    grep -q "nested state: vCPU 0, format vmx, flags 0x1, size 8320, 2 regions (revisions 0x11e57ed0, 0x91e57ed0)" "$W/forg.txt" && ok || bad "stream-inspect text: $(tail -5 "$W/forg.txt")"
"$C" stream-inspect --help | grep -q '^usage: vmcs12ctl stream-inspect' && ok || bad "stream-inspect --help"

# stdin -> stdout
"$C" stream-convert --to encoded <"$W/syn-legacy.bin" >"$W/pipe.out" && cmp -s "$W/pipe.out" "$W/syn-encoded.bin" && ok || bad "stdin/stdout"

# --- bad streams -------------------------------------------------------------------------------
$G bad "$W/bad"
while IFS=$'\t' read -r f msg args; do
    case $f in \#*) continue ;; esac
    echo keep >"$W/keep.bin"
    # shellcheck disable=SC2086
    "$C" stream-convert $args -o "$W/keep.bin" "$W/bad/$f" 2>"$W/err" >/dev/null
    rc=$?
    [ "$rc" = 1 ] && grep -qF -- "$msg" "$W/err" && [ "$(cat "$W/keep.bin")" = keep ] && ok || { bad "$f: exit $rc: $(cat "$W/err")"; }
    # One line, printable ASCII only: no input byte reaches the terminal raw.
    [ "$(wc -l <"$W/err")" = 1 ] && ! LC_ALL=C grep -q '[^[:print:]]' "$W/err" && ok || bad "$f: message is not one printable line: $(od -c "$W/err" | head -5)"
    # shellcheck disable=SC2086
    "$C" stream-convert $args "$W/bad/$f" >"$W/so" 2>/dev/null
    [ ! -s "$W/so" ] && ok || bad "$f: bytes on stdout"
    # stream-inspect refuses it too, with the same reason, as its last JSON line (it converts
    # to nothing: a padding or target-layout refusal is not its business).
    case $f:$args in padding.bin:* | *legacy* | *control*) ;; *)
        "$C" stream-inspect --json "$W/bad/$f" >"$W/ins" 2>/dev/null
        [ $? = 1 ] && tail -1 "$W/ins" | grep -q '"kind":"refused"' && tail -1 "$W/ins" | grep -qF -- "$msg" && ok || bad "$f: stream-inspect: $(tail -1 "$W/ins")" ;;
    esac
done <"$W/bad/cases.tsv"
[ -z "$(ls "$W" | grep '\.tmp\.')" ] && ok || bad "temporary files left"
"$C" stream-convert --help | grep -q '^usage: vmcs12ctl stream-convert' && ok || bad "--help"
"$C" stream-convert --to sideways "$W/syn-legacy.bin" 2>/dev/null; [ $? = 2 ] && ok || bad "usage error exit"
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
