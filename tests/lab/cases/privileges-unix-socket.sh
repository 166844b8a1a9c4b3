#!/bin/bash
# The default kind of milter socket, end to end: a second rampartd listens
# on unix:$LAB_DIR/spool/rampart/milter.sock (the lab's Postfix queue
# directory stands for /var/spool/postfix) with socket_group and
# socket_mode at their defaults. It creates the directory (rampart,
# postfix, 0750) with the socket in it (postfix may connect), Postfix sends
# a message through it and the message arrives with rampart's
# Authentication-Results. Killed with SIGKILL, rampartd leaves its socket
# behind; started again, it removes the stale socket and works. A second
# rampartd on a socket in use refuses to start and leaves it alone. After
# SIGTERM the socket is gone.
. "$LAB_SRC/lib/caselib.sh"
[[ -n ${RAMPARTD:-} ]] || { echo "needs rampartd"; exit 77; }
[[ $(id -u) -eq 0 ]] || { echo "needs root"; exit 77; }
getent passwd rampart >/dev/null || { echo "no user rampart (lab up creates it)"; exit 1; }
getent group postfix >/dev/null || { echo "no group postfix"; exit 1; }

pf=$LAB_DIR/postfix
sockdir=$LAB_DIR/spool/rampart
sock=$sockdir/milter.sock
work=$(mktemp -d "$LAB_DIR/privileges-unix-socket.XXXXXX")
chmod 755 "$work"
mkdir "$work/run"
chown rampart: "$work/run"
old_milters=$(postconf -c "$pf" -h smtpd_milters)
pid=
cleanup() {
	[[ -n $pid ]] && kill -TERM "$pid" 2>/dev/null && sleep 0.5
	[[ -n $pid ]] && kill -KILL "$pid" 2>/dev/null
	postconf -c "$pf" -e "smtpd_milters=$old_milters"
	postfix -c "$pf" reload >/dev/null 2>&1
	rm -rf "$work" "$sockdir"
}
trap cleanup EXIT

rm -rf "$sockdir"
cat >"$work/rampart.conf" <<CONF
milter_listen = unix:$sock
policy_listen =
user = rampart
pid_file = $work/run/rampartd.pid
log_level = info
dns_forwarders = 127.0.0.1
authserv_id = mx.lab.example
av_mode = off
CONF

# start NAME -- a rampartd with that configuration, log in $work/NAME.log;
# returns when it listens or has exited.
start() {
	local i
	"$RAMPARTD" -f -c "$work/rampart.conf" >"$work/$1.log" 2>&1 &
	pid=$!
	for ((i = 0; i < 100; i++)); do
		grep -q "started (config" "$work/$1.log" && return 0
		[[ -d /proc/$pid ]] || return 1
		sleep 0.1
	done
	return 1
}

# send TAG -- one message through Postfix; checks its delivery with
# rampart's Authentication-Results, and that this rampartd logged its queue id.
send() {
	local out qid i
	out=$(swaks --server 127.0.0.1:25 --ehlo lab-client.lab.example --xclient-addr 192.0.2.10 \
		--xclient-name mail.sender.example --xclient-helo mail.sender.example \
		--from alice@sender.example --to bob@rcpt.example \
		--header "From: Alice <alice@sender.example>" --header "Subject: unix socket $1" \
		--body "sent over the unix socket ($1)" 2>&1)
	qid=$(sed -n 's/.*250 .*queued as \([0-9A-Za-z]*\).*/\1/p' <<<"$out" | tail -1)
	if [[ -z $qid ]]; then
		_notok "$1: not queued: $(grep -E '^ *<[~*]+ *[45]' <<<"$out" | tr '\n' ' ')"
		return
	fi
	for ((i = 0; i < 100; i++)); do
		[[ -s $LAB_DIR/sink/$qid.eml ]] && break
		sleep 0.2
	done
	if [[ ! -s $LAB_DIR/sink/$qid.eml ]]; then
		_notok "$1: $qid not delivered"
		return
	fi
	if grep -q '^Authentication-Results: mx.lab.example;' "$LAB_DIR/sink/$qid.eml"; then
		_ok "$1: $qid delivered with Authentication-Results"
	else
		_notok "$1: $qid delivered without rampart's Authentication-Results"
	fi
	if grep -q "queue_id=$qid" "$work"/*.log; then
		_ok "$1: this rampartd logged $qid"
	else
		_notok "$1: this rampartd did not log $qid"
	fi
}

echo "-- first start: the directory is made"
start first || { cat "$work/first.log"; _notok "rampartd did not start"; finish; }
expect_eq "socket directory (owner group mode type)" "rampart postfix 750 directory" \
	"$(stat -c '%U %G %a %F' "$sockdir")"
expect_eq "socket (group mode type)" "postfix 660 socket" "$(stat -c '%G %a %F' "$sock")"
grep -q "created the directory of $sock" "$work/first.log" && _ok "logged: directory created" ||
	_notok "no \"created the directory\" in the log"
postconf -c "$pf" -e "smtpd_milters=unix:$sock"
postfix -c "$pf" reload >/dev/null 2>&1
sleep 1
send first

echo "-- a second rampartd on the same socket refuses to start"
if "$RAMPARTD" -f -c "$work/rampart.conf" >"$work/second.log" 2>&1; then
	_notok "a second rampartd started on a socket in use"
else
	expect_eq "second rampartd refused" yes \
		"$(grep -q 'another process listens on' "$work/second.log" && echo yes || cat "$work/second.log")"
fi
expect_eq "socket still there" socket "$(stat -c %F "$sock" 2>&1)"
send "after the refused start"

echo "-- SIGKILL leaves a stale socket; a restart removes it"
kill -KILL "$pid"
wait "$pid" 2>/dev/null
pid=
expect_eq "stale socket left by SIGKILL" socket "$(stat -c %F "$sock" 2>&1)"
start restart || { cat "$work/restart.log"; _notok "rampartd did not start again"; finish; }
grep -q "removed the stale socket $sock" "$work/restart.log" && _ok "logged: stale socket removed" ||
	_notok "no \"removed the stale socket\" in the log"
expect_eq "socket directory after the restart" "rampart postfix 750 directory" \
	"$(stat -c '%U %G %a %F' "$sockdir")"
expect_eq "socket after the restart" "postfix 660 socket" "$(stat -c '%G %a %F' "$sock")"
send "after the restart"

echo "-- SIGTERM removes the socket"
kill -TERM "$pid"
wait "$pid"
expect_eq "exit status after SIGTERM" 0 "$?"
pid=
expect_eq "left in $sockdir" "" "$(ls -A "$sockdir")"
finish
