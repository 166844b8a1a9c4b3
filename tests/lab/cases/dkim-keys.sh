#!/bin/bash
# The lab's DKIM keys work: a message signed with each lab key verifies
# against the key published in DNS, through the lab resolver (python3-dkim
# resolves with dnspython, i.e. /etc/resolv.conf of the namespace). The
# 512-bit key is published but too small for a verifier's default minimum.
. "$LAB_SRC/lib/caselib.sh"

/usr/bin/python3 -B - <<'PY' || CASE_FAILURES=$((CASE_FAILURES + 1))
import os, sys
import dkim
keydir = os.path.join(os.environ["LAB_DIR"], "dkim")
msg = (b"From: a@dkim.example\r\nTo: b@rcpt.example\r\nSubject: keys\r\n"
       b"\r\nbody\r\n")
bad = 0
for sel, algo, minkey, want in (("rsa2048", b"rsa-sha256", 1024, True),
                                ("rsa1024", b"rsa-sha256", 1024, True),
                                ("rsa512", b"rsa-sha256", 1024, False),
                                ("rsa512", b"rsa-sha256", 512, True),
                                ("ed25519", b"ed25519-sha256", 1024, True)):
    ext = ".seed" if sel == "ed25519" else ".pem"
    key = open(os.path.join(keydir, sel + ext), "rb").read().strip()
    signed = dkim.sign(msg, sel.encode(), b"dkim.example", key,
                       signature_algorithm=algo) + msg
    got = dkim.verify(signed, minkey=minkey)
    print("%-6s %s minkey=%d verifies=%s" % ("ok" if got == want else "not ok",
                                             sel, minkey, got))
    bad += got != want
sys.exit(1 if bad else 0)
PY
finish
