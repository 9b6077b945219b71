#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The downtime benchmark: a running guest (SeaBIOS idling, MEM_MB MiB of random RAM, default 256)
# live-migrated by a real QEMU (TCG) N times (default 5) along each path, in the same run, for
# each vCPU count in VCPUS (default "2 8 64") and each downtime-limit in LIMITS (ms, default
# "10 300"):
#   direct        source QEMU -> destination QEMU
#   stunnel       through a stunnel pair (TLS 1.3, mutual authentication)
#   vmcs12d       through two vmcs12d (mutual TLS 1.3, the stream parsed, the device phase held
#                 until its description has been walked), QEMU connected to them over loopback TCP
#   vmcs12d-unix  the same, QEMU connected to them over unix sockets (stream_listen/stream_target
#                 unix:...), as libvirt's unix:// migration URIs do
#   passthrough   through two vmcs12d with stream_passthrough = yes: the same relay without the
#                 parser and its hold
#   socat         through two plain TCP relays (socat, no TLS, no parsing): the least any pair of
#                 relays on the path costs, on this machine, beside the two QEMUs
# The true downtime is the destination's RESUME event minus the source's STOP event (QMP
# timestamps, one clock); QEMU's own figure is printed beside it. Medians, every value, ratios.
# Guest RAM lives in RAM_DIR (default /dev/shm: memory, as a host's guest RAM is; a directory on
# disk makes the destination QEMU write the guest's RAM through the page cache to the disk, which
# slows it and adds the disk's noise).
# DELAY_MS=5 puts a delay line (bench/delayline.py: every byte held that long, each way, no rate
# limit) on the path between the two hosts of each: between the QEMUs (direct), the stunnels and
# the daemons.
# vmcs12d's own measure of its hold (from the first device-phase byte to the walked description,
# logged per migration) is summed up beside it. CAPS="return-path" migrates as libvirt does.
#   bench/run_downtime.sh [BUILD_DIR]      (needs qemu-system-x86, stunnel4)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
B=${1:-$ROOT/build-rel}
WORKERS=${WORKERS-} # the daemon's default worker count unless asked
source "$ROOT/tests/integration/lib.sh" "$B/daemon/vmcs12d" "$B/cli/vmcs12ctl"
source "$ROOT/bench/stunnel.sh"
MEM=${MEM_MB:-256} N=${N:-5} VCPUS=${VCPUS:-"2 8 64"} LIMITS=${LIMITS:-"10 300"} PATHS=${PATHS:-"direct stunnel vmcs12d vmcs12d-unix"}
mkca ca
mkcert hosta ca DNS:hosta
mkcert hostb ca DNS:hostb
PA=$(free_port) PB=$(free_port) QL=$(free_port) QT=$(free_port) PS1=$(free_port) PS2=$(free_port)
PP=$(free_port) PQ=$(free_port) QP=$(free_port) PR1=$(free_port) PR2=$(free_port) PU=$(free_port) PV=$(free_port)
LB=$PB LP=$PP LS=$PS2 QD=$QT LR=$PR2 LV=$PV # where the source side connects: straight, or through a delay line
if [ -n "${DELAY_MS:-}" ]; then
    LB=$(free_port) LP=$(free_port) LS=$(free_port) QD=$(free_port) LR=$(free_port) LV=$(free_port)
    for pair in "$LB $PB" "$LP $PP" "$LS $PS2" "$QD $QT" "$LR $PR2" "$LV $PV"; do
        # shellcheck disable=SC2086
        set -- $pair
        python3 "$ROOT/bench/delayline.py" "$1" "$2" "$DELAY_MS" & PIDS+=($!)
    done
fi
EXTRA_PEER="stream_listen = tcp:127.0.0.1:$QL\nstream_target = tcp:127.0.0.1:$QT" config hosta legacy linux-6.18 "$PA" hosta ca hostb "$LB"
EXTRA_DAEMON="stream_allow = tcp:127.0.0.1:$QT" config hostb encoded "" "$PB" hostb ca hosta "$PA"
NODE_NAME=hostb EXTRA_DAEMON="stream_allow = tcp:127.0.0.1:$QT" EXTRA_PEER="stream_passthrough = yes" config hostp encoded "" "$PP" hostb ca hosta "$PQ"
NODE_NAME=hosta EXTRA_PEER="stream_listen = tcp:127.0.0.1:$QP\nstream_target = tcp:127.0.0.1:$QT" config hostq legacy linux-6.18 "$PQ" hosta ca hostb "$LP"
# The unix-socket pair: the source QEMU connects to mig.sock, the destination QEMU listens on qemu.sock.
NODE_NAME=hostb EXTRA_DAEMON="stream_allow = unix:$W/qemu.sock" config hostv encoded "" "$PV" hostb ca hosta "$PU"
NODE_NAME=hosta EXTRA_PEER="stream_listen = unix:$W/mig.sock\nstream_target = unix:$W/qemu.sock" config hostu legacy linux-6.18 "$PU" hosta ca hostb "$LV"
for h in hosta hostb hostp hostq hostu hostv; do start $h; done
wait_peer hosta hostb connected
wait_peer hostq hostb connected
wait_peer hostu hostb connected
stunnel_pair "$PS1" "$PS2" "$QT" "$LS"
# The plain relay pair: source QEMU -> socat -> socat -> destination QEMU, one connection at a time.
socat TCP-LISTEN:"$PR2",bind=127.0.0.1,reuseaddr,fork TCP:127.0.0.1:"$QT" 2>"$W/socat2.log" & PIDS+=($!)
socat TCP-LISTEN:"$PR1",bind=127.0.0.1,reuseaddr,fork TCP:127.0.0.1:"$LR" 2>"$W/socat1.log" & PIDS+=($!)
sleep 1
export RAM_DIR=${RAM_DIR:-/dev/shm}
echo "# $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $("${QEMU:-qemu-system-x86_64}" --version | head -1), $MEM MiB in $RAM_DIR, $N migrations per path${CAPS:+, capabilities: $CAPS}${DELAY_MS:+, a $DELAY_MS ms delay line each way between the hosts}"
: >"$W/results"
for v in $VCPUS; do
    for l in $LIMITS; do
        for r in $(seq "$N"); do
            for path in $PATHS; do
                listen=$QT
                case $path in
                direct) port=$QD ;;
                stunnel) port=$PS1 ;;
                vmcs12d) port=$QL ;;
                vmcs12d-unix) port=unix:$W/mig.sock listen=unix:$W/qemu.sock ;;
                passthrough) port=$QP ;;
                socat) port=$PR1 ;;
                esac
                read -r t q total < <(python3 "$ROOT/bench/downtime.py" "$W" "$MEM" "$v" "$l" "$port" "$listen" ${QEMU:+"$QEMU"})
                echo "$v $l $path $t $q $total" >>"$W/results"
                echo "vcpus $v limit $l ms round $r $path: true $t ms, QEMU says $q ms, total $total ms"
            done
        done
    done
done
grep -h "stream from peer hosta .*(main, .*: ended" "$W/hostb.log" >"$W/held" || true
grep -h "stream from peer hosta .*(main, .*: ended" "$W/hostv.log" >"$W/held-unix" || true
python3 - "$W/results" "$PATHS" "$W/held" "$W/held-unix" <<'PY'
import re, statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
paths = sys.argv[2].split()
# The destination daemon's main channels end in the order its migrations ran: what it held (bytes,
# ms) and the switchover it reports (ms: first device-state byte to the last in QEMU's socket).
def own(path):
    out = []
    for l in open(path):
        h, s = re.search(r"\((\d+) bytes\) held ([0-9.]+) ms", l), re.search(r"switchover ([0-9.]+) ms", l)
        if h:
            out.append((int(h.group(1)), float(h.group(2)), float(s.group(1)) if s else float("nan")))
    return out
seen = {"vmcs12d": own(sys.argv[3]), "vmcs12d-unix": own(sys.argv[4])}
for r in rows:
    if seen.get(r[2]):
        r.extend(seen[r[2]].pop(0))
conf = sorted({(int(r[0]), int(r[1])) for r in rows})
print("\nvcpus limit path         true downtime ms (median; all)          QEMU's ms (median)")
for v, l in conf:
    med = {}
    for p in paths:
        t = [float(r[3]) for r in rows if (int(r[0]), int(r[1]), r[2]) == (v, l, p)]
        q = [float(r[4]) for r in rows if (int(r[0]), int(r[1]), r[2]) == (v, l, p)]
        if not t:
            continue
        med[p] = statistics.median(t)
        print("%5d %5d %-12s %7.1f; %-30s %5.1f" % (v, l, p, med[p], " ".join("%.0f" % x for x in t), statistics.median(q)))
    line = []
    for p in ("vmcs12d", "vmcs12d-unix", "passthrough", "socat"):
        for anchor in ("direct", "stunnel"):
            if p in med and anchor in med and p != anchor and not (p == "socat" and anchor == "stunnel"):
                line.append("%s/%s %.2f" % (p, anchor, med[p] / med[anchor]))
    if "vmcs12d" in med and "passthrough" in med:
        line.append("vmcs12d - passthrough %+.1f ms" % (med["vmcs12d"] - med["passthrough"]))
    print("%11s %s" % ("", "; ".join(line)))
    for p in ("vmcs12d", "vmcs12d-unix"):
        h = [r[6:9] for r in rows if (int(r[0]), int(r[1]), r[2]) == (v, l, p) and len(r) > 8]
        if h:
            print("%11s %s: held %d bytes for %.2f ms (median; max %.2f); switchover as it reports it %.1f ms (median)" % (
                "", p, statistics.median(b for b, _, _ in h), statistics.median(t for _, t, _ in h),
                max(t for _, t, _ in h), statistics.median(s for _, _, s in h)))
PY
grep -h "stream from peer hosta .*(main" "$W/hostb.log" | tail -1
