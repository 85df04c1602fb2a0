"""sink.py - next-hop SMTP servers on loopback for integration tests and benchmarks.

Interface:
    with Sink(replies={"rcpt": "450 4.2.0 try later"}) as sink:   # stdlib only
        sink.port                   # 127.0.0.1:<free port> it listens on
        msgs = sink.wait_messages(1, timeout=10)
        msgs[0].mail_from, .rcpt_tos, .data (bytes, dot-unstuffed, CRLF kept,
        without the final ".\r\n"), .raw (the DATA bytes exactly as received)
        sink.sessions               # every session: commands and replies

    with SmtpSink(port) as s: ...   # Postfix's smtp-sink binary, by pid
    run_smtp_source(host, port, sessions=20, messages=1000, ...) -> SourceResult

Sink answers as a plain RFC 5321 server (EHLO offers PIPELINING and
8BITMIME, commands are read in order so pipelined clients work). The reply
at each stage can be replaced for failure tests: `replies` maps a stage to a
reply line ("550 5.1.1 no such user"), to HANG (never answer: the client
must time out), or to CLOSE (drop the connection without a word). Stages:
connect (the greeting), helo (HELO/EHLO), mail, rcpt, data (the 354), eom
(the reply after the final dot), rset, quit. A reply may also be a callable
(session, argument) -> reply, e.g. to refuse only one recipient.

A message is recorded (and wait_messages() counts it) only when its end of
DATA got a 2xx reply; refused ones are in sink.refused.

Failure: the server runs on its own thread and event loop; a client that
breaks the protocol gets a 500 reply, never an exception in the test. stop()
closes the listener and every open session and joins the thread (bounded).
"""

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field

HANG = "hang"
CLOSE = "close"

MAX_LINE = 1 << 16          # longest command or data line accepted


@dataclass
class Message:
    mail_from: str
    rcpt_tos: list
    data: bytes             # unstuffed, CRLF line ends as received
    raw: bytes              # DATA payload on the wire, dot-stuffed, incl. ".\r\n"
    helo: str = ""
    peer: tuple = ()


@dataclass
class Session:
    peer: tuple
    log: list = field(default_factory=list)     # ("C", line) / ("S", reply)


class Sink:
    """An SMTP server on 127.0.0.1 that records what it receives."""

    def __init__(self, replies=None, host="127.0.0.1", port=0, hostname="sink.test",
                 timeout=60.0):
        self.replies = dict(replies or {})
        self.host = host
        self.port = port
        self.hostname = hostname
        self.timeout = timeout          # idle seconds before a session is closed
        self.messages = []
        self.refused = []
        self.sessions = []
        self._cond = threading.Condition()
        self._loop = None
        self._server = None
        self._thread = None
        self._tasks = set()

    # -------------------------------------------------------------- control
    def start(self):
        ready = threading.Event()
        failure = []

        def run():
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                self._server = loop.run_until_complete(asyncio.start_server(
                    self._serve, self.host, self.port, limit=MAX_LINE))
                self.port = self._server.sockets[0].getsockname()[1]
            except OSError as e:
                failure.append(e)
                ready.set()
                loop.close()
                return
            ready.set()
            loop.run_forever()
            # Sessions still running (a client that connected during the
            # stop): cancel them and let them unwind before the loop closes,
            # or Python prints "Task was destroyed but it is pending" and
            # "Event loop is closed" tracebacks at exit.
            pending = asyncio.all_tasks(loop)
            for t in pending:
                t.cancel()
            if pending:
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

        self._thread = threading.Thread(target=run, name="sink", daemon=True)
        self._thread.start()
        if not ready.wait(10) or failure:
            raise RuntimeError(f"sink could not listen on {self.host}:{self.port}: {failure}")
        return self

    def stop(self):
        loop, self._loop = self._loop, None
        if loop is None:
            return

        async def shutdown():
            self._server.close()
            tasks = list(self._tasks)
            for t in tasks:
                t.cancel()
            if tasks:
                await asyncio.wait(tasks, timeout=2)
            loop.stop()

        asyncio.run_coroutine_threadsafe(shutdown(), loop)
        self._thread.join(10)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False

    def wait_messages(self, n, timeout=10.0):
        """Block until n messages were accepted or timeout; return them all."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.messages) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            return list(self.messages)

    # -------------------------------------------------------------- protocol
    def _reply_for(self, stage, default, session, arg):
        r = self.replies.get(stage, default)
        if callable(r):
            r = r(session, arg) or default
        return r

    async def _serve(self, reader, writer):
        task = asyncio.current_task()
        self._tasks.add(task)
        session = Session(peer=writer.get_extra_info("peername"))
        with self._cond:
            self.sessions.append(session)
        try:
            await self._converse(reader, writer, session)
        except (asyncio.CancelledError, ConnectionError, asyncio.TimeoutError,
                asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            pass
        finally:
            self._tasks.discard(task)
            writer.close()

    async def _send(self, writer, session, reply):
        """Send reply; False when the stage says hang or close."""
        if reply == HANG:
            session.log.append(("S", HANG))
            await asyncio.sleep(3600)   # until the client gives up or stop()
            return False
        if reply == CLOSE:
            session.log.append(("S", CLOSE))
            return False
        session.log.append(("S", reply))
        writer.write(reply.encode() + b"\r\n")
        await writer.drain()
        return True

    async def _readline(self, reader):
        line = await asyncio.wait_for(reader.readline(), self.timeout)
        if not line:
            raise ConnectionError("client closed")
        return line

    async def _converse(self, reader, writer, session):
        if not await self._send(writer, session, self._reply_for(
                "connect", f"220 {self.hostname} ESMTP sink", session, "")):
            return
        helo, mail_from, rcpts = "", None, []
        while True:
            line = await self._readline(reader)
            text = line.rstrip(b"\r\n").decode("utf-8", "surrogateescape")
            session.log.append(("C", text))
            verb, _, arg = text.partition(" ")
            verb = verb.upper()
            if verb in ("EHLO", "HELO"):
                default = (f"250-{self.hostname}\r\n250-PIPELINING\r\n250 8BITMIME"
                           if verb == "EHLO" else f"250 {self.hostname}")
                reply = self._reply_for("helo", default, session, arg)
                if reply.startswith("2"):
                    helo, mail_from, rcpts = arg, None, []
            elif verb == "MAIL":
                reply = self._reply_for("mail", "250 2.1.0 Ok", session, arg)
                if reply.startswith("2"):
                    mail_from, rcpts = _path(arg, "FROM:"), []
            elif verb == "RCPT":
                if mail_from is None:
                    reply = "503 5.5.1 Error: need MAIL command"
                else:
                    reply = self._reply_for("rcpt", "250 2.1.5 Ok", session, arg)
                    if reply.startswith("2"):
                        rcpts.append(_path(arg, "TO:"))
            elif verb == "DATA":
                if not rcpts:
                    reply = "503 5.5.1 Error: need RCPT command"
                else:
                    reply = self._reply_for("data", "354 End data with <CR><LF>.<CR><LF>",
                                            session, "")
                    if reply.startswith("3"):
                        if not await self._send(writer, session, reply):
                            return
                        raw = await self._read_data(reader)
                        msg = Message(mail_from, list(rcpts), _unstuff(raw), raw, helo,
                                      session.peer)
                        reply = self._reply_for("eom", "250 2.0.0 Ok: queued", session, msg)
                        with self._cond:
                            (self.messages if reply.startswith("2") else
                             self.refused).append(msg)
                            self._cond.notify_all()
                        mail_from, rcpts = None, []
            elif verb == "RSET":
                reply = self._reply_for("rset", "250 2.0.0 Ok", session, "")
                mail_from, rcpts = None, []
            elif verb == "NOOP":
                reply = "250 2.0.0 Ok"
            elif verb == "QUIT":
                reply = self._reply_for("quit", "221 2.0.0 Bye", session, "")
                await self._send(writer, session, reply)
                return
            else:
                reply = "502 5.5.2 Error: command not recognized"
            if not await self._send(writer, session, reply):
                return

    async def _read_data(self, reader):
        chunks = []
        while True:
            line = await self._readline(reader)
            chunks.append(line)
            if line in (b".\r\n", b".\n"):
                return b"".join(chunks)


def _path(arg, keyword):
    """The address inside <...> after FROM:/TO:, parameters ignored."""
    rest = arg[len(keyword):] if arg.upper().startswith(keyword) else arg
    rest = rest.strip()
    if rest.startswith("<") and ">" in rest:
        return rest[1:rest.index(">")]
    return rest.split(" ")[0]


def _unstuff(raw):
    """DATA payload without the final dot line and with leading dots unstuffed."""
    lines = raw.splitlines(keepends=True)[:-1]
    return b"".join(l[1:] if l.startswith(b".") else l for l in lines)


# ---------------------------------------------------------------- Postfix tools

def postfix_tools_available():
    return bool(shutil.which("smtp-sink") and shutil.which("smtp-source"))


class SmtpSink:
    """Postfix's smtp-sink on 127.0.0.1:port, stopped by pid.

    args are extra smtp-sink options (e.g. ["-c"] to count, ["-u", "postfix"]);
    backlog is its listen queue length."""

    def __init__(self, port=None, args=("-c",), backlog=256):
        from postfix_peer import free_port
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self.args = list(args)
        self.backlog = backlog
        self.proc = None

    def start(self, timeout=10.0):
        argv = ["smtp-sink"]
        if os.getuid() == 0 and "-u" not in self.args:
            argv += ["-u", "postfix"]       # smtp-sink refuses to run as root
        argv += self.args + [f"{self.host}:{self.port}", str(self.backlog)]
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode(errors="replace")
                raise RuntimeError(f"smtp-sink exited {self.proc.returncode}: {err.strip()}")
            try:
                with socket.create_connection((self.host, self.port), timeout=1) as s:
                    s.settimeout(2)
                    if s.recv(100).startswith(b"220"):
                        s.sendall(b"QUIT\r\n")
                        return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"smtp-sink did not answer on {self.host}:{self.port}")

    def stop(self, timeout=5.0):
        p, self.proc = self.proc, None
        if p is None:
            return
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout)
        p.stdout.close()
        p.stderr.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False


@dataclass
class SourceResult:
    returncode: int
    seconds: float          # wall clock
    cpu_ms: float           # user+system CPU of smtp-source itself
    stdout: str
    stderr: str


def run_smtp_source(host, port, sessions=1, messages=1, length=None, recipients=None,
                    sender="sender@example.org", recipient="rcpt@example.test",
                    disconnect_each=False, extra=(), timeout=120.0, program="smtp-source"):
    """Run smtp-source against host:port with a hard timeout (then kill by pid).

    sessions -> -s, messages -> -m (total), length -> -l bytes of body,
    recipients -> -r, disconnect_each -> -d (one message per connection).
    program: another load generator with smtp-source's options
    (bench/relay/pipeload)."""
    argv = [program, "-s", str(sessions), "-m", str(messages),
            "-f", sender, "-t", recipient]
    if length is not None:
        argv += ["-l", str(length)]
    if recipients is not None:
        argv += ["-r", str(recipients)]
    if disconnect_each:
        argv.append("-d")
    argv += list(extra) + [f"{host}:{port}"]
    before = os.times()
    start = time.monotonic()
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, start_new_session=True)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate(timeout=10)
        err += f"\nsmtp-source killed after {timeout} s".encode()
    elapsed = time.monotonic() - start
    after = os.times()
    cpu = ((after.children_user - before.children_user)
           + (after.children_system - before.children_system)) * 1000.0
    return SourceResult(p.returncode, elapsed, cpu, out.decode(errors="replace"),
                        err.decode(errors="replace"))
