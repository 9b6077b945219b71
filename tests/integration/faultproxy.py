#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A TCP proxy that injects faults between two daemons, for the fault-injection tests.

usage: faultproxy.py LISTEN_PORT TARGET_PORT RULE_FILE

Every accepted connection reads the rule in RULE_FILE (one line) and applies it:

  pass                      forward both ways
  delay MS                  forward both ways, each chunk MS milliseconds late
  ACTION AT [count N]       forward until AT, then ACTION; only N times after the rule was
                            written (default: every time), counted when the fault fires, so a
                            connection that never reaches AT (a link beside a migration's
                            channel, say) does not use one up

  ACTION  drop   close both sides (FIN)
          reset  abort both sides (RST: SO_LINGER 0)
          stall  stop forwarding both ways and stop reading; keep both sides open
  AT      up:B     after B bytes from the client (the source daemon) have been forwarded:
                   mid-handshake for a small B
          down:B   after B bytes from the server
          upbig    in the middle of the first client chunk of 2000 bytes or more (a blob
                   frame's or a migration stream's record): half of it is forwarded
          ack      the first server chunk after a client chunk of 2000 bytes or more was
                   forwarded whole is swallowed (the destination stored, the ack is lost)

SIGUSR1 resets every open connection (the links reconnect and meet the current rule).
Prints one line per connection and one per fault applied, flushed, for the test to wait on.
"""
import asyncio
import os
import signal
import socket
import struct
import sys

BIG = 2000


class Budget:
    """How many more times one rule may fire (None: without limit), shared by the connections
    accepted under it."""

    def __init__(self, count):
        self.left = count

    def take(self):
        if self.left is None:
            return True
        if self.left <= 0:
            return False
        self.left -= 1
        return True


class Rules:
    def __init__(self, path):
        self.path = path
        self.version = None  # (text, mtime) of the rule file the budget was made for
        self.budget = None

    def next(self):
        """The rule for a new connection, and the budget it fires from."""
        try:
            with open(self.path) as f:
                version = (f.read().strip(), os.fstat(f.fileno()).st_mtime_ns)
        except OSError:
            version = ("pass", 0)
        text = version[0]
        words = text.split()
        if version != self.version:  # written again, even with the same words: a fresh count
            count = int(words[3]) if len(words) >= 4 and words[2] == "count" else None
            self.version, self.budget = version, Budget(count)
        if not words or words[0] == "pass":
            return ("pass",), self.budget
        if words[0] == "delay":
            return ("delay", int(words[1]) / 1000.0), self.budget
        return (words[0], words[1]), self.budget


def abort(w):
    sock = w.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
    w.close()


class Conn:
    def __init__(self, cid, rule, budget, cr, cw, sr, sw):
        self.cid, self.rule, self.budget = cid, rule, budget
        self.cr, self.cw, self.sr, self.sw = cr, cw, sr, sw
        self.up = self.down = 0
        self.big_seen = False
        self.stalled = asyncio.Event()
        self.done = False

    def say(self, what):
        print("fault conn %d %s at up=%d down=%d" % (self.cid, what, self.up, self.down), flush=True)

    def act(self):
        kind = self.rule[0]
        self.say(kind)
        self.done = True
        if kind == "drop":
            self.cw.close()
            self.sw.close()
        elif kind == "reset":
            abort(self.cw)
            abort(self.sw)
        elif kind == "stall":
            self.stalled.set()

    async def pump(self, r, w, upward):
        kind = self.rule[0]
        at = self.rule[1] if len(self.rule) > 1 else None
        while not self.done:
            try:
                data = await r.read(65536)
            except (ConnectionError, OSError):
                data = b""
            if not data or self.done:
                break
            if kind == "delay":
                await asyncio.sleep(at)
            cut = None
            if kind in ("drop", "reset", "stall"):
                mine = "up" if upward else "down"
                if isinstance(at, str) and at.startswith(mine + ":"):
                    limit = int(at.split(":")[1])
                    sofar = self.up if upward else self.down
                    if sofar + len(data) >= limit:
                        cut = limit - sofar
                elif at == "upbig" and upward and len(data) >= BIG:
                    cut = len(data) // 2
                elif at == "ack":
                    if upward and len(data) >= BIG:
                        self.big_seen = True
                    elif not upward and self.big_seen:
                        cut = 0
            if cut is not None and not self.budget.take():
                kind, cut = "pass", None  # the rule has fired its count: this one passes
            if cut is not None:
                if cut:
                    w.write(data[:cut])
                    await w.drain()
                if upward:
                    self.up += cut
                else:
                    self.down += cut
                self.act()
                break
            w.write(data)
            try:
                await w.drain()
            except (ConnectionError, OSError):
                break
            if upward:
                self.up += len(data)
            else:
                self.down += len(data)
        if self.stalled.is_set():
            return  # hold both sockets open, read nothing
        if not self.done:
            self.done = True
            w.close()
            (self.sw if upward else self.cw).close()


async def main():
    lport, tport, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    rules = Rules(path)
    ids = [0]
    live = set()

    def kick():
        print("kick %d" % len(live), flush=True)
        for c in list(live):
            c.done = True
            abort(c.cw)
            abort(c.sw)

    asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, kick)

    async def handle(cr, cw):
        ids[0] += 1
        cid, (rule, budget) = ids[0], rules.next()
        print("conn %d %s" % (cid, " ".join(str(x) for x in rule)), flush=True)
        try:
            sr, sw = await asyncio.open_connection("127.0.0.1", tport)
        except OSError as e:
            print("conn %d target: %s" % (cid, e), flush=True)
            cw.close()
            return
        c = Conn(cid, rule, budget, cr, cw, sr, sw)
        live.add(c)
        await asyncio.gather(c.pump(cr, sw, True), c.pump(sr, cw, False))
        live.discard(c)
        if c.stalled.is_set():
            await asyncio.sleep(3600)

    server = await asyncio.start_server(handle, "127.0.0.1", lport, reuse_address=True)
    print("listening %d -> %d pid %d" % (lport, tport, os.getpid()), flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
