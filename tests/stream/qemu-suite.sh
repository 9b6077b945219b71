#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Newer QEMUs for the stream tests: Debian 13's (trixie, QEMU 10.0) and the newest in Debian (sid)
# run from a debootstrap chroot (../shared/qemu-versions-on-one-machine.md).
#   qemu-suite.sh make SUITE     create ROOT/SUITE once (debootstrap --variant=minbase, from
#                                Debian's registry) and its wrapper ROOT/SUITE.qemu
#   qemu-suite.sh wrapper SUITE  print the wrapper's path; exit 1 if the suite was not made
#   qemu-suite.sh run SUITE SCRIPT ARGS...
#                                run a test script with QEMU set to the suite's wrapper; without
#                                the suite, skip (77), or fail when CI is set
# ROOT is $V12_QEMU_ROOT, default /var/tmp/vmcs12d-qemu. The wrapper runs QEMU chrooted in a
# private mount namespace of its own (unshare) where /tmp, /dev/shm and /proc are bound: paths
# under /tmp agree inside and out, the network is the host's, and no mount outlives the QEMU. The
# host's mount table is never touched, so the chroot can be removed like any directory.
set -euo pipefail
ROOT=${V12_QEMU_ROOT:-/var/tmp/vmcs12d-qemu}
what=${1:-} suite=${2:-}
case $suite in trixie | sid | bookworm-backports) ;; *) echo "usage: $0 make|wrapper|run trixie|sid ..." >&2; exit 2 ;; esac
R=$ROOT/$suite

write_wrapper() {
    cat >"$R.qemu.tmp" <<W
#!/bin/sh
# QEMU from the $suite chroot (made by tests/stream/qemu-suite.sh)
exec unshare --mount --propagation private -- sh -c 'mount --bind /tmp "\$0/tmp" && mount --bind /dev/shm "\$0/dev/shm" && mount -t proc proc "\$0/proc" && exec chroot "\$0" qemu-system-x86_64 "\$@"' "$R" "\$@"
W
    chmod 0755 "$R.qemu.tmp"
    mv "$R.qemu.tmp" "$R.qemu"
}

case $what in
make)
    if [ ! -x "$R/usr/bin/qemu-system-x86_64" ]; then
        command -v debootstrap >/dev/null || { echo "debootstrap is required (contrib/run.sh deps)" >&2; exit 1; }
        mkdir -p "$ROOT"
        rm -rf "$R.partial"
        echo "== debootstrap $suite (QEMU for the stream tests) into $R" >&2
        debootstrap --variant=minbase --include=qemu-system-x86 "$suite" "$R.partial" http://deb.debian.org/debian \
            >"$ROOT/$suite.log" 2>&1 || { tail -20 "$ROOT/$suite.log" >&2; exit 1; }
        mv "$R.partial" "$R"
    fi
    write_wrapper
    "$R.qemu" --version | head -1 >&2
    ;;
wrapper)
    [ -x "$R.qemu" ] && [ -x "$R/usr/bin/qemu-system-x86_64" ] || exit 1
    echo "$R.qemu"
    ;;
run)
    shift 2
    if ! q=$("$0" wrapper "$suite"); then
        msg="QEMU from $suite is not installed here: run 'tests/stream/qemu-suite.sh make $suite' (contrib/run.sh test does)"
        if [ -n "${CI:-}" ]; then echo "$msg" >&2; exit 1; fi
        echo "SKIP: $msg" >&2
        exit 77
    fi
    echo "QEMU: $("$q" --version | head -1) ($suite)"
    QEMU=$q exec "$@"
    ;;
*) echo "usage: $0 make|wrapper|run SUITE ..." >&2; exit 2 ;;
esac
