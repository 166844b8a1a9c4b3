#!/bin/bash
# A DNS list's TXT reason carries CR, LF and control characters
# (inject-bl.example in zones/example.zone lists 192.0.2.44): rampartd logs
# it escaped, on one line; the X-Rampart-DNSBL header of a tagged message
# and the 554 reply of a rejected one have no injected line and no control
# character.
. "$LAB_SRC/lib/caselib.sh"
[[ -n ${RAMPARTD:-} ]] || { echo "needs rampartd"; exit 77; }

work=$(mktemp -d "$LAB_DIR/inject-dnsbl-txt.XXXXXX")
lg() { timeout 60 /usr/bin/python3 -B "$LAB_SRC/lib/loadgen.py" "$@"; }
cleanup() {
	cp "$LAB_DIR/rampart.conf.base" "$LAB_DIR/rampart.conf"
	"$LAB_SRC/lab" restart-rampartd >/dev/null
	rm -rf "$work"
}
trap cleanup EXIT

for weight in 1 3; do
	{
		cat "$LAB_DIR/rampart.conf.base"
		echo "dnsbl_sites = inject-bl.example*$weight"
		echo "dnsbl_fetch_txt = yes"
		# the milter's own lookup, which fetches the TXT reason (not the
		# policy service's result handed over)
		echo "policy_dnsbl_mode = off"
	} >"$LAB_DIR/rampart.conf"
	"$LAB_SRC/lab" restart-rampartd >/dev/null || { echo "rampartd did not restart"; exit 1; }
	logpos=$(stat -c %s "$LAB_DIR/rampartd.log")
	lg one --client 192.0.2.44 >"$work/w$weight.json" || _notok "the session failed"
	if ((weight == 1)); then
		echo "-- listed with weight 1: tagged and delivered"
		lg verify "$work/w$weight.json" --code 250 --delivered \
			--header-has "X-Rampart-DNSBL: score=1; inject-bl.example=127.0.0.2(+1)" \
			--log-from "$logpos" --log-has "dnsbl: queue_id=" --log-has "X-Injected: yes" ||
			_notok "tagged"
	else
		echo "-- listed with weight 3: rejected"
		lg verify "$work/w$weight.json" --stage eom --code 554 --reply-has "inject-bl.example" \
			--log-from "$logpos" --log-has "X-Injected: yes" || _notok "rejected"
	fi
done
finish
