#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Load for a vmcs12d pair: CLIENTS control connections at once, each sending its share of
BLOBS blobs one after another (send, wait for the ack, next), keys load/c<client>/vcpu-0.seq-<k>.
Then the destination's spool is checked: exactly one file per acknowledged key, each byte for
byte the expected conversion, nothing else. Prints one JSON line.

usage: load.py SOCK PEER CLIENTS BLOBS IN_BLOB EXPECTED_BLOB SPOOL
"""
import asyncio
import json
import os
import struct
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "integration"))
from hostile import ack_fields, field, frame, varint  # noqa: E402


def blob_frame(peer, client, seq, data):
    blob = field(1, b"load") + field(2, b"c%d" % client) + varint(3 << 3) + varint(0) + \
        varint(4 << 3) + varint(seq) + field(5, data) + field(6, peer) + varint(7 << 3) + varint(120000)
    return frame(field(2, blob))


async def client(sock, peer, k, seqs, data, res):
    try:
        await client_run(sock, peer, k, seqs, data, res)
    except (OSError, asyncio.IncompleteReadError) as e:
        res["errors"].append("c%d: connection: %s" % (k, e))


async def client_run(sock, peer, k, seqs, data, res):
    r, w = await asyncio.open_unix_connection(sock)
    for seq in seqs:
        t0 = time.monotonic()
        w.write(blob_frame(peer, k, seq, data))
        await w.drain()
        n = struct.unpack(">I", await r.readexactly(4))[0]
        code, dup, msg = ack_fields(await r.readexactly(n))
        res["lat"].append(time.monotonic() - t0)
        if code:
            res["errors"].append("c%d seq %d: %d %s" % (k, seq, code, msg.decode("latin-1")))
        else:
            res["acked"].add((k, seq))
            res["dup"] += dup
    w.close()


async def main():
    sock, peer, clients, blobs = sys.argv[1], sys.argv[2].encode(), int(sys.argv[3]), int(sys.argv[4])
    data, expected, spool = open(sys.argv[5], "rb").read(), open(sys.argv[6], "rb").read(), sys.argv[7]
    res = {"lat": [], "errors": [], "acked": set(), "dup": 0}
    per = [list(range(k, blobs, clients)) for k in range(clients)]
    t0 = time.monotonic()
    await asyncio.gather(*(client(sock, peer, k, [s // clients for s in per[k]], data, res) for k in range(clients)))
    wall = time.monotonic() - t0
    # The spool: one file per acknowledged key, the expected bytes, nothing else.
    files, wrong, extra = 0, [], []
    root = os.path.join(spool, "load")
    for vm in os.listdir(root) if os.path.isdir(root) else []:
        for name in os.listdir(os.path.join(root, vm)):
            files += 1
            try:
                k, seq = int(vm[1:]), int(name.split(".seq-")[1].split(".")[0])
            except (IndexError, ValueError):
                extra.append("%s/%s" % (vm, name))
                continue
            if (k, seq) not in res["acked"]:
                extra.append("%s/%s" % (vm, name))
            elif open(os.path.join(root, vm, name), "rb").read() != expected:
                wrong.append("%s/%s" % (vm, name))
    lat = sorted(res["lat"])
    print(json.dumps({
        "clients": clients, "blobs": blobs, "acked": len(res["acked"]), "errors": len(res["errors"]),
        "first_errors": res["errors"][:5], "duplicates_reported": res["dup"], "wall_s": round(wall, 2),
        "blobs_per_s": round(len(res["acked"]) / wall), "p50_ms": round(lat[len(lat) // 2] * 1000, 1),
        "p99_ms": round(lat[int(len(lat) * 0.99)] * 1000, 1), "spool_files": files,
        "missing": len(res["acked"]) - (files - len(extra)), "wrong_bytes": len(wrong), "unacknowledged_files": len(extra),
    }))


if __name__ == "__main__":
    asyncio.run(main())
