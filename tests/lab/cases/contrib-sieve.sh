#!/bin/bash
# contrib/rampart.sieve files tagged mail in Junk and quarantined mail in
# Quarantine, and leaves other mail in INBOX: checked with Pigeonhole's
# sieve-test on messages as rampart delivers them.
set -euo pipefail
. "$LAB_SRC/lib/caselib.sh"
command -v sieve-test >/dev/null || { echo "sieve-test not installed (dovecot-sieve)"; exit 77; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp "$LAB_SRC/../../contrib/rampart.sieve" "$work/"
msg() { printf 'From: a@sender.example\nTo: b@rcpt.example\nSubject: s\n%s\nbody\n' "$1" > "$work/$2.eml"; }
msg "X-Rampart-Action: tag
X-Rampart-Reason: dnsbl=listed
" tag
msg "X-Rampart-Action: quarantine
" quarantine
msg "" plain
chmod 755 "$work"; chmod 644 "$work"/*
folder() { su -s /bin/sh nobody -c "sieve-test $work/rampart.sieve $work/$1.eml" 2>/dev/null | sed -n 's/^ \* store message in folder: //p' | head -1; }
expect_eq "tagged mail" Junk "$(folder tag)"
expect_eq "quarantined mail" Quarantine "$(folder quarantine)"
expect_eq "other mail" INBOX "$(folder plain)"
finish
