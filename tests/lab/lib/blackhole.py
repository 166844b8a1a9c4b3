#!/usr/bin/python3
"""blackhole.py -- a DNS server that never answers (UDP and TCP).

Queries are read and dropped; TCP connections are accepted and held open
without a reply until the client gives up. Zones stubbed to it time out.

Usage: blackhole.py [--listen 127.0.0.1:5399]
"""

import argparse
import asyncio
import signal


class Swallow(asyncio.DatagramProtocol):
    def datagram_received(self, data, addr):
        pass


async def hold(reader, writer):
    try:
        # Read and drop until the client closes; bounded by a long timeout.
        while await asyncio.wait_for(reader.read(4096), 120):
            pass
    except (asyncio.TimeoutError, ConnectionError):
        pass
    finally:
        writer.close()


async def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--listen", default="127.0.0.1:5399")
    args = ap.parse_args()
    host, port = args.listen.rsplit(":", 1)
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(
        Swallow, local_addr=(host, int(port)))
    server = await asyncio.start_server(hold, host, int(port))
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print("blackhole: swallowing DNS on %s" % args.listen, flush=True)
    async with server:
        await stop.wait()
    transport.close()


if __name__ == "__main__":
    asyncio.run(main())
