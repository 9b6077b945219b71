#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Saved VMs across hosts with a real libvirt (the two libvirtd of hosts.sh): on host A a running
# TCG guest is saved with `virsh save` in every save_image_format libvirt 9.0 offers (raw, gzip,
# bzip2, xz, lzop) and once with `virsh managedsave`; vmcs12ctl stream-convert converts each
# image (header and XML kept byte for byte, the same compression); host B restores the
# converted image paused, and its RAM equals what host A's own restore of the original gives;
# then it runs. A nested state spliced into a real image's stream (as the stream tests do)
# converts both ways byte for byte; real images truncated, corrupted or with a wrong format
# field are refused with nothing written.
#   test_saveimage.sh VMCS12D VMCS12CTL
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../integration/lib.sh" "$(realpath "$1")" "$(realpath "$2")"
GEN=$HERE/../gen
S="python3 $GEN/saveimage.py"
source "$HERE/hosts.sh"
MEMB=$((128 << 20))

dump() { # dump HOST NAME FILE: the guest's RAM
    virsh_at "$1" qemu-monitor-command --hmp "$TOKEN-$2" "pmemsave 0 $MEMB \"$3\"" >/dev/null
}
restore_check() { # restore_check TAG ORIGINAL CONVERTED: B's restore of CONVERTED has A's RAM of ORIGINAL
    local tag=$1
    virsh_at B restore "$3" --paused >"$W/rb-$tag.out" 2>&1 && ok || { bad "$tag: virsh restore on B: $(cat "$W/rb-$tag.out")"; return; }
    [ "$(state B g)" = paused ] && ok || bad "$tag: restored guest on B is $(state B g), want paused"
    dump B g "$W/ram-b-$tag"
    virsh_at A restore "$2" --paused >"$W/ra-$tag.out" 2>&1 && ok || bad "$tag: virsh restore of the original on A: $(cat "$W/ra-$tag.out")"
    dump A g "$W/ram-a-$tag"
    [ -s "$W/ram-a-$tag" ] && cmp -s "$W/ram-a-$tag" "$W/ram-b-$tag" && ok || bad "$tag: guest RAM after restore on B differs from the original's"
    virsh_at B resume "$TOKEN-g" >/dev/null && [ "$(state B g)" = running ] && ok || bad "$tag: guest does not run on B"
    virsh_at A destroy "$TOKEN-g" >/dev/null 2>&1
    virsh_at B destroy "$TOKEN-g" >/dev/null 2>&1
    rm -f "$W/ram-a-$tag" "$W/ram-b-$tag"
}
converted_ok() { # converted_ok TAG IN OUT: same header and XML area, same (decompressed) stream
    $S area "$2" "$W/a1" && $S area "$3" "$W/a2" && cmp -s "$W/a1" "$W/a2" && ok || bad "$1: header or XML area changed"
    $S unwrap "$2" "$W/s1" && $S unwrap "$3" "$W/s2" && cmp -s "$W/s1" "$W/s2" && ok ||
        bad "$1: the stream changed (a TCG guest has no nested state to convert)"
    rm -f "$W/a1" "$W/a2" "$W/s1" "$W/s2"
}

define A g && ok || bad "defining the guest: $(tail -3 "$W/libvirtd-A.log")"
virsh_at A destroy "$TOKEN-g" >/dev/null 2>&1
for fmt in raw gzip bzip2 xz lzop; do
    stop_libvirtd A
    lv_qemu_conf A "save_image_format = \"$fmt\""
    start_libvirtd A || bad "$fmt: libvirtd A did not restart"
    virsh_at A start "$TOKEN-g" >/dev/null && [ "$(state A g)" = running ] && ok || bad "$fmt: guest not running on A"
    sleep 1
    virsh_at A save "$TOKEN-g" "$W/g-$fmt.sav" >"$W/save-$fmt.out" 2>&1 && ok || bad "$fmt: virsh save: $(cat "$W/save-$fmt.out")"
    "$C" stream-inspect --json "$W/g-$fmt.sav" >"$W/insp-$fmt.json" 2>"$W/insp-$fmt.err" && ok || bad "$fmt: stream-inspect: $(cat "$W/insp-$fmt.err")"
    head -1 "$W/insp-$fmt.json" | python3 -c '
import json, sys
d = json.loads(sys.stdin.readline())
assert d["kind"] == "save-image" and d["compression"] == sys.argv[1] and d["was_running"] is True, d
assert d["domain"]["name"] == sys.argv[2] and d["room"] >= 65536, d' "$fmt" "$TOKEN-g" && ok || bad "$fmt: header as libvirt wrote it: $(head -1 "$W/insp-$fmt.json")"
    "$C" stream-convert --to encoded "$W/g-$fmt.sav" -o "$W/g-$fmt-enc.sav" 2>"$W/conv-$fmt.err" && ok || bad "$fmt: stream-convert: $(cat "$W/conv-$fmt.err")"
    converted_ok "$fmt" "$W/g-$fmt.sav" "$W/g-$fmt-enc.sav"
    restore_check "$fmt" "$W/g-$fmt.sav" "$W/g-$fmt-enc.sav"
done
# managedsave: the image libvirt keeps in its own directory.
stop_libvirtd A
lv_qemu_conf A
start_libvirtd A
virsh_at A start "$TOKEN-g" >/dev/null
sleep 1
virsh_at A managedsave "$TOKEN-g" >"$W/ms.out" 2>&1 && ok || bad "virsh managedsave: $(cat "$W/ms.out")"
MS=$W/A/lib/qemu/save/$TOKEN-g.save
[ -s "$MS" ] && ok || bad "no managed save image at $MS"
cp "$MS" "$W/ms.sav"
"$C" stream-convert --to encoded "$W/ms.sav" -o "$W/ms-enc.sav" 2>"$W/ms.err" && ok || bad "managedsave image: $(cat "$W/ms.err")"
converted_ok managedsave "$W/ms.sav" "$W/ms-enc.sav"
virsh_at A managedsave-remove "$TOKEN-g" >/dev/null 2>&1
restore_check managedsave "$W/ms.sav" "$W/ms-enc.sav"

# --- nested state spliced into a real image's stream: both ways, byte for byte ------------------------------
$S unwrap "$W/g-raw.sav" "$W/real.stream"
python3 "$GEN/gen_stream.py" splice 21 "$W/real.stream" "$W/spl" >/dev/null
for fmt in raw gzip; do
    $S rewrap "$W/g-$fmt.sav" "$W/spl-legacy.bin" "$W/n-$fmt-legacy.sav"
    $S rewrap "$W/g-$fmt.sav" "$W/spl-encoded.bin" "$W/n-$fmt-encoded.sav"
    "$C" stream-convert --to encoded "$W/n-$fmt-legacy.sav" -o "$W/n-$fmt-to-enc.sav" --report 2>"$W/n.err" && ok || bad "nested ($fmt): $(cat "$W/n.err")"
    grep -q "vmcs12 regions converted to encoded" "$W/n.err" && ! grep -q " 0 vmcs12 regions" "$W/n.err" && ok || bad "nested ($fmt): nothing converted: $(cat "$W/n.err")"
    "$C" stream-convert --to legacy "$W/n-$fmt-encoded.sav" -o "$W/n-$fmt-to-leg.sav" 2>"$W/n.err" && ok || bad "nested back ($fmt): $(cat "$W/n.err")"
    for pair in "to-enc:encoded" "to-leg:legacy"; do
        got=$W/n-$fmt-${pair%%:*}.sav want=$W/n-$fmt-${pair##*:}.sav
        $S area "$got" "$W/a1" && $S area "$want" "$W/a2" && cmp -s "$W/a1" "$W/a2" && ok || bad "nested ($fmt, ${pair%%:*}): header or XML changed"
        $S unwrap "$got" "$W/s1" && $S unwrap "$want" "$W/s2" && cmp -s "$W/s1" "$W/s2" && ok || bad "nested ($fmt, ${pair%%:*}): stream not byte for byte"
    done
done
cmp -s "$W/n-raw-to-enc.sav" "$W/n-raw-encoded.sav" && cmp -s "$W/n-raw-to-leg.sav" "$W/n-raw-legacy.sav" && ok || bad "nested (raw): files not byte for byte"

# --- real images refused, nothing written ---------------------------------------------------------------------
refuse() { # refuse NAME PATTERN IMAGE
    rm -f "$W/out.sav"
    "$C" stream-convert --to encoded "$3" -o "$W/out.sav" 2>"$W/refuse.err"
    [ $? = 1 ] && grep -qE -- "$2" "$W/refuse.err" && ok || bad "$1: $(cat "$W/refuse.err")"
    [ ! -e "$W/out.sav" ] && ! ls -A "$W" | grep -q '^\.out\.sav' && ok || bad "$1: output written"
}
size=$(stat -c %s "$W/g-raw.sav")
head -c $((size / 2)) "$W/g-raw.sav" >"$W/t.sav"
refuse "truncated real image" '\[STREAM\]' "$W/t.sav"
size=$(stat -c %s "$W/g-xz.sav")
head -c $((size - 1000)) "$W/g-xz.sav" >"$W/tx.sav"
refuse "truncated xz image" 'xz stream of the save image cannot be decompressed: xz -dc failed' "$W/tx.sav"
python3 -c 'import sys; b=bytearray(open(sys.argv[1],"rb").read()); b[28]=2; open(sys.argv[2],"wb").write(b)' "$W/g-gzip.sav" "$W/wf.sav"
refuse "gzip image labelled bzip2" 'bzip2 stream of the save image cannot be decompressed: bzip2 -dc failed' "$W/wf.sav"
python3 -c 'import sys; b=bytearray(open(sys.argv[1],"rb").read()); b[12:16]=b"Part"; open(sys.argv[2],"wb").write(b)' "$W/g-raw.sav" "$W/part.sav"
refuse "an image libvirt did not finish" 'incomplete save image' "$W/part.sav"
finish
