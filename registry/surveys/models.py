"""A patient's answers in progress, kept on the server per invitation until the survey is sent.

The draft is what lets answers survive a validation error, a reload, a language switch and a
closed tab reopened from the same link. It is deleted when the survey is submitted (the
``SurveyResponse`` then holds the answers) and purged once its link has expired.
"""

from __future__ import annotations

from django.db import models

from registry.core.models import TimeStampedModel


class SurveyDraft(TimeStampedModel):
    invitation = models.OneToOneField(
        "followup.SurveyInvitation", on_delete=models.CASCADE, related_name="draft", primary_key=True
    )
    language = models.CharField(max_length=5, default="en")
    # The step the patient reached last: a reopened link resumes there.
    step = models.CharField(max_length=12, default="pain")
    # Raw form values by field name ("vas", "odi_walking", "rf_wound", "new_fracture", ...).
    answers = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-updated_at"]

    def __str__(self) -> str:
        return f"Draft of invitation {self.invitation_id} at {self.step}"
