#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""One live migration of a running guest, for bench/run_downtime.sh: its true downtime.

usage: downtime.py WORKDIR MEM_MB VCPUS DOWNTIME_LIMIT_MS CONNECT_PORT LISTEN_PORT [QEMU]
(CAPS in the environment: migration capabilities set on both sides, e.g. "return-path")

Starts a destination QEMU listening on 127.0.0.1:LISTEN_PORT and a running source (SeaBIOS
idling, MEM_MB MiB of random RAM in a memory-backend-file), lets the guest run for a second,
migrates to 127.0.0.1:CONNECT_PORT with max-bandwidth unlimited and the given downtime-limit,
and prints one line:
    TRUE_MS QEMU_MS TOTAL_MS
TRUE_MS is the destination's RESUME event minus the source's STOP event (QMP timestamps: the
host's clock in both processes), what the guest feels; QEMU_MS is the downtime the source QEMU
reports; TOTAL_MS the migration's total time as QEMU reports it.
"""
import json
import os
import select
import socket
import signal
import subprocess
import sys
import time


class Qmp:
    """A QMP client that keeps every event it reads, with their timestamps."""

    def __init__(self, path):
        for _ in range(500):
            try:
                self.s = socket.socket(socket.AF_UNIX)
                self.s.connect(path)
                break
            except OSError:
                time.sleep(0.02)
        else:
            raise SystemExit("no QMP at " + path)
        self.buf = b""
        self.events = []
        self._line(None)
        self.cmd("qmp_capabilities")

    def _line(self, timeout):
        """The next message, or None when nothing came within timeout (None: wait)."""
        end = None if timeout is None else time.time() + timeout
        while b"\n" not in self.buf:
            if end is not None:
                left = end - time.time()
                if left <= 0 or not select.select([self.s], [], [], left)[0]:
                    return None
            chunk = self.s.recv(65536)
            if not chunk:
                raise SystemExit("QMP connection closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        r = json.loads(line)
        if "event" in r:
            self.events.append(r)
        return r

    def cmd(self, c, **a):
        self.s.sendall((json.dumps({"execute": c, "arguments": a} if a else {"execute": c}) + "\n").encode())
        while True:
            r = self._line(None)
            if "return" in r:
                return r["return"]
            if "error" in r:
                raise SystemExit("%s: %s" % (c, r["error"]))

    def event(self, name, timeout):
        end = time.time() + timeout
        while True:
            for e in self.events:
                if e["event"] == name:
                    return e["timestamp"]["seconds"] + e["timestamp"]["microseconds"] / 1e6
            if time.time() > end:
                raise SystemExit("no %s event in %d s (saw %s)" % (name, timeout, [e["event"] for e in self.events]))
            self._line(end - time.time())


def main():
    # Killed by the benchmark's cleanup (SIGTERM): still remove the RAM files below (/dev/shm).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("downtime.py: terminated"))
    w, mem, vcpus, limit, cport, lport = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], sys.argv[6]
    qemu = sys.argv[7] if len(sys.argv) > 7 else "qemu-system-x86_64"
    ramdir = os.environ.get("RAM_DIR", w)
    src_ram, dst_ram = os.path.join(ramdir, "dt-src-%d.ram" % os.getpid()), os.path.join(ramdir, "dt-dst-%d.ram" % os.getpid())
    with open(src_ram, "wb") as f:
        for _ in range(mem):
            f.write(os.urandom(1 << 20))
    with open(dst_ram, "wb") as f:
        f.truncate(mem << 20)

    def start(name, ram, extra):
        return subprocess.Popen(
            [qemu, "-machine", "q35,accel=tcg", "-m", str(mem), "-smp", str(vcpus), "-nographic", "-nodefaults",
             "-object", "memory-backend-file,id=mem,size=%dM,mem-path=%s,share=on" % (mem, ram),
             "-machine", "memory-backend=mem", "-qmp", "unix:%s/%s.qmp,server=on,wait=off" % (w, name)] + extra,
            stdout=subprocess.DEVNULL, stderr=open("%s/%s.log" % (w, name), "w"))

    procs = [start("dt-dst", dst_ram, ["-incoming", "defer"]), start("dt-src", src_ram, [])]
    try:
        d, s = Qmp(w + "/dt-dst.qmp"), Qmp(w + "/dt-src.qmp")
        for cap in os.environ.get("CAPS", "").split():
            for q in (d, s):
                q.cmd("migrate-set-capabilities", capabilities=[{"capability": cap, "state": True}])
        d.cmd("migrate-incoming", uri=lport if ":" in lport else "tcp:127.0.0.1:" + lport)
        time.sleep(1.0)  # the guest runs (SeaBIOS, then idle)
        s.cmd("migrate-set-parameters", **{"max-bandwidth": 1 << 40, "downtime-limit": limit})
        s.events.clear()
        t0 = time.time()
        s.cmd("migrate", uri=cport if ":" in cport else "tcp:127.0.0.1:" + cport)
        while True:
            m = s.cmd("query-migrate")
            if m.get("status") == "completed":
                break
            if m.get("status") in ("failed", "cancelled") or time.time() - t0 > 300:
                raise SystemExit("migration %s" % m.get("status", "timed out"))
            time.sleep(0.01)
        stop = s.event("STOP", 10)
        resume = d.event("RESUME", 30)
        if d.cmd("query-status")["status"] != "running":
            raise SystemExit("destination not running")
        print("%.2f %d %d" % ((resume - stop) * 1000.0, m.get("downtime", -1), m.get("total-time", -1)))
    finally:
        for p in procs:
            p.kill()
            p.wait()
        for f in (src_ram, dst_ram):
            os.unlink(f)


if __name__ == "__main__":
    main()
