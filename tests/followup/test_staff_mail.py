"""Staff mail people can live with: one daily digest per address, alerts by role, choice and language."""

import datetime as dt

import pytest
from django.urls import reverse

from registry.followup import dispatch, services, staffmail
from registry.followup.models import MessageKind, OutboundMessage, StaffMailPreference, WorklistItem, WorklistKind
from tests.factories import PatientFactory, Role, UserFactory, member
from tests.followup.conftest import at, record_procedure

pytestmark = pytest.mark.django_db


def sweep_and_send(clock, now) -> list[str]:
    """A sweep at ``now`` and every send it queued, through the real SMTP server."""
    clock.set(now)
    queued = []
    dispatch.followup_sweep(now=now.astimezone(dt.UTC), queue=queued.append)
    return [outcome.status for outcome in dispatch.messages_send(message_ids=queued, now=now).values()]


def staff_mail(smtp, address):
    return [r for r in smtp.handler.received if address in r.to]


@pytest.fixture
def dxa_patients(site_a):
    """Four patients of site A whose DXA falls due on day 83 (no DXA in the two years before)."""
    patients = [
        PatientFactory(site=site_a, email="", osteoporosis_therapy="bisphosphonate", last_dxa_on=None) for _ in range(4)
    ]
    for patient in patients:
        record_procedure(patient)
    return patients


def test_n_due_actions_make_one_digest_per_address_listing_all_n(
    site_a, coordinator_a, investigator_a, dxa_patients, clock, smtp_settings
):
    # Given a site that sends every day (day 83 is a Sunday; the digest follows the site's sending
    # calendar) and four DXA actions that fell due on day 83 (the sweep opens their worklist items)
    site_a.send_weekdays = "1234567"
    site_a.save()
    sweep_and_send(clock, at(83, 6))
    assert WorklistItem.objects.filter(kind=WorklistKind.BONE_HEALTH, status="open").count() == 4
    # Then the sweep sends no email per action
    assert smtp_settings.handler.received == []

    # When the hourly digest run comes before and after 07:00 (site time)
    assert staffmail.staff_digests_plan(now=at(83, 6, 30)) == 0
    assert staffmail.staff_digests_plan(now=at(83, 7, 5)) == 3
    assert staffmail.staff_digests_plan(now=at(83, 8, 5)) == 0  # the next run adds nothing
    # And the sweep sends them at 09:00, the site's first sending time
    assert sweep_and_send(clock, at(83, 8, 59)) == []
    assert sweep_and_send(clock, at(83, 9, 0)) == ["sent"] * 3

    # Then each address (both site mailboxes and the coordinator, not the investigator) has
    # exactly one email, listing every open item of the four patients: the DXA, the early survey
    # missed on day 43 and the 3-month call (they have no email), 4 x 3 = 12 lines
    for address in (site_a.contact_email, site_a.clinician_email, coordinator_a.email):
        (digest,) = staff_mail(smtp_settings, address)
        body = digest.part("text/plain")
        assert digest.subject == "Registry worklist: 12 open items"
        assert body.count("Bone-health action: DXA scan") == 4, body
        assert body.count("Missed survey: call") == 4
        assert body.count("Call due (no email)") == 4
        for patient in dxa_patients:
            assert patient.study_id in body
            assert patient.family_name not in body and patient.mrn not in body
    assert staff_mail(smtp_settings, investigator_a.email) == []

    # And the next day brings one new digest per address, not more
    assert staffmail.staff_digests_plan(now=at(84, 7, 0)) == 3
    assert staffmail.staff_digests_plan(now=at(84, 7, 0)) == 0
    assert OutboundMessage.objects.filter(kind=MessageKind.STAFF_DIGEST).count() == 6


def test_a_digest_lists_at_most_its_bound_and_counts_the_rest(site_a, clock, monkeypatch):
    monkeypatch.setattr(staffmail, "DIGEST_MAX_LINES", 3)
    patient = PatientFactory(site=site_a)
    for _ in range(5):
        WorklistItem.objects.create(site=site_a, patient=patient, kind=WorklistKind.PHONE_DUE, due_on=at(0).date())
    staffmail.staff_digests_plan(now=at(0, 9))
    from registry.followup.emails import build_email

    digest = OutboundMessage.objects.filter(kind=MessageKind.STAFF_DIGEST).first()
    body = build_email(digest).body
    assert body.count(patient.study_id) == 3
    assert "... and 2 more on the worklist." in body


def test_a_digest_whose_items_were_all_done_before_it_went_out_is_cancelled(site_a, coordinator_a, clock):
    patient = PatientFactory(site=site_a)
    item = WorklistItem.objects.create(site=site_a, patient=patient, kind=WorklistKind.PHONE_DUE, due_on=at(0).date())
    assert staffmail.staff_digests_plan(now=at(0, 7)) == 3
    services.worklist_item_done(item=item, acting_user=coordinator_a, note="Called.")
    ids = list(OutboundMessage.objects.filter(kind=MessageKind.STAFF_DIGEST).values_list("id", flat=True))
    outcomes = dispatch.messages_send(message_ids=ids, now=at(0, 9))
    assert {o.status for o in outcomes.values()} == {"cancelled"}


def test_no_open_items_no_digest(site_a, coordinator_a):
    assert staffmail.staff_digests_plan(now=at(0, 9)) == 0


def test_a_digest_planned_after_sending_hours_waits_for_the_next_days_run(site_a):
    patient = PatientFactory(site=site_a)
    WorklistItem.objects.create(site=site_a, patient=patient, kind=WorklistKind.PHONE_DUE, due_on=at(0).date())
    assert staffmail.staff_digests_plan(now=at(0, 20)) == 0
    assert staffmail.staff_digests_plan(now=at(1, 7)) == 2


def test_red_flag_alerts_go_to_the_site_people_by_role_choice_and_language(
    site_a, site_b, coordinator_a, investigator_a, reviewer_a, coordinator_b, clock, smtp_settings
):
    # Given a second coordinator of site A who turned red-flag alerts off, and the investigator
    # who reads Spanish
    quiet = member(UserFactory(username="quiet_a", email="quiet@hospital.test"), site_a, Role.COORDINATOR)
    StaffMailPreference.objects.create(user=quiet, red_flag_alert=False)
    StaffMailPreference.objects.create(user=investigator_a, language="es")
    patient = PatientFactory(site=site_a)
    clock.set(at(15, 22))
    # When a patient of site A reports a red flag late at night
    services.survey_response_record(
        patient=patient, event_code="early", source="phone", answers={"red_flags": {"leg_neuro": True}}
    )
    ids = list(OutboundMessage.objects.filter(kind=MessageKind.RED_FLAG_ALERT).values_list("id", flat=True))
    dispatch.messages_send(message_ids=ids, now=at(15, 22))
    # Then the site's mailboxes, its coordinator and its investigator are alerted at once, one email each
    received = {r.to[0]: r for r in smtp_settings.handler.received}
    assert sorted(received) == sorted(
        [site_a.contact_email, site_a.clinician_email, coordinator_a.email, investigator_a.email]
    )
    # And not the coordinator who opted out, the reviewer, nor site B
    # And each in their language, with the red flag's wording
    assert "New weakness, numbness or tingling in your legs" in received[coordinator_a.email].part("text/plain")
    spanish = received[investigator_a.email]
    assert "Alerta del registro" in spanish.subject
    assert "Debilidad, adormecimiento u hormigueo nuevos en las piernas" in spanish.part("text/plain")
    assert patient.given_name not in spanish.part("text/plain") + spanish.subject
    assert all(patient.study_id not in email.subject for email in received.values())


def test_a_site_mailbox_shared_with_a_user_gets_one_copy(site_a, clock):
    user = member(UserFactory(username="desk", email=site_a.contact_email), site_a, Role.COORDINATOR)
    StaffMailPreference.objects.create(user=user, language="es")
    services.survey_response_record(
        patient=PatientFactory(site=site_a), event_code="early", source="phone", answers={"red_flags": {"wound": True}}
    )
    alerts = OutboundMessage.objects.filter(kind=MessageKind.RED_FLAG_ALERT)
    assert sorted(alerts.values_list("to_address", "language")) == sorted(
        [(site_a.contact_email, "es"), (site_a.clinician_email, "en")]
    )


def test_an_opt_out_tells_the_sites_coordinators_at_the_next_sending_time(site_a, coordinator_a, investigator_a):
    patient = PatientFactory(site=site_a)
    services.followup_stop_contact(patient_id=patient.pk, reason="opted_out", now=at(3, 21))
    services.followup_stop_contact(patient_id=patient.pk, reason="opted_out", now=at(3, 21, 5))
    notices = OutboundMessage.objects.filter(kind=MessageKind.OPT_OUT_NOTICE)
    assert sorted(notices.values_list("to_address", flat=True)) == sorted(
        [site_a.contact_email, site_a.clinician_email, coordinator_a.email]
    )
    assert {n.due_at for n in notices} == {at(4, 9)}


def test_a_user_chooses_their_staff_mail_on_the_settings_page(client_for, investigator_a, reviewer_a):
    client = client_for(investigator_a)
    url = reverse("followup:staff_mail_settings")
    page = client.get(url)
    # The form starts from the role's defaults: an investigator gets red-flag alerts only
    form = page.context["form"]
    assert (form["red_flag_alert"].value(), form["opt_out_notice"].value(), form["daily_digest"].value()) == (
        True,
        False,
        False,
    )
    response = client.post(url, {"language": "es", "red_flag_alert": "on", "daily_digest": "on"})
    assert response.status_code == 302
    preference = StaffMailPreference.objects.get(user=investigator_a)
    assert (preference.language, preference.red_flag_alert, preference.opt_out_notice, preference.daily_digest) == (
        "es",
        True,
        False,
        True,
    )
    # A reviewer sees no identified data and has no staff mail to choose
    assert client_for(reviewer_a).get(url).status_code == 404


def test_a_user_who_chose_the_digest_in_spanish_gets_it_in_spanish(site_a, investigator_a):
    # Given an investigator (no digest by default) who asked for it in Spanish
    StaffMailPreference.objects.create(user=investigator_a, language="es", daily_digest=True)
    patient = PatientFactory(site=site_a)
    WorklistItem.objects.create(site=site_a, patient=patient, kind=WorklistKind.MISSED_EVENT, due_on=at(0).date())
    staffmail.staff_digests_plan(now=at(0, 9))
    from registry.followup.emails import build_email

    email = build_email(OutboundMessage.objects.get(kind=MessageKind.STAFF_DIGEST, to_address=investigator_a.email))
    assert email.subject == "Tareas del registro: 1 abierta"
    assert f"{patient.study_id} (TOL)  Cuestionario perdido: llamar" in email.body
    assert "Tareas abiertas hoy en el registro" in email.body


def test_a_spanish_speaking_site_gets_its_alerts_and_digest_in_spanish_unless_a_user_chose_english(
    site_a, coordinator_a, investigator_a, clock
):
    from registry.followup.emails import build_email

    # Given a site whose staff emails are in Spanish, and an investigator who chose English
    site_a.staff_language = "es"
    site_a.save()
    StaffMailPreference.objects.create(user=investigator_a, language="en")
    patient = PatientFactory(site=site_a)

    # When a patient reports a red flag
    clock.set(at(15, 10))
    services.survey_response_record(
        patient=patient, event_code="early", source="phone", answers={"red_flags": {"leg_neuro": True}}
    )

    # Then the site mailboxes and the coordinator (no choice of her own) are alerted in Spanish
    alerts = OutboundMessage.objects.filter(kind=MessageKind.RED_FLAG_ALERT)
    assert sorted(alerts.values_list("to_address", "language")) == sorted(
        [
            (site_a.contact_email, "es"),
            (site_a.clinician_email, "es"),
            (coordinator_a.email, "es"),
            (investigator_a.email, "en"),
        ]
    )
    mailbox = build_email(alerts.get(to_address=site_a.contact_email))
    assert "Alerta del registro" in mailbox.subject
    assert "Debilidad, adormecimiento u hormigueo nuevos en las piernas" in mailbox.body
    assert "Registry alert" in build_email(alerts.get(to_address=investigator_a.email)).subject

    # And the site mailbox's daily digest is in Spanish too
    staffmail.staff_digests_plan(now=at(16, 9))
    digest = build_email(OutboundMessage.objects.get(kind=MessageKind.STAFF_DIGEST, to_address=site_a.contact_email))
    assert digest.subject == "Tareas del registro: 1 abierta"
