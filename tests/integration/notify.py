#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Run vmcs12d under a fake systemd notify socket and report what it said.

usage: notify.py VMCS12D CONFIG SECONDS
Starts the daemon with NOTIFY_SOCKET and WATCHDOG_USEC=300000, collects datagrams for SECONDS,
sends SIGTERM, collects until exit, prints one line per distinct message key with its count,
then "exit N".
"""
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time


def main():
    daemon, config, secs = sys.argv[1], sys.argv[2], float(sys.argv[3])
    d = tempfile.mkdtemp()
    path = os.path.join(d, "notify")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    s.settimeout(0.1)
    env = dict(os.environ, NOTIFY_SOCKET=path, WATCHDOG_USEC="300000")
    p = subprocess.Popen([daemon, "--config", config], env=env, stderr=subprocess.DEVNULL)
    msgs = []

    def drain(until):
        while time.time() < until:
            try:
                msgs.append(s.recv(4096).decode())
            except socket.timeout:
                pass

    drain(time.time() + secs)
    p.send_signal(signal.SIGTERM)
    deadline = time.time() + 10
    while p.poll() is None and time.time() < deadline:
        drain(time.time() + 0.2)
    drain(time.time() + 0.2)
    counts = {}
    for m in msgs:
        for line in m.split("\n"):
            if line:
                key = line.split("=", 1)[0] + ("=" + line.split("=", 1)[1] if line.startswith(("READY", "STOPPING", "WATCHDOG")) else "")
                counts[key] = counts.get(key, 0) + 1
    for k in sorted(counts):
        print("%s %d" % (k, counts[k]))
    print("exit %s" % p.wait())
    os.unlink(path)
    os.rmdir(d)


if __name__ == "__main__":
    main()
