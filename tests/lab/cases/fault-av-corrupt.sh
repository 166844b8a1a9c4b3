#!/bin/bash
# The scanner's signature database is replaced by a corrupt file and rampartd
# is told to reload (SIGUSR1) while mail flows. The new database does not
# load: rampartd logs it and keeps the engine it has, mail keeps flowing
# without a temporary failure, and the EICAR test file is still rejected.
# Once the good file is back, a reload loads it.
. "$LAB_SRC/lib/caselib.sh"
[[ -n ${RAMPARTD:-} ]] || { echo "needs rampartd"; exit 77; }

db=$LAB_DIR/clamav/rampart-test.ndb
[[ -f $db ]] || { echo "no test database $db"; exit 1; }
work=$(mktemp -d "$LAB_DIR/fault-av-corrupt.XXXXXX")
state=$work/state.json
cp -p "$db" "$work/good.ndb"
lg() { timeout 60 /usr/bin/python3 -B "$LAB_SRC/lib/loadgen.py" "$@"; }
rampartd_pid() { tr -dc 0-9 <"$LAB_DIR/pids/rampartd.pid" 2>/dev/null; }
log_since() { tail -c +$((logpos + 1)) "$LAB_DIR/rampartd.log"; }
# wait_log TEXT -- TEXT in rampartd's log after offset $logpos, within 20 s.
wait_log() {
	local i
	for ((i = 0; i < 200; i++)); do
		log_since | grep -qF -- "$1" && return 0
		sleep 0.1
	done
	return 1
}

cleanup() {
	[[ -n ${lgpid:-} ]] && kill "$lgpid" 2>/dev/null
	if ! cmp -s "$work/good.ndb" "$db"; then
		cp -p "$work/good.ndb" "$db.tmp" && mv "$db.tmp" "$db"
		kill -USR1 "$(rampartd_pid)" 2>/dev/null
	fi
	rm -rf "$work"
}
trap cleanup EXIT

echo "-- before"
lg send "$state" --count 6 --concurrency 3 --mix plain=2,eicar=1 --tag before
lg check "$state" --tag before --no-tempfail || _notok "before the corrupt database"

echo "-- the database is replaced by a corrupt file; SIGUSR1 while mail flows"
logpos=$(stat -c %s "$LAB_DIR/rampartd.log")
lg send "$state" --count 40 --concurrency 4 --rate 15 --mix plain=2,eicar=1,dkim=1 --tag during \
	--progress "$work/progress" &
lgpid=$!
for ((i = 0; i < 100; i++)); do
	(($(cat "$work/progress" 2>/dev/null || echo 0) >= 8)) && break
	sleep 0.1
done
{
	echo "Rampart.Test.Corrupt:0:*:not-hex-at-all"
	head -c 512 /dev/urandom
} >"$db.tmp"
mv "$db.tmp" "$db"
kill -USR1 "$(rampartd_pid)"
if wait_log "av: cannot load the signature database"; then
	_ok "the corrupt database did not load: $(log_since | grep -m1 -o 'av: cannot load.*' | cut -c1-200)"
else
	_notok "no load failure logged"
fi
if log_since | grep -q "keeping the loaded database"; then
	_ok "the loaded engine is kept"
else
	_notok "rampartd did not say it keeps the loaded engine"
fi
wait "$lgpid"
lgpid=
lg check "$state" --tag during --no-tempfail || _notok "mail during the failed reload"

echo "-- after the failed reload: the old engine still finds the test virus"
lg send "$state" --count 6 --concurrency 3 --mix eicar=1,plain=1 --tag after
lg check "$state" --tag after --no-tempfail || _notok "after the failed reload"

echo "-- the good database is back; a reload loads it"
logpos=$(stat -c %s "$LAB_DIR/rampartd.log")
cp -p "$work/good.ndb" "$db.tmp" && mv "$db.tmp" "$db"
kill -USR1 "$(rampartd_pid)"
if wait_log "av: loaded"; then
	_ok "reloaded: $(log_since | grep -m1 -o 'av: loaded.*')"
else
	_notok "the good database was not reloaded"
fi
lg send "$state" --count 4 --concurrency 2 --mix eicar=1,plain=1 --tag restored
lg check "$state" --tag restored --no-tempfail || _notok "after the good database came back"

lg settle "$state" --timeout 30
lg check "$state" --final --no-tempfail || _notok "in the end"
finish
