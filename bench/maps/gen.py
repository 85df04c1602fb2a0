#!/usr/bin/env python3
"""gen.py - deterministic inputs for the map benchmark (bench/maps/run).

Every generator takes an output directory, sizes and a seed, writes plain
files and returns their paths; the same arguments always give the same bytes,
so Postfix and mxscreen are measured on identical tables and keys and a
result can be reproduced later. Files are only rewritten when missing.

  hash   N entries "hostNNN.zoneMMM.example REJECT ...", keys: 50% hits,
         shuffled (access maps see many misses).
  cidr   a few thousand IPv4 networks (a few /8../12, the rest /16../32,
         host bits clear) and IPv6 networks in one first-match file, keys: 80% IPv4,
         20% IPv6, about a third inside some listed network.
  header the seed's header_checks rules (tests/peer/data/seed_header_checks,
         verbatim, 10 rules) plus synthetic header_checks-style rules up to
         N rules: anchored ^Subject:.*token, ^(From|Reply-To):.*@domainNNN
         \.example, Received: [10.a.b.N], attachment names, character
         classes, alternations. The same file is valid as regexp: and pcre:
         with the same meaning (no backslash inside brackets, no GNU or PCRE
         only syntax). Keys: header lines of 60-120 bytes, about 5% built to
         hit one rule chosen uniformly from the set, the rest ordinary
         headers that hit nothing.

CLI (for looking at the data): gen.py {hash,cidr,header} DIR N NKEYS
"""

import os
import random
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SEED_HEADER_CHECKS = os.path.join(HERE, "..", "..", "tests", "peer", "data", "seed_header_checks")
SEED = 42


def _write(path, lines):
    """Write lines (str or bytes) atomically; keep an existing file."""
    if os.path.exists(path):
        return path
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        for line in lines:
            f.write(line if isinstance(line, bytes) else line.encode())
            f.write(b"\n")
    os.rename(tmp, path)
    return path


# ---------------------------------------------------------------- hash

def gen_hash(outdir, entries, nkeys, seed=SEED):
    src = os.path.join(outdir, "hash_%d" % entries)
    keys = os.path.join(outdir, "hash_%d.keys_%d" % (entries, nkeys))
    rng = random.Random("hash:%d:%d" % (seed, entries))
    zones = max(1, entries // 1000)

    def name(n):
        return "host%d.zone%d.example" % (n, n % zones)

    if not os.path.exists(src):
        _write(src, ("%s REJECT 554 5.7.1 listed entry %d" % (name(n), n)
                     for n in rng.sample(range(entries), entries)))
    if not os.path.exists(keys):
        krng = random.Random("hashkeys:%d:%d:%d" % (seed, entries, nkeys))
        out = []
        for _ in range(nkeys):
            n = krng.randrange(entries)
            # Misses look just like hits: same shape, a number outside the table.
            out.append(name(n) if krng.random() < 0.5 else name(entries + n))
        _write(keys, out)
    return src, keys


# ---------------------------------------------------------------- cidr

def gen_cidr(outdir, nets, nkeys, seed=SEED):
    src = os.path.join(outdir, "cidr_%d" % nets)
    keys = os.path.join(outdir, "cidr_%d.keys_%d" % (nets, nkeys))
    rng = random.Random("cidr:%d:%d" % (seed, nets))
    v4, v6 = [], []
    n6 = nets // 5
    for i in range(nets - n6):
        # A few very wide entries (whole providers), mostly /16../32.
        plen = rng.choice([8, 10, 12]) if i % 1000 == 999 else \
            rng.choice([16, 16, 18, 20, 22, 24, 24, 24, 24, 24, 25, 26, 27, 28, 29, 30, 32, 32, 32, 32])
        addr = rng.randrange(1, 224) << 24 | rng.randrange(1 << 24)
        addr &= (0xffffffff << (32 - plen)) & 0xffffffff
        v4.append((addr, plen))
    for _ in range(n6):
        plen = rng.choice([32, 40, 48, 48, 56, 64, 64, 64, 128])
        addr = (0x2001 << 112 | 0x0db8 << 96) if rng.random() < 0.3 else (0x2 << 124 | rng.randrange(1 << 124))
        addr |= rng.randrange(1 << 96)
        addr &= ((1 << 128) - 1) ^ ((1 << (128 - plen)) - 1)
        v6.append((addr, plen))

    def fmt4(a):
        return "%d.%d.%d.%d" % (a >> 24, a >> 16 & 255, a >> 8 & 255, a & 255)

    def fmt6(a):
        import ipaddress
        return str(ipaddress.IPv6Address(a))

    if not os.path.exists(src):
        lines = ["# synthetic first-match client table: %d networks" % nets]
        for i, (a, p) in enumerate(v4):
            lines.append("%s/%d REJECT 554 5.7.1 network %d" % (fmt4(a), p, i))
        for i, (a, p) in enumerate(v6):
            lines.append("%s/%d REJECT 554 5.7.1 network6 %d" % (fmt6(a), p, i))
        _write(src, lines)
    if not os.path.exists(keys):
        krng = random.Random("cidrkeys:%d:%d:%d" % (seed, nets, nkeys))
        out = []
        for _ in range(nkeys):
            inside = krng.random() < 0.33
            if krng.random() < 0.8:
                if inside:
                    a, p = krng.choice(v4)
                    a |= krng.randrange(1 << (32 - p))
                else:
                    a = krng.randrange(1, 224) << 24 | krng.randrange(1 << 24)
                out.append(fmt4(a))
            else:
                if inside:
                    a, p = krng.choice(v6)
                    a |= krng.randrange(1 << (128 - p))
                else:
                    a = 0x2 << 124 | krng.randrange(1 << 124)
                out.append(fmt6(a))
        _write(keys, out)
    return src, keys


# ---------------------------------------------------------------- header rules

def _seed_rules():
    with open(SEED_HEADER_CHECKS, "rb") as f:
        lines = f.read().decode().split("\n")
    return [l for l in lines if l.strip() and not l.startswith("#")]


def _pad(rng, s, lo=60, hi=120):
    """Lengthen a header line with ordinary words to about lo..hi bytes
    (never cutting it, so a hit stays a hit)."""
    want = rng.randrange(lo, hi + 1)
    while True:
        w = rng.choice(BENIGN_WORDS)
        if len(s) + 1 + len(w) > want:
            return s
        s += " " + w


# Keys that hit seed rule i (in file order), see tests/peer/data/seed_header_checks.
SEED_HITS = [
    lambda rng, tk: "Subject: \u041f\u0440\u0438\u0432\u0435\u0442 " + rng.choice(BENIGN_WORDS),
    lambda rng, tk: "Subject: hello=20there=20my=20dear=20friend",
    lambda rng, tk: "X-Note: template {6,} left in",
    lambda rng, tk: "X-Note: template x{3,} left in",
    lambda rng, tk: "Subject: =?GB2312?B?%s?=" % rng.choice(["xyzw", "abcd"]),
    lambda rng, tk: 'Content-Type: text/plain; charset="%s"' % rng.choice(["big5", "koi8-r", "euc-kr"]),
    lambda rng, tk: "Subject: hi      there",
    lambda rng, tk: "Subject: cheap r-o-l-e-x watches",
    lambda rng, tk: "Subject: p.o.r.n",
    lambda rng, tk: 'Content-Disposition: attachment; filename="invoice.exe"',
]

# Synthetic rule templates: (rule format, hit key format). {tk} is a 5-digit
# token unique to the rule, {a}/{b} two octets derived from it.
TEMPLATES = [
    ("/^Subject:.*spam{tk}/ REJECT spam subject {tk}",
     "Subject: great spam{tk} offer"),
    ("/^(From|Reply-To):.*@domain{tk}\\.example/ REJECT bad sender domain {tk}",
     "From: Bob Smith <bob@domain{tk}.example>"),
    ("/^Received:.*\\[10\\.{a}\\.{b}\\.[0-9]+\\]/ REJECT relay {tk}",
     "Received: from relay.example (relay.example [10.{a}.{b}.77]) by mx.example.net"),
    ("/^Subject:.*(cheap|discount|free) +pills?{tk}/ REJECT pills {tk}",
     "Subject: free pills{tk} today"),
    ("/^Content-(Type|Disposition):.*name=\"?[a-z0-9_]*{tk}\\.(scr|pif|vbs)/ REJECT attachment {tk}",
     "Content-Disposition: attachment; filename=\"doc{tk}.scr\""),
    ("/^X-Mailer:.*bulk ?mailer {tk} v[0-9]+/ REJECT mailer {tk}",
     "X-Mailer: Bulk Mailer {tk} v3"),
    ("/^Message-ID:.*@spamhost{tk}\\.[a-z]{{2,4}}>/ REJECT message-id {tk}",
     "Message-ID: <abc.def@spamhost{tk}.biz>"),
    ("/^Subject:.*w[i1]n +[0-9]+ +(dollars|euros) +{tk}/ REJECT prize {tk}",
     "Subject: w1n 100 euros {tk} now"),
]

BENIGN_WORDS = """meeting agenda notes project update quarterly report review draft
budget schedule tomorrow lunch thanks regards invoice reminder team status
weekly monthly planning release notes question answer follow up call
conference summary minutes travel booking confirmation order shipped
delivery newsletter october november welcome account password reset
photos family weekend dinner birthday party holiday office""".split()


def _benign(rng):
    k = rng.randrange(8)
    n = rng.randrange(1, 250)
    if k < 3:
        return _pad(rng, "Subject: " + " ".join(rng.choice(BENIGN_WORDS) for _ in range(3)))
    if k == 3:
        return _pad(rng, "From: %s %s <%s.%s@mail%d.example.org>" % (
            rng.choice(["Alice", "Bob", "Carol", "Dave"]), rng.choice(["Smith", "Jones"]),
            "first", "last", n), 60, 120)
    if k == 4:
        return "Received: from mail%d.example.org (mail%d.example.org [192.0.2.%d]) by mx.example.net with ESMTPS id %08x" % (
            n, n, n, rng.randrange(1 << 32))
    if k == 5:
        return _pad(rng, "Content-Type: text/plain; charset=%s; format=flowed" %
                    rng.choice(["utf-8", "iso-8859-1", "us-ascii"]))
    if k == 6:
        return "Message-ID: <%012x.%06x@mail%d.example.org>" % (
            rng.randrange(1 << 48), rng.randrange(1 << 24), n)
    return "DKIM-Signature: v=1; a=rsa-sha256; d=example.org; s=sel%d; h=from:to:subject; bh=%016x" % (
        n, rng.randrange(1 << 64))


def gen_header(outdir, nrules, nkeys, seed=SEED, hit_rate=0.05):
    """Rules file (seed rules first, then synthetic ones) and its keys."""
    rules = os.path.join(outdir, "header_%d" % nrules)
    keys = os.path.join(outdir, "header_%d.keys_%d" % (nrules, nkeys))
    seed_rules = _seed_rules()
    nsyn = max(0, nrules - len(seed_rules))
    if not os.path.exists(rules):
        lines = ["# seed header_checks (%d rules) + %d synthetic rules" % (len(seed_rules), nsyn)]
        lines += seed_rules[:nrules]
        for i in range(nsyn):
            rule, _ = TEMPLATES[i % len(TEMPLATES)]
            lines.append(rule.format(tk="%05d" % i, a=i // 256 % 256, b=i % 256))
        _write(rules, lines)
    if not os.path.exists(keys):
        rng = random.Random("headerkeys:%d:%d:%d" % (seed, nrules, nkeys))
        total = min(nrules, len(seed_rules)) + nsyn
        out = []
        for _ in range(nkeys):
            if rng.random() < hit_rate:
                r = rng.randrange(total)
                if r < len(seed_rules):
                    line = SEED_HITS[r](rng, None)
                else:
                    i = r - len(seed_rules)
                    line = TEMPLATES[i % len(TEMPLATES)][1].format(
                        tk="%05d" % i, a=i // 256 % 256, b=i % 256)
                out.append(_pad(rng, line))
            else:
                out.append(_benign(rng))
        _write(keys, out)
    return rules, keys


def main():
    if len(sys.argv) != 5 or sys.argv[1] not in ("hash", "cidr", "header"):
        sys.stderr.write("usage: gen.py {hash,cidr,header} DIR N NKEYS\n")
        return 2
    os.makedirs(sys.argv[2], exist_ok=True)
    fn = {"hash": gen_hash, "cidr": gen_cidr, "header": gen_header}[sys.argv[1]]
    for p in fn(sys.argv[2], int(sys.argv[3]), int(sys.argv[4])):
        print(p)
    return 0


if __name__ == "__main__":
    sys.exit(main())
