#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Generate the sample and bad nested-state blobs in tests/data.

An implementation independent of convert/: legacy offsets come from the CSV of KVM's layout
(tests/data/legacy-vmcs12-layout.csv), encoded offsets from the table in encoded-layout.md
section 3, written again here. The golden encoded samples are therefore a check on the C
converter, not a copy of its output.

usage: gen_samples.py OUTDIR     (writes OUTDIR/samples/*.bin, OUTDIR/bad/*.bin, OUTDIR/bad/cases.tsv)
"""
import csv
import os
import random
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
CSV = os.path.join(HERE, "..", "data", "legacy-vmcs12-layout.csv")

REV_LEGACY = 0x11E57ED0
REV_ENCODED = 0x11E57ED1
SHADOW = 0x80000000
INVALID = 0xFFFFFFFFFFFFFFFF
PROFILES = ["linux-4.19", "linux-5.13", "linux-5.14", "linux-6.18"]
SINCE = {"encls_exiting_bitmap": "linux-5.13", "tsc_multiplier": "linux-5.14",
         "host_s_cet": "linux-6.18", "host_ssp": "linux-6.18", "host_ssp_tbl": "linux-6.18",
         "guest_s_cet": "linux-6.18", "guest_ssp": "linux-6.18", "guest_ssp_tbl": "linux-6.18"}

# encoded-layout.md section 3: (width, type) -> (base, slot, capacity)
GROUPS = {
    (0, 0): (0x040, 2, 32), (0, 1): (0x000, 2, 0), (0, 2): (0x100, 2, 64), (0, 3): (0x180, 2, 64),
    (1, 0): (0x200, 8, 64), (1, 1): (0x400, 8, 32), (1, 2): (0x500, 8, 32), (1, 3): (0x600, 8, 32),
    (2, 0): (0x700, 4, 64), (2, 1): (0x800, 4, 64), (2, 2): (0x900, 4, 64), (2, 3): (0xA00, 4, 64),
    (3, 0): (0xB00, 8, 32), (3, 1): (0xC00, 8, 32), (3, 2): (0xD00, 8, 64), (3, 3): (0xF00, 8, 32),
}


def encoded_offset(enc):
    width, typ, index = (enc >> 13) & 3, (enc >> 10) & 3, (enc >> 1) & 0x1FF
    base, slot, cap = GROUPS[(width, typ)]
    assert index < cap, hex(enc)
    return base + index * slot


def load_fields():
    """(name, encoding, legacy offset, size, first profile) for every field KVM's vmcs12 holds."""
    fields = []
    with open(CSV) as f:
        for row in csv.DictReader(f):
            if not row["encoding_hex"]:
                continue
            fields.append((row["name"], int(row["encoding_hex"], 16), int(row["offset_hex"], 16),
                           int(row["size_bytes"]), SINCE.get(row["name"], "linux-4.19")))
    # dead_space carries CR3-target values 0..3 in every profile (encoded-layout.md section 2).
    for i in range(4):
        fields.append(("cr3_target_value%d" % i, 0x6008 + 2 * i, 0x178 + 8 * i, 8, "linux-4.19"))
    return fields


FIELDS = load_fields()


def in_profile(field, profile):
    return PROFILES.index(field[4]) <= PROFILES.index(profile)


def random_values(rng, profile):
    vals = {}
    for f in FIELDS:
        # Only pre-5.8 kernels (linux-4.19 profile) still used the CR3-target slots.
        if f[0].startswith("cr3_target_value") and profile != "linux-4.19":
            continue
        if in_profile(f, profile) and rng.random() < 0.8:
            vals[f[0]] = rng.getrandbits(8 * f[3])
    return vals


def region(vals, layout, profile, shadow=False, abort=0, launch=1):
    r = bytearray(4096)
    rev = (REV_ENCODED if layout == "encoded" else REV_LEGACY) | (SHADOW if shadow else 0)
    struct.pack_into("<III", r, 0, rev, abort, launch)
    for name, enc, loff, size, since in FIELDS:
        if name not in vals:
            continue
        off = encoded_offset(enc) if layout == "encoded" else loff
        assert layout == "encoded" or PROFILES.index(since) <= PROFILES.index(profile), name
        r[off:off + size] = vals[name].to_bytes(size, "little")
    return bytes(r)


def header(flags=0, fmt=0, size=128, vmxon=INVALID, vmcs12=INVALID, smm=0, vmx_flags=0, deadline=0):
    h = bytearray(128)
    struct.pack_into("<HHIQQHHIQ", h, 0, flags, fmt, size, vmxon, vmcs12, smm, 0, vmx_flags, deadline)
    return bytes(h)


def blob(regions, **kw):
    return header(size=128 + 4096 * len(regions), **kw) + b"".join(regions)


def l2_values(rng, profile):
    v = random_values(rng, profile)
    v["cpu_based_vm_exec_control"] = 0x80000000 | (v.get("cpu_based_vm_exec_control", 0) & 0x7FFFFFFF)
    v["secondary_vm_exec_control"] = 0x4000 | v.get("secondary_vm_exec_control", 0)
    v["vmcs_link_pointer"] = 0x7000
    return v


def samples(rng):
    """name -> bytes. Pairs *-legacy / *-encoded hold the same values in each layout."""
    out = {}
    hdr_l1 = dict(vmxon=0x1000, vmcs12=0x2000)
    for p in PROFILES:
        v = random_values(rng, p)
        tag = "" if p == "linux-6.18" else "-" + p
        out["vmx-l1%s-legacy.bin" % tag] = blob([region(v, "legacy", p)], **hdr_l1)
        out["vmx-l1%s-encoded.bin" % tag] = blob([region(v, "encoded", p)], **hdr_l1)
    v = l2_values(rng, "linux-6.18")
    s = random_values(rng, "linux-6.18")
    for lay in ("legacy", "encoded"):
        out["vmx-l2-shadow-%s.bin" % lay] = blob(
            [region(v, lay, "linux-6.18"), region(s, lay, "linux-6.18", shadow=True, launch=0)],
            flags=0x3, vmxon=0x1000, vmcs12=0x2000, vmx_flags=1, deadline=123456789)
    v = random_values(rng, "linux-6.18")
    for lay in ("legacy", "encoded"):
        out["vmx-evmcs-%s.bin" % lay] = blob([region(v, lay, "linux-6.18")], flags=0x4, vmxon=0x1000)
        out["region-%s.bin" % lay] = region(v, lay, "linux-6.18")
    out["vmx-vmxon-only.bin"] = header(vmxon=0x1000)
    out["vmx-off.bin"] = header()
    out["svm-guest.bin"] = header(flags=0x101, fmt=1, size=4224, vmxon=0x5000) + bytes(rng.getrandbits(8) for _ in range(4096))
    out["svm-off.bin"] = header(flags=0x100, fmt=1, size=128, vmxon=0)
    return out


def bad_cases(rng):
    """(file, expected code, extra convert args, bytes): each breaks exactly one rule first."""
    good = blob([region(random_values(rng, "linux-6.18"), "legacy", "linux-6.18")], vmxon=0x1000, vmcs12=0x2000)

    def with_header(**kw):
        return header(size=len(good), **{"vmxon": 0x1000, "vmcs12": 0x2000, **kw}) + good[128:]

    def patch(b, off, data):
        b = bytearray(b)
        b[off:off + len(data)] = data
        return bytes(b)

    l2 = l2_values(rng, "linux-6.18")
    l2_single = blob([region(l2, "legacy", "linux-6.18")], flags=1, vmxon=0x1000, vmcs12=0x2000)
    shadow_pair = [region(l2, "legacy", "linux-6.18"), region({}, "legacy", "linux-6.18")]
    enc_tertiary = bytearray(blob([region({"guest_rip": 0xFFF0}, "encoded", "linux-6.18")], vmxon=0x1000, vmcs12=0x2000))
    struct.pack_into("<Q", enc_tertiary, 128 + encoded_offset(0x2034), 0x1)
    cet = blob([region({"guest_ssp": 0x7FFF0000}, "legacy", "linux-6.18")], vmxon=0x1000, vmcs12=0x2000)
    return [
        ("truncated-header.bin", "BLOB_TRUNCATED", "", good[:100]),
        ("size-mismatch.bin", "SIZE_MISMATCH", "", patch(good, 4, struct.pack("<I", 8320))),
        ("size-too-small.bin", "SIZE_TOO_SMALL", "", patch(good, 4, struct.pack("<I", 64))),
        ("size-too-large.bin", "SIZE_TOO_LARGE", "", patch(good, 4, struct.pack("<I", 12416))),
        ("truncated-region.bin", "SIZE_PARTIAL_REGION", "", patch(good[:1126], 4, struct.pack("<I", 1126))),
        ("format-unknown.bin", "FORMAT_UNKNOWN", "", with_header(fmt=2)),
        ("flags-unknown.bin", "FLAGS_UNKNOWN", "", with_header(flags=0x10)),
        ("run-pending-no-guest.bin", "RUN_PENDING_WITHOUT_GUEST_MODE", "", with_header(flags=0x2)),
        ("smm-without-vmxon.bin", "SMM_WITHOUT_VMXON", "", header(smm=2)),
        ("vmcs12-pa-without-vmxon.bin", "VMCS12_PA_WITHOUT_VMXON", "", header(vmcs12=0x2000)),
        ("flags-without-vmxon.bin", "FLAGS_WITHOUT_VMXON", "", header(flags=0x8)),
        ("vmxon-unaligned.bin", "VMXON_PA_UNALIGNED", "", with_header(vmxon=0x1001)),
        ("smm-guest-and-guest-mode.bin", "SMM_GUEST_AND_GUEST_MODE", "", with_header(flags=1, smm=3)),
        ("smm-flags-unknown.bin", "SMM_FLAGS_UNKNOWN", "", with_header(smm=4)),
        ("vmx-hdr-flags-unknown.bin", "VMX_HDR_FLAGS_UNKNOWN", "", with_header(vmx_flags=2)),
        ("smm-guest-without-vmxon.bin", "SMM_GUEST_WITHOUT_SMM_VMXON", "", with_header(smm=1)),
        ("vmcs12-missing.bin", "VMCS12_MISSING", "", header(vmxon=0x1000, vmcs12=0x2000)),
        ("vmcs12-pa-is-vmxon.bin", "VMCS12_PA_INVALID", "", with_header(vmcs12=0x1000)),
        ("vmcs12-without-pa.bin", "VMCS12_WITHOUT_PA", "", with_header(vmcs12=INVALID)),
        ("revision-unknown.bin", "REVISION_UNKNOWN", "", patch(good, 128, struct.pack("<I", 0x12345678))),
        ("shadow-missing.bin", "SHADOW_MISSING", "", l2_single),
        ("shadow-bit-missing.bin", "SHADOW_BIT_MISSING", "",
         blob(shadow_pair, flags=1, vmxon=0x1000, vmcs12=0x2000)),
        ("layout-mismatch.bin", "LAYOUT_MISMATCH", "--to legacy --from encoded", good),
        ("svm-vmcb-unaligned.bin", "SVM_VMCB_PA_UNALIGNED", "",
         header(flags=1, fmt=1, size=4224, vmxon=0x5010) + bytes(4096)),
        ("svm-vmcb12-missing.bin", "SVM_VMCB12_MISSING", "", header(flags=1, fmt=1, size=128, vmxon=0x5000)),
        ("padding-fred-tail.bin", "PADDING_NONZERO", "", patch(good, 128 + 1000, b"\x2a")),
        ("padding64-336.bin", "PADDING_NONZERO", "", patch(good, 128 + 336, b"\x01")),
        ("tertiary-no-home.bin", "FIELD_NO_HOME", "--to legacy", bytes(enc_tertiary)),
        ("cet-to-5.14.bin", "FIELD_NO_HOME", "--to legacy --from legacy --to-profile linux-5.14", cet),
        ("input-too-large.bin", "INPUT_TOO_LARGE", "", bytes(9000)),
        ("region-short.bin", "REGION_SIZE", "--to encoded --raw", region({}, "legacy", "linux-6.18")[:4000]),
    ]


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    outdir = sys.argv[1]
    rng = random.Random(0x11E57ED0)
    os.makedirs(os.path.join(outdir, "samples"), exist_ok=True)
    os.makedirs(os.path.join(outdir, "bad"), exist_ok=True)
    for name, data in sorted(samples(rng).items()):
        with open(os.path.join(outdir, "samples", name), "wb") as f:
            f.write(data)
    with open(os.path.join(outdir, "bad", "cases.tsv"), "w") as manifest:
        manifest.write("# file\texpected error\tvmcs12ctl convert arguments\n")
        for name, code, args, data in bad_cases(rng):
            with open(os.path.join(outdir, "bad", name), "wb") as f:
                f.write(data)
            manifest.write("%s\t%s\t%s\n" % (name, code, args or "--to encoded"))


if __name__ == "__main__":
    main()
