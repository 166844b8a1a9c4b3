#!/bin/bash
# rampartd gets SIGTERM while a check is still running: here a policy
# request whose sender callout waits on an MX that accepts the connection
# and never answers (shutdown_timeout = 1s, the callout may take 15 s).
# rampartd waits shutdown_timeout for it, says what it leaves and exits at
# once, without tearing down what the check still uses (no crash, no
# sanitizer report); the client sees the connection close, and Postfix
# defers (451 4.3.5) what it was asking about. A request that arrives after
# the running one is not answered at all.
. "$LAB_SRC/lib/caselib.sh"
[[ -n ${RAMPARTD:-} ]] || { echo "needs rampartd"; exit 77; }

dir=$(mktemp -d "$LAB_DIR/fault-shutdown.XXXXXX")
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	rm -rf "$dir"
}
trap cleanup EXIT
running() { [[ -n $1 && -d /proc/$1 ]] && ! grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null; }

# callout.example's MX, 127.0.0.25: takes connections, says nothing.
cat >"$dir/silent.py" <<'PY'
import socket, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.25", 25))
s.listen(8)
held = []
while True:
    c, _ = s.accept()
    held.append(c)
PY
/usr/bin/python3 -B "$dir/silent.py" &
pids+=($!)

cat >"$dir/r.conf" <<EOF
milter_listen =
user = rampart
av_mode = off
policy_listen = inet:127.0.0.1:10051
pid_file = $dir/r.pid
dns_forwarders = 127.0.0.1
log_level = debug
authserv_id = mx.lab.example
shutdown_timeout = 1s
policy_spf_mode = off
policy_dnsbl_mode = off
policy_sender_mode = enforce
policy_callout_mode = enforce
policy_callout_timeout = 15s
policy_check_timeout = 20s
EOF
"$RAMPARTD" -f -c "$dir/r.conf" >"$dir/r.log" 2>&1 &
rpid=$!
pids+=($rpid)
for _ in $(seq 100); do (echo >/dev/tcp/127.0.0.1/10051) 2>/dev/null && (echo >/dev/tcp/127.0.0.25/25) 2>/dev/null && break; sleep 0.1; done

# A policy request; prints the action, or "closed" when the connection closes unanswered.
ask() { # SENDER INSTANCE
	policy_ask -t 30 127.0.0.1:10051 protocol_state=RCPT client_address=198.51.100.8 \
		helo_name=client.example "sender=$1" recipient=b@rcpt.example "instance=$2"
}

ask someone@callout.example "s.$$.1" >"$dir/answer" &
askpid=$!
pids+=($askpid)
# The callout is under way: the MX has its connection.
for _ in $(seq 100); do grep -q 'callout' "$dir/r.log" && break; sleep 0.1; done
sleep 1
start=$(date +%s%N)
kill -TERM "$rpid"
for _ in $(seq 200); do running "$rpid" || break; sleep 0.1; done
took=$((($(date +%s%N) - start) / 1000000))
expect_eq "rampartd exited after SIGTERM" gone "$(running "$rpid" && echo running || echo gone)"
if ((took < 8000)); then
	_ok "rampartd exited in ${took} ms, long before the callout's 15 s"
else
	_notok "rampartd took ${took} ms to exit"
fi
wait "$rpid"
expect_eq "exit status" 0 "$?"
if grep -q 'policy: 1 requests still in progress at shutdown' "$dir/r.log" \
	&& grep -q 'still running at shutdown; leaving without waiting for them' "$dir/r.log"; then
	_ok "rampartd left the running check instead of freeing what it uses"
else
	_notok "no word of the check left running: $(tail -n 5 "$dir/r.log")"
fi
if grep -qE 'AddressSanitizer|runtime error|LeakSanitizer|panic|Segmentation' "$dir/r.log"; then
	_notok "rampartd did not exit cleanly: $(grep -E 'AddressSanitizer|runtime error|LeakSanitizer|panic|Segmentation' "$dir/r.log" | head -n 3)"
else
	_ok "no crash or sanitizer report"
fi
wait "$askpid"
expect_eq "the request in progress" closed "$(cat "$dir/answer")"
finish
