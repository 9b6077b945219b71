#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Everything a peer or a client can throw at vmcs12d: an untrusted CA, a certificate naming the
# wrong peer or no configured peer, an expired certificate, plain TCP on the TLS port, a silent
# connection, oversized and garbage frames on both sockets, more connections than allowed,
# half-sent frames held open. The daemon refuses each with a clear log line and keeps running
# with bounded memory.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/lib.sh" "$1" "$2"
H="python3 $HERE/hostile.py"
DATA=$HERE/../data

mkca ca
mkca rogueca
mkcert hosta ca DNS:hosta
mkcert hostb ca DNS:hostb
mkcert rogue rogueca DNS:hosta          # right name, untrusted CA
mkcert hostc ca DNS:hostc               # trusted CA, names no configured peer
mkcert expired ca DNS:hosta -1          # right name, trusted CA, expired
PA=$(free_port) PB=$(free_port) PR=$(free_port) PC=$(free_port) PE=$(free_port) PI=$(free_port)
PM=$(free_port)
HANDSHAKE_MS=700 IDLE_MS=1500 EXTRA_DAEMON="max_connections = 40
metrics_listen = 127.0.0.1:$PM" config hostb encoded "" "$PB" hostb ca hosta "$PA"
start hostb

# Each impostor is a daemon that tries to reach hostb as "hosta".
config rogue legacy linux-6.18 "$PR" rogue ca hostb "$PB"
config wrongname legacy linux-6.18 "$PC" hostc ca hostb "$PB"
config expired legacy linux-6.18 "$PE" expired ca hostb "$PB"
start rogue && start wrongname && start expired
sleep 1.5
for n in rogue wrongname expired; do
    wait_peer "$n" hostb connected 1 && bad "$n got connected to hostb" || ok
    expect 1 'PEER_DOWN' -- "$C" send --socket "$W/$n.sock" --peer hostb --vm v --vcpu 0 --timeout 3 "$DATA/samples/vmx-l1-legacy.bin"
done
grep -qiE 'certificate verification failed|unknown ca|certificate verify failed' "$W/hostb.log" && ok || bad "untrusted CA not logged"
grep -q 'names no configured peer' "$W/hostb.log" && ok || bad "wrong name not logged"
python3 "$HERE/scrape.py" "127.0.0.1:$PM" 'vmcs12d_tls_handshake_failures_total{reason="certificate"}>=2' \
    'vmcs12d_tls_handshake_failures_total{reason="unknown_peer"}>=1' >"$W/metrics.txt" 2>&1 && ok ||
    bad "TLS failures in the metrics: $(cat "$W/metrics.txt")"
grep -qi 'expired' "$W/hostb.log" && ok || bad "expired certificate not logged"
[ -z "$(ls "$W/hostb.spool")" ] && ok || bad "something was stored"

# Outbound: hosta expects hostb's certificate at PI, but an impostor with hostc's answers there.
config impostor encoded "" "$PI" hostc ca hosta "$PA"
start impostor
config hosta legacy linux-6.18 "$PA" hosta ca hostb "$PI"
start hosta
sleep 1
wait_peer hosta hostb connected 1 && bad "hosta accepted an impostor" || ok
grep -q 'does not name peer hostb' "$W/hosta.log" && ok || bad "outbound name check not logged"
kill -9 "$PID_hosta" "$PID_impostor" "$PID_rogue" "$PID_wrongname" "$PID_expired" 2>/dev/null

# Plain TCP and a silent client on the TLS port.
[ "$($H plain 127.0.0.1 "$PB")" = closed ] && ok || bad "plain TCP not closed"
out=$($H silent 127.0.0.1 "$PB" 5)
case $out in closed*) ok ;; *) bad "silent client: $out" ;; esac
grep -q 'not completed in time' "$W/hostb.log" && ok || bad "handshake timeout not logged"

# A control client that says nothing is closed after idle_timeout_ms (1.5 s here).
out=$($H silentunix "$W/hostb.sock" 6)
case $out in "closed after "[1-4].*) ok ;; *) bad "idle control client: $out" ;; esac

# A configured peer (valid certificate) that misbehaves after the handshake.
for m in oversize garbage nohello; do
    out=$($H tls 127.0.0.1 "$PB" "$W/hosta.pem" "$W/hosta.key" "$W/ca.pem" $m)
    case $out in closed*) ok ;; *) bad "tls $m: $out" ;; esac
done
grep -q 'frame length exceeds the maximum frame size' "$W/hostb.log" && ok || bad "oversized frame not logged"
grep -q 'frame does not decode' "$W/hostb.log" && ok || bad "garbage frame not logged"

# The control socket: oversized, garbage, empty frames get an error reply, then the door.
for m in oversize garbage zero; do
    out=$($H control "$W/hostb.sock" $m)
    [ "$out" = "closed error-reply" ] && ok || bad "control $m: $out"
done

# Names from a client: a NUL (that protobuf would cut the name at), a path, control bytes. Each is
# refused with its own error and nothing is stored; the log quotes them escaped, one line each.
for name in 'vm\x00x' '../../etc/x' 'vm\x1b[31m\n<0>forged' 'a/b'; do
    for which in vm mig; do
        if [ $which = vm ]; then out=$($H blob "$W/hostb.sock" hosta mig-1 "$name" "$DATA/samples/vmx-l1-legacy.bin")
        else out=$($H blob "$W/hostb.sock" hosta "$name" vm-1 "$DATA/samples/vmx-l1-legacy.bin"); fi
        case $out in
        -1048*"NUL byte"*) [[ $name == *x00* ]] && ok || bad "$which '$name': $out" ;;
        -1033*"is not allowed"*) [[ $name != *x00* ]] && ok || bad "$which '$name': $out" ;;
        *) bad "$which '$name' not refused: $out" ;;
        esac
    done
done
[ -z "$(ls "$W/hostb.spool")" ] && ok || bad "a refused name stored something: $(ls -R "$W/hostb.spool")"
! LC_ALL=C grep -q $'\x1b' "$W/hostb.log" && ok || bad "a raw ESC byte reached the log"
grep -q '\\x1b\[31m\\x0a<0>forged' "$W/hostb.log" && ok || bad "the control-byte name is not logged escaped"
! grep -q '^<0>' "$W/hostb.log" && ok || bad "a forged priority line in the log"

# More connections than max_connections, each holding half a 60 KB frame: the extra ones are
# refused, the daemon's memory stays bounded.
out=$($H hold "$W/hostb.sock" 60 1)
case $out in "held 60, closed by daemon "*) n=${out##* }; [ "$n" -ge 15 ] && ok || bad "max_connections: $out" ;; *) bad "hold: $out" ;; esac
grep -q 'max_connections reached' "$W/hostb.log" && ok || bad "max_connections not logged"
kib=$(rss "$PID_hostb")
echo "hostb RSS after hostile clients: $kib KiB"
# Sanitizer builds carry shadow memory: the bound is checked on the plain build.
if [ -z "${V12_SANITIZED:-}" ]; then [ "$kib" -lt 65536 ] && ok || bad "RSS $kib KiB after hostile clients"; fi

# Still alive, still answering, counters show what was refused.
alive "$PID_hostb" && ok || bad "hostb died"
"$C" status --socket "$W/hostb.sock" --json >"$W/st.json" && python3 - "$W/st.json" <<'PY' && ok || bad "rejected counters"
import json, sys
r = json.load(open(sys.argv[1]))["rejected"]
for k in ("TLS", "FRAME_TOO_LARGE", "FRAME_MALFORMED", "PEER_UNKNOWN", "TIMEOUT", "BUSY"):
    assert r.get(k, 0) >= 1, (k, r)
PY
# A revoked certificate: hostb gets a CRL naming hosta's serial; hosta is refused from now on.
cat >"$W/ca.cnf" <<EOC
[ca]
default_ca = d
[d]
database = $W/index.txt
crlnumber = $W/crlnumber
default_md = sha256
default_crl_days = 1
EOC
: >"$W/index.txt"
echo 01 >"$W/crlnumber"
openssl ca -config "$W/ca.cnf" -keyfile "$W/ca.key" -cert "$W/ca.pem" -revoke "$W/hosta.pem" >/dev/null 2>&1
openssl ca -config "$W/ca.cnf" -keyfile "$W/ca.key" -cert "$W/ca.pem" -gencrl -out "$W/ca.crl" >/dev/null 2>&1
PR2=$(free_port) PH=$(free_port)
# hostr trusts the CA but checks its CRL; "revoked" presents hosta's (now revoked) certificate.
CRL=$W/ca.crl config hostr encoded "" "$PH" hostb ca hosta "$PR2"
config revoked legacy linux-6.18 "$PR2" hosta ca hostb "$PH"
start hostr && start revoked
sleep 1.5
wait_peer revoked hostb connected 1 && bad "revoked certificate accepted" || ok
grep -qi 'certificate revoked' "$W/hostr.log" && ok || bad "revoked certificate not refused (hostr log)"
kill -9 "$PID_hostr" "$PID_revoked" 2>/dev/null

# A PKI whose server certificates do not allow client authentication (libvirt/QEMU style): such a
# certificate cannot open a link; with [tls] client_cert/client_key the daemon presents a client one.
MKCERT_EKU=serverAuth mkcert srvonly ca DNS:hosta
MKCERT_EKU=clientAuth mkcert clionly ca DNS:hosta
PS1=$(free_port) PS2=$(free_port)
config srv1 legacy linux-6.18 "$PS1" srvonly ca hostb "$PB"
start srv1
sleep 1.5
wait_peer srv1 hostb connected 1 && bad "a server-only certificate opened a link" || ok
grep -qi 'unsuitable certificate purpose' "$W/hostb.log" && ok || bad "the refused client certificate's purpose is not logged"
NODE_NAME=hosta EXTRA_TLS="client_cert = $W/clionly.pem\nclient_key = $W/clionly.key" config srv2 legacy linux-6.18 "$PS2" srvonly ca hostb "$PB"
start srv2
wait_peer srv2 hostb connected 10 && ok || bad "client_cert/client_key not presented on the outbound link"
kill -9 "$PID_srv1" "$PID_srv2" 2>/dev/null

# systemd notification: READY=1, STATUS=, WATCHDOG=1 (WATCHDOG_USEC=300000), STOPPING=1.
PN=$(free_port)
config notified encoded "" "$PN" hostb ca
python3 "$HERE/notify.py" "$D" "$W/notified.ini" 1.5 >"$W/notify.out"
grep -qx 'READY=1 1' "$W/notify.out" && grep -q '^STATUS ' "$W/notify.out" && grep -qx 'STOPPING=1 1' "$W/notify.out" &&
    grep -qx 'exit 0' "$W/notify.out" && ok || { bad "sd_notify"; cat "$W/notify.out" >&2; }
n=$(awk '$1 == "WATCHDOG=1" {print $2}' "$W/notify.out")
[ "${n:-0}" -ge 3 ] && ok || bad "WATCHDOG=1 sent ${n:-0} times in 1.5 s at WATCHDOG_USEC=300000"

# --check-config: a valid file, an unknown key (file:line), a key that does not match its cert.
expect 0 'configuration valid' -- sh -c "'$D' --check-config --config '$W/hostb.ini' 2>&1 >/dev/null; '$D' --check-config --config '$W/hostb.ini' >&2"
sed 's/^padding = strict/padding = strict\nbogus = 1/' "$W/hostb.ini" | sed 's/\\n/\n/' >"$W/bad1.ini"
printf '[daemon]\nnode = x\nlayout = sideways\n' >"$W/bad2.ini"
sed "s#^key = .*#key = $W/hosta.key#" "$W/hostb.ini" >"$W/bad3.ini"
expect 1 "bad1.ini:[0-9]+: unknown key 'bogus' in \[daemon\]" -- "$D" --check-config --config "$W/bad1.ini"
expect 1 "bad2.ini:3: layout: 'sideways' is neither legacy nor encoded" -- "$D" --check-config --config "$W/bad2.ini"
expect 1 'key values mismatch|does not match cert' -- "$D" --check-config --config "$W/bad3.ini"
expect 1 'cannot open' -- "$D" --check-config --config "$W/none.ini"
# Stream-mode keys: a bad endpoint, a bad allow rule, a target without a listener.
sed "s#^padding = strict#stream_allow = tcp:127.0.0.1:9000-80#" "$W/hostb.ini" >"$W/bad4.ini"
expect 1 "bad4.ini:[0-9]+: stream_allow: 'tcp:127.0.0.1:9000-80' is not tcp:HOST:PORT\[-PORT\] or unix:/PATH" -- "$D" --check-config --config "$W/bad4.ini"
printf '\nstream_listen = unix:relative.sock\n' | cat "$W/hostb.ini" - >"$W/bad5.ini"
expect 1 "stream_listen: 'unix:relative.sock' is not tcp:HOST:PORT, tcp:HOST:PORT-PORT, unix:/PATH or unix:/PATH\\{LO-HI\\}SUFFIX \\(at most 256 endpoints" -- "$D" --check-config --config "$W/bad5.ini"
printf '\nstream_target = tcp:127.0.0.1:5000\n' | cat "$W/hostb.ini" - >"$W/bad6.ini"
expect 1 'has stream_target but no stream_listen' -- "$D" --check-config --config "$W/bad6.ini"
expect 2 'usage' -- "$D" --bogus

kill -TERM "$PID_hostb"
wait "$PID_hostb" && ok || bad "hostb did not exit 0"
finish
