from django.db import migrations, models

# The notes the planner wrote before causes existed, each with the cause it meant.
NOTE_CAUSES = (
    ("withdr", "withdrawn"),
    ("deceased", "deceased"),
    ("superseded", "superseded"),
    ("not in follow-up", "not_in_followup"),
    ("before the procedure was recorded", "recorded_late"),
)


def backfill(apps, schema_editor):
    FollowUpEvent = apps.get_model("followup", "FollowUpEvent")
    for fragment, cause in NOTE_CAUSES:
        FollowUpEvent.objects.filter(cancel_cause="", cancel_reason__icontains=fragment).update(cancel_cause=cause)


class Migration(migrations.Migration):
    dependencies = [
        ("followup", "0002_default_protocol"),
    ]

    operations = [
        migrations.AddField(
            model_name="followupevent",
            name="cancel_cause",
            field=models.CharField(
                blank=True,
                choices=[
                    ("withdrawn", "Patient withdrew consent"),
                    ("deceased", "Patient deceased"),
                    ("opted_out", "Patient stopped emails"),
                    ("superseded", "Superseded by a later procedure"),
                    ("replanned", "Re-planned after a protocol change"),
                    ("not_in_followup", "Patient not in follow-up"),
                    ("recorded_late", "Window closed before the case was recorded"),
                ],
                max_length=20,
            ),
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop),
    ]
