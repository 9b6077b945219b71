#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Fault injection on the relay. A proxy between hosta's link and hostb drops, resets, stalls and
# delays the connection mid-handshake, mid-frame and on the ack; hostb is killed (SIGKILL) and
# restarted while blobs are in flight, then hosta; hostb's spool sits on a 64 KiB tmpfs that
# fills; a control client asks for blobs and does not read the answers. Every time: a client
# that was told "stored" finds its exact bytes in hostb's spool (no false acknowledgement), a
# client that was told "failed" succeeds on a resend, the spool never holds a partial blob (the
# start-up scan removes what a kill leaves and says so), both daemons keep serving and their
# memory stays bounded.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/lib.sh" "$1" "$2"

mkca ca
mkcert hosta ca DNS:hosta
mkcert hostb ca DNS:hostb
mkcert hostf ca DNS:hostf
PA=$(free_port) PB=$(free_port) PX=$(free_port)
# hosta reaches hostb through the proxy at PX; hostb reaches hosta directly.
HANDSHAKE_MS=1500 IDLE_MS=3000 config hosta legacy linux-6.18 "$PA" hosta ca hostb "$PX"
HANDSHAKE_MS=1500 IDLE_MS=3000 config hostb encoded "" "$PB" hostb ca hosta "$PA"
echo pass >"$W/rule"
python3 -u "$HERE/faultproxy.py" "$PX" "$PB" "$W/rule" >"$W/proxy.log" 2>&1 &
PROXY=$!
PIDS+=("$PROXY")
start hosta && start hostb
wait_peer hosta hostb connected || bad "hosta -> hostb through the proxy"

mkdir -p "$W/r"
python3 "$HERE/randblobs.py" "$W/r" 8 "${SEED:-$RANDOM}" linux-6.18
n=0
# send KEY [TIMEOUT]: blob KEY%8 under vm KEY; records the exit status in $W/st/KEY.
mkdir -p "$W/st"
send() {
    "$C" send --socket "$W/hosta.sock" --peer hostb --vm "k$1" --vcpu 0 --migration f --timeout "${2:-20}" \
        "$W/r/rand-$(($1 % 8))-legacy.bin" >"$W/st/$1.out" 2>&1
    echo $? >"$W/st/$1"
}
# stored KEY: hostb's spool holds exactly the encoded form of blob KEY%8 (0) or nothing (1);
# anything else (other bytes, a second file) is a failure right here.
stored() {
    local f=$SPOOLB/f/k$1/vcpu-0.seq-0.bin
    [ -e "$f" ] || return 1
    cmp -s "$f" "$W/r/rand-$(($1 % 8))-encoded.bin" || { bad "key $1: stored bytes differ"; return 0; }
    [ "$(ls -A "$SPOOLB/f/k$1")" = vcpu-0.seq-0.bin ] || bad "key $1: $(ls -A "$SPOOLB/f/k$1")"
    return 0
}
SPOOLB=$W/hostb.spool
no_partial() { # no temporary file anywhere in hostb's spool
    local t
    t=$(find "$SPOOLB" -name '.tmp-*' 2>/dev/null)
    [ -z "$t" ] && ok || bad "partial files in the spool ($1): $t"
}
# check KEY: an ack means stored; a failure means a resend succeeds and then it is stored.
check() {
    local k=$1 st
    st=$(cat "$W/st/$k")
    if [ "$st" = 0 ]; then
        stored "$k" && ok || bad "key $k acknowledged but not in the spool: $(cat "$W/st/$k.out")"
    else
        grep -qE '^vmcs12ctl send: ' "$W/st/$k.out" && ok || bad "key $k: failed without an error line: $(cat "$W/st/$k.out")"
        send "$k" 30
        [ "$(cat "$W/st/$k")" = 0 ] && stored "$k" && ok || bad "key $k: resend after a failure: $(cat "$W/st/$k.out")"
    fi
}
faults() { grep -c "^fault conn .* $1 " "$W/proxy.log"; }
# kick: the proxy resets its live connections (they meet the rule just written when they come
# back), and hosta has seen its link go before the caller sends: a blob handed to the old
# connection in that window would fail for the kick, not for the fault under test.
kick() {
    local kicks downs live down='peer hostb (.*retrying in '
    kicks=$(grep -c '^kick ' "$W/proxy.log")
    downs=$(grep -c "$down" "$W/hosta.log")
    kill -USR1 "$PROXY"
    more_lines '^kick ' "$W/proxy.log" "$kicks"
    live=$(grep '^kick ' "$W/proxy.log" | tail -1 | cut -d' ' -f2)
    [ "${live:-0}" = 0 ] || more_lines "$down" "$W/hosta.log" "$downs" || bad "hosta did not see the proxy reset its link"
}
# more_lines PATTERN FILE N: wait up to 5 s until FILE has more than N lines matching PATTERN.
more_lines() {
    for _ in $(seq 100); do [ "$(grep -c -- "$1" "$2")" -gt "$3" ] && return 0; sleep 0.05; done
    return 1
}

# --- mid-handshake: each rule hits the next 2 connections, then the link gets through ---------------
for rule in "reset up:100" "drop up:100" "drop down:300" "reset down:300" "stall up:100" "stall down:300" "reset up:1200"; do
    before=$(grep -c '^fault ' "$W/proxy.log")
    echo "$rule count 2" >"$W/rule"
    kick
    n=$((n + 1))
    send $n 30
    [ "$(cat "$W/st/$n")" = 0 ] && stored $n && ok || bad "handshake '$rule': send failed: $(cat "$W/st/$n.out")"
    after=$(grep -c '^fault ' "$W/proxy.log")
    [ $((after - before)) = 2 ] && ok || bad "handshake '$rule': $((after - before)) faults applied, want 2"
done
grep -q 'not completed in time' "$W/hostb.log" && ok || bad "stalled handshakes not cut by the timeout"

# --- mid-frame and the lost ack ---------------------------------------------------------------------
for rule in "reset upbig" "drop upbig" "stall upbig" "drop ack" "reset ack" "stall ack"; do
    echo "$rule count 1" >"$W/rule"
    kick
    wait_peer hosta hostb connected 10 || bad "'$rule': link not back"
    n=$((n + 1))
    send $n 8
    st=$(cat "$W/st/$n")
    case $rule in
    *upbig) # the frame never arrived whole: nothing may be stored, the client must have failed
        [ "$st" != 0 ] && ok || bad "'$rule': acknowledged a blob cut in half"
        [ -e "$SPOOLB/f/k$n" ] && bad "'$rule': a cut frame stored something" || ok ;;
    *ack) # stored, the ack lost: the client was not told "stored"; the resend is a duplicate
        [ "$st" != 0 ] && ok || bad "'$rule': success without an ack"
        stored $n && ok || bad "'$rule': the destination did not store it" ;;
    esac
    check $n
    [ "$(faults "${rule%% *}")" -ge 1 ] && ok || bad "'$rule' not applied"
done
grep -q duplicate "$W/st/$n.out" && ok || bad "resend after a lost ack not reported as duplicate: $(cat "$W/st/$n.out")"
no_partial "mid-frame"

# --- slow network: every chunk 150 ms late, both ways ------------------------------------------------
echo "delay 150" >"$W/rule"
kick
for _ in 1 2 3; do n=$((n + 1)); send $n 30; check $n; done
echo pass >"$W/rule"
kick
wait_peer hosta hostb connected 10 || bad "link not back after the delays"

# --- hostb killed (SIGKILL) and restarted while 4 clients send 400 blobs -------------------------------
# senders K FIRST COUNT: K clients in the background, each sending its share of keys one by one.
senders() {
    bg=()
    local k
    for k in $(seq 0 $(($1 - 1))); do
        (for i in $(seq $(($2 + k)) "$1" $(($2 + $3 - 1))); do send "$i" 40; done) &
        bg+=($!)
    done
}
# after COUNT: wait until COUNT sends have finished since the mark (the kill lands mid-run).
after() {
    for _ in $(seq 400); do
        [ "$(find "$W/st" -maxdepth 1 -name '[0-9]*' ! -name '*.out' -newer "$W/mark" | wc -l)" -ge "$1" ] && return
        sleep 0.02
    done
}
# kill_mid NODE: 4 clients send 400 blobs; NODE is killed (SIGKILL) once 100 have finished.
kill_mid() {
    touch "$W/mark"
    first=$((n + 1))
    senders 4 $first 400
    n=$((n + 400))
    after 100
    kill -9 "$(eval echo "\$PID_$1")"
    wait "$(eval echo "\$PID_$1")" 2>/dev/null
}
# tally WHAT: every key of the last kill_mid checked; how many were acknowledged.
tally() {
    local acked=0 k
    for k in $(seq $first $n); do [ "$(cat "$W/st/$k")" = 0 ] && acked=$((acked + 1)); check "$k"; done
    echo "$1 killed: $acked of 400 acknowledged, $((400 - acked)) failed and resent"
}
kill_mid hostb
# What a kill inside a store leaves (a temporary file) cannot be timed from here; plant one as the
# writer names it, to see the start-up scan remove it and say so.
mkdir -p "$SPOOLB/f/kplanted"
head -c 1000 /dev/urandom >"$SPOOLB/f/kplanted/.tmp-Zz09aB"
left=$(find "$SPOOLB" -name '.tmp-*' | wc -l)
start hostb
wait "${bg[@]}"
grep -qE "removed $left partial files? left by an earlier run" "$W/hostb.log" && ok ||
    bad "start-up scan: $(grep -i 'partial' "$W/hostb.log")"
[ ! -e "$SPOOLB/f/kplanted/.tmp-Zz09aB" ] && ok || bad "planted partial file kept"
tally hostb # sends that waited out the restart were acknowledged after it
no_partial "after the restart"

# --- hosta killed while blobs are in flight: clients fail, nothing torn, the restarted hosta serves --
kill_mid hosta
wait "${bg[@]}"
start hosta
wait_peer hosta hostb connected 10 || bad "restarted hosta has no link"
tally hosta
no_partial "hosta killed"

# --- a recv too slow to keep up: 20000 requests at once (80 MiB of answers), read at 320 KB/s, then
# not read at all. The daemon takes requests only as fast as the answers leave, keeps the slow
# reader while it makes progress, hangs up idle_timeout_ms (3 s) after it stops, and serves others.
if [ -n "${V12_VALGRIND:-}" ]; then
    # Its rates and timings are the daemon's native ones: under valgrind the answers alone take
    # longer than the idle timeout.
    echo "SKIP slow reader under valgrind"
else
    rss0=$(rss "$PID_hostb")
    python3 "$HERE/hostile.py" slowrecv "$W/hostb.sock" k1 0 20000 2 6 >"$W/slow.out" &
    SLOW=$!
    sleep 1
    for _ in 1 2 3; do n=$((n + 1)); send $n 10; check $n; done
    "$C" recv --socket "$W/hostb.sock" --vm k2 --vcpu 0 -o "$W/k2.bin" >/dev/null 2>&1 && cmp -s "$W/k2.bin" "$W/r/rand-2-encoded.bin" &&
        ok || bad "recv while a slow reader holds its replies"
    sleep 4
    rss1=$(rss "$PID_hostb")
    wait $SLOW
    cat "$W/slow.out"
    if [ -z "${V12_SANITIZED:-}" ]; then
        [ $((rss1 - rss0)) -lt 8192 ] && ok || bad "hostb grew $((rss1 - rss0)) KiB while a client left 80 MiB of answers unread"
    fi
    out=$(cat "$W/slow.out")
    if [[ $out =~ ([0-9]+)\ replies\ in.*closed\ ([0-9.]+)\ s\ after ]]; then
        [ "${BASH_REMATCH[1]}" -ge 20 ] && ok || bad "slow reader starved: $out"
        awk -v t="${BASH_REMATCH[2]}" 'BEGIN { exit !(t >= 2 && t <= 8) }' && ok || bad "slow reader not cut about 3 s after it stopped: $out"
    else
        bad "slow reader: $out"
    fi
fi

# --- hostb's spool on a 64 KiB tmpfs that fills ---------------------------------------------------------
PF=$(free_port)
SPOOL_ROOT=$W/tmpfs config hostf encoded "" "$PF" hostf ca hosta "$PA"
sed -i "s#^\[peer hostb\]#[peer hostf]\naddress = 127.0.0.1:$PF\n&#" "$W/hosta.ini"
SPOOLF=$W/tmpfs/hostf.spool
cat >"$W/tmpfs.sh" <<EOF
#!/bin/sh
# vmcs12d in a mount namespace of its own, its spool a 64 KiB tmpfs there.
exec unshare -m --propagation private sh -c 'mount -t tmpfs -o size=64k,mode=0750 v12fault "\$0" && exec "\$@"' "$SPOOLF" "$D" "\$@"
EOF
chmod +x "$W/tmpfs.sh"
if unshare -m --propagation private sh -c "mount -t tmpfs -o size=64k v12probe '$W/tmpfs'" 2>"$W/probe.err"; then
    kill -TERM "$PID_hosta"
    wait "$PID_hosta"
    start hosta
    D0=$D D=$W/tmpfs.sh
    start hostf
    D=$D0
    wait_peer hosta hostf connected 10 || bad "hosta -> hostf"
    inf() { nsenter --mount="/proc/$PID_hostf/ns/mnt" "$@"; }
    full=0 okk=0
    for k in $(seq 1 30); do
        "$C" send --socket "$W/hosta.sock" --peer hostf --vm "t$k" --vcpu 0 --timeout 10 "$W/r/rand-$((k % 8))-legacy.bin" >"$W/tf.out" 2>&1
        if [ $? = 0 ]; then
            okk=$((okk + 1))
            inf cmp -s "$SPOOLF/default/t$k/vcpu-0.seq-0.bin" "$W/r/rand-$((k % 8))-encoded.bin" && ok || bad "tmpfs: acknowledged t$k differs or missing"
        else
            grep -q 'No space left on device' "$W/tf.out" && ok || bad "tmpfs: t$k: $(cat "$W/tf.out")"
            inf test -e "$SPOOLF/default/t$k/vcpu-0.seq-0.bin" && bad "tmpfs: t$k refused but stored" || ok
            full=$((full + 1))
        fi
    done
    echo "tmpfs spool: $okk stored, $full refused with ENOSPC"
    [ "$okk" -ge 1 ] && [ "$full" -ge 1 ] && ok || bad "tmpfs: $okk stored, $full refused"
    [ -z "$(inf find "$SPOOLF" -name '.tmp-*')" ] && ok || bad "tmpfs: partial files left"
    # The consumer takes what it needs and frees room: the refused blob goes through now.
    inf sh -c "rm -rf '$SPOOLF'/default/t1 '$SPOOLF'/default/t2 '$SPOOLF'/default/t3"
    "$C" send --socket "$W/hosta.sock" --peer hostf --vm t30 --vcpu 0 --timeout 10 "$W/r/rand-6-legacy.bin" >"$W/tf.out" 2>&1 &&
        inf cmp -s "$SPOOLF/default/t30/vcpu-0.seq-0.bin" "$W/r/rand-6-encoded.bin" && ok || bad "tmpfs: after freeing room: $(cat "$W/tf.out")"
    alive "$PID_hostf" && ok || bad "hostf died on a full spool"
    kill -TERM "$PID_hostf"
else
    echo "SKIP tmpfs spool: no private mount namespace here: $(cat "$W/probe.err")"
fi

# --- still serving, memory bounded --------------------------------------------------------------------
echo pass >"$W/rule"
for _ in 1 2; do n=$((n + 1)); send $n 20; [ "$(cat "$W/st/$n")" = 0 ] && stored $n && ok || bad "final send $n"; done
for p in "$PID_hosta" "$PID_hostb"; do alive "$p" && ok || bad "daemon $p died"; done
for h in hosta hostb; do
    kib=$(rss "$(eval echo "\$PID_$h")")
    echo "$h RSS at the end: $kib KiB"
    [ -n "${V12_SANITIZED:-}" ] || [ "$kib" -lt 65536 ] && ok || bad "$h RSS $kib KiB"
done
no_partial "end"
echo "faults applied: $(grep -c '^fault ' "$W/proxy.log"), blobs: $n keys"
finish
