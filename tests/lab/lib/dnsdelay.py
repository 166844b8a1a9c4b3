#!/usr/bin/python3
"""dnsdelay.py -- a DNS proxy that holds every answer for a fixed time.

Forwards each query (UDP and TCP) to the upstream resolver and sends the
answer back DELAY milliseconds after the query arrived (or later, if the
upstream was slower). The kernel here has no netem; this stands in for a
distant resolver in latency tests. Upstream failures are not answered, so
the client times out as it would with a lost packet.

Usage: dnsdelay.py --delay-ms 50 [--listen 127.0.0.1:5353]
                   [--upstream 127.0.0.1:53]
"""

import argparse
import asyncio
import signal
import struct

UPSTREAM_TIMEOUT = 10.0


class UpstreamUDP(asyncio.DatagramProtocol):
    def __init__(self, future):
        self.future = future

    def datagram_received(self, data, addr):
        if not self.future.done():
            self.future.set_result(data)

    def error_received(self, exc):
        if not self.future.done():
            self.future.set_exception(exc)


async def ask_udp(upstream, query):
    loop = asyncio.get_running_loop()
    fut = loop.create_future()
    transport, _ = await loop.create_datagram_endpoint(
        lambda: UpstreamUDP(fut), remote_addr=upstream)
    try:
        transport.sendto(query)
        return await asyncio.wait_for(fut, UPSTREAM_TIMEOUT)
    finally:
        transport.close()


async def ask_tcp(upstream, query):
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection(*upstream), UPSTREAM_TIMEOUT)
    try:
        writer.write(struct.pack("!H", len(query)) + query)
        await writer.drain()
        hdr = await asyncio.wait_for(reader.readexactly(2), UPSTREAM_TIMEOUT)
        (n,) = struct.unpack("!H", hdr)
        return await asyncio.wait_for(reader.readexactly(n), UPSTREAM_TIMEOUT)
    finally:
        writer.close()


class Front(asyncio.DatagramProtocol):
    def __init__(self, upstream, delay):
        self.upstream = upstream
        self.delay = delay
        self.transport = None

    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        asyncio.ensure_future(self.answer(data, addr))

    async def answer(self, query, addr):
        loop = asyncio.get_running_loop()
        due = loop.time() + self.delay
        try:
            reply = await ask_udp(self.upstream, query)
        except (OSError, asyncio.TimeoutError):
            return
        await asyncio.sleep(max(0.0, due - loop.time()))
        self.transport.sendto(reply, addr)


def tcp_handler(upstream, delay):
    async def handle(reader, writer):
        loop = asyncio.get_running_loop()
        try:
            while True:
                hdr = await asyncio.wait_for(reader.readexactly(2), 30)
                (n,) = struct.unpack("!H", hdr)
                query = await asyncio.wait_for(reader.readexactly(n), 30)
                due = loop.time() + delay
                reply = await ask_tcp(upstream, query)
                await asyncio.sleep(max(0.0, due - loop.time()))
                writer.write(struct.pack("!H", len(reply)) + reply)
                await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.TimeoutError, OSError):
            pass
        finally:
            writer.close()
    return handle


async def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--delay-ms", type=int, required=True)
    ap.add_argument("--listen", default="127.0.0.1:5353")
    ap.add_argument("--upstream", default="127.0.0.1:53")
    args = ap.parse_args()
    host, port = args.listen.rsplit(":", 1)
    uhost, uport = args.upstream.rsplit(":", 1)
    upstream = (uhost, int(uport))
    delay = args.delay_ms / 1000.0
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(
        lambda: Front(upstream, delay), local_addr=(host, int(port)))
    server = await asyncio.start_server(tcp_handler(upstream, delay),
                                        host, int(port))
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print("dnsdelay: %s -> %s, answers held %d ms"
          % (args.listen, args.upstream, args.delay_ms), flush=True)
    async with server:
        await stop.wait()
    transport.close()


if __name__ == "__main__":
    asyncio.run(main())
