"""What a service announces after its transaction commits, for other apps to act on.

Services send these from ``transaction.on_commit`` with ids only, so receivers never see
uncommitted rows. Receivers are thin: they queue a task or call another app's service. This keeps
case capture free of follow-up imports, and follow-up free of case-capture internals.
"""

from django.db import transaction
from django.dispatch import Signal

# procedure_id: a procedure was recorded (with its levels).
procedure_recorded = Signal()
# procedure_id: its date or type changed; unsent follow-up must be re-planned.
procedure_changed = Signal()
# patient_id, reason ("withdrawn" | "opted_out" | "deceased"): stop all pending contact now.
patient_contact_stopped = Signal()
# complication_id: a complication was reported (red flags, sign-off).
complication_reported = Signal()


def announce_on_commit(signal: Signal, **kwargs) -> None:
    transaction.on_commit(lambda: signal.send(sender=None, **kwargs))
