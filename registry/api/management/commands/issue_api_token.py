"""Issue (or rotate) the API token of an integration's user account.

The token is printed once, for the administrator to hand to the integration; the database keeps
it (rest_framework.authtoken). Registry administrators can also manage tokens in the admin.
"""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from rest_framework.authtoken.models import Token

from registry import access


class Command(BaseCommand):
    help = "Issue the API token of USERNAME (--rotate replaces an existing one)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--rotate", action="store_true", help="Revoke the current token and issue a new one.")

    @transaction.atomic
    def handle(self, *args, username, rotate, **options):
        user = get_user_model().objects.filter(username=username, is_active=True).first()
        if user is None:
            raise CommandError(f"No active user {username!r}.")
        if not access.can_see_identified(user):
            raise CommandError(
                f"{username} has no coordinator or investigator role at any site: the API has nothing for them."
            )
        if rotate:
            Token.objects.filter(user=user).delete()
        token, created = Token.objects.get_or_create(user=user)
        if not created:
            self.stderr.write(f"{username} already has a token (use --rotate to replace it).")
        self.stdout.write(token.key)
