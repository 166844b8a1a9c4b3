#!/bin/bash
# rampart-check explains what rampartd did: four messages (an SPF fail,
# a DMARC reject, a client listed in bl.test, a plain one) go through
# Postfix to a rampartd with DNS lists; Postfix holds what it accepts.
# rampart-check, with the same configuration, must give the same action,
# the same reply for a reject, and the same header fields for a kept
# message: from the message file and its envelope, from `postcat -q`
# output of the held message, and offline from the DNS answers it
# recorded (--record-zone, then --zone).
. "$LAB_SRC/lib/caselib.sh"
. "$LAB_SRC/cases/metrics-common.bash"

[[ -n ${RAMPARTD:-} ]] || { echo "the lab runs without rampartd"; exit 77; }
CHECK=${RAMPART_CHECK:-$(mc_tool rampart-check)}
[[ -n $CHECK && -x $CHECK ]] || { echo "rampart-check not found beside $RAMPARTD (set RAMPART_CHECK)"; exit 77; }
trap mc_teardown EXIT
mc_setup explain-lab 2527 18895 20046 "" "smtpd_data_restrictions=check_client_access,static:HOLD" || exit 1

# message FILE FROM-ADDRESS SUBJECT
message() {
	printf 'From: Alice <%s>\r\nTo: Bob <bob@rcpt.example>\r\nSubject: %s\r\nDate: %s\r\nMessage-ID: <%s.%s@lab.example>\r\n\r\nExplain case: %s.\r\n' \
		"$2" "$3" "$(date -R)" "$3" "$RANDOM$RANDOM" "$3" >"$1"
}

# case NAME CLIENT FROM-HEADER-ADDRESS
run_case() {
	local name=$1 client=$2 from=$3 reply qid d=$MC_DIR/$1
	mkdir -p "$d"
	message "$d/msg.eml" "$from" "$name"
	reply=$(mc_send 2527 "$client" mail.sender.example mail.sender.example alice@sender.example \
		bob@rcpt.example "$d/msg.eml")
	echo "$reply" >"$d/reply"
	echo "$name: rampartd said: $reply"
	qid=$(sed -n 's/.*queued as \([0-9A-Za-z]*\).*/\1/p' "$d/reply")
	if [[ -n $qid ]]; then
		echo "$qid" >"$d/qid"
		postcat -c "$LAB_DIR/postfix" -q "$qid" >"$d/postcat" 2>&1
		"$CHECK" -c "$MC_DIR/rampart.conf" --json "$d/postcat" >"$d/check-postcat.json" 2>"$d/check-postcat.err"
		postsuper -c "$LAB_DIR/postfix" -d "$qid" >/dev/null 2>&1
	fi
	"$CHECK" -c "$MC_DIR/rampart.conf" --json --client-ip "$client" --client-name mail.sender.example \
		--helo mail.sender.example --from alice@sender.example --rcpt bob@rcpt.example \
		--record-zone "$d/dns.zone" "$d/msg.eml" >"$d/check.json" 2>"$d/check.err"
	"$CHECK" -c "$MC_DIR/rampart.conf" --json --zone "$d/dns.zone" --client-ip "$client" \
		--client-name mail.sender.example --helo mail.sender.example --from alice@sender.example \
		--rcpt bob@rcpt.example "$d/msg.eml" >"$d/replay.json" 2>"$d/replay.err"
	"$CHECK" -c "$MC_DIR/rampart.conf" --zone "$d/dns.zone" --client-ip "$client" \
		--client-name mail.sender.example --helo mail.sender.example --from alice@sender.example \
		--rcpt bob@rcpt.example "$d/msg.eml" >"$d/replay.txt" 2>&1
}

run_case spf-fail 198.51.100.20 alice@sender.example
run_case dmarc-reject 192.0.2.10 alice@walk.example
run_case listed 192.0.2.66 alice@sender.example
run_case plain 192.0.2.10 alice@sender.example

python3 - "$MC_DIR" <<'PY' || CASE_FAILURES=$((CASE_FAILURES + 1))
import json, os, re, sys

top = sys.argv[1]
failed = 0

def check(what, ok, detail=""):
    global failed
    print(("ok     " if ok else "not ok ") + what + ("" if ok else ": " + detail))
    failed += not ok

def load(path):
    try:
        return json.load(open(path))
    except Exception as e:
        err = path.replace(".json", ".err")
        return {"error": "%s: %s %s" % (path, e, open(err).read() if os.path.exists(err) else "")}

def norm(v):
    return re.sub(r"\s+", " ", v).strip()

def our_fields(edits):
    """The fields rampart adds, as "Name: value", in the order they end up in the header."""
    top = [e for e in edits if e["op"] == "insert"]
    end = [e for e in edits if e["op"] == "add"]
    return [norm("%s: %s" % (e["name"], e["value"])) for e in top + end]

def queued_fields(postcat):
    """rampart's fields in a queued message (postcat output), unfolded."""
    text = postcat.split("*** MESSAGE CONTENTS", 1)[1].split("\n", 1)[1]
    header = text.split("\n\n", 1)[0]
    fields = re.split(r"\n(?![ \t])", header)
    keep = []
    for f in fields:
        name = f.split(":", 1)[0]
        value = norm(f.split(":", 1)[1]) if ":" in f else ""
        if (name.lower() == "authentication-results" and value.startswith("mx.lab.example")) \
                or name.lower().startswith("x-rampart-") \
                or (name.lower() in ("x-virus-scanned", "received-spf") and "mx.lab.example" in value):
            keep.append(norm(f))
    return keep

expected = {"spf-fail": "reject", "dmarc-reject": "reject", "listed": "tag", "plain": "accept"}
for name, want in expected.items():
    d = os.path.join(top, name)
    reply = open(os.path.join(d, "reply")).read().strip()
    code = reply.split(" ", 1)[0]
    live = load(os.path.join(d, "check.json"))
    replay = load(os.path.join(d, "replay.json"))
    if "error" in live:
        check(name + ": rampart-check ran", False, live["error"])
        continue
    check("%s: rampart-check says %s" % (name, want), live["action"] == want, live["action"])
    if code.startswith("5") or code.startswith("4"):
        by = live.get("decided_by") or {}
        check("%s: rampartd refused (%s), rampart-check says %s" % (name, code, live["action"]),
              live["action"] in ("reject", "tempfail") and by.get("rcode") == code, json.dumps(by))
        check("%s: same reply text" % name,
              by.get("xcode", "?") in reply and norm(by.get("reply", "?"))[:60] in norm(reply), reply)
    else:
        check("%s: rampartd kept it (%s), rampart-check says %s" % (name, code, live["action"]),
              live["action"] in ("accept", "tag", "quarantine"))
        queued = queued_fields(open(os.path.join(d, "postcat")).read())
        mine = our_fields(live["header_edits"])
        check("%s: same header fields as rampartd added" % name, sorted(queued) == sorted(mine),
              "\n  rampartd:      %s\n  rampart-check: %s" % (queued, mine))
        check("%s: an Authentication-Results field" % name,
              any(f.startswith("Authentication-Results: mx.lab.example;") for f in mine), str(mine))
        pc = load(os.path.join(d, "check-postcat.json"))
        if "error" in pc:
            check(name + ": rampart-check on postcat output ran", False, pc["error"])
        else:
            qid = open(os.path.join(d, "qid")).read().strip()
            env = pc["envelope"]
            check("%s: postcat envelope read" % name,
                  pc["postcat"] and env["queue_id"] == qid and env["from"] == "alice@sender.example"
                  and env["rcpt"] == ["bob@rcpt.example"] and env["helo"] == "mail.sender.example"
                  and env["client_ip"] == live["envelope"]["client_ip"], json.dumps(env))
            check("%s: postcat input gives the same action and fields" % name,
                  pc["action"] == live["action"] and our_fields(pc["header_edits"]) == mine
                  and pc["message"]["ignored_fields"] == len(mine),
                  "%s %s ignored %s" % (pc["action"], our_fields(pc["header_edits"]), pc["message"]["ignored_fields"]))
    if "error" in replay:
        check(name + ": offline replay ran", False, replay["error"])
    else:
        check("%s: offline replay gives the same decision" % name,
              replay["action"] == live["action"] and replay["header_edits"] == live["header_edits"]
              and replay["checks"] == live["checks"],
              "%s %s" % (replay["action"], replay["checks"]))
        check("%s: every question was in the recorded zone" % name, replay.get("dns_not_in_zone_files") == 0,
              str(replay.get("dns_not_in_zone_files")))
        check("%s: questions with answers and TTLs" % name,
              any(q["status"] == "answer" and q["records"] and "ttl" in q["records"][0] for q in live["dns"]))
# The listed client: the hit, its list and weight.
listed = load(os.path.join(top, "listed", "check.json"))
hits = listed.get("dnsbl_hits", [])
check("listed: the DNS list hit with its weight",
      any(h["list"] == "bl.test" and h["identity"] == "192.0.2.66" and h["weight"] == 1 for h in hits), str(hits))
text = open(os.path.join(top, "listed", "replay.txt")).read()
for want in ("DNS list hits:", "bl.test", "action: tag", "dnsbl_tag_score = 1", "Authentication-Results: mx.lab.example;",
             "X-Rampart-Action: tag", "A     66.2.0.192.bl.test", "127.0.0.2 (ttl "):
    check("listed: the report shows %r" % want, want in text)
sys.exit(1 if failed else 0)
PY
finish
