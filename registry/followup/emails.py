"""The emails of the follow-up engine, built from Django templates (plain text and HTML).

Patient emails use one folder of templates per language (``followup/email/<lang>/``, English as
the fallback): a translator edits a whole email, and a Spanish patient gets Spanish today without
a compiled catalogue. A new language is a new folder. Staff emails (``followup/email/staff/``,
``staff/<lang>/`` for other languages) are in the language each recipient chose (staffmail.py).
Patient emails carry the first name and nothing else that identifies the patient;
subjects carry no clinical detail; every patient email has a stop-emails link.

Patient emails are rendered once per kind, language, site and closing date (``PatientTemplate``),
with a placeholder for each part that differs per message (first name, survey and stop links);
each message then only substitutes its own parts (escaped in the HTML part as the template would
have). The dispatch rate depends on it (BENCHMARKS.md); the emails are the same as a full render
(tests/followup/test_sweep.py compares them).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from dataclasses import dataclass
from email.utils import parseaddr

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template import TemplateDoesNotExist
from django.template.loader import get_template, render_to_string
from django.urls import reverse
from django.utils import translation
from django.utils.html import escape

from registry.followup import tokens
from registry.followup.models import MessageKind, OutboundMessage

PATIENT_LANGUAGES = ("en", "es")
STAFF_TEMPLATES = {
    MessageKind.BONE_HEALTH_REMINDER: "bone_health_reminder",
    MessageKind.RED_FLAG_ALERT: "red_flag_alert",
    MessageKind.OPT_OUT_NOTICE: "opt_out_notice",
    MessageKind.STAFF_DIGEST: "staff_digest",
}


def message_id_for(message: OutboundMessage) -> str:
    """A Message-ID fixed by the dedupe key: a resent copy carries the same one (see dispatch.py)."""
    digest = hmac.new(settings.SECRET_KEY.encode(), message.dedupe_key.encode(), hashlib.sha256).hexdigest()[:32]
    domain = parseaddr(settings.DEFAULT_FROM_EMAIL)[1].partition("@")[2] or "registry.invalid"
    return f"<followup.{digest}@{domain}>"


def _patient_template(language: str, name: str) -> str:
    return _first_template([f"followup/email/{lang}/{name}" for lang in (language, "en")])


def _staff_template(language: str, name: str) -> str:
    """``email/staff/<lang>/<name>``, else the English ``email/staff/<name>``."""
    return _first_template([f"followup/email/staff/{language}/{name}", f"followup/email/staff/{name}"])


def _first_template(paths: list[str]) -> str:
    for path in paths:
        try:
            get_template(path)
            return path
        except TemplateDoesNotExist:
            continue
    raise TemplateDoesNotExist(paths[-1])


def _render(prefix: str, context: dict) -> tuple[str, str, str]:
    subject = " ".join(render_to_string(f"{prefix}_subject.txt", context).split())
    return subject, render_to_string(f"{prefix}.txt", context), render_to_string(f"{prefix}.html", context)


def patient_context(message: OutboundMessage) -> dict:
    return {**_patient_shared_context(message), **_patient_own_parts(message)}


def _patient_shared_context(message: OutboundMessage) -> dict:
    """What every patient email of one kind, language, site and closing date has in common."""
    site = message.site
    return {
        "site_name": site.name,
        "site_email": site.contact_email,
        "site_phone": site.contact_phone,
        "site_contact_text": site.patient_contact_text(message.language),
        "emergency_number": site.emergency_number,
        "is_reminder": message.kind == MessageKind.REMINDER,
        "closes_on": message.invitation.event.window_closes_on,
    }


def _patient_own_parts(message: OutboundMessage) -> dict[str, str]:
    """The parts of a patient email that differ per message (strings, substituted after rendering)."""
    invitation = message.invitation
    return {
        "first_name": message.patient.given_name,
        "survey_url": tokens.survey_url(invitation),
        "stop_url": tokens.stop_url(invitation),
    }


# A placeholder per own part, random per process so that no site text can contain one by chance;
# letters and digits only, so that escaping in the HTML part leaves it intact.
_PLACEHOLDERS = {
    name: f"QX{secrets.token_hex(8)}{name.replace('_', '')}QX" for name in ("first_name", "survey_url", "stop_url")
}
# Rendered patient emails per (kind, language, site and its last change, closing date); bounded.
_RENDERED: dict[tuple, tuple[str, str, str]] = {}
_RENDERED_MAX = 512
_rendered_lock = threading.Lock()


def forget_rendered() -> None:
    """Drop the shared renderings (templates or site texts changed in this process; benchmarks)."""
    with _rendered_lock:
        _RENDERED.clear()


def rendered_count() -> int:
    return len(_RENDERED)


@dataclass(frozen=True)
class PatientTemplate:
    subject: str
    text: str
    html: str

    def fill(self, parts: dict[str, str]) -> tuple[str, str, str]:
        subject, text, html = self.subject, self.text, self.html
        for name, value in parts.items():
            placeholder = _PLACEHOLDERS[name]
            subject, text = subject.replace(placeholder, value), text.replace(placeholder, value)
            html = html.replace(placeholder, escape(value))
        return subject, text, html


def _patient_template_for(message: OutboundMessage, language: str) -> PatientTemplate:
    site = message.site
    key = (message.kind, language, site.pk, site.updated_at, message.invitation.event.window_closes_on)
    rendered = _RENDERED.get(key)
    if rendered is None:
        prefix = _patient_template(language, "survey_invitation.txt").removesuffix(".txt")
        with translation.override(language):
            rendered = _render(prefix, {**_patient_shared_context(message), **_PLACEHOLDERS})
        with _rendered_lock:
            if len(_RENDERED) >= _RENDERED_MAX:
                _RENDERED.clear()
            _RENDERED[key] = rendered
    return PatientTemplate(*rendered)


def staff_context(message: OutboundMessage) -> dict:
    context = {
        "site_name": message.site.name,
        "study_id": message.patient.study_id if message.patient else "",
        "worklist_url": settings.SITE_URL + reverse("followup:worklist"),
    }
    if message.bone_health_action_id:
        action = message.bone_health_action
        context.update(action=action, action_label=action.get_kind_display(), due_on=action.due_on)
    if message.response_id:
        from registry.followup.instruments import instrument_text

        items = {item["code"]: item["text"] for item in instrument_text("red_flags", message.language)["items"]}
        context.update(red_flags=[items.get(code, code) for code in message.response.red_flags])
    if message.kind == MessageKind.STAFF_DIGEST:
        from registry.followup.staffmail import digest_context

        context.update(digest_context(message))
    return context


def build_email(message: OutboundMessage, *, connection=None) -> EmailMultiAlternatives:
    language = message.language if message.language in PATIENT_LANGUAGES else "en"
    if message.kind in MessageKind.to_patient():
        parts = _patient_own_parts(message)
        subject, text, html = _patient_template_for(message, language).fill(parts)
        headers = {"List-Unsubscribe": f"<{parts['stop_url']}>"}
    else:
        # Staff emails are few (alerts, one digest per address a day): rendered one by one.
        prefix = _staff_template(language, f"{STAFF_TEMPLATES[message.kind]}.txt").removesuffix(".txt")
        with translation.override(language):
            subject, text, html = _render(prefix, staff_context(message))
        headers = {}
    headers.update({"Message-ID": message_id_for(message), "Auto-Submitted": "auto-generated"})
    email = EmailMultiAlternatives(
        subject=subject,
        body=text,
        to=[message.to_address],
        reply_to=[message.site.contact_email] if message.site.contact_email else None,
        headers=headers,
        connection=connection,
    )
    email.attach_alternative(html, "text/html")
    return email
