"""The fracture records' audit history is append-only like every other (registry/core/append_only.py)."""

from django.db import migrations

from registry.core import append_only


def _tables(apps) -> list[str]:
    return [table for table in append_only.history_tables(apps) if table.startswith("fractures_")]


def forwards(apps, schema_editor):
    append_only.protect(schema_editor, _tables(apps))


def backwards(apps, schema_editor):
    append_only.unprotect(schema_editor, _tables(apps))


class Migration(migrations.Migration):
    dependencies = [
        ("fractures", "0001_initial"),
        ("core", "0003_history_append_only"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
