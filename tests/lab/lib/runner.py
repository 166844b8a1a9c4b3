#!/usr/bin/python3
"""runner.py -- run lab cases and compare what happened with what they expect.

Runs inside the lab's network namespace (tests/lab/run puts it there). Each
case is a file in tests/lab/cases/: NAME.case (an SMTP or policy case, format
in README.md) or NAME.sh (a script; exit 0 passes, 77 skips). Prints one line
per case, PASS/FAIL/SKIP NAME, details under a FAIL, and finally
"N passed, N failed"; exits 1 if any case failed.

Usage: runner.py [CASE...]     (CASE: a name in cases/ or a path)
Environment: LAB_DIR (default /tmp/rampart-lab), LAB_VERBOSE=1 (details of
passing cases too)
"""

import difflib
import email.utils
import glob
import json
import os
import re
import socket
import subprocess
import sys
import time

LAB_SRC = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CASES_DIR = os.path.join(LAB_SRC, "cases")
LAB_DIR = os.path.realpath(os.environ.get("LAB_DIR", "/tmp/rampart-lab"))
PF_CONF = os.path.join(LAB_DIR, "postfix")
SMTP_SERVER = ("127.0.0.1", 25)
POLICY_SERVER = ("127.0.0.1", 10045)
IO_TIMEOUT = 30.0
LOG_WAIT = 3.0
SCRIPT_TIMEOUT = 90
SHOW_LINES = 60

SINGLE = {"description", "type", "requires", "client", "client_name",
          "reverse_name", "helo", "login", "xclient", "mail_from",
          "mail_params", "message", "expect_connect", "expect_xclient",
          "expect_helo", "expect_mail", "expect_data", "delivered", "held",
          "wait", "server"}
MULTI = {"rcpt", "expect_rcpt", "sign", "mutate", "header", "no_header",
         "header_re", "body", "no_body", "log", "no_log", "maillog",
         "no_maillog", "postconf", "rampart", "expect_action"}
FEATURES = {"rampartd", "milter", "policy"}
DEFAULTS = {"type": "smtp", "client": "192.0.2.10",
            "client_name": "mail.sender.example",
            "helo": "mail.sender.example", "mail_from": "alice@sender.example",
            "xclient": "yes", "wait": "20"}
DEFAULT_RCPT = ["bob@rcpt.example"]


class CaseError(Exception):
    """The case file itself is wrong."""


def lab_env():
    env = {}
    path = os.path.join(LAB_DIR, "lab.env")
    if not os.path.exists(path):
        sys.exit("runner: no lab in %s (run tests/lab/lab up)" % LAB_DIR)
    with open(path) as f:
        for line in f:
            k, _, v = line.rstrip("\n").partition("=")
            env[k] = v
    return env


ENV = {}


def feature_on(name):
    neg = name.startswith("!")
    name = name.lstrip("!")
    if name not in FEATURES:
        raise CaseError("unknown feature %r (known: %s)"
                        % (name, ", ".join(sorted(FEATURES))))
    on = {"rampartd": bool(ENV.get("RAMPARTD")),
          "milter": bool(ENV.get("RAMPARTD") and ENV.get("MILTER")),
          "policy": bool(ENV.get("RAMPARTD") and ENV.get("POLICY"))}[name]
    return on != neg


# ---------------------------------------------------------------- case files

class Case:
    def __init__(self, path):
        self.path = path
        self.name = os.path.basename(path).rsplit(".", 1)[0]
        self.single = {}
        self.multi = {k: [] for k in MULTI}
        self.body = None
        self.subst = {}

    def get(self, key):
        return self.single.get(key, DEFAULTS.get(key))


def parse_case(path):
    case = Case(path)
    with open(path, "rb") as f:
        raw = f.read().decode("utf-8")
    lines = raw.split("\n")
    for i, line in enumerate(lines):
        if line.rstrip() == "---":
            case.body = "\n".join(lines[i + 1:])
            break
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        key, eq, value = s.partition("=")
        key, value = key.strip(), value.strip()
        if not eq:
            raise CaseError("line %d: expected KEY = VALUE: %s" % (i + 1, s))
        m = re.fullmatch(r"([a-z_]+)(?:\[(!?[a-z]+)\])?", key)
        if not m:
            raise CaseError("line %d: bad key %r" % (i + 1, key))
        key, cond = m.group(1), m.group(2)
        if key not in SINGLE and key not in MULTI:
            raise CaseError("line %d: unknown key %r" % (i + 1, key))
        if cond and not feature_on(cond):
            continue
        if key in MULTI:
            case.multi[key].append(value)
        elif key in case.single:
            raise CaseError("line %d: %s given twice" % (i + 1, key))
        else:
            case.single[key] = value
    if case.get("type") not in ("smtp", "policy"):
        raise CaseError("type must be smtp or policy")
    return case


def unmet(case):
    """Return why the case cannot run in this lab, or None."""
    req = (case.get("requires") or "").split()
    if case.get("type") == "policy" and "rampartd" not in req:
        req.append("rampartd")
    missing = [r for r in req if not feature_on(r)]
    if missing:
        return "needs %s; this lab runs without it" % " and ".join(missing)
    return None


def eicar_placeholders():
    """Test-virus payloads for messages, made here: the EICAR string is never
    stored whole in the source tree (scanners would flag the repository)."""
    import base64
    import io
    import zipfile
    eicar = ("X5O!P%@AP[4\\PZX54(P^)7CC)7}$" + "EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*").encode()
    zbuf = io.BytesIO()
    with zipfile.ZipFile(zbuf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("invoice.com", eicar)
    wrap = lambda b: "\n".join(b[i:i + 76] for i in range(0, len(b), 76))
    return {"@EICAR_B64@": wrap(base64.b64encode(eicar).decode()),
            "@EICAR_ZIP_B64@": wrap(base64.b64encode(zbuf.getvalue()).decode())}


def subst(case, text):
    for k, v in case.subst.items():
        text = text.replace(k, v)
    return text


# ---------------------------------------------------------------- log files

class LogTail:
    """The part of a log file written after a given moment."""

    def __init__(self, path):
        self.path = path
        try:
            self.start = os.path.getsize(path)
        except OSError:
            self.start = 0

    def text(self):
        try:
            with open(self.path, "rb") as f:
                f.seek(self.start)
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""


# ---------------------------------------------------------------- outcomes

def code_matches(pattern, code):
    if code is None:
        return False
    code = str(code)
    return len(pattern) <= 3 and all(p in ("x", "X") or p == c
                                     for p, c in zip(pattern, code))


def outcome_matches(expect, reply):
    """expect: 'CODE [fragment]' or 'none'; reply: (code, text) or None."""
    if expect == "none":
        return reply is None
    if reply is None:
        return False
    pattern, _, fragment = expect.partition(" ")
    if not re.fullmatch(r"[2-5][0-9xX]{0,2}", pattern):
        raise CaseError("expected reply %r: begins with no SMTP code" % expect)
    code, text = reply
    return code_matches(pattern, code) and fragment.strip() in text


def show_reply(reply):
    if reply is None:
        return "(not reached)"
    code, text = reply
    return ("%s %s" % (code if code is not None else "---", text)).strip()


def norm(s):
    return " ".join(s.split())


def header_lines(msg):
    head = re.split(rb"\r?\n\r?\n", msg, maxsplit=1)[0].decode("utf-8", "replace")
    head = re.sub(r"\r?\n[ \t]+", " ", head)
    return [norm(h) for h in re.split(r"\r?\n", head) if h]


def body_text(msg):
    parts = re.split(rb"\r?\n\r?\n", msg, maxsplit=1)
    body = parts[1] if len(parts) > 1 else b""
    return body.decode("utf-8", "replace").replace("\r\n", "\n")


class Report:
    """Expected and actual rows; a mismatch shows as a unified diff."""

    def __init__(self):
        self.expected = []
        self.actual = []
        self.failed = False
        self.notes = []

    def row(self, label, ok, expected, actual):
        """One check: what was expected, and what was seen."""
        self.actual.append("%s: %s" % (label, actual))
        self.expected.append("%s: %s" % (label, actual if ok else expected))
        if not ok:
            self.failed = True

    def presence(self, label, ok, word, opposite):
        """A check whose outcome is a word (present/absent, ...)."""
        self.row(label, ok, word, word if ok else opposite)

    def error(self, text):
        self.failed = True
        self.notes.append(text)

    def diff(self):
        return list(difflib.unified_diff(self.expected, self.actual,
                                         "expected", "got", lineterm="", n=50))


# ---------------------------------------------------------------- SMTP

def xtext(s):
    return "".join(c if "!" <= c <= "~" and c not in "+=" else "+%02X" % ord(c)
                   for c in s)


class Smtp:
    def __init__(self, addr, transcript):
        self.t = transcript
        self.sock = socket.create_connection(addr, timeout=IO_TIMEOUT)
        self.f = self.sock.makefile("rb")

    def reply(self):
        """Read one reply; a multi-line reply shows as one transcript line."""
        code, texts = None, []
        while True:
            try:
                line = self.f.readline(8192)
            except socket.timeout:
                self.t.append("<- (timeout after %ds)" % IO_TIMEOUT)
                return (None, "timeout")
            if not line:
                if texts:
                    self.t.append("<- %s %s" % (code, " | ".join(texts)))
                self.t.append("<- (connection closed)")
                return (None, "connection closed") if code is None else (code, " ".join(texts))
            s = line.decode("utf-8", "replace").rstrip("\r\n")
            if len(s) >= 3 and s[:3].isdigit():
                code = int(s[:3])
                texts.append(s[4:])
                if s[3:4] != "-":
                    self.t.append("<- %s %s" % (code, " | ".join(texts)))
                    return (code, " ".join(texts))
            else:
                self.t.append("<- " + s)
                return (None, "garbled reply: " + s)

    def send(self, line, show=None):
        self.t.append("-> " + (show or line))
        self.sock.sendall(line.encode("utf-8") + b"\r\n")

    def cmd(self, line):
        try:
            self.send(line)
        except OSError as e:
            self.t.append("-> (send failed: %s)" % e)
            return (None, "send failed")
        return self.reply()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def dkim_sign(case, msg, spec):
    import dkim
    words = spec.split()
    if len(words) < 2:
        raise CaseError("sign = SELECTOR DOMAIN [key=SELECTOR] [canon=H/B] "
                        "[headers=A:B] [algo=ALG]: %r" % spec)
    selector, domain = words[0], words[1]
    opts = dict(w.split("=", 1) for w in words[2:] if "=" in w)
    keysel = opts.get("key", selector)
    keydir = os.path.join(LAB_DIR, "dkim")
    if keysel.startswith("ed25519"):
        with open(os.path.join(keydir, keysel + ".seed"), "rb") as f:
            key = f.read().strip()
        algo = opts.get("algo", "ed25519-sha256")
    else:
        with open(os.path.join(keydir, keysel + ".pem"), "rb") as f:
            key = f.read()
        algo = opts.get("algo", "rsa-sha256")
    canon = opts.get("canon", "relaxed/relaxed").split("/")
    if len(canon) == 1:
        canon.append("simple")
    headers = None
    if "headers" in opts:
        headers = [h.encode() for h in opts["headers"].split(":")]
    sig = dkim.sign(msg, selector.encode(), domain.encode(), key,
                    canonicalize=(canon[0].encode(), canon[1].encode()),
                    signature_algorithm=algo.encode(),
                    include_headers=headers)
    return sig + msg


def build_message(case):
    if case.get("message"):
        path = os.path.join(os.path.dirname(case.path), case.get("message"))
        with open(path, "r", encoding="utf-8", newline="") as f:
            text = f.read()
    elif case.body is not None:
        text = case.body
    else:
        raise CaseError("no message: give `message = FILE` or a --- section")
    text = subst(case, text)
    text = text.replace("\r\n", "\n")
    if not text.endswith("\n"):
        text += "\n"
    msg = text.replace("\n", "\r\n").encode("utf-8")
    for spec in case.multi["sign"]:
        msg = dkim_sign(case, msg, subst(case, spec))
    for m in case.multi["mutate"]:
        old, sep, new = subst(case, m).partition("=>")
        if not sep:
            raise CaseError("mutate = OLD => NEW: %r" % m)
        old, new = old.strip().encode(), new.strip().encode()
        if old not in msg:
            raise CaseError("mutate: %r not in the message" % old.decode())
        msg = msg.replace(old, new, 1)
    return msg


def smtp_session(case, msg, transcript):
    """Run the SMTP conversation; return {stage: reply} and the rcpt list."""
    out = {"connect": None, "xclient": None, "helo": None, "mail": None,
           "rcpt": [], "data": None}
    rcpts = [subst(case, r) for r in case.multi["rcpt"]] or DEFAULT_RCPT
    host, _, port = (case.get("server") or "%s:%d" % SMTP_SERVER).rpartition(":")
    try:
        s = Smtp((host, int(port)), transcript)
    except OSError as e:
        transcript.append("(cannot connect to %s:%s: %s)" % (host, port, e))
        out["connect"] = (None, "connect failed: %s" % e)
        return out, rcpts
    try:
        out["connect"] = s.reply()
        if out["connect"][0] != 220:
            return out, rcpts
        helo = subst(case, case.get("helo"))
        if case.get("xclient") != "no":
            r = s.cmd("EHLO lab-client.lab.example")
            if r[0] != 250:
                out["xclient"] = r
                return out, rcpts
            addr = subst(case, case.get("client"))
            if ":" in addr and not addr.lower().startswith("ipv6:"):
                addr = "IPv6:" + addr
            attrs = ["ADDR=" + xtext(addr),
                     "NAME=" + xtext(subst(case, case.get("client_name")))]
            if case.get("reverse_name"):
                attrs.append("REVERSE_NAME=" + xtext(subst(case, case.get("reverse_name"))))
            attrs += ["HELO=" + xtext(helo), "PROTO=ESMTP"]
            if case.get("login"):
                attrs.append("LOGIN=" + xtext(subst(case, case.get("login"))))
            out["xclient"] = s.cmd("XCLIENT " + " ".join(attrs))
            if out["xclient"][0] != 220:
                return out, rcpts
        out["helo"] = s.cmd("EHLO " + helo)
        if out["helo"][0] != 250:
            return out, rcpts
        params = subst(case, case.get("mail_params") or "")
        out["mail"] = s.cmd(("MAIL FROM:<%s> %s" % (subst(case, case.get("mail_from")), params)).strip())
        if out["mail"][0] != 250:
            return out, rcpts
        for r in rcpts:
            out["rcpt"].append(s.cmd("RCPT TO:<%s>" % r))
            if out["rcpt"][-1][0] is None:
                return out, rcpts
        if not any(r[0] in (250, 251) for r in out["rcpt"]):
            return out, rcpts
        r = s.cmd("DATA")
        if r[0] != 354:
            out["data"] = r
            return out, rcpts
        stuffed = re.sub(rb"(?m)^\.", b"..", msg)
        transcript.append("-> (message, %d bytes)" % len(msg))
        transcript.append("-> .")
        try:
            s.sock.sendall(stuffed + b".\r\n")
            out["data"] = s.reply()
        except OSError as e:
            out["data"] = (None, "send failed: %s" % e)
        s.cmd("QUIT")
    finally:
        s.close()
    return out, rcpts


def queue_state(qid):
    """Return the queue (incoming, active, deferred, hold...) holding qid."""
    p = subprocess.run(["postqueue", "-c", PF_CONF, "-j"], capture_output=True,
                       text=True, timeout=20)
    for line in p.stdout.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if entry.get("queue_id") == qid:
            return entry.get("queue_name")
    return None


def sink_files(qid):
    base = os.path.join(LAB_DIR, "sink", qid)
    return sorted(glob.glob(base + ".eml") + glob.glob(base + ".[0-9]*.eml"))


def wait_for_mail(qid, seconds):
    """Wait until qid left the queue, or sits in hold or deferred."""
    deadline = time.monotonic() + seconds
    while True:
        q = queue_state(qid)
        if q is None or q in ("hold", "deferred"):
            return q, False
        if time.monotonic() > deadline:
            return q, True
        time.sleep(0.1)


def yes_no(case, key):
    v = case.get(key)
    if v is None:
        return None
    if v not in ("yes", "no"):
        raise CaseError("%s must be yes or no" % key)
    return v == "yes"


# ---------------------------------------------------------------- settings per case

def set_postconf(settings):
    """Apply `name = value` settings; return the old values."""
    old = []
    for s in settings:
        name, sep, value = s.partition("=")
        name, value = name.strip(), value.strip()
        if not sep or not name:
            raise CaseError("postconf = NAME = VALUE: %r" % s)
        p = subprocess.run(["postconf", "-c", PF_CONF, "-h", name],
                           capture_output=True, text=True, timeout=20)
        old.append("%s = %s" % (name, p.stdout.strip()))
        subprocess.run(["postconf", "-c", PF_CONF, "-e", "%s=%s" % (name, value)],
                       check=True, timeout=20)
    postfix_reload()
    return old


def postfix_reload():
    subprocess.run(["postfix", "-c", PF_CONF, "reload"], capture_output=True,
                   check=True, timeout=30)
    # Idle smtpd processes of the old configuration exit at once after a
    # reload; give them a moment.
    time.sleep(1.0)


def set_rampart_conf(lines):
    base = os.path.join(LAB_DIR, "rampart.conf.base")
    with open(base) as f:
        text = f.read()
    if lines:
        lines = [line.replace("@LAB_DIR@", LAB_DIR) for line in lines]
        text += "# added by case\n" + "\n".join(lines) + "\n"
    with open(os.path.join(LAB_DIR, "rampart.conf"), "w") as f:
        f.write(text)
    p = subprocess.run([os.path.join(LAB_SRC, "lab"), "restart-rampartd"],
                       capture_output=True, text=True, timeout=60)
    if p.returncode != 0:
        raise CaseError("restarting rampartd failed:\n" + p.stdout + p.stderr)


# ---------------------------------------------------------------- running cases

def check_logs(case, report, tails):
    """Fragments expected in (or absent from) the logs written by this case."""
    kinds = (("log", "no_log", "rampartd log", tails["rampartd"]),
             ("maillog", "no_maillog", "postfix log", tails["postfix"]))
    wanted = [(k, subst(case, v)) for k, _, _, _ in kinds for v in case.multi[k]]
    deadline = time.monotonic() + LOG_WAIT
    # Log lines may come a moment after the SMTP reply.
    while wanted and time.monotonic() < deadline:
        texts = {"log": tails["rampartd"].text(), "maillog": tails["postfix"].text()}
        if all(v in texts[k] for k, v in wanted):
            break
        time.sleep(0.1)
    texts = {"log": tails["rampartd"].text(), "maillog": tails["postfix"].text()}
    for key, nokey, label, _ in kinds:
        for v in case.multi[key]:
            v = subst(case, v)
            report.presence('%s "%s"' % (label, v), v in texts[key], "present", "absent")
        for v in case.multi[nokey]:
            v = subst(case, v)
            report.presence('%s "%s"' % (label, v), v not in texts[key],
                            "absent", "present")


def run_smtp(case, report, ctx):
    msg = build_message(case)
    out, rcpts = smtp_session(case, msg, ctx["transcript"])
    for stage in ("connect", "xclient", "helo", "mail"):
        e = case.get("expect_" + stage)
        if e is not None:
            e = subst(case, e)
            report.row(stage, outcome_matches(e, out[stage]), e, show_reply(out[stage]))
    exp_rcpt = [subst(case, e) for e in case.multi["expect_rcpt"]]
    if len(exp_rcpt) == 1:
        exp_rcpt *= len(rcpts)
    if exp_rcpt and len(exp_rcpt) != len(rcpts):
        raise CaseError("%d expect_rcpt lines for %d rcpt lines"
                        % (len(exp_rcpt), len(rcpts)))
    for i, (r, e) in enumerate(zip(rcpts, exp_rcpt)):
        got = out["rcpt"][i] if i < len(out["rcpt"]) else None
        report.row("rcpt <%s>" % r, outcome_matches(e, got), e, show_reply(got))

    qid = None
    if out["data"] and out["data"][0] == 250:
        m = re.search(r"queued as ([0-9A-Za-z]+)", out["data"][1])
        qid = m.group(1) if m else None
    case.subst["@QID@"] = qid or "(no queue id)"
    ctx["qid"] = qid
    e = case.get("expect_data")
    if e is not None:
        e = subst(case, e)
        report.row("data", outcome_matches(e, out["data"]), e, show_reply(out["data"]))

    queue, delivered = None, []
    if qid:
        queue, timed_out = wait_for_mail(qid, float(case.get("wait")))
        if timed_out:
            report.notes.append("still in the %s queue after %ss" % (queue, case.get("wait")))
        delivered = sink_files(qid)
    ctx["queue"] = queue
    ctx["delivered"] = delivered
    want = yes_no(case, "delivered")
    if want is not None:
        report.row("delivered", bool(delivered) == want, "yes" if want else "no",
                   ("yes (%s)" % os.path.basename(delivered[0])) if delivered else
                   "no" + (" (queue: %s)" % queue if queue else ""))
    want = yes_no(case, "held")
    if want is not None:
        report.row("held", (queue == "hold") == want, "yes" if want else "no",
                   "yes" if queue == "hold" else "no (queue: %s)" % (queue or "none"))

    checks = [("header", lambda v, hs, b: any(norm(v) in h for h in hs), "present"),
              ("no_header", lambda v, hs, b: not any(norm(v) in h for h in hs), "absent"),
              ("header_re", lambda v, hs, b: any(re.search(v, h) for h in hs), "matched"),
              ("body", lambda v, hs, b: v.replace("\r\n", "\n") in b, "present"),
              ("no_body", lambda v, hs, b: v.replace("\r\n", "\n") not in b, "absent")]
    if any(case.multi[k] for k, _, _ in checks):
        if not delivered:
            report.error("header and body expectations need a delivered message; none was")
        else:
            with open(delivered[0], "rb") as f:
                data = f.read()
            ctx["headers"] = header_lines(data)
            hs, b = ctx["headers"], body_text(data)
            for key, fn, word in checks:
                for v in case.multi[key]:
                    v = subst(case, v)
                    ok = fn(v, hs, b)
                    label = {"no_header": "header", "no_body": "body"}.get(key, key)
                    report.presence('%s "%s"' % (label, v), ok, word,
                                    {"present": "absent", "absent": "present",
                                     "matched": "not matched"}[word])


def run_policy(case, report, ctx):
    if case.body is None or not case.body.strip():
        raise CaseError("a policy case needs its request after ---")
    requests = [r for r in re.split(r"\n\s*\n", subst(case, case.body).strip()) if r.strip()]
    exp = [subst(case, e) for e in case.multi["expect_action"]]
    if len(exp) == 1:
        exp *= len(requests)
    if exp and len(exp) != len(requests):
        raise CaseError("%d expect_action lines for %d requests" % (len(exp), len(requests)))
    host, _, port = (case.get("server") or "%s:%d" % POLICY_SERVER).rpartition(":")
    t = ctx["transcript"]
    actions = []
    try:
        sock = socket.create_connection((host, int(port)), timeout=IO_TIMEOUT)
    except OSError as e:
        t.append("(cannot connect to %s:%s: %s)" % (host, port, e))
        sock = None
    if sock:
        f = sock.makefile("rb")
        try:
            for req in requests:
                lines = [l.strip() for l in req.splitlines() if l.strip() and not l.strip().startswith("#")]
                for l in lines:
                    t.append("-> " + l)
                t.append("-> (empty line)")
                sock.sendall(("\n".join(lines) + "\n\n").encode("utf-8"))
                action = None
                while True:
                    line = f.readline(8192)
                    if not line:
                        t.append("<- (connection closed)")
                        break
                    s = line.decode("utf-8", "replace").rstrip("\r\n")
                    t.append("<- " + (s or "(empty line)"))
                    if not s:
                        break
                    if s.startswith("action="):
                        action = s[len("action="):]
                actions.append(action)
                if not line:
                    break
        except socket.timeout:
            t.append("<- (timeout after %ds)" % IO_TIMEOUT)
        finally:
            sock.close()
    for i, e in enumerate(exp):
        got = actions[i] if i < len(actions) else None
        ok = got is not None and got.startswith(e)
        report.row("request %d action" % (i + 1), ok, e,
                   got if got is not None else "(no answer)")


def run_case(case, env):
    """Run one .case file; return (status, details)."""
    report = Report()
    ctx = {"transcript": [], "qid": None, "queue": None, "headers": None}
    tails = {"rampartd": LogTail(os.path.join(LAB_DIR, "rampartd.log")),
             "postfix": LogTail(os.path.join(LAB_DIR, "postfix.log"))}
    stamp = "%d.%d" % (time.time() * 1000, os.getpid())
    case.subst = {"@CASE@": case.name,
                  "@MSGID@": "<%s.%s@lab.example>" % (case.name, stamp),
                  "@DATE@": email.utils.formatdate(localtime=True),
                  "@RUNID@": stamp,
                  "@SRC@": os.path.dirname(os.path.dirname(LAB_SRC))}
    case.subst.update(eicar_placeholders())
    old_postconf = None
    restore_rampart = False
    try:
        if case.multi["postconf"]:
            old_postconf = set_postconf([subst(case, v) for v in case.multi["postconf"]])
        if case.multi["rampart"]:
            if not feature_on("rampartd"):
                raise CaseError("rampart = ... needs rampartd (add requires = rampartd)")
            restore_rampart = True
            set_rampart_conf(case.multi["rampart"])
        if case.get("type") == "smtp":
            run_smtp(case, report, ctx)
        else:
            run_policy(case, report, ctx)
        check_logs(case, report, tails)
    except CaseError as e:
        report.error("case error: %s" % e)
    except (OSError, subprocess.SubprocessError) as e:
        report.error("error: %s" % e)
    finally:
        if ctx["qid"] and ctx["queue"]:
            subprocess.run(["postsuper", "-c", PF_CONF, "-d", ctx["qid"]],
                           capture_output=True, timeout=20)
        if old_postconf is not None:
            set_postconf(old_postconf)
        if restore_rampart:
            try:
                set_rampart_conf([])
            except CaseError as e:
                report.error(str(e))
    if not report.expected and not report.notes:
        report.error("the case checks nothing: add expect_... lines")
    return report, ctx, tails


def indent(lines, prefix="    "):
    return "\n".join(prefix + l for l in lines)


def tail_lines(text, n=SHOW_LINES):
    lines = text.splitlines()
    if len(lines) > n:
        return ["(%d earlier lines not shown)" % (len(lines) - n)] + lines[-n:]
    return lines


def details(case, report, ctx, tails):
    out = []
    if case.get("description"):
        out.append("  case: %s (%s)" % (case.get("description"), case.path))
    else:
        out.append("  case: %s" % case.path)
    for n in report.notes:
        out.append("  " + n)
    d = report.diff()
    if d:
        out.append("  --- expected / +++ got:")
        out.append(indent(d))
    if ctx["transcript"]:
        out.append("  conversation:")
        out.append(indent(ctx["transcript"]))
    if ctx.get("headers"):
        out.append("  headers of the delivered message:")
        out.append(indent(ctx["headers"]))
    for name, label in (("rampartd", "rampartd log"), ("postfix", "postfix log")):
        text = tails[name].text()
        if ctx.get("qid") and name == "rampartd":
            mine = [l for l in text.splitlines() if ctx["qid"] in l]
            if mine:
                out.append("  %s lines naming %s:" % (label, ctx["qid"]))
                out.append(indent(mine[-SHOW_LINES:]))
        lines = tail_lines(text)
        out.append("  %s during the case%s" % (label, ":" if lines else ": (nothing)"))
        if lines:
            out.append(indent(lines))
    return "\n".join(out)


def run_script(path, env):
    e = dict(os.environ, LAB_DIR=LAB_DIR, LAB_SRC=LAB_SRC,
             LAB_NS=env.get("LAB_NS", ""), RAMPARTD=env.get("RAMPARTD", ""))
    try:
        p = subprocess.run(["bash", path], capture_output=True, text=True,
                           timeout=SCRIPT_TIMEOUT, env=e, stdin=subprocess.DEVNULL)
        rc, text = p.returncode, p.stdout + p.stderr
    except subprocess.TimeoutExpired as x:
        rc = None
        text = ((x.stdout or b"").decode() if isinstance(x.stdout, bytes) else (x.stdout or "")) + \
            "\n(timed out after %ds)" % SCRIPT_TIMEOUT
    return rc, text


def find_cases(args):
    if not args:
        return sorted(glob.glob(os.path.join(CASES_DIR, "*.case")) +
                      glob.glob(os.path.join(CASES_DIR, "*.sh")))
    paths = []
    for a in args:
        if os.path.isfile(a):
            paths.append(os.path.abspath(a))
            continue
        found = [p for p in (os.path.join(CASES_DIR, a + ext) for ext in ("", ".case", ".sh"))
                 if os.path.isfile(p)]
        if not found:
            sys.exit("runner: no case %r in %s" % (a, CASES_DIR))
        paths.append(found[0])
    return paths


def main():
    global ENV
    ENV = lab_env()
    verbose = os.environ.get("LAB_VERBOSE") == "1"
    passed = failed = skipped = 0
    for path in find_cases(sys.argv[1:]):
        name = os.path.basename(path).rsplit(".", 1)[0]
        if path.endswith(".sh"):
            rc, text = run_script(path, ENV)
            if rc == 77:
                skipped += 1
                print("SKIP %s (%s)" % (name, (text.strip().splitlines() or ["skipped"])[-1]))
            elif rc == 0:
                passed += 1
                print("PASS %s" % name)
                if verbose:
                    print(indent(text.splitlines()))
            else:
                failed += 1
                print("FAIL %s" % name)
                print("  script %s exited %s:" % (path, rc if rc is not None else "(timeout)"))
                print(indent(text.splitlines()))
            sys.stdout.flush()
            continue
        try:
            case = parse_case(path)
            why = unmet(case)
        except CaseError as e:
            failed += 1
            print("FAIL %s\n  case file %s: %s" % (name, path, e))
            continue
        if why:
            skipped += 1
            print("SKIP %s (%s)" % (name, why))
            continue
        report, ctx, tails = run_case(case, ENV)
        if report.failed:
            failed += 1
            print("FAIL %s" % name)
            print(details(case, report, ctx, tails))
        else:
            passed += 1
            print("PASS %s" % name)
            if verbose:
                print(details(case, report, ctx, tails))
        sys.stdout.flush()
    if skipped:
        print("%d skipped" % skipped)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
