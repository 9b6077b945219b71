#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""QEMU migration streams with nested state, for the stream parser's tests.

  gen_stream.py synth SEED OUT_PREFIX [forge]
      A stream built from the spec alone (qemu-migration-stream.md): header, configuration,
      ram START/PART/END with pages that contain look-alikes of footers and nested-state
      subsections, device sections with fake footers inside, cpu sections with VMX (shadow
      included, and VMXON-only) and SVM nested state, EOF and a VM description of every device.
      With forge, the guest-controlled bytes (registers, CMOS) carry forged structure: nested-
      state headers, a footer with EOF and the description marker, a footer with a FULL cpu
      header, and a whole description valid up to its own end (OUT_PREFIX-forged-end.txt: the
      stream offset where it ends).
  gen_stream.py nested-offsets FILE
      Where the stream's description puts every cpu/nested_state body (an independent walk).
  gen_stream.py splice SEED IN OUT_PREFIX
      A stream recorded from a real QEMU with a nested-state subsection spliced into every cpu
      section, just before its footer, and into its description.

Both write OUT_PREFIX-legacy.bin and OUT_PREFIX-encoded.bin: the same stream with the vmcs12
regions in each layout, all other bytes identical.
"""
import json
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


# ---- devices with their description ----------------------------------------------------------
# Each piece is (wire, desc): wire maps a layout to bytes (the same bytes unless a vmcs12 region
# is in it), desc is the piece's entry in QEMU's VM description (qemu-stream-exactness.md 1.3).

def both(b):
    return {"legacy": b, "encoded": b}


def fld(name, wire, typ="buffer"):
    wire = wire if isinstance(wire, dict) else both(wire)
    return wire, {"name": name, "type": typ, "size": len(wire["legacy"])}


def subsec(name, fields, subs=(), version=1):
    wire = {k: sub(name, version) + b"".join(f[0][k] for f in fields) + b"".join(x[0][k] for x in subs)
            for k in ("legacy", "encoded")}
    desc = {"vmsd_name": name, "version": version, "fields": [f[1] for f in fields]}
    if subs:
        desc["subsections"] = [x[1] for x in subs]
    return wire, desc


def nested_subsec(wire):
    """A cpu/nested_state subsection from its bytes (header included), as QEMU describes it."""
    wire = wire if isinstance(wire, dict) else both(wire)
    body = {k: v[22:] for k, v in wire.items()}
    return subsec("cpu/nested_state", [fld("nested_state", body, "struct")])


def device(sid, name, instance, version, fields, subs=()):
    wire = {k: section_full(sid, name, instance, version, b"".join(f[0][k] for f in fields) +
                            b"".join(x[0][k] for x in subs)) for k in ("legacy", "encoded")}
    desc = {"name": name, "instance_id": instance, "vmsd_name": name, "version": version,
            "fields": [f[1] for f in fields]}
    if subs:
        desc["subsections"] = [x[1] for x in subs]
    return wire, desc


def dump(obj):
    """JSON as QEMU 7.2 writes it (", " and ": " separators); order and duplicate keys kept."""
    if isinstance(obj, Pairs):
        return "{" + ", ".join(json.dumps(k) + ": " + dump(v) for k, v in obj) + "}"
    if isinstance(obj, dict):
        return "{" + ", ".join(json.dumps(k) + ": " + dump(v) for k, v in obj.items()) + "}"
    if isinstance(obj, list):
        return "[" + ", ".join(dump(v) for v in obj) + "]"
    return json.dumps(obj)


class Pairs(list):
    """A JSON object read with its keys in order, duplicates kept."""

    def get(self, key):
        return [v for k, v in self if k == key]


def vmdesc(devices):
    text = dump({"page_size": 4096, "devices": [d[1] for d in devices]}).encode()
    return b"\x00\x06" + struct.pack(">I", len(text)) + text


def forged_description(devices_before, sid, partial_fields_size):
    """Bytes a guest can put in its own registers: the footer of the section it is in, then EOF and
    a description that describes every device before it and that section's fields up to here, so
    that a walk by it lands exactly on the forged EOF byte."""
    descs = [d[1] for d in devices_before]
    cur = dict(descs[-1])
    cur["fields"] = [{"name": "env.regs", "type": "buffer", "size": partial_fields_size}]
    cur.pop("subsections", None)
    text = dump({"page_size": 4096, "devices": descs[:-1] + [cur]}).encode()
    return b"\x7e" + struct.pack(">I", sid) + b"\x00\x06" + struct.pack(">I", len(text)) + text


def rand(rng, n):
    return bytes(rng.getrandbits(8) for _ in range(n))


def synth(seed, prefix, forge=False):
    rng = random.Random(seed)
    out = {"legacy": bytearray(), "encoded": bytearray()}

    def put(b):
        for k in out:
            out[k] += b if not isinstance(b, dict) else b[k]

    put(struct.pack(">II", 0x5145564D, 3))
    name = b"pc-q35-7.2"
    put(bytes([0x07]) + struct.pack(">I", len(name)) + name)
    caps = [b"x-ignore-shared"]
    put(sub("configuration/capabilities") + struct.pack(">I", len(caps)) + b"".join(bytes([len(c)]) + c for c in caps))
    put(bytes([0x08]) + struct.pack(">HH", 1, 0))  # OPEN_RETURN_PATH
    # ram START: MEM_SIZE and the block list (with the ignore-shared address).
    blocks = [(b"pc.ram", 1 << 20), (b"pc.bios", 1 << 16)]
    total = sum(b[1] for b in blocks)
    ram = struct.pack(">Q", total | 0x04)
    for bn, ln in blocks:
        ram += bytes([len(bn)]) + bn + struct.pack(">QQ", ln, 0)
    put(bytes([0x01]) + struct.pack(">I", 2) + bytes([3]) + b"ram" + struct.pack(">II", 0, 4) + ram)
    trick = sub("cpu/nested_state") + b"\x7e\x00\x00\x00\x02\x04"  # look-alikes inside a page

    def page(first):
        data = bytearray(rand(rng, 4096))
        pos = rng.randrange(0, 4096 - len(trick))
        data[pos:pos + len(trick)] = trick
        rec = struct.pack(">Q", (rng.randrange(0, 256) << 12) | 0x08 | (0 if first else 0x20))
        if first:
            rec += bytes([6]) + b"pc.ram"
        return rec + bytes(data)

    put(page(True) + page(False) + struct.pack(">Q", 0x10) + b"\x7e" + struct.pack(">I", 2))
    for _ in range(2):  # PART sections: pages, zero pages, XBZRLE, EOS
        body = page(True) + struct.pack(">Q", (5 << 12) | 0x22) + b"\x00"
        xb = rand(rng, 37)
        body += struct.pack(">Q", (6 << 12) | 0x60) + b"\x01" + struct.pack(">H", len(xb)) + xb
        put(bytes([0x02]) + struct.pack(">I", 2) + body + struct.pack(">Q", 0x10) + b"\x7e" + struct.pack(">I", 2))
    put(bytes([0x03]) + struct.pack(">I", 2) + page(True) + struct.pack(">Q", 0x10) + b"\x7e" + struct.pack(">I", 2))
    device_phase = len(out["legacy"])
    devs = []
    # A device holding a fake footer (its own id, then something that is no record).
    dev = rand(rng, 300) + b"\x7e" + struct.pack(">I", 3) + b"\xff\xff" + bytes(50)
    devs.append(device(3, "timer", 0, 2, [fld("cpu_ticks_offset", dev)]))
    # cpu 0: VMX with shadow; cpu 1: VMXON only; cpu 2: SVM (passed through); cpu 3: VMX, no shadow.
    # The "registers" of each are guest bytes: with forge, they carry forged structure.
    forged_end = None

    def regs(n, sid, instance):
        nonlocal forged_end
        r = bytearray(rand(rng, n))
        if forge and instance == 0:  # a whole small description, valid up to its own end
            at = 200
            f = forged_description(devs + [device(sid, "cpu", 0, 12, [])], sid, at)
            r[at:at + len(f)] = f
            forged_end = device_phase + sum(len(d[0]["legacy"]) for d in devs) + 17 + at + len(f)
        if forge and instance == 1:  # nested-state headers: 1 MiB, and header-only
            f = sub("cpu/nested_state") + struct.pack(">HHI", 0, 0, 1 << 20)
            f += b"\x00" * 7 + sub("cpu/nested_state") + struct.pack(">HHI", 0, 0, 128) + b"\x7e" + struct.pack(">I", sid)
            r[100:100 + len(f)] = f
        if forge and instance == 3:  # the footer, EOF and the description marker, a few times
            for k in range(4):
                f = b"\x7e" + struct.pack(">I", sid) + b"\x00\x06" + struct.pack(">I", 40 + k)
                r[50 + 40 * k:50 + 40 * k + len(f)] = f
        return fld("env.regs", bytes(r))

    def cpu(sid, instance, nested, n=None):
        subs = [subsec("cpu/async_pf_msr", [fld("env.async_pf_en_msr", bytes(8), "uint64")])]
        if nested is not None:
            subs.append(nested_subsec(nested))
        if instance == 0:
            subs.append(subsec("cpu/xen_vcpu", [fld("env.xen_vcpu_info_gpa", bytes(8), "uint64")]))
        return device(sid, "cpu", instance, 12, [regs(n or rng.randrange(400, 900), sid, instance)], subs)

    leg, enc = vmx_pair(rng, True)
    devs.append(cpu(4, 0, {"legacy": leg, "encoded": enc}, 900))
    devs.append(cpu(5, 1, nested_vmx(rng, "legacy", {}, {}, vmxon=False)))
    devs.append(cpu(6, 2, nested_svm(rng)))
    leg, enc = vmx_pair(rng, False)
    devs.append(cpu(7, 3, {"legacy": leg, "encoded": enc}))
    # CMOS: 128 guest bytes; forged: the rtc's own footer, then a FULL section header named cpu.
    cmos = bytearray(rand(rng, 128))
    if forge:
        f = b"\x7e" + struct.pack(">I", 8) + b"\x04" + struct.pack(">I", 4) + b"\x03cpu" + struct.pack(">II", 0, 12)
        cmos[10:10 + len(f)] = f
    devs.append(device(8, "mc146818rtc", 0, 3, [fld("cmos_data", bytes(cmos)), fld("cmos_index", b"\x00", "uint8")],
                       [subsec("mc146818rtc/irq_reinject_on_ack_count", [fld("irq_reinject_on_ack_count", bytes(2),
                                                                             "uint16")])]))
    devs.append(device(9, "kvmclock", 0, 1, [fld("clock", rand(rng, 20))]))
    for d in devs:
        put(d[0])
    put(vmdesc(devs))
    for k, v in out.items():
        with open("%s-%s.bin" % (prefix, k), "wb") as f:
            f.write(v)
    if forge:
        with open("%s-forged-end.txt" % prefix, "w") as f:
            f.write("%d\n" % forged_end)


def pre_device_phase(data):
    """Offset of the first byte of the device phase of a recorded stream, walked per the spec."""
    pos, shared = 8, 0
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
                        if data[pos + 1:pos + 1 + data[pos]].rstrip(b"\x00") == b"x-ignore-shared":
                            shared = 8
                        pos += 1 + data[pos]
                elif name == "configuration/target-page-bits":
                    pos += 4
                elif name == "configuration/uuid":
                    pos += 16
        elif t == 0x08:
            pos += 5 + struct.unpack(">H", data[pos + 3:pos + 5])[0]
        elif t in (0x01, 0x02, 0x03):
            pos += 6 + data[pos + 5] + 8 if t == 0x01 else 5
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
                        pos += 9 + nl + shared
                    continue
                if fl & 0x200:
                    continue
                if not fl & 0x20:
                    pos += 1 + data[pos]
                pos += 1 if fl & 0x02 else 4096 if fl & 0x08 else 3 + struct.unpack(">H", data[pos + 1:pos + 3])[0]
            if data[pos] == 0x7E:
                pos += 5
        elif t in (0x00, 0x04):
            return pos
        else:
            raise SystemExit("unexpected record 0x%02x at %d" % (t, pos))


def read_vmdesc(data):
    """The description at the end of a recorded stream: (offset of EOF, parsed JSON with Pairs)."""
    eof = data.rindex(b"\x00\x06")
    while struct.unpack(">I", data[eof + 2:eof + 6])[0] != len(data) - eof - 6:
        eof = data.rindex(b"\x00\x06", 0, eof)
    return eof, json.loads(data[eof + 6:], object_pairs_hook=Pairs)


def walk(data):
    """An independent walk of the device phase by the description: the EOF offset, the description,
    and [(device, start, footer)]."""
    pos, (eof, desc) = pre_device_phase(data), read_vmdesc(data)

    def body(d):
        n = sum(f.get("size")[0] * (f.get("array_len") or [1])[0] for f in d.get("fields")[0])
        for s in (d.get("subsections") or [[]])[0]:
            n += 6 + len(s.get("vmsd_name")[0]) + body(s)
        return n

    spans = []
    for d in desc.get("devices")[0]:
        name = d.get("name")[0].encode()
        assert data[pos] == 0x04 and data[pos + 6:pos + 6 + len(name)] == name, (pos, name)
        footer = pos + 14 + len(name) + body(d)
        assert data[footer] == 0x7E, (footer, name)
        spans.append((d, pos, footer))
        pos = footer + 5
    assert pos == eof, (pos, eof)
    return eof, desc, spans


def nested_offsets(path):
    """Where the description puts the body of every cpu/nested_state subsection (stream offsets)."""
    data = open(path, "rb").read()

    def size(d):
        return sum(f.get("size")[0] * (f.get("array_len") or [1])[0] for f in d.get("fields")[0])

    found = []
    for d, start, _ in walk(data)[2]:
        if d.get("name")[0] != "cpu":
            continue
        pos = start + 17 + size(d)
        for s in (d.get("subsections") or [[]])[0]:
            name = s.get("vmsd_name")[0]
            if name == "cpu/nested_state":
                found.append(pos + 6 + len(name))
            pos += 6 + len(name) + size(s) + sum(6 + len(x.get("vmsd_name")[0]) + size(x)
                                                 for x in (s.get("subsections") or [[]])[0])
    return found


def splice(seed, path, prefix):
    """Nested state into every cpu section of a recorded stream, before its footer, and into the
    description: the stream stays one the parser can walk exactly."""
    rng = random.Random(seed)
    data = open(path, "rb").read()
    eof, desc, spans = walk(data)
    spans = [s for s in spans if s[0].get("name")[0] == "cpu"]
    out = {"legacy": bytearray(), "encoded": bytearray()}
    last = 0
    for i, (d, _, footer) in enumerate(spans):
        leg, enc = vmx_pair(rng, shadow=(i % 2 == 0))
        out["legacy"] += data[last:footer] + leg
        out["encoded"] += data[last:footer] + enc
        last = footer
        entry = nested_subsec(leg)[1]
        subs = d.get("subsections")
        if subs:
            subs[0].append(entry)
        else:
            d.append(("subsections", [entry]))
    text = dump(desc).encode()
    for k in out:
        out[k] += data[last:eof] + b"\x00\x06" + struct.pack(">I", len(text)) + text
        with open("%s-%s.bin" % (prefix, k), "wb") as f:
            f.write(out[k])
    print("spliced nested state into %d cpu sections" % len(spans))


def desc_edit(data, old, new):
    """The stream with one edit of the same length in its description."""
    eof = data.rindex(b"\x00\x06")
    assert len(old) == len(new) and data.count(old, eof) == 1, old
    return data[:eof] + data[eof:].replace(old, new)


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
        ("truncated.bin", "stream ends inside", "--to encoded", good[:first_page + 2000]),
        ("no-eof.bin", "the stream ends without a VM description after its device state", "--to encoded",
         good[:good.rindex(b"\x00\x06")]),
        ("no-vmdesc.bin", "the stream ends without a VM description after its device state", "--to encoded",
         good[:good.rindex(b"\x00\x06") + 1]),
        ("after-vmdesc.bin", "the stream ends without a VM description", "--to encoded", good + b"\x00"),
        ("vmdesc-size.bin", "the VM description does not match the device state it describes", "--to encoded",
         desc_edit(good, b'"cpu_ticks_offset", "type": "buffer", "size": 357', b'"cpu_ticks_offset", "type": "buffer", "size": 358')),
        ("vmdesc-name.bin", "section 'timer' instance 0 version 2 where the description puts 'tamer'", "--to encoded",
         desc_edit(good, b'"name": "timer"', b'"name": "tamer"')),
        ("vmdesc-json.bin", "the VM description is not valid JSON: expected an array", "--to encoded",
         desc_edit(good, b'"devices": [', b'"devices": {')),
        ("vmdesc-page.bin", "page size 8192 (only 4096 is handled)", "--to encoded",
         desc_edit(good, b'"page_size": 4096', b'"page_size": 8192')),
        ("early-setup.bin", "a device section before RAM (an early-setup device such as virtio-mem)", "--to encoded",
         good[:ram_start] + section_full(20, "virtio-mem-device-early", 0, 1, bytes(40)) + good[ram_start:]),
        ("colo.bin", "COLO (MIG_CMD_ENABLE_COLO) is not supported", "--to encoded",
         good[:cmd_at] + b"\x08\x00\x08\x00\x00" + good[cmd_at:]),
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
    fill["cpu-version.bin"] = desc_edit(good[:cpu_hdr + 8] + struct.pack(">I", 13) + good[cpu_hdr + 12:],
                                        b'"name": "cpu", "instance_id": 0, "vmsd_name": "cpu", "version": 12',
                                        b'"name": "cpu", "instance_id": 0, "vmsd_name": "cpu", "version": 13')
    cases = [c if c[3] is not None else c[:3] + (fill[c[0]],) for c in cases]
    with open(os.path.join(outdir, "cases.tsv"), "w") as m:
        m.write("# file\texpected message\tstream-convert arguments\n")
        for name, msg, args, data in cases:
            with open(os.path.join(outdir, name), "wb") as f:
                f.write(data)
            m.write("%s\t%s\t%s\n" % (name, msg, args))


if __name__ == "__main__":
    if sys.argv[1] == "synth":
        synth(int(sys.argv[2]), sys.argv[3], forge=len(sys.argv) > 4 and sys.argv[4] == "forge")
    elif sys.argv[1] == "nested-offsets":
        print("\n".join(str(o) for o in nested_offsets(sys.argv[2])))
    elif sys.argv[1] == "bad":
        bad(sys.argv[2])
    elif sys.argv[1] == "splice":
        splice(int(sys.argv[2]), sys.argv[3], sys.argv[4])
    else:
        sys.exit(__doc__)
