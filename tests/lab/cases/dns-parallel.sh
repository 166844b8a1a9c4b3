#!/bin/bash
# With every DNS answer held 50 ms by the lab's delaying proxy, 50
# different cold lookups issued at once overlap: the batch takes a small
# fraction of the sum of their times (one after another they would take
# 50 x 50 ms). On a quiet machine the batch takes about one delay; the
# figures are printed, and bench/ measures them properly. Answers repeated
# through the cache are the same as the first ones.
set -euo pipefail
. "$LAB_SRC/lib/caselib.sh"
bench=$(dirname "${RAMPARTD:-/nonexistent}")/../bench/dns/dns-bench
[[ -x $bench ]] || { echo "dns-bench not built next to rampartd ($bench)"; exit 77; }
"$LAB_SRC/lab" delay 50 >/dev/null
trap '"$LAB_SRC/lab" delay off >/dev/null 2>&1 || true' EXIT
out=$("$bench" -s 127.0.0.1@5353 -z bench.test -q A -t 1 -n 2000 -k 20 -m 50 2>&1) || true
echo "$out" | sed 's/^/    /'
# The cold batch line: M answered timeouts wall-ms slowest-ms p50-ms sum-ms wall/single
read -r m answered timeouts wall slowest p50 sum ratio < <(echo "$out" | awk '$1 == "(b)" { cold = 1 } cold && $1 == 50 { print; exit }') || true
if [[ -z ${sum:-} ]]; then
	_notok "no cold batch figure in dns-bench output"
else
	expect_eq "cold lookups answered" 50 "$answered"
	if (( ${wall%%.*} * 5 < ${sum%%.*} )); then
		_ok "50 cold lookups at once: ${wall} ms in all, ${sum} ms one after another (${ratio} x one lookup)"
	else
		_notok "50 cold lookups did not overlap: ${wall} ms in all, ${sum} ms summed"
	fi
fi
# The same question twice: the cached answer is the same.
a=$(dig +short @127.0.0.1 -p 53 mail.sender.example A)
b=$(dig +short @127.0.0.1 -p 53 mail.sender.example A)
expect_eq "cached answer" "$a" "$b"
finish
