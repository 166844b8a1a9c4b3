#!/bin/bash
# rampartd started as root does not go on as root: with user = rampart it
# becomes that user (uid, gid and supplementary groups, no capability
# left, root not to be regained); without user =, or with a user whose uid
# is 0, it logs why, removes its pid file and exits 1, unless allow_root =
# yes (then it runs as root with a warning). The lab's own rampartd runs as
# rampart too. Each rampartd here is a second one, on ports of its own.
. "$LAB_SRC/lib/caselib.sh"
[[ -n ${RAMPARTD:-} ]] || { echo "needs rampartd"; exit 77; }
[[ $(id -u) -eq 0 ]] || { echo "needs root"; exit 77; }
getent passwd rampart >/dev/null || { echo "no user rampart (lab up creates it)"; exit 1; }

work=$(mktemp -d "$LAB_DIR/privileges-user.XXXXXX")
chmod 755 "$work"
mkdir "$work/run"
chown rampart: "$work/run"
pid=
cleanup() {
	[[ -n $pid ]] && kill -TERM "$pid" 2>/dev/null && sleep 0.5
	[[ -n $pid ]] && kill -KILL "$pid" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT

# start NAME LINE... -- a rampartd with these settings; its pid in $pid,
# its log in $work/NAME.log. Returns when it listens or has exited.
start() {
	local name=$1 i
	shift
	{
		echo "milter_listen = inet:127.0.0.1:18894"
		echo "policy_listen ="
		echo "pid_file = $work/run/rampartd.pid"
		echo "log_level = info"
		echo "dns_forwarders = 127.0.0.1"
		echo "av_mode = off"
		printf '%s\n' "$@"
	} >"$work/$name.conf"
	"$RAMPARTD" -f -c "$work/$name.conf" >"$work/$name.log" 2>&1 &
	pid=$!
	for ((i = 0; i < 100; i++)); do
		grep -q "started (config" "$work/$name.log" && return 0
		[[ -d /proc/$pid ]] || return 0
		sleep 0.1
	done
}

# stop -- SIGTERM; $? is rampartd's exit status.
stop() {
	local rc
	kill -TERM "$pid"
	wait "$pid"
	rc=$?
	pid=
	return "$rc"
}

# exits NAME -- rampartd exited by itself with status 1, within 10 s.
exits() {
	local i rc
	for ((i = 0; i < 100; i++)); do
		[[ -d /proc/$pid ]] || break
		sleep 0.1
	done
	if [[ -d /proc/$pid ]] && ! grep -q '^State:.*Z' "/proc/$pid/status"; then
		_notok "$1: still running"
		return
	fi
	wait "$pid"
	rc=$?
	pid=
	expect_eq "$1: exit status" 1 "$rc"
}

uid=$(id -u rampart)
gid=$(id -g rampart)

echo "-- user = rampart"
start user "user = rampart"
if [[ -d /proc/$pid ]]; then
	st=/proc/$pid/status
	expect_eq "Uid (real, effective, saved, fs)" "$uid $uid $uid $uid" "$(awk '/^Uid:/ {print $2, $3, $4, $5}' "$st")"
	expect_eq "Gid (real, effective, saved, fs)" "$gid $gid $gid $gid" "$(awk '/^Gid:/ {print $2, $3, $4, $5}' "$st")"
	expect_eq "supplementary groups" "$(id -G rampart | tr ' ' '\n' | sort -n | tr '\n' ' ')" \
		"$(awk '/^Groups:/ {for (i = 2; i <= NF; i++) print $i}' "$st" | sort -n | tr '\n' ' ')"
	expect_eq "effective capabilities" 0000000000000000 "$(awk '/^CapEff:/ {print $2}' "$st")"
	expect_eq "permitted capabilities" 0000000000000000 "$(awk '/^CapPrm:/ {print $2}' "$st")"
	expect_eq "pid file" "$pid" "$(cat "$work/run/rampartd.pid" 2>/dev/null)"
	# every thread, not only the main one
	others=$(awk '/^Uid:/ {print $3}' /proc/"$pid"/task/*/status | sort -u | tr '\n' ' ')
	expect_eq "effective uid of every thread" "$uid " "$others"
	stop
	expect_eq "exit status after SIGTERM" 0 "$?"
	expect_eq "pid file removed at exit" gone "$([[ -e $work/run/rampartd.pid ]] && echo there || echo gone)"
else
	_notok "rampartd did not start: $(cat "$work/user.log")"
fi

echo "-- no user: refused"
start nouser
exits "no user"
if grep -q "refusing to run as root" "$work/nouser.log"; then
	_ok "logged: $(grep -o 'refusing to run as root.*' "$work/nouser.log")"
else
	_notok "no refusal logged: $(cat "$work/nouser.log")"
fi
expect_eq "pid file removed" gone "$([[ -e $work/run/rampartd.pid ]] && echo there || echo gone)"

echo "-- user = root: refused"
start root "user = root"
exits "user = root"
if grep -q "refusing to run as root" "$work/root.log"; then
	_ok "refused"
else
	_notok "not refused: $(cat "$work/root.log")"
fi

echo "-- allow_root = yes: runs as root, with a warning"
start allowed "allow_root = yes"
if [[ -d /proc/$pid ]]; then
	expect_eq "effective uid" 0 "$(awk '/^Uid:/ {print $3}' "/proc/$pid/status")"
	if grep -q "running as root (allow_root = yes)" "$work/allowed.log"; then
		_ok "warning logged"
	else
		_notok "no warning: $(cat "$work/allowed.log")"
	fi
	stop
else
	_notok "rampartd did not start: $(cat "$work/allowed.log")"
fi

echo "-- an unknown user"
start unknown "user = no-such-user-here"
exits "unknown user"
if grep -q "unknown user no-such-user-here" "$work/unknown.log"; then
	_ok "logged"
else
	_notok "not logged: $(cat "$work/unknown.log")"
fi

echo "-- the lab's rampartd"
lp=$(tr -dc 0-9 <"$LAB_DIR/pids/rampartd.pid")
expect_eq "the lab's rampartd runs as" "$uid" "$(awk '/^Uid:/ {print $3}' "/proc/$lp/status")"
finish
