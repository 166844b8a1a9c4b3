#!/bin/bash
# The lab's resolver (unbound, which rampartd forwards to) stops answering in
# the middle of a run: first it is frozen (SIGSTOP: queries go unanswered),
# then it is stopped (the port is closed) and started again as `lab up` does.
# Each message comes from a sender domain that no cache holds
# (mN.RUN.fault.example), so every one needs DNS. With dns_timeout = 1s the
# checks end in temperror: tempfail with the default actions, accept when
# the configuration says so (spf_mailfrom_actions temperror=accept,
# dmarc_temperror_action = accept); never a rejection. Nothing is lost:
# sent = delivered + rejected + deferred, and what was deferred is
# delivered once DNS answers again.
. "$LAB_SRC/lib/caselib.sh"
[[ -n ${RAMPARTD:-} ]] || { echo "needs rampartd"; exit 77; }

work=$(mktemp -d "$LAB_DIR/fault-dns-down.XXXXXX")
state=$work/state.json
lg() { timeout "${LG_TIMEOUT:-60}" /usr/bin/python3 -B "$LAB_SRC/lib/loadgen.py" "$@"; }
pid_of() { tr -dc 0-9 <"$LAB_DIR/pids/$1.pid" 2>/dev/null; }
running() { [[ -n $1 && -d /proc/$1 ]] && ! grep -q '^State:.*[ZT]' "/proc/$1/status" 2>/dev/null; }
resolver_ok() { dig +time=1 +tries=1 @127.0.0.1 example SOA 2>/dev/null | grep -q 'status: NOERROR'; }

# rampart.conf = the lab's base file and these lines; rampartd restarted.
set_conf() {
	{
		cat "$LAB_DIR/rampart.conf.base"
		echo "# added by fault-dns-down"
		printf '%s\n' "$@"
	} >"$LAB_DIR/rampart.conf"
}

# Start unbound the way `lab up` does (this runs inside the namespace).
start_unbound() {
	setsid unbound -d -c "$LAB_DIR/unbound.conf" </dev/null >>"$LAB_DIR/unbound.log" 2>&1 &
	echo "$!" >"$LAB_DIR/pids/unbound.pid"
	for ((i = 0; i < 100; i++)); do
		resolver_ok && return 0
		sleep 0.1
	done
	return 1
}

# wait_log TEXT -- TEXT in rampartd's log after offset $logpos, within 15 s.
wait_log() {
	local i
	for ((i = 0; i < 150; i++)); do
		tail -c +$((logpos + 1)) "$LAB_DIR/rampartd.log" | grep -qF -- "$1" && return 0
		sleep 0.1
	done
	return 1
}

# freeze PID -- SIGSTOP, and SIGCONT after 25 s whatever happens to this
# script (the runner kills a case that overruns, and no trap runs then).
freeze() {
	kill -STOP "$1"
	(
		trap 'kill "$s" 2>/dev/null; exit 0' TERM
		sleep 25 &
		s=$!
		wait "$s"
		kill -CONT "$1"
	) </dev/null >/dev/null 2>&1 &
	thaw_pid=$!
}
thaw() {
	kill -CONT "$1"
	[[ -n ${thaw_pid:-} ]] && kill "$thaw_pid" 2>/dev/null
	thaw_pid=
}

cleanup() {
	local p
	[[ -n ${thaw_pid:-} ]] && kill "$thaw_pid" 2>/dev/null
	p=$(pid_of unbound)
	[[ -n $p ]] && kill -CONT "$p" 2>/dev/null
	resolver_ok || { kill -TERM "$p" 2>/dev/null; sleep 0.5; start_unbound; }
	cp "$LAB_DIR/rampart.conf.base" "$LAB_DIR/rampart.conf"
	"$LAB_SRC/lab" restart-rampartd >/dev/null
	rm -rf "$work"
}
trap cleanup EXIT

set_conf "dns_timeout = 1s"
"$LAB_SRC/lab" restart-rampartd >/dev/null || { echo "rampartd did not restart"; exit 1; }

echo "-- DNS answers"
lg send "$state" --count 6 --concurrency 3 --mix fresh --tag healthy
lg check "$state" --tag healthy --no-tempfail --header "spf=pass" || _notok "while DNS answers"

echo "-- the resolver is frozen (SIGSTOP): queries go unanswered"
logpos=$(stat -c %s "$LAB_DIR/rampartd.log")
freeze "$(pid_of unbound)"
LG_TIMEOUT=20 lg send "$state" --count 12 --concurrency 12 --mix fresh --tag silent
thaw "$(pid_of unbound)"
lg check "$state" --tag silent || _notok "while the resolver was silent"
if tail -c +$((logpos + 1)) "$LAB_DIR/rampartd.log" | grep -q 'temperror'; then
	_ok "rampartd logged temperror"
else
	_notok "rampartd logged no temperror while DNS was silent"
fi

echo "-- the resolver is stopped (its port closed), then started again"
p=$(pid_of unbound)
kill -TERM "$p"
for ((i = 0; i < 50; i++)); do running "$p" || break; sleep 0.1; done
LG_TIMEOUT=20 lg send "$state" --count 12 --concurrency 12 --mix fresh --tag gone
start_unbound || _notok "unbound did not start again"
lg check "$state" --tag gone || _notok "while the resolver was gone"

echo "-- temperror=accept: mail is accepted while DNS is silent"
logpos=$(stat -c %s "$LAB_DIR/rampartd.log")
set_conf "dns_timeout = 1s" \
	"spf_mailfrom_actions = temperror=accept" \
	"dmarc_temperror_action = accept"
kill -USR1 "$(pid_of rampartd)"
wait_log "configuration reloaded" || _notok "no reload logged"
freeze "$(pid_of unbound)"
LG_TIMEOUT=20 lg send "$state" --count 8 --concurrency 8 --mix fresh --tag accept
thaw "$(pid_of unbound)"
lg settle "$state" --tag accept --timeout 20
lg check "$state" --tag accept --no-tempfail --header "spf=temperror" || _notok "temperror=accept"

echo "-- DNS is back: the sender tries again, everything is delivered"
lg retry "$state" --concurrency 12 --rounds 15 --interval 1 --timeout 30
lg settle "$state" --timeout 30
lg check "$state" --final || _notok "after DNS came back"
finish
