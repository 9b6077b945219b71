#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The bytes a forging guest (rom.S) puts in its registers, its CMOS and its chipset registers.

  forge.py neutral OUT            zeros: the guest that forges nothing (to learn the layout)
  forge.py build STREAM OUT       from a stream the neutral guest sent (same QEMU, same command
                                  line): structure forged from its real section ids and sizes
  forge.py locate STREAM          in a stream the forging guest sent: the stream offset where
                                  its forged description ends (it walks, up to its own end)
  forge.py check STREAM           every forgery is where the guest put it, as data

What is forged, after the stream issue's four cases and a whole description:
  XMM0-7 (vCPU 0's cpu section, before its subsections): a cpu/nested_state header of size
    1 MiB; the cpu section's footer followed by EOF and the description marker, for three
    guesses of the section id; a header-only nested state followed by a footer.
  CMOS 0x40-0x7f (mc146818rtc, after the cpus): the rtc section's footer followed by a FULL
    section header named cpu, a nested-state header, the cpu's footer, EOF and the marker.
  ICH9 RCBA (0000:00:1f.0/ICH9LPC's chip_config): the LPC section's footer, EOF and a compact
    description of every device before it and of itself up to here: a description that walks.
"""
import json
import os
import struct
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "gen"))
import gen_stream as g  # noqa: E402

XMM, CMOS, CMOS_FIRST = 128, 114, 0x0E
CMOS_FORGED = 0x40 - CMOS_FIRST  # from index 0x40: clear of the century byte (0x32) QEMU keeps
RCBA_OFF = 0x100
LPC = "0000:00:1f.0/ICH9LPC"


def layout(data):
    """Per device of the stream: (desc, start, footer, section id, body start)."""
    eof, desc, spans = g.walk(data)
    out = []
    for d, start, footer in spans:
        nl = data[start + 5]
        sid = struct.unpack(">I", data[start + 1:start + 5])[0]
        out.append((d, start, footer, sid, start + 14 + nl))
    return out


def field_offset(d, name):
    """Offset of a top-level field inside a device's body, from its description."""
    off = 0
    for f in d.get("fields")[0]:
        if f.get("name")[0] == name:
            return off
        off += f.get("size")[0] * (f.get("array_len") or [1])[0]
    raise SystemExit("no field %s in %s" % (name, d.get("name")[0]))


def find(lay, name, instance=0):
    for x in lay:
        if x[0].get("name")[0] == name and x[0].get("instance_id")[0] == instance:
            return x
    raise SystemExit("no device %s %d in the stream" % (name, instance))


def nested_hdr(size):
    return g.sub("cpu/nested_state") + struct.pack(">HHI", 0, 0, size)


def as_xmm(wire):
    """Register contents that QEMU writes as these wire bytes (each qword big-endian)."""
    return b"".join(wire[i:i + 8][::-1] for i in range(0, len(wire), 8))


def build(data):
    lay = layout(data)
    cpu0, rtc, lpc = find(lay, "cpu"), find(lay, "mc146818rtc"), find(lay, LPC)
    x = bytearray(XMM)
    x[0:30] = nested_hdr(1 << 20)
    for k, sid in enumerate((cpu0[3] - 1, cpu0[3], cpu0[3] + 1)):
        f = b"\x7e" + struct.pack(">I", sid) + b"\x00\x06"
        x[32 + 8 * k:32 + 8 * k + 7] = f
    f = nested_hdr(128) + b"\x7e" + struct.pack(">I", cpu0[3]) + b"\x00"
    x[64:64 + len(f)] = f
    c = bytearray(CMOS)
    f = (b"\x7e" + struct.pack(">I", rtc[3]) + b"\x04" + struct.pack(">I", cpu0[3]) + b"\x03cpu" +
         struct.pack(">II", 0, 12) + nested_hdr(4224) + b"\x7e" + struct.pack(">I", cpu0[3]) + b"\x00\x06")
    assert CMOS_FORGED + len(f) <= CMOS
    c[CMOS_FORGED:CMOS_FORGED + len(f)] = f
    # The description: every device before the LPC bridge as one field of its body's size, and
    # the bridge up to the forged footer.
    chip = lpc[4] + field_offset(lpc[0], "chip_config")
    devices = [{"name": d.get("name")[0], "instance_id": d.get("instance_id")[0], "fields": [{"size": foot - body}]}
               for d, _, foot, _, body in lay if foot < lpc[1]]
    devices.append({"name": LPC, "instance_id": 0, "fields": [{"size": chip + RCBA_OFF - lpc[4]}]})
    text = json.dumps({"page_size": 4096, "devices": devices}, separators=(",", ":")).encode()
    r = b"\x7e" + struct.pack(">I", lpc[3]) + b"\x00\x06" + struct.pack(">I", len(text)) + text
    r += bytes(-len(r) % 4)
    assert RCBA_OFF + len(r) <= 0x3000, len(r)  # clear of the registers with side effects
    return as_xmm(bytes(x)) + bytes(c) + struct.pack("<HH", len(r), RCBA_OFF) + r, bytes(x), bytes(c), r


def main():
    what = sys.argv[1]
    if what == "neutral":
        open(sys.argv[2], "wb").write(bytes(XMM + CMOS) + struct.pack("<HH", 0, RCBA_OFF))
    elif what == "build":
        rom = build(open(sys.argv[2], "rb").read())[0]
        open(sys.argv[3], "wb").write(rom)
    elif what in ("locate", "check"):
        data = open(sys.argv[2], "rb").read()
        lay = layout(data)
        cpu0, rtc, lpc = find(lay, "cpu"), find(lay, "mc146818rtc"), find(lay, LPC)
        _, x, c, r = build(data)  # the same ids and sizes: the same forgeries
        xmm_at = cpu0[4] + field_offset(cpu0[0], "env.xmm_regs[0]")
        cmos_at = rtc[4] + field_offset(rtc[0], "cmos_data") + CMOS_FIRST  # index 0x0e
        rcba_at = lpc[4] + field_offset(lpc[0], "chip_config") + RCBA_OFF
        got = (data[xmm_at:xmm_at + XMM] == x, data[cmos_at + CMOS_FORGED:cmos_at + CMOS] == c[CMOS_FORGED:],
               data[rcba_at:rcba_at + len(r)] == r)
        if what == "check":
            names = ("XMM0-7", "CMOS", "RCBA")
            missing = [n for n, ok in zip(names, got) if not ok]
            if missing:
                sys.exit("forged bytes not found where the guest put them: " + ", ".join(missing))
            print("forged bytes in XMM0-7 at %d, CMOS at %d, RCBA at %d" % (xmm_at, cmos_at + CMOS_FORGED, rcba_at))
        else:
            n = struct.unpack(">I", r[7:11])[0]
            print(rcba_at + 11 + n)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
