#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""One timed QEMU migration for bench/run_stream.sh.

usage: stream_bench.py WORKDIR SRC_RAM MEM_MB CONNECT_PORT LISTEN_PORT [tls]
Starts a paused destination QEMU listening on 127.0.0.1:LISTEN_PORT and a paused source whose
RAM is SRC_RAM, migrates to 127.0.0.1:CONNECT_PORT with max-bandwidth unlimited, and prints the
seconds from the migrate command until the destination has loaded everything (its incoming
migration status is "completed"), then checks the destination's RAM equals the source's.
"""
import filecmp
import json
import os
import socket
import subprocess
import sys
import time


def qmp(path):
    for _ in range(200):
        try:
            s = socket.socket(socket.AF_UNIX)
            s.connect(path)
            break
        except OSError:
            time.sleep(0.02)
    f = s.makefile("rw")
    f.readline()

    def cmd(c, **a):
        f.write(json.dumps({"execute": c, "arguments": a} if a else {"execute": c}) + "\n")
        f.flush()
        while True:
            r = json.loads(f.readline())
            if "return" in r or "error" in r:
                if "error" in r:
                    raise SystemExit("%s: %s" % (c, r["error"]))
                return r["return"]
    cmd("qmp_capabilities")
    return cmd


def qemu(w, name, ram, mem, extra):
    return subprocess.Popen(
        ["qemu-system-x86_64", "-machine", "q35,accel=tcg", "-m", str(mem), "-smp", "1", "-nographic", "-nodefaults",
         "-S", "-object", "memory-backend-file,id=mem,size=%dM,mem-path=%s,share=on" % (mem, ram),
         "-machine", "memory-backend=mem", "-qmp", "unix:%s/%s.qmp,server=on,wait=off" % (w, name)] + extra,
        stdout=subprocess.DEVNULL, stderr=open("%s/%s.log" % (w, name), "w"))


def main():
    w, src_ram, mem, cport, lport = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
    tls = len(sys.argv) > 6 and sys.argv[6] == "tls"
    dst_ram = os.path.join(w, "dst.ram")
    with open(dst_ram, "wb") as f:
        f.truncate(mem << 20)
    sx = ["-object", "tls-creds-x509,id=tls0,dir=%s/qtls,endpoint=client,verify-peer=on" % w] if tls else []
    dx = ["-object", "tls-creds-x509,id=tls0,dir=%s/qtls,endpoint=server,verify-peer=on" % w] if tls else []
    src = qemu(w, "bsrc", src_ram, mem, sx)
    dst = qemu(w, "bdst", dst_ram, mem, dx + ["-incoming", "defer"])
    try:
        s, d = qmp(w + "/bsrc.qmp"), qmp(w + "/bdst.qmp")
        if tls:
            d("migrate-set-parameters", **{"tls-creds": "tls0"})
            s("migrate-set-parameters", **{"tls-creds": "tls0", "tls-hostname": "hostb"})
        d("migrate-incoming", uri="tcp:127.0.0.1:" + lport)
        s("migrate-set-parameters", **{"max-bandwidth": 1 << 40, "downtime-limit": 100000})
        t0 = time.time()
        s("migrate", uri="tcp:127.0.0.1:" + cport)
        while True:
            if d("query-migrate").get("status") == "completed":  # the destination loaded everything
                break
            m = s("query-migrate").get("status")
            if m == "failed":
                raise SystemExit("migration failed")
            if time.time() - t0 > 300:
                raise SystemExit("timeout")
            time.sleep(0.005)
        t = time.time() - t0
        ok = filecmp.cmp(src_ram, dst_ram, shallow=False)
        print("%.3f %s" % (t, "ram-identical" if ok else "RAM-DIFFERS"))
    finally:
        for p in (src, dst):
            p.kill()
            p.wait()
        os.unlink(dst_ram)


if __name__ == "__main__":
    main()
