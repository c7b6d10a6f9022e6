import pytest
from django.core.management import call_command

from registry.followup.models import EventStatus, FollowUpEvent
from tests.followup.conftest import at, record_procedure

pytestmark = pytest.mark.django_db


def test_followup_sweep_command_runs_one_sweep(patient, capsys, monkeypatch):
    from registry.followup import tasks

    monkeypatch.setattr(tasks.send_message_task, "delay", lambda pk: None)
    procedure = record_procedure(patient)
    call_command("followup_sweep", "--now", at(14).isoformat())
    assert "opened: 1" in capsys.readouterr().out
    assert FollowUpEvent.objects.get(procedure=procedure, event_code="early").status == EventStatus.INVITED


def test_followup_preview_lists_what_would_go_out_without_sending_or_phi(patient, capsys, clock, mailoutbox):
    record_procedure(patient)
    clock.set(at(80))

    call_command("followup_preview", "--days", "12")

    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if patient.study_id in line]
    # The DXA due on day 83 sends nothing of its own: it is a worklist item in the staff digest
    assert [line.split()[4] for line in lines] == ["invitation", "reminder", "reminder"]
    assert "(m3)" in out and "(baseline)" not in out
    for secret in (patient.given_name, patient.family_name, patient.email, patient.mrn):
        assert secret not in out
    assert mailoutbox == []
    assert FollowUpEvent.objects.filter(status=EventStatus.INVITED).count() == 0
