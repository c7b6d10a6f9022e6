"""A real SMTP server in the test process (aiosmtpd) that can refuse, stall and count."""

from __future__ import annotations

import email
import email.policy
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Received:
    to: list[str]
    message: email.message.EmailMessage

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    @property
    def message_id(self) -> str:
        return str(self.message["Message-ID"])

    def part(self, content_type: str) -> str:
        for part in self.message.walk():
            if part.get_content_type() == content_type:
                return part.get_content()
        return ""


@dataclass
class Handler:
    received: list[Received] = field(default_factory=list)
    # Answer the next N messages with 451 (temporary), or every message with this code while set.
    refuse_next: int = 0
    refuse_code: str = "451 4.3.0 Try again later"
    refusing: bool = False
    refused: int = 0
    # While set, DATA blocks before answering (a worker can be killed mid-send); the stalled
    # message is then answered 421 and not counted, as a server that never accepted it.
    stall: threading.Event | None = None
    # ...but only once this many messages were accepted (a worker killed mid-batch, not at its start).
    stall_after: int = 0
    stalled: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    # Called with the number accepted so far once a message's data has ended, before the reply.
    before_reply: Callable[[int], None] | None = None

    async def handle_DATA(self, server, session, envelope):
        import asyncio

        if self.stall is not None and not self.stall.is_set() and len(self.received) >= self.stall_after:
            self.stalled.set()
            while not self.stall.is_set():
                await asyncio.sleep(0.05)
            return "421 4.3.2 Aborted"
        if self.before_reply is not None:
            self.before_reply(len(self.received))
        with self.lock:
            if self.refusing or self.refuse_next > 0:
                self.refuse_next = max(0, self.refuse_next - 1)
                self.refused += 1
                return self.refuse_code
            parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
            self.received.append(Received(list(envelope.rcpt_tos), parsed))
        return "250 OK"

    def to(self, address: str) -> list[Received]:
        return [r for r in self.received if address in r.to]


class SmtpServer:
    def __init__(self):
        self.port = free_port()
        self.handler = Handler()
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def start(self) -> SmtpServer:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()
