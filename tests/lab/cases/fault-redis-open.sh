#!/bin/bash
# Redis, which holds the shared rate-limit counters, hangs and then dies
# under the policy service while mail flows, and comes back
# (fault-redis-common.bash). With policy_ratelimit_redis_down_action =
# accept (fail open) mail keeps being accepted: no temporary failure, no
# rejection, every message delivered with rampart's Authentication-Results
# header; rampartd warns that the rate limits are unavailable, naming
# Redis; no session waits much longer than policy_ratelimit_redis_timeout;
# and counting resumes in Redis once it is back.
. "$LAB_SRC/lib/caselib.sh"
[[ -n ${RAMPARTD:-} ]] || { echo "needs rampartd"; exit 77; }
grep -q '^POLICY=.' "$LAB_DIR/lab.env" || { echo "needs the policy service (LAB_POLICY)"; exit 77; }
# shellcheck source=fault-redis-common.bash
. "$LAB_SRC/cases/fault-redis-common.bash"
trap fr_cleanup EXIT

fr_run fail-open accept
fr_expect_warning "failing open"
lg check "$fr_state" --no-tempfail --kind-headers || _notok "fail open: outcomes"
fr_count fail-open "in the end"
expect_eq "delivered" "$FR_COUNT" "$(fr_fig delivered)"
finish
