#!/bin/bash
# rampartd names its own threads, so that ps -L, top -H and perf tell them
# apart: the DNS dispatcher, the reload thread, the policy service's event
# loop and workers. libmilter's threads keep the process's name. (The kept
# SPF workers, rampart-work, start with the first SPF check the milter
# makes itself; in the lab the policy service hands its result over.)
. "$LAB_SRC/lib/caselib.sh"
[[ -n ${RAMPARTD:-} ]] || { echo "needs rampartd"; exit 77; }

pid=$(tr -dc 0-9 <"$LAB_DIR/pids/rampartd.pid" 2>/dev/null)
[[ -n $pid && -d /proc/$pid ]] || { echo "rampartd is not running"; exit 1; }

# One message through the milter and the policy service.
swaks --server 127.0.0.1:25 --ehlo lab-client.lab.example --xclient-addr 192.0.2.10 \
	--xclient-name mail.sender.example --xclient-helo mail.sender.example \
	--from alice@sender.example --to bob@rcpt.example \
	--header "From: Alice <alice@sender.example>" --header "Subject: threads-named" \
	--body "threads" >/dev/null 2>&1 || _notok "the message was not accepted"
names=$(cat /proc/"$pid"/task/*/comm 2>/dev/null | sort -u | tr '\n' ' ')
for want in rampart-dns rampart-reload rampart-polloop rampart-policy rampartd; do
	if grep -qw -- "$want" <<<"$names"; then
		_ok "a thread named $want"
	else
		_notok "no thread named $want among: $names"
	fi
done
finish
