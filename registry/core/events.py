"""What a service announces after its transaction commits, for other apps to act on.

Services send these from ``transaction.on_commit`` with ids only, so receivers never see
uncommitted rows. Receivers are thin: they queue a task or call another app's service. This keeps
case capture free of follow-up imports, and follow-up free of case-capture internals.
"""

import logging

from django.db import transaction
from django.dispatch import Signal

logger = logging.getLogger(__name__)

# procedure_id: a procedure was recorded (with its levels).
procedure_recorded = Signal()
# procedure_id: its date or type changed; unsent follow-up must be re-planned.
procedure_changed = Signal()
# patient_id: consent was recorded after procedures were entered; plan their follow-up now.
patient_consented = Signal()
# patient_id, reason ("withdrawn" | "opted_out" | "deceased"): stop all pending contact now.
patient_contact_stopped = Signal()
# complication_id: a complication was reported (red flags, sign-off).
complication_reported = Signal()
# response_id, new_fracture (True / False / None): a survey response was saved (any source).
survey_response_recorded = Signal()


def announce_on_commit(signal: Signal, **kwargs) -> None:
    """Send ``signal`` once the transaction commits; a failing receiver is logged, not raised.

    The change is already committed when receivers run: an exception must not turn the
    coordinator's saved case into an error page. Receivers that must not be lost queue a task
    whose work the periodic sweep also reconciles.
    """

    def send() -> None:
        for receiver, result in signal.send_robust(sender=None, **kwargs):
            if isinstance(result, Exception):
                logger.error(
                    "receiver %s failed for %s", getattr(receiver, "__qualname__", receiver), kwargs, exc_info=result
                )

    transaction.on_commit(send)
