"""Live link tokens never reach a log: survey and stop links, password-reset links, ``token=``.

A token in a log line opens a patient's survey (or resets a password) for whoever reads the log,
so every place that writes logs passes its lines through ``redact``: Django's handlers (the
``redact_tokens`` filter in settings.LOGGING, which also covers django.request's "Not Found"
warnings), gunicorn's access and error logs (``GunicornLogger``, named in gunicorn.conf.py) and the
Celery worker's handlers (registry/celery.py).
"""

from __future__ import annotations

import logging
import re

from gunicorn.glogging import Logger as _GunicornBaseLogger

REDACTED = "[redacted]"

_TOKEN_PATHS = (
    # /s/<token>/, /s/<token>/stop/, /s/<token>/thanks/ (not the coordinator's /s/entry/<pk>/).
    (re.compile(r"(/s/)(?!entry/)[^/?#\s\"'<>]+"), r"\g<1>" + REDACTED),
    # Django's password reset: /reset/<uidb64>/<token>/ (the user id is not ours to show either).
    (re.compile(r"(/reset/)[^/?#\s\"'<>]+/[^/?#\s\"'<>]+"), r"\g<1>" + REDACTED + "/" + REDACTED),
    # Any query-string or key=value token.
    (re.compile(r"((?:^|[?&;\s])(?:token|key|code)=)[^&#\s\"'<>]+", re.I), r"\g<1>" + REDACTED),
)


def redact(text: str) -> str:
    for pattern, replacement in _TOKEN_PATHS:
        text = pattern.sub(replacement, text)
    return text


class RedactTokensFilter(logging.Filter):
    """Rewrites the record itself, so every handler after this one writes the redacted line too."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            message = str(record.msg)
        record.msg, record.args = redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


class GunicornLogger(_GunicornBaseLogger):
    """gunicorn's logger with the request line, path and query redacted in every access-log format."""

    def setup(self, cfg):
        super().setup(cfg)
        for log in (self.error_log, self.access_log):
            log.addFilter(RedactTokensFilter())

    def atoms(self, resp, req, environ, request_time):
        values = super().atoms(resp, req, environ, request_time)
        return {name: redact(value) if isinstance(value, str) else value for name, value in values.items()}
