#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The relay demo: two vmcs12d on loopback with throwaway certificates, a legacy host (hosta,
# linux-6.18) and an encoded host (hostb). A nested-state blob with a shadow vmcs12 goes from
# hosta to hostb, converted on the way; the destination's copy is checked byte for byte.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
B=${BUILD:-$ROOT/build}
source "$ROOT/tests/integration/lib.sh" "$B/daemon/vmcs12d" "$B/cli/vmcs12ctl"
S=$ROOT/tests/data/samples

echo "== throwaway PKI in $W: a CA, certificates for hosta and hostb (SAN DNS)"
mkca ca
mkcert hosta ca DNS:hosta
mkcert hostb ca DNS:hostb
PA=$(free_port)
PB=$(free_port)
config hosta legacy linux-6.18 "$PA" hosta ca hostb "$PB"
config hostb encoded "" "$PB" hostb ca hosta "$PA"
echo "== starting vmcs12d hosta (legacy linux-6.18, :$PA) and hostb (encoded, :$PB)"
start hosta
start hostb
wait_peer hosta hostb connected
"$C" status --socket "$W/hosta.sock"
echo
echo "== offline: what the conversion does to this blob"
"$C" convert --to encoded --report -o /dev/null "$S/vmx-l2-shadow-legacy.bin"
echo
echo "== vmcs12ctl send: hosta -> hostb (exits 0 only once hostb has stored it)"
"$C" send --socket "$W/hosta.sock" --peer hostb --vm demo-vm --vcpu 0 --migration demo "$S/vmx-l2-shadow-legacy.bin"
echo
echo "== vmcs12ctl recv on hostb"
"$C" recv --socket "$W/hostb.sock" --vm demo-vm --vcpu 0 -o "$W/received.bin"
cmp "$W/received.bin" "$S/vmx-l2-shadow-encoded.bin" && echo "received blob = the golden encoded sample, byte for byte"
"$C" diff "$S/vmx-l2-shadow-legacy.bin" "$W/received.bin" && echo "(and field for field the same state as what hosta sent)"
echo
echo "== the daemons' logs"
sed 's/^/   hosta: /' "$W/hosta.log"
sed 's/^/   hostb: /' "$W/hostb.log"
kill -TERM "$PID_hosta" "$PID_hostb"
wait "$PID_hosta" "$PID_hostb"
echo "== both daemons stopped cleanly on SIGTERM"
