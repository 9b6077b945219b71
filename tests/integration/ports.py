#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Free TCP ports on 127.0.0.1 for the tests, chosen below the kernel's ephemeral range.

A port found by binding to port 0 comes from the ephemeral range, and the kernel may give it to
any outgoing connection (a concurrent test's client, say) before the daemon under test binds it,
which then fails with "Address already in use". The kernel never hands out ports below that
range on its own: a random one there that binds now stays free unless another test picks the
same one in the moment before it is used. A ledger file keeps one test from picking a port twice.
Under ctest each test has its own slice of that range (V12_PORT_SLOT, set by v12_test in
tests/CMakeLists.txt), so that two tests running at once never pick the same port: a shared
random pick collided about once in a few CI runs ("listen 127.0.0.1:P: Address already in use"
from a daemon started seconds after P was chosen).

usage: ports.py [--ledger FILE] [N]           N free ports, one per line (default 1)
       ports.py [--ledger FILE] --runs K N    the first ports of K non-overlapping runs of N
                                              consecutive free ports, one per line
"""
import os
import random
import socket
import sys

LOWEST = 10000
SLOTS = 64  # slices of the range, one per registered test (v12_test refuses a 65th)


def span():
    """(first, last) of the ports to pick from: below the ephemeral range, else above it."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            lo, hi = map(int, f.read().split())
    except (OSError, ValueError):
        lo, hi = 32768, 60999
    if lo - LOWEST >= 2000:
        where = LOWEST, lo - 1
    elif 65535 - hi >= 2000:
        where = hi + 1, 65535
    else:
        return None
    slot = os.environ.get("V12_PORT_SLOT", "")
    if not slot.isdigit():
        return where
    width = (where[1] - where[0] + 1) // SLOTS
    first = where[0] + int(slot) % SLOTS * width
    return first, first + width - 1


def bindable(port):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def ephemeral():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def free_run(n, taken):
    """The first of n consecutive ports, none in taken, all bindable now; adds them to taken."""
    where = span()
    if where is None:
        if n != 1:
            sys.exit("ports.py: no port range outside the ephemeral one for runs of %d" % n)
        p = ephemeral()
        taken.add(p)
        return p
    first, last = where
    for _ in range(10000):
        base = random.randint(first, last - n + 1)
        run = range(base, base + n)
        if any(p in taken for p in run) or not all(bindable(p) for p in run):
            continue
        taken.update(run)
        return base
    sys.exit("ports.py: no %d consecutive free ports in %d-%d" % (n, first, last))


_GIVEN = set()


def free_port():
    """One free port for a Python test: never one this process was given before."""
    return free_run(1, _GIVEN)


def main():
    args = sys.argv[1:]
    ledger = None
    if args[:1] == ["--ledger"]:
        ledger, args = args[1], args[2:]
    taken = set()
    if ledger and os.path.exists(ledger):
        with open(ledger) as f:
            taken = {int(x) for x in f.read().split()}
    if args[:1] == ["--runs"]:
        k, n = int(args[1]), int(args[2])
    else:
        k, n = (int(args[0]) if args else 1), 1
    before = set(taken)
    firsts = [free_run(n, taken) for _ in range(k)]
    if ledger:
        with open(ledger, "a") as f:
            f.write("".join("%d\n" % p for p in sorted(taken - before)))
    print("\n".join(map(str, firsts)))


if __name__ == "__main__":
    main()
