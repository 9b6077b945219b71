#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# vmcs12ctl end to end: golden conversions both ways for every profile, every bad input
# (exact error, exit code, nothing written, an existing output survives), usage errors, and
# every subcommand's --help.
set -uo pipefail
C=$1
DATA=$2
S=$DATA/samples
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
pass=0 fail=0

ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }

# expect EXIT PATTERN -- command...: exit status and a stderr line matching PATTERN (or '' for none).
expect() {
    local want=$1 pat=$2
    shift 3
    "$@" >"$T/stdout" 2>"$T/stderr"
    local got=$?
    if [ "$got" != "$want" ]; then bad "exit $got, want $want: $*"; cat "$T/stderr" >&2; return; fi
    if [ -n "$pat" ] && ! grep -q -- "$pat" "$T/stderr"; then bad "stderr lacks '$pat': $*"; cat "$T/stderr" >&2; return; fi
    ok
}

# --- golden conversions, both directions, every profile --------------------------------
for s in vmx-l1 vmx-l2-shadow vmx-evmcs vmx-l1-linux-4.19 vmx-l1-linux-5.13 vmx-l1-linux-5.14; do
    p=linux-6.18
    case $s in *4.19) p=linux-4.19 ;; *5.13) p=linux-5.13 ;; *5.14) p=linux-5.14 ;; esac
    expect 0 '' -- "$C" convert --to encoded --profile "$p" -o "$T/e.bin" "$S/$s-legacy.bin"
    cmp -s "$T/e.bin" "$S/$s-encoded.bin" && ok || bad "$s legacy->encoded differs from golden"
    expect 0 '' -- "$C" convert --to legacy --profile "$p" -o "$T/l.bin" "$S/$s-encoded.bin"
    cmp -s "$T/l.bin" "$S/$s-legacy.bin" && ok || bad "$s encoded->legacy differs from golden"
done
# stdin -> stdout, and a bare region.
"$C" convert --to encoded <"$S/vmx-l1-legacy.bin" >"$T/e.bin" && cmp -s "$T/e.bin" "$S/vmx-l1-encoded.bin" && ok || bad "stdin/stdout"
"$C" convert --raw --to encoded "$S/region-legacy.bin" | cmp -s - "$S/region-encoded.bin" && ok || bad "raw legacy->encoded"
"$C" convert --raw --to legacy "$S/region-encoded.bin" | cmp -s - "$S/region-legacy.bin" && ok || bad "raw encoded->legacy"
# Headers without regions and SVM blobs pass through byte for byte.
for s in vmx-off vmx-vmxon-only svm-guest svm-off; do
    "$C" convert --to encoded "$S/$s.bin" | cmp -s - "$S/$s.bin" && ok || bad "$s not passed through"
done
# Legacy -> legacy re-targeting: 6.18 -> 5.14 -> 6.18 works when CET is zero ...
"$C" convert --to legacy --profile linux-5.14 "$S/vmx-l1-linux-5.14-encoded.bin" -o "$T/l514.bin" && ok || bad "encoded->5.14"
expect 0 '' -- "$C" convert --from legacy --to legacy --from-profile linux-5.14 --to-profile linux-6.18 -o "$T/l618.bin" "$T/l514.bin"
expect 0 '' -- "$C" convert --from legacy --to legacy --from-profile linux-6.18 --to-profile linux-5.14 -o "$T/back.bin" "$T/l618.bin"
cmp -s "$T/back.bin" "$T/l514.bin" && ok || bad "5.14 -> 6.18 -> 5.14 not identity"
# ... and refuses a field the older kernel has no place for.
expect 1 'tsc_multiplier at offset .* \[FIELD_NO_HOME\]' -- "$C" convert --from legacy --to legacy --to-profile linux-5.13 "$S/vmx-l1-legacy.bin" -o "$T/x.bin"
[ ! -e "$T/x.bin" ] && ok || bad "output written after FIELD_NO_HOME"

# --- reports ---------------------------------------------------------------------------
expect 0 'fields: 151 converted' -- "$C" convert --to encoded --report "$S/vmx-l1-legacy.bin" -o "$T/r.bin"
"$C" convert --to encoded --report --json "$S/vmx-l2-shadow-legacy.bin" -o "$T/r.bin" 2>"$T/rep.json" &&
    python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); assert r["regions"]==2 and r["fields_converted"]==302 and r["to"]=="encoded", r' "$T/rep.json" && ok || bad "json report"
expect 0 'vmcs12 bytes 998..4095: 1 non-zero' -- "$C" convert --to encoded --padding ignore --report "$DATA/bad/padding-fred-tail.bin" -o "$T/r.bin"
"$C" validate "$T/r.bin" >/dev/null 2>&1 && ok || bad "ignore-mode output not clean"

# --- every bad input: exact error, exit 1, nothing written, existing output kept --------
while IFS=$'\t' read -r f code args; do
    case $f in \#*) continue ;; esac
    rm -f "$T/out.bin"
    # shellcheck disable=SC2086
    expect 1 "\[$code\]" -- "$C" convert $args -o "$T/out.bin" "$DATA/bad/$f"
    [ ! -e "$T/out.bin" ] && ok || bad "$f: output written"
    echo precious >"$T/keep.bin"
    # shellcheck disable=SC2086
    "$C" convert $args -o "$T/keep.bin" "$DATA/bad/$f" 2>/dev/null
    [ "$(cat "$T/keep.bin")" = precious ] && ok || bad "$f: existing output clobbered"
    # shellcheck disable=SC2086
    "$C" convert $args "$DATA/bad/$f" >"$T/so.bin" 2>/dev/null
    [ ! -s "$T/so.bin" ] && ok || bad "$f: bytes on stdout"
    [ "$(ls "$T" | grep -c '\.tmp\.')" = 0 ] && ok || bad "$f: temporary file left behind"
    [ "$(wc -l <"$T/stderr")" = 1 ] && ok || bad "$f: not exactly one line on stderr"
done <"$DATA/bad/cases.tsv"

# --- I/O and usage errors ----------------------------------------------------------------
expect 1 'cannot read input: No such file or directory \[ENOENT\]' -- "$C" convert --to encoded "$T/missing.bin"
expect 1 'cannot read input: Is a directory' -- "$C" convert --to encoded "$T"
expect 1 'cannot write output: No such file or directory' -- "$C" convert --to encoded -o "$T/no/such/dir/o.bin" "$S/vmx-l1-legacy.bin"
cp "$S/vmx-l1-legacy.bin" "$T/same.bin"
expect 2 'is the input file' -- "$C" convert --to encoded -o "$T/same.bin" "$T/same.bin"
ln -s same.bin "$T/alias.bin"
expect 2 'is the input file' -- "$C" convert --to encoded -o "$T/alias.bin" "$T/same.bin"
cmp -s "$T/same.bin" "$S/vmx-l1-legacy.bin" && ok || bad "input modified"
expect 2 'unknown profile' -- "$C" convert --to legacy --profile linux-3.1 "$S/vmx-l1-legacy.bin"
expect 2 'unknown layout' -- "$C" convert --to bogus "$S/vmx-l1-legacy.bin"
expect 2 'required' -- "$C" convert "$S/vmx-l1-legacy.bin"
expect 2 'unrecognized option' -- "$C" convert --to encoded --frobnicate "$S/vmx-l1-legacy.bin"
expect 2 'unknown padding' -- "$C" convert --to encoded --padding lax "$S/vmx-l1-legacy.bin"
expect 2 'one input at most' -- "$C" convert --to encoded a b
expect 2 'unknown command' -- "$C" frobnicate
expect 2 'two inputs' -- "$C" diff "$S/vmx-l1-legacy.bin"

for cmd in convert inspect validate layout diff; do
    expect 0 '' -- "$C" "$cmd" --help
    grep -q "^usage: vmcs12ctl $cmd" "$T/stdout" && ok || bad "$cmd --help"
done
expect 0 '' -- "$C" --version
grep -q '^vmcs12ctl [0-9]' "$T/stdout" && ok || bad "--version"

# --- inspect, validate, layout, diff -----------------------------------------------------
expect 0 '' -- "$C" inspect "$S/vmx-l2-shadow-legacy.bin"
grep -q 'flags *0x0003 (GUEST_MODE|RUN_PENDING)' "$T/stdout" && grep -q 'shadow vmcs12 (offset 4224' "$T/stdout" &&
    grep -q '^  guest_rip *0x681e' "$T/stdout" && ok || bad "inspect text"
# The same fields by name whatever the layout.
"$C" inspect "$S/vmx-l2-shadow-legacy.bin" | grep -E '^  [a-z]' | grep -v revision_id >"$T/a.txt"
"$C" inspect "$S/vmx-l2-shadow-encoded.bin" | grep -E '^  [a-z]' | grep -v revision_id >"$T/b.txt"
[ -s "$T/a.txt" ] && diff -q "$T/a.txt" "$T/b.txt" >/dev/null && ok || bad "inspect differs across layouts"
"$C" inspect --json "$S/vmx-l1-encoded.bin" | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["regions"][0]["layout"]=="encoded" and d["header"]["format_name"]=="vmx"' && ok || bad "inspect json"
expect 1 'VMXON_PA_UNALIGNED' -- "$C" inspect "$DATA/bad/vmxon-unaligned.bin"
expect 0 '' -- "$C" validate "$S/vmx-l2-shadow-encoded.bin"
grep -q 'valid VMX nested state, 8320 bytes, 2 vmcs12 regions' "$T/stdout" && ok || bad "validate message"
expect 1 'PADDING_NONZERO' -- "$C" validate "$DATA/bad/padding-fred-tail.bin"
expect 0 '' -- "$C" validate --padding ignore "$DATA/bad/padding-fred-tail.bin"
printf 'x' | dd of="$T/multi.bin" bs=1 seek=$((128 + 2000)) conv=notrunc status=none
cp "$S/vmx-l1-legacy.bin" "$T/multi.bin"
python3 - "$T/multi.bin" <<'PY'
import struct, sys
p = sys.argv[1]
b = bytearray(open(p, "rb").read())
struct.pack_into("<H", b, 0, 0x12)       # unknown flag + RUN_PENDING without GUEST_MODE
struct.pack_into("<H", b, 24, 0x4)       # unknown smm flag
b[128 + 20] = 1                          # padding[7]
b[128 + 3000] = 1                        # tail
open(p, "wb").write(b)
PY
expect 1 'invalid: 5 problems' -- "$C" validate "$T/multi.bin"
[ "$(grep -c '\[' "$T/stderr")" = 5 ] && ok || bad "validate did not list every problem"
expect 0 '' -- "$C" layout --layout encoded --json
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert len(d["fields"])==199' "$T/stdout" && ok || bad "layout json"
expect 0 '' -- "$C" layout --profile linux-4.19
grep -q 'encls_exiting_bitmap' "$T/stdout" && bad "4.19 layout lists encls" || ok
grep -q 'bytes 320..343 (24)' "$T/stdout" && ok || bad "4.19 padding 320..343"
expect 0 '' -- "$C" diff "$S/vmx-l2-shadow-legacy.bin" "$S/vmx-l2-shadow-encoded.bin"
grep -q 'no differences' "$T/stdout" && ok || bad "diff across layouts"
expect 3 '' -- "$C" diff "$S/vmx-l1-legacy.bin" "$S/vmx-l2-shadow-encoded.bin"
grep -q '^vmcs12.guest_rip: ' "$T/stdout" && grep -q '^shadow_vmcs12: absent -> present' "$T/stdout" && ok || bad "diff output"

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
