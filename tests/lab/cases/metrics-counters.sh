#!/bin/bash
# Metrics: ten messages sent through Postfix to a rampartd serving
# metrics_listen are counted as sent: by action, by check, the DNS list
# hits, the time histograms; the page is valid Prometheus text; and every
# rampart_* metric that the Grafana dashboard and the alert rules in
# contrib/ use is on it.
. "$LAB_SRC/lib/caselib.sh"
. "$LAB_SRC/cases/metrics-common.bash"

[[ -n ${RAMPARTD:-} ]] || { echo "the lab runs without rampartd"; exit 77; }
"$RAMPARTD" -d | grep -q '^metrics_listen = ' || { echo "this rampartd has no metrics_listen"; exit 77; }
trap mc_teardown EXIT

MPORT=9108
mc_setup metrics-counters 2526 18894 20045 "metrics_listen = inet:127.0.0.1:$MPORT" || exit 1
if ! mc_wait_port $MPORT; then
	echo "rampartd does not serve metrics_listen; its log:"
	cat "$MC_DIR/rampartd.log"
	exit 1
fi
mc_scrape "http://127.0.0.1:$MPORT/metrics" "$MC_DIR/before.txt" || exit 1

# message FILE FROM-ADDRESS SUBJECT
message() {
	printf 'From: Alice <%s>\r\nTo: Bob <bob@rcpt.example>\r\nSubject: %s\r\nDate: %s\r\nMessage-ID: <%s.%s@lab.example>\r\n\r\nMetrics case.\r\n' \
		"$2" "$3" "$(date -R)" "$3" "$RANDOM$RANDOM" >"$1"
}
message "$MC_DIR/plain.eml" alice@sender.example plain
message "$MC_DIR/walk.eml" alice@walk.example dmarc

# send N CLIENT FILE EXPECTED-CODE
send() {
	local n=$1 client=$2 file=$3 want=$4 got
	for ((i = 0; i < n; i++)); do
		got=$(mc_send 2526 "$client" mail.sender.example mail.sender.example alice@sender.example \
			bob@rcpt.example "$file")
		expect_eq "message from $client: reply" "$want" "${got%% *}"
	done
}
send 4 192.0.2.10 "$MC_DIR/plain.eml" 250     # SPF pass, DMARC pass: accept
send 3 198.51.100.20 "$MC_DIR/plain.eml" 550  # SPF fail (and DMARC fail): reject
send 2 192.0.2.66 "$MC_DIR/plain.eml" 250     # listed in bl.test (weight 1): tag
send 1 192.0.2.10 "$MC_DIR/walk.eml" 550      # DMARC p=reject, not aligned: reject

mc_scrape "http://127.0.0.1:$MPORT/metrics" "$MC_DIR/after.txt" || exit 1

python3 - "$MC_DIR/before.txt" "$MC_DIR/after.txt" "$LAB_SRC/../../contrib" "$MC_DIR/rampartd.log" <<'PY' || CASE_FAILURES=$((CASE_FAILURES + 1))
import glob, re, sys

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-z_]+="(?:[^"\\]|\\.)*",?)*\})? (\S+)$')

def parse(path):
    samples, types = {}, {}
    for n, line in enumerate(open(path, encoding="utf-8").read().split("\n"), 1):
        if not line:
            continue
        if line.startswith("# TYPE "):
            name, kind = line[7:].split(" ")
            if name in types:
                raise SystemExit("%s:%d: %s declared twice" % (path, n, name))
            types[name] = kind
            continue
        if line.startswith("# HELP "):
            continue
        m = SAMPLE.match(line)
        if not m:
            raise SystemExit("%s:%d: not a sample: %s" % (path, n, line))
        samples[m.group(1) + (m.group(2) or "")] = float(m.group(3))
    return samples, types

before, _ = parse(sys.argv[1])
after, types = parse(sys.argv[2])
failed = 0

def delta(key):
    return after.get(key, 0) - before.get(key, 0)

def expect(what, key, want):
    global failed
    got = delta(key)
    if got == want:
        print("ok     %s: +%g" % (what, got))
    else:
        print("not ok %s: %s went up by %g, expected %g" % (what, key, got, want))
        failed += 1

def expect_true(what, ok, detail=""):
    global failed
    print(("ok     " if ok else "not ok ") + what + ("" if ok else ": " + detail))
    failed += not ok

expect("accepted", 'rampart_messages_total{action="accept"}', 4)
expect("rejected", 'rampart_messages_total{action="reject"}', 4)
expect("tagged", 'rampart_messages_total{action="tag"}', 2)
expect("tempfailed", 'rampart_messages_total{action="tempfail"}', 0)
expect("rejects by SPF", 'rampart_check_actions_total{check="spf",action="reject"}', 3)
expect("rejects by DMARC", 'rampart_check_actions_total{check="dmarc",action="reject"}', 4)
expect("tags by the DNS lists", 'rampart_check_actions_total{check="dnsbl",action="tag"}', 2)
# Each listed message is looked up once: by the policy service at RCPT when
# it checks lists (it hands the result to the milter), else by the milter.
expect("DNS list hits in bl.test", 'rampart_dnsbl_listed_total{list="bl.test"}', 2)
expect("messages timed", "rampart_message_duration_seconds_count", 10)
expect("SPF timed", 'rampart_check_duration_seconds_count{check="spf"}', 10)
expect_true("DNS queries counted", delta("rampart_dns_queries_total") >= 10, str(delta("rampart_dns_queries_total")))
expect_true("no DNS timeouts", delta('rampart_dns_responses_total{status="timeout"}') == 0)
expect_true("bl.test is in use", after.get('rampart_dnsbl_broken{list="bl.test",health="ok"}') == 0,
            str([k for k in after if k.startswith("rampart_dnsbl_broken")]))
expect_true("scanner database loaded", after.get("rampart_av_database_loaded") == 1)
expect_true("signatures counted", after.get("rampart_av_signatures", 0) >= 1)
expect_true("connections gauge", any(k.startswith("rampart_connections") for k in after))
policy = {k: v for k, v in after.items() if k.startswith("rampart_policy_requests_total")}
print("info   policy requests: %s" % (policy or "none counted"))

# Every rampart_* name the dashboard and the alert rules use.
used = set()
for path in glob.glob(sys.argv[3] + "/grafana-*.json") + glob.glob(sys.argv[3] + "/prometheus-*.yml"):
    used |= {(path.rsplit("/", 1)[1], n) for n in re.findall(r"\brampart_[a-z0-9_]+", open(path).read())}
expect_true("contrib uses metrics", len(used) > 10, str(len(used)))
for path, name in sorted(used):
    family = name
    for suffix in ("_bucket", "_sum", "_count"):
        if name.endswith(suffix) and types.get(name[: -len(suffix)]) == "histogram":
            family = name[: -len(suffix)]
    expect_true("%s: %s is on the page" % (path, name), family in types)
sys.exit(1 if failed else 0)
PY
finish
