"""The patient's survey pages (from the emailed link) and the coordinator's survey entry.

Patient pages work without JavaScript: every step is a plain form that posts its answers, which
are saved as a draft on the server before anything else happens (validation errors, "Back", a
language switch), so nothing already entered is lost. An unknown, expired or cancelled link gets
one page, with one status code; only the contact it shows differs (the site's when the link is
known, the registry's otherwise). Only unknown links count towards an address's guessing limit.
A link already answered thanks the patient again, in their language.
"""

from __future__ import annotations

from functools import wraps

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Exists, OuterRef
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from registry import access
from registry.followup import clock, tokens
from registry.followup import services as followup_services
from registry.followup.instruments import instrument_text
from registry.followup.models import EventStatus, FollowUpEvent, SurveyResponse
from registry.patients.models import Patient
from registry.surveys import questions as q
from registry.surveys import ratelimit, services
from registry.surveys.forms import CoordinatorEntryForm, QuestionsForm
from registry.surveys.models import SurveyDraft

PATIENT_LANGUAGES = tuple(code for code, _name in settings.LANGUAGES)
LANGUAGE_NAMES = dict(settings.LANGUAGES)
SESSION_DONE = "surveys_done"
CLOSED_STATUS = 404


# --- Shared by the patient pages ---------------------------------------------------------------


def patient_endpoint(view):
    """Looks the link up once, never cached (answers on a shared computer), GET and POST only.

    An unknown link counts against its address's guessing limit and gets the closed page (or,
    over the limit, the rate-limited page); a genuine link is limited only per link, so a patient
    whose address is blocked (a shared proxy, a guesser next door) still gets in.
    """

    @never_cache
    @require_http_methods(["GET", "POST"])
    @wraps(view)
    def wrapper(request, token: str):
        invitation = tokens.invitation_by_token(token)
        if invitation is None:
            if ratelimit.unknown_link_is_limited(request):
                return _rate_limited(request)
            return _closed(request, None)
        if ratelimit.link_is_flooded(request, invitation):
            return _rate_limited(request)
        return view(request, token, invitation)

    return wrapper


def _rate_limited(request):
    return _patient_render(request, "surveys/rate_limited.html", {}, _request_language(request), status=429)


def _request_language(request) -> str:
    chosen = request.GET.get("lang")
    if chosen in PATIENT_LANGUAGES:
        return chosen
    return _active_language()


def _active_language() -> str:
    # What LocaleMiddleware chose from the cookie or Accept-Language.
    current = (translation.get_language() or "en").split("-")[0]
    return current if current in PATIENT_LANGUAGES else "en"


def _patient_language(patient: Patient) -> str:
    return patient.preferred_language if patient.preferred_language in PATIENT_LANGUAGES else "en"


def _patient_render(request, template: str, context: dict, language: str, status: int = 200):
    with translation.override(language):
        context = {
            **context,
            "other_languages": [(code, LANGUAGE_NAMES[code]) for code in PATIENT_LANGUAGES if code != language],
        }
        response = render(request, template, context, status=status)
    response["Content-Language"] = language
    if status == 429:
        response["Retry-After"] = "600"
    return response


def _site_contact(site, language: str) -> dict:
    return {
        "name": site.name,
        "email": site.contact_email,
        "phone": site.contact_phone,
        "text": site.patient_contact_text(language),
        "emergency_number": site.emergency_number,
    }


def _registry_contact() -> dict:
    return {
        "name": _("Spine registry"),
        "email": settings.REGISTRY_CONTACT_EMAIL,
        "phone": settings.REGISTRY_CONTACT_PHONE,
    }


def _link_language(request, invitation) -> str:
    """``?lang=`` if chosen; else the language the patient last used with this link, else theirs."""
    chosen = request.GET.get("lang")
    if chosen in PATIENT_LANGUAGES or invitation is None:
        return _request_language(request)
    used = (
        SurveyResponse.objects.filter(event_id=invitation.event_id).values_list("language", flat=True).first()
        or SurveyDraft.objects.filter(invitation=invitation).values_list("language", flat=True).first()
    )
    return used if used in PATIENT_LANGUAGES else _patient_language(invitation.event.patient)


def _closed(request, invitation=None):
    """The one page for an unknown, expired or cancelled link (same template and status).

    Only the contact differs (the site's for a known link, the registry's otherwise), and a known
    link speaks the patient's language. Guessing is counted where the link is looked up.
    """
    language = _link_language(request, invitation)
    with translation.override(language):
        contact = _site_contact(invitation.event.site, language) if invitation is not None else _registry_contact()
    return _patient_render(request, "surveys/closed.html", {"contact": contact}, language, status=CLOSED_STATUS)


def _already_answered(request, invitation):
    """A patient reopening the link of a survey they sent: thanked, in their language, nothing more.

    The page says only that this survey was answered (what the link's holder knew); the answers
    and whether warning signs were reported stay on the thank-you page of the browser that sent them.
    """
    language = _link_language(request, invitation)
    site = invitation.event.site
    context = {"site_name": site.name, "contact": _site_contact(site, language)}
    return _patient_render(request, "surveys/already_answered.html", context, language)


def _survey_url(token: str, step: str | None = None) -> str:
    url = reverse("surveys:survey", args=[token])
    return f"{url}?step={step}" if step else url


# --- The survey ----------------------------------------------------------------------------------


@patient_endpoint
def survey(request, token: str, invitation):
    now = clock.now()
    if invitation.is_spent:
        return _already_answered(request, invitation)
    if not invitation.is_usable(now):
        return _closed(request, invitation)
    event = invitation.event
    draft = SurveyDraft.objects.filter(invitation=invitation).first()
    language = draft.language if draft else _patient_language(event.patient)
    instruments = event.protocol_event.instruments
    with translation.override(language):
        steps = q.patient_steps(instruments, language)
    order = list(steps)
    if request.method == "POST":
        return _survey_post(request, token, invitation, draft, steps, order, language)
    followup_services.survey_invitation_opened(invitation=invitation, now=now)
    step = request.GET.get("step") or (draft.step if draft else order[0])
    if step not in steps:
        step = order[0]
    values = draft.answers if draft else {}
    if step == q.STEP_REVIEW:
        return _render_review(request, invitation, steps, order, values, language)
    form = QuestionsForm(initial=values, groups=steps[step])
    return _render_step(request, invitation, step, order, form, language)


def _survey_post(request, token, invitation, draft, steps, order, language):
    step = request.POST.get("step")
    if step not in steps:
        return redirect(_survey_url(token))
    action = request.POST.get("action", "next")
    switch_to = request.POST.get("language")
    step_questions = q.all_questions(steps[step])
    if switch_to in PATIENT_LANGUAGES:
        services.survey_draft_save(
            invitation=invitation, questions=step_questions, values=request.POST, step=step, language=switch_to
        )
        return redirect(_survey_url(token, step))
    if step == q.STEP_REVIEW:
        return _submit(request, token, invitation, draft, steps, order, language)
    index = order.index(step)
    if action == "back":
        previous = order[max(index - 1, 0)]
        services.survey_draft_save(invitation=invitation, questions=step_questions, values=request.POST, step=previous)
        return redirect(_survey_url(token, previous))
    # Saved before validating: what was chosen survives the error page, a reload or a closed tab.
    services.survey_draft_save(invitation=invitation, questions=step_questions, values=request.POST, step=step)
    with translation.override(language):
        form = QuestionsForm(request.POST, groups=steps[step])
        valid = form.is_valid()
    if not valid:
        return _render_step(request, invitation, step, order, form, language)
    following = order[index + 1]
    services.survey_draft_save(invitation=invitation, questions=[], values={}, step=following)
    return redirect(_survey_url(token, following))


def _submit(request, token, invitation, draft, steps, order, language):
    values = draft.answers if draft else {}
    with translation.override(language):
        for step in order[:-1]:
            form = QuestionsForm(values, groups=steps[step])
            if not form.is_valid():
                return _render_step(request, invitation, step, order, form, language)
    questions = [question for step in order for question in q.all_questions(steps[step])]
    try:
        response = services.survey_link_submit(invitation=invitation, questions=questions, language=language)
    except services.SurveyClosedError:
        return _closed(request, invitation)
    except ValidationError:
        with translation.override(language):
            messages.error(request, _("Your answers could not be sent. Please check them and try again."))
        return redirect(_survey_url(token, q.STEP_REVIEW))
    request.session[SESSION_DONE] = {
        "invitation": invitation.pk,
        "red_flags": bool(response.red_flags),
        "language": language,
    }
    return redirect("surveys:thanks", token=token)


def _progress(order: list[str], current: str) -> list[dict]:
    at = order.index(current)
    return [
        {"title": q.STEP_TITLES[step], "current": i == at, "done": i < at, "number": i + 1}
        for i, step in enumerate(order)
    ]


def _render_step(request, invitation, step, order, form, language):
    index = order.index(step)
    context = {
        "site_name": invitation.event.site.name,
        "contact": _site_contact(invitation.event.site, language),
        "step": step,
        "step_title": q.STEP_TITLES[step],
        "step_number": index + 1,
        "step_count": len(order),
        "progress": _progress(order, step),
        "form": form,
        "has_previous": index > 0,
        "next_is_review": order[index + 1] == q.STEP_REVIEW,
    }
    return _patient_render(request, "surveys/step.html", context, language)


def _render_review(request, invitation, steps, order, values, language):
    with translation.override(language):
        sections = []
        for step in order[:-1]:
            rows = []
            for question in q.all_questions(steps[step]):
                chosen = values.get(question.name, "")
                label = dict(question.options).get(chosen, "")
                rows.append({"question": question.text, "answer": label, "name": question.name})
            sections.append({"step": step, "title": q.STEP_TITLES[step], "rows": rows})
    context = {
        "site_name": invitation.event.site.name,
        "contact": _site_contact(invitation.event.site, language),
        "step": q.STEP_REVIEW,
        "step_title": q.STEP_TITLES[q.STEP_REVIEW],
        "step_number": len(order),
        "step_count": len(order),
        "progress": _progress(order, q.STEP_REVIEW),
        "sections": sections,
        "token": tokens.invitation_token(invitation),
    }
    return _patient_render(request, "surveys/review.html", context, language)


@patient_endpoint
def thanks(request, token: str, invitation):
    done = request.session.get(SESSION_DONE) or {}
    # Only the browser that sent the answers sees this page; anyone else holding the link gets
    # the closed page (whether red flags were answered is health information).
    if done.get("invitation") != invitation.pk:
        return _closed(request, invitation)
    language = request.GET.get("lang") if request.GET.get("lang") in PATIENT_LANGUAGES else done.get("language", "en")
    with translation.override(language):
        advice = instrument_text("red_flags", language)["advice_if_any"] if done.get("red_flags") else ""
    context = {
        "site_name": invitation.event.site.name,
        "contact": _site_contact(invitation.event.site, language),
        "red_flag_advice": advice,
    }
    return _patient_render(request, "surveys/thanks.html", context, language)


# --- Stop emails -------------------------------------------------------------------------------


@patient_endpoint
def stop(request, token: str, invitation):
    """GET asks, POST stops. Honoured for any genuine link, even expired or used (an old email)."""
    patient = invitation.event.patient
    language = _request_language(request) if request.GET.get("lang") else _patient_language(patient)
    context = {"site_name": invitation.event.site.name, "contact": _site_contact(invitation.event.site, language)}
    if request.method == "POST":
        followup_services.survey_opt_out(invitation=invitation)
        return _patient_render(request, "surveys/stop_done.html", context, language)
    if patient.contact_opt_out:
        return _patient_render(request, "surveys/stop_done.html", context, language)
    return _patient_render(request, "surveys/stop_confirm.html", context, language)


# --- Coordinator entry ---------------------------------------------------------------------------


def _patient_for_entry(user, patient_pk: int) -> Patient:
    return access.get_enterable_or_404(Patient.objects.select_related("site"), user, pk=patient_pk)


def _enterable_events(patient: Patient):
    answered = SurveyResponse.objects.filter(event=OuterRef("pk"))
    return (
        FollowUpEvent.objects.filter(
            patient=patient, status__in=(EventStatus.SCHEDULED, EventStatus.INVITED, EventStatus.MISSED)
        )
        .exclude(Exists(answered))
        .select_related("protocol_event", "procedure")
        .order_by("window_opens_on", "id")
    )


@access.identified_access_required
def entry_choose(request, patient_pk: int):
    patient = _patient_for_entry(request.user, patient_pk)
    return render(request, "surveys/entry_choose.html", {"patient": patient, "events": _enterable_events(patient)})


@access.identified_access_required
def entry(request, patient_pk: int, event_pk: int):
    patient = _patient_for_entry(request.user, patient_pk)
    event = get_object_or_404(_enterable_events(patient), pk=event_pk)
    language = _active_language()
    groups = q.coordinator_groups(event.protocol_event.instruments, language)
    today = clock.local_date(clock.now(), patient.site.time_zone)
    form = CoordinatorEntryForm(request.POST or None, groups=groups, today=today)
    if request.method == "POST" and form.is_valid():
        try:
            response = services.survey_coordinator_record(
                event=event,
                questions=q.all_questions(groups),
                values=form.cleaned_data,
                source=form.cleaned_data["source"],
                collected_on=form.cleaned_data["collected_on"],
                acting_user=request.user,
                language=language,
            )
        except ValidationError as exc:
            _apply_service_errors(form, exc)
        else:
            messages.success(request, _entry_summary(response))
            return redirect("patients:detail", pk=patient.pk)
    return render(request, "surveys/entry.html", {"patient": patient, "event": event, "form": form})


def _apply_service_errors(form, exc: ValidationError) -> None:
    first_odi = next((name for name in form.fields if name.startswith(q.ODI_PREFIX)), None)
    first_flag = next((name for name in form.fields if name.startswith(q.RED_FLAG_PREFIX)), None)
    targets = {"odi": first_odi, "red_flags": first_flag}
    for key, errors in exc.message_dict.items():
        field = targets.get(key, key)
        form.add_error(field if field in form.fields else None, errors)


def _entry_summary(response: SurveyResponse) -> str:
    parts = [_("Survey saved (%(source)s).") % {"source": response.get_source_display()}]
    if response.vas is not None:
        parts.append(_("VAS %(vas)s.") % {"vas": response.vas})
    if response.odi_percent is not None:
        parts.append(_("ODI %(odi)s %%.") % {"odi": response.odi_percent})
    elif response.odi_answered:
        parts.append(_("ODI incomplete (%(n)s of 10 sections).") % {"n": response.odi_answered})
    if response.red_flags:
        parts.append(_("Red flag(s) reported: the site's coordinator and clinician are alerted."))
    return " ".join(parts)
