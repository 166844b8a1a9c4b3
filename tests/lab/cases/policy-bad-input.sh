#!/bin/bash
# Hostile policy clients: a 10 MB attribute, binary junk, a request without
# its empty line, unknown attributes, half a request and then silence, and
# 2000 idle connections against policy_max_connections = 100. The daemon
# stays up and answers well-formed requests throughout; the lab's own
# rampartd survives the same junk.
. "$LAB_SRC/lib/caselib.sh"
[[ -n $RAMPARTD ]] || { echo "needs rampartd"; exit 77; }

dir=$LAB_DIR/policy-bad.$$
mkdir -p "$dir"
pid=
cleanup() {
	[[ -n $pid ]] && kill "$pid" 2>/dev/null
	wait 2>/dev/null
	rm -rf "$dir"
}
trap cleanup EXIT
ulimit -n 4096 2>/dev/null

cat >"$dir/r.conf" <<EOF
milter_listen =
# as the lab's own rampartd: not as root, no scanner database here
user = rampart
av_mode = off
policy_listen = inet:127.0.0.1:10050
pid_file = $dir/r.pid
dns_forwarders = 127.0.0.1
policy_request_timeout = 1s
policy_idle_timeout = 60s
policy_max_connections = 100
EOF
"$RAMPARTD" -f -c "$dir/r.conf" >"$dir/r.log" 2>&1 &
pid=$!
for _ in $(seq 50); do (echo >/dev/tcp/127.0.0.1/10050) 2>/dev/null && break; sleep 0.1; done

out=$(python3 - <<'PY'
import socket, time

GOOD = (b"request=smtpd_access_policy\nprotocol_state=RCPT\nclient_address=192.0.2.10\n"
        b"sender=alice@sender.example\nrecipient=bob@rcpt.example\ninstance=bad.%d\n\n")
n = 0

def conn(port):
    return socket.create_connection(("127.0.0.1", port), timeout=10)

def answer(s):
    data = b""
    while not data.endswith(b"\n\n"):
        try:
            chunk = s.recv(4096)
        except (ConnectionResetError, socket.timeout):
            return None
        if not chunk:
            return None
        data += chunk
    return data.decode("utf-8", "replace").split("\n")[0]

def good(port):
    global n
    n += 1
    s = conn(port)
    s.sendall(GOOD % n)
    a = answer(s)
    s.close()
    return a

def closed(s, timeout):
    s.settimeout(timeout)
    try:
        while True:
            d = s.recv(65536)
            if not d:
                return True
    except ConnectionResetError:
        return True
    except (socket.timeout, BlockingIOError):
        return False

def report(what, ok):
    print(("ok     " if ok else "not ok ") + what)

for port in (10050, 10045):
    tag = "port %d: " % port
    s = conn(port)
    try:
        s.sendall(b"request=smtpd_access_policy\nsender=" + b"x" * (10 * 1024 * 1024) + b"\n\n")
    except (BrokenPipeError, ConnectionResetError):
        pass
    report(tag + "10 MB attribute: connection closed", closed(s, 5))
    report(tag + "then a good request is answered", good(port) == "action=DUNNO")
    s = conn(port)
    s.sendall(bytes(range(256)) * 4 + b"\n\n")
    report(tag + "binary junk: connection closed", closed(s, 5))
    s = conn(port)
    s.sendall(b"request=smtpd_access_policy\nsender=a@b.example")
    s.shutdown(socket.SHUT_WR)
    report(tag + "no empty line, end of file: closed without an answer", answer(s) is None)
    s = conn(port)
    s.sendall(b"request=smtpd_access_policy\nprotocol_state=RCPT\nfrobnicate=1\nx-unknown=\x01\xff\x1b[2J\n\n")
    report(tag + "unknown attributes and odd bytes: answered", answer(s) == "action=DUNNO")
    s.close()
    report(tag + "good request", good(port) == "action=DUNNO")

# Half a request, then silence: closed after policy_request_timeout (1s); others are served meanwhile.
s = conn(10050)
s.sendall(b"request=smtpd_access_policy\nprotocol_state=RCPT\n")
report("half a request: others answered meanwhile", good(10050) == "action=DUNNO")
report("half a request: closed within 4s", closed(s, 4))

# 2000 idle connections, 100 allowed.
socks = []
for i in range(2000):
    try:
        socks.append(conn(10050))
    except OSError:
        break
time.sleep(1)
shut = sum(1 for s in socks if closed(s, 0.01))
report("2000 idle connections: %d opened, %d closed by the daemon" % (len(socks), shut),
       len(socks) == 2000 and 1890 <= shut <= 1900)
for s in socks:
    s.close()
time.sleep(0.5)
report("after the flood: answered", good(10050) == "action=DUNNO")
PY
)
echo "$out"
grep -q "^not ok" <<<"$out" && CASE_FAILURES=$((CASE_FAILURES + 1))
kill -0 "$pid" 2>/dev/null
expect_eq "the daemon is still running" 0 "$?"
grep -q "refused [0-9]* since the last report" "$dir/r.log"
expect_eq "refused connections logged (rate-limited)" 0 "$?"
expect_eq "refusal log lines" 1 "$(( $(grep -c 'since the last report' "$dir/r.log") <= 5 ))"
finish
