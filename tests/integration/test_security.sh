#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The security negatives one by one (the rest are in test_relay_hostile.sh): no client
# certificate, TLS 1.2 offered when 1.3 is required, a certificate not yet valid, a configured
# peer's certificate speaking as another peer (both directions), the control socket's file mode
# against a user outside its group, length prefixes up to 2^32-1 on both sockets, repeated and
# deeply nested protobuf fields, a handshake trickled byte by byte, one peer opening more
# connections than it may, 30 connections that never start TLS. hostb refuses each with a log
# line naming it, never crashes, keeps serving hosta and hostc, and its memory stays bounded.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/lib.sh" "$1" "$2"
H="python3 $HERE/hostile.py"
DATA=$HERE/../data

mkca ca
for h in hosta hostb hostc; do mkcert $h ca DNS:$h; done
PA=$(free_port) PB=$(free_port) PC=$(free_port)
HANDSHAKE_MS=1500 EXTRA_DAEMON="max_peer_connections = 8
max_connections = 64" config hostb encoded "" "$PB" hostb ca hosta "$PA" hostc "$PC"
config hosta legacy linux-6.18 "$PA" hosta ca hostb "$PB"
config hostc legacy linux-6.18 "$PC" hostc ca hostb "$PB"
start hostb && start hosta && start hostc
wait_peer hosta hostb connected && wait_peer hostc hostb connected && ok || bad "peers"
relay() { # relay FROM VM: a blob from FROM to hostb, stored
    expect 0 '' -- "$C" send --socket "$W/$1.sock" --peer hostb --vm "$2" --vcpu 0 --timeout 10 "$DATA/samples/vmx-l1-legacy.bin"
}
logged() { # logged PATTERN WHAT: hostb's log has a line matching PATTERN
    grep -qiE -- "$1" "$W/hostb.log" && ok || bad "$2 not logged (want /$1/)"
}

# --- TLS -----------------------------------------------------------------------------------------------
out=$($H tlsnocert 127.0.0.1 "$PB" "$W/ca.pem")
case $out in closed*) ok ;; *) bad "no client certificate: $out" ;; esac
logged 'peer did not return a certificate|certificate required' "the missing client certificate"
out=$($H tls12 127.0.0.1 "$PB" "$W/hosta.pem" "$W/hosta.key" "$W/ca.pem")
case $out in refused*) ok ;; *) bad "TLS 1.2 with min_version 1.3: $out" ;; esac
logged 'unsupported protocol|protocol version' "the TLS 1.2 attempt"

# A certificate valid from 2030 (openssl ca: x509 -req cannot set a start date in OpenSSL 3.0).
cat >"$W/ca2.cnf" <<EOF
[ca]
default_ca = d
[d]
database = $W/index2.txt
new_certs_dir = $W
serial = $W/serial2
default_md = sha256
policy = p
copy_extensions = copy
[p]
commonName = supplied
EOF
: >"$W/index2.txt"
echo 1000 >"$W/serial2"
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$W/future.key" -out "$W/future.csr" -subj /CN=hosta \
    -addext subjectAltName=DNS:hosta -addext extendedKeyUsage=serverAuth,clientAuth >/dev/null 2>&1
openssl ca -batch -config "$W/ca2.cnf" -cert "$W/ca.pem" -keyfile "$W/ca.key" -in "$W/future.csr" -out "$W/future.pem" \
    -startdate 20300101000000Z -enddate 20310101000000Z -notext >/dev/null 2>&1
openssl x509 -in "$W/future.pem" -noout -startdate | grep -q 'Jan  1 00:00:00 2030' && ok || bad "could not make a not-yet-valid certificate"
PF=$(free_port)
NODE_NAME=hosta config future legacy linux-6.18 "$PF" future ca hostb "$PB"
# hostc's certificate (a configured peer of hostb, trusted CA) used to speak as hosta.
PL=$(free_port)
NODE_NAME=hosta config liar legacy linux-6.18 "$PL" hostc ca hostb "$PB"
start future && start liar
sleep 1.5
wait_peer future hostb connected 1 && bad "a not-yet-valid certificate got in" || ok
logged 'certificate is not yet valid' "the not-yet-valid certificate"
wait_peer liar hostb connected 1 && bad "hostc's certificate spoke as hosta" || ok
logged "its certificate names peer hostc but its hello says node 'hosta'" "the certificate/hello mismatch"
kill -9 "$PID_future" "$PID_liar"
# The other direction: a server holding hostb's certificate that says it is another node.
PZ=$(free_port) PA2=$(free_port)
NODE_NAME=hostz config fakeb encoded "" "$PZ" hostb ca hosta "$PA2"
NODE_NAME=hosta config a2 legacy linux-6.18 "$PA2" hosta ca hostb "$PZ"
start fakeb && start a2
sleep 1.5
wait_peer a2 hostb connected 1 && bad "a link accepted a server whose hello names another node" || ok
grep -q "hello: its certificate names peer hostb but its hello says node 'hostz'" "$W/a2.log" && ok || bad "outbound hello mismatch not logged"
kill -9 "$PID_fakeb" "$PID_a2"

# --- the control socket's mode: a user outside its group cannot connect; one in it can ----------------
chmod 0711 "$W" # the test's own directory: others may reach the socket, its mode decides
stat -c '%a %U %G' "$W/hostb.sock" | grep -qx '660 root root' && ok || bad "control socket mode: $(stat -c '%a %U %G' "$W/hostb.sock")"
expect 1 'Permission denied' -- setpriv --reuid=65534 --regid=65534 --clear-groups -- "$C" status --socket "$W/hostb.sock"
expect 0 '' -- setpriv --reuid=65534 --regid=65534 --groups=0 -- "$C" status --socket "$W/hostb.sock"
grep -q '^node hostb' "$W/out" && ok || bad "a group member's status: $(cat "$W/out")"
chmod 0700 "$W"

# --- length prefixes up to 2^32-1, on the TLS port and the control socket -----------------------------
for n in 0xFFFFFFFF 0xFFFFFFFE 0x80000000 0x7FFFFFFF 0x00010001; do
    out=$($H prefix 127.0.0.1 "$PB" "$W/hosta.pem" "$W/hosta.key" "$W/ca.pem" "$n")
    case $out in closed*) ok ;; *) bad "TLS prefix $n: $out" ;; esac
    out=$($H control "$W/hostb.sock" "prefix:$n")
    [ "$out" = "closed error-reply" ] && ok || bad "control prefix $n: $out"
done
# A peer's is logged (a control client gets the error in its reply).
[ "$(grep -c 'peer hosta in: closing: frame length exceeds the maximum frame size' "$W/hostb.log")" = 5 ] && ok ||
    bad "oversized prefixes from a peer not all logged"

# --- repeated and deeply nested protobuf fields -------------------------------------------------------
for m in repeated repeatedblob deepunknown deepgroup; do
    out=$($H control "$W/hostb.sock" $m)
    echo "control $m: $out"
    case $out in *reply) ok ;; *) bad "control $m: no answer ($out)" ;; esac
    alive "$PID_hostb" && ok || bad "hostb died on $m"
done

# --- a handshake trickled one byte per 100 ms is cut by handshake_timeout_ms (1.5 s) -------------------
out=$($H trickle 127.0.0.1 "$PB")
echo "trickle: $out"
case $out in "closed after "[1-3].*) ok ;; *) bad "trickled handshake: $out" ;; esac

# --- one peer opening more connections than max_peer_connections (8): the rest are closed, the
# other peer and the control socket are not crowded out ------------------------------------------------
$H tlsmany 127.0.0.1 "$PB" "$W/hosta.pem" "$W/hosta.key" "$W/ca.pem" hosta 30 4 >"$W/many.out" &
MANY=$!
sleep 2
relay hostc during-flood
"$C" status --socket "$W/hostb.sock" --json >"$W/flood.json" && python3 -c '
import json, sys
p = {x["name"]: x for x in json.load(open(sys.argv[1]))["peers"]}
assert p["hosta"]["inbound"] == 8, p["hosta"]' "$W/flood.json" && ok || bad "inbound from hosta during the flood: $(cat "$W/flood.json")"
wait $MANY
out=$(cat "$W/many.out")
echo "flood: $out"
# hosta's own link holds one of the 8.
[ "$out" = "held 30, closed by daemon 23" ] && ok || bad "max_peer_connections: $out"
logged 'max_peer_connections \(8\) reached' "max_peer_connections"
sleep 0.5
relay hosta after-flood

# --- anyone who reaches the port: 30 TCP connections that never start TLS get 16 slots (a quarter
# of max_connections 64, at least 16); the control socket and the peers' links keep working -------------
$H pretls 127.0.0.1 "$PB" 30 1.4 >"$W/pretls.out" &
PRE=$!
sleep 0.5
"$C" status --socket "$W/hostb.sock" >/dev/null && ok || bad "control socket crowded out by unauthenticated connections"
relay hosta during-pretls
wait $PRE
out=$(cat "$W/pretls.out")
echo "unauthenticated: $out"
[ "$out" = "held 30, closed within 1 s 14" ] && ok || bad "unauthenticated connections: $out"
logged 'peer connection refused: too many connections not yet authenticated' "the unauthenticated flood"
sleep 1
relay hosta after-pretls

# --- still alive, memory bounded ---------------------------------------------------------------------
alive "$PID_hostb" && ok || bad "hostb died"
kib=$(rss "$PID_hostb")
echo "hostb RSS at the end: $kib KiB"
[ -n "${V12_SANITIZED:-}" ] || [ "$kib" -lt 65536 ] && ok || bad "hostb RSS $kib KiB"
kill -TERM "$PID_hostb"
wait "$PID_hostb" && ok || bad "hostb did not exit 0"
finish
