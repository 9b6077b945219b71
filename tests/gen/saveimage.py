#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""libvirt save images for the tests, independently of vmcs12ctl (the layout of
convert/include/v12/saveimage.h, as libvirt 9.0 writes it).

  saveimage.py wrap STREAM XML OUT [FORMAT] [--stopped] [--cookie TEXT]
      header + XML area (XML, NUL, cookie, NUL, 64 KiB of zeros) + STREAM, compressed with
      FORMAT (raw, gzip, bzip2, xz, lzop) as libvirt does it
  saveimage.py unwrap IMAGE STREAM_OUT      the decompressed QEMU stream of an image
  saveimage.py area IMAGE AREA_OUT          its header and XML area, byte for byte
  saveimage.py rewrap IMAGE STREAM OUT      IMAGE's header and XML area around STREAM, compressed
                                            as IMAGE says
"""
import bz2
import gzip
import lzma
import struct
import subprocess
import sys

MAGIC = b"LibvirtQemudSave"
FORMATS = ["raw", "gzip", "bzip2", "xz", "lzop"]


def compress(fmt, data):
    if fmt == "raw":
        return data
    if fmt == "gzip":
        return gzip.compress(data, mtime=0)
    if fmt == "bzip2":
        return bz2.compress(data)
    if fmt == "xz":
        return lzma.compress(data, preset=3)
    return subprocess.run(["lzop", "-c"], input=data, stdout=subprocess.PIPE, check=True).stdout


def decompress(fmt, data):
    if fmt == "raw":
        return data
    if fmt == "gzip":
        return gzip.decompress(data)
    if fmt == "bzip2":
        return bz2.decompress(data)
    if fmt == "xz":
        return lzma.decompress(data)
    return subprocess.run(["lzop", "-dc"], input=data, stdout=subprocess.PIPE, check=True).stdout


def header(data_len, running, fmt, cookie_offset):
    return MAGIC + struct.pack("<5I", 2, data_len, running, fmt, cookie_offset) + b"\0" * 56


def split(img):
    assert img[:16] == MAGIC, img[:16]
    version, data_len, running, fmt, cookie = struct.unpack("<5I", img[16:36])
    return img[: 92 + data_len], FORMATS[fmt], img[92 + data_len :]


def main():
    cmd = sys.argv[1]
    if cmd == "wrap":
        args = [a for a in sys.argv[2:] if not a.startswith("--")]
        stream, xml, out = open(args[0], "rb").read(), open(args[1], "rb").read(), args[2]
        fmt = args[3] if len(args) > 3 else "raw"
        cookie = None
        if "--cookie" in sys.argv:
            cookie = sys.argv[sys.argv.index("--cookie") + 1].encode()
            args = [a for a in args if a != cookie.decode()]
        area = xml + b"\0" + (cookie + b"\0" if cookie is not None else b"")
        cookie_offset = len(xml) + 1 if cookie is not None else 0
        area += b"\0" * 65536
        running = 0 if "--stopped" in sys.argv else 1
        with open(out, "wb") as f:
            f.write(header(len(area), running, FORMATS.index(fmt), cookie_offset) + area + compress(fmt, stream))
    elif cmd == "unwrap":
        _, fmt, body = split(open(sys.argv[2], "rb").read())
        open(sys.argv[3], "wb").write(decompress(fmt, body))
    elif cmd == "area":
        area, _, _ = split(open(sys.argv[2], "rb").read())
        open(sys.argv[3], "wb").write(area)
    elif cmd == "rewrap":
        area, fmt, _ = split(open(sys.argv[2], "rb").read())
        open(sys.argv[4], "wb").write(area + compress(fmt, open(sys.argv[3], "rb").read()))
    else:
        sys.exit(__doc__)


main()
