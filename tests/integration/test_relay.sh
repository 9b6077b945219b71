#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Two (three) vmcs12d on loopback with certificates made here: randomized blobs relayed both
# ways between a legacy and an encoded host, every byte checked against the independent
# generator; re-targeting between legacy profiles; resends stored once; a peer that is down; a
# peer killed mid-transfer (never a false ack); SIGHUP reload; SIGTERM.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/lib.sh" "$1" "$2"
DATA=$HERE/../data

mkca ca
mkcert hosta ca DNS:hosta
mkcert hostb ca DNS:hostb
mkcert hostc ca DNS:hostc
PA=$(free_port) PB=$(free_port) PC=$(free_port) PM=$(free_port)
config hosta legacy linux-6.18 "$PA" hosta ca hostb "$PB" hostc "$PC"
EXTRA_DAEMON="metrics_listen = 127.0.0.1:$PM" config hostb encoded "" "$PB" hostb ca hosta "$PA"
config hostc legacy linux-5.14 "$PC" hostc ca hosta "$PA"
start hosta && start hostb && start hostc
wait_peer hosta hostb connected && wait_peer hostb hosta connected && wait_peer hosta hostc connected && ok || bad "peers did not connect"

# --- check: can nested state move to a peer (its announced layout) and back? --------------------------
expect 0 '' -- "$C" check --socket "$W/hosta.sock" --peer hostb
grep -q '^hosta (linux-6.18) -> hostb (encoded): every field has a place there' "$W/out" && ok || bad "check hostb: $(cat "$W/out")"
grep -q '^hostb (encoded) -> hosta (linux-6.18): NOT every field has a place here' "$W/out" && grep -q 'tertiary_vm_exec_control' "$W/out" && ok ||
    bad "check hostb, the way back: $(cat "$W/out")"
expect 1 '' -- "$C" check --socket "$W/hosta.sock" --peer hostc
grep -q '^hosta (linux-6.18) -> hostc (linux-5.14): NOT every field has a place there' "$W/out" && ok || bad "check hostc: $(cat "$W/out")"
"$C" check --socket "$W/hosta.sock" --peer hostc --json >"$W/check.json"
python3 -c '
import json, sys
d = json.load(sys.stdin)
assert d["layout"] == "linux-6.18" and d["peer_layout"] == "linux-5.14" and not d["to_peer_ok"] and d["from_peer_ok"], d
assert d["no_place_at_peer"] and all(isinstance(f, str) for f in d["no_place_at_peer"]), d' <"$W/check.json" && ok ||
    bad "check --json: $(cat "$W/check.json")"
expect 1 'PEER_UNKNOWN' -- "$C" check --socket "$W/hosta.sock" --peer nobody

# --- randomized blobs, both ways, every byte ------------------------------------------------
mkdir -p "$W/r"
python3 "$HERE/randblobs.py" "$W/r" 24 "${SEED:-$RANDOM}" linux-6.18
for k in $(seq 0 23); do
    if [ $((k % 2)) = 0 ]; then src=hosta dst=hostb from=legacy to=encoded; else src=hostb dst=hosta from=encoded to=legacy; fi
    expect 0 '' -- "$C" send --socket "$W/$src.sock" --peer "$dst" --vm "vm$k" --vcpu "$k" --migration m1 --seq 7 "$W/r/rand-$k-$from.bin"
    expect 0 '' -- "$C" recv --socket "$W/$dst.sock" --vm "vm$k" --vcpu "$k" --migration m1 -o "$W/r/got-$k.bin"
    cmp -s "$W/r/got-$k.bin" "$W/r/rand-$k-$to.bin" && ok || bad "blob $k $src->$dst: stored bytes differ from the $to golden"
    [ "$(stat -c %s "$W/$dst.spool/m1/vm$k/vcpu-$k.seq-7.bin")" = "$(stat -c %s "$W/r/rand-$k-$to.bin")" ] && ok || bad "spool file $k"
done
# The report in the ack: converted, the layouts named.
expect 0 '' -- "$C" send --socket "$W/hosta.sock" --peer hostb --vm shadow --vcpu 0 "$DATA/samples/vmx-l2-shadow-legacy.bin"
grep -q 'converted linux-6.18 -> encoded, 2 regions, 302 fields' "$W/out" && ok || bad "send output lacks the conversion"

# --- a resend with the same key is stored once -------------------------------------------------
before=$(find "$W/hostb.spool" -type f | wc -l)
expect 0 '' -- "$C" send --socket "$W/hosta.sock" --peer hostb --vm vm0 --vcpu 0 --migration m1 --seq 7 "$W/r/rand-0-legacy.bin"
grep -q 'duplicate' "$W/out" && ok || bad "resend not reported as duplicate"
[ "$(find "$W/hostb.spool" -type f | wc -l)" = "$before" ] && ok || bad "resend stored twice"
# A different blob under the same key is refused, the stored one kept.
expect 1 'different blob is already stored' -- "$C" send --socket "$W/hosta.sock" --peer hostb --vm vm0 --vcpu 0 --migration m1 --seq 7 "$W/r/rand-2-legacy.bin"
cmp -s "$W/hostb.spool/m1/vm0/vcpu-0.seq-7.bin" "$W/r/rand-0-encoded.bin" && ok || bad "stored blob replaced"

# --- metrics: what hostb stored and refused, in the Prometheus text format ---------------------------------
python3 "$HERE/scrape.py" "127.0.0.1:$PM" 'vmcs12d_blobs_stored_total>=13' 'vmcs12d_blobs_duplicate_total>=1' \
    'vmcs12d_blob_bytes_received_total>=50000' 'vmcs12d_refused_total{reason="EEXIST"}>=1' \
    "vmcs12d_build_info{version=\"$("$D" --version | awk '{print $2}')\",layout=\"encoded\"}>=1" 'vmcs12d_peers_connected>=1' >"$W/metrics.txt" 2>&1 && ok ||
    bad "metrics: $(cat "$W/metrics.txt")"

# --- legacy -> legacy between profiles ------------------------------------------------------------
expect 0 '' -- "$C" send --socket "$W/hosta.sock" --peer hostc --vm old --vcpu 0 "$DATA/samples/vmx-l1-linux-5.14-legacy.bin"
"$C" convert --from legacy --to legacy --from-profile linux-6.18 --to-profile linux-5.14 "$DATA/samples/vmx-l1-linux-5.14-legacy.bin" -o "$W/exp514.bin"
cmp -s "$W/hostc.spool/default/old/vcpu-0.seq-0.bin" "$W/exp514.bin" && ok || bad "6.18 -> 5.14 relay differs from offline conversion"
expect 1 'guest_ssp at offset .* \[FIELD_NO_HOME\]' -- "$C" send --socket "$W/hosta.sock" --peer hostc --vm cet --vcpu 0 "$DATA/bad/cet-to-5.14.bin"
[ ! -e "$W/hostc.spool/default/cet" ] && ok || bad "refused blob reached hostc"

# --- bad blobs from a client: refused with the reason, nothing sent --------------------------------
expect 1 'PADDING_NONZERO' -- "$C" send --socket "$W/hosta.sock" --peer hostb --vm pad --vcpu 0 "$DATA/bad/padding-fred-tail.bin"
expect 1 'SIZE_MISMATCH' -- "$C" send --socket "$W/hosta.sock" --peer hostb --vm sz --vcpu 0 "$DATA/bad/size-mismatch.bin"
expect 1 'PEER_UNKNOWN' -- "$C" send --socket "$W/hosta.sock" --peer nosuch --vm x --vcpu 0 "$DATA/samples/vmx-l1-legacy.bin"
expect 1 'not allowed' -- "$C" send --socket "$W/hosta.sock" --peer hostb --vm ../etc --vcpu 0 "$DATA/samples/vmx-l1-legacy.bin"
[ ! -e "$W/hostb.spool/default/pad" ] && ok || bad "refused blob stored"
expect 1 'NOT_FOUND' -- "$C" recv --socket "$W/hostb.sock" --vm never --vcpu 0
# recv --wait: the blob arrives while the request waits.
"$C" recv --socket "$W/hostb.sock" --vm late --vcpu 3 --wait 10 -o "$W/late.bin" 2>"$W/late.err" &
waiter=$!
sleep 0.3
expect 0 '' -- "$C" send --socket "$W/hosta.sock" --peer hostb --vm late --vcpu 3 "$DATA/samples/vmx-l1-legacy.bin"
wait $waiter && cmp -s "$W/late.bin" "$DATA/samples/vmx-l1-encoded.bin" && ok || bad "recv --wait"
# recv -o: a new file is 0600 (guest CPU state) under any umask; a FIFO is written, not replaced;
# a symbolic link's target is replaced and the link kept.
rm -f "$W/late.bin"
(umask 000 && "$C" recv --socket "$W/hostb.sock" --vm late --vcpu 3 -o "$W/late.bin" 2>/dev/null)
[ "$(stat -c %a "$W/late.bin")" = 600 ] && ok || bad "recv -o made a $(stat -c %a "$W/late.bin") file"
mkfifo "$W/recv.fifo"
timeout 20 cat "$W/recv.fifo" >"$W/from-fifo" &
"$C" recv --socket "$W/hostb.sock" --vm late --vcpu 3 -o "$W/recv.fifo" 2>/dev/null && wait $! &&
    [ -p "$W/recv.fifo" ] && cmp -s "$W/from-fifo" "$DATA/samples/vmx-l1-encoded.bin" && ok || bad "recv -o FIFO"
echo old >"$W/recv-target.bin" && chmod 640 "$W/recv-target.bin" && ln -s recv-target.bin "$W/recv-link"
"$C" recv --socket "$W/hostb.sock" --vm late --vcpu 3 -o "$W/recv-link" 2>/dev/null && [ -L "$W/recv-link" ] &&
    cmp -s "$W/recv-target.bin" "$DATA/samples/vmx-l1-encoded.bin" && [ "$(stat -c %a "$W/recv-target.bin")" = 640 ] && ok ||
    bad "recv -o symlink"

# --- status --------------------------------------------------------------------------------------
"$C" status --socket "$W/hosta.sock" --json >"$W/st.json" && python3 - "$W/st.json" <<'PY' && ok || bad "status counters"
import json, sys
s = json.load(open(sys.argv[1]))
assert s["node"] == "hosta" and s["layout"] == "linux-6.18", s
peers = {p["name"]: p for p in s["peers"]}
assert peers["hostb"]["state"] == "connected" and peers["hostb"]["layout"] == "encoded", peers
assert peers["hostc"]["layout"] == "linux-5.14", peers
assert s["blobs_relayed"] >= 14 and s["blobs_converted"] >= 14, s
assert s["rejected"].get("FIELD_NO_HOME") == 1 and s["rejected"].get("PADDING_NONZERO") == 1, s["rejected"]
assert s["rejected"].get("PEER_UNKNOWN") == 1, s["rejected"]
PY
expect 0 '' -- "$C" status --socket "$W/hostb.sock"
grep -q 'peer hosta' "$W/out" && ok || bad "status text"

# --- SIGHUP: new certificate, established links stay up ------------------------------------------
cp "$W/hosta.pem" "$W/hosta.pem.orig"
mkcert hosta ca DNS:hosta
kill -HUP "$PID_hosta"
wait_log "$W/hosta.log" 'SIGHUP: certificate, key, CA and CRL reloaded' && ok || bad "SIGHUP reload not logged"
expect 0 '' -- "$C" send --socket "$W/hosta.sock" --peer hostb --vm afterhup --vcpu 0 "$DATA/samples/vmx-l1-legacy.bin"
grep -c 'connected, node hostb' "$W/hosta.log" | grep -qx 1 && ok || bad "link to hostb was dropped by SIGHUP"
# A broken certificate on SIGHUP keeps the old one.
echo garbage >"$W/hosta.pem"
kill -HUP "$PID_hosta"
wait_log "$W/hosta.log" 'keeping the current certificate' && ok || bad "bad reload not refused"
cp "$W/hosta.pem.orig" "$W/hosta.pem"

# --- a peer that is down: a clear error within the timeout -----------------------------------------
kill -9 "$PID_hostc"
wait_peer hosta hostc backoff 10 || wait_peer hosta hostc connecting 2 || true
# The send waits for the link within its timeout (the daemon keeps trying), then fails naming
# the last connection error; it never hangs past the timeout.
t0=$(date +%s%N)
expect 1 'peer hostc .* did not connect in time .*[Cc]onnection refused.*nothing was sent \[PEER_DOWN\]' -- "$C" send --socket "$W/hosta.sock" --peer hostc --vm down --vcpu 0 --timeout 2 "$DATA/samples/vmx-l1-linux-5.14-legacy.bin"
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
[ "$ms" -ge 1200 ] && [ "$ms" -lt 2500 ] && ok || bad "send to a down peer with --timeout 2 ended after $ms ms"

# --- a peer killed mid-transfer: never a false ack ----------------------------------------------
kill -STOP "$PID_hostb"
"$C" send --socket "$W/hosta.sock" --peer hostb --vm midway --vcpu 0 --timeout 20 "$DATA/samples/vmx-l1-legacy.bin" >"$W/mid.out" 2>"$W/mid.err" &
sender=$!
sleep 0.5
kill -9 "$PID_hostb"
wait $sender
rc=$?
[ "$rc" = 1 ] && ok || bad "send through a killed peer exited $rc"
grep -q 'lost before it acknowledged' "$W/mid.err" && ok || { bad "no 'lost before it acknowledged'"; cat "$W/mid.err" >&2; }
[ ! -e "$W/hostb.spool/default/midway" ] && ok || bad "killed peer stored the blob"
grep -q 'stored by' "$W/mid.out" && bad "false ack" || ok
grep -q 'without TLS close_notify (truncated)' "$W/hosta.log" && ok || bad "missing close_notify not logged"

# --- the first send after start: a link waiting out its backoff connects now ---------------------
# "early" starts alone, so its link to "late" fails and waits out a 20 s backoff; "late" starts,
# and a send with time left makes the link try again at once instead of failing (PEER_DOWN).
mkcert early ca DNS:early
mkcert late ca DNS:late
PE=$(free_port) PL=$(free_port)
RECONNECT_MIN_MS=20000 RECONNECT_MAX_MS=20000 config early legacy linux-6.18 "$PE" early ca late "$PL"
config late encoded "" "$PL" late ca early "$PE"
start early
wait_peer early late backoff 10 && ok || bad "early's link did not back off"
expect 1 'peer late has not announced its layout yet \(backoff: .*\) \[PEER_DOWN\]' -- "$C" check --socket "$W/early.sock" --peer late
start late
t0=$(date +%s%N)
expect 0 'stored by late' -- sh -c "'$C' send --socket '$W/early.sock' --peer late --vm first --vcpu 0 --timeout 30 '$DATA/samples/vmx-l1-legacy.bin' >&2"
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
[ "$ms" -lt 10000 ] && ok || bad "the first send waited $ms ms (the backoff was not cut short)"
cmp -s "$W/late.spool/default/first/vcpu-0.seq-0.bin" "$DATA/samples/vmx-l1-encoded.bin" && ok || bad "first send not stored as encoded"
grep -q 'waiting for peer late (backoff)' "$W/early.log" && ok || bad "early did not log the waiting send"

# --- a peer down longer than peer_down_warn_s: one warning, one notice when back, the metric ---------
# "lone" starts alone: its peer "back" has not come up, and after peer_down_warn_s = 1 that is
# one line at warning (priority 4), however long it lasts; the metric says since when.
mkcert lone ca DNS:lone
mkcert back ca DNS:back
PO=$(free_port) PK=$(free_port) PMO=$(free_port)
EXTRA_DAEMON="peer_down_warn_s = 1
metrics_listen = 127.0.0.1:$PMO" RECONNECT_MIN_MS=100 RECONNECT_MAX_MS=200 config lone legacy linux-6.18 "$PO" lone ca back "$PK"
config back encoded "" "$PK" back ca lone "$PO"
t_start=$(date +%s)
start lone
t_started=$(date +%s) # the link starts (and is down from then) somewhere in between
sleep 0.5
grep -q '^<4>peer back .*unreachable' "$W/lone.log" && bad "warned before peer_down_warn_s" || ok
# Wait for the warning (slow under sanitizers), then a while more: it must not repeat.
wait_log "$W/lone.log" '^<4>peer back .*unreachable for' 15
sleep 1.5
n=$(grep -cE '^<4>peer back \(127\.0\.0\.1:[0-9]+\): unreachable for [0-9]+ s \(peer_down_warn_s = 1\): .*[Cc]onnection refused' "$W/lone.log")
[ "$n" = 1 ] && ok || bad "peer down 3 s: $n warnings, want 1: $(grep 'peer back' "$W/lone.log" | tail -3)"
grep -cE '^<6>peer back .*retrying in' "$W/lone.log" | grep -qvx 0 && ok || bad "retries not logged at info"
python3 "$HERE/scrape.py" "127.0.0.1:$PMO" "vmcs12d_peer_down_since_seconds{peer=\"back\"}>=$((t_start - 1))" \
    "vmcs12d_peer_down_since_seconds{peer=\"back\"}<=$((t_started + 1))" >"$W/down.txt" 2>&1 && ok || bad "down metric: $(cat "$W/down.txt")"
start back
wait_peer lone back connected 10 && ok || bad "lone did not connect to back"
grep -qE '^<5>peer back \(127\.0\.0\.1:[0-9]+\): reachable again after [0-9]+ s down' "$W/lone.log" && ok || bad "no notice when back"
python3 "$HERE/scrape.py" "127.0.0.1:$PMO" 'vmcs12d_peer_down_since_seconds{peer="back"}<=0' >"$W/up.txt" 2>&1 && ok || bad "up metric: $(cat "$W/up.txt")"
# Down again: a new warning after the limit (the first one does not silence later outages).
kill -9 "$PID_back"
wait_log "$W/lone.log" '^<4>peer back .*unreachable for' 15 2
n=$(grep -cE '^<4>peer back .*unreachable for' "$W/lone.log")
[ "$n" = 2 ] && ok || bad "second outage: $n warnings in all, want 2"
kill "$PID_lone"

# --- the libvirt hook, run as libvirt runs it (only LC_ALL, PATH and HOME) ------------------------------
# A migration may begin only when the local vmcs12d answers and a peer's link is up; the hook
# finds the daemon through its configuration file and passes the domain XML through unchanged.
HOOK=$HERE/../../contrib/libvirt/qemu
hook() { # hook CONFIG DOMAIN OP SUB
    printf '<domain type="qemu"><name>%s</name></domain>\n' "$2" |
        env -i LC_ALL=C PATH="$(dirname "$C"):/usr/bin:/bin" HOME=/ VMCS12D_CONFIG="$1" "$HOOK" "$2" "$3" "$4" - \
            >"$W/hook.out" 2>"$W/hook.err"
}
hook "$W/early.ini" dom1 migrate begin && ok || bad "hook refused with a peer up: $(cat "$W/hook.err")"
grep -qx '<domain type="qemu"><name>dom1</name></domain>' "$W/hook.out" && [ ! -s "$W/hook.err" ] && ok || bad "hook did not pass the XML through unchanged"
hook "$W/early.ini" dom1 prepare begin && [ ! -s "$W/hook.out" ] && ok || bad "hook blocked an unrelated operation"
sed "s#^control_socket = .*#control_socket = $W/none.sock#" "$W/early.ini" >"$W/none.ini"
hook "$W/none.ini" dom1 migrate begin && bad "hook allowed a migration without vmcs12d" || ok
grep -q "^vmcs12d hook: refusing incoming migration of dom1: vmcs12d is not answering: cannot connect to vmcs12d at $W/none.sock" "$W/hook.err" &&
    [ "$(wc -l <"$W/hook.err")" = 1 ] && ok || bad "hook message without vmcs12d: $(cat "$W/hook.err")"
hook "$W/none-such.ini" dom1 migrate begin && bad "hook allowed a migration without a configuration" || ok
grep -q "cannot read $W/none-such.ini" "$W/hook.err" && ok || bad "hook message without a configuration"
kill -9 "$PID_late"
wait_peer early late backoff 10 || true
hook "$W/early.ini" dom1 migrate begin && bad "hook allowed a migration with no peer link up" || ok
grep -q "refusing incoming migration of dom1: vmcs12d on early has no peer link up (late: backoff: .*) \[PEER_DOWN\]" "$W/hook.err" && ok ||
    bad "hook message with the peer down: $(cat "$W/hook.err")"
expect 1 'no peer link up' -- "$C" ready --socket "$W/early.sock" --timeout 2

# --- systemd socket activation: the control socket and the TLS listener passed by name ----------------
PACT=$(free_port) PACT2=$(free_port) PAP=$(free_port)
mkcert acta ca DNS:hosta
mkcert actb ca DNS:hostb
NODE_NAME=hostb config act encoded "" "$PACT" actb ca hosta "$PAP"
NODE_NAME=hosta config actpeer legacy linux-6.18 "$PAP" acta ca hostb "$PACT2"
systemd-socket-activate -l "$W/act-activated.sock" -l "127.0.0.1:$PACT2" --fdname=control:peers -- "$D" --config "$W/act.ini" \
    >>"$W/act.log" 2>&1 &
PIDS+=($!)
PID_act=$!
for _ in $(seq 100); do "$C" status --socket "$W/act-activated.sock" >/dev/null 2>&1 && break; sleep 0.05; done
"$C" status --socket "$W/act-activated.sock" | grep -q "^node hostb," && ok || bad "activated control socket does not answer"
[ ! -e "$W/act.sock" ] && ok || bad "the configured control socket was bound although one was passed"
grep -q 'socket activation: control socket passed, peer listener passed' "$W/act.log" && ok || bad "activation not logged"
start actpeer
wait_peer actpeer hostb connected 10 && ok || bad "a peer cannot reach the activated TLS listener"
kill -TERM "$PID_act"
wait "$PID_act"
[ $? = 0 ] && ok || bad "activated daemon did not stop cleanly"
[ -S "$W/act-activated.sock" ] && ok || bad "the daemon removed systemd's socket"

# --- profile = auto (the default for layout = legacy): the running kernel picks the profile ----------------
PAU=$(free_port)
config auto legacy "" "$PAU" acta ca
start auto
"$C" status --socket "$W/auto.sock" >"$W/auto.st"
grep -q "^node auto, layout linux-[0-9.]* (auto: kernel $(uname -r) is linux-" "$W/auto.st" && ok || bad "status does not say how the profile was chosen: $(head -1 "$W/auto.st")"
grep -q "legacy profile linux-[0-9.]* (auto: kernel $(uname -r) is linux-" "$W/auto.log" && ok || bad "the start-up log does not name the profile and why"
"$C" status --socket "$W/auto.sock" --json | python3 -c 'import json,sys; d=json.load(sys.stdin); sys.exit(0 if d["profile_source"].startswith("auto: kernel ") else 1)' && ok || bad "status --json profile_source"
expect 1 'vmcs12d on auto has no peer link up \(no peer is configured\) \[PEER_DOWN\]' -- "$C" ready --socket "$W/auto.sock"
"$C" status --socket "$W/hosta.sock" | grep -q "^node hosta, layout linux-6.18 (configured)" && ok || bad "a configured profile is not reported as such"

# --- the daemon survived all of it, and SIGTERM ends it with 0 ------------------------------------
alive "$PID_hosta" && ok || bad "hosta died"
kill -TERM "$PID_hosta"
wait "$PID_hosta"
rc=$?
[ "$rc" = 0 ] && ok || bad "SIGTERM exit $rc"
grep -q 'stopped' "$W/hosta.log" && ok || bad "no clean stop"
[ ! -e "$W/hosta.sock" ] && ok || bad "control socket left behind"
finish
