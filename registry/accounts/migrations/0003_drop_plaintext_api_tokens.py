"""API tokens moved to django-rest-knox, which keeps only their hash. The old table of
rest_framework.authtoken held every token in plain text: drop it, revoking those tokens (issue new
ones with ``manage.py issue_api_token``). Reversing leaves nothing to restore: the secrets are gone."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("accounts", "0002_initial")]

    operations = [migrations.RunSQL("DROP TABLE IF EXISTS authtoken_token", reverse_sql=migrations.RunSQL.noop)]
