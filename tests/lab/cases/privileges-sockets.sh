#!/bin/bash
# Unix-domain listeners get the configured owner, group and mode
# (socket_owner, socket_group, socket_mode): a second rampartd with -p
# unix:PATH (milter) and -P unix:PATH (policy service), started as root and
# running as rampart. Both answer, and both sockets and the pid file are
# gone after it stops.
. "$LAB_SRC/lib/caselib.sh"
[[ -n ${RAMPARTD:-} ]] || { echo "needs rampartd"; exit 77; }
[[ $(id -u) -eq 0 ]] || { echo "needs root"; exit 77; }
getent passwd rampart >/dev/null || { echo "no user rampart (lab up creates it)"; exit 1; }
getent group postfix >/dev/null || { echo "no group postfix"; exit 1; }

work=$(mktemp -d "$LAB_DIR/privileges-sockets.XXXXXX")
chmod 755 "$work"
run=$work/run
mkdir "$run"
chown rampart: "$run"
pid=
cleanup() {
	[[ -n $pid ]] && kill -TERM "$pid" 2>/dev/null && sleep 0.5
	[[ -n $pid ]] && kill -KILL "$pid" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT

for mode in 0660 0600; do
	echo "-- socket_mode = $mode"
	cat >"$work/rampart.conf" <<CONF
milter_listen = inet:127.0.0.1:18894
policy_listen = inet:127.0.0.1:20045
user = rampart
socket_owner = rampart
socket_group = postfix
socket_mode = $mode
pid_file = $run/rampartd.pid
log_level = info
dns_forwarders = 127.0.0.1
av_mode = off
CONF
	"$RAMPARTD" -f -c "$work/rampart.conf" -p "unix:$run/milter.sock" -P "unix:$run/policy.sock" \
		>"$work/rampartd.log" 2>&1 &
	pid=$!
	for ((i = 0; i < 100; i++)); do
		grep -q "started (config" "$work/rampartd.log" && break
		[[ -d /proc/$pid ]] || break
		sleep 0.1
	done
	if ! grep -q "started (config" "$work/rampartd.log"; then
		_notok "rampartd did not start: $(cat "$work/rampartd.log")"
		break
	fi
	want="rampart postfix ${mode#0} socket"
	expect_eq "milter socket (owner group mode type)" "$want" "$(stat -c '%U %G %a %F' "$run/milter.sock")"
	expect_eq "policy socket (owner group mode type)" "$want" "$(stat -c '%U %G %a %F' "$run/policy.sock")"
	answer=$(policy_ask -f "$run/policy.sock" protocol_state=RCPT client_address=192.0.2.10 \
		sender=alice@sender.example recipient=bob@rcpt.example)
	expect_eq "policy service on the unix socket" "action=DUNNO" "$answer"
	milter=$(/usr/bin/python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
print("connected")' "$run/milter.sock" 2>&1)
	expect_eq "milter socket accepts a connection" connected "$milter"
	kill -TERM "$pid"
	wait "$pid"
	expect_eq "exit status after SIGTERM" 0 "$?"
	pid=
	expect_eq "left behind in $run" "" "$(ls "$run")"
done
finish
