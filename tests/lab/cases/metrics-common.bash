# shellcheck shell=bash
# metrics-common.bash -- shared by the metrics-* and explain-* script cases
# (not a case itself: the runner only takes *.case and *.sh).
#
# A case starts a rampartd of its own inside the lab's namespace, with its
# own configuration and ports, and a Postfix smtpd service of its own that
# uses it as milter and policy service; the lab's rampartd and port 25 stay
# as they are for the other cases. Everything is undone by mc_teardown.
#
#   mc_setup NAME SMTP_PORT MILTER_PORT POLICY_PORT [EXTRA_RAMPART_CONF [SMTPD_PARAM=VALUE...]]
#   mc_send ...            send one message (see mc_send below); prints the DATA reply
#   mc_scrape URL FILE     fetch a page
#   mc_teardown

MC_DIR=
MC_SERVICE=
MC_PID=

# The binary beside rampartd in a build tree, or on PATH.
mc_tool() {
	local name=$1 d
	d=$(dirname "$RAMPARTD")
	for c in "$d/../tools/$name" "$d/$name"; do
		[[ -x $c ]] && { realpath "$c"; return 0; }
	done
	command -v "$name" 2>/dev/null
}

mc_wait_port() {
	local port=$1 i
	for ((i = 0; i < 100; i++)); do
		(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

mc_setup() {
	local name=$1 smtp=$2 milter=$3 policy=$4 extra=${5:-}
	shift 5 || shift $#
	MC_DIR=$LAB_DIR/$name
	rm -rf "$MC_DIR"
	mkdir -p "$MC_DIR/av"
	sh "$LAB_SRC/../av/make-db.sh" "$MC_DIR/av" >/dev/null 2>&1 ||
		{ echo "cannot build the test signature database"; return 1; }
	cat >"$MC_DIR/rampart.conf" <<EOF
milter_listen = inet:127.0.0.1:$milter
policy_listen = inet:127.0.0.1:$policy
pid_file = $MC_DIR/rampartd.pid
log_level = info
# a private instance for this case only; the lab's own rampartd runs as user rampart
allow_root = yes
dns_forwarders = 127.0.0.1
authserv_id = mx.lab.example
dnsbl_sites = bl.test
av_database_dir = $MC_DIR/av
$extra
EOF
	"$RAMPARTD" -f -c "$MC_DIR/rampart.conf" >"$MC_DIR/rampartd.log" 2>&1 &
	MC_PID=$!
	if ! mc_wait_port "$milter" || ! mc_wait_port "$policy"; then
		echo "rampartd did not start:"
		cat "$MC_DIR/rampartd.log"
		return 1
	fi
	# An smtpd of our own: our milter, our policy service, the rest as the lab's.
	MC_SERVICE="127.0.0.1:$smtp/inet"
	postconf -c "$LAB_DIR/postfix" -M "$MC_SERVICE=127.0.0.1:$smtp inet n - n - - smtpd"
	local opts=("$MC_SERVICE/smtpd_milters=inet:127.0.0.1:$milter"
		"$MC_SERVICE/smtpd_recipient_restrictions=check_policy_service,inet:127.0.0.1:$policy") o
	for o in "$@"; do
		opts+=("$MC_SERVICE/$o")
	done
	postconf -c "$LAB_DIR/postfix" -P "${opts[@]}"
	postfix -c "$LAB_DIR/postfix" reload >/dev/null 2>&1
	mc_wait_port "$smtp" || { echo "Postfix does not listen on $smtp"; return 1; }
}

mc_teardown() {
	if [[ -n $MC_SERVICE ]]; then
		postconf -c "$LAB_DIR/postfix" -MX "$MC_SERVICE"
		postfix -c "$LAB_DIR/postfix" reload >/dev/null 2>&1
		MC_SERVICE=
	fi
	if [[ -n $MC_PID ]]; then
		kill "$MC_PID" 2>/dev/null
		wait "$MC_PID" 2>/dev/null
		MC_PID=
	fi
}

# mc_send PORT CLIENT CLIENT_NAME HELO MAIL_FROM RCPT MESSAGE_FILE
# Claims the client with XCLIENT; prints the last reply as "CODE TEXT"
# (the DATA reply, or the one that refused the transaction).
mc_send() {
	python3 - "$@" <<'PY'
import smtplib, sys
port, client, name, helo, mail_from, rcpt, path = sys.argv[1:8]
msg = open(path, "rb").read()
s = smtplib.SMTP("127.0.0.1", int(port), local_hostname="lab-client.lab.example", timeout=60)
s.ehlo()
code, text = s.docmd("XCLIENT", "ADDR=%s NAME=%s HELO=%s PROTO=ESMTP" % (client, name, helo))
if code != 220:
    print(code, text.decode()); sys.exit(0)
s.ehlo(helo)
for step in (lambda: s.mail(mail_from), lambda: s.rcpt(rcpt)):
    code, text = step()
    if code >= 300:
        print(code, text.decode()); s.quit(); sys.exit(0)
code, text = s.data(msg)
print(code, text.decode().replace("\n", " "))
try:
    s.quit()
except Exception:
    pass
PY
}

# mc_scrape URL FILE
mc_scrape() {
	python3 - "$1" "$2" <<'PY'
import sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=10) as r:
    open(sys.argv[2], "wb").write(r.read())
PY
}
