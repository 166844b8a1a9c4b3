#!/bin/bash
# rampart.conf is broken while mail flows and rampartd is told to reload
# (SIGUSR1). The reload fails, rampartd says so ("reload failed, keeping the
# running configuration") and goes on with what runs: a setting of the
# running configuration (spf_received_spf_header = yes) stays in force
# although the broken file turns it off, and mail keeps flowing without a
# temporary failure. A good file then reloads, and its setting applies.
. "$LAB_SRC/lib/caselib.sh"
[[ -n ${RAMPARTD:-} ]] || { echo "needs rampartd"; exit 77; }

work=$(mktemp -d "$LAB_DIR/fault-config-reload.XXXXXX")
state=$work/state.json
lg() { timeout 60 /usr/bin/python3 -B "$LAB_SRC/lib/loadgen.py" "$@"; }
rampartd_pid() { tr -dc 0-9 <"$LAB_DIR/pids/rampartd.pid" 2>/dev/null; }
log_since() { tail -c +$((logpos + 1)) "$LAB_DIR/rampartd.log"; }
wait_log() {
	local i
	for ((i = 0; i < 150; i++)); do
		log_since | grep -qF -- "$1" && return 0
		sleep 0.1
	done
	return 1
}
set_conf() {
	{
		cat "$LAB_DIR/rampart.conf.base"
		echo "# added by fault-config-reload"
		printf '%s\n' "$@"
	} >"$LAB_DIR/rampart.conf.tmp"
	mv "$LAB_DIR/rampart.conf.tmp" "$LAB_DIR/rampart.conf"
}

cleanup() {
	[[ -n ${lgpid:-} ]] && kill "$lgpid" 2>/dev/null
	cp "$LAB_DIR/rampart.conf.base" "$LAB_DIR/rampart.conf"
	"$LAB_SRC/lab" restart-rampartd >/dev/null
	rm -rf "$work"
}
trap cleanup EXIT

set_conf "spf_received_spf_header = yes"
"$LAB_SRC/lab" restart-rampartd >/dev/null || { echo "rampartd did not restart"; exit 1; }
pid=$(rampartd_pid)

echo "-- running with spf_received_spf_header = yes"
lg send "$state" --count 4 --concurrency 2 --mix plain --tag before
lg settle "$state" --tag before --timeout 20
lg check "$state" --tag before --no-tempfail --header "Received-SPF: pass" || _notok "before"

echo "-- a broken file, and SIGUSR1 while mail flows"
logpos=$(stat -c %s "$LAB_DIR/rampartd.log")
lg send "$state" --count 40 --concurrency 4 --rate 15 --mix plain=3,spf_fail=1,eicar=1 --tag during \
	--progress "$work/progress" &
lgpid=$!
for ((i = 0; i < 100; i++)); do
	(($(cat "$work/progress" 2>/dev/null || echo 0) >= 8)) && break
	sleep 0.1
done
set_conf "spf_received_spf_header = no" \
	"no_such_parameter = 1" \
	"dns_timeout = forever" \
	"this line is not a setting"
kill -USR1 "$pid"
if wait_log "reload failed, keeping the running configuration"; then
	_ok "logged: $(log_since | grep -m1 -o 'reload failed.*' | cut -c1-200)"
else
	_notok "no \"reload failed, keeping the running configuration\" in the log"
fi
wait "$lgpid"
lgpid=
expect_eq "rampartd still the same process" "$pid" "$(rampartd_pid)"
lg settle "$state" --tag during --timeout 20
lg check "$state" --tag during --no-tempfail --header "Received-SPF: pass" || _notok "during the failed reload"

echo "-- after the failed reload: the running setting is still in force"
lg send "$state" --count 4 --concurrency 2 --mix plain --tag after
lg settle "$state" --tag after --timeout 20
lg check "$state" --tag after --no-tempfail --header "Received-SPF: pass" || _notok "after the failed reload"

echo "-- a good file reloads, and its setting applies"
logpos=$(stat -c %s "$LAB_DIR/rampartd.log")
set_conf "spf_received_spf_header = no"
kill -USR1 "$pid"
if wait_log "configuration reloaded"; then
	_ok "the good file reloaded"
else
	_notok "the good file did not reload"
fi
lg send "$state" --count 4 --concurrency 2 --mix plain --tag fixed
lg settle "$state" --tag fixed --timeout 20
lg check "$state" --tag fixed --no-tempfail --no-header "Received-SPF:" || _notok "after the good reload"

lg check "$state" --final --no-tempfail || _notok "in the end"
finish
