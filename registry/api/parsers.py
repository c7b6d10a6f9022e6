"""Request parsers that bound what they read before parsing it.

DRF's own parsers read the whole body (Django's DATA_UPLOAD_MAX_MEMORY_SIZE only guards
``request.body`` and form fields), and ``json`` recurses once per nesting level, so a small body
nested a thousand levels deep raised RecursionError (a 500). Both limits answer 400 here.
"""

from __future__ import annotations

import io
import re

import numpy as np
from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import FormParser, JSONParser

# Escapes first, then strings: both patterns run in linear time whatever the body holds.
_ESCAPE = re.compile(rb"\\.", re.S)
_STRING = re.compile(rb'"[^"]*"')
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


def body_too_large() -> ParseError:
    # Also what errors.py answers when Django's own check (request.body) trips first.
    return ParseError(f"The request body is larger than {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes.")


def read_bounded(stream) -> bytes:
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    raw = stream.read(limit + 1) if stream is not None else b""
    if len(raw) > limit:
        raise body_too_large()
    return raw


def check_depth(raw: bytes) -> None:
    """Refuse JSON nested deeper than JSON_MAX_DEPTH (brackets counted outside strings)."""
    limit = settings.JSON_MAX_DEPTH
    brackets = _STRING.sub(b"", _ESCAPE.sub(b"", raw)).translate(None, _NOT_BRACKETS)
    if len(brackets) <= limit:
        return
    opening = np.frombuffer(brackets, dtype=np.uint8)
    steps = np.where((opening == ord("[")) | (opening == ord("{")), 1, -1)
    if np.cumsum(steps).max() > limit:
        raise ParseError(f"JSON nested deeper than {limit} levels.")


class BoundedJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        raw = read_bounded(stream)
        check_depth(raw)
        return super().parse(io.BytesIO(raw), media_type, parser_context)


class BoundedFormParser(FormParser):
    def parse(self, stream, media_type=None, parser_context=None):
        return super().parse(io.BytesIO(read_bounded(stream)), media_type, parser_context)
