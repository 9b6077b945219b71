#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# libvirt save images through vmcs12ctl stream-convert and stream-inspect, against images made
# independently (tests/gen/saveimage.py, Python's own gzip/bz2/lzma and lzop): every format libvirt
# 9.0 writes converted both ways with the header and XML area byte for byte and the stream
# byte-identical to the independent converter's; truncated, corrupted and wrong-format images
# refused with one line naming the reason and offset and nothing written; -o naming the input
# refused, --in-place with its backup; the progress line only on a terminal.
#   test_saveimage.sh VMCS12CTL GEN_DIR
set -uo pipefail
C=$(realpath "$1")
GEN=$(realpath "$2")
T=$(mktemp -d /tmp/v12save.XXXXXX)
trap 'rm -rf "$T"' EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }
S="python3 $GEN/saveimage.py"
cd "$T" || exit 1

python3 "$GEN/gen_stream.py" synth 11 s >/dev/null
cat >d.xml <<'EOF'
<domain type='kvm'>
  <name>nested-l1</name>
  <uuid>6f1b1d2e-3c4d-4e5f-8a9b-0c1d2e3f4a5b</uuid>
  <memory unit='KiB'>262144</memory>
  <vcpu placement='static'>2</vcpu>
  <os><type arch='x86_64' machine='pc-q35-7.2'>hvm</type></os>
</domain>
EOF

# --- every format, both ways ----------------------------------------------------------------------------
for f in raw gzip bzip2 xz lzop; do
    $S wrap s-legacy.bin d.xml "$f-legacy.img" "$f" --cookie '<qemu-cookie/>'
    $S wrap s-encoded.bin d.xml "$f-encoded.img" "$f" --cookie '<qemu-cookie/>'
    $S area "$f-legacy.img" "$f.area"
    for dir in encoded:legacy legacy:encoded; do
        to=${dir%%:*} from=${dir##*:}
        if "$C" stream-convert --to "$to" "$f-$from.img" -o "$f-to-$to.img" 2>"$f.err"; then
            $S unwrap "$f-to-$to.img" got.stream
            cmp -s got.stream "s-$to.bin" && ok || bad "$f, $from -> $to: stream differs from the independent converter's"
            $S area "$f-to-$to.img" got.area
            cmp -s got.area "$f.area" && ok || bad "$f, $from -> $to: header or XML area changed"
        else
            bad "$f, $from -> $to: $(cat "$f.err")"
        fi
    done
done
cmp -s raw-to-encoded.img raw-encoded.img && ok || bad "raw image: not byte for byte the expected image"
cmp -s raw-to-legacy.img raw-legacy.img && ok || bad "raw image back: not byte for byte the original"
# The converted file keeps being a save image libvirt reads: the same header fields.
head -c 92 gzip-to-encoded.img | cmp -s - <(head -c 92 gzip-legacy.img) && ok || bad "gzip: header changed"
# A raw QEMU stream is still a stream.
"$C" stream-convert --to encoded s-legacy.bin -o plain.bin && cmp -s plain.bin s-encoded.bin && ok || bad "a bare stream"

# --- stream-inspect ------------------------------------------------------------------------------------------
"$C" stream-inspect xz-legacy.img >insp.txt 2>&1 && ok || bad "stream-inspect of an xz image: $(tail -2 insp.txt)"
grep -q "^libvirt save image: version 2, xz, was running: yes$" insp.txt && ok || bad "inspect: header line: $(head -1 insp.txt)"
grep -q "^domain 'nested-l1': uuid 6f1b1d2e-3c4d-4e5f-8a9b-0c1d2e3f4a5b, memory 262144 KiB, 2 vCPUs, machine pc-q35-7.2$" insp.txt && ok ||
    bad "inspect: domain line: $(sed -n 2p insp.txt)"
grep -q "XML [0-9]* bytes, cookie 14 bytes, 65536 bytes of room" insp.txt && ok || bad "inspect: XML line: $(sed -n 3p insp.txt)"
grep -q "nested state: vCPU" insp.txt && grep -q "^stream checks out" insp.txt && ok || bad "inspect: the stream's records"
"$C" stream-inspect --json gzip-legacy.img >insp.json
head -1 insp.json | python3 -c '
import json, sys
d = json.loads(sys.stdin.readline())
assert d["kind"] == "save-image" and d["compression"] == "gzip" and d["domain"]["name"] == "nested-l1", d
assert d["domain"]["memory"] == "262144 KiB" and d["was_running"] is True and d["cookie_bytes"] == 14, d' && ok || bad "inspect --json"

# --- refused: one line naming reason and offset, nothing written -------------------------------------------------
refuse() { # refuse NAME PATTERN IMAGE
    rm -f out.img
    "$C" stream-convert --to encoded "$3" -o out.img >/dev/null 2>refuse.err
    local rc=$?
    [ "$rc" = 1 ] && ok || bad "$1: exit $rc, want 1"
    [ "$(wc -l <refuse.err)" = 1 ] && grep -qE -- "$2" refuse.err && ok || bad "$1: stderr '$(cat refuse.err)' lacks /$2/"
    [ ! -e out.img ] && [ -z "$(ls -A | grep -E '^\.?out\.img.|tmp')" ] && ok || bad "$1: something was written: $(ls -A | tr '\n' ' ')"
}
head -c 60 raw-legacy.img >t-header.img
refuse "truncated header" 'save image truncated: 60 of its 92 header bytes \[SAVE_IMAGE\]' t-header.img
head -c 1000 raw-legacy.img >t-area.img
refuse "truncated XML area" 'XML area truncated: [0-9]+ of [0-9]+ bytes \[SAVE_IMAGE\]' t-area.img
size=$(stat -c %s raw-legacy.img)
head -c $((size - 5000)) raw-legacy.img >t-stream.img
refuse "truncated stream" 'in the QEMU stream of a libvirt save image, which starts at file offset [0-9]+\) \[STREAM\]' t-stream.img
gsize=$(stat -c %s gzip-legacy.img)
head -c $((gsize - 300)) gzip-legacy.img >t-gzip.img
refuse "truncated gzip" 'gzip stream of the save image cannot be decompressed: gzip -dc failed \(exit 1\).*\[SAVE_IMAGE\]' t-gzip.img
python3 - gzip-legacy.img c-gzip.img <<'PY'
import sys
b = bytearray(open(sys.argv[1], "rb").read())
n = len(b) - 200          # inside the compressed data, away from its header and trailer
b[n] ^= 0xff
open(sys.argv[2], "wb").write(b)
PY
refuse "corrupted gzip" '(cannot be decompressed: gzip -dc failed|\[STREAM\])' c-gzip.img
patch() { # patch IN OUT OFFSET BYTES(hex)
    python3 -c 'import sys; b=bytearray(open(sys.argv[1],"rb").read()); o=int(sys.argv[3]); v=bytes.fromhex(sys.argv[4]); b[o:o+len(v)]=v; open(sys.argv[2],"wb").write(b)' "$@"
}
patch raw-legacy.img p-part.img 12 50617274
refuse "incomplete (Part magic)" "incomplete save image \(magic 'LibvirtQemudPart' at offset 0" p-part.img
patch raw-legacy.img p-format.img 28 07000000
refuse "unknown compression" 'compression 7 at offset 28 is unknown' p-format.img
patch raw-legacy.img p-version.img 16 02000000
patch p-version.img p-version.img 16 03000000
refuse "unknown version" 'version [0-9]+ at offset 16 is not supported' p-version.img
patch raw-legacy.img p-running.img 24 02000000
refuse "was_running 2" 'was_running 2 at offset 24' p-running.img
patch raw-legacy.img p-unused.img 40 01
refuse "unused header byte" 'header byte 40 \(unused\) is 0x01' p-unused.img
patch raw-legacy.img p-cookie.img 32 ffffff00
refuse "cookie offset outside" 'cookie offset 16777215 at offset 32 is outside' p-cookie.img
patch raw-legacy.img p-cookie2.img 32 00010000
refuse "cookie not after the XML" 'cookie at 256 does not follow the XML' p-cookie2.img
patch raw-legacy.img p-datalen.img 20 00000000
refuse "data_len 0" 'XML area of 0 bytes \(data_len at offset 20\)' p-datalen.img
patch raw-legacy.img p-pad.img 30000 41
refuse "non-zero room" 'XML area byte [0-9]+ \(file offset 30000, after the XML\) is 0x41' p-pad.img
refuse "not a save image or stream" 'not a QEMU migration stream' d.xml

# --- in place ------------------------------------------------------------------------------------------------
cp raw-legacy.img ip.img
"$C" stream-convert --to encoded ip.img -o ip.img 2>ip.err
[ $? = 2 ] && grep -q "is the input file; refusing to overwrite the input (stream-convert --in-place" ip.err && ok || bad "-o IN: $(cat ip.err)"
cmp -s ip.img raw-legacy.img && ok || bad "-o IN changed the input"
"$C" stream-convert --to encoded --in-place ip.img 2>ip.err && cmp -s ip.img raw-encoded.img && ok || bad "--in-place: $(cat ip.err)"
[ ! -e ip.img.vmcs12d-backup ] && ok || bad "--in-place left its backup"
cp gzip-legacy.img ipg.img
"$C" stream-convert --to encoded --in-place -o ipg.img ipg.img 2>ip.err && $S unwrap ipg.img got.stream && cmp -s got.stream s-encoded.bin && ok ||
    bad "--in-place (gzip): $(cat ip.err)"
cp t-stream.img ipt.img
"$C" stream-convert --to encoded --in-place ipt.img 2>ip.err
[ $? = 1 ] && cmp -s ipt.img t-stream.img && [ ! -e ipt.img.vmcs12d-backup ] && ok || bad "--in-place, invalid: input changed or backup left"
cp raw-legacy.img ipb.img
echo keep >ipb.img.vmcs12d-backup
"$C" stream-convert --to encoded --in-place ipb.img 2>ip.err
[ $? = 1 ] && grep -q "ipb.img.vmcs12d-backup exists" ip.err && cmp -s ipb.img raw-legacy.img && [ "$(cat ipb.img.vmcs12d-backup)" = keep ] && ok ||
    bad "--in-place with a backup already there: $(cat ip.err)"
"$C" stream-convert --to encoded --in-place -o other.img ipb.img 2>ip.err
[ $? = 2 ] && grep -q -- "--in-place: output 'other.img' is not the input" ip.err && ok || bad "--in-place -o OTHER: $(cat ip.err)"

# --- progress: a line on a terminal, none otherwise or with --quiet -----------------------------------------------
"$C" stream-convert --to encoded xz-legacy.img -o pr.img 2>pr.err && [ ! -s pr.err ] && ok || bad "progress without a terminal: $(cat pr.err)"
script -qec "'$C' stream-convert --to encoded xz-legacy.img -o pr2.img" /dev/null >pty.out 2>&1
grep -qE 'stream-convert: [0-9.]+ (B|KiB|MiB) of [0-9.]+ (B|KiB|MiB) \(100%\), [0-9.]+ (B|KiB|MiB|GiB)/s' pty.out && ok || bad "no progress line on a terminal: $(cat -v pty.out)"
script -qec "'$C' stream-convert --quiet --to encoded xz-legacy.img -o pr3.img" /dev/null >pty.out 2>&1
! grep -q ' of ' pty.out && ok || bad "--quiet still shows progress: $(cat -v pty.out)"

echo "save images: $pass passed, $fail failed"
[ "$fail" = 0 ]
