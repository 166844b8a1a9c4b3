# shellcheck shell=bash
# fault-redis-common.bash -- shared by fault-redis-open.sh and
# fault-redis-closed.sh (not a case itself: the runner only takes *.case
# and *.sh).
#
# The policy service keeps a per-client rate limit in a Redis of the
# case's own (127.0.0.1:6392 in the namespace, nothing on disk; the lab's
# Redis on 6379 is left alone), with a limit far above the test traffic.
# While a batch of mail flows (90 messages, 6 sessions at once, 10 started
# a second: some 9 s of mail), Redis first hangs (SIGSTOP: connections open, nothing
# answers, policy_ratelimit_redis_timeout runs out) and is then killed
# (port closed); later it starts again, empty. The case counts what became
# of every message and prints the figures:
#
#   fault-redis MODE: sent N = delivered N + rejected N + deferred N [...]
#
# fr_run MODE DOWN_ACTION runs it all; the checks that depend on the mode
# are in the two cases. Everything is undone on exit: our Redis stopped,
# rampart.conf back to the lab's, rampartd restarted.

FR_PORT=6392
FR_TIMEOUT_S=1              # policy_ratelimit_redis_timeout
FR_COUNT=90
FR_SESSIONS=6
FR_RATE=10
FR_MIX=plain=3,dkim=1       # only kinds that are accepted: any rejection is wrong
FR_FREEZE_AT=15             # messages done when Redis hangs
FR_FREEZE_S=2               # seconds it hangs before it is killed
FR_BACK_AT=60               # messages done when it starts again
FR_SESSION_MAX_MS=5000      # no session may take longer while Redis is away
FR_RECOVERY_MAX_MS=3000     # nor be deferred this long after it is back

fr_work=$(mktemp -d "$LAB_DIR/fault-redis.XXXXXX")
fr_state=$fr_work/state.json
fr_prefix="lab:fault-redis:$$:"
fr_redis_pid=
fr_lgpid=

lg() { timeout "${LG_TIMEOUT:-60}" /usr/bin/python3 -B "$LAB_SRC/lib/loadgen.py" "$@"; }
fr_cli() { timeout 5 redis-cli -h 127.0.0.1 -p "$FR_PORT" "$@"; }
fr_rampartd_pid() { tr -dc 0-9 <"$LAB_DIR/pids/rampartd.pid" 2>/dev/null; }
fr_running() { [[ -n $1 && -d /proc/$1 ]] && ! grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null; }
fr_log_since() { tail -c +$((fr_logpos + 1)) "$LAB_DIR/rampartd.log"; }
fr_progress() { cat "$fr_work/progress" 2>/dev/null || echo 0; }
fr_now() { date +%s.%N; }

# Start our Redis; true once it answers PING.
fr_start_redis() {
	setsid redis-server --bind 127.0.0.1 --port "$FR_PORT" --save "" --appendonly no \
		--daemonize no --protected-mode no --dir "$fr_work" --logfile "" \
		</dev/null >>"$fr_work/redis.log" 2>&1 &
	fr_redis_pid=$!
	for ((i = 0; i < 100; i++)); do
		[[ $(fr_cli PING 2>/dev/null) == PONG ]] && return 0
		sleep 0.1
	done
	return 1
}

# Kill our Redis (it may be stopped: SIGKILL works on a stopped process).
fr_kill_redis() {
	[[ -n $fr_redis_pid ]] || return 0
	kill -KILL "$fr_redis_pid" 2>/dev/null
	wait "$fr_redis_pid" 2>/dev/null
	fr_redis_pid=
}

# rampart.conf = the lab's base file and these lines.
fr_set_conf() {
	{
		cat "$LAB_DIR/rampart.conf.base"
		echo "# added by fault-redis"
		printf '%s\n' "$@"
	} >"$LAB_DIR/rampart.conf"
}

# wait_progress N SECONDS -- until N messages are done (false on timeout).
fr_wait_progress() {
	local i
	for ((i = 0; i < $2 * 10; i++)); do
		(($(fr_progress) >= $1)) && return 0
		sleep 0.1
	done
	return 1
}

fr_cleanup() {
	[[ -n $fr_lgpid ]] && kill "$fr_lgpid" 2>/dev/null
	[[ -n $fr_redis_pid ]] && kill -CONT "$fr_redis_pid" 2>/dev/null
	fr_kill_redis
	cp "$LAB_DIR/rampart.conf.base" "$LAB_DIR/rampart.conf"
	"$LAB_SRC/lab" restart-rampartd >/dev/null
	rm -rf "$fr_work"
}

# The figures of the run, from loadgen's state, the sink and the outage's
# times: prints "name value" lines for fr_fig, and the summary lines.
fr_figures() {
	/usr/bin/python3 - "$fr_state" "$LAB_DIR/sink" "$1" "$fr_t_freeze" "$fr_t_kill" "$fr_t_back" <<'PY'
import json, os, sys
st = json.load(open(sys.argv[1]))
sink = set(os.listdir(sys.argv[2]))
stage, t_freeze, t_kill, t_back = sys.argv[3], float(sys.argv[4]), float(sys.argv[5]), float(sys.argv[6])

def outcome(a):
    if a["code"] == 250 and a["stage"] == "eom":
        return "accepted"
    if a["code"] is not None and 500 <= a["code"] < 600:
        return "rejected"
    return "deferred"

def overlaps(a, t0, t1):
    return a["time"] < t1 and a["time"] + a["ms"] / 1000.0 > t0

f = dict.fromkeys(["sent", "delivered", "queued", "rejected", "deferred", "attempts", "retried",
                   "retried_delivered", "hung", "hung_accepted", "hung_deferred", "gone", "gone_accepted",
                   "gone_deferred", "back", "back_accepted", "back_deferred", "outage_ms"], 0)
f["last_deferral_ms"] = -1
for m in st["messages"]:
    f["sent"] += 1
    f["attempts"] += len(m["attempts"])
    last = m["attempts"][-1]
    o = outcome(last)
    delivered = o == "accepted" and (last["qid"] or "") + ".eml" in sink
    if o == "accepted":
        f["delivered" if delivered else "queued"] += 1
    else:
        f[o] += 1
    if len(m["attempts"]) > 1:
        f["retried"] += 1
        f["retried_delivered"] += delivered
    first = m["attempts"][0]
    for phase, t0, t1 in (("hung", t_freeze, t_kill), ("gone", t_kill, t_back)):
        if overlaps(first, t0, t1):
            f[phase] += 1
            f[phase + "_" + ("accepted" if outcome(first) == "accepted" else "deferred")] += 1
    if overlaps(first, t_freeze, t_back):
        f["outage_ms"] = max(f["outage_ms"], first["ms"])
    if first["time"] >= t_back:
        f["back"] += 1
        f["back_" + ("accepted" if outcome(first) == "accepted" else "deferred")] += 1
        if outcome(first) != "accepted":
            f["last_deferral_ms"] = max(f["last_deferral_ms"], int((first["time"] - t_back) * 1000))
for k, v in f.items():
    print("fig %s %d" % (k, v))
print("line %s: sent %d = delivered %d + rejected %d + deferred %d + accepted, not yet in the sink %d;"
      " %d attempts; %d messages sent again, %d of them delivered" % (
    stage, f["sent"], f["delivered"], f["rejected"], f["deferred"], f["queued"], f["attempts"],
    f["retried"], f["retried_delivered"]))
print("line %s: while Redis hung (%.1f s): %d sessions, %d accepted, %d deferred; while it was gone (%.1f s): "
      "%d sessions, %d accepted, %d deferred; longest session in the outage %d ms" % (
    stage, t_kill - t_freeze, f["hung"], f["hung_accepted"], f["hung_deferred"], t_back - t_kill,
    f["gone"], f["gone_accepted"], f["gone_deferred"], f["outage_ms"]))
print("line %s: after Redis was back: %d sessions, %d accepted, %d deferred%s" % (
    stage, f["back"], f["back_accepted"], f["back_deferred"],
    " (the last started %d ms after it was back)" % f["last_deferral_ms"] if f["last_deferral_ms"] >= 0 else ""))
PY
}

# fr_fig NAME -- one figure of the last fr_figures.
fr_fig() { sed -n "s/^fig $1 //p" <<<"$fr_out"; }

# fr_count MODE STAGE -- compute, print and keep the figures.
fr_count() {
	fr_out=$(fr_figures "$1 $2")
	sed -n 's/^line /fault-redis /p' <<<"$fr_out"
}

# fr_run MODE DOWN_ACTION -- the whole run up to the first count (before any retry).
fr_run() {
	local mode=$1 action=$2 keys

	fr_start_redis || { echo "our Redis on 127.0.0.1:$FR_PORT did not start"; exit 1; }
	fr_set_conf "policy_ratelimit_client_limit = 100000" \
		"policy_ratelimit_client_window = 1h" \
		"policy_ratelimit_redis = 127.0.0.1:$FR_PORT" \
		"policy_ratelimit_redis_prefix = $fr_prefix" \
		"policy_ratelimit_redis_timeout = ${FR_TIMEOUT_S}s" \
		"policy_ratelimit_redis_down_action = $action"
	"$LAB_SRC/lab" restart-rampartd >/dev/null || { echo "rampartd did not restart"; exit 1; }
	fr_running "$(fr_rampartd_pid)" || { echo "rampartd did not start with a Redis backend (built without hiredis?)"; exit 77; }
	fr_logpos=$(stat -c %s "$LAB_DIR/rampartd.log")
	fr_pid=$(fr_rampartd_pid)

	echo "-- $mode (policy_ratelimit_redis_down_action = $action): $FR_COUNT messages, $FR_SESSIONS sessions at once, $FR_RATE a second"
	lg send "$fr_state" --count "$FR_COUNT" --concurrency "$FR_SESSIONS" --rate "$FR_RATE" --mix "$FR_MIX" \
		--tag "$mode" --progress "$fr_work/progress" &
	fr_lgpid=$!
	fr_wait_progress "$FR_FREEZE_AT" 30 || _notok "only $(fr_progress) messages done after 30 s"
	keys=$(fr_cli --scan --pattern "${fr_prefix}*" | wc -l)
	if ((keys > 0)); then
		_ok "the rate limit counts in Redis before the outage ($keys keys under $fr_prefix)"
	else
		_notok "no key under $fr_prefix in Redis: the rate limit does not use it"
	fi

	fr_t_freeze=$(fr_now)
	kill -STOP "$fr_redis_pid"
	echo "Redis hangs (SIGSTOP) after $(fr_progress) messages"
	sleep "$FR_FREEZE_S"
	fr_t_kill=$(fr_now)
	fr_kill_redis
	echo "Redis killed after $(fr_progress) messages"
	fr_wait_progress "$FR_BACK_AT" 30 || _notok "only $(fr_progress) messages done 30 s into the outage"
	fr_start_redis || _notok "our Redis did not start again"
	fr_t_back=$(fr_now)
	echo "Redis started again after $(fr_progress) messages"
	wait "$fr_lgpid"
	fr_lgpid=
	expect_eq "rampartd still the same process" "$fr_pid" "$(fr_rampartd_pid)"
	keys=$(fr_cli --scan --pattern "${fr_prefix}*" | wc -l)
	if ((keys > 0)); then
		_ok "the rate limit counts in Redis again after it came back ($keys keys)"
	else
		_notok "no key in the restarted Redis: counting did not resume"
	fi
	lg settle "$fr_state" --timeout 30 >/dev/null
	fr_count "$mode" "as sent"
	if (($(fr_fig hung) > 0 && $(fr_fig gone) > 0)); then
		_ok "the outage hit $(fr_fig hung) sessions while Redis hung and $(fr_fig gone) while it was gone"
	else
		_notok "the outage hit too few sessions (hung $(fr_fig hung), gone $(fr_fig gone))"
	fi
	if (($(fr_fig outage_ms) <= FR_SESSION_MAX_MS)); then
		_ok "no session took longer than $FR_SESSION_MAX_MS ms during the outage (longest $(fr_fig outage_ms) ms)"
	else
		_notok "a session took $(fr_fig outage_ms) ms during the outage (policy_ratelimit_redis_timeout = ${FR_TIMEOUT_S}s)"
	fi
	# rampartd tries Redis again at most once a second after a failure
	if (($(fr_fig last_deferral_ms) <= FR_RECOVERY_MAX_MS)); then
		_ok "no deferral later than $FR_RECOVERY_MAX_MS ms after Redis was back (last: $(fr_fig last_deferral_ms) ms, -1: none)"
	else
		_notok "a session was deferred $(fr_fig last_deferral_ms) ms after Redis was back"
	fi
	expect_eq "rejected" 0 "$(fr_fig rejected)"
}

# fr_expect_warning TEXT -- rampartd logged a warning naming Redis, with TEXT.
fr_expect_warning() {
	local line
	line=$(fr_log_since | grep -m1 "warning: .*rate limits unavailable (Redis.*$1")
	if [[ -n $line ]]; then
		_ok "logged: ${line:0:240}"
	else
		_notok "no warning \"rate limits unavailable (Redis ...); $1\" in rampartd's log"
		fr_log_since | grep -i -m5 "redis\|rate" | cut -c1-240
	fi
}
