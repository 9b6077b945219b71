#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A minimal QMP client for the tests.

usage: qmp.py SOCKET record FILE | migrate URI [CAP...] | migrate-live URI [CAP...] |
       start-migrate URI BYTES_PER_S [CAP...] | cancel |
       wait-migrate SECONDS | transferred | caps CAP... | status | wait-status STATUS SECONDS | quit
"""
import json
import socket
import sys
import time


def main():
    path, what = sys.argv[1], sys.argv[2]
    for _ in range(100):
        try:
            s = socket.socket(socket.AF_UNIX)
            s.connect(path)
            break
        except OSError:
            time.sleep(0.05)
    f = s.makefile("rw")

    def cmd(c, **a):
        f.write(json.dumps({"execute": c, "arguments": a} if a else {"execute": c}) + "\n")
        f.flush()
        while True:
            r = json.loads(f.readline())
            if "return" in r or "error" in r:
                return r

    def start(rate):
        """Migrate a guest that ran and was paused (not one that never started) to argv[3]."""
        cmd("migrate-set-parameters", **{"max-bandwidth": rate})
        cmd("cont")
        time.sleep(0.2)
        cmd("stop")
        r = cmd("migrate", uri=sys.argv[3])
        if "error" in r:
            sys.exit("migrate: %s" % r["error"])

    json.loads(f.readline())
    cmd("qmp_capabilities")
    if what == "record":
        r = cmd("migrate", uri="exec:cat > " + sys.argv[3])
        if "error" in r:
            sys.exit("migrate: %s" % r["error"])
        for _ in range(600):
            st = cmd("query-migrate")["return"].get("status")
            if st in ("completed", "failed"):
                break
            time.sleep(0.1)
        print("migration", st)
        cmd("quit")
        sys.exit(0 if st == "completed" else 1)
    if what in ("migrate", "migrate-live"):  # URI [cap ...]: wait for the end, print the status
        for cap in sys.argv[4:]:
            r = cmd("migrate-set-capabilities", capabilities=[{"capability": cap, "state": True}])
            if "error" in r:
                sys.exit("capability %s: %s" % (cap, r["error"]))
        if what == "migrate":
            start(1 << 40)
        else:  # a running guest, as libvirt migrates one
            cmd("cont")
            time.sleep(0.3)
            r = cmd("migrate", uri=sys.argv[3])
            if "error" in r:
                sys.exit("migrate: %s" % r["error"])
        for _ in range(3000):
            m = cmd("query-migrate")["return"]
            if m.get("status") in ("completed", "failed", "cancelled"):
                break
            time.sleep(0.05)
        print(m.get("status"), m.get("total-time", 0))
        sys.exit(0 if m.get("status") == "completed" else 1)
    if what == "start-migrate":  # start-migrate URI BYTES_PER_S [CAP...]: start at a bounded rate, do not wait
        for cap in sys.argv[5:]:
            r = cmd("migrate-set-capabilities", capabilities=[{"capability": cap, "state": True}])
            if "error" in r:
                sys.exit("capability %s: %s" % (cap, r["error"]))
        start(int(sys.argv[4]))
        print("started")
    if what == "cancel":
        r = cmd("migrate_cancel")
        print("error" if "error" in r else "cancel requested")
    if what == "wait-migrate":  # wait-migrate SECONDS: the final state, "hung" if none in time
        end, st = time.time() + float(sys.argv[3]), "hung"
        while time.time() < end:
            st = cmd("query-migrate")["return"].get("status")
            if st in ("completed", "failed", "cancelled"):
                break
            time.sleep(0.05)
        else:
            st = "hung (%s)" % st
        print(st)
    if what == "transferred":  # bytes sent so far
        print(cmd("query-migrate")["return"].get("ram", {}).get("transferred", 0))
    if what == "caps":  # set capabilities on the destination
        for cap in sys.argv[3:]:
            cmd("migrate-set-capabilities", capabilities=[{"capability": cap, "state": True}])
        print("ok")
    if what == "status":
        print(cmd("query-status")["return"]["status"])
    if what == "wait-status":  # wait-status STATUS SECONDS
        end = time.time() + float(sys.argv[4])
        while time.time() < end:
            st = cmd("query-status")["return"]["status"]
            if st == sys.argv[3]:
                print(st)
                sys.exit(0)
            time.sleep(0.05)
        print(st)
        sys.exit(1)
    if what == "quit":
        cmd("quit")


if __name__ == "__main__":
    main()
