#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Many migrations at once through one pair of vmcs12d: stream_listen is a port range, each port
# relayed to the port at the same offset of stream_target's range. Four real QEMU migrations
# (TCG, paused guests with random RAM), one of them with multifd, run at the same time on four
# ports; each destination ends paused with RAM identical to its source's; each port's
# connections are their own migration with their own summary line; vmcs12ctl status lists every
# migration in flight with the port it came in on and its target. A single-port target for a
# range is a configuration error.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../integration/lib.sh" "$1" "$2"
Q="python3 $HERE/qmp.py"
MEM=${MEM_MB:-32}
N=4

mkca ca
mkcert hosta ca DNS:hosta
mkcert hostb ca DNS:hostb
# Two runs of N consecutive free ports on 127.0.0.1.
read -r L T < <(python3 "$V12_LIB/ports.py" --ledger "$W/.ports" --runs 2 "$N" | tr '\n' ' ')
PA=$(free_port) PB=$(free_port)
LR="$L-$((L + N - 1))" TR="$T-$((T + N - 1))"
EXTRA_PEER="stream_listen = tcp:127.0.0.1:$LR\nstream_target = tcp:127.0.0.1:$TR" config hosta legacy linux-6.18 "$PA" hosta ca hostb "$PB"
EXTRA_DAEMON="stream_allow = tcp:127.0.0.1:$TR" config hostb encoded "" "$PB" hostb ca hosta "$PA"
start hosta && start hostb
wait_peer hosta hostb connected || bad "peers"

# A range needs a range of the same length as its target.
sed "s#^stream_target = .*#stream_target = tcp:127.0.0.1:$T#" "$W/hosta.ini" >"$W/single.ini"
expect 1 "stream_target 'tcp:127.0.0.1:$T' has 1 port, stream_listen 'tcp:127.0.0.1:$LR' has $N" -- "$D" --check-config --config "$W/single.ini"

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
    incoming "dst-$i" "tcp:127.0.0.1:$((T + i))"
done
# All four at once: migration i goes to hosta's port L+i, which is delivered to T+i at hostb.
MIG=()
for i in $(seq 0 $((N - 1))); do
    # shellcheck disable=SC2086
    $Q "$W/src-$i.qmp" migrate "tcp:127.0.0.1:$((L + i))" ${CAPS[$i]} >"$W/mig-$i.out" 2>&1 &
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
python3 - "$W" "$L" "$T" "$N" <<'PY' && ok || bad "status did not list the migrations in flight with their port and target"
import glob, json, sys
W, L, T, N = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
seen, most = set(), 0
for f in glob.glob(W + "/st-*.json"):
    try:
        out = [t for t in json.load(open(f))["streams"] if t["direction"] == "out"]
    except ValueError:
        continue
    ports = set()
    for t in out:
        port = int(t["listen"].rsplit(":", 1)[1])
        assert L <= port < L + N, t
        assert t["target"] == "tcp:127.0.0.1:%d" % (T + port - L), t
        assert ("-%d-" % port) in t["migration_id"], t
        ports.add(port)
    seen |= ports
    most = max(most, len(ports))
print("status saw ports", sorted(seen), "at most", most, "at once")
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
