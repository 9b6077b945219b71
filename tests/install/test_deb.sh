#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The Debian package: cpack -G DEB from the build directory; its control data (dependencies
# from the linked libraries, the conffiles, a postinst that creates the user and enables and
# starts nothing) and contents inspected with dpkg-deb; then installed on this machine with
# apt-get, run, and purged again. Never over an existing installation of vmcs12d.
#   test_deb.sh BUILD_DIR     (exit 77: skipped)
set -uo pipefail
B=$1
T=$(mktemp -d /tmp/v12deb.XXXXXX)
INSTALLED=
cleanup() {
    [ -n "$INSTALLED" ] && DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq vmcs12d >/dev/null 2>&1
    rm -rf "$T"
}
trap cleanup EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }
if [ -n "${V12_SANITIZED:-}" ]; then
    echo "SKIP: the package is built from the plain build (this one is sanitized)"
    exit 77
fi
(cd "$B" && cpack -G DEB -B "$T" >"$T/cpack.log" 2>&1) && ok || { bad "cpack: $(cat "$T/cpack.log")"; }
DEB=$(ls "$T"/vmcs12d_*_amd64.deb 2>/dev/null | head -1)
[ -n "$DEB" ] && ok || { bad "no package built"; echo "$pass passed, $fail failed"; exit 1; }
dpkg-deb -f "$DEB" Depends >"$T/depends"
for lib in libuv1 libssl3 libprotobuf-c1 libinih1 libsystemd0; do
    grep -q "$lib" "$T/depends" && ok || bad "Depends lacks $lib: $(cat "$T/depends")"
done
dpkg-deb -e "$DEB" "$T/control"
grep -qx /etc/vmcs12d/vmcs12d.conf "$T/control/conffiles" && ok || bad "the configuration is not a conffile"
grep -q 'systemd-sysusers\|adduser' "$T/control/postinst" && ok || bad "postinst creates no user"
# Installation enables and starts nothing; an upgrade only try-restarts (a stopped daemon stays
# stopped). What the scripts do under a booted systemd: tests/systemd/test_systemd.sh.
! grep -qE 'systemctl (--system )?(start|enable|restart)|deb-systemd-invoke (start|restart)|invoke-rc.d' "$T/control/postinst" && ok ||
    bad "postinst enables or starts something"
grep -q 'deb-systemd-invoke try-restart vmcs12d.service' "$T/control/postinst" && ok || bad "postinst does not restart a running daemon on upgrade"
grep -q 'deb-systemd-invoke stop vmcs12d.service vmcs12d.socket' "$T/control/prerm" && ok || bad "prerm does not stop the daemon"
grep -q 'rm -rf /var/lib/vmcs12d' "$T/control/postrm" && ok || bad "postrm does not purge the state directory"
dpkg-deb -c "$DEB" | awk '{print $6}' >"$T/contents"
for f in ./usr/sbin/vmcs12d ./usr/bin/vmcs12ctl ./usr/lib/systemd/system/vmcs12d.service ./usr/lib/systemd/system/vmcs12d.socket \
    ./usr/lib/sysusers.d/vmcs12d.conf \
    ./etc/vmcs12d/vmcs12d.conf ./etc/libvirt/hooks/qemu.d/vmcs12d ./usr/share/man/man8/vmcs12d.8.gz \
    ./usr/share/man/man5/vmcs12d.conf.5.gz ./usr/share/man/man1/vmcs12ctl.1.gz ./usr/share/doc/vmcs12d/README.md \
    ./usr/share/doc/vmcs12d/copyright ./usr/share/doc/vmcs12d/changelog.gz; do
    grep -qx "$f" "$T/contents" && ok || bad "package lacks $f"
done

# Installed on this machine: only when no vmcs12d is installed here (never replace an operator's).
if dpkg-query -W -f='${Status}' vmcs12d 2>/dev/null | grep -q 'install ok installed' || [ -e /usr/sbin/vmcs12d ]; then
    echo "SKIP: vmcs12d is already installed on this machine; not installing over it"
    echo "$pass passed, $fail failed"
    [ "$fail" = 0 ]
    exit
fi
INSTALLED=1
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$DEB" >"$T/apt.log" 2>&1 && ok || bad "apt-get install: $(tail -5 "$T/apt.log")"
/usr/sbin/vmcs12d --version | grep -q '^vmcs12d ' && ok || bad "installed vmcs12d --version"
/usr/bin/vmcs12ctl --version | grep -q '^vmcs12ctl ' && ok || bad "installed vmcs12ctl --version"
getent passwd vmcs12d >/dev/null && ok || bad "no vmcs12d user after installation"
# The units as installed: systemd-analyze verify passes, and the service's exposure is <= 2.0.
U=/usr/lib/systemd/system
systemd-analyze verify "$U/vmcs12d.service" "$U/vmcs12d.socket" >"$T/verify.log" 2>&1 && ok || bad "systemd-analyze verify: $(cat "$T/verify.log")"
exposure=$(systemd-analyze security --offline=true "$U/vmcs12d.service" 2>/dev/null | sed -n 's/.*Overall exposure level for vmcs12d.service: \([0-9.]*\).*/\1/p')
python3 -c "import sys; sys.exit(0 if float(sys.argv[1]) <= 2.0 else 1)" "${exposure:-99}" && ok || bad "exposure ${exposure:-?} > 2.0"
echo "systemd-analyze security: exposure $exposure"
! pgrep -f '^/usr/sbin/vmcs12d' >/dev/null && ok || bad "the package started a daemon"
DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq vmcs12d >"$T/apt.log" 2>&1 && ok || bad "apt-get purge: $(tail -5 "$T/apt.log")"
INSTALLED=
[ ! -e /usr/sbin/vmcs12d ] && [ ! -e /etc/vmcs12d/vmcs12d.conf ] && ok || bad "files left after purge"
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
