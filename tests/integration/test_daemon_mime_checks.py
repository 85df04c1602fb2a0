#!/usr/bin/env python3
"""test_daemon_mime_checks.py - mime_header_checks, nested_header_checks and body_checks through the daemon.

Usage: test_daemon_mime_checks.py [MXSCREEN_BINARY] [--postfix] [--keep] [-v]

delivery_mode = queue (HOLD and REDIRECT need a queue), relayhost = a
recording sink. Every message is a MIME multipart/mixed message sent in its own
session; the tables (regexp):
  mime_header_checks (the Content-* headers of the message and of each
  part): an .exe attachment REJECT, a .scr one DISCARD, hold.pdf HOLD,
  "Content-Description: warn" WARN, "tag X" PREPEND X-Mime-Tag: X,
  "redirect" REDIRECT, "drop" IGNORE;
  nested_header_checks (the headers of an attached message/rfc822, not the
  top-level ones): "Subject: inner reject" REJECT, "Subject: inner
  discard" DISCARD;
  body_checks (body lines of every text part, up to body_checks_size_limit
  bytes of each): REJECT, DISCARD, IGNORE, WARN, HOLD lines.
For each message: the reply to the final dot (exact text), whether and to
whom it was delivered, what the next hop got (the IGNOREd lines gone, the
PREPENDed header in place, everything else as sent, after the receiving
server's Received: header), and cleanup's log lines ("ID: warning: header
... from localhost[127.0.0.1]; from=<...> to=<...> proto=ESMTP
helo=<...>: text", "hold:", "discard:", "redirect:"). A body line of
"body reject here" 100 kB into a 200 kB text part is past
body_checks_size_limit (51200) and not seen; the same line 20 kB in is.
A line longer than line_length_limit (2048) is checked in pieces: the
text right after the first 2048 bytes is a piece of its own ("^" matches
there), later ones are not aligned with it. (Delivered, such a line is
not compared byte for byte: Postfix's smtp client folds lines longer than
smtp_line_length_limit = 998 with CRLF SPACE, mxscreen's queue runner does
not yet.)
Every expectation was checked with a private Postfix 3.7.11 (--postfix).
Then (mxscreen only) the same tables in delivery_mode = proxy: the checks
still apply before the next hop sees the message (Postfix with
smtpd_proxy_filter would not run them: its cleanup comes after the
filter), the .exe part is refused and the tagged part delivered with its
X-Mime-Tag:, and HOLD and REDIRECT, which need a queue, defer the message
("451 4.3.5 Server configuration error", "... needs delivery_mode = queue"
in the log) rather than deliver it elsewhere than the rules say.
Exit: 0 pass, 1 fail, 77 no daemon binary (or --postfix without Postfix).
"""

import re
import sys
import time

import daemon_common as dc
import sink as sinklib         # noqa: E402

MAIN_CF = dc.LOOPBACK_CF + """smtpd_error_sleep_time = 0
smtpd_soft_error_limit = 100
header_checks =
mime_header_checks = regexp:${config_directory}/mime_checks
nested_header_checks = regexp:${config_directory}/nested_checks
body_checks = regexp:${config_directory}/body_checks
"""
MAPS = {
    "mime_checks": (
        '/^Content-(Type|Disposition):.*name="?[^"]*\\.exe"?/ REJECT executables are not accepted\n'
        '/^Content-Disposition:.*filename="?[^"]*\\.scr"?/ DISCARD screensaver\n'
        '/^Content-Type:.*name="hold\\.pdf"/ HOLD held for review\n'
        '/^Content-Description: warn/ WARN mime warn\n'
        '/^Content-Description: tag (.*)/ PREPEND X-Mime-Tag: $1\n'
        '/^Content-Description: redirect/ REDIRECT mime@example.org\n'
        '/^Content-Description: drop/ IGNORE\n'),
    "nested_checks": (
        "/^Subject: inner reject/ REJECT nested subject refused\n"
        "/^Subject: inner discard/ DISCARD\n"),
    "body_checks": (
        "/^body reject here$/ REJECT body line refused\n"
        "/^body discard here$/ DISCARD\n"
        "/^body ignore here$/ IGNORE\n"
        "/^body warn here$/ WARN body warn\n"
        "/^body hold here$/ HOLD body hold\n"),
}
SETTINGS = {
    "delivery_mode": "queue",
    "queue_run_delay": "1s",
    "minimal_backoff_time": "1s",
    "maximal_backoff_time": "2s",
}
BOUNDARY = "=-=b0undary=-="


def part(headers, body):
    return f"--{BOUNDARY}\r\n" + "".join(h + "\r\n" for h in headers) + "\r\n" + body


def mime_message(tag, parts, subject=None):
    """A multipart/mixed message whose Message-ID carries tag."""
    head = (f"From: <s@example.org>\r\nTo: <r@example.net>\r\n"
            f"Subject: {subject or 'mime ' + tag}\r\nMessage-ID: <{tag}@example.org>\r\n"
            f"Date: Sat, 21 Nov 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\n"
            f'Content-Type: multipart/mixed; boundary="{BOUNDARY}"\r\n\r\n'
            "This is a multi-part message in MIME format.\r\n")
    return (head + "".join(parts) + f"--{BOUNDARY}--\r\n").encode()


TEXT = part(["Content-Type: text/plain; charset=us-ascii"], "hello\r\nthere\r\n")


def attach(name, disposition=True, ctype="application/octet-stream", extra=()):
    hdrs = [f'Content-Type: {ctype}; name="{name}"']
    if disposition:
        hdrs.append(f'Content-Disposition: attachment; filename="{name}"')
    hdrs += list(extra)
    hdrs.append("Content-Transfer-Encoding: base64")
    return part(hdrs, "AAECAwQFBgcICQoLDA0ODw==\r\n")


def rfc822(subject):
    inner = (f"From: <inner@example.com>\r\nTo: <x@example.com>\r\nSubject: {subject}\r\n"
             "Date: Fri, 20 Nov 2026 09:00:00 +0000\r\n\r\ninner body\r\n")
    return part(["Content-Type: message/rfc822", "Content-Description: forwarded"], inner)


def body_part(lines):
    return part(["Content-Type: text/plain"], "".join(l + "\r\n" for l in lines))


def filler(nbytes):
    """Text lines of 72 bytes (CRLF included) adding up to about nbytes."""
    return [f"filler {i:06d} " + "y" * 56 for i in range(nbytes // 72)]


# (tag, message, reply to the dot (exact, '*' = prefix), delivered to
#  (None: not delivered), sink text that must appear, text that must not,
#  log line pattern (ID replaced by the queue id) or None)
def cases():
    rej = "550 5.7.1 "
    ok = "250 2.0.0 Ok: queued as *"
    log = r"ID: {act}: {what} from localhost\[127\.0\.0\.1\]; from=<s@example\.org> " \
          r"to=<r@example\.net> proto=ESMTP helo=<client\.example\.org>"
    return [
        ("exe", mime_message("exe", [TEXT, attach("setup.exe")]),
         rej + "executables are not accepted", None, [], [],
         log.format(act="reject", what=r'header Content-Type: application/octet-stream; '
                    r'name="setup\.exe"') + ": 5.7.1 executables are not accepted"),
        ("scr", mime_message("scr", [TEXT, attach("fun.scr")]), ok, None, [], [],
         log.format(act="discard", what=r'header Content-Disposition: attachment; '
                    r'filename="fun\.scr"') + ": screensaver"),
        ("holdpdf", mime_message("holdpdf", [TEXT, attach("hold.pdf", ctype="application/pdf")]),
         ok, None, [], [],
         log.format(act="hold", what=r'header Content-Type: application/pdf; name="hold\.pdf"')
         + ": held for review"),
        ("warntag", mime_message("warntag", [
            part(["Content-Type: text/plain", "Content-Description: warn me"], "a\r\n"),
            part(["Content-Type: text/plain", "Content-Description: tag blue"], "b\r\n"),
            part(["Content-Type: text/plain", "Content-Description: drop this"], "c\r\n")]),
         ok, ["r@example.net"],
         ["Content-Description: warn me\r\n",
          "X-Mime-Tag: blue\r\nContent-Description: tag blue\r\n",
          f"--{BOUNDARY}\r\nContent-Type: text/plain\r\n\r\nc\r\n"],
         ["Content-Description: drop this"],
         log.format(act="warning", what="header Content-Description: warn me") + ": mime warn"),
        ("redir", mime_message("redir", [
            part(["Content-Type: text/plain", "Content-Description: redirect"], "r\r\n")]),
         ok, ["mime@example.org"], ["Content-Description: redirect\r\n"], [],
         log.format(act="redirect", what="header Content-Description: redirect")
         + ": mime@example.org"),
        ("nestrej", mime_message("nestrej", [TEXT, rfc822("inner reject")]),
         rej + "nested subject refused", None, [], [],
         log.format(act="reject", what="header Subject: inner reject")
         + ": 5.7.1 nested subject refused"),
        ("nesttop", mime_message("nesttop", [TEXT], subject="inner reject"), ok,
         ["r@example.net"], ["Subject: inner reject\r\n"], [], None),
        ("nestdis", mime_message("nestdis", [TEXT, rfc822("inner discard")]), ok, None, [], [],
         log.format(act="discard", what="header Subject: inner discard")),
        ("bodyrej", mime_message("bodyrej", [TEXT, body_part(["x", "body reject here", "y"])]),
         rej + "body line refused", None, [], [],
         log.format(act="reject", what="body body reject here") + ": 5.7.1 body line refused"),
        ("bodydis", mime_message("bodydis", [body_part(["body discard here"])]), ok, None, [], [],
         log.format(act="discard", what="body body discard here")),
        ("bodyign", mime_message("bodyign", [
            body_part(["keep 1", "body ignore here", "keep 2", "body warn here"])]),
         ok, ["r@example.net"], ["keep 1\r\nkeep 2\r\nbody warn here\r\n"],
         ["body ignore here"],
         log.format(act="warning", what="body body warn here") + ": body warn"),
        ("bodyhold", mime_message("bodyhold", [body_part(["body hold here"])]), ok, None, [], [],
         log.format(act="hold", what="body body hold here") + ": body hold"),
        # line_length_limit (2048): a longer line reaches body_checks in
        # pieces, so "^" matches where a piece starts (cleanup's records).
        ("split", mime_message("split", [body_part(["x" * 2048 + "body reject here"])]),
         rej + "body line refused", None, [], [], None),
        ("splitlong", mime_message("splitlong", [
            body_part(["body reject here" + "y" * 3000, "x" * 4000 + "body reject here"])]),
         ok, ["r@example.net"], ["\r\nbody reject here"], [], None),
        ("longfar", mime_message("longfar", [
            body_part(filler(100000) + ["body reject here"] + filler(100000))]),
         ok, ["r@example.net"], ["\r\nbody reject here\r\n"], [], None),
        ("longnear", mime_message("longnear", [
            body_part(filler(20000) + ["body reject here"] + filler(100000))]),
         rej + "body line refused", None, [], [], None),
    ]


def send(srv, msg):
    c = dc.Raw(srv.host, srv.port, timeout=30)
    try:
        c.reply()
        c.cmd("EHLO client.example.org")
        c.cmd("MAIL FROM:<s@example.org>")
        c.cmd("RCPT TO:<r@example.net>")
        code, text, _ = c.cmd("DATA")
        if code != "354":
            return text
        c.send(msg + b".\r\n")
        _, text, _ = c.reply()
        c.cmd("QUIT")
        return text
    finally:
        c.close()


def after_received(data):
    """The message as the next hop got it, without the Received: header
    the receiving server put first (its text differs between servers)."""
    text = data.decode("utf-8", "replace")
    m = re.match(r"Received: [^\r]*\r\n(?:[ \t][^\r]*\r\n)*", text)
    return text[m.end():] if m else text


def main():
    args = dc.parse_args(__doc__)
    check = dc.Checker("daemon_mime_checks", verbose=args.v)
    all_cases = cases()
    with sinklib.Sink() as sink, \
            dc.server(args, MAIN_CF, MAPS, relay=(sink.host, sink.port), settings=SETTINGS) as srv:
        ids = {}
        for tag, msg, want, _to, _has, _hasnt, _log in all_cases:
            text = send(srv, msg)
            ok = text.startswith(want[:-1]) if want.endswith("*") else text == want
            check.expect(ok, f"{tag}: reply to the final dot {text!r}, want {want!r}")
            m = re.search(r"queued as (\w+)", text)
            ids[tag] = m.group(1) if m else None
        wanted = [c for c in all_cases if c[3]]
        msgs = sink.wait_messages(len(wanted), timeout=20)
        time.sleep(1.0)             # anything that should not come has a chance to
        by_tag = {}
        for m in list(sink.messages):
            t = re.search(rb"Message-ID: <(\w+)@example\.org>", m.data)
            by_tag.setdefault(t.group(1).decode() if t else "?", []).append(m)
        for tag, msg, _want, to, has, hasnt, logpat in all_cases:
            got = by_tag.get(tag, [])
            if to is None:
                check.expect(not got, f"{tag}: not delivered, the sink got {len(got)}")
            else:
                check.expect(len(got) == 1 and got[0].rcpt_tos == to,
                             f"{tag}: delivered once to {to}: "
                             f"{[m.rcpt_tos for m in got]}")
            if got:
                body = after_received(got[0].data)
                for s in has:
                    check.expect(s in body, f"{tag}: the next hop got {s!r}")
                for s in hasnt:
                    check.expect(s not in body, f"{tag}: the next hop did not get {s!r}")
                if not has and not hasnt:
                    check.expect(body == msg.decode(), f"{tag}: delivered as sent")
            if logpat:
                qid = ids.get(tag)
                pat = logpat.replace("ID", re.escape(qid) if qid else r"\w+", 1) + "$"
                check.expect(dc.wait_log(srv, pat, timeout=5) is not None,
                             f"{tag}: log line /{pat}/")
        dc.wait_for(lambda: len(re.findall(r"body reject here", srv.log())) >= 3, timeout=5)
        n = len(re.findall(r"body reject here", srv.log()))
        check.expect(n == 3, f"three 'body reject here' log lines (bodyrej, split, longnear), "
                             f"got {n}")
        if check.failures or args.postfix:
            sys.exit(check.done(srv))
    proxy_mode(args, check, {c[0]: c for c in all_cases})


def proxy_mode(args, check, by_tag):
    """delivery_mode = proxy: the checks before the next hop, HOLD and
    REDIRECT deferred."""
    settings = dict(SETTINGS, delivery_mode="proxy")
    with sinklib.Sink() as sink, \
            dc.server(args, MAIN_CF, MAPS, relay=(sink.host, sink.port), settings=settings) as srv:
        want = {"exe": "550 5.7.1 executables are not accepted",
                "warntag": "250 2.0.0 Ok: queued as *",
                "holdpdf": "451 4.3.5 Server configuration error",
                "redir": "451 4.3.5 Server configuration error"}
        for tag, w in want.items():
            text = send(srv, by_tag[tag][1])
            ok = text.startswith(w[:-1]) if w.endswith("*") else text == w
            check.expect(ok, f"proxy mode, {tag}: {text!r}, want {w!r}")
        msgs = sink.wait_messages(1, timeout=10)
        time.sleep(0.5)
        tags = [re.search(rb"Message-ID: <(\w+)@", m.data).group(1) for m in sink.messages]
        check.expect(tags == [b"warntag"], f"proxy mode: only warntag reached the next hop: {tags}")
        if msgs:
            body = after_received(msgs[0].data)
            check.expect("X-Mime-Tag: blue\r\nContent-Description: tag blue\r\n" in body
                         and "drop this" not in body, "proxy mode: PREPEND and IGNORE applied")
        for what in ("HOLD", "REDIRECT"):
            check.expect(dc.wait_log(srv, rf": {what} needs delivery_mode = queue: "
                                          r"message deferred$", 5) is not None,
                         f"proxy mode: {what} deferred with an error in the log")
        sys.exit(check.done(srv))


if __name__ == "__main__":
    main()
