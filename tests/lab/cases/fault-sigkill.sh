#!/bin/bash
# rampartd is killed with SIGKILL while mail flows, and started again.
# Postfix's milter_default_action = tempfail defers what was in flight or
# arrived while rampartd was gone: nothing is accepted unchecked (every
# delivered message carries rampart's Authentication-Results header, no
# test virus gets through), nothing is lost (sent = delivered + rejected +
# deferred), and the deferred mail is delivered once rampartd is back.
. "$LAB_SRC/lib/caselib.sh"
[[ -n ${RAMPARTD:-} ]] || { echo "needs rampartd"; exit 77; }

work=$(mktemp -d "$LAB_DIR/fault-sigkill.XXXXXX")
state=$work/state.json
lg() { timeout 60 /usr/bin/python3 -B "$LAB_SRC/lib/loadgen.py" "$@"; }
rampartd_pid() { tr -dc 0-9 <"$LAB_DIR/pids/rampartd.pid" 2>/dev/null; }
running() { [[ -n $1 && -d /proc/$1 ]] && ! grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null; }

cleanup() {
	[[ -n ${lgpid:-} ]] && kill "$lgpid" 2>/dev/null
	# leave the lab whole: rampartd running
	running "$(rampartd_pid)" || "$LAB_SRC/lab" restart-rampartd >/dev/null
	rm -rf "$work"
}
trap cleanup EXIT

old=$(rampartd_pid)
running "$old" || { echo "rampartd is not running"; exit 1; }

# 80 messages, 8 sessions at once, 20 started per second: 4 s of mail.
lg send "$state" --count 80 --concurrency 8 --rate 20 --tag load \
	--mix plain=3,dkim=1,eicar=1,spf_fail=1,dmarc_reject=1 --progress "$work/progress" &
lgpid=$!
for ((i = 0; i < 200; i++)); do
	(($(cat "$work/progress" 2>/dev/null || echo 0) >= 20)) && break
	sleep 0.1
done
done_at_kill=$(cat "$work/progress" 2>/dev/null || echo 0)
kill -KILL "$old"
for ((i = 0; i < 50; i++)); do running "$old" || break; sleep 0.1; done
expect_eq "rampartd killed after $done_at_kill messages" gone "$(running "$old" && echo running || echo gone)"
sleep 1
"$LAB_SRC/lab" restart-rampartd >/dev/null
new=$(rampartd_pid)
expect_eq "rampartd started again" yes "$(running "$new" && [[ $new != "$old" ]] && echo yes || echo no)"
wait "$lgpid"
lgpid=

# While it was gone: outcomes as the kind wants, or deferred; never anything else.
lg check "$state" --tag load || _notok "outcomes during the kill"
tempfails=$(/usr/bin/python3 -c '
import json, sys
st = json.load(open(sys.argv[1]))
print(sum(1 for m in st["messages"] if any(a["code"] != 250 and (a["code"] or 400) < 500 for a in m["attempts"])))' "$state")
if ((tempfails > 0)); then
	_ok "$tempfails messages deferred while rampartd was gone"
else
	_notok "no message was deferred: the kill happened between sessions?"
fi

# Once it is back, the sender tries again: everything gets through or is rejected.
lg retry "$state" --tag load --concurrency 8 --rounds 10 --interval 1 --timeout 30
lg settle "$state" --tag load --timeout 30
lg check "$state" --tag load --final --kind-headers || _notok "after the restart"
finish
