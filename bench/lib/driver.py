#!/usr/bin/python3
"""driver.py -- run the benchmark's configurations in a lab that is up.

bench/run builds the programs, brings the lab up (without rampartd) and
calls this; it leaves the lab as it found it, stopping every program it
started. Each configuration is a set of filters started inside the lab's
namespace and Postfix's smtpd_milters pointing at them; every run of a
configuration starts its filters afresh (empty caches), checks that they
did their work on five messages delivered to the sink (the "verify" set),
warms up, then measures: the same messages, the same client addresses,
the same number of concurrent SMTP sessions (bench/smtp-load).

Per run: messages per second; CPU seconds of the filter processes and of
Postfix (the whole instance: master and every child, reaped ones counted
through the parent's cutime/cstime) from /proc/PID/stat, before and after
(after = once Postfix's queue is empty again); peak RSS and PSS of the
filters (largest sums over their processes, sampled); latency from the end
of DATA to the reply, p50 and p99, at SESSIONS sessions and again for a few
messages over 2 sessions (latency without CPU queueing). Some
configurations (probe_only: the Unix-socket variants) measure only the
latter. Runs go round-robin over the configurations, ROUNDS times; the
report gives medians. Then, per filter, the memory that 50 held sessions
add.

Usage: driver.py --lab-dir DIR --build DIR [--out DIR] [--rounds 3]
                 [--count 400] [--warm 40] [--sessions 20] [--probe 30]
                 [--configs a,b,...] [--smoke] [--rss-sessions 50] [--no-rss]
                 [--tmp-on-disk]
Every run directory's tmp/, where the filters write their temporary files
(rampart's av_temp_dir, clamd's and clamav-milter's TemporaryDirectory,
rspamd's temporary directory), is a tmpfs, for every filter alike
(rampart.conf(5): "a tmpfs is faster"); --tmp-on-disk keeps it on the
disk under --lab-dir instead.
Environment: BENCH_DEBUG=1 shows why a configuration is not ready yet.
Exit status: 0, or 1 if something is broken (a filter did not start, a
session failed, a message was refused, a check wrote a wrong result).
"""

import argparse
import json
import os
import pwd
import re
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
BENCH_SRC = os.path.dirname(HERE)
SRC = os.path.dirname(BENCH_SRC)
CONF_SRC = os.path.join(BENCH_SRC, "conf")
LAB = os.path.join(SRC, "tests", "lab", "lab")
PY = "/usr/bin/python3"
CLK_TCK = os.sysconf("SC_CLK_TCK")
DELAY_MS = 50
SMALL_KINDS = ["rsa", "ed", "plain"]
DELAY_ADDR = "127.0.0.2"      # the delaying proxy listens on port 53 here
TMPFS_MB = 2048               # the filters' temporary files (tmp/ of a run directory)
WARM_ADDR = "127.0.0.1"       # the lab resolver

PORTS = {"null": 8890, "rampartd": 8894, "pyspf": 8881, "opendkim": 8891,
         "opendmarc": 8892, "clamav-milter": 8895, "rspamd": 11332,
         "rspamd-normal": 11333}


class Broken(Exception):
    """Something that makes the numbers meaningless."""


def log(msg):
    print("bench: " + msg, flush=True)


# ---------------------------------------------------------------- /proc

def proc_table():
    """{pid: (ppid, ticks)} for every process; ticks = utime+stime+cutime+cstime."""
    out = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                s = f.read()
        except OSError:
            continue
        rest = s[s.rindex(")") + 2:].split()
        # rest[0] is field 3 (state): ppid is field 4, utime..cstime 14..17
        out[int(d)] = (int(rest[1]), sum(int(x) for x in rest[11:15]))
    return out


def tree(table, roots):
    """Pids of roots and all their descendants."""
    children = {}
    for pid, (ppid, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    out, todo = set(), [r for r in roots if r in table]
    while todo:
        p = todo.pop()
        if p in out:
            continue
        out.add(p)
        todo.extend(children.get(p, []))
    return out


def cpu_seconds(roots):
    table = proc_table()
    return sum(table[p][1] for p in tree(table, roots)) / CLK_TCK


def status_kb(pid, key):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def rss_kb(roots, key="VmRSS"):
    return sum(status_kb(p, key) for p in tree(proc_table(), roots))


def pss_kb(pid):
    """Proportional set size: shared pages split between the processes sharing them."""
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class RssSampler(threading.Thread):
    """Largest sums of VmRSS and of Pss over the process trees while it runs."""

    def __init__(self, roots, interval=0.2):
        super().__init__(daemon=True)
        self.roots, self.interval = roots, interval
        self.max_kb = self.max_pss_kb = 0
        self.stop_ev = threading.Event()

    def run(self):
        pids, n = set(), 0
        while not self.stop_ev.is_set():
            if n % 5 == 0:
                pids = tree(proc_table(), self.roots)
            n += 1
            self.max_kb = max(self.max_kb, sum(status_kb(p, "VmRSS") for p in pids))
            self.max_pss_kb = max(self.max_pss_kb, sum(pss_kb(p) for p in pids))
            self.stop_ev.wait(self.interval)

    def stop(self):
        self.stop_ev.set()
        self.join()
        return self.max_kb


# ---------------------------------------------------------------- the lab

class Lab:
    def __init__(self, lab_dir):
        self.dir = lab_dir
        env = {}
        with open(os.path.join(lab_dir, "lab.env")) as f:
            for line in f:
                k, _, v = line.rstrip("\n").partition("=")
                env[k] = v
        self.ns = env["LAB_NS"]
        self.pf = os.path.join(lab_dir, "postfix")
        self.work = os.path.join(lab_dir, "bench")

    def master_pid(self):
        with open(os.path.join(self.dir, "pids", "postfix-master.pid")) as f:
            return int(f.read().strip())

    def run(self, *cmd, check=True, timeout=60, **kw):
        return subprocess.run(["ip", "netns", "exec", self.ns] + list(cmd), check=check,
                              timeout=timeout, **kw)

    def postconf(self, *settings):
        subprocess.run(["postconf", "-c", self.pf, "-e"] + list(settings), check=True, timeout=30)

    def smtpd_pids(self):
        table = proc_table()
        master = self.master_pid()
        out = set()
        for pid, (ppid, _) in table.items():
            if ppid == master:
                try:
                    with open("/proc/%d/comm" % pid) as f:
                        if f.read().strip() == "smtpd":
                            out.add(pid)
                except OSError:
                    pass
        return out

    def set_milters(self, milters):
        """smtpd_milters = milters, and no smtpd process left that has the old value."""
        self.postconf("smtpd_milters = " + milters)
        p = subprocess.run(["postconf", "-c", self.pf, "-h", "smtpd_milters"], capture_output=True,
                           text=True, timeout=30)
        if p.stdout.strip() != milters.strip():
            raise Broken("main.cf has smtpd_milters = %r, not %r" % (p.stdout.strip(), milters))
        self.reload()

    def reload(self):
        # What `postfix reload` does, without its checks: the master reads
        # main.cf again and its idle children exit; wait until every smtpd
        # of the old configuration is gone.
        old = self.smtpd_pids()
        os.kill(self.master_pid(), signal.SIGHUP)
        deadline = time.monotonic() + 10
        while old & self.smtpd_pids() and time.monotonic() < deadline:
            time.sleep(0.05)
        if old & self.smtpd_pids():
            raise Broken("smtpd processes of the old configuration did not exit")

    def listening(self, port, addr="127.0.0.1"):
        """True if something in the namespace listens on addr:port (TCP)."""
        a = [int(x) for x in addr.split(".")]
        want = "%02X%02X%02X%02X:%04X" % (a[3], a[2], a[1], a[0], port)
        try:
            with open("/proc/%d/net/tcp" % self.master_pid()) as f:
                for line in f.readlines()[1:]:
                    w = line.split()
                    if w[1] == want and w[3] == "0A":
                        return True
        except OSError:
            pass
        return False

    def queue_size(self):
        p = subprocess.run(["postqueue", "-c", self.pf, "-j"], capture_output=True, text=True,
                           timeout=30)
        return [json.loads(l) for l in p.stdout.splitlines() if l.startswith("{")]

    def wait_queue_empty(self, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            q = [e for e in self.queue_size() if e.get("queue_name") != "hold"]
            if not q:
                return True
            time.sleep(0.25)
        return False

    def delete_held(self):
        subprocess.run(["postsuper", "-c", self.pf, "-d", "ALL", "hold"], capture_output=True,
                       timeout=30)


# ---------------------------------------------------------------- filters

class Daemon:
    """One program started in the namespace, in a session of its own."""

    def __init__(self, lab, name, cmd, logfile, resolv=None, port=None, socket_path=None,
                 start_timeout=60, addr="127.0.0.1"):
        self.lab, self.name, self.cmd, self.logfile = lab, name, cmd, logfile
        self.resolv, self.port, self.socket_path = resolv, port, socket_path
        self.addr = addr
        self.start_timeout = start_timeout
        self.proc = None

    def start(self):
        if self.socket_path and os.path.exists(self.socket_path):
            os.unlink(self.socket_path)
        cmd = list(self.cmd)
        if self.resolv:
            # glibc's resolver takes no port: give the program a resolv.conf
            # of its own (a bind mount in a mount namespace of its own).
            cmd = ["unshare", "-m", "--propagation", "private", "sh", "-c",
                   'mount --bind "$0" /etc/resolv.conf && exec "$@"', self.resolv] + cmd
        out = open(self.logfile, "ab")
        self.proc = subprocess.Popen(["ip", "netns", "exec", self.lab.ns] + cmd,
                                     stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                     start_new_session=True)
        out.close()
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise Broken("%s exited during start-up (status %s); see %s"
                             % (self.name, self.proc.returncode, self.logfile))
            if self.port and self.lab.listening(self.port, self.addr):
                return
            if self.socket_path and os.path.exists(self.socket_path):
                # Postfix connects as its own user.
                os.chmod(self.socket_path, 0o666)
                return
            if not self.port and not self.socket_path:
                return
            time.sleep(0.1)
        raise Broken("%s not ready after %ds; see %s" % (self.name, self.start_timeout,
                                                         self.logfile))

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def signal(self, sig):
        if self.proc is not None:
            try:
                os.killpg(self.proc.pid, sig)
            except (ProcessLookupError, PermissionError):
                pass

    def stop(self):
        stop_all([self])


def stop_all(daemons, grace=0.5):
    """SIGTERM to every daemon's process group at once, SIGKILL to what is
    left after grace seconds (libmilter looks at its stop flag only every
    5 s; the measurements are taken by then), then reap them."""
    live = [d for d in daemons if d.proc is not None]
    for d in live:
        d.signal(signal.SIGTERM)
    deadline = time.monotonic() + grace
    for d in live:
        try:
            d.proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pass
    for d in live:
        # Whatever the group left behind (workers of a parent that exited).
        d.signal(signal.SIGKILL)
        d.proc.wait(timeout=30)
        d.proc = None


def fill(template, out, **vals):
    with open(os.path.join(CONF_SRC, template)) as f:
        text = f.read()
    for k, v in vals.items():
        text = text.replace("@%s@" % k, str(v))
    with open(out, "w") as f:
        f.write(text)
    os.chmod(out, 0o644)
    return out


def large_count(n):
    """Messages of a run on large messages only: half of the others' (each is 276 KB)."""
    return max(n // 2, 2)


class Config:
    """A configuration: its filters and Postfix's smtpd_milters."""

    def __init__(self, name, label, milters, builders, delay=False, kinds=None, checks=None,
                 probe_only=False, size=None):
        self.name, self.label, self.milters = name, label, milters
        self.builders, self.delay, self.kinds = builders, delay, kinds
        # "small" or "large": one size of message only, for the table by
        # size; "large" messages come from sets of their own.
        self.size = size
        self.warm_set, self.measure_set = "warm.tsv", "measure.tsv"
        if size == "small":
            self.kinds = SMALL_KINDS
        elif size == "large":
            self.kinds = None
            self.warm_set, self.measure_set = "warm-large.tsv", "large.tsv"
        self.checks = checks or {}      # method -> expected on the verify set
        self.probe_only = probe_only    # only the latency at 2 sessions


def make_configs(lab, build, rampart_params, have):
    w = lab.work
    db = os.path.join(w, "db")

    def resolver(delay):
        return DELAY_ADDR if delay else WARM_ADDR

    def resolv_conf(delay):
        return os.path.join(w, "resolv-delay.conf") if delay else None

    # Unix-domain sockets for the variants that show what TCP costs.
    sockdir = os.path.join(w, "sock")
    os.makedirs(sockdir, exist_ok=True)
    os.chmod(sockdir, 0o1777)    # pyspf-milter makes its socket as its own user
    null_sock = os.path.join(sockdir, "null.sock")
    rampart_sock = os.path.join(sockdir, "rampart.sock")

    def null(noreply, unix=False):
        def b(d, delay):
            cmd = [os.path.join(build, "bench/null-milter/null-milter"), "-p",
                   "unix:" + null_sock if unix else "inet:%d@127.0.0.1" % PORTS["null"]]
            if noreply:
                cmd.append("-n")
            if unix:
                return [Daemon(lab, "null-milter", cmd, os.path.join(d, "null-milter.log"),
                               socket_path=null_sock)]
            return [Daemon(lab, "null-milter", cmd, os.path.join(d, "null-milter.log"),
                           port=PORTS["null"])]
        return b

    def rampart_unix(d, delay):
        return rampart(d, delay, unix=True)

    def rampart(d, delay, unix=False):
        conf = os.path.join(d, "rampart.conf")
        lines = ["milter_listen = " + ("unix:" + rampart_sock if unix
                                      else "inet:127.0.0.1:%d" % PORTS["rampartd"]),
                 "socket_mode = 0666",
                 "policy_listen =",
                 "pid_file = %s/rampartd.pid" % d,
                 "log_level = info",
                 "dns_forwarders = %s" % resolver(delay),
                 "authserv_id = mx.lab.example"]
        optional = {"av_database_dir": db, "av_temp_dir": os.path.join(d, "tmp"),
                    "dnsbl_sites": "bl.test"}
        # rampartd does not stay root: the lab creates the user rampart.
        try:
            pwd.getpwnam("rampart")
            optional["user"] = "rampart"
        except KeyError:
            optional["allow_root"] = "yes"
        for k, v in optional.items():
            if k in rampart_params:
                lines.append("%s = %s" % (k, v))
        # BENCH_RAMPART_CONF: more lines for rampart.conf ("key = value; key = value"),
        # to measure what an option costs.
        lines += [x.strip() for x in os.environ.get("BENCH_RAMPART_CONF", "").split(";") if x.strip()]
        with open(conf, "w") as f:
            f.write("# rampart.conf written by bench/lib/driver.py\n" + "\n".join(lines) + "\n")
        if unix:
            if os.path.exists(rampart_sock):
                os.unlink(rampart_sock)
            return [Daemon(lab, "rampartd", [os.path.join(build, "milter/rampartd"), "-f", "-c",
                                             conf], os.path.join(d, "rampartd.log"),
                           socket_path=rampart_sock)]
        return [Daemon(lab, "rampartd", [os.path.join(build, "milter/rampartd"), "-f", "-c", conf],
                       os.path.join(d, "rampartd.log"), port=PORTS["rampartd"])]

    def clamd(d):
        conf = fill("clamd.conf.in", os.path.join(d, "clamd.conf"), DIR=d, DB=db)
        return Daemon(lab, "clamd", ["clamd", "-c", conf], os.path.join(d, "clamd.log"),
                      socket_path=os.path.join(d, "clamd.sock"))

    CHAIN = ("pyspf", "opendkim", "clamav-milter", "opendmarc")   # Postfix's order

    def chain_sock(name):
        return os.path.join(sockdir, name + ".sock")

    def chain(d, delay, unix=False):
        r = resolver(delay)
        ds = [clamd(d)]

        def daemon(name, template, cmd_of, resolv=None, **vals):
            if unix:
                spec = {"opendkim": "local:", "opendmarc": "local:"}.get(name, "unix:")
                spec += chain_sock(name)
                where = {"socket_path": chain_sock(name)}
            else:
                spec = "inet:%d@127.0.0.1" % PORTS[name]
                where = {"port": PORTS[name]}
            conf = fill(template, os.path.join(d, name + ".conf"), DIR=d, SOCKET=spec, **vals)
            return Daemon(lab, name, cmd_of(conf), os.path.join(d, name + ".log"), resolv=resolv,
                          **where)

        ds.append(daemon("clamav-milter", "clamav-milter.conf.in",
                         lambda c: ["clamav-milter", "-c", c]))
        ds.append(daemon("opendkim", "opendkim.conf.in", lambda c: ["opendkim", "-f", "-x", c],
                         RESOLVER=r))
        ds.append(daemon("opendmarc", "opendmarc.conf.in", lambda c: ["opendmarc", "-f", "-c", c],
                         resolv=resolv_conf(delay)))
        ds.append(daemon("pyspf", "pyspf-milter.conf.in",
                         lambda c: [PY, "/usr/bin/pyspf-milter", c], resolv=resolv_conf(delay)))
        return ds

    def chain_unix(d, delay):
        return chain(d, delay, unix=True)

    def rspamd(d, delay):
        ds = [clamd(d)]
        conf = fill("rspamd/rspamd.conf.in", os.path.join(d, "rspamd.conf"), DIR=d,
                    PORT=PORTS["rspamd"], NORMAL_PORT=PORTS["rspamd-normal"],
                    RESOLVER=resolver(delay))
        # The compiled regular expressions are kept between runs (and
        # between benchmarks, beside the build).
        hs = os.path.join(build, "rspamd-hs")
        os.makedirs(hs, exist_ok=True)
        shutil.chown(hs, "_rspamd", "_rspamd")
        with open(conf) as f:
            text = f.read().replace('hs_cache_dir = "%s/"' % d, 'hs_cache_dir = "%s/"' % hs)
        with open(conf, "w") as f:
            f.write(text)
        for p in (d, os.path.join(d, "tmp")):
            shutil.chown(p, "_rspamd", "_rspamd")
        ds.append(Daemon(lab, "rspamd", ["rspamd", "-f", "-c", conf, "-u", "_rspamd", "-g",
                                         "_rspamd", "--var", "DBDIR=" + d, "--var",
                                         "RUNDIR=" + d, "--var", "LOGDIR=" + d],
                         os.path.join(d, "rspamd.stdout"), port=PORTS["rspamd"],
                         start_timeout=120))
        return ds

    def m(*names):
        return ", ".join("inet:127.0.0.1:%d" % PORTS[n] for n in names)

    auth = {"spf": "pass", "dkim": "pass", "dmarc": "pass", "virus": "stopped"}
    cfgs = [
        Config("none", "Postfix, no milter", "", lambda d, delay: []),
        Config("null", "null milter", m("null"), null(False)),
        Config("null-nr", "null milter, no-reply stages", m("null"), null(True)),
        # The reference for rampart: on the same kind of socket.
        Config("null-nr-unix", "null milter, no-reply stages, Unix socket", "unix:" + null_sock,
               null(True, unix=True)),
        # rampart on its default kind of socket, a Unix-domain one
        Config("rampart", "rampart", "unix:" + rampart_sock, rampart_unix, checks=auth),
    ]
    # One size of message at a time: the targets are per size.
    for size, what in (("small", "small messages only"), ("large", "200 KiB attachments only")):
        cfgs += [Config("none-" + size, "Postfix, no milter, " + what, "", lambda d, delay: [],
                        size=size),
                 Config("null-nr-unix-" + size, "null milter, no-reply stages, Unix socket, "
                        + what, "unix:" + null_sock, null(True, unix=True), size=size),
                 Config("rampart-" + size, "rampart, " + what, "unix:" + rampart_sock,
                        rampart_unix, checks=auth, size=size)]
    if have["chain"]:
        cfgs += [Config("chain", "opendkim+opendmarc+clamav-milter+pyspf-milter", m(*CHAIN), chain,
                        checks=auth)]
    if have["rspamd"]:
        cfgs.append(Config("rspamd", "rspamd proxy (spf dkim dmarc rbl clamav)", m("rspamd"),
                           rspamd, checks=auth))
    for c in list(cfgs):
        if c.name in ("rampart", "chain", "rspamd"):
            cfgs.append(Config(c.name + "-d%d" % DELAY_MS, c.label + ", DNS +%d ms" % DELAY_MS,
                               c.milters, c.builders, delay=True, checks=c.checks))
    # Over Unix-domain sockets instead of TCP: latency at 2 sessions only.
    cfgs += [Config("null-unix", "null milter on a Unix socket", "unix:" + null_sock,
                    null(False, unix=True), probe_only=True),
             # and rampart on TCP, to show what it costs
             Config("rampart-tcp", "rampart on TCP (127.0.0.1)", m("rampartd"), rampart,
                    checks=auth, probe_only=True),
             Config("rampart-tcp-d%d" % DELAY_MS, "rampart on TCP (127.0.0.1), DNS +%d ms" % DELAY_MS,
                    m("rampartd"), rampart, delay=True, checks=auth, probe_only=True)]
    if have["chain"]:
        um = ", ".join("unix:" + chain_sock(n) for n in CHAIN)
        cfgs += [Config("chain-unix", "the chain on Unix sockets", um, chain_unix, checks=auth,
                        probe_only=True),
                 Config("chain-unix-d%d" % DELAY_MS, "the chain on Unix sockets, DNS +%d ms"
                        % DELAY_MS, um, chain_unix, delay=True, checks=auth, probe_only=True)]
    return cfgs


# ---------------------------------------------------------------- a run

def smtp_load(lab, build, manifest, count, sessions, out=None, kinds=None, hold_ms=0,
              errors=None):
    """Run smtp-load in the namespace; its key=value summary as a dict.
    With errors (a list), the sessions' error messages are appended to it."""
    cmd = [os.path.join(build, "bench/smtp-load/smtp-load"), "-m", manifest, "-n", str(count),
           "-c", str(sessions)]
    if errors is None:
        cmd.append("-q")
    if out:
        cmd += ["-o", out]
    if kinds:
        cmd += ["-k", ",".join(kinds)]
    if hold_ms:
        cmd += ["-H", str(hold_ms)]
    p = lab.run(*cmd, check=False, capture_output=True, text=True, timeout=900)
    if p.returncode not in (0, 1):
        raise Broken("smtp-load failed: %s" % p.stderr.strip())
    if errors is not None:
        errors.extend(l for l in p.stderr.splitlines() if l.strip())
    res = {}
    for line in p.stdout.splitlines():
        k, _, v = line.partition("=")
        res[k] = float(v) if "." in v else int(v)
    return res


AR_RE = re.compile(r"\b(spf|dkim|dmarc)=([a-z]+)")


def read_headers(path):
    with open(path, "rb") as f:
        raw = f.read().decode("utf-8", "replace")
    head = raw.split("\r\n\r\n", 1)[0]
    fields, cur = [], None
    for line in head.split("\r\n"):
        if line[:1] in (" ", "\t") and cur is not None:
            cur += " " + line.strip()
        else:
            if cur is not None:
                fields.append(cur)
            cur = line
    if cur is not None:
        fields.append(cur)
    return fields


def verify(lab, build, cfg, d):
    """Send the verify set to the sink; return (summary, problems)."""
    sink = os.path.join(lab.dir, "sink")
    for f in os.listdir(sink):
        os.unlink(os.path.join(sink, f))
    out = os.path.join(d, "verify.out")
    errors = []
    res = smtp_load(lab, build, os.path.join(lab.work, "verify.tsv"), 5, 5, out=out, errors=errors)
    codes = {}
    with open(out) as f:
        for line in f:
            _, kind, code, _, _ = line.split()
            codes[kind] = int(code)
    # Wait for the accepted messages to reach the sink (or the hold queue).
    lab.wait_queue_empty(timeout=30)
    held = [e for e in lab.queue_size() if e.get("queue_name") == "hold"]
    found = {}
    for f in sorted(os.listdir(sink)):
        if not f.endswith(".eml"):
            continue
        fields = read_headers(os.path.join(sink, f))
        subject = next((x for x in fields if x.lower().startswith("subject:")), "")
        m = re.search(r"\((\w+)\)\s*$", subject)
        kind = m.group(1) if m else "?"
        results = {}
        for x in fields:
            if x.lower().startswith("authentication-results:") and "mx.lab.example" in x:
                for meth, val in AR_RE.findall(x):
                    results.setdefault(meth, val)
        found[kind] = results
    lab.delete_held()
    problems, summary = [], {}
    for kind in ("rsa", "ed", "att", "plain"):
        r = found.get(kind)
        if codes.get(kind, 0) // 100 != 2 or r is None:
            problems.append("%s message: reply %s, delivered %s" % (kind, codes.get(kind),
                                                                    r is not None))
            continue
        summary[kind] = " ".join("%s=%s" % kv for kv in sorted(r.items())) or "-"
        for meth in ("spf", "dkim", "dmarc"):
            want = cfg.checks.get(meth)
            if want is None or (meth == "dkim" and kind == "plain"):
                continue
            got = r.get(meth)
            if got is None:
                summary[kind] += " (no %s)" % meth
            elif got != want:
                problems.append("%s message: %s=%s, want %s" % (kind, meth, got, want))
    v = codes.get("virus", 0)
    stopped = v // 100 == 5 or v // 100 == 4 or bool(held)
    summary["virus"] = ("refused (%d)" % v if v // 100 in (4, 5)
                        else "held" if held else "delivered" if "virus" in found else "?")
    if cfg.checks.get("virus") and not stopped:
        summary["virus"] += " (not stopped)"
    if res.get("failed"):
        problems.append("%d verify sessions failed: %s" % (res["failed"], "; ".join(errors)))
    return summary, problems


def ready(lab, build, cfg):
    """Wait until one message passes through the configuration (a filter may
    listen before it answers)."""
    deadline = time.monotonic() + 60
    errors = []
    while time.monotonic() < deadline:
        errors.clear()
        res = smtp_load(lab, build, os.path.join(lab.work, "warm.tsv"), 1, 1, errors=errors)
        if res.get("ok") == 1:
            return
        if os.environ.get("BENCH_DEBUG"):
            log("%s not ready yet: %s" % (cfg.name, "; ".join(errors)))
        time.sleep(0.2)
    raise Broken("%s: no message got through in 60 s: %s" % (cfg.name, "; ".join(errors)))


def unmount_tmp(d):
    """Unmount the run directory's tmpfs, if it has one: a filter's process
    that has not quite ended can hold it for a moment; at worst detach it
    (umount -l), so that removing the lab never meets a mount point."""
    tmp = os.path.join(d, "tmp")
    for attempt in range(10):
        if not os.path.ismount(tmp):
            return
        if subprocess.run(["umount", tmp], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL, check=False).returncode == 0:
            return
        time.sleep(0.2)
    p = subprocess.run(["umount", "-l", tmp], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, check=False)
    log("%s: busy; %s" % (tmp, "detached" if p.returncode == 0 else p.stdout.strip()))


def make_run_dir(d, on_disk):
    """A fresh run directory; its tmp/ (every filter's temporary files) on a tmpfs
    unless on_disk. Returns "tmpfs" or "disk": where they are."""
    unmount_tmp(d)
    shutil.rmtree(d, ignore_errors=True)
    tmp = os.path.join(d, "tmp")
    os.makedirs(tmp)
    os.chmod(d, 0o777)
    where = "disk"
    if not on_disk:
        p = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%dm,mode=1777" % TMPFS_MB,
                            "rampart-bench", tmp], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, check=False)
        if p.returncode == 0:
            where = "tmpfs"
        else:
            log("no tmpfs for the temporary files (%s): they stay on the disk"
                % p.stdout.strip())
    os.chmod(tmp, 0o1777)
    return where


def one_run(lab, build, cfg, rnd, args, results_dir, do_verify):
    d = os.path.join(lab.work, "run", "%s-%d" % (cfg.name, rnd))
    started = []
    rec = {"config": cfg.name, "round": rnd, "label": cfg.label,
           "tmp": make_run_dir(d, args.tmp_on_disk)}
    phases = {}
    t = time.monotonic()

    def phase(name):
        nonlocal t
        now = time.monotonic()
        phases[name] = round(now - t, 2)
        t = now

    try:
        for dm in cfg.builders(d, cfg.delay):
            dm.start()
            started.append(dm)
        roots = [dm.pid for dm in started]
        lab.set_milters(cfg.milters)
        ready(lab, build, cfg)
        phase("start")
        if do_verify:
            rec["verify"], rec["problems"] = verify(lab, build, cfg, d)
            phase("verify")
        if cfg.probe_only:
            smtp_load(lab, build, os.path.join(lab.work, "warm.tsv"), 10, 2)
            pr = smtp_load(lab, build, os.path.join(lab.work, "probe.tsv"), args.probe, 2)
            rec["probe_eod_p50_us"] = pr["eod_p50_us"]
            rec["probe_eod_p99_us"] = pr["eod_p99_us"]
            rec["probe_session_p50_us"] = pr["session_p50_us"]
            rec.update({k: pr.get(k, 0) for k in ("ok", "tempfail", "reject", "failed")})
            lab.wait_queue_empty()
            phase("probe")
            return rec
        warm = smtp_load(lab, build, os.path.join(lab.work, cfg.warm_set),
                         large_count(args.warm) if cfg.size == "large" else min(args.warm, args.count),
                         args.sessions, kinds=cfg.kinds)
        if warm.get("failed"):
            raise Broken("%s: %d warm-up sessions failed" % (cfg.name, warm["failed"]))
        lab.wait_queue_empty()
        phase("warm")
        master = lab.master_pid()
        f0, p0 = cpu_seconds(roots), cpu_seconds([master])
        sampler = RssSampler(roots)
        sampler.start()
        t0 = time.monotonic()
        # With a subset of the kinds, each message of the subset once.
        count = (large_count(args.count) if cfg.size == "large"
                 else args.count * 18 // 20 if cfg.kinds else args.count)
        res = smtp_load(lab, build, os.path.join(lab.work, cfg.measure_set), count,
                        args.sessions, out=os.path.join(d, "latency.txt"), kinds=cfg.kinds)
        if not lab.wait_queue_empty():
            log("%s: Postfix's queue did not empty" % cfg.name)
        rec["drain_s"] = time.monotonic() - t0 - res["wall_s"]
        f1, p1 = cpu_seconds(roots), cpu_seconds([master])
        rec["rss_peak_kb"] = sampler.stop()
        rec["pss_peak_kb"] = sampler.max_pss_kb
        rec["hwm_kb"] = rss_kb(roots, "VmHWM")
        rec["procs"] = len(tree(proc_table(), roots))
        phase("measure")
        rec.update(res)
        n = res["messages"] - res["failed"]
        rec["filter_cpu_s"] = f1 - f0
        rec["postfix_cpu_s"] = p1 - p0
        rec["filter_ms_per_msg"] = 1000.0 * (f1 - f0) / n if n else 0.0
        rec["postfix_ms_per_msg"] = 1000.0 * (p1 - p0) / n if n else 0.0
        # Latency without the CPU queueing of 20 sessions on 2 cores: a few
        # messages (names never asked before) over 2 sessions.
        if args.probe and not cfg.kinds and not cfg.size:
            pr = smtp_load(lab, build, os.path.join(lab.work, "probe.tsv"), args.probe, 2)
            rec["probe_eod_p50_us"] = pr["eod_p50_us"]
            rec["probe_eod_p99_us"] = pr["eod_p99_us"]
            rec["probe_session_p50_us"] = pr["session_p50_us"]
            rec["failed"] += pr.get("failed", 0)
            lab.wait_queue_empty()
            phase("probe")
        for dm in started:
            if dm.proc.poll() is not None:
                raise Broken("%s died during the run; see %s" % (dm.name, dm.logfile))
    finally:
        stop_all(started)
        unmount_tmp(d)
        phase("stop")
        rec["phases"] = phases
        with open(os.path.join(results_dir, "runs.jsonl"), "a") as f:
            f.write(json.dumps(rec) + "\n")
    return rec


def rss_test(lab, build, cfg, args, results_dir):
    """RSS of the filters before and while args.rss_sessions sessions are open."""
    d = os.path.join(lab.work, "run", "%s-rss" % cfg.name)
    make_run_dir(d, args.tmp_on_disk)
    started = []
    try:
        for dm in cfg.builders(d, False):
            dm.start()
            started.append(dm)
        roots = [dm.pid for dm in started]
        lab.set_milters(cfg.milters)
        ready(lab, build, cfg)
        # Warm up one session at a time: the idle figure then holds the
        # caches, the scanner and the first allocations, but no memory that
        # only concurrent sessions need (thread stacks, per-thread arenas).
        smtp_load(lab, build, os.path.join(lab.work, "warm.tsv"), 10, 1,
                  kinds=SMALL_KINDS)
        lab.wait_queue_empty()
        time.sleep(0.5)
        before = rss_kb(roots)
        sampler = RssSampler(roots, interval=0.1)
        sampler.start()
        res = smtp_load(lab, build, os.path.join(lab.work, "warm.tsv"), args.rss_sessions,
                        args.rss_sessions, kinds=SMALL_KINDS, hold_ms=3000)
        peak = sampler.stop()
        lab.wait_queue_empty()
        rec = {"config": cfg.name, "test": "rss", "sessions": args.rss_sessions,
               "rss_before_kb": before, "rss_held_kb": peak,
               "per_session_kb": (peak - before) / args.rss_sessions,
               "failed": res.get("failed", 0)}
    finally:
        stop_all(started)
        unmount_tmp(d)
    with open(os.path.join(results_dir, "runs.jsonl"), "a") as f:
        f.write(json.dumps(rec) + "\n")
    return rec


# ---------------------------------------------------------------- set-up

def prepare(lab, args):
    w = lab.work
    os.makedirs(w, exist_ok=True)
    os.chmod(w, 0o755)
    log("writing and signing the mail")
    subprocess.run([PY, os.path.join(HERE, "mkmail.py"), "--lab-dir", lab.dir, "--out", w,
                    "--count", str(args.count), "--warm", str(max(args.warm, args.rss_sessions)),
                    "--large", str(large_count(args.count)),
                    "--warm-large", str(large_count(args.warm)),
                    "--probe", str(max(args.probe, 1))],
                   check=True, timeout=600)
    # The names the mail uses, in the scratch copy of the lab's zone.
    zone = os.path.join(lab.dir, "zones", "example.zone")
    with open(zone) as f:
        text = f.read()
    mark = "; rampart bench (bench/lib/mkmail.py)"
    if mark in text:
        text = text[:text.index(mark)]
    with open(os.path.join(w, "bench.zone")) as f:
        text += f.read()
    with open(zone, "w") as f:
        f.write(text)
    with open(os.path.join(lab.dir, "pids", "nsd.pid")) as f:
        os.kill(int(f.read().strip()), signal.SIGHUP)
    deadline = time.monotonic() + 30
    while True:
        p = lab.run("dig", "+short", "+time=1", "+tries=1", "-p", "5300", "@127.0.0.1",
                    "ed25519._domainkey.v1.bench.example", "TXT", check=False,
                    capture_output=True, text=True)
        if "k=ed25519" in p.stdout:
            break
        if time.monotonic() > deadline:
            raise Broken("NSD did not load the benchmark's names")
        time.sleep(0.2)
    subprocess.run([LAB, "dns-flush"], check=True, timeout=60,
                   env=dict(os.environ, LAB_DIR=lab.dir))
    # The signature database rampart and clamd scan with.
    subprocess.run(["sh", os.path.join(SRC, "tests", "av", "make-db.sh"), os.path.join(w, "db")],
                   check=True, timeout=60, stdout=subprocess.DEVNULL)
    os.chmod(os.path.join(w, "db"), 0o755)
    with open(os.path.join(w, "resolv-delay.conf"), "w") as f:
        f.write("nameserver %s\noptions timeout:5 attempts:2\n" % DELAY_ADDR)
    os.chmod(os.path.join(w, "resolv-delay.conf"), 0o644)
    # Measured mail is discarded by Postfix once accepted (the sink would
    # be one more busy process); the verify set goes to the sink. No
    # limit on sessions from one client: they all come from 127.0.0.1.
    lab.postconf("transport_maps = inline:{ discard.example=discard: }",
                 "smtpd_client_connection_count_limit = 0")
    lab.set_milters("")


def rampart_params(build):
    p = subprocess.run([os.path.join(build, "milter/rampartd"), "-d"], capture_output=True,
                       text=True, timeout=30)
    return {l.split("=", 1)[0].strip() for l in p.stdout.splitlines() if "=" in l}


def have_programs():
    def ok(*progs):
        return all(shutil.which(p) for p in progs)
    return {"chain": ok("opendkim", "opendmarc", "clamav-milter", "clamd") and
            os.path.exists("/usr/bin/pyspf-milter"),
            "rspamd": ok("rspamd", "clamd")}


# ---------------------------------------------------------------- report

def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def report(runs, rss, cfgs, args, out):
    by = {}
    for r in runs:
        by.setdefault(r["config"], []).append(r)

    def med(name, key, scale=1.0):
        vals = [r[key] for r in by.get(name, []) if key in r]
        return median(vals) / scale if vals else None

    def fmt(x, f="%.1f"):
        return "-" if x is None else f % x

    base_rate = med("none", "rate")
    base_p50 = med("none", "eod_p50_us", 1000)
    base_probe = med("none", "probe_eod_p50_us", 1000)
    lines = ["Throughput and cost, %d concurrent sessions:" % args.sessions, "",
             "| configuration | msg/s | vs no milter | filter CPU s per 1000 msg | "
             "Postfix CPU ms/msg | filter peak RSS MB (PSS) |",
             "|---|---:|---:|---:|---:|---:|"]
    for c in cfgs:
        if c.name not in by or c.probe_only or c.size:
            continue
        rate = med(c.name, "rate")
        filt = c.name != "none"
        lines.append("| %s | %.0f | %s | %s | %.2f | %s |" % (
            c.name, rate, fmt(rate / base_rate if base_rate else None, "%.2f"),
            fmt(med(c.name, "filter_ms_per_msg"), "%.2f") if filt else "-",
            med(c.name, "postfix_ms_per_msg"),
            "%.1f (%.1f)" % (med(c.name, "rss_peak_kb", 1024), med(c.name, "pss_peak_kb", 1024))
            if filt else "-"))
    # By size: the throughput and CPU targets are per size of message.
    sized = [c for c in cfgs if c.size and c.name in by]
    if sized:
        lines += ["", "By size of message, %d concurrent sessions (small: the signed and plain "
                  "ones of 2 to 3 KB; large: 276 KB, a 200 KiB attachment); \"vs null-nr\" is "
                  "against the no-reply null milter on a Unix socket, on the same messages:"
                  % args.sessions, "",
                  "| configuration | msg/s | vs no milter | vs null-nr | filter CPU ms/msg | "
                  "Postfix CPU ms/msg |", "|---|---:|---:|---:|---:|---:|"]
        for c in sized:
            rate = med(c.name, "rate")
            base = med("none-" + c.size, "rate")
            ref = med("null-nr-unix-" + c.size, "rate")
            filt = not c.name.startswith("none")
            lines.append("| %s | %.0f | %s | %s | %s | %.2f |" % (
                c.name, rate, fmt(rate / base if base else None, "%.2f"),
                fmt(rate / ref if ref and c.name.startswith("rampart") else None, "%.2f"),
                fmt(med(c.name, "filter_ms_per_msg"), "%.2f") if filt else "-",
                med(c.name, "postfix_ms_per_msg")))
    lines += ["", "Latency from the end of DATA to the reply, ms; \"added\" is over Postfix "
              "without a milter (on the same messages):", "",
              "| configuration | %d sessions p50 | p99 | added p50 | 2 sessions p50 | p99 | "
              "added p50 | 2 sessions, whole session p50 |" % args.sessions,
              "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for c in cfgs:
        if c.name not in by:
            continue
        p50 = med(c.name, "eod_p50_us", 1000)
        q50 = med(c.name, "probe_eod_p50_us", 1000)
        b50 = med("none-" + c.size, "eod_p50_us", 1000) if c.size else base_p50
        lines.append("| %s | %s | %s | %s | %s | %s | %s | %s |" % (
            c.name, fmt(p50), fmt(med(c.name, "eod_p99_us", 1000)),
            fmt(p50 - b50 if p50 is not None and b50 is not None else None),
            fmt(q50), fmt(med(c.name, "probe_eod_p99_us", 1000)),
            fmt(q50 - base_probe if q50 is not None and base_probe is not None else None),
            fmt(med(c.name, "probe_session_p50_us", 1000))))
    lines.append("")
    lines.append("Medians of %d round(s), %d messages per run (%d at 2 sessions)."
                 % (max(len(v) for v in by.values()) if by else 0, args.count, args.probe))
    places = sorted({r.get("tmp", "disk") for r in runs})
    if places:
        lines.append("The filters' temporary files: %s." % (
            places[0] + (" (--tmp-on-disk)" if args.tmp_on_disk else "") if len(places) == 1
            else "on a tmpfs in %d runs, on the disk in %d (a tmpfs could not be mounted)"
            % (sum(r.get("tmp") == "tmpfs" for r in runs),
               sum(r.get("tmp") != "tmpfs" for r in runs))))
    if rss:
        lines += ["", "| configuration | RSS idle MB | RSS with %d sessions open MB | "
                  "growth per session KB |" % args.rss_sessions, "|---|---:|---:|---:|"]
        for r in rss:
            lines.append("| %s | %.1f | %.1f | %.0f |" % (r["config"], r["rss_before_kb"] / 1024,
                                                      r["rss_held_kb"] / 1024, r["per_session_kb"]))
    verifs = [(r["config"], r["verify"]) for r in runs if r.get("verify")]
    if verifs:
        lines += ["", "What each configuration wrote (verify set, first round):", ""]
        for name, v in verifs:
            lines.append("- %s: %s" % (name, "; ".join("%s: %s" % kv for kv in v.items())))
    # The targets, where rampart ran.
    t = []
    if base_rate and med("rampart", "rate"):
        t.append("throughput rampart/no milter %.2f on the mix (the no-reply null milter: %s)"
                 % (med("rampart", "rate") / base_rate,
                    fmt(med("null-nr-unix", "rate") / base_rate if med("null-nr-unix", "rate")
                        else None, "%.2f")))
    for size in ("small", "large"):
        r, b, n = (med(x + size, "rate") for x in ("rampart-", "none-", "null-nr-unix-"))
        if r and b:
            t.append("%s messages: rampart/no milter %.2f, the no-reply null milter %s "
                     "(target: at least the null milter, about 0.69)"
                     % (size, r / b, fmt(n / b if n else None, "%.2f")))
    if med("rampart-small", "filter_ms_per_msg") is not None:
        t.append("rampart CPU per small message %.2f ms (target <= 1.5; the no-reply null "
                 "milter: %s)" % (med("rampart-small", "filter_ms_per_msg"),
                                  fmt(med("null-nr-unix-small", "filter_ms_per_msg"), "%.2f")))
        if med("null-nr-unix-small", "postfix_ms_per_msg") is not None:
            t.append("Postfix CPU per small message %.2f ms with rampart, %.2f with the "
                     "no-reply null milter (target: no higher)"
                     % (med("rampart-small", "postfix_ms_per_msg"),
                        med("null-nr-unix-small", "postfix_ms_per_msg")))
    for name in ("rampart-d%d" % DELAY_MS, "rampart-tcp-d%d" % DELAY_MS):
        d50 = med(name, "probe_eod_p50_us", 1000)
        if d50 is not None and base_probe is not None:
            t.append("added latency p50 with DNS +%d ms, 2 sessions, %s: %.1f ms (target < %d)"
                     % (DELAY_MS, "TCP" if "tcp" in name else "Unix socket",
                        d50 - base_probe, 2 * DELAY_MS))
    d50 = med("rampart-d%d" % DELAY_MS, "eod_p50_us", 1000)
    if d50 is not None and med("rampart", "eod_p50_us") is not None:
        t.append("at %d sessions the delay adds %.1f ms to rampart's p50"
                 % (args.sessions, d50 - med("rampart", "eod_p50_us", 1000)))
    for r in rss:
        if r["config"] == "rampart":
            t.append("RSS growth per open session %.0f KB (target < 64 KB plus message buffers)"
                     % r["per_session_kb"])
    if t:
        lines += ["", "Targets: " + "; ".join(t) + "."]
    text = "\n".join(lines) + "\n"
    with open(out, "w") as f:
        f.write(text)
    return text


# ---------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lab-dir", required=True)
    ap.add_argument("--build", required=True)
    ap.add_argument("--out", default=None)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--count", type=int, default=400)
    ap.add_argument("--warm", type=int, default=40)
    ap.add_argument("--sessions", type=int, default=20)
    ap.add_argument("--configs", default=None)
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--rss-sessions", type=int, default=50)
    ap.add_argument("--probe", type=int, default=30)
    ap.add_argument("--no-rss", action="store_true")
    ap.add_argument("--tmp-on-disk", action="store_true")
    args = ap.parse_args()
    if args.smoke:
        args.rounds, args.count, args.warm, args.probe = 1, 20, 20, 4
        args.no_rss, args.rss_sessions = True, 0
    lab = Lab(os.path.realpath(args.lab_dir))
    results = args.out or os.path.join(lab.work, "results")
    os.makedirs(results, exist_ok=True)
    for f in ("runs.jsonl",):
        if os.path.exists(os.path.join(results, f)):
            os.unlink(os.path.join(results, f))
    prepare(lab, args)
    have = have_programs()
    cfgs = make_configs(lab, args.build, rampart_params(args.build), have)
    wanted = args.configs.split(",") if args.configs else (
        ["none", "null", "rampart"] if args.smoke else None)
    if wanted:
        unknown = set(wanted) - {c.name for c in cfgs}
        if unknown:
            raise Broken("unknown or unavailable configurations: %s" % ", ".join(sorted(unknown)))
        cfgs = [c for c in cfgs if c.name in wanted]
    if not have["chain"]:
        log("the chain's packages are missing (bench/install-deps): left out")
    if not have["rspamd"]:
        log("rspamd is missing: left out")
    proxy = None
    broken = []
    runs, rss = [], []
    try:
        if any(c.delay for c in cfgs):
            proxy = Daemon(lab, "dnsdelay", [PY, "-B", os.path.join(SRC, "tests/lab/lib/dnsdelay.py"),
                                             "--delay-ms", str(DELAY_MS), "--listen",
                                             DELAY_ADDR + ":53", "--upstream", "127.0.0.1:53"],
                           os.path.join(lab.work, "dnsdelay.log"), port=53, addr=DELAY_ADDR)
            proxy.start()
            time.sleep(0.5)
        for rnd in range(args.rounds):
            for c in cfgs:
                t0 = time.monotonic()
                r = one_run(lab, args.build, c, rnd, args, results, do_verify=(rnd == 0))
                runs.append(r)
                if c.probe_only:
                    log("round %d %-14s 2 sessions: end-of-DATA p50 %.1f ms, p99 %.1f ms  "
                        "(%d ok, %d failed; %.0f s)" % (
                            rnd + 1, c.name, r["probe_eod_p50_us"] / 1000,
                            r["probe_eod_p99_us"] / 1000, r["ok"], r["failed"],
                            time.monotonic() - t0))
                    msg = None
                else:
                    msg = ("round %d %-14s %6.1f msg/s  filter %.2f ms/msg  postfix %.2f ms/msg  "
                       "rss %.1f MB  eod p50 %.1f ms p99 %.1f ms  (%d ok, %d 4xx, %d 5xx, "
                       "%d failed; %.0f s)" % (
                           rnd + 1, c.name, r["rate"], r["filter_ms_per_msg"],
                           r["postfix_ms_per_msg"], r["rss_peak_kb"] / 1024,
                           r["eod_p50_us"] / 1000, r["eod_p99_us"] / 1000, r["ok"],
                           r["tempfail"], r["reject"], r["failed"], time.monotonic() - t0))
                if msg:
                    log(msg)
                log("  " + " ".join("%s %.1fs" % kv for kv in r["phases"].items()) +
                    ("; 2 sessions: end-of-DATA p50 %.1f ms, p99 %.1f ms" % (
                        r["probe_eod_p50_us"] / 1000, r["probe_eod_p99_us"] / 1000)
                     if "probe_eod_p50_us" in r else ""))
                if r.get("verify"):
                    log("  verify: " + "; ".join("%s: %s" % kv for kv in r["verify"].items()))
                for p in r.get("problems", []):
                    log("  PROBLEM: %s: %s" % (c.name, p))
                    broken.append("%s: %s" % (c.name, p))
                if r["failed"] or r["tempfail"] or r["reject"]:
                    broken.append("%s round %d: %d failed sessions, %d refused messages"
                                  % (c.name, rnd + 1, r["failed"], r["tempfail"] + r["reject"]))
        if not args.no_rss:
            for c in cfgs:
                if c.name in ("null", "rampart", "chain", "rspamd"):
                    r = rss_test(lab, args.build, c, args, results)
                    rss.append(r)
                    log("rss %-10s idle %.1f MB, %d sessions open %.1f MB: %.0f KB per session"
                        % (c.name, r["rss_before_kb"] / 1024, r["sessions"],
                           r["rss_held_kb"] / 1024, r["per_session_kb"]))
    except Broken as e:
        broken.append(str(e))
        log("BROKEN: %s" % e)
    finally:
        if proxy:
            proxy.stop()
    text = report(runs, rss, cfgs, args, os.path.join(results, "table.md"))
    print()
    print(text)
    if broken:
        log("%d problem(s):" % len(broken))
        for b in broken:
            log("  " + b)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
