#!/bin/bash
# Text from the envelope and the header that rampart echoes: a HELO name with
# a bare CR and control characters, a sender with control characters in a
# quoted local part, a From: with control characters. The delivered
# message's Authentication-Results and Received-SPF headers, the replies
# and rampartd's log carry none of them raw and no injected line.
. "$LAB_SRC/lib/caselib.sh"
[[ -n ${RAMPARTD:-} ]] || { echo "needs rampartd"; exit 77; }

work=$(mktemp -d "$LAB_DIR/inject-envelope.XXXXXX")
lg() { timeout 60 /usr/bin/python3 -B "$LAB_SRC/lib/loadgen.py" "$@"; }
cleanup() {
	cp "$LAB_DIR/rampart.conf.base" "$LAB_DIR/rampart.conf"
	"$LAB_SRC/lab" restart-rampartd >/dev/null
	rm -rf "$work"
}
trap cleanup EXIT

{
	cat "$LAB_DIR/rampart.conf.base"
	echo "spf_received_spf_header = yes"
} >"$LAB_DIR/rampart.conf"
"$LAB_SRC/lab" restart-rampartd >/dev/null || { echo "rampartd did not restart"; exit 1; }

echo "-- a HELO name with a bare CR, ESC and BEL"
logpos=$(stat -c %s "$LAB_DIR/rampartd.log")
lg one --helo 'evil\rX-Injected:yes\x1b[2J\x07.example' >"$work/helo.json"
lg verify "$work/helo.json" --code 250 --delivered \
	--header-has "Authentication-Results: mx.lab.example;" --header-has "Received-SPF:" \
	--log-from "$logpos" --log-has "X-Injected:yes" || _notok "HELO"

echo "-- a sender with control characters"
logpos=$(stat -c %s "$LAB_DIR/rampartd.log")
lg one --mail-from '"x\x1b[31m\x07y"@sender.example' --header 'From: <alice@sender.example>' \
	>"$work/sender.json"
lg verify "$work/sender.json" --code 250 --delivered --header-has "smtp.mailfrom=" \
	--log-from "$logpos" || _notok "sender"

echo "-- a From: with control characters"
logpos=$(stat -c %s "$LAB_DIR/rampartd.log")
lg one --header 'From: "\x1b[31mEvil\x07" <alice@sender.example>' >"$work/from.json"
lg verify "$work/from.json" --stage eom --log-from "$logpos" || _notok "From"
finish
