"""Who may do what where: a user has one role per site; registry administrators are superusers."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from registry.core.audit import audited
from registry.core.models import TimeStampedModel


class Role(models.TextChoices):
    COORDINATOR = "coordinator", _("Research coordinator")
    INVESTIGATOR = "investigator", _("Investigator / treating clinician")
    REVIEWER = "reviewer", _("Department reviewer")


# Roles that may see identified data of their sites; reviewers see aggregates only.
IDENTIFIED_ROLES = (Role.COORDINATOR, Role.INVESTIGATOR)
# Roles that may change clinical data.
DATA_ENTRY_ROLES = (Role.COORDINATOR, Role.INVESTIGATOR)


class SiteMembership(TimeStampedModel):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    site = models.ForeignKey("patients.Site", on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices)

    history = audited()

    class Meta:
        ordering = ["site", "user"]
        constraints = [models.UniqueConstraint(fields=["user", "site"], name="one_role_per_user_and_site")]

    def __str__(self) -> str:
        return f"{self.user} — {self.get_role_display()} at {self.site.code}"
