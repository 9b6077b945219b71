#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Scrape vmcs12d's metrics endpoint and check it.

  scrape.py HOST:PORT [NAME{LABELS}>=N | NAME{LABELS}<=N ...]
Checks: GET /metrics answers 200 with the Prometheus text format; every sample belongs to a
metric with HELP and TYPE lines (a histogram's _bucket{le}, _sum and _count samples under its
family); names start with vmcs12d_ and counters end in _total; each
NAME>=N and NAME<=N condition holds; another path answers 404, another method 405. Prints the samples.
"""
import http.client
import re
import sys

host, port = sys.argv[1].rsplit(":", 1)
c = http.client.HTTPConnection(host, int(port), timeout=5)
c.request("GET", "/metrics")
r = c.getresponse()
body = r.read().decode()
assert r.status == 200, (r.status, body)
assert r.getheader("Content-Type").startswith("text/plain; version=0.0.4"), r.getheader("Content-Type")
helps, types, samples = set(), {}, {}
for line in body.splitlines():
    if line.startswith("# HELP "):
        helps.add(line.split()[2])
    elif line.startswith("# TYPE "):
        types[line.split()[2]] = line.split()[3]
    elif line:
        m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? ([0-9.e+-]+)$", line)
        assert m, "not a sample line: %r" % line
        name = m.group(1)
        assert name.startswith("vmcs12d_"), name
        family = re.sub(r"_(bucket|sum|count)$", "", name)
        if types.get(family) == "histogram":  # its _bucket{le}, _sum and _count samples
            assert family in helps, "no HELP for %s" % family
            assert name != family and (name.endswith("_bucket") == ("le=" in (m.group(2) or ""))), line
        else:
            assert name in helps and name in types, "no HELP/TYPE for %s" % name
            assert (types[name] == "counter") == name.endswith("_total"), (name, types[name])
        samples[name + (m.group(2) or "")] = float(m.group(3))
for cond in sys.argv[2:]:
    key, op, want = re.match(r"^(.*?)(>=|<=)([0-9.e+-]+)$", cond).groups()
    got = samples.get(key)
    assert got is not None and (got >= float(want) if op == ">=" else got <= float(want)), "%s = %s, want %s %s" % (
        key, got, op, want)
for method, path, status in (("GET", "/", 404), ("POST", "/metrics", 405)):
    c = http.client.HTTPConnection(host, int(port), timeout=5)
    c.request(method, path)
    r = c.getresponse()
    r.read()
    assert r.status == status, (method, path, r.status)
# A request that never ends its headers within 4 KiB: 431, and the connection closed.
import socket
s = socket.create_connection((host, int(port)), timeout=5)
s.sendall(b"GET /metrics HTTP/1.0\r\nX: " + b"a" * 5000)
reply = b""
while True:
    b = s.recv(4096)
    if not b:
        break
    reply += b
assert reply.startswith(b"HTTP/1.0 431 "), reply[:80]
for k in sorted(samples):
    print(k, samples[k])
