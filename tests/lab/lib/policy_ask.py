#!/usr/bin/python3
"""policy_ask.py -- one Postfix policy delegation request; prints the reply's first line.

Usage: policy_ask.py [-t SECONDS] [-f] TARGET ATTR=VALUE...

TARGET is HOST:PORT or the path of a Unix-domain socket. The request is
request=smtpd_access_policy followed by the given attributes, then an
empty line. Prints the action (without "action=", or the whole first line
with -f), or "closed" when the connection closes with no reply.
Exits 2 when it cannot connect or the reply does not come in time.
"""

import socket
import sys


def main(argv):
    timeout, full = 10.0, False
    while argv and argv[0].startswith("-"):
        if argv[0] == "-t" and len(argv) > 1:
            timeout = float(argv[1])
            argv = argv[2:]
        elif argv[0] == "-f":
            full = True
            argv = argv[1:]
        else:
            break
    if not argv:
        print(__doc__.strip().split("\n")[2], file=sys.stderr)
        return 2
    target, attrs = argv[0], argv[1:]
    try:
        if "/" in target:
            s = socket.socket(socket.AF_UNIX)
            s.settimeout(timeout)
            s.connect(target)
        else:
            host, _, port = target.rpartition(":")
            s = socket.create_connection((host, int(port)), timeout=timeout)
        s.sendall(("request=smtpd_access_policy\n" + "".join(a + "\n" for a in attrs)
                   + "\n").encode())
        data = b""
        while not data.endswith(b"\n\n"):
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    except OSError as e:
        print("policy_ask: %s: %s" % (target, e), file=sys.stderr)
        return 2
    if not data:
        print("closed")
        return 0
    line = data.decode(errors="replace").split("\n")[0]
    print(line if full else line.replace("action=", "", 1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
