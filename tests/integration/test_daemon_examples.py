#!/usr/bin/env python3
"""test_daemon_examples.py - the differential suite: every recorded Postfix session replayed against mxscreen.

Usage: test_daemon_examples.py [MXSCREEN_BINARY] [--postfix] [--keep] [-v]

tests/peer/data/example_sessions.json holds scripted sessions and the
replies Postfix 3.7.11 gave for examples/main.cf (recorded by
tests/peer/postfix_examples.py, which also re-checks them against Postfix).
Here the daemon runs the same examples/main.cf and maps, with the table's
"settings" (smtpd_authorized_xclient_hosts = 127.0.0.1, so sessions can play
an outside client with XCLIENT), relayhost = a recording Sink, and every
session is replayed with smtplib, all in parallel (the examples' 20 s
smtpd_error_sleep_time would make them minutes one after the other).

For every step:
  * the reply code must be Postfix's (always);
  * the enhanced status code (X.Y.Z after the code), when Postfix gave one,
    must be the same;
  * for steps recorded with match "exact", the whole text must be the same,
    and for "prefix", the text must start with the recorded prefix;
  * a step recorded with "delay" (the error sleep) must take that long,
    give or take smtp_client.DELAY_SLACK;
unless DIFFERENCES below lists the step, with the reply mxscreen gives
instead and why. Sessions marked "delivered" must reach the Sink as one
Received: header + the client's bytes, for the recorded recipients, and
nothing else may reach it.

Exit: 0 pass, 1 fail, 77 no daemon binary (or --postfix without Postfix).
"""

import concurrent.futures
import json
import os
import re
import sys

import daemon_common as dc
import sink as sinklib         # noqa: E402
import smtp_client             # noqa: E402

sys.path.insert(0, os.path.join(dc.ROOT, "tests", "peer"))
import postfix_examples        # noqa: E402  (check_delivery: the sink's copy)

TABLE = os.path.join(dc.ROOT, "tests", "peer", "data", "example_sessions.json")

# Deliberate differences from Postfix: (session name, step index) ->
# (the reply mxscreen gives, compared as the step's match mode says, or
# None for "code and enhanced code must still match, the text may differ"),
# and the reason. Keep this list short and every reason true.
DIFFERENCES = {
    # None at present: mxscreen in proxy mode answers the end of DATA with
    # Postfix's own "250 2.0.0 Ok: queued as ID" (the id is a prefix match),
    # and every other reply of the table is Postfix's word for word.
}

ENHANCED = re.compile(r"^\d{3} (\d\.\d{1,3}\.\d{1,3})\b")


def compare_step(name, i, step, got, took):
    """Problems with one reply (a list of strings)."""
    what = ("connect" if step.get("connect") else
            "end of DATA" if "data" in step else step.get("send"))
    want = step.get("expect")
    where = f"{name} step {i} ({what})"
    if want is None:
        return []
    out = []
    if got[:3] != want[:3]:
        out.append(f"{where}: code {got[:3]!r}, Postfix {want[:3]!r} (got {got!r}, "
                   f"Postfix {want!r})")
        return out
    diff = DIFFERENCES.get((name, i))
    mode = step.get("match", "exact")
    if diff is not None:
        alt, _why = diff
        if alt is not None and not smtp_client.matches(dict(step, expect=alt), got):
            out.append(f"{where}: {got!r}, the listed difference says {alt!r}")
        want_enh = ENHANCED.match(want)
        got_enh = ENHANCED.match(got)
        if alt is None and want_enh and (not got_enh or got_enh.group(1) != want_enh.group(1)):
            out.append(f"{where}: enhanced code in {got!r}, Postfix {want!r}")
    else:
        want_enh = ENHANCED.match(want) if mode != "code" else None
        got_enh = ENHANCED.match(got)
        if want_enh and (not got_enh or got_enh.group(1) != want_enh.group(1)):
            out.append(f"{where}: enhanced code in {got!r}, Postfix {want!r}")
        elif not smtp_client.matches(step, got):
            out.append(f"{where}: {got!r}, Postfix {want!r} ({mode})")
    if "delay" in step and took is not None:
        if abs(took - step["delay"]) > smtp_client.DELAY_SLACK:
            out.append(f"{where}: reply after {took:.1f} s, Postfix after {step['delay']} s")
    elif took is not None and took > step.get("delay", 0) + smtp_client.DELAY_SLACK + 1:
        out.append(f"{where}: reply after {took:.1f} s, Postfix at once")
    return out


def main():
    args = dc.parse_args(__doc__)
    check = dc.Checker("daemon_examples", args.v)
    with open(TABLE) as f:
        table = json.load(f)
    main_cf, maps = dc.example_config()

    with sinklib.Sink() as sink, dc.server(args, main_cf, maps,
                                           relay=(sink.host, sink.port),
                                           settings=table["settings"]) as srv:
        results = {}
        with concurrent.futures.ThreadPoolExecutor(len(table["sessions"])) as pool:
            for sess in table["sessions"]:
                timings = []
                fut = pool.submit(smtp_client.run_session, srv.host, srv.port,
                                  sess["steps"], None, 60, timings)
                results[sess["name"]] = (fut, timings)
        delivered = 0
        for sess in table["sessions"]:
            name, steps = sess["name"], sess["steps"]
            fut, timings = results[name]
            try:
                replies = fut.result()
            except OSError as e:
                check.expect(False, f"{name}: cannot connect: {e}")
                continue
            if args.v:
                print(f"--- {name}")
                for st, r, t in zip(steps, replies, timings):
                    w = st.get("send", "DATA" if "data" in st else "connect")
                    print(f"  {w!s:50.50} {t:5.1f}s -> {r!r}")
            check.expect(len(replies) == len(steps),
                         f"{name}: {len(replies)} replies for {len(steps)} steps "
                         f"(last {replies[-1:]!r})")
            for i, (step, got) in enumerate(zip(steps, replies)):
                took = timings[i] if i < len(timings) else None
                problems = compare_step(name, i, step, got, took)
                for p in problems:
                    check.expect(False, p)
                if not problems:
                    check.expect(True, f"{name} step {i}: {got!r}")
            if sess.get("delivered"):
                delivered += 1
        msgs = sink.wait_messages(delivered, timeout=20)
        for sess in table["sessions"]:
            if sess.get("delivered"):
                for p in postfix_examples.check_delivery(sess, msgs):
                    check.expect(False, p)
        extra = sink.wait_messages(delivered + 1, timeout=1)
        check.expect(len(extra) == delivered,
                     f"the sink got {len(extra)} messages, expected {delivered}")
        return check.done(srv)


if __name__ == "__main__":
    sys.exit(main())
