"""The emails of the follow-up engine, built from Django templates (plain text and HTML).

Patient emails use one folder of templates per language (``followup/email/<lang>/``, English as
the fallback): a translator edits a whole email, and a Spanish patient gets Spanish today without
a compiled catalogue. A new language is a new folder. Staff emails (``followup/email/staff/``,
``staff/<lang>/`` for other languages) are in the language each recipient chose (staffmail.py).
Patient emails carry the first name and nothing else that identifies the patient;
subjects carry no clinical detail; every patient email has a stop-emails link.
"""

from __future__ import annotations

import hashlib
import hmac
from email.utils import parseaddr

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template import TemplateDoesNotExist
from django.template.loader import get_template, render_to_string
from django.urls import reverse
from django.utils import translation

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
    invitation = message.invitation
    event = invitation.event
    site = message.site
    reminder_number = int(message.dedupe_key.rsplit(":", 1)[1])
    return {
        "first_name": message.patient.given_name,
        "site_name": site.name,
        "site_email": site.contact_email,
        "site_phone": site.contact_phone,
        "site_contact_text": site.patient_contact_text(message.language),
        "emergency_number": site.emergency_number,
        "event_code": event.event_code,
        "is_reminder": message.kind == MessageKind.REMINDER,
        "reminder_number": reminder_number,
        "survey_url": tokens.survey_url(invitation),
        "stop_url": tokens.stop_url(invitation),
        "closes_on": event.window_closes_on,
    }


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
    if message.kind in MessageKind.to_patient():
        language = message.language if message.language in PATIENT_LANGUAGES else "en"
        prefix = _patient_template(language, "survey_invitation.txt").removesuffix(".txt")
        context = patient_context(message)
        headers = {"List-Unsubscribe": f"<{context['stop_url']}>"}
    else:
        language = message.language if message.language in PATIENT_LANGUAGES else "en"
        prefix = _staff_template(language, f"{STAFF_TEMPLATES[message.kind]}.txt").removesuffix(".txt")
        context = staff_context(message)
        headers = {}
    with translation.override(language):
        subject, text, html = _render(prefix, context)
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
