#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A real libvirt drives vmcs12d: two libvirtd "hosts" on this machine (each in its own mount
# namespace with its own /etc/libvirt, /run, /var and host_uuid; the destination also in its own
# network namespace), a TCG guest, and the README's recipe run as written:
#   virsh migrate --live --p2p DOMAIN DEST --migrateuri tcp://127.0.0.1:PORT --listen-address 127.0.0.1
# through a vmcs12d pair. Checked: the guest runs on the destination and no longer on the
# source; both daemons log the migration; the vmcs12d hook in the destination's
# /etc/libvirt/hooks/qemu.d/ ran (as libvirt runs hooks); with the destination's vmcs12d stopped
# the migration fails with the hook's reason in virsh's error and the guest keeps running on the
# source. Then the unix-socket form. Everything this test mounts is inside its own namespaces
# (gone with them); the only host change, an empty /etc/vmcs12d made when missing (the hook's
# fixed configuration path, bind-mounted inside the destination's namespace), is removed again.
#   test_libvirt.sh VMCS12D VMCS12CTL
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../integration/lib.sh" "$(realpath "$1")" "$(realpath "$2")"
source "$HERE/hosts.sh"

# --- two vmcs12d: hosta next to A (host network), hostb inside B's network namespace --------------------
mkca ca
mkcert hosta ca DNS:hosta
mkcert hostb ca DNS:hostb
# MIG..MIG+3: the source daemon's stream ports, and the destination QEMU's.
PA=$(free_port) PB=$(free_port) PAX=$(free_port) PBX=$(free_port) MIG=$(free_port_run 4)
# The peer links cross the network namespaces through unix sockets:
#   hosta -> 127.0.0.1:PBX (host) -> b-in.sock -> 127.0.0.1:PB (B), hostb -> 127.0.0.1:PAX (B) -> a-in.sock -> PA.
socat UNIX-LISTEN:"$W/a-in.sock",fork TCP:127.0.0.1:"$PA" & PIDS+=($!)
socat TCP-LISTEN:"$PBX",bind=127.0.0.1,reuseaddr,fork UNIX-CONNECT:"$W/b-in.sock" & PIDS+=($!)
# shellcheck disable=SC2046
nsenter $(ns B) -- socat UNIX-LISTEN:"$W/b-in.sock",fork TCP:127.0.0.1:"$PB" & PIDS+=($!)
# shellcheck disable=SC2046
nsenter $(ns B) -- socat TCP-LISTEN:"$PAX",bind=127.0.0.1,reuseaddr,fork UNIX-CONNECT:"$W/a-in.sock" & PIDS+=($!)

lv_configs() { # lv_configs tcp|unix
    if [ "$1" = tcp ]; then
        EXTRA_PEER="stream_listen = tcp:127.0.0.1:$MIG-$((MIG + 3))\nstream_target = tcp:127.0.0.1:$MIG-$((MIG + 3))" \
            config hosta legacy linux-6.18 "$PA" hosta ca hostb "$PBX"
        EXTRA_DAEMON="stream_allow = tcp:127.0.0.1:$MIG-$((MIG + 3))" config hostb encoded "" "$PB" hostb ca hosta "$PAX"
    else
        EXTRA_PEER="stream_listen = unix:/run/libvirt/vmcs12d-mig.sock" config hosta legacy linux-6.18 "$PA" hosta ca hostb "$PBX"
        EXTRA_DAEMON="stream_allow = unix:/run/libvirt/vmcs12d-mig.sock" config hostb encoded "" "$PB" hostb ca hosta "$PAX"
    fi
    cp "$W/hostb.ini" "$W/B/vmcs12d/vmcs12d.conf" # /etc/vmcs12d/vmcs12d.conf inside B: where the hook looks
}
start_in() { # start_in A|B NODE: like lib.sh's start, inside the host's namespaces
    # shellcheck disable=SC2046
    nsenter $(ns "$1") -- "$D" --config "$W/$2.ini" >>"$W/$2.log" 2>&1 &
    local pid=$!
    PIDS+=("$pid")
    eval "PID_$2=$pid"
    for _ in $(seq 100); do
        [ -S "$W/$2.sock" ] && return 0
        sleep 0.05
    done
    bad "daemon $2 did not start"
    return 1
}
lv_configs tcp
start_in A hosta && start_in B hostb
wait_peer hosta hostb connected 15 && wait_peer hostb hosta connected 15 && ok ||
    bad "the daemons' peer links: $(tail -n 3 "$W/hosta.log" "$W/hostb.log")"

# --- a guest, migrated by the README's recipe ----------------------------------------------------------
DEST="qemu+unix:///system?socket=$W/B/run/libvirt-sock"
define A dom1 && ok || bad "defining and starting the guest: $(tail -3 "$W"/libvirtd-A.log)"
[ "$(state A dom1)" = running ] && ok || bad "guest not running on the source"
t0=$(date +%s)
if virsh_at A migrate --live --p2p "$TOKEN-dom1" "$DEST" --migrateuri "tcp://127.0.0.1:$MIG" --listen-address 127.0.0.1 \
    >"$W/mig1.out" 2>&1; then ok; else bad "virsh migrate: $(cat "$W/mig1.out")"; fi
echo "migration took $(($(date +%s) - t0)) s"
[ "$(state B dom1)" = running ] && ok || bad "guest not running on the destination: $(state B dom1)"
virsh_at A list --name | grep -q "$TOKEN-dom1" && bad "guest still running on the source" || ok
grep -q "migration hostb-$MIG-[0-9]* to peer hostb ended" "$W/hosta.log" && ok || bad "hosta did not log the migration"
grep -q "migration hostb-$MIG-[0-9]* from peer hosta ended" "$W/hostb.log" && ok || bad "hostb did not log the migration"
grep -q "^$TOKEN-dom1 migrate begin - vmcs12d-vars=0$" "$W/hook.calls" && ok || bad "the hook did not run as libvirt runs it: $(cat "$W/hook.calls" 2>&1)"

# --- the destination's vmcs12d stopped: the hook refuses, the guest stays on the source ---------------
define A dom2 || bad "second guest"
kill -TERM "$PID_hostb"
wait "$PID_hostb" 2>/dev/null
virsh_at A migrate --live --p2p "$TOKEN-dom2" "$DEST" --migrateuri "tcp://127.0.0.1:$((MIG + 1))" --listen-address 127.0.0.1 \
    >"$W/mig2.out" 2>&1 && bad "migration succeeded with the destination's vmcs12d stopped" || ok
grep -q "vmcs12d hook: refusing incoming migration of $TOKEN-dom2: vmcs12d is not answering" "$W/mig2.out" && ok ||
    bad "virsh's error lacks the hook's reason: $(cat "$W/mig2.out")"
[ "$(state A dom2)" = running ] && ok || bad "guest not running on the source after the refused migration: $(state A dom2)"

# --- the unix-socket form --------------------------------------------------------------------------------
kill -TERM "$PID_hosta"
wait "$PID_hosta" 2>/dev/null
lv_configs unix
start_in A hosta && start_in B hostb
wait_peer hosta hostb connected 15 && ok || bad "peer links (unix form)"
if virsh_at A migrate --live --p2p "$TOKEN-dom2" "$DEST" --migrateuri "unix:///run/libvirt/vmcs12d-mig.sock" \
    >"$W/mig3.out" 2>&1; then ok; else bad "virsh migrate (unix): $(cat "$W/mig3.out")"; fi
[ "$(state B dom2)" = running ] && ok || bad "guest not running on the destination (unix): $(state B dom2)"
grep -q "from peer hosta ended" "$W/hostb.log" && ok || bad "hostb did not log the unix-socket migration"
finish
