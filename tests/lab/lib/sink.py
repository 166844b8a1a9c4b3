#!/usr/bin/python3
"""sink.py -- the lab's delivery sink: an SMTP server that keeps every message.

Postfix relays every lab message here. Each message is written to
DIR/QUEUEID.eml (exactly the bytes received, dot-unstuffed, CRLF line ends)
before the final 250 is sent, and its envelope to DIR/QUEUEID.json. QUEUEID is
the Postfix queue id read from the topmost Received: header ("... with ESMTP
id QUEUEID"), which is also the id in the 250 reply to the case's DATA; when
none is found, a serial name is used. A second delivery of the same queue id
(e.g. a split recipient list) gets QUEUEID.2.eml and so on.

Recipients whose local part starts with "sink-tempfail" get 451 and those
starting with "sink-reject" get 550, to test what Postfix does then.

Usage: sink.py --listen 127.0.0.1:2525 --dir DIR
"""

import argparse
import asyncio
import json
import os
import re
import signal
import time

MAX_LINE = 4096
MAX_MESSAGE = 64 * 1024 * 1024
QID_RE = re.compile(rb"\(Postfix\) with \S+ id ([0-9A-Za-z]+)")


class Sink:
    def __init__(self, directory):
        self.dir = directory
        self.serial = 0

    def name_for(self, data):
        """Return a file stem for a message: its queue id if found."""
        headers = data.split(b"\r\n\r\n", 1)[0]
        # Unfold, then look at the first Received: header only.
        unfolded = re.sub(rb"\r\n[ \t]+", b" ", headers)
        for line in unfolded.split(b"\r\n"):
            if line[:9].lower() == b"received:":
                m = QID_RE.search(line)
                if m:
                    return m.group(1).decode("ascii")
                break
        self.serial += 1
        return "noqid-%d-%d" % (int(time.time()), self.serial)

    def store(self, envelope, data):
        stem = self.name_for(data)
        path = os.path.join(self.dir, stem + ".eml")
        n = 1
        while os.path.exists(path):
            n += 1
            path = os.path.join(self.dir, "%s.%d.eml" % (stem, n))
        tmp = path + ".tmp"
        with open(tmp, "wb") as f:
            f.write(data)
        envelope["file"] = os.path.basename(path)
        envelope["size"] = len(data)
        envelope["time"] = time.time()
        with open(path[:-4] + ".json", "w") as f:
            json.dump(envelope, f, indent=1)
        # The .eml appears last and whole: a reader never sees half a file.
        os.rename(tmp, path)
        return os.path.basename(path)

    async def session(self, reader, writer):
        peer = writer.get_extra_info("peername")

        async def reply(text):
            writer.write(text.encode() + b"\r\n")
            await writer.drain()

        envelope = None
        try:
            await reply("220 sink.lab.example ESMTP lab sink")
            while True:
                line = await asyncio.wait_for(reader.readline(), 300)
                if not line:
                    break
                if len(line) > MAX_LINE:
                    await reply("500 5.5.2 line too long")
                    break
                cmd = line.rstrip(b"\r\n").decode("utf-8", "replace")
                verb = cmd[:4].upper()
                if verb == "EHLO":
                    await reply("250-sink.lab.example\r\n250-8BITMIME\r\n"
                                "250-SMTPUTF8\r\n250-SIZE %d\r\n"
                                "250 ENHANCEDSTATUSCODES" % MAX_MESSAGE)
                elif verb == "HELO":
                    await reply("250 sink.lab.example")
                elif verb == "MAIL":
                    envelope = {"mail_from": cmd[10:].strip(), "rcpt_to": [],
                                "peer": "%s:%s" % peer[:2]}
                    await reply("250 2.1.0 Ok")
                elif verb == "RCPT":
                    if envelope is None:
                        await reply("503 5.5.1 MAIL first")
                        continue
                    addr = cmd[8:].strip()
                    local = addr.strip("<>").split("@")[0].lower()
                    if local.startswith("sink-tempfail"):
                        await reply("451 4.3.0 sink: temporary failure (asked for)")
                    elif local.startswith("sink-reject"):
                        await reply("550 5.1.1 sink: rejected (asked for)")
                    else:
                        envelope["rcpt_to"].append(addr)
                        await reply("250 2.1.5 Ok")
                elif verb == "DATA":
                    if not envelope or not envelope["rcpt_to"]:
                        await reply("503 5.5.1 RCPT first")
                        continue
                    await reply("354 End data with <CR><LF>.<CR><LF>")
                    chunks = []
                    size = 0
                    while True:
                        dl = await asyncio.wait_for(reader.readline(), 300)
                        if not dl:
                            return
                        if dl in (b".\r\n", b".\n"):
                            break
                        if dl.startswith(b"."):
                            dl = dl[1:]
                        size += len(dl)
                        if size <= MAX_MESSAGE:
                            chunks.append(dl)
                    if size > MAX_MESSAGE:
                        await reply("552 5.3.4 message too big")
                    else:
                        name = self.store(envelope, b"".join(chunks))
                        await reply("250 2.0.0 Ok: stored as %s" % name)
                    envelope = None
                elif verb == "RSET":
                    envelope = None
                    await reply("250 2.0.0 Ok")
                elif verb == "NOOP":
                    await reply("250 2.0.0 Ok")
                elif verb == "QUIT":
                    await reply("221 2.0.0 Bye")
                    break
                else:
                    await reply("502 5.5.2 command not implemented")
        except (asyncio.TimeoutError, ConnectionError, ValueError):
            pass
        finally:
            writer.close()


async def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--listen", default="127.0.0.1:2525")
    ap.add_argument("--dir", required=True)
    args = ap.parse_args()
    host, port = args.listen.rsplit(":", 1)
    os.makedirs(args.dir, exist_ok=True)
    sink = Sink(args.dir)
    server = await asyncio.start_server(sink.session, host, int(port),
                                        limit=1 << 20)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print("sink: listening on %s, storing in %s" % (args.listen, args.dir),
          flush=True)
    async with server:
        await stop.wait()


if __name__ == "__main__":
    asyncio.run(main())
