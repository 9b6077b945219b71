#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Hostile clients for the integration tests. Each prints one line describing what happened.

  plain HOST PORT                 plain TCP garbage on the TLS port; expects the daemon to close
  silent HOST PORT SECONDS        connect and say nothing; reports when the daemon hangs up
  tls HOST PORT CERT KEY CA MODE  mutual TLS as a configured peer, then MODE: oversize | garbage | nohello
  tlsnocert HOST PORT CA          TLS 1.3 without a client certificate
  tls12 HOST PORT CERT KEY CA     a configured peer's certificate, but at most TLS 1.2
  trickle HOST PORT               a real ClientHello, one byte every 100 ms; reports the hang-up
  tlsmany HOST PORT CERT KEY CA NODE N SECS
                                  N connections as NODE (TLS and Hello), held SECS; prints how many
                                  the daemon closed
  prefix HOST PORT CERT KEY CA N  a configured peer sends a length prefix N (any u32)
  pretls HOST PORT N SECS         N TCP connections that never start TLS, held SECS; prints how
                                  many the daemon closed within the first second
  control SOCK MODE               on the control socket: oversize | garbage | partial | zero |
                                  prefix:N | repeated | repeatedblob | deepunknown | deepgroup
  hold SOCK N SECONDS             open N control connections with half a frame each, hold them
  silentunix SOCK SECONDS         connect to the control socket and say nothing
  idle SOCK N SECONDS             open N control connections, send nothing, hold them
  slowrecv SOCK VM VCPU N HOLD SLOW
                                  N recv requests for a stored blob sent at once (as many as the
                                  daemon takes in HOLD s), answers unread for HOLD s (receive
                                  buffer 4 KiB), read at 320 KB/s for SLOW s, then not read at all;
                                  prints the replies received and when the daemon hung up
  blob SOCK PEER MIG VM FILE      send FILE as a Blob with these names (Python escapes allowed in
                                  MIG and VM: \x00, \x1b, \n); prints the answer's code and message
"""
import select
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


def varint(n):
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        out += bytes([b | (0x80 if n else 0)])
        if not n:
            return out


def field(num, payload):
    """A length-delimited protobuf field (wire type 2)."""
    return varint(num << 3 | 2) + varint(len(payload)) + payload


def frame(env):
    return struct.pack(">I", len(env)) + env


def hello_frame(node):
    """Envelope{hello: Hello{protocol_version 1, node, layout LEGACY, profile linux-6.18}}."""
    hello = varint(1 << 3) + varint(1) + field(2, node) + varint(3 << 3) + varint(1) + field(4, b"linux-6.18")
    return frame(field(1, hello))


def tls_client(cert=None, key=None, ca=None, maxver=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if maxver:
        ctx.maximum_version = maxver
    else:
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    if cert:
        ctx.load_cert_chain(cert, key)
    return ctx


CONTROL_PAYLOADS = {
    # StatusRequest (field 7, empty) 20000 times in one Envelope: protobuf merges them
    "repeated": lambda: frame(field(7, b"") * 20000),
    # a Blob whose vm field (2) repeats 5000 times: the last one counts
    "repeatedblob": lambda: frame(field(2, field(1, b"m") + field(2, b"v" * 8) * 5000 + field(6, b"hosta"))),
    # an unknown length-delimited field nested 3000 deep inside the Envelope
    "deepunknown": lambda: frame(deep_unknown(3000)),
    # 10000 nested start-group tags (wire type 3) with their end tags
    "deepgroup": lambda: frame(varint(100 << 3 | 3) * 10000 + varint(100 << 3 | 4) * 10000),
}


def deep_unknown(n):
    inner = b""
    for _ in range(n):
        inner = field(100, inner)
    return inner


def blob_frame(peer, mig, vm, data):
    """Envelope{blob: Blob{migration_id, vm, vcpu 0, data, peer}}, framed, built by hand so that
    names can hold any byte."""
    return frame(field(2, field(1, mig) + field(2, vm) + field(5, data) + field(6, peer)))


def ack_fields(env):
    """(code, duplicate, message) of an Envelope{ack} (frame without its length prefix)."""
    _, pos = read_varint(env, 0)  # Envelope field 3 (ack)
    n, pos = read_varint(env, pos)
    ack, pos = env[pos:pos + n], 0
    code, dup, msg = 0, False, b""
    while pos < len(ack):
        tag, pos = read_varint(ack, pos)
        if tag & 7 == 0:
            v, pos = read_varint(ack, pos)
            if tag >> 3 == 5:
                code = v - (1 << 64) if v >= 1 << 63 else v
            elif tag >> 3 == 8:
                dup = bool(v)
        else:
            n, pos = read_varint(ack, pos)
            if tag >> 3 == 7:
                msg = ack[pos:pos + n]
            pos += n
    return code, dup, msg


def read_varint(b, pos):
    v, shift = 0, 0
    while True:
        c = b[pos]
        pos += 1
        v |= (c & 0x7F) << shift
        shift += 7
        if not c & 0x80:
            return v, pos


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
    elif mode == "tlsnocert":
        s = tls_client().wrap_socket(socket.create_connection((sys.argv[2], int(sys.argv[3]))))
        s.sendall(hello_frame(b"hosta"))
        print(until_closed(s)[0])
    elif mode == "tls12":
        try:
            s = tls_client(sys.argv[4], sys.argv[5], maxver=ssl.TLSVersion.TLSv1_2).wrap_socket(
                socket.create_connection((sys.argv[2], int(sys.argv[3]))))
            s.sendall(hello_frame(b"hosta"))
            print("handshake completed,", until_closed(s)[0])
        except (ssl.SSLError, OSError) as e:
            print("refused:", getattr(e, "reason", None) or e)
    elif mode == "trickle":
        ctx = tls_client()
        inb, outb = ssl.MemoryBIO(), ssl.MemoryBIO()
        obj = ctx.wrap_bio(inb, outb)
        try:
            obj.do_handshake()
        except ssl.SSLWantReadError:
            pass
        hello = outb.read()
        s = socket.create_connection((sys.argv[2], int(sys.argv[3])))
        t0, sent = time.time(), 0
        try:
            for b in hello:
                s.sendall(bytes([b]))
                sent += 1
                time.sleep(0.1)
            state = "sent the whole ClientHello"
        except OSError:
            state = "closed"
        print("%s after %.1f s, %d of %d bytes" % (state, time.time() - t0, sent, len(hello)))
    elif mode == "tlsmany":
        host, port, cert, key, node, n, secs = sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5], sys.argv[7], int(sys.argv[8]), float(sys.argv[9])
        ctx = tls_client(cert, key)
        socks, refused = [], 0
        for _ in range(n):
            try:
                s = ctx.wrap_socket(socket.create_connection((host, port)))
                s.sendall(hello_frame(node.encode()))
                socks.append(s)
            except (ssl.SSLError, OSError):
                refused += 1
        time.sleep(secs)
        closed = refused
        for s in socks:
            s.setblocking(False)
            try:
                while True:
                    d = s.recv(65536)
                    if not d:
                        closed += 1
                        break
            except (ssl.SSLWantReadError, BlockingIOError):
                pass
            except (ssl.SSLError, OSError):
                closed += 1
        print("held %d, closed by daemon %d" % (n, closed))
    elif mode == "pretls":
        socks = [socket.create_connection((sys.argv[2], int(sys.argv[3]))) for _ in range(int(sys.argv[4]))]
        time.sleep(1.0)
        early = 0
        for c in socks:
            c.setblocking(False)
            try:
                early += c.recv(1) == b""
            except BlockingIOError:
                pass
            except OSError:
                early += 1
        time.sleep(max(0.0, float(sys.argv[5]) - 1.0))
        print("held %d, closed within 1 s %d" % (len(socks), early))
    elif mode == "prefix":
        s = tls_client(sys.argv[4], sys.argv[5]).wrap_socket(socket.create_connection((sys.argv[2], int(sys.argv[3]))))
        s.sendall(hello_frame(b"hosta") + struct.pack(">I", int(sys.argv[7], 0)) + b"\x00" * 64)
        print(until_closed(s)[0])
    elif mode == "control" and sys.argv[3] in CONTROL_PAYLOADS:
        s = socket.socket(socket.AF_UNIX)
        s.connect(sys.argv[2])
        s.sendall(CONTROL_PAYLOADS[sys.argv[3]]())
        state, data = until_closed(s, 3)
        code = "error-reply" if b"FRAME_" in data else ("reply" if data else "no-reply")
        print(state, code)
    elif mode == "control":
        s = socket.socket(socket.AF_UNIX)
        s.connect(sys.argv[2])
        what = sys.argv[3]
        if what.startswith("prefix:"):
            s.sendall(struct.pack(">I", int(what[7:], 0)) + b"\x00" * 64)
        elif what == "oversize":
            s.sendall(struct.pack(">I", 1 << 30))
        elif what == "garbage":
            s.sendall(struct.pack(">I", 16) + b"\xde\xad\xbe\xef" * 4)
        elif what == "zero":
            s.sendall(struct.pack(">I", 0))
        state, data = until_closed(s)
        print(state, "error-reply" if b"FRAME_" in data else "no-reply")
    elif mode == "blob":
        unesc = lambda t: t.encode().decode("unicode_escape").encode("latin-1")
        s = socket.socket(socket.AF_UNIX)
        s.connect(sys.argv[2])
        s.sendall(blob_frame(sys.argv[3].encode(), unesc(sys.argv[4]), unesc(sys.argv[5]), open(sys.argv[6], "rb").read()))
        _, data = until_closed(s, 5)
        if len(data) < 6:
            print("no answer")
        else:
            code, _, msg = ack_fields(data[4:])
            print(code, msg.decode("latin-1"))
    elif mode == "slowrecv":
        sock, vm, vcpu, n = sys.argv[2], sys.argv[3].encode(), int(sys.argv[4]), int(sys.argv[5])
        hold, slow = float(sys.argv[6]), float(sys.argv[7])
        one = frame(field(5, field(2, vm) + varint(3 << 3) + varint(vcpu)))
        s = socket.socket(socket.AF_UNIX)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.connect(sock)
        s.setblocking(False)
        frames, sent, t0 = one * n, 0, time.time()
        while sent < len(frames) and time.time() - t0 < hold:
            try:
                sent += s.send(frames[sent:])
            except BlockingIOError:
                time.sleep(0.01)
        time.sleep(max(0.0, hold - (time.time() - t0)))
        got, buf, closed = 0, b"", False

        def take(chunk):
            nonlocal buf, got
            buf += chunk
            while len(buf) >= 4 and len(buf) >= 4 + struct.unpack(">I", buf[:4])[0]:
                k = 4 + struct.unpack(">I", buf[:4])[0]
                got += k > 4096
                buf = buf[k:]

        t1 = time.time()
        while time.time() - t1 < slow and not closed:  # 16 KiB every 50 ms: about 320 KB/s
            try:
                chunk = s.recv(16384)
                closed = not chunk
                take(chunk)
            except BlockingIOError:
                pass
            except OSError:
                closed = True
            time.sleep(0.05)
        if closed:
            print("sent %d requests, %d replies, closed while reading slowly" % (sent // len(one), got))
            return
        t2 = time.time()
        p = select.poll()  # stops reading: waits for the hang-up without taking a byte
        p.register(s, select.POLLRDHUP)
        state = "closed" if p.poll(30000) else "open"
        print("sent %d requests, %d replies in %.0f s of slow reading, %s %.1f s after it stopped reading"
              % (sent // len(one), got, slow, state, time.time() - t2))
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
