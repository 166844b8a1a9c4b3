#!/bin/bash
# Redis, which holds the shared rate-limit counters, hangs and then dies
# under the policy service while mail flows, and comes back
# (fault-redis-common.bash). With policy_ratelimit_redis_down_action =
# tempfail (fail closed) the policy service answers DEFER_IF_PERMIT 4.3.0
# while Redis is away: Postfix replies 4xx to RCPT, the mail stays with the
# sender, nothing is rejected (5xx) and nothing is lost (sent = delivered +
# rejected + deferred). rampartd warns, naming Redis. Once Redis is back
# the sender tries again, Postfix's queue is flushed, and every message is
# delivered.
. "$LAB_SRC/lib/caselib.sh"
[[ -n ${RAMPARTD:-} ]] || { echo "needs rampartd"; exit 77; }
grep -q '^POLICY=.' "$LAB_DIR/lab.env" || { echo "needs the policy service (LAB_POLICY)"; exit 77; }
# shellcheck source=fault-redis-common.bash
. "$LAB_SRC/cases/fault-redis-common.bash"
trap fr_cleanup EXIT

fr_run fail-closed tempfail
fr_expect_warning "failing closed"
lg check "$fr_state" || _notok "fail closed: outcomes while Redis was away"
if (($(fr_fig deferred) > 0)); then
	_ok "$(fr_fig deferred) messages deferred while Redis was away"
else
	_notok "no message was deferred while Redis was away"
fi
bad=$(/usr/bin/python3 -c '
import json, sys
for m in json.load(open(sys.argv[1]))["messages"]:
    for a in m["attempts"]:
        if a["code"] != 250 and not (a["stage"] == "rcpt" and a["code"] and 400 <= a["code"] < 500
                                     and "4.3.0" in a["text"]):
            print("%s %s: %s %s %s" % (m["kind"], m["id"], a["stage"], a["code"], a["text"][:160]))' "$fr_state")
if [[ -z $bad ]]; then
	_ok "every temporary failure was a 4xx 4.3.0 reply to RCPT"
else
	_notok "other failures than 4xx 4.3.0 at RCPT:"
	head -5 <<<"$bad"
fi

echo "-- Redis is back: the sender tries again, Postfix's queue is flushed"
lg retry "$fr_state" --concurrency "$FR_SESSIONS" --rounds 10 --interval 1 --timeout 30
lg settle "$fr_state" --timeout 30
lg check "$fr_state" --final --kind-headers || _notok "fail closed: in the end"
fr_count fail-closed "in the end"
expect_eq "delivered in the end" "$FR_COUNT" "$(fr_fig delivered)"
expect_eq "deferred then delivered" "$(fr_fig retried)" "$(fr_fig retried_delivered)"
finish
