"""Writes of the survey pages: drafts per invitation, and sending the survey through the follow-up service.

Scoring, completing the event, spending the link, cancelling reminders and raising red flags all
happen in ``registry.followup.services.survey_response_record``; nothing here scores anything.
"""

from __future__ import annotations

from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q

from registry import access
from registry.followup import clock
from registry.followup import services as followup_services
from registry.followup.models import FollowUpEvent, ResponseSource, SurveyInvitation, SurveyResponse
from registry.surveys.models import SurveyDraft
from registry.surveys.questions import ANSWER_FIELD_NAMES, Question, answers_for_service

# Option codes are short ("not_prescribed"); anything longer is not an answer to keep.
MAX_VALUE_LENGTH = 32


class SurveyClosedError(Exception):
    """The link no longer takes answers (expired, used, or its event closed)."""


@transaction.atomic
def survey_draft_save(
    *,
    invitation: SurveyInvitation,
    questions: list[Question],
    values: dict,
    step: str | None = None,
    language: str | None = None,
) -> SurveyDraft:
    """Store the answers given to ``questions`` (a blank one removes an earlier answer)."""
    draft, _ = SurveyDraft.objects.select_for_update().get_or_create(
        invitation=invitation, defaults={"language": language or invitation.event.patient.preferred_language}
    )
    for question in questions:
        if question.name not in ANSWER_FIELD_NAMES:
            continue
        value = values.get(question.name)
        if isinstance(value, str) and value.strip() and len(value) <= MAX_VALUE_LENGTH:
            draft.answers[question.name] = value.strip()
        else:
            draft.answers.pop(question.name, None)
    if step:
        draft.step = step
    if language:
        draft.language = language
    draft.save()
    return draft


@transaction.atomic
def survey_link_submit(
    *, invitation: SurveyInvitation, questions: list[Question], language: str, now: datetime | None = None
) -> SurveyResponse:
    """Send the draft's answers as the event's response (source: link); the draft is then deleted.

    Raises ``SurveyClosedError`` if the link stopped taking answers meanwhile (another tab sent
    it, the window closed), ``ValidationError`` for answers the scoring refuses.
    """
    now = now or clock.now()
    # The event's row lock first, as the sweep takes it when it closes a window: no deadlock.
    FollowUpEvent.objects.select_for_update().filter(pk=invitation.event_id).first()
    invitation = SurveyInvitation.objects.select_related("event__patient__site").get(pk=invitation.pk)
    if not invitation.is_usable(now):
        raise SurveyClosedError
    draft = SurveyDraft.objects.filter(invitation=invitation).first()
    answers = answers_for_service(draft.answers if draft else {}, questions)
    event = invitation.event
    try:
        response = followup_services.survey_response_record(
            patient=event.patient,
            event=event,
            source=ResponseSource.LINK,
            answers=answers,
            language=language,
            now=now,
        )
    except ValidationError as exc:
        if FollowUpEvent.objects.filter(pk=event.pk, response__isnull=False).exists():
            raise SurveyClosedError from exc
        raise
    SurveyDraft.objects.filter(invitation=invitation).delete()
    return response


def survey_coordinator_record(
    *,
    event: FollowUpEvent,
    questions: list[Question],
    values: dict,
    source: str,
    collected_on,
    acting_user,
    language: str = "en",
    now: datetime | None = None,
) -> SurveyResponse:
    """A survey taken by phone, on paper or in clinic: the same service and scoring as the link."""
    access.require_data_entry(acting_user, event.site_id)
    if source == ResponseSource.LINK:
        raise ValidationError({"source": "A coordinator enters phone, paper or clinic answers."})
    response = followup_services.survey_response_record(
        patient=event.patient,
        event=event,
        source=source,
        answers=answers_for_service(values, questions),
        acting_user=acting_user,
        language=language,
        collected_on=collected_on,
        now=now,
    )
    # A link left open for this event took no answers; its draft has nothing left to keep.
    SurveyDraft.objects.filter(invitation__event=event).delete()
    return response


def survey_drafts_purge(*, now: datetime | None = None) -> int:
    """Delete drafts whose link has expired or was used: answers in progress are kept no longer."""
    now = now or clock.now()
    stale = SurveyDraft.objects.filter(Q(invitation__expires_at__lte=now) | Q(invitation__submitted_at__isnull=False))
    deleted, _ = stale.delete()
    return deleted
