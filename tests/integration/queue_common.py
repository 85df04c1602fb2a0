"""queue_common.py - what the delivery_mode = queue daemon tests share
(test_daemon_queue_*.py): the main.cf they start from, the settings that
make the runner retry within seconds, and one message sent and its queue
id read back. Each works against mxscreen and, through daemon_common's
server(), against a private Postfix.
"""

import re
import smtplib

MAIN_CF = """\
compatibility_level = 3.6
myhostname = backup.example.test
mynetworks = 127.0.0.0/8
"""
# retries within seconds instead of Postfix's 300s/4000s/300s
FAST = {
    "delivery_mode": "queue",
    "minimal_backoff_time": "1s",
    "maximal_backoff_time": "2s",
    "queue_run_delay": "1s",
}


def send_one(srv, tag, sender="s@example.org", rcpt="r@example.net"):
    """One message in its own session; its queue id, or None when the
    end of DATA was not a 250 with 'queued as ID'."""
    with smtplib.SMTP(srv.host, srv.port, timeout=20) as s:
        s.ehlo("client.example.org")
        s.mail(sender)
        s.rcpt(rcpt)
        code, text = s.data(f"From: {sender}\r\nSubject: {tag}\r\n"
                            f"Message-Id: <{tag}@example.org>\r\n"
                            f"Date: Mon, 1 Jan 2024 00:00:00 +0000\r\n\r\nbody {tag}\r\n")
    m = re.search(rb"queued as (\w+)", text)
    return m.group(1).decode() if code == 250 and m else None
