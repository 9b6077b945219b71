#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Releases interoperate: the previous release (contrib/previous-release, built from this
# repository's history) and this tree's vmcs12d, one on each host, both ways: blobs relayed and
# converted old -> new and new -> old, and a real QEMU migration (TCG, random RAM) through the
# pair in each direction, the destination's RAM byte-identical to the source's.
#   test_interop.sh VMCS12D VMCS12CTL SOURCE_DIR    (exit 77: skipped, with the reason)
set -uo pipefail
S=$(cd "$3" && pwd)
HERE=$S/tests
PREV=$("$HERE/release/previous.sh" "$S")
rc=$?
if [ $rc = 3 ]; then
    [ -n "${CI:-}" ] && { echo "FAIL: the previous release is not in this clone's history" >&2; exit 1; }
    echo "SKIP: the previous release is not in this checkout's history (a full git clone has it)"
    exit 77
fi
[ $rc = 0 ] || { echo "FAIL: the previous release could not be built" >&2; exit 1; }
source "$HERE/integration/lib.sh" "$1" "$2"
source "$HERE/stream/qemu.sh"
DATA=$HERE/data
MEM=${MEM_MB:-64}
NEW_D=$D NEW_C=$C
OLD_D=$PREV/build/daemon/vmcs12d OLD_C=$PREV/build/cli/vmcs12ctl
echo "previous: $("$OLD_D" --version); this tree: $("$NEW_D" --version)"

mkca ca
mkcert old ca DNS:old
mkcert new ca DNS:new
PO=$(free_port) PN=$(free_port)
QL1=$(free_port) QT1=$(free_port) QL2=$(free_port) QT2=$(free_port)
# old: legacy (linux-6.18), streams to new from QL1; new: encoded, streams to old from QL2.
EXTRA_DAEMON="stream_allow = tcp:127.0.0.1:$QT2" EXTRA_PEER="stream_listen = tcp:127.0.0.1:$QL1\nstream_target = tcp:127.0.0.1:$QT1" \
    config old legacy linux-6.18 "$PO" old ca new "$PN"
EXTRA_DAEMON="stream_allow = tcp:127.0.0.1:$QT1" EXTRA_PEER="stream_listen = tcp:127.0.0.1:$QL2\nstream_target = tcp:127.0.0.1:$QT2" \
    config new encoded "" "$PN" new ca old "$PO"
D=$OLD_D C=$OLD_C start old
D=$NEW_D C=$NEW_C start new
C=$OLD_C wait_peer old new connected 20 && ok || bad "the previous release's link to this one"
C=$NEW_C wait_peer new old connected 20 && ok || bad "this release's link to the previous one"

# --- blobs, both ways, converted ------------------------------------------------------------------------
expect 0 '' -- "$OLD_C" send --socket "$W/old.sock" --peer new --vm a --vcpu 0 "$DATA/samples/vmx-l1-legacy.bin"
grep -q 'stored by new' "$W/out" && ok || bad "old -> new: $(cat "$W/out")"
cmp -s "$W/new.spool/default/a/vcpu-0.seq-0.bin" "$DATA/samples/vmx-l1-encoded.bin" && ok || bad "old -> new: not stored as encoded"
expect 0 '' -- "$NEW_C" send --socket "$W/new.sock" --peer old --vm b --vcpu 1 "$DATA/samples/vmx-l1-encoded.bin"
grep -q 'stored by old' "$W/out" && ok || bad "new -> old: $(cat "$W/out")"
cmp -s "$W/old.spool/default/b/vcpu-1.seq-0.bin" "$DATA/samples/vmx-l1-legacy.bin" && ok || bad "new -> old: not stored as legacy"
expect 0 '' -- "$OLD_C" send --socket "$W/old.sock" --peer new --vm s --vcpu 0 "$DATA/samples/vmx-l2-shadow-legacy.bin"
cmp -s "$W/new.spool/default/s/vcpu-0.seq-0.bin" "$DATA/samples/vmx-l2-shadow-encoded.bin" && ok || bad "old -> new: shadow blob"
expect 0 '' -- "$NEW_C" recv --socket "$W/new.sock" --vm a --vcpu 0 -o "$W/got-a.bin"
cmp -s "$W/got-a.bin" "$DATA/samples/vmx-l1-encoded.bin" && ok || bad "recv from this release"

# --- a real QEMU migration through the pair, each way --------------------------------------------------------------
through old-to-new "$QL1" "$QT1"
through new-to-old "$QL2" "$QT2"
grep -q "stream from peer old .* channel 0 (main" "$W/new.log" && ok || bad "no stream from the previous release logged"
grep -q "stream from peer new .* channel 0 (main" "$W/old.log" && ok || bad "the previous release logged no stream from this one"

for n in old new; do alive "$(eval echo "\$PID_$n")" && ok || bad "$n died"; done
finish
