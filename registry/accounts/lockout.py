"""Login lockout with two limits (django-axes handler, settings ``AXES_*``).

``AXES_LOCKOUT_PARAMETERS`` is ``[["username", "ip_address"], "ip_address"]``, in that order:

* an account is locked *from the address that failed* after ``AXES_FAILURE_LIMIT`` failures, so an
  attacker who knows a username cannot lock its owner out from everywhere else;
* an address is locked for every account after ``AXES_ADDRESS_FAILURE_LIMIT`` failures in all,
  which stops guessing spread over many usernames. It is higher because a department's users may
  share one NAT address.

axes compares one number with one limit, so the address count is scaled onto the account limit.
"""

from __future__ import annotations

from axes.handlers.database import AxesDatabaseHandler
from django.conf import settings
from django.db.models import Sum


def _failures(attempts) -> int:
    return attempts.aggregate(total=Sum("failures_since_start"))["total"] or 0


class AccountAndAddressLockout(AxesDatabaseHandler):
    def get_failures(self, request, credentials=None) -> int:
        account_from_address, address = self.get_user_attempts(request, credentials)
        limit = settings.AXES_FAILURE_LIMIT
        # >= limit exactly when the address has reached its own limit (floor of an exact ratio).
        address_scaled = _failures(address) * limit // settings.AXES_ADDRESS_FAILURE_LIMIT
        return max(_failures(account_from_address), address_scaled)

    def reset_user_attempts(self, request, credentials=None) -> int:
        # A successful login clears that account's failures from that address only: logging in to
        # one's own account must not wipe an address's record of guessing at others.
        account_from_address, _address = self.filter_user_attempts(request, credentials)
        deleted, _ = account_from_address.delete()
        return deleted
