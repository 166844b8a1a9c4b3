#!/usr/bin/python3
"""mkmail.py -- the benchmark's mail, signed once with the lab's DKIM keys.

Writes into OUT:
  bench.zone       records to append to the lab's example zone: each
                   message has DNS names of its own, so that no filter's
                   cache answers for the next message
  NAME.tsv         a manifest for smtp-load (one line per message:
                   kind client_addr client_name helo mail_from rcpt file)
                   for each set: "measure" (COUNT messages), "warm"
                   (WARM messages, other names), "probe" (PROBE messages,
                   other names again, for the latency at low load),
                   "large" (LARGE messages, all "att", other names),
                   "warm-large" (WARM_LARGE of them, other names),
                   "verify" (one message of each kind, delivered to the
                   sink so that the results the filters wrote can be read,
                   and one "virus" with the EICAR test file attached,
                   which every scanner must stop)
  msg/SET-N.eml    the messages

Kinds, in a fixed cycle of 20: 7 "rsa" (rsa-sha256, 2048-bit key), 5 "ed"
(ed25519-sha256), 2 "att" (a 200 KiB attachment, rsa-sha256), 6 "plain"
(unsigned). Every message passes SPF (the client is in the sender's SPF
record), DKIM where signed, and DMARC (p=reject, aligned exactly), so
every filter does all its work and accepts it.

Names of message N of set S (prefix S[0], e.g. m17), each an explicit
record (wildcards would give _dmarc.m17 the SPF record's TXT too, and
opendmarc 1.4.2 reads only the last TXT record of an answer):
  MAIL FROM / From    sender@m17.bench.example      TXT v=spf1
  DMARC               _dmarc.m17.bench.example      TXT v=DMARC1; p=reject
  DKIM                d=m17.bench.example, s=rsa2048 or s=ed25519
  client              192.0.2.21 to .28, mx1 to mx8.bench.example (HELO
                      too, with an SPF record each)

Usage: mkmail.py --lab-dir LAB_DIR --out OUT [--count 400] [--warm 40] [--probe 40]
                 [--large 200] [--warm-large 20]
                 [--rcpt bob@discard.example] [--verify-rcpt bob@rcpt.example]
"""

import argparse
import base64
import os
import random
import sys

import dkim

CYCLE = (["rsa"] * 7 + ["ed"] * 5 + ["att"] * 2 + ["plain"] * 6)
# Interleave the kinds so that any run of messages has the mix.
CYCLE = [CYCLE[(i * 7) % 20] for i in range(20)]
CLIENTS = [("192.0.2.%d" % (21 + i), "mx%d.bench.example" % (1 + i)) for i in range(8)]
ZONE_TTL = 3600
ATTACH_BYTES = 200 * 1024
WORDS = ("the mail filter checks every message that arrives at the border of the "
         "network before it reaches a mailbox and it does so quickly and with care "
         "so that nobody waits for it").split()


def txt_strings(text):
    """A TXT record's text as quoted character-strings of at most 250 bytes."""
    return " ".join('"%s"' % text[i:i + 250] for i in range(0, len(text), 250))


def zone(lab_dir, names):
    """Zone file lines (origin example.) for the given message names."""
    with open(os.path.join(lab_dir, "dkim", "rsa2048.txt")) as f:
        rsa = txt_strings(f.read().strip())
    with open(os.path.join(lab_dir, "dkim", "ed25519.txt")) as f:
        ed = txt_strings(f.read().strip())
    spf = '"v=spf1 ip4:192.0.2.0/24 -all"'
    out = ["; rampart bench (bench/lib/mkmail.py): names of its own for each message",
           "$ORIGIN example.", "$TTL %d" % ZONE_TTL]
    for addr, host in CLIENTS:
        h = host[:-len(".example")]
        out.append("%s TXT %s" % (h, spf))
        out.append("%s A %s" % (h, addr))
    for name in names:
        d = "%s.bench" % name
        out.append("%s TXT %s" % (d, spf))
        out.append("%s MX 10 mx.lab.example." % d)
        out.append("_dmarc.%s TXT \"v=DMARC1; p=reject\"" % d)
        out.append("rsa2048._domainkey.%s TXT %s" % (d, rsa))
        out.append("ed25519._domainkey.%s TXT %s" % (d, ed))
    return "\n".join(out) + "\n"


def eicar():
    """The EICAR test file, put together from two halves as tests/av/make-db.sh does."""
    half1 = "X5O!P%@AP[4\\PZX54(P^)7CC)7}$"
    half2 = "EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
    return (half1 + half2).encode()


def paragraph(rng, words):
    out, line = [], []
    for _ in range(words):
        line.append(rng.choice(WORDS))
        if len(" ".join(line)) > 66:
            out.append(" ".join(line))
            line = []
    if line:
        out.append(" ".join(line))
    return "\r\n".join(out) + "\r\n"


def message(rng, kind, name, idx, rcpt):
    domain = "%s.bench.example" % name
    frm = "sender@%s" % domain
    headers = [
        "Received: from mx%d.bench.example (mx%d.bench.example [192.0.2.%d])\r\n"
        "\tby relay.bench.example with ESMTPS id %s\r\n"
        "\tfor <%s>; Mon, 6 Jan 2025 10:00:%02d +0000" % (idx % 8 + 1, idx % 8 + 1, 21 + idx % 8,
                                                          name.upper(), rcpt, idx % 60),
        "From: Sender %s <%s>" % (name, frm),
        "To: Bob <%s>" % rcpt,
        "Subject: benchmark message %s (%s)" % (name, kind),
        "Date: Mon, 6 Jan 2025 10:00:%02d +0000" % (idx % 60),
        "Message-ID: <%s.%d@%s>" % (name, idx, domain),
        "MIME-Version: 1.0",
    ]
    text = "Hello Bob,\r\n\r\n" + paragraph(rng, 120) + "\r\n" + paragraph(rng, 100) + \
        "\r\n-- \r\nSender %s\r\n" % name
    if kind in ("att", "virus"):
        blob = rng.randbytes(ATTACH_BYTES) if kind == "att" else eicar()
        b64 = base64.b64encode(blob).decode()
        b64 = "\r\n".join(b64[i:i + 76] for i in range(0, len(b64), 76))
        headers.append('Content-Type: multipart/mixed; boundary="=-bench-%s"' % name)
        body = ("This is a multi-part message in MIME format.\r\n\r\n"
                "--=-bench-{n}\r\nContent-Type: text/plain; charset=utf-8\r\n"
                "Content-Transfer-Encoding: 7bit\r\n\r\n{text}\r\n"
                "--=-bench-{n}\r\nContent-Type: application/octet-stream\r\n"
                "Content-Transfer-Encoding: base64\r\n"
                "Content-Disposition: attachment; filename=\"report-{n}.bin\"\r\n\r\n"
                "{b64}\r\n--=-bench-{n}--\r\n").format(n=name, text=text, b64=b64)
    else:
        headers.append("Content-Type: text/plain; charset=utf-8")
        headers.append("Content-Transfer-Encoding: 7bit")
        body = text
    return ("\r\n".join(headers) + "\r\n\r\n" + body).encode(), frm


def sign(msg, kind, name, keys):
    dom = "%s.bench.example" % name
    if kind in ("rsa", "att"):
        sel, key, alg = "rsa2048", keys["rsa"], b"rsa-sha256"
    elif kind == "ed":
        sel, key, alg = "ed25519", keys["ed"], b"ed25519-sha256"
    else:
        return msg
    sig = dkim.sign(msg, sel.encode(), dom.encode(), key,
                    canonicalize=(b"relaxed", b"relaxed"), signature_algorithm=alg,
                    include_headers=[b"From", b"To", b"Subject", b"Date", b"Message-ID",
                                     b"MIME-Version", b"Content-Type"])
    return sig + msg


def write_set(out, set_name, prefix, count, rcpt, keys, rng, kinds=None):
    """Write the messages and the manifest of a set; return their names."""
    lines, names = [], []
    for i in range(count):
        kind = kinds[i] if kinds else CYCLE[i % len(CYCLE)]
        name = "%s%d" % (prefix, i)
        names.append(name)
        msg, frm = message(rng, kind, name, i, rcpt)
        msg = sign(msg, kind, name, keys)
        rel = "msg/%s-%d.eml" % (set_name, i)
        with open(os.path.join(out, rel), "wb") as f:
            f.write(msg)
        addr, host = CLIENTS[i % len(CLIENTS)]
        lines.append("\t".join([kind, addr, host, host, frm, rcpt, rel]))
    with open(os.path.join(out, set_name + ".tsv"), "w") as f:
        f.write("# kind\tclient_addr\tclient_name\thelo\tmail_from\trcpt\tfile\n")
        f.write("\n".join(lines) + "\n")
    return names


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lab-dir", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--count", type=int, default=400)
    ap.add_argument("--warm", type=int, default=40)
    ap.add_argument("--probe", type=int, default=40)
    ap.add_argument("--large", type=int, default=200)
    ap.add_argument("--warm-large", type=int, default=20)
    ap.add_argument("--rcpt", default="bob@discard.example")
    ap.add_argument("--verify-rcpt", default="bob@rcpt.example")
    args = ap.parse_args()
    os.makedirs(os.path.join(args.out, "msg"), exist_ok=True)
    keydir = os.path.join(args.lab_dir, "dkim")
    with open(os.path.join(keydir, "rsa2048.pem"), "rb") as f:
        rsa = f.read()
    with open(os.path.join(keydir, "ed25519.seed"), "rb") as f:
        ed = f.read().strip()
    keys = {"rsa": rsa, "ed": ed}
    rng = random.Random(20250106)
    names = write_set(args.out, "measure", "m", args.count, args.rcpt, keys, rng)
    names += write_set(args.out, "warm", "w", args.warm, args.rcpt, keys, rng)
    names += write_set(args.out, "probe", "p", args.probe, args.rcpt, keys, rng)
    names += write_set(args.out, "large", "l", args.large, args.rcpt, keys, rng,
                       kinds=["att"] * args.large)
    names += write_set(args.out, "warm-large", "x", args.warm_large, args.rcpt, keys, rng,
                       kinds=["att"] * args.warm_large)
    names += write_set(args.out, "verify", "v", 5, args.verify_rcpt, keys, rng,
                       kinds=["rsa", "ed", "att", "plain", "virus"])
    with open(os.path.join(args.out, "bench.zone"), "w") as f:
        f.write(zone(args.lab_dir, names))
    return 0


if __name__ == "__main__":
    sys.exit(main())
