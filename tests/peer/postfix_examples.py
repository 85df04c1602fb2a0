#!/usr/bin/env python3
"""postfix_examples.py - the bundled examples/ configuration under a real Postfix.

Usage: postfix_examples.py [--record] [--keep] [-v]

Starts a private Postfix 3.7 instance (tests/lib/postfix_peer.py) on
127.0.0.1:<free port> with examples/main.cf and its maps, a Sink on
loopback as its relayhost, and replays every session of
tests/peer/data/example_sessions.json with smtplib, asserting the exact
replies recorded there. That table is the expectation list the mxscreen
daemon is held to (the same steps, replayed against it); --record rewrites
its "expect" fields from what Postfix answers now (match modes and steps
stay as written) and prints the differences it overwrote.

Sessions marked "delivered" must reach the sink, and the sink's copy must be
Postfix's one Received: header followed by the client's bytes exactly.

Translation of examples/main.cf for Postfix (tests/lib/postfix_peer.py adds
the rest: private directories, log file, no local delivery):
  - listen_addresses, worker_processes, delivery_mode: mxscreen only, removed;
    the port goes into master.cf instead.
  - relayhost: the Sink's port instead of 127.0.0.1:2526.
  - the table's "settings" (smtpd_authorized_xclient_hosts = 127.0.0.1) are
    added: mynetworks is 127.0.0.0/8, so a loopback client is permitted
    before helo_access and the S25R rules; sessions that play an outside
    client say so with XCLIENT ADDR=... NAME=..., as a replay against
    mxscreen will.

Exit status: 0 all replies as recorded, 1 a difference (each printed), 77
Postfix is not installed (meson: skipped).
"""

import argparse
import concurrent.futures
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "lib"))

import postfix_peer            # noqa: E402
import sink as sinklib         # noqa: E402
import smtp_client             # noqa: E402

TABLE = os.path.join(HERE, "data", "example_sessions.json")
EXAMPLES = os.path.join(ROOT, "examples")
MAPS = ("header_checks", "client_restrictions", "helo_access")


def received_then(original, delivered):
    """True when delivered is one Received: header (folded lines) + original."""
    if not delivered.startswith(b"Received: "):
        return False
    lines = delivered.splitlines(keepends=True)
    i = 1
    while i < len(lines) and lines[i][:1] in (b" ", b"\t"):
        i += 1
    return b"".join(lines[i:]) == original


def queue_id_prefix(reply):
    """'250 2.0.0 Ok: queued as 8661EA74372' -> '250 2.0.0 Ok: queued as ':
    the part of a reply that does not change from run to run."""
    i = reply.find("queued as ")
    return reply[:i + len("queued as ")] if i >= 0 else reply


def record(sess, replies, timings):
    """Write what Postfix answered into the session's steps; count changes."""
    changed = 0
    for st, r, t in zip(sess["steps"], replies, timings):
        if st.get("match") == "code":
            want = r[:3]
        elif st.get("match") == "prefix":
            old = st.get("expect") or ""
            want = old if old and r.startswith(old) else queue_id_prefix(r)
        else:
            want = r
        if st.get("expect") != want:
            print(f"record {sess['name']}: {st.get('expect')!r} -> {want!r}")
            st["expect"] = want
            changed += 1
        delay = round(t) if t >= 1.0 else None
        if st.get("delay") != delay:
            print(f"record {sess['name']}: delay {st.get('delay')} -> {delay}")
            changed += 1
            if delay is None:
                del st["delay"]
            else:
                st["delay"] = delay
    return changed


def check_delivery(sess, msgs):
    """The session's message reached the sink as Received: + its bytes."""
    body = next(st["data"] for st in sess["steps"] if "data" in st).encode()
    helo = next(st["send"].split()[1] for st in reversed(sess["steps"])
                if st.get("send", "").split()[:1] in (["HELO"], ["EHLO"]))
    # The message ids repeat across sessions; the Received: header names
    # each session's HELO, so look for that.
    tag = f"from {helo} ".encode()
    for m in msgs:
        if received_then(body, m.data) and tag in m.data.split(b"\r\n", 1)[0]:
            if m.rcpt_tos != sess["delivered"]:
                return [f"{sess['name']}: sink recipients {m.rcpt_tos}, "
                        f"expected {sess['delivered']}"]
            return []
    return [f"{sess['name']}: no message at the sink is Received: + the client's bytes "
            f"(sink has {[m.data[:200] for m in msgs]})"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--record", action="store_true")
    ap.add_argument("--keep", action="store_true", help="keep the Postfix directory")
    ap.add_argument("-v", action="store_true")
    args = ap.parse_args()

    if not postfix_peer.postfix_available():
        print("postfix_examples: Postfix (master, smtpd, postconf) not installed: skipped")
        return 77
    if os.getuid() != 0:
        # master must start as root to hand the daemons to mail_owner.
        print("postfix_examples: a private Postfix needs root here: skipped")
        return 77

    with open(TABLE) as f:
        table = json.load(f)
    with open(os.path.join(EXAMPLES, "main.cf")) as f:
        main_cf = f.read()
    maps = {}
    for name in MAPS:
        with open(os.path.join(EXAMPLES, name)) as f:
            maps[name] = f.read()

    failures = []
    changed = 0
    with sinklib.Sink() as sink, postfix_peer.PostfixInstance(
            main_cf=main_cf, maps=maps, relay=(sink.host, sink.port),
            settings=table["settings"], keep=args.keep) as pf:
        # The maps as Postfix's own tools read them in this instance.
        q = pf.postmap("-q", "localhost", "texthash:helo_access")
        if q.strip() != "REJECT 554 BadSender1":
            failures.append(f"postmap -q localhost texthash:helo_access said {q!r}")
        # Sessions run side by side: after an error Postfix sleeps
        # smtpd_error_sleep_time (20 s) before its next reply, so one after
        # the other they would take minutes.
        results = {}
        with concurrent.futures.ThreadPoolExecutor(len(table["sessions"])) as pool:
            for sess in table["sessions"]:
                timings = []
                fut = pool.submit(smtp_client.run_session, pf.host, pf.port,
                                  sess["steps"], None, 60, timings)
                results[sess["name"]] = (fut, timings)
        delivered = 0
        for sess in table["sessions"]:
            steps = sess["steps"]
            fut, timings = results[sess["name"]]
            replies = fut.result()
            if args.v:
                print(f"--- {sess['name']}")
                for st, r, t in zip(steps, replies, timings):
                    what = st.get("send", "DATA" if "data" in st else "connect")
                    print(f"  {what!s:50.50} {t:5.1f}s -> {r!r}")
            if args.record:
                changed += record(sess, replies, timings)
            else:
                failures += [f"{sess['name']}: {p}"
                             for p in smtp_client.compare(steps, replies, timings)]
            if sess.get("delivered"):
                delivered += 1
        msgs = sink.wait_messages(delivered, timeout=20)
        for sess in table["sessions"]:
            if sess.get("delivered"):
                failures += check_delivery(sess, msgs)
        # Nothing that was refused may have gone anywhere.
        extra = sink.wait_messages(delivered + 1, timeout=1)
        if len(extra) != delivered:
            failures.append(f"the sink got {len(extra)} messages, expected {delivered}")
        if failures:
            print("postfix maillog:\n" + pf.log())

    if args.record:
        with open(TABLE, "w") as f:
            json.dump(table, f, indent=2, ensure_ascii=False)
            f.write("\n")
        print(f"postfix_examples: recorded {changed} changed replies into {TABLE}")
    for line in failures:
        print("FAIL " + line)
    if not failures:
        print(f"postfix_examples: {len(table['sessions'])} sessions as recorded")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
