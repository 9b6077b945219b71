#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Faults during real QEMU migrations through a vmcs12d pair (a fault proxy between the daemons):
# the connection reset, dropped or stalled mid-RAM, the migration cancelled on the source
# (migrate_cancel), the destination QEMU killed (SIGKILL), either daemon killed (SIGKILL) and
# restarted. Each time the migration fails on both ends within seconds (the source reports
# failed or cancelled and keeps its guest, the destination QEMU gives up), no channel stays
# behind in either daemon, and the next migration through the same daemons completes with the
# destination's RAM identical to the source's.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../integration/lib.sh" "$1" "$2"
Q="python3 $HERE/qmp.py"
MEM=${MEM_MB:-64}

mkca ca
mkcert hosta ca DNS:hosta
mkcert hostb ca DNS:hostb
PA=$(free_port) PB=$(free_port) PX=$(free_port) QL=$(free_port) QT=$(free_port)
# hosta reaches hostb (its link and its stream channels) through the proxy at PX.
IDLE_MS=3000 EXTRA_PEER="stream_listen = tcp:127.0.0.1:$QL\nstream_target = tcp:127.0.0.1:$QT" \
    config hosta legacy linux-6.18 "$PA" hosta ca hostb "$PX"
IDLE_MS=3000 EXTRA_DAEMON="stream_allow = tcp:127.0.0.1:$QT" config hostb encoded "" "$PB" hostb ca hosta "$PA"
echo pass >"$W/rule"
python3 -u "$HERE/../integration/faultproxy.py" "$PX" "$PB" "$W/rule" >"$W/proxy.log" 2>&1 &
PIDS+=($!)
start hosta && start hostb
wait_peer hosta hostb connected || bad "peers"
source "$HERE/qemu.sh"

# no_channels: neither daemon holds a stream channel any more.
no_channels() {
    local h
    for h in hosta hostb; do
        for _ in $(seq 100); do
            "$C" status --socket "$W/$h.sock" --json >"$W/st.json" 2>/dev/null &&
                python3 -c 'import json,sys; sys.exit(1 if json.load(open(sys.argv[1])).get("streams") else 0)' "$W/st.json" && break
            sleep 0.1
        done
        python3 -c 'import json,sys; sys.exit(1 if json.load(open(sys.argv[1])).get("streams") else 0)' "$W/st.json" &&
            ok || bad "$1: $h still holds channels: $(cat "$W/st.json")"
    done
}
# gone PID SECONDS: the process ended within SECONDS.
gone() {
    for _ in $(seq $(($2 * 10))); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
    return 1
}
# clean TAG: a migration at full speed completes, RAM identical.
clean() { through "$1" "$QL" "$QT"; }
# faulty TAG WANT RULE ACTION...: with RULE for the proxy (it fires on the migration's channel,
# the only connection that carries 8 MB), a migration at 16 MB/s (about 4 s); once 8 MB have gone,
# ACTION runs. The source must end in WANT (failed|cancelled) within 20 s and keep its guest, the
# destination QEMU must exit. With the return path: without it QEMU's source calls a migration
# completed once its last byte is in a socket buffer, and the buffers between QEMU and hosta
# (tcp_rmem's maximum is 32 MiB on some machines) can hold what is left of a stalled stream, so
# the source's verdict would not be the destination's.
faulty() {
    local tag=$1 want=$2
    echo "$3" >"$W/rule"
    shift 3
    pair "$tag" "tcp:127.0.0.1:$QT" return-path
    $Q "$W/src-$tag.qmp" start-migrate "tcp:127.0.0.1:$QL" 16000000 return-path >/dev/null || bad "$tag: migrate did not start"
    for _ in $(seq 100); do
        [ "$($Q "$W/src-$tag.qmp" transferred)" -ge 8000000 ] && break
        sleep 0.05
    done
    "$@"
    st=$($Q "$W/src-$tag.qmp" wait-migrate 20)
    [ "$st" = "$want" ] && ok || bad "$tag: source migration ended '$st', want '$want'"
    # QEMU restores the guest's run state just after it reports the failure (when the fault hit
    # while it was finishing): give it a moment.
    $Q "$W/src-$tag.qmp" wait-status paused 5 >"$W/st.out" && ok ||
        bad "$tag: the source guest is not kept (state $(cat "$W/st.out"), want paused)"
    gone "$DST" 20 && ok || bad "$tag: the destination QEMU did not give up"
    no_channels "$tag"
    $Q "$W/src-$tag.qmp" quit >/dev/null 2>&1
    $Q "$W/dst-$tag.qmp" quit >/dev/null 2>&1
    sleep 0.3
    rm -f "$W/src-$tag.ram" "$W/dst-$tag.ram"
    clean "after-$tag"
}
clean first
# The proxy cuts the channel 8 MB into the stream (mid-RAM).
faulty reset failed "reset up:8000000 count 1" :
faulty drop failed "drop up:8000000 count 1" :
faulty stall failed "stall up:8000000 count 1" :
grep -q 'idle timeout' "$W/hosta.log" "$W/hostb.log" && ok || bad "the stalled channel was not cut by the idle timeout"
faulty cancel cancelled pass $Q "$W/src-cancel.qmp" cancel
kill_dst() { kill -9 "$DST"; }
faulty dstkill failed pass kill_dst
# The daemons themselves killed (SIGKILL) mid-migration, then restarted.
restart() {
    kill -9 "$(eval echo "\$PID_$1")"
    wait "$(eval echo "\$PID_$1")" 2>/dev/null
    start "$1"
    wait_peer hosta hostb connected 10 || bad "$1 restarted: no link"
}
faulty hostbkill failed pass restart hostb
faulty hostakill failed pass restart hosta
grep -c '^fault ' "$W/proxy.log" | grep -qx 3 && ok || bad "proxy faults: $(grep '^fault ' "$W/proxy.log")"
for h in hosta hostb; do alive "$(eval echo "\$PID_$h")" && ok || bad "$h died"; done
finish
