#!/usr/bin/env python3
"""smtpd_syntax.py - smtp_cmd_parse() against Postfix's own smtpd, line by line.

Usage: smtpd_syntax.py PROBE [-v]

PROBE is tests/peer/smtp_cmd_probe (built by meson). Each command line below
is sent to Postfix's smtpd in stand-alone mode (`sendmail -bs`, which runs
smtpd on stdin/stdout with a private config dir and maildrop directory) in a
fresh session, after the commands that put the session in the state the
verb needs (EHLO; for RCPT also MAIL FROM:<>), with strict_rfc821_envelopes
no and yes. The reply to the line is compared with what the probe predicts:
  - the probe predicts a syntax error: Postfix's reply must be that exact
    line (code, enhanced code, text);
  - the probe says the syntax is fine: Postfix must not answer with a syntax
    error, i.e. it says 2xx/3xx, nothing (BDAT waits for its chunk), or one
    of the state/policy replies in STATE_REPLIES.
Exit 0 when all agree, 1 on a difference, 77 when Postfix is not usable.

Not compared (the reply depends on state or features, not syntax):
  - AUTH: with SASL off Postfix says "authentication not enabled" before it
    looks at the arguments;
  - XFORWARD: mxscreen does not implement it (deliberate: it exists for
    after-queue content filters, which mxscreen does not use), so it is
    "command not recognized" for us.
Stand-alone smtpd skips one check a daemon makes: the address domain is
not resolved through trivial-rewrite, so "a@b@c" or "a@[x" are accepted
here; the full-instance differential suite covers that.
"""
import concurrent.futures
import os
import shutil
import subprocess
import sys
import tempfile

STATE_REPLIES = {
    '503 5.5.1 Error: need RCPT command',
    '503 5.5.1 Error: need MAIL command',
    '503 5.5.1 Error: nested MAIL command',
    '458 Unable to queue messages',
    '550 5.7.0 Error: insufficient authorization',
    '502 5.5.1 Error: command not implemented',
    '552 5.3.4 Message size exceeds fixed limit',
    '(none)',
}
EXCLUDED_VERBS = {b'AUTH', b'XFORWARD'}

ADDRS = [
    b'<a@b>', b'<>', b'<<>>', b'<a b>', b'a b', b'<a.b>', b'<a . b>', b'<a . . b>',
    b'<a@b c@d>', b'<a@b,c@d>', b'<(comment) a@b>', b'<a@b (comment)>', b'<Name <a@b>>',
    b'<"a b"@c>', b'<a"b"@c>', b'<"a\\"b"@c>', b'<@a,@b:c@d>', b'<@a:c@d>', b'@a:c@d',
    b'<a@b>x', b'<a@b', b'a@b>', b'<a@>', b'<@>', b'<@a>', b'<a@[1.2.3.4]>',
    b'<a@[IPv6:::1]>', b'<a\\ b@c>', b'<a,b>', b'<a;b>', b'<a:b>', b'<a@b.>', b'<a@@b>',
    b'<a@b@c>', b'<(x)>', b'<()>', b'<a(b>', b'<a)b>', b'<a ) b>', b'<"a>', b'<[a>',
    b'<a]>', b'<a ] b>', b'<Name: a@b;>', b'<group:;>', b'<a@b;>', b'<a@b,>', b'<,a@b>',
    b'<a <b>>', b'<a <b> c>', b'<<a@b>>', b'<<a@b> <c@d>>', b'"a b"@c', b'"a b', b'a\\',
    b'<@:a@b>', b'<@a,b:c>', b'<:a@b>', b'<a@b>>', b'<<a@b>', b'<a<b>', b'<a>b>',
    b'<user@example.com>', b'<USER@EXAMPLE.COM>', b'<postmaster>', b'postmaster',
    b'<a+tag@b>', b'<a%b@c>', b'<b!a>', b'<a@b\\>', b'<\\<a@b>', b'<a@b"c>', b'<"">',
    b'<""@b>', b'<a@"b">', b'<(a)b@c(d)>', b'<a((b))c@d>', b'<a(b(c)d@e>',
    b'<[1.2.3.4]>', b'<a@[1.2.3.4>', b'<a@1.2.3.4]>', b'<\xc3\xa9@b>', b'<a@\xc3\xa9.b>',
    b'<\xff@b>', b'<a\x01@b>', b'<a\x7f@b>', b'<a\tb@c>', b'<  a@b  >', b'< >',
    b'<\x00>', b'<a@b\x00c>', b'<a@b>\x00x',
]

MAIL_PARAMS = [
    b'BODY=8BITMIME', b'body=7bit', b'BODY=8bitmime BODY=7BIT', b'BODY=BINARYMIME',
    b'BODY=', b'BODY', b'BODY=8BITMIMEX', b'BODY=8BITMIME=x', b'SIZE=10', b'SIZE=0',
    b'SIZE=0010', b'SIZE=', b'SIZE', b'SIZE=-1', b'SIZE=+1', b'SIZE=1k', b'SIZE=10 SIZE=20',
    b'SIZE=9223372036854775806', b'SIZE=9223372036854775807', b'SIZE=9223372036854775808',
    b'SIZE=99999999999999999999999', b'size=1', b'SMTPUTF8', b'smtputf8', b'SMTPUTF8=yes',
    b'SMTPUTF8 SMTPUTF8', b'RET=FULL', b'RET=hdrs', b'RET=', b'RET=X', b'RET=FULL RET=HDRS',
    b'ENVID=abc', b'ENVID=', b'ENVID=a+2B', b'ENVID=a+2b', b'ENVID=a+0A', b'ENVID=a+20',
    b'ENVID=a=b', b'ENVID=a+', b'ENVID=a+2', b'ENVID=+41', b'ENVID=a+ZZ', b'ENVID=x ENVID=y',
    b'ENVID=\xc3\xa9', b'AUTH=<>', b'AUTH=x+2Bb', b'AUTH=+ZZ', b'AUTH=', b'NOTIFY=NEVER',
    b'ORCPT=rfc822;a', b'FOO', b'FOO=bar', b'=', b'"x y"', b'<x y>', b'<x', b'x\\ y',
    b'SIZE=10 FOO', b'FOO SIZE=x', b'SIZE=x FOO', b'BODY=7BIT SIZE=5 RET=FULL ENVID=q',
]

RCPT_PARAMS = [
    b'NOTIFY=NEVER', b'NOTIFY=SUCCESS,FAILURE,DELAY', b'NOTIFY=NEVER,SUCCESS',
    b'NOTIFY=success', b'NOTIFY=', b'NOTIFY=FOO', b'NOTIFY=SUCCESS NOTIFY=DELAY',
    b'NOTIFY=SUCCESS,', b'NOTIFY=,SUCCESS', b'NOTIFY=SUCCESS,SUCCESS', b'NOTIFY=DELAY,NEVER',
    b'ORCPT=rfc822;a@b', b'ORCPT=RFC822;a+40b', b'ORCPT=x;a', b'ORCPT=rfc822',
    b'ORCPT=rfc822;', b'ORCPT=;a', b'ORCPT=rfc822;a+0Ab', b'ORCPT=rfc822;a+zz',
    b'ORCPT=utf-8;a@b', b'ORCPT=rfc822;a ORCPT=rfc822;b', b'ORCPT=rfc822;a;b', b'ORCPT=',
    b'SIZE=10', b'FOO', b'BODY=8BITMIME', b'NOTIFY=NEVER ORCPT=rfc822;x FOO',
]

OTHER = [
    b'', b' ', b'\t', b'  NOOP', b'NOOP', b'noop', b'NoOp x y', b'NOOP \xff', b'FOO\xff',
    b'\xc3\xa9', b'\xff', b'FOO', b'foo', b'help', b'HELP', b'help me', b'XYZZY a b',
    b'get /', b'GET / HTTP/1.0', b'POST /x HTTP/1.1', b'CONNECT host:25 HTTP/1.1',
    b'connect x', b'Subject: x', b'Subject:x', b'Received: from x', b'Reply-To: a@b',
    b'Message-ID: <x@y>', b'From: a@b', b'User-Agent: x', b'X-Foo : bar', b':x', b'.',
    b'1', b'-', b'<a>', b'"x"', b'mailfrom:<a>', b'MAILFROM:<a>', b'MAIL\\ FROM:<a>',
    b'HELO', b'HELO x', b'HELO a b', b'helo  x  ', b'EHLO', b'EHLO x', b'EHLO \xc3\xa9',
    b'MAIL', b'MAIL FROM', b'MAIL FROM:', b'MAIL FROM: ', b'MAIL TO:<a>', b'MAIL FROM :<a>',
    b'MAIL FROM:<a> <b>', b'MAIL FROM:<a>, <b>', b'MAIL  FROM:<a@b>', b'MAIL\tFROM:<a@b>',
    b'mail from:<a@b>', b'MAIL From:<a@b>', b'MAIL FROM:<a@b> ', b'MAIL FROM:from:',
    b'MAIL FROM:to:', b'MAIL FROM:<a\x00b>', b'NOOP a\x00b', b'NO\x00OP',
    b'RCPT', b'RCPT TO', b'RCPT TO:', b'RCPT FROM:<a@b>', b'RCPT TO :<a>', b'rcpt to:<a@b>',
    b'DATA', b'DATA x', b'data', b'BDAT', b'BDAT x', b'BDAT 10 LAST x', b'BDAT 10 FOO',
    b'BDAT -1', b'BDAT +1', b'BDAT 99999999999999999999', b'BDAT 1 LAST LAST',
    b'RSET', b'RSET x', b'rset', b'QUIT x', b'VRFY', b'VRFY a', b'VRFY a b', b'VRFY a SMTPUTF8',
    b'VRFY <a b>', b'VRFY a b c', b'VRFY <>', b'VRFY <a@b> SMTPUTF8', b'VRFY SMTPUTF8',
    b'VRFY <a', b'ETRN', b'ETRN a b', b'ETRN @x', b'STARTTLS', b'STARTTLS x', b'starttls',
    b'XCLIENT', b'XCLIENT NAME=x', b'AUTH', b'AUTH PLAIN', b'XFORWARD', b'XFORWARD NAME=x',
]


def long_lines():
    out = []
    for total in (2045, 2046, 2047, 2048, 2049, 2050, 3000):
        # "MAIL FROM:<" + local + "@b>" of exactly `total` bytes: the closing
        # ">" falls off when the line is cut at line_length_limit.
        local = b'a' * (total - len(b'MAIL FROM:<@b>'))
        out.append(b'MAIL FROM:<' + local + b'@b>')
        out.append(b'NOOP ' + b'x' * (total - 5))
        out.append(b'RCPT TO:<' + b'r' * (total - len(b'RCPT TO:<@b>')) + b'@b>')
    # A two-byte UTF-8 character split by the cut.
    out.append(b'NOOP ' + b'x' * (2048 - 6) + b'\xc3\xa9')
    out.append(b'NOOP ' + b'x' * (2048 - 5) + b'\xc3\xa9')
    return out


def cases():
    out = list(OTHER)
    for a in ADDRS:
        out += [b'MAIL FROM:' + a, b'MAIL FROM: ' + a, b'RCPT TO:' + a, b'VRFY ' + a]
    out += [b'MAIL FROM:<a@b> ' + p for p in MAIL_PARAMS]
    out += [b'RCPT TO:<a@b> ' + p for p in RCPT_PARAMS]
    out += long_lines()
    seen, uniq = set(), []
    for c in out:
        if c not in seen and b'\n' not in c and b'\r' not in c:
            seen.add(c)
            uniq.append(c)
    return uniq


def first_word(line):
    w = line.split(None, 1)
    return w[0].upper() if w else b''


def prefix_for(line):
    v = first_word(line)
    if v in (b'HELO', b'EHLO'):
        return []
    if v == b'RCPT':
        return [b'EHLO x', b'MAIL FROM:<>']
    if v == b'DATA':
        # Postfix checks for recipients before it looks at DATA's arguments.
        return [b'EHLO x', b'MAIL FROM:<>', b'RCPT TO:<a@b>']
    return [b'EHLO x']


def postfix_reply(confdir, line):
    pre = prefix_for(line)
    data = b''.join(p + b'\r\n' for p in pre + [line]) + b'QUIT\r\n'
    try:
        p = subprocess.run(['sendmail', '-C', confdir, '-bs'], input=data,
                           capture_output=True, timeout=30)
    except subprocess.TimeoutExpired:
        return '(timeout)'
    finals = [l.decode('latin-1') for l in p.stdout.split(b'\r\n')
              if len(l) >= 4 and l[3:4] == b' ' and l[:3].isdigit()]
    k = len(pre) + 1  # the greeting, then one reply per prefix command
    return finals[k] if k < len(finals) else '(none)'


def make_confdir(top, name, strict):
    d = os.path.join(top, name)
    q = os.path.join(d, 'q')
    for sub in ('maildrop', 'public', 'pid'):
        os.makedirs(os.path.join(q, sub))
    with open(os.path.join(d, 'main.cf'), 'w') as f:
        f.write('compatibility_level = 3.6\nmyhostname = mx.example.test\n'
                'queue_directory = %s\n' % q +
                # No proxymap/alias lookups: there is no master to serve them.
                'local_recipient_maps =\nalias_maps =\nalias_database =\n'
                # Errors must neither slow the sessions down nor end them.
                'smtpd_error_sleep_time = 0\nsmtpd_soft_error_limit = 1000\n'
                'smtpd_hard_error_limit = 1000\nsmtpd_junk_command_limit = 1000\n'
                'strict_rfc821_envelopes = %s\n' % ('yes' if strict else 'no'))
    return d


def probe(probe_exe, lines, strict):
    args = [probe_exe] + (['-s'] if strict else [])
    p = subprocess.run(args, input=b''.join(l + b'\n' for l in lines),
                       capture_output=True, check=True)
    out = p.stdout.decode('latin-1').split('\n')[:-1]
    if len(out) != len(lines):
        sys.exit('probe printed %d lines for %d inputs' % (len(out), len(lines)))
    return out


def agree(pred, actual):
    if pred.startswith('OK '):
        return actual[:1] in ('2', '3') or actual in STATE_REPLIES
    return pred == actual


def main():
    if len(sys.argv) < 2:
        sys.exit('usage: smtpd_syntax.py PROBE [-v]')
    verbose = '-v' in sys.argv[2:]
    if not shutil.which('sendmail') or not shutil.which('postconf'):
        print('Postfix sendmail/postconf not installed: skipped')
        return 77
    lines = cases()
    bad = compared = 0
    with tempfile.TemporaryDirectory(prefix='smtpd_syntax.') as top:
        for strict in (False, True):
            conf = make_confdir(top, 'strict' if strict else 'loose', strict)
            if not postfix_reply(conf, b'NOOP').startswith('250'):
                print('sendmail -bs does not run a usable smtpd here: skipped')
                return 77
            preds = probe(sys.argv[1], lines, strict)
            with concurrent.futures.ThreadPoolExecutor(16) as ex:
                actual = list(ex.map(lambda l: postfix_reply(conf, l), lines))
            for line, pr, ac in zip(lines, preds, actual):
                if first_word(line) in EXCLUDED_VERBS:
                    continue
                compared += 1
                ok = agree(pr, ac)
                if not ok:
                    bad += 1
                if not ok or verbose:
                    print('%s strict=%s %r\n    postfix: %s\n    mxscreen: %s' %
                          ('DIFF' if not ok else 'same', 'yes' if strict else 'no',
                           line[:80] + (b'...' if len(line) > 80 else b''), ac, pr))
    print('%d lines x 2 settings, %d compared, %d differ' % (len(lines), compared, bad))
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main())
