#!/usr/bin/env python3
"""postmap_diff.py - differential test: mxscreen-map against Postfix's postmap.

Usage: postmap_diff.py PATH/TO/mxscreen-map [--keep] [--only NAME] [--data DIR] [-v]

For every case below both tools get the same table source and the same keys:
  postmap -c PFDIR [-f] -q - TYPE:FILE < keys
  mxscreen-map    [-f] -q - TYPE:FILE < keys
and must print byte-identical output (one "key<TAB>value" line per hit) with
the same exit status. Tables that need building (hash, btree, lmdb) are built
by each tool in its own copy of the source directory, so postmap's FILE.lmdb
and ours never overwrite each other. A few keys per case are also asked one
at a time with "-q KEY", and the hash/lmdb edit case replays -i and -d.

PFDIR is a temporary Postfix configuration directory whose main.cf holds only
"compatibility_level = 3.6", so postmap runs with the defaults a site moving
from Postfix 3.6+ has: smtputf8_enable = yes, which means keys that are not
valid UTF-8 are never found and fixed-key tables fold case with UTF-8 rules
(a key "STRASSE" finds "straße").

Keys are generated deterministically (fixed seed) from the templates below
and the hand-written per-table lists; the inputs live in tests/peer/data/.

Exit status: 0 all identical, 1 at least one difference (a readable report
of the first differing keys per case is printed), 77 postmap is not
installed (meson counts it as skipped).

Deliberate differences from postmap:
- A regexp:/pcre:/cidr: table with a broken rule (a pattern or network that
  does not parse, a bad $n in a result, a stray endif or an if without endif) is refused
  whole, with "FILE, line N: ..." naming the first broken line, where
  postmap warns, skips the rule and answers from the rest. A policy table
  that silently lost a rule (a REJECT that no longer rejects) is worse than
  a daemon that refuses to start and says where. Cases marked refused=REASON
  assert exactly that: mxscreen-map exits non-zero naming the same line as
  postmap's first warning.
Any key-level difference must be listed in KNOWN_DIFFERENCES with its
reason; it is then reported but does not fail.
"""

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "data")
SEED = 20240603
SHOW_MAX = 15           # differing keys shown per case

# (case name, key) -> reason. Empty on purpose: we answer as Postfix does.
KNOWN_DIFFERENCES = {}


# --------------------------------------------------------------------------
# Key generation. Everything is drawn from one random.Random(SEED) per case,
# so a failure reproduces exactly.

WORDS = ["hello", "meeting", "invoice", "free", "money", "cash", "gift", "win",
         "won", "a", "the", "car", "prize", "viagra", "cialis", "lottery",
         "report", "r-o-l-e-x", "r.o.l.e.x", "p_o_r_n", "p o r n", "update",
         "Re:", "Fwd:", "zebra", "XXX", "xxx", "{6,}", "=20", "urgent"]
DOMAINS = ["example.com", "example.org", "Example.COM", "sub.example.com",
           "corp.example", "hotmail.com", "mail.google.com", "yahoo.com",
           "mindspring.com", "tpnet.pl", "wanadoo.nl", "t-dialin.net",
           "pppool.de", "straße.example", "école.example", "continued.example"]


def _ipv4(rng):
    nets = ["192.0.2", "10.1.2", "10.9.9", "172.16.5", "172.31.255", "172.32.0",
            "192.168.1", "198.51.100", "198.51.101", "203.0.113", "100.64.3",
            "100.128.0", "8.8.8", "127.0.0"]
    return "%s.%d" % (rng.choice(nets), rng.choice([0, 1, 5, 15, 16, 63, 64, 70,
                                                    100, 127, 128, 200, 255]))


def _ipv6(rng):
    forms = ["2001:db8::%x" % rng.randrange(1, 0xffff),
             "2001:DB8::1", "2001:db8:0:0:0:0:0:1", "2001:db8:1:%x::1" % rng.randrange(0xffff),
             "2001:db8:%x::2" % rng.randrange(2, 0xffff), "::ffff:%s" % _ipv4(rng),
             "fe80::%x:%x" % (rng.randrange(0xffff), rng.randrange(0xffff)), "::1", "::",
             "2002:c000:0201::1", "fec0::1", "2001:0db8:0000::0001"]
    return rng.choice(forms)


def _host(rng):
    a, b, c = rng.randrange(256), rng.randrange(256), rng.randrange(256)
    forms = [
        "dhcp-%d-%d-%d.pool.example" % (a, b, c),
        "dhcp%d.isp.example" % a, "dialup-%d.example.net" % b,
        "ppp%d-%d.example" % (a, b), "adsl%d.example" % a, "poolx.example",
        "pool.%d.example" % a, "DHCP-%d.EXAMPLE" % a,
        "user%d.mindspring.com" % a, "user.mindspring.com", "USER9.MindSpring.com",
        "abc%d.adsl.tpnet.pl" % a, "x.internetdsl.tpnet.pl", "sdi.tpnet.pl",
        "%04x.dyn.pppool.de" % rng.randrange(0x10000), "%04X.dyn.pppool.de" % rng.randrange(0x10000),
        "p%d.dip.t-dialin.net" % a, "x.adsl.wanadoo.nl", "x.cable.wanadoo.nl",
        "mx%d.hotmail.com" % a, "hotmail.com", "smtp.google.com", "a.b.yahoo.com",
        "mail.example.com", "localhost", "LOCALHOST", "zebra", "zebra.example",
        "example.zebra", "neg-abc", "neg-a%d" % a,
    ]
    return rng.choice(forms)


def _mail(rng):
    local = rng.choice(["user", "postmaster", "Bob", "abuse", "foo", "a.b+tag",
                        "\"quoted user\"", "x"])
    return "%s@%s" % (local, rng.choice(DOMAINS))


def _subject(rng):
    n = rng.randrange(1, 8)
    s = " ".join(rng.choice(WORDS) for _ in range(n))
    return rng.choice(["Subject: ", "subject: ", "SUBJECT: ", "Subject:", "Subject: Re: "]) + s


def _header(rng):
    kind = rng.randrange(14)
    if kind < 4:
        return _subject(rng)
    if kind == 4:
        ext = rng.choice(["exe", "EXE", "bat", "com", "pdf", "zip", "exe.txt"])
        return 'Content-%s: %s; %sname="%s.%s"' % (
            rng.choice(["Type", "Disposition", "type"]),
            rng.choice(["application/octet-stream", "attachment", "text/plain"]),
            rng.choice(["", "file"]), rng.choice(["x", "invoice", "a b"]), ext)
    if kind == 5:
        cs = rng.choice(["GB2312", "big5", "euc-kr", "ks_c_5601-1987", "koi8", "utf-8", "iso-8859-1"])
        return rng.choice(['Content-Type: text/plain; charset="%s"' % cs,
                           "Content-Type: text/html; charset=%s" % cs,
                           "Subject: =?%s?B?xxxx?=" % cs])
    if kind == 6:
        return "%s: %s <%s>" % (rng.choice(["From", "Reply-To", "To", "Cc"]),
                                rng.choice(["Bob", "\"A, B\"", ""]), _mail(rng))
    if kind == 7:
        # Long Received: lines, some long enough for the {200,} rules.
        hops = " ".join("from h%d.example (h%d.example [%s])" % (i, i, _ipv4(rng))
                        for i in range(rng.randrange(1, 12)))
        return "Received: %s by mx%d.example.net with ESMTP id %x" % (
            hops, rng.randrange(10), rng.randrange(1 << 32))
    if kind == 8:
        return "Subject: " + "=20".join(rng.choice(["a", "b", "word", "X"]) for _ in range(rng.randrange(2, 7)))
    if kind == 9:
        return "X-Spam: " + rng.choice(["x{6,}", "xx{6,}", "XXX{3,}", "X|X{3,}", "{6,}{6,}", "{3,}"])
    if kind == 10:
        return "Subject: " + rng.choice(["      spaced", "a     b", "a      b", "\t\ttabs"])
    if kind == 11:
        return "X-Mailer: %s" % rng.choice(["123-AB !", "123-ab !", "ab.dot", "abdot", "back\\slash"])
    if kind == 12:
        return "Message-ID: <%x.%x@%s>" % (rng.randrange(1 << 40), rng.randrange(1 << 20), rng.choice(DOMAINS))
    return "Date: Mon, %d Jun 2024 %02d:%02d:%02d +0000" % (rng.randrange(1, 29), rng.randrange(24),
                                                           rng.randrange(60), rng.randrange(60))


# Byte-level oddities: valid UTF-8 (é is two bytes, so 4 of them are 8 bytes
# of non-printables), invalid UTF-8, control bytes, CR, tabs, very long lines.
SPECIAL_KEYS = [
    b"", b" ", b"\t", b"x\r", b"\tx", b"trailing ", b"zebra ",
    "Subject: ééé".encode(), "Subject: éééé".encode(), "Subject: ééééééé".encode(),
    "Subject: 日本語のテキスト".encode(), "ÉCOLE.example".encode(), "école.example".encode(),
    "STRASSE.example".encode(), "STRAßE.example".encode(), "straße.example".encode(),
    b"Subject: \xff\xfe\xfd\xfc\xfb\xfa\xf9", b"ab\xe9", b"\xc3", b"\xc3\xa9\xc3",
    b"Subject: \x01\x02\x03\x04\x05\x06\x07", b"x-dotall:\x01x", b"x-dotall:\x7fx",
    b"Subject: " + b"A" * 5000, b"Subject: free money " + b"z" * 20000,
    b"Received: " + b"from a.example " * 400 + b"by mx7.example.net",
    b"A" * 70000,
]

# Hand-written keys per table family, each aimed at one rule.
REGEXP_KEYS = [
    "zebra", "zebra zebra", "a zebra b", "ZEBRA", "neg-abc", "neg-a1", "neg-", "NEG-X",
    "1.2.3.4", "::1", "2001:db8::1", "Subject: free money", "Subject: win a car",
    "subject: won the prize", "Subject: Re: free cash", "Subject: Re: win a car",
    "Subject: viagra", "subject: CIALIS now", "Subject: lottery", "Subject: Re: lottery",
    "Subject: the lottery is free gift", "X-Case: Exact", "X-CASE: Exact", "x-case: exact",
    "x-case: ANY", "X-Case: Any", "x-newline: y", "x-multi: y", "a+b", "aab", "ab",
    "brebr", "BREBR", "brebre", "bre--x", "bre-x", "bre---x", "x{6,}", "xx{6,}",
    "xxxxxx", "X{6,}", "123-AB !", "123-ab !", "12-AB !", "ab.dot", "abdot", "a\\dot",
    "back\\slash", "backslash", "back]slash", "aa", "ab", "a", "foo@foo.example",
    "foo@bar.example", "FOO@foo.example", "abefefab", "cdefefcd", "abefefcd",
    "unmatched-end", "unmatched-opt-end", "UNMATCHED-END", "alt", "other", "alt-other",
    "skipme", "skipme2", "percent/slash", "percent", "zz-open", "zz-open-more", "zz",
    "x-dotall:\tx", "x-extended   foo", "x-extended foo", "xxanchored-start",
    "anchored-start", "dollar-end", "ungreedy:a-b-c", "greedy:a-b-c", "From: <a@example.com>",
    "From: <a@b.com>", "To: bob@corp.x", "To: bob@other.x", "lazy:axbx", "abc-abc",
    "abc-abd", "poss:aab", "atomic:aab", "Content-Type: x; name=\"a.exe\"",
    "Content-Disposition: attachment; filename=\"b.bat\"", "content-type: x; name=c.COM",
    "Content-Type: text/plain; charset=\"GB2312\"", "Content-Type: text/plain; charset=koi8-r",
    "Subject: =?big5?B?abc?=", "Subject: =?utf-8?B?abc?=",
    "Subject: a=20b=20c=20d=20e", "Subject: =20a=20b=20c", "Subject: rolex", "Subject: r o l e x",
    "Subject: r.o.l.e.x watches", "Subject: p-o-r-n", "Subject: a      b",
]

INLINE_RX_KEYS = ["1x", "GET", "get", "-dash", " lead", "", "aab", "AAB", "ab", "xxy", "x",
                  "subject", "sub-x", "sub-ject", "{", "a", "b", "c", "Abc", "abc",
                  "subject: hello", "Subject:  World", "x-y", "{}", "{}x"]

ERROR_KEYS = ["before", "skipme", "paren", "a(", "range", "after-endif", "zz-open",
              "zz", "endif", "if"]

CIDR_KEYS = [
    "192.0.2.1", "192.0.2.0", "192.0.2.5", "192.0.2.15", "192.0.2.16", "192.0.2.200",
    "192.0.2.255", "10.0.0.0", "10.1.2.3", "10.255.255.255", "172.16.0.1", "172.31.1.1",
    "172.32.1.1", "192.168.9.9", "198.51.100.7", "198.51.101.7", "198.52.0.1",
    "203.0.113.5", "203.0.113.63", "203.0.113.64", "203.0.113.70", "203.0.113.95",
    "203.0.113.96", "203.0.113.100", "203.0.113.200", "100.64.1.1", "100.127.255.255",
    "100.128.0.0", "0.0.0.0", "255.255.255.255", "2001:db8::1", "2001:DB8::1",
    "2001:db8:0:0:0:0:0:1", "2001:0db8::0001", "2001:db8:0:0::2", "2001:db8::ffff:1",
    "2001:db8:1:5::1", "2001:db8:1::", "2001:db8:2::1", "2001:db9::1", "::ffff:192.0.2.1",
    "::ffff:c000:0201", "::ffff:0.0.0.0", "fe80::1", "febf::1", "fec0::1", "::1", "::",
    "::2", "2002::1", "foo", "1.2.3", "1.2.3.4.5", "01.2.3.4", "192.0.2.01", "[192.0.2.1]",
    "2001:db8::1%eth0", "192.0.2.1 ", " 192.0.2.1", "256.1.1.1", "1.2.3.-1", "::ffff:1.2.3",
    "2001:db8::1::2", "2001:db8:::1", "g::1", "1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8:9",
    "::192.0.2.1", "0x7f.0.0.1", "127.1", "192.0.2.1/32",
]

HASH_KEYS = [
    "localhost", "LOCALHOST", "Localhost", "example.com", "EXAMPLE.com", "Example.COM",
    "sub.example.com", "SUB.EXAMPLE.COM", "user@example.com", "USER@Example.com",
    "@example.org", "postmaster@", "Postmaster@", "[192.0.2.1]", "192.0.2.1",
    "2001:db8::1", "2001:DB8::1", "continued.example", "hash.example", "trailing.example",
    "école.example", "ÉCOLE.EXAMPLE", "STRASSE.example", "STRAßE.example", "straße.example",
    "key-without-value", "dup.example", "DUP.example", "CaseKept", "casekept", "CASEKEPT",
    "x", "X", "y", "new.example", "New.Example", "YOUR_STATIC_IP", "your_static_ip",
    "second", "part", "#", "# indented hash line is part of the previous value",
]


def make_keys(rng, fixed, n, kinds):
    """fixed keys, then n generated keys drawn from the generator kinds, then
    the byte-level special keys; a few keys repeat on purpose."""
    gens = {"header": _header, "host": _host, "ip4": _ipv4, "ip6": _ipv6, "mail": _mail}
    out = [k.encode() if isinstance(k, str) else k for k in fixed]
    for _ in range(n):
        out.append(gens[rng.choice(kinds)](rng).encode())
    out += SPECIAL_KEYS
    out += rng.sample(out[:len(fixed) + n], min(10, len(fixed) + n))
    for k in out:
        assert b"\n" not in k, k
    return out


# --------------------------------------------------------------------------
# Cases. source: a file in data/ (None for inline:), build: both tools build
# the table first, flags: extra options for build and query (-f keeps case),
# edits: (option, stdin) steps applied with both tools after the build.

HEADER_KINDS = ["header", "header", "header", "mail", "host"]
HOST_KINDS = ["host", "host", "host", "ip4", "ip6", "mail"]
IP_KINDS = ["ip4", "ip4", "ip6", "host"]
FIXED_KINDS = ["host", "mail", "ip4", "ip6", "header"]

CASES = [
    dict(name="regexp-seed-header-checks", type="regexp", source="seed_header_checks",
         fixed=REGEXP_KEYS, kinds=HEADER_KINDS, n=300),
    dict(name="pcre-seed-header-checks", type="pcre", source="seed_header_checks",
         fixed=REGEXP_KEYS, kinds=HEADER_KINDS, n=300),
    dict(name="regexp-seed-s25r", type="regexp", source="seed_client_restrictions",
         fixed=[], kinds=HOST_KINDS, n=400),
    dict(name="pcre-seed-s25r", type="pcre", source="seed_client_restrictions",
         fixed=[], kinds=HOST_KINDS, n=400),
    dict(name="regexp-nasty", type="regexp", source="regexp_nasty",
         fixed=REGEXP_KEYS, kinds=HEADER_KINDS + HOST_KINDS, n=300),
    dict(name="pcre-nasty", type="pcre", source="pcre_nasty",
         fixed=REGEXP_KEYS, kinds=HEADER_KINDS + HOST_KINDS, n=300),
    dict(name="pcre-regexp-nasty", type="pcre", source="regexp_nasty",
         fixed=REGEXP_KEYS, kinds=HEADER_KINDS, n=100,
         refused="POSIX-only constructs do not compile as PCRE"),
    dict(name="regexp-errors", type="regexp", source="regexp_errors",
         fixed=ERROR_KEYS, kinds=HEADER_KINDS, n=50, refused="broken rules"),
    dict(name="pcre-errors", type="pcre", source="pcre_errors",
         fixed=ERROR_KEYS, kinds=HEADER_KINDS, n=50, refused="broken rules"),
    dict(name="cidr-nasty", type="cidr", source="cidr_nasty",
         fixed=CIDR_KEYS, kinds=IP_KINDS, n=400),
    dict(name="cidr-errors", type="cidr", source="cidr_errors",
         fixed=CIDR_KEYS, kinds=IP_KINDS, n=50, refused="broken rules"),
    dict(name="hash-seed-helo-access", type="hash", source="seed_helo_access", build=True,
         fixed=HASH_KEYS, kinds=FIXED_KINDS, n=100),
    dict(name="hash-nasty", type="hash", source="hash_nasty", build=True,
         fixed=HASH_KEYS, kinds=FIXED_KINDS, n=300),
    dict(name="btree-nasty", type="btree", source="hash_nasty", build=True,
         fixed=HASH_KEYS, kinds=FIXED_KINDS, n=100),
    dict(name="lmdb-nasty", type="lmdb", source="hash_nasty", build=True,
         fixed=HASH_KEYS, kinds=FIXED_KINDS, n=300),
    dict(name="hash-nasty-keepcase", type="hash", source="hash_nasty", build=True, flags=["-f"],
         fixed=HASH_KEYS, kinds=FIXED_KINDS, n=100),
    dict(name="lmdb-nasty-keepcase", type="lmdb", source="hash_nasty", build=True, flags=["-f"],
         fixed=HASH_KEYS, kinds=FIXED_KINDS, n=100),
    dict(name="hash-nasty-edited", type="hash", source="hash_nasty", build=True,
         edits=[(["-i"], b"new.example added value\nEXAMPLE.COM not replaced\n"
                        b"New.Upper  upper  value  \n"),
                (["-d", "localhost"], b""), (["-d", "nosuch.example"], b""),
                (["-d", "-"], b"dup.example\nnot-there\nSUB.example.com\n")],
         fixed=HASH_KEYS + ["new.upper"], kinds=FIXED_KINDS, n=50),
    dict(name="lmdb-nasty-edited", type="lmdb", source="hash_nasty", build=True,
         edits=[(["-i"], b"new.example added value\nEXAMPLE.COM not replaced\n"),
                (["-d", "localhost"], b""), (["-d", "-"], b"dup.example\nnot-there\n")],
         fixed=HASH_KEYS, kinds=FIXED_KINDS, n=50),
    dict(name="texthash-nasty", type="texthash", source="hash_nasty",
         fixed=HASH_KEYS, kinds=FIXED_KINDS, n=200),
    dict(name="texthash-seed-helo-access", type="texthash", source="seed_helo_access",
         fixed=HASH_KEYS, kinds=FIXED_KINDS, n=50),
    dict(name="inline-basic", type="inline", source=None,
         ref="inline:{localhost=ab, { foo = bar baz }, K3=V3, Example.COM=mixed}",
         fixed=["localhost", "LOCALHOST", "foo", "FOO", "k3", "K3", "example.com",
                "Example.COM", "bar", "foo ", ""], kinds=FIXED_KINDS, n=50),
    dict(name="inline-keepcase", type="inline", source=None, flags=["-f"],
         ref="inline:{localhost=ab, { foo = bar baz }, K3=V3, Example.COM=mixed}",
         fixed=["localhost", "LOCALHOST", "foo", "FOO", "k3", "K3", "example.com",
                "Example.COM"], kinds=FIXED_KINDS, n=50),
    dict(name="inline-separators", type="inline", source=None,
         ref="inline:{ a=1 b=2,,c=3 , { d = x=y } }",
         fixed=["a", "b", "c", "d", "A", "x", "1", ""], kinds=FIXED_KINDS, n=20),
    dict(name="inline-empty-value", type="inline", source=None, ref="inline:{x=, y=1}",
         fixed=["x", "y", "z"], kinds=FIXED_KINDS, n=10),
    # Postfix 3.7's inline pattern tables (dict_stream.c): "{ {rule}, {rule} }".
    dict(name="regexp-inline-default-forbidden", type="regexp", source=None,
         ref="regexp:{{/^[^A-Z]/ Bogus}}",
         fixed=INLINE_RX_KEYS, kinds=HEADER_KINDS + HOST_KINDS, n=60),
    dict(name="pcre-inline-default-forbidden", type="pcre", source=None,
         ref="pcre:{{/^[^A-Z]/ Bogus}}",
         fixed=INLINE_RX_KEYS, kinds=HEADER_KINDS + HOST_KINDS, n=60),
    dict(name="regexp-inline-rules", type="regexp", source=None,
         ref="regexp:{ , {/^a{2}b/ two-a}, {}\t{  /^(x+)(y*)$/   got ${1}-$2  },, "
             "{if /^sub/},{!/ject/ not-ject},{endif}\n{/(ab)/ ${1}} {/^[{]}/ braces}, }",
         fixed=INLINE_RX_KEYS, kinds=HEADER_KINDS + HOST_KINDS, n=60),
    dict(name="regexp-inline-newline-in-rule", type="regexp", source=None,
         ref="regexp:{{/^a/\n  continued}, {/^b/ B\n/^c/ C}}",
         fixed=INLINE_RX_KEYS, kinds=HOST_KINDS, n=20),
    dict(name="pcre-inline-rules", type="pcre", source=None,
         ref="pcre:{{/^(?-i)A(.)/ upper$1}, {/^subject:\\s*(\\S+)/ s=$1}, {!/x/ no-x}}",
         fixed=INLINE_RX_KEYS, kinds=HEADER_KINDS + HOST_KINDS, n=60),
    dict(name="regexp-inline-empty", type="regexp", source=None, ref="regexp:{ , }",
         fixed=INLINE_RX_KEYS, kinds=HOST_KINDS, n=10),
    dict(name="regexp-inline-bad-rule", type="regexp", source=None,
         ref="regexp:{ {/a/ A}, {/(c/ C}, {/b/ $2} }",
         fixed=INLINE_RX_KEYS, kinds=HOST_KINDS, n=10, refused="broken rules"),
] + [dict(name="%s-inline-fatal-%d" % (t, i), type=t, source=None, ref="%s:%s" % (t, text),
          fixed=["a", "b"], kinds=HOST_KINDS, n=2, fatal=True)
     for i, text in enumerate([
         "{ /a/ A }",              # a rule without its braces
         "{ {/a/ A} x }",          # a word after a rule
         "{ {/a/ A}",              # unbalanced outer braces
         "{ {/a/ A} } x",          # text after the outer braces
         "{{/a/ A}{/b/ B}}",       # rules not separated
         "{ {/\\}/ x} }",         # an unbalanced brace inside a pattern
         "{ {/[{]/ x} }",
         "{ {/a/ A}, \"{/b/ B}\" }",
     ]) for t in ("regexp", "pcre")]


# --------------------------------------------------------------------------

def run(argv, stdin=b"", cwd=None):
    p = subprocess.run(argv, input=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       cwd=cwd, timeout=300)
    return p.returncode, p.stdout, p.stderr


def align(keys, out):
    """Per input key: the value printed for it, or None (miss). postmap prints
    hits in key order as key<TAB>value, so walk both lists together. Returns
    None when the output cannot be aligned (then a raw line diff is shown)."""
    lines = out.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    res, i = [], 0
    for k in keys:
        if i < len(lines) and lines[i].startswith(k + b"\t"):
            res.append(lines[i][len(k) + 1:])
            i += 1
        else:
            res.append(None)
    return res if i == len(lines) else None


def show(b, limit=160):
    if b is None:
        return "(not found)"
    r = repr(b)[2:-1]
    return r if len(r) <= limit else r[:limit] + "...(%d bytes)" % len(b)


class Runner:
    def __init__(self, ours, tmp, verbose):
        self.ours = ours
        self.tmp = tmp
        self.verbose = verbose
        self.pfdir = os.path.join(tmp, "pfconf")
        os.makedirs(self.pfdir)
        with open(os.path.join(self.pfdir, "main.cf"), "w") as f:
            f.write("compatibility_level = 3.6\n")
        self.postmap = ["postmap", "-c", self.pfdir]

    def tool(self, which):
        return self.postmap if which == "postfix" else [self.ours]

    def prepare(self, case, which):
        """Copy the source into a directory of this tool's own and build it.
        Returns (map reference, list of problems)."""
        flags = case.get("flags", [])
        if case["source"] is None:
            return case["ref"], []
        d = os.path.join(self.tmp, which, case["name"])
        os.makedirs(d)
        path = os.path.join(d, case["source"])
        shutil.copyfile(os.path.join(DATA, case["source"]), path)
        ref = "%s:%s" % (case["type"], path)
        steps = []
        if case.get("build"):
            steps.append((flags, b""))
            steps += [(flags + opt, stdin) for opt, stdin in case.get("edits", [])]
        return ref, steps

    def check_case(self, case):
        rng = random.Random("%d:%s" % (SEED, case["name"]))
        keys = make_keys(rng, case["fixed"], case["n"], case["kinds"])
        flags = case.get("flags", [])
        problems = []

        refs = {}
        for which in ("postfix", "ours"):
            ref, steps = self.prepare(case, which)
            refs[which] = ref
            build_results = []
            for opt, stdin in steps:
                rc, out, err = run(self.tool(which) + opt + [ref], stdin)
                build_results.append((opt, rc, out, err))
            refs[which + "-build"] = build_results
        for (opt, prc, pout, perr), (_, orc, oout, oerr) in zip(refs["postfix-build"],
                                                               refs["ours-build"]):
            if prc != orc or pout != oout:
                problems.append("build step %s: postmap exit %d stdout %s / mxscreen-map exit %d "
                                "stdout %s\n    postmap stderr: %s\n    ours stderr: %s" % (
                                    " ".join(opt) or "(build)", prc, show(pout), orc, show(oout),
                                    show(perr, 300), show(oerr, 300)))

        stdin = b"\n".join(keys) + b"\n"
        prc, pout, perr = run(self.postmap + flags + ["-q", "-", refs["postfix"]], stdin)
        orc, oout, oerr = run([self.ours] + flags + ["-q", "-", refs["ours"]], stdin)
        if prc not in (0, 1):
            problems.append("postmap itself failed (exit %d): %s" % (prc, show(perr, 500)))
        if self.verbose:
            print("  %s: %d keys, postmap %d hits, mxscreen-map %d hits" % (
                case["name"], len(keys), pout.count(b"\n"), oout.count(b"\n")))
        if case.get("refused"):
            return problems + self.check_refused(case, refs["ours"], prc, perr, orc, oerr)
        if case.get("fatal"):
            return problems + self.check_fatal(case, prc, perr, orc, oerr)
        if orc not in (0, 1) or b"fatal:" in oerr:
            # A refused table or a crash: the per-key listing would only repeat it.
            problems.append("mxscreen-map -q - failed (exit %d), postmap answered (exit %d, %d hits)"
                            "\n    ours stderr: %s\n    postmap stderr: %s" % (
                                orc, prc, pout.count(b"\n"), show(oerr, 400), show(perr, 400)))
            return problems
        if prc != orc:
            problems.append("-q - exit status: postmap %d, mxscreen-map %d (ours stderr: %s)" % (
                prc, orc, show(oerr, 300)))
        if pout != oout:
            problems += self.describe(case, keys, pout, oout)

        # A few keys one at a time: "-q KEY" (skip keys that start with '-').
        single = [k for k in keys[:40] if k and not k.startswith(b"-")][:12]
        shown = 0
        for k in single:
            prc1, pout1, _ = run(self.postmap + flags + ["-q", k, refs["postfix"]])
            orc1, oout1, oerr1 = run([self.ours] + flags + ["-q", k, refs["ours"]])
            if (prc1, pout1) != (orc1, oout1) and shown < 4:
                shown += 1
                problems.append("-q %s: postmap exit %d %s / mxscreen-map exit %d %s (%s)" % (
                    show(k), prc1, show(pout1), orc1, show(oout1), show(oerr1, 200)))
        return problems

    def check_fatal(self, case, prc, perr, orc, oerr):
        """A table postmap refuses whole: ours must refuse it with the same
        reason (the text after "fatal: ")."""
        pmsg = perr.split(b"fatal: ", 1)[1].strip() if b"fatal: " in perr else None
        omsg = oerr.split(b"fatal: ", 1)[1].strip() if b"fatal: " in oerr else None
        if prc == 0 or pmsg is None:
            return ["fatal case %s: postmap did not refuse it (exit %d): %s" % (
                case["name"], prc, show(perr, 300))]
        if orc == 0 or omsg != pmsg:
            return ["fatal case %s: postmap: %s\n    mxscreen-map (exit %d): %s" % (
                case["name"], show(pmsg, 300), orc, show(oerr, 300))]
        return []

    def check_refused(self, case, ref, prc, perr, orc, oerr):
        """A table postmap survives with warnings: ours must refuse it,
        naming the line of postmap's first warning."""
        import re
        lines = re.findall(rb", line (\d+):", perr)
        ours = re.findall(rb", line (\d+):", oerr)
        if prc not in (0, 1) or not lines:
            return ["refused case %s: postmap gave no line warning (exit %d): %s" % (
                case["name"], prc, show(perr, 300))]
        if b"fatal:" not in oerr:
            return ["refused case %s: mxscreen-map accepted a table with broken rules "
                    "(exit %d); postmap warned: %s" % (case["name"], orc, show(perr, 300))]
        if not ours or ours[0] != lines[0]:
            return ["refused case %s: mxscreen-map names %s, postmap's first warning is line %s:"
                    "\n    ours: %s" % (case["name"], ours[0].decode() if ours else "no line",
                                        lines[0].decode(), show(oerr, 300))]
        if self.verbose:
            print("  %s: refused as intended (%s) at line %s" % (
                case["name"], case["refused"], lines[0].decode()))
        return []

    def describe(self, case, keys, pout, oout):
        where = "table: %s" % (os.path.join("tests/peer/data", case["source"])
                               if case["source"] else case["ref"])
        pa, oa = align(keys, pout), align(keys, oout)
        if pa is None or oa is None:
            import difflib
            d = difflib.unified_diff([show(x) for x in pout.split(b"\n")],
                                     [show(x) for x in oout.split(b"\n")],
                                     "postmap", "mxscreen-map", lineterm="", n=1)
            return ["output differs (%s); unaligned line diff:\n    " % where +
                    "\n    ".join(list(d)[:60])]
        diffs = []
        for k, p, o in zip(keys, pa, oa):
            if p != o and (case["name"], k) not in KNOWN_DIFFERENCES:
                diffs.append((k, p, o))
        for k, p, o in zip(keys, pa, oa):
            if p != o and (case["name"], k) in KNOWN_DIFFERENCES:
                print("  known difference %s: %s" % (show(k), KNOWN_DIFFERENCES[(case["name"], k)]))
        if not diffs:
            return []
        seen, lines = set(), []
        for k, p, o in diffs:
            if k in seen:
                continue
            seen.add(k)
            if len(lines) < SHOW_MAX:
                lines.append("    key %s\n      postmap:      %s\n      mxscreen-map: %s" % (
                    show(k), show(p), show(o)))
        return ["%d of %d keys differ (%s, %s%s):\n%s" % (
            len(diffs), len(keys), where, case["type"],
            " " + " ".join(case.get("flags", [])) if case.get("flags") else "", "\n".join(lines))]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("mxscreen_map")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    ap.add_argument("--only", action="append", help="run only cases whose name contains this")
    ap.add_argument("--data", help="read the tables from this directory instead of data/")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()
    if args.data:
        global DATA
        DATA = os.path.abspath(args.data)

    if shutil.which("postmap") is None:
        print("postmap is not installed: skipping")
        return 77
    ours = os.path.abspath(args.mxscreen_map)
    if not os.access(ours, os.X_OK):
        print("mxscreen-map not found at %s" % ours)
        return 1

    tmp = tempfile.mkdtemp(prefix="postmap_diff.")
    failed = 0
    try:
        r = Runner(ours, tmp, args.verbose)
        cases = [c for c in CASES if not args.only or any(o in c["name"] for o in args.only)]
        identical = refused = 0
        for case in cases:
            problems = r.check_case(case)
            if not problems:
                if case.get("refused"):
                    refused += 1
                else:
                    identical += 1
            if problems:
                failed += 1
                print("FAIL %s" % case["name"])
                for p in problems:
                    print("  " + p)
            else:
                print("ok   %s%s" % (case["name"], " (refused as intended: %s)" % case["refused"]
                                     if case.get("refused") else ""))
        print("%d of %d cases as intended: %d identical to postmap, %d refused as intended" % (
            len(cases) - failed, len(cases), identical, refused))
    finally:
        if args.keep:
            print("kept %s" % tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
