#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Two libvirtd "hosts" on this machine, for the libvirt tests (sourced after lib.sh): each in its
# own mount namespace with its own /etc/libvirt, /run, /var and host_uuid; B also in its own
# network namespace. Everything mounted is inside those namespaces (gone with them); the only
# host change, an empty /etc/vmcs12d made when missing (the hook's fixed configuration path,
# bind-mounted inside B), is removed again by lv_cleanup.
#   virsh_at A|B ARGS...   virsh against that host
#   start_libvirtd A|B     (again after a qemu.conf change: stop_libvirtd first)
#   lv_qemu_conf A|B [LINE]  write that host's qemu.conf, with LINE added (restart libvirtd after)
#   define A|B NAME        define and start a small TCG guest $TOKEN-NAME
#   state A|B NAME         its domstate
BIN=$(dirname "$C")
for t in libvirtd virsh unshare nsenter socat ip qemu-system-x86_64; do
    command -v "$t" >/dev/null || { echo "$t is required (contrib/run.sh deps installs it)" >&2; exit 1; }
done
TOKEN=v12lv$$
HOLD_A= HOLD_B= MADE_ETC=
lv_cleanup() {
    for h in A B; do
        for d in $(virsh_at "$h" list --all --name 2>/dev/null | grep "^$TOKEN-"); do virsh_at "$h" destroy "$d" >/dev/null 2>&1; done
    done
    pkill -f "guest=$TOKEN-" 2>/dev/null
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
    [ -n "$HOLD_A" ] && kill "$HOLD_A" 2>/dev/null
    [ -n "$HOLD_B" ] && kill "$HOLD_B" 2>/dev/null
    [ -n "$MADE_ETC" ] && rmdir /etc/vmcs12d 2>/dev/null
    true
}
trap 'rc=$?; lv_cleanup; (exit $rc); cleanup' EXIT

virsh_at() { local h=$1; shift; virsh -q -c "qemu:///system?socket=$W/$h/run/libvirt-sock" "$@"; }
ns() { # ns A|B: nsenter's arguments for that host's namespaces (called directly, so that $! is the process)
    if [ "$1" = A ]; then echo "-t $HOLD_A -m"; else echo "-t $HOLD_B -m -n"; fi
}

# --- two hosts ---------------------------------------------------------------------------------------
[ -d /etc/vmcs12d ] || { mkdir /etc/vmcs12d && MADE_ETC=1; }
grep -v '^libvirt-qemu:' /etc/passwd >"$W/passwd"
echo 'libvirt-qemu:x:64055:64055:Libvirt Qemu:/var/lib/libvirt:/usr/sbin/nologin' >>"$W/passwd"
grep -v '^libvirt-qemu:' /etc/group >"$W/group"
echo 'libvirt-qemu:x:64055:' >>"$W/group"
CACHE=$W/cache # one capability cache for the whole run: libvirtd probes QEMU once
mkdir -p "$CACHE"
lv_qemu_conf() {
    {
        printf 'user = "root"\ngroup = "root"\ndynamic_ownership = 0\nremember_owner = 0\nsecurity_driver = "none"\n'
        printf 'cgroup_controllers = [ ]\nnamespaces = [ ]\nstdio_handler = "file"\n'
        [ -n "${2:-}" ] && echo "$2"
    } >"$W/$1/etc/qemu.conf"
}
for h in A B; do
    mkdir -p "$W/$h"/{etc/hooks/qemu.d,run,lib,log,vmcs12d}
    cp -r /etc/libvirt/. "$W/$h/etc/"
    printf 'host_uuid = "%s"\nauth_unix_rw = "none"\nauth_unix_ro = "none"\nunix_sock_group = "root"\n' \
        "$(cat /proc/sys/kernel/random/uuid)" >"$W/$h/etc/libvirtd.conf"
    lv_qemu_conf "$h"
done
# The destination's hook: vmcs12d's, and a record that libvirt ran it (and with what environment).
cat >"$W/B/etc/hooks/qemu.d/vmcs12d" <<EOF
#!/bin/sh
echo "\$* vmcs12d-vars=\$(env | grep -c '^VMCS12D')" >>"$W/hook.calls"
exec "$HERE/../../contrib/libvirt/qemu" "\$@"
EOF
chmod +x "$W/B/etc/hooks/qemu.d/vmcs12d"
mounts() { # the mount namespace of host $1
    cat <<EOF
set -e
mount --make-rprivate /
mount -t tmpfs none /run
mount -t tmpfs none /var
mkdir -p /run/libvirt /var/lib/libvirt /var/cache/libvirt /var/log/libvirt /var/run
mount --bind "$W/$1/run" /run/libvirt
mount --bind "$W/$1/lib" /var/lib/libvirt
mount --bind "$CACHE" /var/cache/libvirt
mount --bind "$W/$1/log" /var/log/libvirt
mount --bind "$W/$1/etc" /etc/libvirt
mount --bind "$W/$1/vmcs12d" /etc/vmcs12d
mount --bind "$W/passwd" /etc/passwd
mount --bind "$W/group" /etc/group
EOF
}
unshare -m --propagation private bash -c "$(mounts A); exec sleep 100000" &
HOLD_A=$!
unshare -m -n --propagation private bash -c "$(mounts B); ip link set lo up; exec sleep 100000" &
HOLD_B=$!
sleep 0.5
kill -0 "$HOLD_A" && kill -0 "$HOLD_B" && ok || { bad "namespaces"; finish; exit 1; }

LIBVIRTD_A= LIBVIRTD_B=
start_libvirtd() {
    # shellcheck disable=SC2046
    nsenter $(ns "$1") -- env -i PATH="$BIN:/usr/sbin:/usr/bin:/sbin:/bin" HOME=/root \
        libvirtd -f /etc/libvirt/libvirtd.conf --pid-file /run/libvirt/libvirtd.pid >>"$W/libvirtd-$1.log" 2>&1 &
    PIDS+=($!)
    eval "LIBVIRTD_$1=$!"
    for _ in $(seq 300); do
        virsh_at "$1" version >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    return 1
}
stop_libvirtd() {
    local pid
    pid=$(eval echo "\$LIBVIRTD_$1")
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    eval "LIBVIRTD_$1="
}
start_libvirtd A
start_libvirtd B
virsh_at A uri >/dev/null && virsh_at B uri >/dev/null && ok || { bad "libvirtd did not start"; cat "$W"/libvirtd-*.log >&2; finish; exit 1; }

define() { # define HOST NAME
    cat >"$W/$2.xml" <<EOF
<domain type='qemu'>
  <name>$TOKEN-$2</name>
  <memory unit='MiB'>128</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type></os>
  <cpu mode='custom'><model>qemu64</model></cpu>
  <devices><controller type='usb' model='none'/><memballoon model='none'/></devices>
</domain>
EOF
    virsh_at "$1" define "$W/$2.xml" >/dev/null && virsh_at "$1" start "$TOKEN-$2" >/dev/null
}
state() { virsh_at "$1" domstate "$TOKEN-$2" 2>/dev/null | head -1; }
