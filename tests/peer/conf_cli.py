#!/usr/bin/env python3
"""conf_cli.py - mxscreen-conf's command line, run as a user runs it.

Usage: conf_cli.py PATH/TO/mxscreen-conf PATH/TO/mxscreen-map [-v]

postconf_diff.sh compares -n and -x output with postconf on the seed; this
test covers the rest of what issue 2 asks of mxscreen-conf:
  * no argument prints every effective value, sorted (every parameter of
    our table, plus the names set in main.cf), -n only those set, -d the
    defaults, NAME... just those names;
  * -d of every parameter both know equals `postconf -d`, and the defaults
    Postfix spells as a compatibility_level expression equal postconf's
    effective value at compatibility_level = 3.6 (DELIBERATE lists the
    rest, with the reason);
  * the exit status and the "FILE, line N" of each kind of error: an
    invalid value (exit 1, daemon refuses), an unknown name in main.cf
    (warning with file:line, exit 0), an unknown NAME argument (exit 1;
    postconf only warns), a $name recursion;
  * the map checks: every table the configuration names must exist and
    compile, wherever it is named (a content check, a restriction list, a
    postscreen list): a missing hash: file, a hash: source not built yet,
    a regexp:/pcre:/cidr: rule that does not parse (named by its own
    FILE, line N), and -M, which skips them. After `mxscreen-map` builds
    the hash: table the same configuration passes.

Without postconf the comparisons with Postfix are skipped and the rest
runs. Exit: 0 pass, 1 fail.
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile

# Names whose default we deliberately do not share with `postconf -d`.
DELIBERATE = {
    "syslog_name": "the syslog ident is mxscreen/<service>, not postfix/<service>",
    "config_directory": "mxscreen's own /etc/mxscreen",
    "data_directory": "mxscreen's own /var/lib/mxscreen",
    "queue_directory": "mxscreen's own /var/spool/mxscreen",
    "mail_name": "the banner and logs say mxscreen",
}
# Defaults that postconf -d prints as a ${{$compatibility_level} ...}
# expression (or derives from one): compared with postconf's effective
# value under compatibility_level = 3.6 instead.
COMPAT_LEVEL = ["mynetworks_style", "mynetworks", "relay_domains",
                "smtp_tls_fingerprint_digest", "smtpd_tls_fingerprint_digest",
                "smtpd_relay_restrictions"]

failures = []
VERBOSE = False


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL: " + what)
    elif VERBOSE:
        print("ok: " + what.splitlines()[0])


def run(argv, cwd=None):
    p = subprocess.run(argv, cwd=cwd, stdin=subprocess.DEVNULL, capture_output=True,
                       timeout=60)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def parse(out):
    """'name = value' lines -> ordered list of (name, value)."""
    pairs = []
    for line in out.splitlines():
        name, sep, value = line.partition(" =")
        if sep:
            pairs.append((name, value.strip()))
    return pairs


class Conf:
    def __init__(self, tool, mapper, tmp):
        self.tool, self.mapper, self.tmp = tool, mapper, tmp
        self.n = 0

    def dir(self, main_cf, files=None):
        """A configuration directory holding main_cf and FILES (name -> text)."""
        self.n += 1
        d = os.path.join(self.tmp, "c%d" % self.n)
        os.mkdir(d)
        for name, text in (files or {}).items():
            with open(os.path.join(d, name), "w") as f:
                f.write(text)
        with open(os.path.join(d, "main.cf"), "w") as f:
            f.write(main_cf.replace("@DIR@", d))
        return d

    def __call__(self, d, *args):
        return run([self.tool, "-c", d] + list(args))


def test_listing(conf):
    d = conf.dir("compatibility_level = 3.6\nsmtpd_delay_reject = no\n"
                 "my_own_name = hello\nbogus_but_set = 1\n")
    rc, out, err = conf(d)
    allp = parse(out)
    names = [n for n, _ in allp]
    check(rc == 0, "no argument: exit 0 (got %d: %s)" % (rc, err))
    check(names == sorted(names), "no argument: sorted by name")
    rc, dout, _ = conf(d, "-d")
    defaults = dict(parse(dout))
    check(rc == 0 and len(defaults) > 200, "-d: every parameter of the table (%d)" % len(defaults))
    check(set(defaults) <= set(names), "no argument: every parameter of the table is printed")
    check({"my_own_name", "bogus_but_set"} <= set(names),
          "no argument: names set in main.cf are printed too")
    eff = dict(allp)
    check(eff.get("smtpd_delay_reject") == "no" and defaults.get("smtpd_delay_reject") == "yes",
          "no argument: the effective value, -d: the default (smtpd_delay_reject)")
    check(eff.get("smtpd_helo_required") == defaults.get("smtpd_helo_required") == "no",
          "an unset parameter shows its default")
    rc, nout, _ = conf(d, "-n")
    check(rc == 0 and [n for n, _ in parse(nout)] ==
          ["compatibility_level", "config_directory", "smtpd_delay_reject"],
          "-n: only the parameters set in the file (and config_directory, as postconf -c;"
          " as postconf, not the unused names): %r" % nout)
    rc, out, _ = conf(d, "smtpd_delay_reject", "my_own_name", "message_size_limit")
    check(rc == 0 and out == "smtpd_delay_reject = no\nmy_own_name = hello\n"
          "message_size_limit = 10240000\n",
          "NAME...: those values, in the order asked: %r" % out)
    rc, out, _ = conf(d, "-d", "smtpd_delay_reject")
    check(rc == 0 and out == "smtpd_delay_reject = yes\n", "-d NAME: the default: %r" % out)


def test_defaults_vs_postconf(conf):
    if not shutil.which("postconf"):
        print("postconf not installed: default comparison skipped")
        return
    d = conf.dir("compatibility_level = 3.6\n")
    open(os.path.join(d, "master.cf"), "w").close()
    _, out, _ = conf(d, "-d", "-M")
    ours = dict(parse(out))
    _, out, _ = run(["postconf", "-c", d, "-d"])
    pf = dict(parse(out))
    common = sorted(set(ours) & set(pf))
    check(len(common) > 150, "postconf -d knows most of our parameters (%d)" % len(common))
    differ = []
    for name in common:
        if name in DELIBERATE or name in COMPAT_LEVEL:
            continue
        if ours[name] != pf[name]:
            differ.append("%s: postconf -d %r, mxscreen-conf -d %r" % (name, pf[name], ours[name]))
    check(not differ, "-d equals postconf -d for every shared name:\n  " + "\n  ".join(differ))
    for name in DELIBERATE:
        check(name in ours and ours[name] != pf.get(name),
              "%s is still a deliberate difference (else remove it from DELIBERATE)" % name)
    for name in COMPAT_LEVEL:
        _, pout, _ = run(["postconf", "-c", d, "-x", name])
        _, mout, _ = conf(d, "-x", "-M", name)
        check(pout == mout, "%s at compatibility_level 3.6: postconf -x %r, ours %r"
              % (name, pout, mout))


# (case, main.cf, extra files, args, exit status, stdout regex or None,
#  stderr regexes that must all match)
ERRORS = [
    ("invalid boolean", "smtpd_delay_reject = maybe\n", {}, [], 1, None,
     [r"main\.cf, line 1: smtpd_delay_reject = maybe: expected yes or no"]),
    ("invalid time unit, on a continued line", "compatibility_level = 3.6\n"
     "smtpd_timeout =\n  300x\n", {}, [], 1, None,
     [r"main\.cf, line 2: smtpd_timeout"]),
    ("integer out of range", "smtpd_hard_error_limit = -5\n", {}, [], 1, None,
     [r"main\.cf, line 1: smtpd_hard_error_limit"]),
    ("reject code out of range", "unknown_client_reject_code = 250\n", {}, [], 1, None,
     [r"main\.cf, line 1: unknown_client_reject_code"]),
    ("invalid value, last definition wins", "smtpd_delay_reject = maybe\n"
     "smtpd_delay_reject = no\n", {}, ["smtpd_delay_reject"], 0,
     r"^smtpd_delay_reject = no\n$", []),
    ("unknown name in main.cf: a warning", "compatibility_level = 3.6\nno_such_param = 1\n",
     {}, ["no_such_param"], 0, r"^no_such_param = 1\n$",
     [r"main\.cf, line 2: unknown parameter: no_such_param"]),
    ("Postfix names that mean nothing here load silently",
     "command_directory = /usr/sbin\ndaemon_directory = /usr/lib/postfix\n"
     "setgid_group = postdrop\nprogram_directory = /x\nalias_maps = hash:/etc/aliases\n",
     {}, ["command_directory"], 0, r"^command_directory = /usr/sbin\n$", [r"^$"]),
    ("unknown NAME argument", "compatibility_level = 3.6\n", {}, ["no_such_param"], 1,
     r"^$", [r"no_such_param: unknown parameter"]),
    ("$name recursion", "myhostname = $mydomain\nmydomain = x.$myhostname\n", {},
     ["-x", "myhostname"], 1, None,
     [r"main\.cf, line 1: myhostname = \$mydomain: unreasonable macro call nesting"]),
    ("missing regexp table", "header_checks = regexp:@DIR@/nothere\n", {}, [], 1, None,
     [r"main\.cf, line 1: header_checks: regexp:\S+/nothere: .*No such file"]),
    ("regexp rule that does not parse", "header_checks = regexp:@DIR@/hc\n",
     {"hc": "/^Subject: ok/ REJECT fine\n\n/^From: (a/ REJECT broken\n"}, [], 1, None,
     [r"main\.cf, line 1: header_checks: regexp:\S+/hc: \S+/hc, line 3: "]),
    ("pcre rule that does not parse", "body_checks = pcre:@DIR@/bc\n",
     {"bc": "/ok/ WARN\n/(?<bad/ REJECT\n"}, [], 1, None,
     [r"main\.cf, line 1: body_checks: pcre:\S+/bc: \S+/bc, line 2: "]),
    ("cidr line that does not parse",
     "smtpd_client_restrictions = check_client_access cidr:@DIR@/net\n",
     {"net": "192.0.2.0/24 OK\n10.1.2.300/8 REJECT\n"}, [], 1, None,
     [r"main\.cf, line 1: smtpd_client_restrictions: cidr:\S+/net: \S+/net, line 2: "]),
    ("hash: source not built yet, in a restriction list",
     "smtpd_recipient_restrictions = permit_mynetworks,\n"
     "  check_recipient_access hash:@DIR@/rcpt, reject_unauth_destination\n",
     {"rcpt": "user@example.com OK\n"}, [], 1, None,
     [r"main\.cf, line 1: smtpd_recipient_restrictions: hash:\S+/rcpt: .*mxscreen-map"]),
    ("a map in a postscreen list", "postscreen_access_list = permit_mynetworks,\n"
     "  cidr:@DIR@/nothere\n", {}, [], 1, None,
     [r"main\.cf, line 1: postscreen_access_list: cidr:\S+/nothere"]),
    ("-M skips the map checks", "header_checks = regexp:@DIR@/nothere\n", {},
     ["-M", "header_checks"], 0, r"^header_checks = regexp:\S+/nothere\n$", []),
    ("every error is named, not just the first",
     "smtpd_delay_reject = maybe\nsmtpd_helo_required = perhaps\n", {}, [], 1, None,
     [r"line 1: smtpd_delay_reject", r"line 2: smtpd_helo_required"]),
]


def test_errors(conf):
    for name, main_cf, files, args, want_rc, out_re, err_res in ERRORS:
        d = conf.dir(main_cf, files)
        rc, out, err = conf(d, *args)
        check(rc == want_rc, "%s: exit %d, expected %d (stderr %r)" % (name, rc, want_rc, err))
        if out_re is not None:
            check(re.search(out_re, out) is not None, "%s: stdout %r !~ %s" % (name, out, out_re))
        for r in err_res:
            check(re.search(r, err, re.M) is not None, "%s: stderr %r !~ %s" % (name, err, r))


def test_built_map(conf):
    d = conf.dir("smtpd_sender_restrictions = check_sender_access hash:@DIR@/snd\n",
                 {"snd": "spam@example.com REJECT\n"})
    rc, _, err = conf(d)
    check(rc == 1 and "mxscreen-map" in err, "hash: before mxscreen-map: refused (%r)" % err)
    rc, _, err = run([conf.mapper, "hash:" + os.path.join(d, "snd")])
    check(rc == 0, "mxscreen-map builds the table (%r)" % err)
    rc, out, err = conf(d, "smtpd_sender_restrictions")
    check(rc == 0 and err == "", "hash: after mxscreen-map: exit 0, no message (%d %r)" % (rc, err))


def main():
    global VERBOSE
    args = [a for a in sys.argv[1:] if a != "-v"]
    VERBOSE = "-v" in sys.argv[1:]
    if len(args) != 2:
        print(__doc__)
        return 2
    tmp = tempfile.mkdtemp(prefix="conf_cli.")
    try:
        conf = Conf(os.path.abspath(args[0]), os.path.abspath(args[1]), tmp)
        test_listing(conf)
        test_defaults_vs_postconf(conf)
        test_errors(conf)
        test_built_map(conf)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("%d failure(s)" % len(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
