#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A delay line for the benchmarks: every byte is held DELAY_MS before it goes on, both ways.

usage: delayline.py LISTEN_PORT TARGET_PORT DELAY_MS [CAP_BYTES]

Accepts on 127.0.0.1:LISTEN_PORT, connects each connection to 127.0.0.1:TARGET_PORT, and forwards
what each side sends to the other DELAY_MS after it arrived. The delay is a queue of timestamped
chunks, not a sleep per chunk, so it adds latency, not a rate limit; but like a real link it holds
at most CAP_BYTES (default 4 MiB, the bandwidth-delay product of 6.7 Gbit/s at 5 ms) and stops
reading beyond that, so that a sender feels the link's rate rather than an endless buffer. This
kernel has no netem qdisc; this stands in for it.
"""
import asyncio
import collections
import sys
import time


async def pipe(reader, writer, delay, cap):
    queue = collections.deque()
    more, room = asyncio.Event(), asyncio.Event()
    held = 0
    done = False

    async def pump():
        nonlocal done, held
        while True:
            while held >= cap:
                room.clear()
                await room.wait()
            data = await reader.read(min(1 << 20, cap))
            if not data:
                done = True
                more.set()
                return
            queue.append((time.monotonic() + delay, data))
            held += len(data)
            more.set()

    task = asyncio.ensure_future(pump())
    try:
        while True:
            while not queue:
                if done:
                    writer.write_eof()
                    return
                more.clear()
                await more.wait()
            at, data = queue[0]
            wait = at - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            queue.popleft()
            writer.write(data)
            await writer.drain()
            held -= len(data)
            room.set()
    except (ConnectionError, OSError):
        pass
    finally:
        task.cancel()


async def serve(listen, target, delay, cap):
    async def handle(r1, w1):
        try:
            r2, w2 = await asyncio.open_connection("127.0.0.1", target)
        except OSError:
            w1.close()
            return
        await asyncio.gather(pipe(r1, w2, delay, cap), pipe(r2, w1, delay, cap), return_exceptions=True)
        for w in (w1, w2):
            w.close()

    server = await asyncio.start_server(handle, "127.0.0.1", listen, reuse_address=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    if len(sys.argv) not in (4, 5):
        sys.exit(__doc__)
    cap = int(sys.argv[4]) if len(sys.argv) == 5 else 4 << 20
    asyncio.run(serve(int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]) / 1000.0, cap))
