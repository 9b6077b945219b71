#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The root file system a booted systemd runs from in the systemd tests: Debian 12 (bookworm),
# debootstrap --variant=minbase with systemd as init and the libraries vmcs12d's package depends
# on, made once from Debian's registry (../shared/systemd-on-one-machine.md).
#   rootfs.sh make   create ROOT/bookworm once
#   rootfs.sh path   print its path; exit 1 if it was not made
# ROOT is $V12_NSPAWN_ROOT, default /var/tmp/vmcs12d-nspawn. Tests never boot this tree itself:
# each copies it and boots the copy, so what a test installs goes with the copy.
set -euo pipefail
ROOT=${V12_NSPAWN_ROOT:-/var/tmp/vmcs12d-nspawn}
R=$ROOT/bookworm
PKGS=systemd,systemd-sysv,dbus,procps,adduser,init-system-helpers,libuv1,libprotobuf-c1,libinih1,libssl3,libsystemd0,openssl
case ${1:-} in
make)
    if [ ! -x "$R/lib/systemd/systemd" ] || [ ! -e "$R/.vmcs12d-rootfs" ]; then
        command -v debootstrap >/dev/null || { echo "debootstrap is required (contrib/run.sh deps)" >&2; exit 1; }
        mkdir -p "$ROOT"
        rm -rf "$R" "$R.partial"
        echo "== debootstrap bookworm (a booted systemd for the systemd tests) into $R" >&2
        debootstrap --variant=minbase --include="$PKGS" bookworm "$R.partial" http://deb.debian.org/debian \
            >"$ROOT/bookworm.log" 2>&1 || { tail -20 "$ROOT/bookworm.log" >&2; exit 1; }
        # No getty on a console nobody reads; a machine id so that journald keeps a journal.
        rm -f "$R.partial/etc/systemd/system/getty.target.wants/"* 2>/dev/null || true
        systemd-machine-id-setup --root="$R.partial" >/dev/null 2>&1 || true
        echo "$PKGS" >"$R.partial/.vmcs12d-rootfs"
        mv "$R.partial" "$R"
    fi
    echo "$R"
    ;;
path)
    [ -e "$R/.vmcs12d-rootfs" ] || exit 1
    echo "$R"
    ;;
*) echo "usage: $0 make|path" >&2; exit 2 ;;
esac
