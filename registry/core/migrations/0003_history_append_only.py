"""The audit history and the access log become append-only in the database (registry/core/append_only.py).

Every simple-history table that exists at this point gets the trigger; a later migration that adds
an audited model calls ``append_only.protect`` for its table.
"""

from django.db import migrations

from registry.core import append_only


def forwards(apps, schema_editor):
    append_only.protect(schema_editor, append_only.protected_tables(apps))


def backwards(apps, schema_editor):
    append_only.unprotect(schema_editor, append_only.protected_tables(apps))
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(append_only.POSTGRES_DROP_FUNCTION, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0002_access_log"),
        ("accounts", "0002_initial"),
        ("patients", "0003_study_id_immutable"),
        ("procedures", "0001_initial"),
        ("followup", "0004_history_for_events_invitations_worklist"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
