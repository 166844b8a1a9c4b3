#!/bin/bash
# Sender callout: callout.example's MX (smtp.callout.example = 127.0.0.25)
# is a small SMTP responder started here; it knows known@callout.example
# only. A policy daemon with policy_callout_mode = enforce accepts the
# known sender, refuses the unknown one (and keeps saying so from its cache
# once the responder is gone), and accepts a sender it cannot verify.
. "$LAB_SRC/lib/caselib.sh"
[[ -n $RAMPARTD ]] || { echo "needs rampartd"; exit 77; }

dir=$LAB_DIR/policy-callout.$$
mkdir -p "$dir"
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	rm -rf "$dir"
}
trap cleanup EXIT

cat >"$dir/responder.py" <<'PY'
import socket, sys, threading
def serve(c):
    f = c.makefile("rb")
    c.sendall(b"220 smtp.callout.example ESMTP\r\n")
    for line in f:
        l = line.decode("ascii", "replace").strip()
        with open(sys.argv[1], "a") as log:
            log.write(l + "\n")
        u = l.upper()
        if u.startswith("EHLO") or u.startswith("HELO"):
            c.sendall(b"250-smtp.callout.example\r\n250 8BITMIME\r\n")
        elif u.startswith("MAIL FROM:"):
            c.sendall(b"250 2.1.0 Ok\r\n")
        elif u.startswith("RCPT TO:<KNOWN@CALLOUT.EXAMPLE>"):
            c.sendall(b"250 2.1.5 Ok\r\n")
        elif u.startswith("RCPT TO:"):
            c.sendall(b"550 5.1.1 <x>: Recipient address rejected: User unknown\r\n")
        elif u == "QUIT":
            c.sendall(b"221 2.0.0 Bye\r\n")
            break
        else:
            c.sendall(b"502 5.5.2 Error: command not recognized\r\n")
    c.close()
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.25", 25))
s.listen(8)
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
PY
python3 "$dir/responder.py" "$dir/responder.log" &
responder=$!
pids+=($responder)

cat >"$dir/r.conf" <<EOF
milter_listen =
# as the lab's own rampartd: not as root, no scanner database here
user = rampart
av_mode = off
policy_listen = inet:127.0.0.1:10049
pid_file = $dir/r.pid
dns_forwarders = 127.0.0.1
log_level = debug
authserv_id = mx.lab.example
policy_spf_mode = off
policy_dnsbl_mode = off
policy_sender_mode = enforce
policy_callout_mode = enforce
policy_callout_timeout = 5s
EOF
"$RAMPARTD" -f -c "$dir/r.conf" >"$dir/r.log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do (echo >/dev/tcp/127.0.0.1/10049) 2>/dev/null && (echo >/dev/tcp/127.0.0.25/25) 2>/dev/null && break; sleep 0.1; done

ask() { # SENDER INSTANCE
	policy_ask -t 20 127.0.0.1:10049 protocol_state=RCPT client_address=198.51.100.8 \
		helo_name=client.example "sender=$1" recipient=b@rcpt.example "instance=$2"
}

expect_eq "known sender" DUNNO "$(ask known@callout.example c.$$.1)"
expect_eq "unknown sender" \
	"REJECT 5.1.7 Sender <nobody@callout.example> not accepted: undeliverable address (callout: 550 5.1.1 <x>: Recipient address rejected: User unknown)" \
	"$(ask nobody@callout.example c.$$.2)"
grep -q "^MAIL FROM:<>$" "$dir/responder.log"
expect_eq "callout uses the null sender" 0 "$?"
grep -q "^EHLO mx.lab.example$" "$dir/responder.log"
expect_eq "callout says EHLO with our name" 0 "$?"
grep -qi "^RCPT TO:<nobody@callout.example>$" "$dir/responder.log"
expect_eq "callout asks for the sender" 0 "$?"

kill "$responder"
wait "$responder" 2>/dev/null
expect_eq "unknown sender again, from the cache" \
	"REJECT 5.1.7 Sender <nobody@callout.example> not accepted: undeliverable address (callout: 550 5.1.1 <x>: Recipient address rejected: User unknown)" \
	"$(ask nobody@callout.example c.$$.3)"
grep -q 'callout_reply="550 5.1.1.* (cached)"' "$dir/r.log"
expect_eq "cache hit logged" 0 "$?"
expect_eq "MX unreachable: not refused" DUNNO "$(ask other@callout.example c.$$.4)"
grep -q 'callout=unknown' "$dir/r.log"
expect_eq "unknown logged" 0 "$?"
finish
