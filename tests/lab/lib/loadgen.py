#!/usr/bin/python3
"""loadgen.py -- mixed SMTP traffic through the lab, every message accounted for.

Runs inside the lab's network namespace and talks to the lab's Postfix on
127.0.0.1:25 the way the cases do: EHLO, XCLIENT (claiming a client address,
name and HELO), EHLO, MAIL, RCPT, DATA, QUIT. Each message has a kind that
says what must become of it:

  plain         from sender.example's addresses (several, IPv4 and IPv6): accepted
  spf_fail      sender.example's mail from 198.51.100.x: 550 5.7.23
  dmarc_reject  From: walk.example (p=reject), no alignment: 550 5.7.1 DMARC
  eicar         the EICAR test file attached: 554 5.7.0 Virus found
  dkim          DKIM-signed by dkim.example (rsa2048): accepted, dkim=pass
  fresh         from a sender domain never used before (mN.RUN.fault.example,
                an SPF wildcard): accepted; every message needs DNS lookups
                that no cache answers

A reply 4xx, or a lost connection, is a temporary failure: the message stays
with the sender (this program, which plays the sending MTA) and may be sent
again. Mail that Postfix accepted (250) must reach the sink
($LAB_DIR/sink/QUEUEID.eml) or still sit in Postfix's queue; anything else
is lost.

Commands:
  load N C [--mix ...]     the load test (tests/lab/load): warm-up, N messages
                           with C sessions at once, then checks and figures
                           about rampartd (RSS, descriptors, threads)
  send STATE [options]     send messages, append them and their outcomes to
                           STATE (a JSON file)
  retry STATE [options]    send again the messages whose last attempt failed
                           temporarily, until none is left (bounded)
  settle STATE [options]   flush Postfix's queue and wait until every
                           accepted message is in the sink (bounded)
  check STATE [options]    count sent = delivered + rejected + deferred
                           (+ in Postfix's queue); print "ok"/"not ok" lines;
                           exit 1 if a check failed
  one [options]            one session with the arguments as given (escapes
                           such as \r, \n, \x1b allowed); prints every reply
                           exactly as received, as JSON
  verify SESSION [options] check that untrusted text came out clean: no
                           control character, no injected line, bounded
                           length, in the replies, rampartd's log and the
                           delivered header

Environment: LAB_DIR (default /tmp/rampart-lab).
"""

import argparse
import asyncio
import base64
import collections
import email.utils
import json
import os
import re
import signal
import subprocess
import sys
import time

LAB_SRC = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LAB_DIR = os.path.realpath(os.environ.get("LAB_DIR", "/tmp/rampart-lab"))
PF_CONF = os.path.join(LAB_DIR, "postfix")
SINK_DIR = os.path.join(LAB_DIR, "sink")
SMTP_ADDR = ("127.0.0.1", 25)
MILTER_PORT, POLICY_PORT = 8894, 10045
AUTHSERV = "mx.lab.example"
REPLY_TIMEOUT = 60.0
RCPT = "bob@rcpt.example"

# kind -> what the message is made of and what must become of it.
# expect: None = accepted (and delivered), else (CODE, TEXT the reply holds).
KINDS = {
    "plain": {"clients": ["192.0.2.10", "192.0.2.11", "192.0.2.12", "192.0.2.20", "2001:db8::10"],
              "mail_from": "alice@sender.example", "from": "Alice <alice@sender.example>",
              "expect": None,
              "headers": ["spf=pass smtp.mailfrom=alice@sender.example", "dmarc=pass"]},
    "spf_fail": {"clients": ["198.51.100.66", "198.51.100.67"],
                 "mail_from": "alice@sender.example", "from": "<alice@sender.example>",
                 "expect": (550, "5.7.23")},
    "dmarc_reject": {"clients": ["192.0.2.10", "192.0.2.11"],
                     "mail_from": "alice@sender.example", "from": "Alice <alice@walk.example>",
                     "expect": (550, "5.7.1 DMARC policy of walk.example")},
    "eicar": {"clients": ["192.0.2.10", "192.0.2.12"],
              "mail_from": "alice@sender.example", "from": "Alice <alice@sender.example>",
              "expect": (554, "Virus found: Rampart.Test.EICAR")},
    "dkim": {"clients": ["192.0.2.10"],
             "mail_from": "alice@sender.example", "from": "News <news@dkim.example>",
             "expect": None,
             "headers": ["dkim=pass header.d=dkim.example", "dmarc=pass header.from=dkim.example"]},
    "fresh": {"clients": ["192.0.2.10", "192.0.2.11"],
              "mail_from": "alice@@DOMAIN@", "from": "Alice <alice@@DOMAIN@>",
              "expect": None, "headers": ["spf=pass"]},
}
DEFAULT_MIX = "plain=40,spf_fail=15,dmarc_reject=15,eicar=10,dkim=20"


def parse_mix(text):
    mix = []
    for part in text.split(","):
        name, _, weight = part.strip().partition("=")
        if name not in KINDS:
            sys.exit("loadgen: unknown kind %r (known: %s)" % (name, ", ".join(KINDS)))
        mix.append((name, int(weight or "1")))
    return mix


def kinds_for(count, mix, offset=0):
    """count kinds, interleaved in the proportions of mix (deterministic)."""
    total = sum(w for _, w in mix)
    seq = []
    for name, w in mix:
        seq += [name] * w
    # spread each kind over the cycle instead of runs of one kind
    order = sorted(range(total), key=lambda i: (i * 7919) % total)
    cycle = [seq[i] for i in order]
    return [cycle[(offset + i) % total] for i in range(count)]


# ---------------------------------------------------------------- messages

def eicar_b64():
    """The EICAR test file, base64 in lines of 76: put together from two
    halves here, never stored whole in the source tree."""
    text = "X5O!P%@AP[4\\PZX54(P^)7CC)7}$" + "EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
    b = base64.b64encode(text.encode()).decode()
    return "\n".join(b[i:i + 76] for i in range(0, len(b), 76))


class Builder:
    """Message text per kind. DKIM-signed messages come from a few templates
    signed once (signing every message would cost the generator more than
    the server)."""

    def __init__(self, run):
        self.run = run
        self.dkim_templates = []

    def text(self, m):
        subject = "loadgen %s %s" % (m["kind"], m["id"])
        msgid = "<%s.%s@loadgen.lab.example>" % (m["id"], self.run)
        head = ["From: %s" % m["from"], "To: Bob <%s>" % RCPT, "Subject: %s" % subject,
                "Date: %s" % email.utils.formatdate(localtime=True), "Message-ID: %s" % msgid,
                "MIME-Version: 1.0"]
        if m["kind"] == "eicar":
            head.append('Content-Type: multipart/mixed; boundary="lg1"')
            body = ["--lg1", "Content-Type: text/plain", "", "See the attachment.", "",
                    "--lg1", 'Content-Type: application/octet-stream; name="invoice.com"',
                    'Content-Disposition: attachment; filename="invoice.com"',
                    "Content-Transfer-Encoding: base64", "", eicar_b64(), "--lg1--"]
        else:
            head.append("Content-Type: text/plain; charset=us-ascii")
            body = ["Message %s of kind %s." % (m["id"], m["kind"]), "",
                    "Some text so that the body is not empty."]
        text = "\r\n".join(head) + "\r\n\r\n" + "\r\n".join(body) + "\r\n"
        if m["kind"] == "dkim":
            return self.signed(text, m)
        return text.encode()

    def signed(self, text, m):
        import dkim
        if len(self.dkim_templates) < 16:
            with open(os.path.join(LAB_DIR, "dkim", "rsa2048.pem"), "rb") as f:
                key = f.read()
            msg = text.encode()
            sig = dkim.sign(msg, b"rsa2048", b"dkim.example", key,
                            canonicalize=(b"relaxed", b"relaxed"))
            self.dkim_templates.append(sig + msg)
            return sig + msg
        return self.dkim_templates[int(m["id"]) % len(self.dkim_templates)]


def new_message(i, kind, run, tag):
    k = KINDS[kind]
    domain = "m%d.%s.fault.example" % (i, run)
    client = k["clients"][(i * 2654435761 >> 8) % len(k["clients"])]
    return {"id": str(i), "kind": kind, "tag": tag, "client": client,
            "mail_from": k["mail_from"].replace("@DOMAIN@", domain),
            "from": k["from"].replace("@DOMAIN@", domain), "attempts": []}


# ---------------------------------------------------------------- SMTP

def xtext(s):
    return "".join(c if "!" <= c <= "~" and c not in "+=" else "+%02X" % ord(c) for c in s)


class Failure(Exception):
    def __init__(self, stage, code, text):
        super().__init__(text)
        self.stage, self.code, self.text = stage, code, text


async def read_reply(reader, stage):
    lines = []
    while True:
        try:
            line = await asyncio.wait_for(reader.readline(), REPLY_TIMEOUT)
        except asyncio.TimeoutError:
            raise Failure(stage, None, "timeout after %ds" % REPLY_TIMEOUT)
        except (OSError, ValueError) as e:
            raise Failure(stage, None, "read failed: %s" % e)
        if not line:
            raise Failure(stage, None, "connection closed" + (": " + " | ".join(lines) if lines else ""))
        s = line.decode("utf-8", "replace").rstrip("\r\n")
        lines.append(s)
        if len(s) < 4 or s[3] != "-":
            break
    code = int(s[:3]) if s[:3].isdigit() else None
    return code, lines


async def command(reader, writer, stage, line, want):
    if line is not None:
        writer.write(line.encode() + b"\r\n")
    code, lines = await read_reply(reader, stage)
    if code != want:
        raise Failure(stage, code, " | ".join(lines))
    return lines


async def smtp_send(m, data):
    """One SMTP session for message m; returns the attempt's record."""
    t0 = time.monotonic()
    att = {"time": round(time.time(), 3), "stage": "connect", "code": None, "text": "", "qid": None}
    writer = None
    try:
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(*SMTP_ADDR), REPLY_TIMEOUT)
        except (OSError, asyncio.TimeoutError) as e:
            raise Failure("connect", None, "connect failed: %s" % e)
        await command(reader, writer, "connect", None, 220)
        await command(reader, writer, "ehlo", "EHLO lab-client.lab.example", 250)
        addr = m["client"]
        if ":" in addr:
            addr = "IPv6:" + addr
        await command(reader, writer, "xclient",
                      "XCLIENT ADDR=%s NAME=%s HELO=%s PROTO=ESMTP"
                      % (xtext(addr), xtext("mail.sender.example"), xtext("mail.sender.example")), 220)
        await command(reader, writer, "helo", "EHLO mail.sender.example", 250)
        await command(reader, writer, "mail", "MAIL FROM:<%s>" % m["mail_from"], 250)
        await command(reader, writer, "rcpt", "RCPT TO:<%s>" % RCPT, 250)
        await command(reader, writer, "data", "DATA", 354)
        writer.write(re.sub(rb"(?m)^\.", b"..", data) + b".\r\n")
        att["stage"] = "eom"
        lines = await command(reader, writer, "eom", None, 250)
        att["code"], att["text"] = 250, " | ".join(lines)
        q = re.search(r"queued as ([0-9A-Za-z]+)", att["text"])
        att["qid"] = q.group(1) if q else None
        writer.write(b"QUIT\r\n")
        try:
            await asyncio.wait_for(reader.read(4096), 5)
        except (asyncio.TimeoutError, OSError):
            pass
    except Failure as f:
        att["stage"], att["code"], att["text"] = f.stage, f.code, f.text
    except OSError as e:
        att["code"], att["text"] = None, "I/O error: %s" % e
    finally:
        if writer is not None:
            writer.close()
            try:
                await writer.wait_closed()
            except OSError:
                pass
    att["ms"] = int((time.monotonic() - t0) * 1000)
    return att


def outcome(att):
    """accepted, rejected or tempfail."""
    if att["code"] == 250 and att["stage"] == "eom":
        return "accepted"
    if att["code"] is not None and 500 <= att["code"] < 600:
        return "rejected"
    return "tempfail"


def judge(m, att):
    """ok (the outcome the kind expects), tempfail, or wrong."""
    o = outcome(att)
    if o == "tempfail":
        return "tempfail"
    exp = KINDS[m["kind"]]["expect"]
    if exp is None:
        return "ok" if o == "accepted" else "wrong"
    return "ok" if o == "rejected" and att["code"] == exp[0] and exp[1] in att["text"] else "wrong"


async def run_batch(msgs, builder, concurrency, rate=0.0, progress=None, sampler=None):
    """Send msgs, concurrency sessions at once, at most rate sessions started per second."""
    queue = collections.deque(msgs)
    state = {"started": 0, "done": 0}
    t0 = time.monotonic()

    async def worker():
        while queue:
            m = queue.popleft()
            if rate > 0:
                due = t0 + state["started"] / rate
                state["started"] += 1
                if due > time.monotonic():
                    await asyncio.sleep(due - time.monotonic())
            att = await smtp_send(m, builder.text(m))
            m["attempts"].append(att)
            state["done"] += 1
            if progress:
                with open(progress + ".tmp", "w") as f:
                    f.write("%d\n" % state["done"])
                os.replace(progress + ".tmp", progress)

    tasks = [asyncio.ensure_future(worker()) for _ in range(max(1, min(concurrency, len(msgs))))]
    stop = None
    if sampler is not None:
        stop = asyncio.Event()
        samp = asyncio.ensure_future(sampler(stop))
    await asyncio.gather(*tasks)
    if stop is not None:
        stop.set()
        await samp
    return time.monotonic() - t0


# ---------------------------------------------------------------- the queue and the sink

def postqueue_ids():
    p = subprocess.run(["postqueue", "-c", PF_CONF, "-j"], capture_output=True, text=True, timeout=60)
    ids = {}
    for line in p.stdout.splitlines():
        try:
            e = json.loads(line)
        except ValueError:
            continue
        ids[e.get("queue_id")] = e.get("queue_name")
    return ids


def sink_names():
    try:
        return set(os.listdir(SINK_DIR))
    except OSError:
        return set()


def accepted_qid(m):
    if m["attempts"] and outcome(m["attempts"][-1]) == "accepted":
        return m["attempts"][-1]["qid"] or "(no queue id)"
    return None


def header_lines(path):
    with open(path, "rb") as f:
        data = f.read(256 * 1024)
    head = re.split(rb"\r?\n\r?\n", data, maxsplit=1)[0].decode("utf-8", "replace")
    head = re.sub(r"\r?\n[ \t]+", " ", head)
    return [" ".join(h.split()) for h in re.split(r"\r?\n", head) if h]


def settle(msgs, timeout):
    """Flush Postfix's queue; wait until every accepted message is in the sink."""
    want = {q for q in (accepted_qid(m) for m in msgs) if q}
    subprocess.run(["postqueue", "-c", PF_CONF, "-f"], capture_output=True, timeout=60)
    deadline = time.monotonic() + timeout
    last_flush = time.monotonic()
    while True:
        names = sink_names()
        missing = [q for q in want if q + ".eml" not in names]
        if not missing or time.monotonic() > deadline:
            return len(want) - len(missing), len(missing)
        if time.monotonic() - last_flush > 5:
            subprocess.run(["postqueue", "-c", PF_CONF, "-f"], capture_output=True, timeout=60)
            last_flush = time.monotonic()
        time.sleep(0.2)


# ---------------------------------------------------------------- accounting

class Checks:
    def __init__(self):
        self.passed = self.failed = 0

    def check(self, ok, text, detail=None):
        if ok:
            self.passed += 1
            print("ok     %s" % text)
        else:
            self.failed += 1
            print("not ok %s" % text)
            for d in (detail or [])[:10]:
                print("         %s" % d)
            if detail and len(detail) > 10:
                print("         (%d more)" % (len(detail) - 10))
        sys.stdout.flush()


def account(msgs, label="", allow_tempfail=True, final=False, kind_headers=False,
            require=(), forbid=(), checks=None):
    """Count what became of msgs and check it; returns the counts."""
    checks = checks or Checks()
    names = sink_names()
    queue = postqueue_ids()
    c = collections.Counter()
    wrong, lost, badhdr, tempfails = [], [], [], []
    for m in msgs:
        c["sent"] += 1
        for a in m["attempts"]:
            j = judge(m, a)
            c["attempts"] += 1
            if j == "tempfail":
                c["tempfail replies"] += 1
                tempfails.append("%s %s: %s %s %s" % (m["kind"], m["id"], a["stage"], a["code"], a["text"][:160]))
            elif j == "wrong":
                wrong.append("%s %s (from %s, %s): %s %s %s" % (m["kind"], m["id"], m["client"], m["mail_from"],
                                                                a["stage"], a["code"], a["text"][:200]))
        last = m["attempts"][-1] if m["attempts"] else None
        o = outcome(last) if last else "tempfail"
        if o == "rejected":
            c["rejected"] += 1
        elif o == "tempfail":
            c["deferred"] += 1
        else:
            q = last["qid"] or ""
            if q and q + ".eml" in names:
                c["delivered"] += 1
                hs = header_lines(os.path.join(SINK_DIR, q + ".eml"))
                ar = [h for h in hs if re.match(r"(?i)authentication-results:\s*%s\s*;" % re.escape(AUTHSERV), h)]
                want = list(require) + (KINDS[m["kind"]].get("headers", []) if kind_headers else [])
                miss = [w for w in want if not any(w in h for h in hs)]
                extra = [w for w in forbid if any(w in h for h in hs)]
                if len(ar) != 1 or miss or extra:
                    badhdr.append("%s %s (%s): %d Authentication-Results: %s headers%s%s" % (
                        m["kind"], m["id"], q, len(ar), AUTHSERV,
                        "; missing: %s" % ", ".join(miss) if miss else "",
                        "; present: %s" % ", ".join(extra) if extra else ""))
            elif q in queue:
                c["in Postfix's queue"] += 1
            else:
                c["lost"] += 1
                lost.append("%s %s: queue id %s neither in the sink nor in Postfix's queue" % (m["kind"], m["id"], q))
    p = (label + ": ") if label else ""
    print("%ssent %d = delivered %d + rejected %d + deferred (still with the sender) %d"
          " + in Postfix's queue %d + lost %d; %d attempts, %d temporary failures" % (
              p, c["sent"], c["delivered"], c["rejected"], c["deferred"], c["in Postfix's queue"],
              c["lost"], c["attempts"], c["tempfail replies"]))
    if tempfails:
        seen = collections.Counter(re.sub(r"\bm\d+\.[0-9a-f]+\.fault\.example", "mN.RUN.fault.example",
                                          re.sub(r"^\S+ \S+: ", "", t)) for t in tempfails)
        for text, k in seen.most_common(4):
            print("  %dx %s" % (k, text))
    checks.check(not wrong, "%sno message with an outcome its kind does not allow" % p, wrong)
    checks.check(not lost, "%snothing lost: every accepted message is in the sink or in Postfix's queue" % p, lost)
    checks.check(not badhdr, "%severy delivered message carries one Authentication-Results: %s%s" % (
        p, AUTHSERV, " and what its kind must show" if kind_headers or require or forbid else ""), badhdr)
    if not allow_tempfail:
        checks.check(not tempfails, "%sno temporary failure" % p, tempfails)
    if final:
        checks.check(c["deferred"] == 0 and c["in Postfix's queue"] == 0,
                     "%severy message delivered or rejected in the end (deferred %d, queued %d)" % (
                         p, c["deferred"], c["in Postfix's queue"]))
    return c, checks


# ---------------------------------------------------------------- state files

def load_state(path):
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        return {"run": "%x%04x" % (int(time.time()), os.getpid() & 0xffff), "messages": []}


def save_state(path, st):
    with open(path + ".tmp", "w") as f:
        json.dump(st, f)
    os.replace(path + ".tmp", path)


def select(st, tag):
    return [m for m in st["messages"] if tag is None or m["tag"] == tag]


def cmd_send(a):
    st = load_state(a.state)
    base = len(st["messages"])
    msgs = [new_message(base + i, k, st["run"], a.tag)
            for i, k in enumerate(kinds_for(a.count, parse_mix(a.mix), base))]
    st["messages"] += msgs
    secs = asyncio.run(run_batch(msgs, Builder(st["run"]), a.concurrency, a.rate, a.progress))
    save_state(a.state, st)
    c = collections.Counter(outcome(m["attempts"][-1]) for m in msgs)
    print("sent %d (%s) in %.1f s: %s" % (len(msgs), a.tag or "untagged", secs,
                                          ", ".join("%s %d" % kv for kv in sorted(c.items()))))
    return 0


def cmd_retry(a):
    st = load_state(a.state)
    builder = Builder(st["run"])
    deadline = time.monotonic() + a.timeout
    for rnd in range(1, a.rounds + 1):
        pending = [m for m in select(st, a.tag) if m["attempts"] and outcome(m["attempts"][-1]) == "tempfail"]
        if not pending:
            break
        asyncio.run(run_batch(pending, builder, a.concurrency))
        left = sum(1 for m in pending if outcome(m["attempts"][-1]) == "tempfail")
        print("retry round %d: %d sent again, %d still failing temporarily" % (rnd, len(pending), left))
        save_state(a.state, st)
        if not left or time.monotonic() > deadline:
            break
        time.sleep(a.interval)
    return 0


def cmd_settle(a):
    st = load_state(a.state)
    done, missing = settle(select(st, a.tag), a.timeout)
    print("settle: %d accepted messages in the sink, %d not (yet)" % (done, missing))
    return 0


def cmd_check(a):
    st = load_state(a.state)
    _, checks = account(select(st, a.tag), a.tag or "", allow_tempfail=not a.no_tempfail, final=a.final,
                        kind_headers=a.kind_headers, require=a.header, forbid=a.no_header)
    return 1 if checks.failed else 0


# ---------------------------------------------------------------- one session, raw

def cmd_one(a):
    """One SMTP session with arguments taken literally (\\xHH, \\r, \\n
    escapes allowed); prints JSON: every reply's lines exactly as received
    (bytes as latin-1) and the queue id."""
    import socket
    unesc = lambda s: s.encode("latin-1", "backslashreplace").decode("unicode_escape").encode("latin-1")
    out = {"replies": [], "qid": None}
    sock = socket.create_connection(SMTP_ADDR, timeout=REPLY_TIMEOUT)
    f = sock.makefile("rb")

    def reply(stage):
        lines = []
        while True:
            line = f.readline(65536)
            if not line:
                lines.append("(connection closed)")
                break
            s = line.decode("latin-1")
            lines.append(s[:-2] if s.endswith("\r\n") else s)
            if len(s) < 4 or s[3] != "-":
                break
        code = int(lines[-1][:3]) if lines[-1][:3].isdigit() else None
        out["replies"].append({"stage": stage, "code": code, "lines": lines})
        return code

    def cmd(stage, raw):
        sock.sendall(raw + b"\r\n")
        return reply(stage)

    try:
        ok = reply("connect") == 220 and cmd("ehlo", b"EHLO lab-client.lab.example") == 250
        if ok:
            attrs = b"XCLIENT ADDR=" + xtext(("IPv6:" if ":" in a.client else "") + a.client).encode()
            attrs += b" NAME=" + xtext(unesc(a.name).decode("latin-1")).encode()
            attrs += b" HELO=" + xtext(unesc(a.helo).decode("latin-1")).encode() + b" PROTO=ESMTP"
            ok = cmd("xclient", attrs) == 220 and cmd("helo", b"EHLO " + unesc(a.helo)) == 250
        ok = ok and cmd("mail", b"MAIL FROM:<" + unesc(a.mail_from) + b">") == 250
        ok = ok and cmd("rcpt", b"RCPT TO:<" + unesc(a.rcpt) + b">") == 250
        ok = ok and cmd("data", b"DATA") == 354
        if ok:
            head = [unesc(h) for h in a.header] or [b"From: <" + unesc(a.mail_from) + b">"]
            head += [b"To: <" + unesc(a.rcpt) + b">", b"Subject: loadgen one",
                     b"Message-ID: <%d.%d@loadgen.lab.example>" % (time.time() * 1000, os.getpid())]
            msg = b"\r\n".join(head) + b"\r\n\r\n" + unesc(a.body) + b"\r\n"
            sock.sendall(re.sub(rb"(?m)^\.", b"..", msg) + b".\r\n")
            if reply("eom") == 250:
                q = re.search(r"queued as ([0-9A-Za-z]+)", out["replies"][-1]["lines"][-1])
                out["qid"] = q.group(1) if q else None
            cmd("quit", b"QUIT")
    except OSError as e:
        out["replies"].append({"stage": "error", "code": None, "lines": [str(e)]})
    finally:
        sock.close()
    print(json.dumps(out))
    return 0


CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def cmd_verify(a):
    """Check that untrusted text came out clean: in the replies of a session
    (JSON of `one`), in rampartd's log from a byte offset, in the header of
    the delivered message. Prints ok/not ok lines; exit 1 on a failure."""
    checks = Checks()
    with open(a.session) as f:
        sess = json.load(f)
    final = [r for r in sess["replies"] if r["stage"] not in ("quit", "error")][-1]
    if a.stage is not None:
        checks.check(final["stage"] == a.stage, "the session ended at %s (wanted %s)" % (final["stage"], a.stage))
    if a.code is not None:
        checks.check(final["code"] == a.code, "reply %s (wanted %s): %r" % (final["code"], a.code, final["lines"]))
    bad = []
    for r in sess["replies"]:
        for line in r["lines"]:
            text = line[4:]
            if CONTROL.search(line):
                bad.append("%s: control character in %r" % (r["stage"], line))
            if text.lstrip().lower().startswith("x-injected"):
                bad.append("%s: injected line %r" % (r["stage"], line))
            if len(line) + 2 > 512:
                bad.append("%s: line of %d bytes (SMTP allows 512)" % (r["stage"], len(line) + 2))
    checks.check(not bad, "every reply line printable, at most 512 bytes, none injected "
                 "(%d lines in the last reply, the longest %d bytes)" % (
                     len(final["lines"]), max(len(l) + 2 for l in final["lines"])), bad)
    for t in a.reply_has:
        checks.check(any(t in l for l in final["lines"]), "the reply holds %r" % t)
    if a.log_from is not None:
        deadline = time.monotonic() + 3
        while True:
            with open(os.path.join(LAB_DIR, "rampartd.log"), "rb") as f:
                f.seek(a.log_from)
                log = f.read().decode("latin-1")
            if all(t in log for t in a.log_has) or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        bad = []
        for line in log.split("\n"):
            if CONTROL.search(line.replace("\t", " ")):
                bad.append("control character in %r" % line[:300])
            if line.lower().startswith("x-injected"):
                bad.append("injected log line %r" % line[:300])
        checks.check(not bad, "rampartd's log: no control character, no injected line", bad)
        for t in a.log_has:
            lines = [l for l in log.split("\n") if t in l]
            checks.check(bool(lines), "rampartd logged %r%s" % (t, (": " + lines[0][:400]) if lines else ""))
    if a.delivered:
        qid = sess.get("qid")
        path = os.path.join(SINK_DIR, "%s.eml" % qid)
        for _ in range(100):
            if qid and os.path.exists(path):
                break
            time.sleep(0.2)
        checks.check(qid and os.path.exists(path), "delivered (queue id %s)" % qid)
        if qid and os.path.exists(path):
            with open(path, "rb") as f:
                head = re.split(rb"\r\n\r\n", f.read(), maxsplit=1)[0].decode("latin-1")
            bad = []
            for line in head.split("\r\n"):
                if CONTROL.search(line.replace("\t", " ")):
                    bad.append("control character in %r" % line[:300])
                if line.lower().startswith("x-injected"):
                    bad.append("injected header %r" % line[:300])
            checks.check(not bad, "the delivered header: no control character, no bare CR or LF, "
                         "no injected field", bad)
            unfolded = re.sub(r"\r\n[ \t]+", " ", head)
            for t in a.header_has:
                lines = [l for l in unfolded.split("\r\n") if t in l]
                checks.check(bool(lines), "the delivered header holds %r%s" % (
                    t, (": " + lines[0][:300]) if lines else ""))
    return 1 if checks.failed else 0


# ---------------------------------------------------------------- the load test

def proc_status(pid):
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.strip()
    return out


def proc_figures(pid):
    st = proc_status(pid)
    kb = lambda k: int(st.get(k, "0 kB").split()[0])
    fds = os.listdir("/proc/%d/fd" % pid)
    kinds = collections.Counter()
    for fd in fds:
        try:
            t = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            continue
        kinds[t.split(":")[0] if ":" in t and not t.startswith("/") else "file"] += 1
    return {"rss": kb("VmRSS"), "hwm": kb("VmHWM"), "fds": len(fds), "fd_kinds": dict(kinds),
            "threads": len(os.listdir("/proc/%d/task" % pid))}


def established_to_rampartd():
    """TCP connections in this namespace with rampartd's ports at one end."""
    n = 0
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(path) as f:
                next(f)
                for line in f:
                    w = line.split()
                    lport = int(w[1].rsplit(":", 1)[1], 16)
                    # ESTABLISHED or CLOSE_WAIT: a descriptor of rampartd's
                    if w[3] in ("01", "08") and lport in (MILTER_PORT, POLICY_PORT):
                        n += 1
        except OSError:
            pass
    return n


def quiesce(pid, timeout=30.0):
    """Close every connection to rampartd (Postfix keeps policy connections
    in idle smtpd processes: a reload ends those), then wait until its
    threads and descriptors stop changing."""
    subprocess.run(["postfix", "-c", PF_CONF, "reload"], capture_output=True, timeout=60)
    deadline = time.monotonic() + timeout
    while established_to_rampartd() and time.monotonic() < deadline:
        time.sleep(0.2)
    prev = None
    while time.monotonic() < deadline:
        f = proc_figures(pid)
        cur = (f["fds"], f["threads"])
        if cur == prev:
            return f, established_to_rampartd()
        prev = cur
        time.sleep(1.0)
    return proc_figures(pid), established_to_rampartd()


def is_asan(pid):
    try:
        with open("/proc/%d/maps" % pid) as f:
            return "libasan" in f.read()
    except OSError:
        return False


def rampartd_pid():
    with open(os.path.join(LAB_DIR, "pids", "rampartd.pid")) as f:
        return int(f.read().strip())


def mib(kb):
    return "%.1f MiB" % (kb / 1024.0)


def cmd_load(a):
    n, conc = a.messages, a.concurrency
    mix = parse_mix(a.mix)
    pid = rampartd_pid()
    os.kill(pid, 0)
    asan = is_asan(pid)
    run = "%x%04x" % (int(time.time()), os.getpid() & 0xffff)
    builder = Builder(run)
    checks = Checks()
    logpath = os.path.join(LAB_DIR, "rampartd.log")
    total = sum(w for _, w in mix)
    print("load: %d messages, %d sessions at once; mix %s; rampartd pid %d%s" % (
        n, conc, ", ".join("%s %d%%" % (k, round(100.0 * w / total)) for k, w in mix), pid,
        " (built with AddressSanitizer)" if asan else ""))
    sys.stdout.flush()

    warm = a.warmup if a.warmup >= 0 else min(max(n // 10, 2 * conc), 1000)
    wmsgs = [new_message(i, k, run, "warm-up") for i, k in enumerate(kinds_for(warm, mix))]
    secs = asyncio.run(run_batch(wmsgs, builder, conc))
    print("load: warm-up: %d messages in %.1f s" % (warm, secs))
    sys.stdout.flush()
    before, open_before = quiesce(pid)

    log_start = os.path.getsize(logpath) if os.path.exists(logpath) else 0
    msgs = [new_message(warm + i, k, run, "load") for i, k in enumerate(kinds_for(n, mix, warm))]
    peak = {"rss": before["rss"], "threads": before["threads"], "fds": before["fds"]}

    async def sampler(stop):
        while not stop.is_set():
            try:
                f = proc_figures(pid)
            except OSError:
                return
            for k in peak:
                peak[k] = max(peak[k], f[k])
            try:
                await asyncio.wait_for(stop.wait(), 0.25)
            except asyncio.TimeoutError:
                pass

    secs = asyncio.run(run_batch(msgs, builder, conc, sampler=sampler))
    rate = n / secs if secs > 0 else 0.0
    lat = sorted(m["attempts"][-1]["ms"] for m in msgs)
    pct = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] if lat else 0
    print("load: %d messages in %.1f s: %.1f messages/s; session time p50 %d ms, p99 %d ms, max %d ms" % (
        n, secs, rate, pct(0.50), pct(0.99), lat[-1] if lat else 0))
    sys.stdout.flush()

    t0 = time.monotonic()
    done, missing = settle(msgs, a.settle_timeout)
    print("load: delivery to the sink: %d accepted messages there %.1f s after the last reply%s" % (
        done, time.monotonic() - t0, (", %d missing" % missing) if missing else ""))

    after, open_after = quiesce(pid)
    try:
        hwm = proc_figures(pid)["hwm"]
    except OSError:
        hwm = 0

    # outcomes per kind
    print("outcomes:")
    print("  %-13s %6s  %-40s %9s %8s %8s %6s" % ("kind", "sent", "expected", "delivered", "rejected",
                                                  "tempfail", "wrong"))
    names = sink_names()
    for kind, _ in mix:
        ms = [m for m in msgs if m["kind"] == kind]
        exp = KINDS[kind]["expect"]
        cnt = collections.Counter(judge(m, m["attempts"][-1]) for m in ms)
        dl = sum(1 for m in ms if accepted_qid(m) and accepted_qid(m) + ".eml" in names)
        rj = sum(1 for m in ms if outcome(m["attempts"][-1]) == "rejected")
        print("  %-13s %6d  %-40s %9d %8d %8d %6d" % (kind, len(ms), "accepted" if exp is None else
                                                      "%d %s" % exp, dl, rj, cnt["tempfail"], cnt["wrong"]))
    growth = after["rss"] - before["rss"]
    # glibc's malloc keeps freed memory in its arenas (up to 8 per core),
    # and they go on growing slowly for some 20,000 messages: about +12 MiB
    # over the first 10,000 after the warm-up, then less and less, while
    # the memory in use stays flat (measured with malloc_stats(): +50 kB
    # after 3,300 more messages). A leak of 2.5 kB a message shows over
    # 10,000 messages. With AddressSanitizer, its quarantine of freed
    # blocks (256 MiB at most) comes on top; LeakSanitizer checks at exit.
    bound = max(24 * 1024, before["rss"] // 2) + (256 * 1024 if asan else 0)
    print("rampartd: RSS before %s (after the warm-up), after %s (%+.1f MiB; bound +%s), "
          "peak sampled %s, VmHWM %s" % (mib(before["rss"]), mib(after["rss"]), growth / 1024.0,
                                         mib(bound), mib(peak["rss"]), mib(hwm)))
    print("rampartd: descriptors before %d %s, after %d %s, peak %d" % (
        before["fds"], before["fd_kinds"], after["fds"], after["fd_kinds"], peak["fds"]))
    print("rampartd: threads before %d, after %d, peak %d" % (before["threads"], after["threads"],
                                                              peak["threads"]))
    sys.stdout.flush()

    account(msgs, "", allow_tempfail=False, final=True, kind_headers=True, checks=checks)
    checks.check(growth <= bound, "RSS growth %+.1f MiB within +%s" % (growth / 1024.0, mib(bound)))
    checks.check(open_before == 0 and open_after == 0,
                 "no connection to rampartd left open when measuring (before %d, after %d)" % (
                     open_before, open_after))
    checks.check(after["fds"] == before["fds"], "no descriptor leaked (before %d, after %d)" % (
        before["fds"], after["fds"]))
    checks.check(after["threads"] == before["threads"], "no thread left behind (before %d, after %d)" % (
        before["threads"], after["threads"]))
    alive = True
    try:
        os.kill(pid, 0)
        alive = rampartd_pid() == pid
    except OSError:
        alive = False
    checks.check(alive, "rampartd (pid %d) still running" % pid)
    bad = []
    try:
        with open(logpath, "rb") as f:
            f.seek(log_start)
            for line in f.read().decode("utf-8", "replace").splitlines():
                if re.search(r" (error|fatal|panic): |runtime error:|Sanitizer", line):
                    bad.append(line[:300])
    except OSError:
        pass
    checks.check(not bad, "no error in rampartd's log during the run", bad)
    print("%d passed, %d failed" % (checks.passed, checks.failed))
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"messages": n, "concurrency": conc, "seconds": secs, "rate": rate,
                       "before": before, "after": after, "peak": peak, "hwm": hwm}, f, indent=1)
    return 1 if checks.failed else 0


def main():
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    ap = argparse.ArgumentParser(description="SMTP load through the lab; see the module text.")
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("load")
    p.add_argument("messages", type=int, nargs="?", default=10000)
    p.add_argument("concurrency", type=int, nargs="?", default=100)
    p.add_argument("--mix", default=DEFAULT_MIX)
    p.add_argument("--warmup", type=int, default=-1, help="warm-up messages (default N/10, 2C..1000)")
    p.add_argument("--settle-timeout", type=float, default=120.0)
    p.add_argument("--json", help="write the figures here")
    p = sub.add_parser("send")
    p.add_argument("state")
    p.add_argument("--count", type=int, default=10)
    p.add_argument("--concurrency", type=int, default=5)
    p.add_argument("--mix", default="plain")
    p.add_argument("--rate", type=float, default=0.0, help="sessions started per second (0: no limit)")
    p.add_argument("--tag")
    p.add_argument("--progress", help="file that holds the number of messages done so far")
    p = sub.add_parser("retry")
    p.add_argument("state")
    p.add_argument("--tag")
    p.add_argument("--concurrency", type=int, default=5)
    p.add_argument("--rounds", type=int, default=10)
    p.add_argument("--interval", type=float, default=1.0)
    p.add_argument("--timeout", type=float, default=30.0)
    p = sub.add_parser("settle")
    p.add_argument("state")
    p.add_argument("--tag")
    p.add_argument("--timeout", type=float, default=30.0)
    p = sub.add_parser("check")
    p.add_argument("state")
    p.add_argument("--tag")
    p.add_argument("--no-tempfail", action="store_true", help="a temporary failure fails the check")
    p.add_argument("--final", action="store_true", help="nothing may be left deferred or queued")
    p.add_argument("--kind-headers", action="store_true", help="check the headers each kind must show")
    p.add_argument("--header", action="append", default=[], help="text every delivered message's header has")
    p.add_argument("--no-header", action="append", default=[], help="text no delivered message's header has")
    p = sub.add_parser("one")
    p.add_argument("--client", default="192.0.2.10")
    p.add_argument("--name", default="mail.sender.example")
    p.add_argument("--helo", default="mail.sender.example")
    p.add_argument("--mail-from", default="alice@sender.example")
    p.add_argument("--rcpt", default=RCPT)
    p.add_argument("--header", action="append", default=[], help="a header line (default: From: the sender)")
    p.add_argument("--body", default="One message.")
    p = sub.add_parser("verify")
    p.add_argument("session", help="the JSON that `one` printed")
    p.add_argument("--stage", help="the stage the session ended at (eom, rcpt, ...)")
    p.add_argument("--code", type=int, help="the code of the last reply")
    p.add_argument("--reply-has", action="append", default=[])
    p.add_argument("--log-from", type=int, help="check rampartd's log from this byte offset")
    p.add_argument("--log-has", action="append", default=[])
    p.add_argument("--delivered", action="store_true", help="check the delivered message's header")
    p.add_argument("--header-has", action="append", default=[])
    a = ap.parse_args()
    return {"load": cmd_load, "send": cmd_send, "retry": cmd_retry, "settle": cmd_settle,
            "check": cmd_check, "one": cmd_one, "verify": cmd_verify}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
