"""Issue an API token for an integration's user account.

The token is printed once, for the administrator to hand to the integration; the database keeps
only its hash (django-rest-knox). It expires after API_TOKEN_DAYS (or --days). Administrators see
and revoke tokens in the admin (API tokens), without their secret.
"""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from registry.api.services import TokenRefused, api_token_issue, api_tokens_revoke


class Command(BaseCommand):
    help = "Issue an API token for USERNAME (--rotate revokes the user's other tokens; --revoke only revokes)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--rotate", action="store_true", help="Revoke the user's tokens and issue a new one.")
        parser.add_argument("--revoke", action="store_true", help="Revoke every token of the user; issue none.")
        parser.add_argument("--days", type=int, default=None, help="Days the token is valid (1-366).")

    def handle(self, *args, username, rotate, revoke, days, **options):
        user = get_user_model().objects.filter(username=username, is_active=True).first()
        if user is None:
            raise CommandError(f"No active user {username!r}.")
        if revoke:
            self.stderr.write(f"Revoked {api_tokens_revoke(user=user)} token(s) of {username}.")
            return
        try:
            auth_token, secret = api_token_issue(user=user, days=days, replace=rotate)
        except TokenRefused as refused:
            raise CommandError(str(refused)) from refused
        self.stderr.write(f"Token for {username}, valid until {auth_token.expiry:%Y-%m-%d %H:%M} UTC:")
        self.stdout.write(secret)
