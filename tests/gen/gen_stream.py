#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""QEMU migration streams with nested state, for the stream parser's tests.

  gen_stream.py synth SEED OUT_PREFIX
      A stream built from the spec alone (qemu-migration-stream.md): header, configuration,
      ram START/PART/END with pages that contain look-alikes of footers and nested-state
      subsections, device sections with fake footers inside, cpu sections with VMX (shadow
      included, and VMXON-only) and SVM nested state, EOF and a VM description.
  gen_stream.py splice SEED IN OUT_PREFIX
      A stream recorded from a real QEMU with a nested-state subsection spliced into every cpu
      section, just before its footer.

Both write OUT_PREFIX-legacy.bin and OUT_PREFIX-encoded.bin: the same stream with the vmcs12
regions in each layout, all other bytes identical.
"""
import os
import random
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen_samples as g  # noqa: E402

PROFILE = "linux-6.18"


def sub(name, version=1):
    return bytes([0x05, len(name)]) + name.encode() + struct.pack(">I", version)


def nested_vmx(rng, layout, values, shadow_values, shadow=True, vmxon=True):
    """The cpu/nested_state subsection as QEMU writes it (big-endian header fields)."""
    if not vmxon:
        return sub("cpu/nested_state") + struct.pack(">HHI", 0, 0, 128)
    regions = [g.region(values, layout, PROFILE)]
    if shadow:
        regions.append(g.region(shadow_values, layout, PROFILE, shadow=True, launch=0))
    size = 128 + 4096 * len(regions)
    out = sub("cpu/nested_state") + struct.pack(">HHI", 0x1 if shadow else 0, 0, size)
    out += sub("cpu/kvm_nested_state/vmx") + struct.pack(">QQH", 0x10000, 0x20000, 0)
    out += sub("cpu/kvm_nested_state/vmx/vmcs12") + regions[0]
    if shadow:
        out += sub("cpu/kvm_nested_state/vmx/shadow_vmcs12") + regions[1]
    return out


def nested_svm(rng):
    return (sub("cpu/nested_state") + struct.pack(">HHI", 0x101, 1, 4224) + sub("cpu/kvm_nested_state/svm") +
            struct.pack(">Q", 0x5000) + bytes(rng.getrandbits(8) for _ in range(4096)))


def vmx_pair(rng, shadow=True):
    v = g.l2_values(rng, PROFILE) if shadow else g.random_values(rng, PROFILE)
    s = g.random_values(rng, PROFILE)
    return (nested_vmx(rng, "legacy", v, s, shadow), nested_vmx(rng, "encoded", v, s, shadow))


def section_full(sid, name, instance, version, body, footer=True):
    return (bytes([0x04]) + struct.pack(">I", sid) + bytes([len(name)]) + name.encode() +
            struct.pack(">II", instance, version) + body + (bytes([0x7E]) + struct.pack(">I", sid) if footer else b""))


def synth(seed, prefix):
    rng = random.Random(seed)
    out = {"legacy": bytearray(), "encoded": bytearray()}

    def both(b):
        for k in out:
            out[k] += b

    both(struct.pack(">II", 0x5145564D, 3))
    name = b"pc-q35-7.2"
    both(bytes([0x07]) + struct.pack(">I", len(name)) + name)
    caps = [b"x-ignore-shared"]
    both(sub("configuration/capabilities") + struct.pack(">I", len(caps)) + b"".join(bytes([len(c)]) + c for c in caps))
    both(bytes([0x08]) + struct.pack(">HH", 1, 0))  # OPEN_RETURN_PATH
    # ram START: MEM_SIZE and the block list (with the ignore-shared address).
    blocks = [(b"pc.ram", 1 << 20), (b"pc.bios", 1 << 16)]
    total = sum(b[1] for b in blocks)
    ram = struct.pack(">Q", total | 0x04)
    for bn, ln in blocks:
        ram += bytes([len(bn)]) + bn + struct.pack(">QQ", ln, 0)
    both(bytes([0x01]) + struct.pack(">I", 2) + bytes([3]) + b"ram" + struct.pack(">II", 0, 4) + ram)
    trick = sub("cpu/nested_state") + b"\x7e\x00\x00\x00\x02\x04"  # look-alikes inside a page

    def page(first):
        data = bytearray(rng.getrandbits(8) for _ in range(4096))
        pos = rng.randrange(0, 4096 - len(trick))
        data[pos:pos + len(trick)] = trick
        rec = struct.pack(">Q", (rng.randrange(0, 256) << 12) | 0x08 | (0 if first else 0x20))
        if first:
            rec += bytes([6]) + b"pc.ram"
        return rec + bytes(data)

    both(page(True) + page(False) + struct.pack(">Q", 0x10) + b"\x7e" + struct.pack(">I", 2))
    for _ in range(2):  # PART sections: pages, zero pages, XBZRLE, EOS
        body = page(True) + struct.pack(">Q", (5 << 12) | 0x22) + b"\x00"
        xb = bytes(rng.getrandbits(8) for _ in range(37))
        body += struct.pack(">Q", (6 << 12) | 0x60) + b"\x01" + struct.pack(">H", len(xb)) + xb
        both(bytes([0x02]) + struct.pack(">I", 2) + body + struct.pack(">Q", 0x10) + b"\x7e" + struct.pack(">I", 2))
    both(bytes([0x03]) + struct.pack(">I", 2) + page(True) + struct.pack(">Q", 0x10) + b"\x7e" + struct.pack(">I", 2))
    # Devices: one holding a fake footer (its own id, then something that is no record).
    dev = bytes(rng.getrandbits(8) for _ in range(300)) + b"\x7e" + struct.pack(">I", 3) + b"\xff\xff" + bytes(50)
    both(section_full(3, "timer", 0, 2, dev))
    # cpu 0: VMX with shadow; cpu 1: VMXON only; cpu 2: SVM (passed through); cpu 3: VMX, no shadow.
    pre = lambda: bytes(rng.getrandbits(8) for _ in range(rng.randrange(100, 900))) + sub("cpu/async_pf_msr") + bytes(8)
    post = sub("cpu/xen_vcpu") + bytes(8)
    leg, enc = vmx_pair(rng, True)
    p0 = pre()
    out["legacy"] += section_full(4, "cpu", 0, 12, p0 + leg + post)
    out["encoded"] += section_full(4, "cpu", 0, 12, p0 + enc + post)
    n1 = nested_vmx(rng, "legacy", {}, {}, vmxon=False)
    both(section_full(5, "cpu", 1, 12, pre() + n1))
    both(section_full(6, "cpu", 2, 12, pre() + nested_svm(rng)))
    leg, enc = vmx_pair(rng, False)
    p3 = pre()
    out["legacy"] += section_full(7, "cpu", 3, 12, p3 + leg)
    out["encoded"] += section_full(7, "cpu", 3, 12, p3 + enc)
    both(section_full(8, "kvmclock", 0, 1, bytes(rng.getrandbits(8) for _ in range(20))))
    desc = b'{"page_size":4096,"devices":[]}'
    both(b"\x00" + b"\x06" + struct.pack(">I", len(desc)) + desc)
    for k, v in out.items():
        with open("%s-%s.bin" % (prefix, k), "wb") as f:
            f.write(v)


def cpu_footers(data):
    """Offsets of the footers of every cpu section of a recorded stream (walked per the spec)."""
    pos, found, ram_id = 8, [], None
    while True:
        t = data[pos]
        if t == 0x07:
            n = struct.unpack(">I", data[pos + 1:pos + 5])[0]
            pos += 5 + n
            while data[pos] == 0x05:
                nl = data[pos + 1]
                name = data[pos + 2:pos + 2 + nl].decode()
                pos += 2 + nl + 4
                if name == "configuration/capabilities":
                    cnt = struct.unpack(">I", data[pos:pos + 4])[0]
                    pos += 4
                    for _ in range(cnt):
                        pos += 1 + data[pos]
                elif name == "configuration/target-page-bits":
                    pos += 4
                elif name == "configuration/uuid":
                    pos += 16
        elif t == 0x08:
            pos += 5 + struct.unpack(">H", data[pos + 3:pos + 5])[0]
        elif t in (0x01, 0x02, 0x03, 0x04):
            sid = struct.unpack(">I", data[pos + 1:pos + 5])[0]
            if t in (0x01, 0x04):
                nl = data[pos + 5]
                name = data[pos + 6:pos + 6 + nl].decode()
                pos += 6 + nl + 8
            else:
                name, pos = "ram", pos + 5
            if name == "ram":
                ram_id = sid
                while True:
                    v = struct.unpack(">Q", data[pos:pos + 8])[0]
                    fl = v & 0xFFF
                    pos += 8
                    if fl & 0x10:
                        break
                    if fl & 0x04:
                        left = v & ~0xFFF
                        while left:
                            nl = data[pos]
                            left -= struct.unpack(">Q", data[pos + 1 + nl:pos + 9 + nl])[0]
                            pos += 9 + nl
                        continue
                    if not fl & 0x20:
                        pos += 1 + data[pos]
                    pos += 1 if fl & 0x02 else 4096 if fl & 0x08 else 0
                pos += 5
            else:
                # The footer: this section's id, then the next record.
                end = pos
                while True:
                    end = data.index(b"\x7e" + struct.pack(">I", sid), end)
                    nxt = data[end + 5]
                    if nxt in (0x00, 0x01, 0x02, 0x03, 0x04, 0x08):
                        break
                    end += 1
                if name == "cpu":
                    found.append(end)
                pos = end + 5
        elif t == 0x00:
            return found, ram_id
        else:
            raise SystemExit("unexpected record 0x%02x at %d" % (t, pos))


def splice(seed, path, prefix):
    rng = random.Random(seed)
    data = open(path, "rb").read()
    footers, _ = cpu_footers(data)
    out = {"legacy": bytearray(), "encoded": bytearray()}
    last = 0
    for i, f in enumerate(footers):
        leg, enc = vmx_pair(rng, shadow=(i % 2 == 0))
        out["legacy"] += data[last:f] + leg
        out["encoded"] += data[last:f] + enc
        last = f
    for k in out:
        out[k] += data[last:]
        with open("%s-%s.bin" % (prefix, k), "wb") as f:
            f.write(out[k])
    print("spliced nested state into %d cpu sections" % len(footers))


def bad(outdir):
    """Streams the parser must refuse, each with the message it must give (cases.tsv)."""
    os.makedirs(outdir, exist_ok=True)
    synth(7, os.path.join(outdir, "base"))
    good = open(os.path.join(outdir, "base-legacy.bin"), "rb").read()
    enc = open(os.path.join(outdir, "base-encoded.bin"), "rb").read()
    os.unlink(os.path.join(outdir, "base-legacy.bin"))
    os.unlink(os.path.join(outdir, "base-encoded.bin"))
    nested = good.index(sub("cpu/nested_state"), good.index(b"\x03cpu"))  # not the look-alike in a page
    vmcs12 = good.index(b"cpu/kvm_nested_state/vmx/vmcs12") + 31 + 4
    ram_start = good.index(b"\x01\x00\x00\x00\x02\x03ram")
    first_page = good.index(b"pc.ram", ram_start + 60) - 9
    cmd_at = good.index(b"\x08\x00\x01\x00\x00")
    cases = [
        ("magic.bin", "not a QEMU migration stream", "--to encoded", b"QEVX" + good[4:]),
        ("version2.bin", "stream file version 2", "--to encoded", good[:4] + struct.pack(">I", 2) + good[8:]),
        ("truncated.bin", "stream ends inside", "--to encoded", good[:len(good) // 2]),
        ("no-eof.bin", "no footer before the stream ends", "--to encoded", good[:good.rindex(b"\x00\x06")]),
        ("postcopy-advise.bin", "postcopy is not supported", "--to encoded",
         good[:cmd_at] + b"\x08\x00\x03\x00\x00" + good[cmd_at:]),
        ("unknown-command.bin", "migration command 9 is not supported", "--to encoded",
         good[:cmd_at] + b"\x08\x00\x09\x00\x00" + good[cmd_at:]),
        # Found by fuzzing: a command longer than the parser's look-ahead stalled its window.
        ("long-command.bin", "migration command 2 carries 31098 bytes, more than the 16379", "--to encoded",
         good[:cmd_at] + b"\x08\x00\x02\x79\x7a" + b"\x00" * 31098 + good[cmd_at:]),
        ("iterable-block.bin", "iterable section 'block' is not supported", "--to encoded",
         good[:ram_start] + b"\x01\x00\x00\x00\x09\x05block" + struct.pack(">II", 0, 1) + good[ram_start:]),
        ("ram-compress.bin", "RAM record flags 0x100 are not supported (compression", "--to encoded",
         good[:first_page] + struct.pack(">Q", (struct.unpack(">Q", good[first_page:first_page + 8])[0] & ~0xFFF) | 0x100) + good[first_page + 8:]),
        ("bad-revision.bin", "vCPU 0 (cpu section instance 0): nested state refused", "--to encoded",
         good[:vmcs12] + struct.pack("<I", 0x12345678) + good[vmcs12 + 4:]),
        ("padding.bin", "PADDING_NONZERO", "--to encoded",
         good[:vmcs12 + 2000] + b"\x01" + good[vmcs12 + 2001:]),
        ("nested-size.bin", "nested state size 12416 is outside 128..8320", "--to encoded",
         good[:nested + 22 + 4] + struct.pack(">I", 12416) + good[nested + 22 + 8:]),
        ("encoded-tertiary.bin", "tertiary_vm_exec_control", "--to legacy", None),
        ("config-sub.bin", "unknown configuration subsection 'configuration/frob'", "--to encoded",
         good[:23] + sub("configuration/frob") + good[23:]),
        # A name that carries an ESC sequence, a newline and a forged log priority: quoted escaped.
        ("config-sub-control.bin", "unknown configuration subsection 'conf\\x1b[2J\\x0a<3>forged'", "--to encoded",
         good[:23] + sub("conf\x1b[2J\n<3>forged") + good[23:]),
        ("malformed-nested.bin", "cpu/nested_state subsection is malformed", "--to encoded",
         good[:nested + 22 + 4] + struct.pack(">I", 4224) + good[nested + 22 + 8:]),
        ("cpu-version.bin", "cpu section version 13", "--to encoded", None),
    ]
    # An encoded stream whose vmcs12 holds a field legacy KVM has no place for.
    e_vmcs12 = enc.index(b"cpu/kvm_nested_state/vmx/vmcs12") + 31 + 4
    tert = g.encoded_offset(0x2034)
    fill = {"encoded-tertiary.bin": enc[:e_vmcs12 + tert] + b"\x01" + enc[e_vmcs12 + tert + 1:]}
    cpu_hdr = good.index(b"\x03cpu\x00\x00\x00\x00\x00\x00\x00\x0c")
    fill["cpu-version.bin"] = good[:cpu_hdr + 8] + struct.pack(">I", 13) + good[cpu_hdr + 12:]
    cases = [c if c[3] is not None else c[:3] + (fill[c[0]],) for c in cases]
    with open(os.path.join(outdir, "cases.tsv"), "w") as m:
        m.write("# file\texpected message\tstream-convert arguments\n")
        for name, msg, args, data in cases:
            with open(os.path.join(outdir, name), "wb") as f:
                f.write(data)
            m.write("%s\t%s\t%s\n" % (name, msg, args))


if __name__ == "__main__":
    if sys.argv[1] == "synth":
        synth(int(sys.argv[2]), sys.argv[3])
    elif sys.argv[1] == "bad":
        bad(sys.argv[2])
    elif sys.argv[1] == "splice":
        splice(int(sys.argv[2]), sys.argv[3], sys.argv[4])
    else:
        sys.exit(__doc__)
