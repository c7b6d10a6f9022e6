"""The follow-up history of imported procedures: reconstructed from what the file says, not invented.

For every window of the site's protocol, an imported procedure gets the event that happened:

- **completed**, with the imported answer, when an answer of that time point is dated inside the
  window (open or closed);
- **censored** (cancelled with ``CancelCause.DECEASED`` / ``WITHDRAWN``) when the death or the
  withdrawal came on or before the window's close;
- **not applicable** (cancelled, ``CancelCause.NOT_IN_FOLLOWUP``) when the window closed before
  the patient consented;
- **missed** when the window closed with no answer;
- windows still open or to come are left to the follow-up planner (after the commit, as for
  any new case), so the first invitation follows the usual rules. Nothing here sends anything.

Patients who never consented get no events, as on the screens. Answers dated outside their time
point's window are kept, without an event. A re-import adds only answers not yet in the registry
and completes an event left without one when the new answer falls in its window.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date

from django.utils import timezone

from registry.core.audit import HISTORY_BATCH_SIZE as BATCH_SIZE
from registry.core.audit import history_copy
from registry.followup import scoring
from registry.followup.models import CancelCause, EventStatus, FollowUpEvent, ProtocolEvent, SurveyResponse
from registry.followup.services import event_dates
from registry.imports.bulk import ImportWriter
from registry.imports.plans import AnswerPlan, ImportPlan, PatientPlan
from registry.patients.models import ConsentStatus

CENSOR_REASONS = {
    CancelCause.DECEASED: "Patient deceased (imported history).",
    CancelCause.WITHDRAWN: "Patient withdrew consent (imported history).",
    CancelCause.NOT_IN_FOLLOWUP: "Not applicable: the window closed before consent (imported history).",
}


def event_outcome(
    *, opens: date, closes: date, today: date, patient: PatientPlan, answer: AnswerPlan | None
) -> tuple[str, str] | None:
    """(status, cancel cause) of one window of an imported procedure; None leaves it to the planner."""
    if answer is not None and opens <= answer.values["answered_on"] <= closes:
        return EventStatus.COMPLETED, ""
    deceased_on = patient.values.get("deceased_on")
    if deceased_on and deceased_on <= closes:
        return EventStatus.CANCELLED, CancelCause.DECEASED
    if patient.values.get("consent_status") == ConsentStatus.WITHDRAWN:
        withdrawn_on = patient.history.get("withdrawn_on")
        if withdrawn_on is None or withdrawn_on <= closes:
            return EventStatus.CANCELLED, CancelCause.WITHDRAWN
    if closes >= today:
        return None
    consent_date = patient.values.get("consent_date")
    if consent_date and closes < consent_date:
        return EventStatus.CANCELLED, CancelCause.NOT_IN_FOLLOWUP
    return EventStatus.MISSED, ""


def _response(answer: AnswerPlan, *, patient_id: int, procedure_id: int, language: str, acting_user, now) -> dict:
    values = answer.values
    response = {
        "patient_id": patient_id,
        "procedure_id": procedure_id,
        "event_code": answer.time_point,
        "source": values["answer_source"],
        "collected_on": values["answered_on"],
        "language": language or "en",
        "vas": values.get("vas"),
        "entered_by_id": acting_user.pk,
        "submitted_at": now,
    }
    sections = answer.odi_answers
    if sections:
        odi = scoring.odi_score(sections)
        response.update(
            odi_answers=sections,
            odi_percent=odi.rounded_percent,
            odi_answered=odi.answered,
            odi_complete=odi.complete,
        )
    elif values.get("odi_total") is not None:
        response.update(odi_percent=values["odi_total"], odi_total_only=True)
    return response


def registry_events(plan: ImportPlan) -> dict[tuple[int, str], FollowUpEvent]:
    """The events the registry already has for the plan's procedures, by (procedure id, event code);
    read before the import writes anything (only procedures the registry already had can have any)."""
    procedure_ids = [procedure.existing_id for procedure in plan.procedures.values() if procedure.existing_id]
    events: dict[tuple[int, str], FollowUpEvent] = {}
    # In chunks: SQLite takes at most 32,766 parameters per query.
    for start in range(0, len(procedure_ids), BATCH_SIZE):
        chunk = procedure_ids[start : start + BATCH_SIZE]
        for event in FollowUpEvent.objects.filter(procedure_id__in=chunk).select_related("response"):
            events[(event.procedure_id, event.event_code)] = event
    return events


def write_history(
    plan: ImportPlan,
    writer: ImportWriter,
    *,
    protocol_events: Iterable[ProtocolEvent],
    known: dict[tuple[int, str], FollowUpEvent],
    today: date,
) -> dict[str, int]:
    """Create the past events and the answers of the plan's procedures (ids already set); ``known``
    are the events the registry had before (``registry_events``)."""
    acting_user = writer.acting_user
    now = timezone.now()
    answers_of: dict[tuple, dict[str, AnswerPlan]] = defaultdict(dict)
    for answer in plan.answers.values():
        if not answer.existing:
            answers_of[answer.procedure_key][answer.time_point] = answer

    new_events: list[dict] = []
    completed: list[FollowUpEvent] = []
    responses: list[dict] = []
    # Each response's event: an existing one, or the index of a new one (its id comes at insertion).
    event_of_response: list[FollowUpEvent | int | None] = []
    counts: dict[str, int] = defaultdict(int)
    for key, procedure in plan.procedures.items():
        patient = plan.patients[procedure.patient_key]
        answers = answers_of.get(key, {})
        planned = patient.values.get("consent_status") != ConsentStatus.PENDING
        linked: dict[str, FollowUpEvent | int] = {}
        for protocol_event in protocol_events if planned else ():
            opens, invite, closes = event_dates(procedure.values["performed_on"], protocol_event)
            answer = answers.get(protocol_event.code)
            event = known.get((procedure.existing_id, protocol_event.code))
            if event is not None:
                # Already in the registry: only a new answer in its window can complete it.
                in_window = answer is not None and opens <= answer.values["answered_on"] <= closes
                if in_window and event.status != EventStatus.COMPLETED and not hasattr(event, "response"):
                    event.status, event.cancel_cause, event.cancel_reason = EventStatus.COMPLETED, "", ""
                    event.status_changed_at = now
                    completed.append(event)
                    linked[protocol_event.code] = event
                continue
            outcome = event_outcome(opens=opens, closes=closes, today=today, patient=patient, answer=answer)
            if outcome is None:
                continue
            status, cause = outcome
            if status == EventStatus.COMPLETED:
                linked[protocol_event.code] = len(new_events)
            new_events.append(
                {
                    "procedure_id": procedure.existing_id,
                    "patient_id": patient.existing_id,
                    "site_id": plan.site.pk,
                    "protocol_event_id": protocol_event.pk,
                    "event_code": protocol_event.code,
                    "window_opens_on": opens,
                    "invite_on": invite,
                    "window_closes_on": closes,
                    "status": status,
                    "status_changed_at": now,
                    "cancel_cause": cause,
                    "cancel_reason": CENSOR_REASONS.get(cause, ""),
                }
            )
            counts[f"events_{cause or status}"] += 1
        for time_point, answer in answers.items():
            responses.append(
                _response(
                    answer,
                    patient_id=patient.existing_id,
                    procedure_id=procedure.existing_id,
                    language=patient.values.get("preferred_language", ""),
                    acting_user=acting_user,
                    now=now,
                )
            )
            event_of_response.append(linked.get(time_point))

    event_ids = writer.insert(FollowUpEvent, new_events)
    FollowUpEvent.objects.bulk_update(
        completed, ["status", "cancel_cause", "cancel_reason", "status_changed_at"], batch_size=BATCH_SIZE
    )
    history_copy(model=FollowUpEvent, ids=[event.pk for event in completed], history_type="~", acting_user=acting_user)
    for response, event in zip(responses, event_of_response, strict=True):
        response["event_id"] = event_ids[event] if isinstance(event, int) else event and event.pk
    writer.insert(SurveyResponse, responses)
    counts["events_completed_later"] = len(completed)
    return dict(counts)
