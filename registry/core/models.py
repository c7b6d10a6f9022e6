from django.core.exceptions import ValidationError
from django.core.validators import MaxLengthValidator
from django.db import models
from django.db.models.functions import Length
from django.db.models.lookups import LessThanOrEqual
from django.utils.translation import gettext as _

# Free text (notes, descriptions): a page of writing, never a megabyte pasted or posted.
FREE_TEXT_MAX_LENGTH = 4000


def bounded_text(**kwargs) -> models.TextField:
    """A free-text field bounded in forms and serializers (max_length), the model and the database."""
    return models.TextField(
        max_length=FREE_TEXT_MAX_LENGTH, validators=[MaxLengthValidator(FREE_TEXT_MAX_LENGTH)], **kwargs
    )


def check_free_text(value: str, *, field: str) -> str:
    """For services that write free text without ``full_clean``: the same bound, as a field error."""
    value = (value or "").strip()
    if len(value) > FREE_TEXT_MAX_LENGTH:
        raise ValidationError({field: _("Keep this to %(max)s characters.") % {"max": FREE_TEXT_MAX_LENGTH}})
    return value


def bounded_text_constraint(field: str, *, name: str) -> models.CheckConstraint:
    return models.CheckConstraint(condition=LessThanOrEqual(Length(field), FREE_TEXT_MAX_LENGTH), name=name)


class TimeStampedModel(models.Model):
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class Heartbeat(models.Model):
    """Written by the worker's health task: proof that a queued task ran and reached the database."""

    source = models.CharField(max_length=50, unique=True)
    beat_at = models.DateTimeField()
    runs = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.source} @ {self.beat_at:%Y-%m-%d %H:%M:%S}"
