# shellcheck shell=bash
# caselib.sh -- shell functions for script cases (tests/lab/cases/*.sh).
# A script case runs inside the lab's namespace with LAB_DIR, LAB_SRC,
# LAB_NS and RAMPARTD set (RAMPARTD empty when the lab runs without
# rampartd). It passes by exiting 0, fails otherwise, and is skipped by
# exiting 77 after printing the reason as its last line.
#
#   . "$LAB_SRC/lib/caselib.sh"
#   expect_answer NAME TYPE EXPECTED   a record of the lab resolver
#   expect_status NAME TYPE STATUS     the DNS status (NOERROR, NXDOMAIN...)
#   expect_timeout NAME TYPE           no answer within 1 s
#   expect_eq WHAT EXPECTED GOT        two strings are equal
#   policy_ask [-t S] [-f] TARGET A=V...  one policy request to HOST:PORT or a
#                                      socket path; prints the action
#                                      ("closed" if none came)
#   finish                             exit 1 if any check failed
# Each check prints "ok ..." or "not ok ..." with what it saw.

set -uo pipefail
CASE_FAILURES=0

_ok() { echo "ok     $*"; }
_notok() {
	echo "not ok $*"
	CASE_FAILURES=$((CASE_FAILURES + 1))
}

# expect_answer NAME TYPE EXPECTED -- EXPECTED is one line of `dig +short`.
expect_answer() {
	local got
	got=$(dig +time=2 +tries=1 +short "$1" "$2" 2>&1)
	if grep -qxF -- "$3" <<<"$got"; then
		_ok "$1 $2 -> $3"
	else
		_notok "$1 $2: expected $3, got: ${got:-(empty answer)}"
	fi
}

# expect_status NAME TYPE STATUS
expect_status() {
	local got
	got=$(dig +time=2 +tries=1 "$1" "$2" 2>&1 | sed -n 's/.*status: \([A-Z]*\),.*/\1/p')
	if [[ $got == "$3" ]]; then
		_ok "$1 $2 -> $3"
	else
		_notok "$1 $2: expected status $3, got ${got:-(no answer)}"
	fi
}

# expect_timeout NAME TYPE -- the resolver gives no answer within 1 s.
expect_timeout() {
	local out rc=0 t0 t1
	t0=$(date +%s%N)
	out=$(dig +time=1 +tries=1 "$1" "$2" 2>&1) || rc=$?
	t1=$(date +%s%N)
	if ((rc == 9)); then
		_ok "$1 $2 -> timeout after $(((t1 - t0) / 1000000)) ms"
	else
		_notok "$1 $2: expected a timeout, got (dig exit $rc): $(grep -m1 status: <<<"$out")"
	fi
}

# expect_eq WHAT EXPECTED GOT
expect_eq() {
	if [[ $3 == "$2" ]]; then
		_ok "$1: $2"
	else
		_notok "$1: expected \"$2\", got \"$3\""
	fi
}

# policy_ask [-t SECONDS] [-f] TARGET ATTR=VALUE... -- see lib/policy_ask.py
policy_ask() {
	/usr/bin/python3 -B "$LAB_SRC/lib/policy_ask.py" "$@"
}

finish() {
	if ((CASE_FAILURES)); then
		echo "$CASE_FAILURES check(s) failed"
		exit 1
	fi
	exit 0
}
