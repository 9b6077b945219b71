#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Hostile clients for the integration tests. Each prints one line describing what happened.

  plain HOST PORT                 plain TCP garbage on the TLS port; expects the daemon to close
  silent HOST PORT SECONDS        connect and say nothing; reports when the daemon hangs up
  tls HOST PORT CERT KEY CA MODE  mutual TLS as a configured peer, then MODE: oversize | garbage | nohello
  control SOCK MODE               on the control socket: oversize | garbage | partial | zero
  hold SOCK N SECONDS             open N control connections with half a frame each, hold them
  silentunix SOCK SECONDS         connect to the control socket and say nothing
  idle SOCK N SECONDS             open N control connections, send nothing, hold them
"""
import socket
import ssl
import struct
import sys
import time


def until_closed(s, limit=5.0):
    s.settimeout(limit)
    data = b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return "closed", data
            data += chunk
    except socket.timeout:
        return "open", data
    except (ConnectionResetError, ssl.SSLError, OSError) as e:
        return "closed (%s)" % type(e).__name__, data


def main():
    mode = sys.argv[1]
    if mode == "plain":
        s = socket.create_connection((sys.argv[2], int(sys.argv[3])))
        s.sendall(b"GET / HTTP/1.0\r\n\r\n" + b"\x00" * 100)
        print(until_closed(s)[0])
    elif mode == "silent":
        s = socket.create_connection((sys.argv[2], int(sys.argv[3])))
        t0 = time.time()
        state, _ = until_closed(s, float(sys.argv[4]))
        print("%s after %.1f s" % (state, time.time() - t0))
    elif mode == "tls":
        host, port, cert, key, ca, what = sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5], sys.argv[6], sys.argv[7]
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
        ctx.load_cert_chain(cert, key)
        ctx.load_verify_locations(ca)
        ctx.check_hostname = False
        s = ctx.wrap_socket(socket.create_connection((host, port)))
        if what == "oversize":
            s.sendall(struct.pack(">I", 0x7FFFFFFF) + b"\x00" * 64)
        elif what == "garbage":
            s.sendall(struct.pack(">I", 32) + b"\xff" * 32)
        elif what == "nohello":
            pass
        print(until_closed(s)[0])
    elif mode == "control":
        s = socket.socket(socket.AF_UNIX)
        s.connect(sys.argv[2])
        what = sys.argv[3]
        if what == "oversize":
            s.sendall(struct.pack(">I", 1 << 30))
        elif what == "garbage":
            s.sendall(struct.pack(">I", 16) + b"\xde\xad\xbe\xef" * 4)
        elif what == "zero":
            s.sendall(struct.pack(">I", 0))
        state, data = until_closed(s)
        print(state, "error-reply" if b"FRAME_" in data else "no-reply")
    elif mode == "silentunix":
        s = socket.socket(socket.AF_UNIX)
        s.connect(sys.argv[2])
        t0 = time.time()
        state, _ = until_closed(s, float(sys.argv[3]))
        print("%s after %.1f s" % (state, time.time() - t0))
    elif mode == "idle":
        socks = []
        for _ in range(int(sys.argv[3])):
            s = socket.socket(socket.AF_UNIX)
            s.connect(sys.argv[2])
            socks.append(s)
        time.sleep(float(sys.argv[4]))
        print("held %d idle connections" % len(socks))
    elif mode == "hold":
        socks = []
        refused = 0
        for _ in range(int(sys.argv[3])):
            s = socket.socket(socket.AF_UNIX)
            try:
                s.connect(sys.argv[2])
                s.sendall(struct.pack(">I", 60000) + b"\x01" * 30000)
            except OSError:  # refused or reset: the daemon is over max_connections
                refused += 1
                continue
            socks.append(s)
        time.sleep(float(sys.argv[4]))
        closed = refused
        for s in socks:
            s.setblocking(False)
            try:
                if s.recv(1) == b"":
                    closed += 1
            except BlockingIOError:
                pass
            except OSError:
                closed += 1
        print("held %d, closed by daemon %d" % (len(socks) + refused, closed))


if __name__ == "__main__":
    main()
