#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A minimal QMP client for the tests. usage: qmp.py SOCKET record FILE | quit"""
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
    if what == "quit":
        cmd("quit")


if __name__ == "__main__":
    main()
