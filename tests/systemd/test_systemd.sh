#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# vmcs12d as a real service under a booted systemd: a Debian 12 container (systemd-nspawn -b,
# systemd as PID 1, journald, the unit's sandbox) gets the previous release's package, is
# configured and enabled, and is upgraded to the package built from this tree with a blob
# transfer in flight (it completes; the daemon runs the new binary). Then, on the new package:
# Type=notify with STATUS=, socket activation from cold, after stop, after restart and after
# kill -9 (Restart=on-failure) with a client waiting meanwhile; a blob and a real QEMU migration
# through the sandboxed service to a vmcs12d outside; reload with a new certificate; journald
# priorities; the sandbox as applied; remove, purge, a fresh install that enables and starts
# nothing; lintian on the package.
#   test_systemd.sh BUILD_DIR SOURCE_DIR    (exit 77: skipped, with the reason)
set -uo pipefail
B=$(cd "$1" && pwd)
S=$(cd "$2" && pwd)
HERE=$S/tests
skip() {
    echo "SKIP: $*"
    exit 77
}
[ -n "${V12_SANITIZED:-}" ] && skip "the package is built from the plain build (this one is sanitized)"
[ "$(id -u)" = 0 ] || skip "needs root (systemd-nspawn)"
command -v systemd-nspawn >/dev/null || skip "systemd-nspawn is not installed (package systemd-container)"
BASE=$("$HERE/systemd/rootfs.sh" path) || {
    msg="no container root file system: run 'tests/systemd/rootfs.sh make' (contrib/run.sh test does)"
    [ -n "${CI:-}" ] && { echo "FAIL: $msg" >&2; exit 1; }
    skip "$msg"
}
PREV=$("$HERE/release/previous.sh" "$S") || { echo "FAIL: the previous release could not be built" >&2; exit 1; }
PREV_VERSION=$(awk '$1 == "version" {print $2}' "$S/contrib/previous-release")
source "$HERE/integration/lib.sh" "$B/daemon/vmcs12d" "$B/cli/vmcs12ctl"
source "$HERE/stream/qemu.sh"
DATA=$HERE/data
MEM=${MEM_MB:-64}
VERSION=$("$B/daemon/vmcs12d" --version | awk '{print $2}')

RUN=
NSPAWN=
INIT=
stop_container() {
    if [ -n "$INIT" ] && [ "$fail" != 0 ] && kill -0 "$NSPAWN" 2>/dev/null; then
        IN journalctl --no-pager -n 150 >"$W/container-journal.log" 2>&1
    fi
    if [ -n "$NSPAWN" ] && kill -0 "$NSPAWN" 2>/dev/null; then
        kill -TERM "$NSPAWN" 2>/dev/null
        for _ in $(seq 100); do kill -0 "$NSPAWN" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$NSPAWN" 2>/dev/null
        wait "$NSPAWN" 2>/dev/null
    fi
    NSPAWN=
    [ -n "$RUN" ] && [ -d "$RUN" ] && rm -rf --one-file-system "$RUN"
}
trap 'stop_container; cleanup' EXIT

IN() { nsenter -t "$INIT" -a -- "$@"; }
unit() { IN systemctl show -p "$2" --value "$1"; }
journal() { IN journalctl -u vmcs12d.service --no-pager -o cat "$@"; }
# jgrep [JOURNALCTL ARGS...] -- GREP ARGS...: the journal read whole, then searched (a grep -q
# on a pipe would cut journalctl short, and pipefail would call that a failure).
jgrep() {
    local a=()
    while [ $# -gt 0 ] && [ "$1" != -- ]; do a+=("$1"); shift; done
    shift
    journal "${a[@]}" >"$W/journal.txt" 2>&1
    grep "$@" "$W/journal.txt"
}
main_pid() { unit vmcs12d.service MainPID; }
# wait_in_peer STATE [SECONDS]: the container daemon's own link to hostout
wait_in_peer() {
    for _ in $(seq $((${2:-20} * 10))); do
        IN vmcs12ctl status --json 2>/dev/null |
            python3 -c 'import json,sys; d=json.load(sys.stdin); sys.exit(0 if any(p["name"]=="hostout" and p["state"]==sys.argv[1] for p in d["peers"]) else 1)' "$1" && return 0
        sleep 0.1
    done
    return 1
}
# wait_state UNIT STATE [SECONDS]
wait_state() {
    for _ in $(seq $((${3:-20} * 10))); do
        [ "$(unit "$1" ActiveState)" = "$2" ] && return 0
        sleep 0.1
    done
    return 1
}

# --- the packages: this tree's and the previous release's -----------------------------------------------
mkdir -p "$W/deb"
(cd "$B" && cpack -G DEB -B "$W/deb" >"$W/cpack.log" 2>&1) && ok || bad "cpack: $(tail -5 "$W/cpack.log")"
NEW=$(ls "$W"/deb/vmcs12d_"$VERSION"_*.deb 2>/dev/null | head -1)
OLD=$(ls "$PREV"/deb/vmcs12d_"$PREV_VERSION"_*.deb 2>/dev/null | head -1)
[ -n "$NEW" ] && [ -n "$OLD" ] || { bad "packages missing: new '$NEW', previous '$OLD'"; finish; exit 1; }
if command -v lintian >/dev/null; then
    lintian --no-tag-display-limit "$NEW" >"$W/lintian.out" 2>&1
    ! grep -q '^E:' "$W/lintian.out" && ok || bad "lintian errors: $(grep '^E:' "$W/lintian.out" | head -5)"
else
    bad "lintian is not installed (contrib/run.sh deps installs it)"
fi

# --- boot a copy of the container tree --------------------------------------------------------------------
RUN=$(mktemp -d "$(dirname "$BASE")/run.XXXXXX")
cp -a "$BASE/." "$RUN/"
cp "$NEW" "$RUN/root/new.deb"
cp "$OLD" "$RUN/root/old.deb"
cp "$DATA/samples/vmx-l1-legacy.bin" "$RUN/root/blob.bin"
systemd-nspawn --register=no --keep-unit -D "$RUN" -b --console=pipe --machine="v12t$$" </dev/null >"$W/nspawn.log" 2>&1 &
NSPAWN=$!
booted=
for _ in $(seq 300); do
    INIT=$(pgrep -P "$NSPAWN" 2>/dev/null | head -1)
    if [ -n "$INIT" ]; then
        st=$(IN systemctl is-system-running 2>/dev/null)
        case $st in running | degraded) booted=1; break ;; esac
    fi
    kill -0 "$NSPAWN" 2>/dev/null || break
    sleep 0.1
done
[ -n "$booted" ] || skip "systemd-nspawn cannot boot a container here: $(tail -5 "$W/nspawn.log" | tr '\n' ' ')"
ok
[ "$(IN cat /proc/1/comm)" = systemd ] && ok || bad "PID 1 in the container is not systemd"

# --- certificates and configuration --------------------------------------------------------------------------
mkca ca
mkcert hostin ca DNS:hostin
mkcert hostout ca DNS:hostout
PIN=$(free_port) POUT=$(free_port) QL=$(free_port) QT=$(free_port)
write_config() { # write_config [EXTRA]: the container daemon's configuration
    {
        echo "[daemon]"
        echo "node = hostin"
        echo "layout = legacy"
        echo "listen = 127.0.0.1:$PIN"
        echo "reconnect_min_ms = 100"
        echo "reconnect_max_ms = 500"
        echo "shutdown_timeout_ms = 20000"
        [ -n "${1:-}" ] && echo "$1"
        echo "[tls]"
        echo "cert = /etc/vmcs12d/hostin.pem"
        echo "key = /etc/vmcs12d/hostin.key"
        echo "ca = /etc/vmcs12d/ca.pem"
        echo "[peer hostout]"
        echo "address = 127.0.0.1:$POUT"
        echo "stream_listen = tcp:127.0.0.1:$QL"
        echo "stream_target = tcp:127.0.0.1:$QT"
    } >"$RUN/etc/vmcs12d/vmcs12d.conf"
}
install_certs() { # install_certs CERTNAME: as /etc/vmcs12d/hostin.{pem,key}, readable by the daemon's group
    cp "$W/$1.pem" "$RUN/etc/vmcs12d/hostin.pem"
    cp "$W/$1.key" "$RUN/etc/vmcs12d/hostin.key"
    cp "$W/ca.pem" "$RUN/etc/vmcs12d/ca.pem"
    IN chown root:vmcs12d /etc/vmcs12d/hostin.pem /etc/vmcs12d/hostin.key /etc/vmcs12d/ca.pem
    IN chmod 0640 /etc/vmcs12d/hostin.key
}
# The TLS listener held by systemd too: a socket unit of its own (systemd/vmcs12d.socket says why).
cat >"$RUN/etc/systemd/system/vmcs12d-peers.socket" <<EOF
[Socket]
ListenStream=127.0.0.1:$PIN
FileDescriptorName=peers
Service=vmcs12d.service
[Install]
WantedBy=sockets.target
EOF

# --- the previous release, installed and running ------------------------------------------------------------
IN dpkg -i /root/old.deb >"$W/dpkg-old.log" 2>&1 && ok || bad "dpkg -i the previous release: $(tail -5 "$W/dpkg-old.log")"
install_certs hostin
write_config
IN systemctl daemon-reload
IN systemctl enable --now vmcs12d.socket vmcs12d-peers.socket vmcs12d.service >"$W/enable.log" 2>&1 && ok ||
    bad "enable --now: $(cat "$W/enable.log")"
wait_state vmcs12d.service active 20 && ok || bad "the previous release did not start: $(journal | tail -5)"
EXTRA_DAEMON="stream_allow = tcp:127.0.0.1:$QT" config hostout encoded "" "$POUT" hostout ca hostin "$PIN"
start hostout
wait_peer hostout hostin connected 20 && ok || bad "hostout did not reach the container's daemon"
wait_in_peer connected 20 && ok || bad "the previous release's link to hostout is not up: $(IN vmcs12ctl status 2>&1)"

# --- upgrade with a transfer in flight ---------------------------------------------------------------------
# hostout is stopped, so the blob is sent and waits for its ack while dpkg upgrades the package;
# the old daemon, told to stop, waits for the ack (shutdown_timeout_ms); hostout resumes and
# acknowledges; the new binary starts.
old_pid=$(main_pid)
kill -STOP "$PID_hostout"
IN vmcs12ctl send --peer hostout --vm upgrade --vcpu 0 --migration up --timeout 60 /root/blob.bin >"$W/send-up.out" 2>&1 &
SENDER=$!
sleep 1
IN dpkg -i /root/new.deb >"$W/dpkg-new.log" 2>&1 &
DPKG=$!
wait_state vmcs12d.service deactivating 30 && ok || bad "the upgrade did not stop the running daemon ($(unit vmcs12d.service ActiveState))"
sleep 1
kill -CONT "$PID_hostout"
wait "$DPKG" && ok || bad "dpkg -i (upgrade): $(tail -5 "$W/dpkg-new.log")"
wait "$SENDER" && grep -q 'stored by hostout' "$W/send-up.out" && ok || bad "the transfer in flight did not complete: $(cat "$W/send-up.out")"
[ -s "$W/hostout.spool/up/upgrade/vcpu-0.seq-0.bin" ] && ok || bad "the blob sent across the upgrade is not in hostout's spool"
wait_state vmcs12d.service active 20 && ok || bad "no daemon after the upgrade: $(journal | tail -5)"
new_pid=$(main_pid)
[ -n "$new_pid" ] && [ "$new_pid" != 0 ] && [ "$new_pid" != "$old_pid" ] && ok || bad "the daemon was not restarted by the upgrade (pid $old_pid -> $new_pid)"
[ "$(IN readlink "/proc/$new_pid/exe")" = /usr/sbin/vmcs12d ] && ok || bad "the daemon runs $(IN readlink "/proc/$new_pid/exe")"
IN vmcs12d --version | grep -q "^vmcs12d $VERSION" && ok || bad "installed version: $(IN vmcs12d --version)"
jgrep -- -q 'stopping (SIGTERM): no new connections; finishing' && ok || bad "the old daemon did not log its stop"

# This release's configuration (a key the previous one did not know), then a restart.
write_config "peer_down_warn_s = 2"
IN systemctl restart vmcs12d.service && wait_state vmcs12d.service active 20 && ok || bad "restart with the new configuration"

# --- Type=notify, STATUS=, both sockets passed -----------------------------------------------------------------
[ "$(unit vmcs12d.service Type)" = notify ] && ok || bad "Type=$(unit vmcs12d.service Type)"
status_text=$(unit vmcs12d.service StatusText)
[ -n "$status_text" ] && ok || bad "no STATUS= from the daemon"
echo "StatusText: $status_text"
jgrep -- -q 'socket activation: control socket passed, peer listener passed' && ok || bad "sockets not passed by systemd: $(journal | grep 'socket activation' | tail -2)"
wait_peer hostout hostin connected 20 && ok || bad "hostout did not reconnect after the restart"

# --- socket activation: after stop, after restart, from cold, after kill -9 ------------------------------------
# hostout is paused meanwhile: its reconnects to the peers socket would activate the service too.
kill -STOP "$PID_hostout"
IN systemctl stop vmcs12d.service
[ "$(unit vmcs12d.service ActiveState)" = inactive ] && ok || bad "stop: service $(unit vmcs12d.service ActiveState)"
IN test -S /run/vmcs12d/control.sock && ok || bad "after stop: /run/vmcs12d/control.sock is gone"
[ "$(unit vmcs12d.socket ActiveState)" = active ] && ok || bad "after stop: vmcs12d.socket $(unit vmcs12d.socket ActiveState)"
IN vmcs12ctl status >"$W/st1.txt" 2>&1 && ok || bad "after stop: status did not activate the service: $(cat "$W/st1.txt")"
[ "$(unit vmcs12d.service ActiveState)" = active ] && ok || bad "after stop: not activated"

IN systemctl restart vmcs12d.service
IN test -S /run/vmcs12d/control.sock && ok || bad "after restart: the control socket's path is gone"
IN vmcs12ctl status >"$W/st2.txt" 2>&1 && ok || bad "after restart: status: $(cat "$W/st2.txt")"

IN systemctl stop vmcs12d.service vmcs12d.socket vmcs12d-peers.socket
IN systemctl start vmcs12d.socket vmcs12d-peers.socket
[ "$(unit vmcs12d.service ActiveState)" = inactive ] && ok || bad "cold: the service started with its sockets"
IN vmcs12ctl status >"$W/st3.txt" 2>&1 && ok || bad "cold: status did not activate the service: $(cat "$W/st3.txt")"
kill -CONT "$PID_hostout"
wait_peer hostout hostin connected 20 && ok || bad "hostout did not reconnect to the activated service"
# Six starts in a few seconds: systemd's start limit (5 in 10 s) would refuse the next one, and
# a crash is what this part tests, not the limit.
IN systemctl reset-failed vmcs12d.service
sleep 1

restarts=$(unit vmcs12d.service NRestarts)
pid=$(main_pid)
IN kill -9 "$pid"
# A client right after the crash waits for the restarted daemon (RestartSec=2) instead of failing.
t0=$(date +%s%N)
IN vmcs12ctl status >"$W/st4.txt" 2>&1 && ok || bad "after kill -9: status failed: $(cat "$W/st4.txt")"
echo "status across a crash answered after $(( ($(date +%s%N) - t0) / 1000000 )) ms"
[ "$(unit vmcs12d.service NRestarts)" -gt "$restarts" ] && ok || bad "Restart=on-failure did not restart the daemon"
[ "$(main_pid)" != "$pid" ] && ok || bad "same pid after kill -9"
wait_peer hostout hostin connected 20 && ok || bad "hostout did not reconnect after the crash"
jgrep -p warning -- -q 'refusing\|unreachable' && bad "warnings logged before any cause: $(journal -p warning | tail -3)" || ok

# --- a blob and a real QEMU migration through the sandboxed service -----------------------------------------------
IN vmcs12ctl send --peer hostout --vm b1 --vcpu 0 /root/blob.bin >"$W/send1.out" 2>&1 && ok || bad "send: $(cat "$W/send1.out")"
cmp -s "$W/hostout.spool/default/b1/vcpu-0.seq-0.bin" "$DATA/samples/vmx-l1-encoded.bin" && ok || bad "the blob was not stored as encoded"
IN vmcs12ctl status --json >"$W/st.json" 2>&1
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["layout"] == "linux-6.18", d["layout"]' "$W/st.json" && ok ||
    bad "profile = auto inside the sandbox: $(head -c 300 "$W/st.json")"
through svc "$QL" "$QT"

# --- reload with a new certificate: a new connection gets it ------------------------------------------------------
served() { # the fingerprint of the certificate the container's listener presents
    openssl s_client -connect "127.0.0.1:$PIN" -cert "$W/hostout.pem" -key "$W/hostout.key" -CAfile "$W/ca.pem" </dev/null 2>/dev/null |
        openssl x509 -noout -fingerprint -sha256 2>/dev/null
}
fp_old=$(served)
MKCERT_EKU=serverAuth,clientAuth mkcert hostin2 ca DNS:hostin
install_certs hostin2
IN systemctl reload vmcs12d.service
sleep 1
fp_new=$(served)
want=$(openssl x509 -in "$W/hostin2.pem" -noout -fingerprint -sha256)
[ -n "$fp_old" ] && [ "$fp_new" = "$want" ] && [ "$fp_new" != "$fp_old" ] && ok || bad "after reload the listener presents '$fp_new', want '$want' (was '$fp_old')"
[ "$(main_pid)" = "$(main_pid)" ] && [ "$(unit vmcs12d.service ActiveState)" = active ] && ok || bad "reload stopped the service"

# --- journald priorities: an unknown peer's certificate, a peer down longer than peer_down_warn_s --------------------
mkcert stranger ca DNS:stranger
openssl s_client -connect "127.0.0.1:$PIN" -cert "$W/stranger.pem" -key "$W/stranger.key" -CAfile "$W/ca.pem" </dev/null >/dev/null 2>&1
sleep 0.5
jgrep -p warning -- -q 'refusing TLS peer' && ok || bad "an unknown peer's certificate is not at warning: $(journal | grep -i stranger | tail -2)"
kill -9 "$PID_hostout"
sleep 3.5
jgrep -p warning -- -qE 'peer hostout \(127\.0\.0\.1:[0-9]+\): unreachable for [0-9]+ s' && ok || bad "a peer down > peer_down_warn_s is not at warning"
jgrep -p info -- -q 'peer hostout .*retrying in' && ok || bad "retries not in the journal"
jgrep -p warning -- -q 'retrying in' && bad "retries logged at warning" || ok
start hostout
wait_peer hostout hostin connected 20 || true
sleep 1
jgrep -p notice -- -q 'peer hostout .*reachable again' && ok || bad "no notice when the peer is back"
jgrep -p warning -- -q 'reachable again' && bad "'reachable again' at warning" || ok

# --- the sandbox as applied ---------------------------------------------------------------------------------------
pid=$(main_pid)
IN cat "/proc/$pid/status" >"$W/proc-status"
grep -qP '^NoNewPrivs:\t1$' "$W/proc-status" && ok || bad "NoNewPrivs: $(grep NoNewPrivs "$W/proc-status")"
grep -qP '^CapEff:\t0{16}$' "$W/proc-status" && ok || bad "CapEff: $(grep CapEff "$W/proc-status")"
grep -qP '^Seccomp:\t2$' "$W/proc-status" && ok || bad "no seccomp filter: $(grep Seccomp "$W/proc-status")"
IN cat "/proc/$pid/mountinfo" | awk '$5 == "/" {print $6}' | grep -q '^ro' && ok || bad "/ is not read-only for the daemon"
IN cat "/proc/$pid/mountinfo" | awk '$5 == "/var/lib/vmcs12d" {print $6}' | grep -q '^rw' && ok || bad "the state directory is not writable"

# --- remove: stopped, enable links gone, configuration and spool kept ------------------------------------------------
IN systemctl disable --now vmcs12d-peers.socket >/dev/null 2>&1
rm -f "$RUN/etc/systemd/system/vmcs12d-peers.socket"
IN dpkg -r vmcs12d >"$W/dpkg-r.log" 2>&1 && ok || bad "dpkg -r: $(tail -5 "$W/dpkg-r.log")"
[ "$(unit vmcs12d.service ActiveState)" != active ] && ok || bad "the daemon runs after remove"
[ "$(unit vmcs12d.socket ActiveState)" != active ] && ok || bad "the socket is active after remove"
IN test ! -e /etc/systemd/system/multi-user.target.wants/vmcs12d.service && ok || bad "remove left the service's enable link"
IN test ! -e /etc/systemd/system/sockets.target.wants/vmcs12d.socket && ok || bad "remove left the socket's enable link"
[ "$(unit vmcs12d.service LoadState)" = not-found ] && ok || bad "no daemon-reload after remove (LoadState $(unit vmcs12d.service LoadState))"
IN test -e /etc/vmcs12d/vmcs12d.conf && ok || bad "remove deleted the configuration"
IN test -d /var/lib/vmcs12d && ok || bad "remove deleted the state directory"
! pgrep -f '^/usr/sbin/vmcs12d' --ns "$INIT" >/dev/null 2>&1 && ok || bad "a vmcs12d process is left after remove"

# --- purge: configuration and state gone, the operator's certificates kept ---------------------------------------------
IN dpkg -P vmcs12d >"$W/dpkg-p.log" 2>&1 && ok || bad "dpkg -P: $(tail -5 "$W/dpkg-p.log")"
IN test ! -e /etc/vmcs12d/vmcs12d.conf && ok || bad "purge kept the configuration"
IN test ! -e /var/lib/vmcs12d && ok || bad "purge kept /var/lib/vmcs12d"
IN test -e /etc/vmcs12d/hostin.key && ok || bad "purge removed a file the package did not install"

# --- a fresh installation enables and starts nothing ---------------------------------------------------------------
IN dpkg -i /root/new.deb >"$W/dpkg-fresh.log" 2>&1 && ok || bad "fresh dpkg -i: $(tail -5 "$W/dpkg-fresh.log")"
IN getent passwd vmcs12d >/dev/null && ok || bad "no vmcs12d user after installation"
[ "$(IN systemctl is-enabled vmcs12d.service 2>/dev/null)" = disabled ] && ok || bad "fresh install: service $(IN systemctl is-enabled vmcs12d.service)"
[ "$(IN systemctl is-enabled vmcs12d.socket 2>/dev/null)" = disabled ] && ok || bad "fresh install: socket $(IN systemctl is-enabled vmcs12d.socket)"
[ "$(unit vmcs12d.service ActiveState)" = inactive ] && [ "$(unit vmcs12d.socket ActiveState)" = inactive ] && ok || bad "fresh install started something"
[ "$(unit vmcs12d.service LoadState)" = loaded ] && ok || bad "fresh install: systemd does not know the unit (no daemon-reload)"
IN dpkg -P vmcs12d >/dev/null 2>&1 && ok || bad "final purge"

finish
