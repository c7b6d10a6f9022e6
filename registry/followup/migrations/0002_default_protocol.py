"""The default follow-up protocol of DATA_DICTIONARY.md section 3 (002 section 5)."""

from django.db import migrations

DEFAULT_NAME = "Registry default (002 section 5)"
EVENTS = [
    # code, label, order, window start, invite day, window end, instruments
    ("baseline", "Baseline", 0, -30, None, 0, ["vas", "odi", "karnofsky"]),
    ("early", "2–6 weeks", 1, 14, 14, 42, ["vas", "odi", "red_flags", "analgesic_use"]),
    ("m3", "3 months", 2, 76, 83, 120, ["vas", "odi", "new_fracture", "osteoporosis_therapy"]),
    ("m12", "12 months", 3, 335, 350, 395, ["vas", "odi", "new_fracture", "osteoporosis_therapy"]),
]


def load(apps, schema_editor):
    Protocol = apps.get_model("followup", "FollowUpProtocol")
    ProtocolEvent = apps.get_model("followup", "ProtocolEvent")
    protocol, _ = Protocol.objects.get_or_create(
        name=DEFAULT_NAME,
        defaults={
            "is_default": not Protocol.objects.filter(is_default=True).exists(),
            "description": "Baseline, 2–6 weeks, 3 months and 12 months after the procedure; "
            "reminders 3 and 7 days after each invitation, at most 3 emails per time point.",
        },
    )
    for code, label, order, start, invite, end, instruments in EVENTS:
        ProtocolEvent.objects.get_or_create(
            protocol=protocol,
            code=code,
            defaults={
                "label": label,
                "order": order,
                "window_start_day": start,
                "invite_day": invite,
                "window_end_day": end,
                "instruments": instruments,
                "reminder_offsets_days": [3, 7] if invite is not None else [],
                "max_messages": 3,
            },
        )


def unload(apps, schema_editor):
    Protocol = apps.get_model("followup", "FollowUpProtocol")
    Protocol.objects.filter(name=DEFAULT_NAME).delete()


class Migration(migrations.Migration):
    dependencies = [("followup", "0001_initial")]

    operations = [migrations.RunPython(load, unload)]
