#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Many migrations at once through one pair of vmcs12d: stream_listen is a range, each of its
# endpoints relayed to the one at the same offset of stream_target's range; with "tcp" (the
# default) a port range, with "unix" numbered unix sockets (unix:/DIR/mig-{0-3}.sock). Four real
# QEMU migrations (TCG, paused guests with random RAM), one of them with multifd, run at the same
# time on four endpoints; each destination ends paused with RAM identical to its source's; each
# endpoint's connections are their own migration with their own summary line; vmcs12ctl status
# lists every migration in flight with the endpoint it came in on and its target. A single
# target for a range is a configuration error.
#   test_stream_ports.sh VMCS12D VMCS12CTL [tcp|unix]
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../integration/lib.sh" "$1" "$2"
MODE=${3:-tcp}
Q="python3 $HERE/qmp.py"
MEM=${MEM_MB:-32}
N=4

mkca ca
mkcert hosta ca DNS:hosta
mkcert hostb ca DNS:hostb
PA=$(free_port) PB=$(free_port)
if [ "$MODE" = unix ]; then
    # The source's sockets and the destination's in their own directories (two hosts on one machine).
    mkdir "$W/a" "$W/b"
    L=0 T=0 # the numbers of the first endpoints
    SP="unix:$W/a/mig-" SS=".sock" TP="unix:$W/b/qemu-" TS=".sock"
    LR="$SP{0-$((N - 1))}$SS" TR="$TP{0-$((N - 1))}$TS" SINGLE="unix:$W/b/qemu.sock"
else
    # Two runs of N consecutive free ports on 127.0.0.1.
    read -r L T < <(python3 "$V12_LIB/ports.py" --ledger "$W/.ports" --runs 2 "$N" | tr '\n' ' ')
    SP="tcp:127.0.0.1:" SS="" TP="tcp:127.0.0.1:" TS=""
    LR="$SP$L-$((L + N - 1))" TR="$TP$T-$((T + N - 1))" SINGLE="tcp:127.0.0.1:$T"
fi
src_uri() { echo "$SP$((L + $1))$SS"; } # migration i's endpoint at the source, and at the destination
dst_uri() { echo "$TP$((T + $1))$TS"; }
EXTRA_PEER="stream_listen = $LR\nstream_target = $TR" config hosta legacy linux-6.18 "$PA" hosta ca hostb "$PB"
EXTRA_DAEMON="stream_allow = $TR" config hostb encoded "" "$PB" hostb ca hosta "$PA"
start hosta && start hostb
wait_peer hosta hostb connected || bad "peers"

# A range needs a range of the same length as its target.
sed "s#^stream_target = .*#stream_target = $SINGLE#" "$W/hosta.ini" >"$W/single.ini"
expect 1 "stream_target '$SINGLE' has 1 endpoint, stream_listen '$LR' has $N" -- "$D" --check-config --config "$W/single.ini"

QEMU_SMP=1
source "$HERE/qemu.sh"

for i in $(seq 0 $((N - 1))); do
    head -c $((MEM << 20)) /dev/urandom >"$W/src-$i.ram"
    truncate -s "${MEM}M" "$W/dst-$i.ram"
    qemu "src-$i" "$W/src-$i.ram"
    qemu "dst-$i" "$W/dst-$i.ram" -incoming defer
done
sleep 0.5
CAPS=(multifd "" "" "")
for i in $(seq 0 $((N - 1))); do
    [ -n "${CAPS[$i]}" ] && $Q "$W/dst-$i.qmp" caps "${CAPS[$i]}" >/dev/null
    incoming "dst-$i" "$(dst_uri "$i")"
done
# All four at once: migration i goes to hosta's endpoint i, which is delivered to endpoint i at hostb.
MIG=()
for i in $(seq 0 $((N - 1))); do
    # shellcheck disable=SC2086
    $Q "$W/src-$i.qmp" migrate "$(src_uri "$i")" ${CAPS[$i]} >"$W/mig-$i.out" 2>&1 &
    MIG+=($!)
done
# While they run: status names each migration in flight with the port it came in on and its target.
(
    for k in $(seq 400); do
        "$C" status --socket "$W/hosta.sock" --json >"$W/st-$k.json" 2>/dev/null || rm -f "$W/st-$k.json"
        sleep 0.02
    done
) &
POLL=$!
for i in $(seq 0 $((N - 1))); do
    if wait "${MIG[$i]}"; then
        ok
        $Q "$W/dst-$i.qmp" wait-status paused 30 >"$W/st-$i.out" && ok || bad "migration $i: destination $(cat "$W/st-$i.out"), want paused"
        cmp -s "$W/src-$i.ram" "$W/dst-$i.ram" && ok || bad "migration $i: destination RAM differs from the source's"
    else
        bad "migration $i did not complete: $(cat "$W/mig-$i.out")"
    fi
done
kill "$POLL" 2>/dev/null
wait "$POLL" 2>/dev/null
python3 - "$W" "$N" "$L" "$T" "$SP" "$SS" "$TP" "$TS" <<'PY' && ok || bad "status did not list the migrations in flight with their endpoint and target"
import glob, json, sys
W, N, L, T = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
sp, ss, tp, ts = sys.argv[5:9]
def number(uri, pre, suf): # the port, or the number in the socket's name
    assert uri.startswith(pre) and uri.endswith(suf), (uri, pre, suf)
    return int(uri[len(pre):len(uri) - len(suf)])
seen, most = set(), 0
for f in glob.glob(W + "/st-*.json"):
    try:
        out = [t for t in json.load(open(f))["streams"] if t["direction"] == "out"]
    except ValueError:
        continue
    nums = set()
    for t in out:
        k = number(t["listen"], sp, ss)
        assert L <= k < L + N, t
        assert number(t["target"], tp, ts) == T + k - L, t
        assert ("-%d-" % k) in t["migration_id"], t
        nums.add(k)
    seen |= nums
    most = max(most, len(nums))
print("status saw endpoints", sorted(seen), "at most", most, "at once")
assert len(seen) == N and most >= 2, (seen, most)
PY
# One summary per migration (per port) on each side; the multifd one carried 3 channels.
n=$(grep -c "migration hostb-[0-9]*-[0-9]* from peer hosta ended" "$W/hostb.log")
[ "$n" = "$N" ] && ok || bad "$n migration summaries on hostb, want $N"
n=$(grep -c "migration hostb-[0-9]*-[0-9]* to peer hostb ended" "$W/hosta.log")
[ "$n" = "$N" ] && ok || bad "$n migration summaries on hosta, want $N"
grep -qE "migration hostb-$L-[0-9]+ from peer hosta ended: 3 channels" "$W/hostb.log" && ok || bad "the multifd migration is not one migration of 3 channels"
for i in $(seq 0 $((N - 1))); do
    $Q "$W/src-$i.qmp" quit >/dev/null 2>&1
    $Q "$W/dst-$i.qmp" quit >/dev/null 2>&1
done
alive "$PID_hosta" && alive "$PID_hostb" && ok || bad "a daemon died"
finish
