#!/bin/bash
# The scanner's database is replaced while mail flows: no message fails,
# and once rampartd has reloaded (SIGUSR1) the new signature is used.
set -euo pipefail
. "$LAB_SRC/lib/caselib.sh"
[[ -n ${RAMPARTD:-} ]] || { echo "needs rampartd"; exit 77; }
marker="RAMPART-RELOAD-MARKER-$RANDOM$RANDOM"
send() { # body
	swaks --server 127.0.0.1:25 --ehlo lab-client.lab.example --xclient-addr 192.0.2.10 \
		--xclient-name mail.sender.example --xclient-helo mail.sender.example \
		--from alice@sender.example --to bob@rcpt.example \
		--header "From: Alice <alice@sender.example>" --header "Subject: reload" \
		--body "$1" 2>&1; echo "rc=$?"
}
fails=0
# Mail keeps flowing while the database changes and rampartd reloads.
for i in $(seq 1 12); do
	if (( i == 4 )); then
		hex=$(printf '%s' "$marker" | od -An -v -tx1 | tr -d ' \n')
		printf 'Rampart.Test.Reload:0:*:%s\n' "$hex" > "$LAB_DIR/clamav/reload.ndb.tmp"
		mv "$LAB_DIR/clamav/reload.ndb.tmp" "$LAB_DIR/clamav/reload.ndb"
		kill -USR1 "$(cat "$LAB_DIR/pids/rampartd.pid")"
	fi
	out=$(send "plain message $i")
	case $out in *rc=0*) ;; *) echo "message $i failed during the reload: $out"; fails=$((fails + 1)) ;; esac
done
# The reload happens in the background: give it a moment, then the new signature must be in use.
for try in 1 2 3 4 5 6 7 8 9 10; do
	out=$(send "this carries $marker inside")
	case $out in *"Rampart.Test.Reload"*) break ;; esac
	sleep 1
done
rm -f "$LAB_DIR/clamav/reload.ndb"
kill -USR1 "$(cat "$LAB_DIR/pids/rampartd.pid")"
expect_eq "messages failed during the reload" 0 "$fails"
case $out in
*"554"*"Rampart.Test.Reload"*) _ok "new signature used after the reload" ;;
*) _notok "new signature not used: $out" ;;
esac
finish
