#!/bin/bash
# Two policy daemons (two MX hosts) share one rate limit through the lab's
# Redis: 3 messages per hour per client, counted on either daemon. The
# counters are listed and reset with rampartctl, and a Redis that goes away
# fails open (policy_ratelimit_redis_down_action = accept, logged).
. "$LAB_SRC/lib/caselib.sh"
[[ -n $RAMPARTD ]] || { echo "needs rampartd"; exit 77; }
CTL=$(dirname "$RAMPARTD")/../policy/rampartctl
[[ -x $CTL ]] || { echo "rampartctl not built next to rampartd"; exit 77; }

dir=$LAB_DIR/policy-redis.$$
mkdir -p "$dir"
prefix="lab:$$:$(date +%s%N):"
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	redis-cli -h 127.0.0.1 -p 6379 --scan --pattern "$prefix*" | xargs -r redis-cli -h 127.0.0.1 -p 6379 DEL >/dev/null
	rm -rf "$dir"
}
trap cleanup EXIT

for n in 1 2; do
	cat >"$dir/r$n.conf" <<EOF
milter_listen =
# as the lab's own rampartd: not as root, no scanner database here
user = rampart
av_mode = off
policy_listen = inet:127.0.0.1:$((10045 + n))
pid_file = $dir/r$n.pid
dns_forwarders = 127.0.0.1
log_level = debug
policy_spf_mode = off
policy_sender_mode = off
policy_dnsbl_mode = off
policy_ratelimit_client_limit = 3
policy_ratelimit_redis = 127.0.0.1:6379
policy_ratelimit_redis_prefix = $prefix
policy_control_socket = $dir/r$n.ctl
EOF
	"$RAMPARTD" -f -c "$dir/r$n.conf" >"$dir/r$n.log" 2>&1 &
	pids+=($!)
done
for n in 1 2; do
	for _ in $(seq 50); do [[ -S $dir/r$n.ctl ]] && break; sleep 0.1; done
done

# ask PORT INSTANCE [CLIENT] -- one RCPT request; prints the action
ask() {
	policy_ask 127.0.0.1:"$1" protocol_state=RCPT "client_address=${3:-198.51.100.8}" \
		helo_name=client.example sender=a@sender.example recipient=b@rcpt.example "instance=$2"
}

expect_eq "host 1, message 1" DUNNO "$(ask 10046 r.$$.1)"
expect_eq "host 2, message 2" DUNNO "$(ask 10047 r.$$.2)"
expect_eq "host 2, message 2 again (same transaction)" DUNNO "$(ask 10047 r.$$.2)"
expect_eq "host 1, message 3" DUNNO "$(ask 10046 r.$$.3)"
expect_eq "host 2, message 4" \
	"DEFER 4.7.1 Rate limit reached for client 198.51.100.8: 3 messages per 1h, try again later" \
	"$(ask 10047 r.$$.4)"
expect_eq "host 1, message 5" \
	"DEFER 4.7.1 Rate limit reached for client 198.51.100.8: 3 messages per 1h, try again later" \
	"$(ask 10046 r.$$.5)"
expect_eq "another client" DUNNO "$(ask 10046 r.$$.6 198.51.100.9)"

# The shared counter, seen from either host; then reset from one.
expect_eq "rampartctl list on host 2" "client:198.51.100.8 3 per 1h" \
	"$("$CTL" -c "$dir/r2.conf" ratelimit list 'client:198.51.100.8')"
expect_eq "redis holds the key" 1 \
	"$(redis-cli -h 127.0.0.1 -p 6379 EXISTS "${prefix}client:198.51.100.8")"
expect_eq "rampartctl reset on host 1" "reset 1" "$("$CTL" -s "$dir/r1.ctl" ratelimit reset 'client:198.51.100.8')"
expect_eq "host 2 after the reset" DUNNO "$(ask 10047 r.$$.7)"
expect_eq "rampartctl status" "ratelimit_backend=redis" \
	"$("$CTL" -s "$dir/r1.ctl" status | grep -o 'ratelimit_backend=redis')"
"$CTL" -s "$dir/r1.ctl" frobnicate >/dev/null 2>&1
expect_eq "rampartctl unknown command exits 1" 1 "$?"

# Redis away (a daemon pointed at a dead port): fail open, and say so.
cat >"$dir/r3.conf" <<EOF
milter_listen =
# as the lab's own rampartd: not as root, no scanner database here
user = rampart
av_mode = off
policy_listen = inet:127.0.0.1:10048
pid_file = $dir/r3.pid
dns_forwarders = 127.0.0.1
policy_spf_mode = off
policy_sender_mode = off
policy_dnsbl_mode = off
policy_ratelimit_client_limit = 3
policy_ratelimit_redis = 127.0.0.1:6390
EOF
"$RAMPARTD" -f -c "$dir/r3.conf" >"$dir/r3.log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do (echo >/dev/tcp/127.0.0.1/10048) 2>/dev/null && break; sleep 0.1; done
expect_eq "redis down: fails open" DUNNO "$(ask 10048 r.$$.8)"
grep -q "rate limits unavailable.*failing open" "$dir/r3.log"
expect_eq "redis down: logged" 0 "$?"
finish
