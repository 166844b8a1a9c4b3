#!/bin/bash
# Messages aborted mid-body, connections dropped at every stage, RSET
# between messages and a transaction with 500 recipients: rampartd stays
# up, the next message on a connection is judged on its own, and a normal
# message afterwards is accepted.
set -euo pipefail
. "$LAB_SRC/lib/caselib.sh"
[[ -n ${RAMPARTD:-} ]] || { echo "needs rampartd"; exit 77; }
pid=$(cat "$LAB_DIR/pids/rampartd.pid")
out=$(/usr/bin/python3 - <<'PY'
import smtplib, socket, sys

def session():
    s = smtplib.SMTP("127.0.0.1", 25, timeout=30)
    s.ehlo("lab-client.lab.example")
    s.docmd("XCLIENT", "ADDR=192.0.2.10 NAME=mail.sender.example HELO=mail.sender.example PROTO=ESMTP")
    s.ehlo("mail.sender.example")
    return s

msg = ("From: Alice <alice@sender.example>\r\nTo: bob@rcpt.example\r\nSubject: after abort\r\n"
       "Message-ID: <abort-%d@lab.example>\r\n\r\nbody\r\n")
results = []
# Dropped at each stage.
for stage in ("helo", "mail", "rcpt", "data", "body"):
    s = session()
    if stage != "helo":
        s.mail("alice@sender.example")
    if stage in ("rcpt", "data", "body"):
        s.rcpt("bob@rcpt.example")
    if stage in ("data", "body"):
        s.putcmd("DATA"); s.getreply()
    if stage == "body":
        s.send(b"From: x@sender.example\r\nSubject: half\r\n\r\nhalf a bo")
    s.sock.close()
    results.append("dropped-" + stage)
# RSET mid-transaction, then a good message on the same connection;
# then a second message with a forged From on the same connection.
s = session()
s.mail("alice@sender.example"); s.rcpt("bob@rcpt.example"); s.rset()
code = s.sendmail("alice@sender.example", ["bob@rcpt.example"], msg % 1)
results.append("after-rset=ok")
try:
    s.sendmail("alice@sender.example", ["bob@rcpt.example"],
               "From: a@walk.example\r\nSubject: second\r\n\r\nsecond\r\n")
    results.append("second=accepted")
except smtplib.SMTPDataError as e:
    results.append("second=%d" % e.smtp_code)
s.quit()
# 500 recipients in one transaction.
s = session()
s.mail("alice@sender.example")
for i in range(500):
    s.rcpt("user%d@rcpt.example" % i)
code, _ = s.data(msg % 2)
results.append("many-rcpts=%d" % code)
s.quit()
print(" ".join(results))
PY
)
echo "$out"
case $out in *"after-rset=ok second=550 many-rcpts=250"*) _ok "outcomes: $out" ;; *) _notok "outcomes: $out" ;; esac
if kill -0 "$pid" 2>/dev/null; then _ok "rampartd still running"; else _notok "rampartd died"; fi
grep -q "rcpts=500" "$LAB_DIR/rampartd.log" && _ok "500 recipients counted" || _notok "no log line with rcpts=500"
finish
