"""A development SMTP server for ``make run``: keeps every message it receives as a file.

``python -m notify.mailsink --port 8025 --dir .run/mail`` listens on 127.0.0.1 only and writes each
message to ``<dir>/new/`` the maildir way (written in ``tmp/``, then renamed, so readers never see a
half-written file), printing one line per message with its recipients and decoded subject.
"""

import argparse
import os
import signal
import socket
import sys
import threading
import time
import uuid
from email import message_from_bytes
from email import policy as email_policy
from pathlib import Path
from typing import TextIO

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

HOST = "127.0.0.1"


class MaildirHandler:
    def __init__(self, directory: Path, out: TextIO | None = None):
        self.directory, self.out = Path(directory), out or sys.stdout
        for sub in ("tmp", "new", "cur"):
            (self.directory / sub).mkdir(parents=True, exist_ok=True)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or envelope.content or b""
        if isinstance(content, str):
            content = content.encode("utf-8")
        name = f"{time.time_ns()}.{uuid.uuid4().hex}.{socket.gethostname()}.eml"
        tmp, new = self.directory / "tmp" / name, self.directory / "new" / name
        tmp.write_bytes(content)
        os.replace(tmp, new)
        msg = message_from_bytes(content, policy=email_policy.default)
        to = msg.get("To") or ", ".join(envelope.rcpt_tos)
        print(f"[mailsink] To: {to} | Subject: {msg.get('Subject', '')} | {new}", file=self.out, flush=True)
        return "250 Message accepted for delivery"


def build_controller(directory: Path, port: int, out: TextIO | None = None) -> Controller:
    return Controller(MaildirHandler(directory, out), hostname=HOST, port=port, enable_SMTPUTF8=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Development SMTP sink (127.0.0.1 only).")
    parser.add_argument("--port", type=int, default=8025)
    parser.add_argument("--dir", type=Path, default=Path(".run/mail"))
    args = parser.parse_args(argv)
    controller = build_controller(args.dir, args.port)
    controller.start()
    print(f"[mailsink] listening on {HOST}:{args.port}, storing messages in {args.dir}/new", flush=True)
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    try:
        done.wait()
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
