"""One mail connection per sending thread, and a send that holds back the moment of acceptance.

The dispatcher (dispatch.py) records each accepted message as sent before the next one may be
accepted. An SMTP server accepts a message when it answers the final ``.`` of its data; so with
the SMTP backend the next message's ``MAIL``, ``RCPT``, ``DATA`` and body go out while that record
commits, and ``before_accept()`` is called just before the ``.``. If it raises, the ``.`` is never
sent: the socket is closed mid-data and the server discards the message (RFC 5321, 4.1.1.4).
Other backends (files, memory: the demo and the tests) have no such moment; ``before_accept()``
is called before they are handed the message.

The bytes on the wire are those of Django's SMTP backend (``EmailBackend._send`` and
``smtplib.SMTP.sendmail``): same sanitised addresses, same MIME, same ``SIZE`` option.
"""

from __future__ import annotations

import contextlib
import re
import smtplib
import socket
import threading
from collections.abc import Callable

from django.conf import settings
from django.core.mail import get_connection
from django.core.mail.backends.smtp import EmailBackend as SMTPBackend
from django.core.mail.message import sanitize_address

# One connection per worker process (or thread), reused across sends: the dispatch rate depends on
# it. The server may close it when idle; a fresh one is then opened once.
_local = threading.local()
_LEADING_DOT = re.compile(rb"(?m)^\.")


class TemporarySendError(Exception):
    pass


class NotHandedOver(Exception):
    """The connection failed before the server could have accepted the message (before the final
    ``.``): sending it on a fresh connection cannot make a second copy."""


def send(email, *, before_accept: Callable[[], None]) -> None:
    """Send ``email`` on this thread's connection; ``before_accept()`` runs before it can be accepted."""
    for attempt in (1, 2):
        backend = getattr(_local, "backend", None)
        reused = backend is not None
        if backend is None:
            backend = _local.backend = get_connection(fail_silently=False)
            backend.open()
            if isinstance(backend, SMTPBackend):
                # The final "." is written on its own, after the body: without this, Nagle's
                # algorithm holds it until the server acknowledges the body (up to 40 ms).
                backend.connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            if isinstance(backend, SMTPBackend):
                _send_smtp(backend.connection, email, before_accept)
            else:
                before_accept()
                email.connection = backend
                if email.send() != 1:
                    raise TemporarySendError("The mail backend accepted nothing.")
            return
        except NotHandedOver as exc:
            smtp_connection_drop()
            if reused and attempt == 1:
                continue  # the server closed an idle connection: once more on a fresh one
            raise exc.__cause__ from None
        except smtplib.SMTPServerDisconnected:
            smtp_connection_drop()
            if reused and attempt == 1 and not isinstance(backend, SMTPBackend):
                continue
            raise
        except Exception:
            smtp_connection_drop()
            raise


def _send_smtp(smtp: smtplib.SMTP, email, before_accept: Callable[[], None]) -> None:
    """``smtplib.SMTP.sendmail`` for one message, with ``before_accept()`` before the final ``.``."""
    encoding = email.encoding or settings.DEFAULT_CHARSET
    from_address = sanitize_address(email.from_email, encoding)
    recipients = [sanitize_address(address, encoding) for address in email.recipients()]
    data = email.message().as_bytes(linesep="\r\n")
    try:
        smtp.ehlo_or_helo_if_needed()
        options = [f"size={len(data)}"] if smtp.does_esmtp and smtp.has_extn("size") else []
        code, reply = smtp.mail(from_address, options)
        if code != 250:
            _abandon(smtp, code)
            raise smtplib.SMTPSenderRefused(code, reply, from_address)
        refused = {}
        for recipient in recipients:
            code, reply = smtp.rcpt(recipient)
            if code not in (250, 251):
                refused[recipient] = (code, reply)
            if code == 421:
                _abandon(smtp, code)
                raise smtplib.SMTPRecipientsRefused(refused)
        if len(refused) == len(recipients):
            _abandon(smtp, 0)
            raise smtplib.SMTPRecipientsRefused(refused)
        code, reply = smtp.docmd("data")
        if code != 354:
            _abandon(smtp, code)
            raise smtplib.SMTPDataError(code, reply)
        body = _LEADING_DOT.sub(b"..", data)
        smtp.send(body if body.endswith(b"\r\n") else body + b"\r\n")
    except smtplib.SMTPServerDisconnected as exc:
        raise NotHandedOver from exc
    try:
        before_accept()
    except BaseException:
        smtp.close()  # mid-data: no "." and no QUIT (it would be read as data); nothing is accepted
        raise
    smtp.send(b".\r\n")
    code, reply = smtp.getreply()
    if code != 250:
        _abandon(smtp, code)
        raise smtplib.SMTPDataError(code, reply)


def _abandon(smtp: smtplib.SMTP, code: int) -> None:
    """End the refused mail transaction, as ``sendmail`` does: close on 421, else ``RSET``."""
    if code == 421:
        smtp.close()
    else:
        with contextlib.suppress(smtplib.SMTPServerDisconnected):
            smtp.rset()


def smtp_connection_drop() -> None:
    """Forget this thread's mail connection (after an error, or when the mail server changes)."""
    backend = getattr(_local, "backend", None)
    _local.backend = None
    if backend is not None:
        # A broken connection may fail to close; it is dropped anyway.
        with contextlib.suppress(Exception):
            backend.close()
