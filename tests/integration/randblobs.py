#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Random valid nested-state blobs in both layouts, from the independent generator.

usage: randblobs.py OUTDIR COUNT SEED PROFILE
writes OUTDIR/rand-K-legacy.bin and OUTDIR/rand-K-encoded.bin (same values, each layout).
"""
import os
import random
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "gen"))
import gen_samples as g  # noqa: E402


def main():
    out, count, seed, profile = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    rng = random.Random(seed)
    for k in range(count):
        shape = rng.choice(["l1", "l2-shadow", "evmcs", "l2"])
        pair = {}
        if shape == "l2-shadow":
            v, s = g.l2_values(rng, profile), g.random_values(rng, profile)
            for lay in ("legacy", "encoded"):
                pair[lay] = g.blob([g.region(v, lay, profile), g.region(s, lay, profile, shadow=True, launch=0)],
                                   flags=0x1, vmxon=0x10000, vmcs12=0x20000)
        else:
            v = g.random_values(rng, profile)
            if shape == "l2":  # guest mode without shadowing: one region
                v["secondary_vm_exec_control"] = v.get("secondary_vm_exec_control", 0) & ~0x4000
            kw = dict(flags=0x4, vmxon=0x10000) if shape == "evmcs" else \
                dict(flags=0x1 if shape == "l2" else 0, vmxon=0x10000, vmcs12=0x20000)
            for lay in ("legacy", "encoded"):
                pair[lay] = g.blob([g.region(v, lay, profile)], **kw)
        for lay, data in pair.items():
            with open(os.path.join(out, "rand-%d-%s.bin" % (k, lay)), "wb") as f:
                f.write(data)


if __name__ == "__main__":
    main()
